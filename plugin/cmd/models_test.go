package cmd

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestModels(t *testing.T) {
	for name, args := range map[string][]string{
		"models":          {"models"},
		"models-gpu-h100": {"models", "--gpu", "h100"},
		"models-gpu-a100": {"models", "--gpu", "a100-40gb"},
		"models-yaml":     {"models", "-o", "yaml"},
		"models-bad-gpu":  {"models", "--gpu", "v100"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t)
			out, errOut, err := e.run(args...)
			golden(t, name, transcript(args, out, errOut, err))
		})
	}
}

func TestModelsJSONIsTheCatalog(t *testing.T) {
	e := newTestEnv(t)
	out, _, err := e.run("models", "-o", "json", "--gpu", "h100")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Models []modelRow `json:"models"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Models) != 5 {
		t.Fatalf("want 5 presets, got %d", len(doc.Models))
	}
	for _, m := range doc.Models {
		if m.Fit == nil {
			t.Fatalf("%s: no fit with --gpu", m.Preset)
		}
		if m.Preset == "maverick" && (*m.Fit || !strings.Contains(m.Detail, "exceed")) {
			t.Errorf("maverick on h100: want misfit with reason, got fit=%v %q", *m.Fit, m.Detail)
		}
		if m.Preset == "scout" && !*m.Fit {
			t.Errorf("scout should fit h100")
		}
	}
}
