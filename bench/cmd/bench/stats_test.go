package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	cases := []struct {
		in   []float64
		want Stats
	}{
		{nil, Stats{}},
		{[]float64{5}, Stats{N: 1, Median: 5, Min: 5, Max: 5}},
		{[]float64{9, 1, 5}, Stats{N: 3, Median: 5, Min: 1, Max: 9}},
		{[]float64{4, 1, 3, 2}, Stats{N: 4, Median: 2.5, Min: 1, Max: 4}},
	}
	for _, c := range cases {
		if got := summarize(c.in); got != c.want {
			t.Errorf("summarize(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
	in := []float64{3, 1, 2}
	summarize(in)
	if in[0] != 3 {
		t.Errorf("summarize sorted its input in place: %v", in)
	}
}

func TestRatio(t *testing.T) {
	if r := ratio(1, 3); r != 0.33 {
		t.Errorf("ratio(1,3) = %v", r)
	}
	if r := ratio(1, 0); r != 0 {
		t.Errorf("ratio(1,0) = %v", r)
	}
}

func TestReportTableAndJSON(t *testing.T) {
	r := &Report{}
	r.add(Row{Group: "1 CLI start", Measure: "version", Unit: "ms",
		Plugin: summarize([]float64{10, 12, 11}), Anchor: "helm version", AnchorStats: summarize([]float64{20, 22, 21})})
	r.add(Row{Group: "5 throughput", Measure: "port-forward", Unit: "req/s", HigherIsBetter: true,
		Plugin: summarize([]float64{100}), Anchor: "kubectl port-forward", AnchorStats: summarize([]float64{200})})
	r.add(Row{Group: "3 ready lag", Measure: "wait", Unit: "ms", Error: "plugin failed: boom"})
	if got := r.Rows[0].Ratio; got != 0.52 {
		t.Errorf("time ratio = %v, want 0.52 (11/21)", got)
	}
	if got := r.Rows[1].Ratio; got != 2 {
		t.Errorf("throughput ratio = %v, want 2 (anchor/plugin: >1 means the plugin is worse)", got)
	}
	var buf bytes.Buffer
	r.printTable(&buf)
	out := buf.String()
	for _, want := range []string{"11.0 (10.0-12.0)", "helm version", "0.52", "2.00", "plugin failed: boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Rows) != 3 || back.Rows[0].Plugin.Median != 11 {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
}

func TestForwardPort(t *testing.T) {
	cases := map[string]string{
		"Forwarding from 127.0.0.1:41234 -> 7080":                   "41234",
		"Forwarding from 127.0.0.1:5555 -> pod scout-abc port 7080": "5555",
		"OpenAI API of m at http://127.0.0.1:8081/v1 (Ctrl-C ...)":  "8081",
		"Forwarding from [::1]:41234 -> 7080":                       "",
	}
	for line, want := range cases {
		if got := forwardPort(line); got != want {
			t.Errorf("forwardPort(%q) = %q, want %q", line, got, want)
		}
	}
}
