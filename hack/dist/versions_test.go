package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVersionsAgree: the Makefile's VERSION, the chart's version and
// appVersion, and CHANGELOG.md tell the same story.
func TestVersionsAgree(t *testing.T) {
	m := regexp.MustCompile(`(?m)^VERSION \?= (v(\d+\.\d+\.\d+))$`).FindStringSubmatch(read(t, "../../Makefile"))
	if m == nil {
		t.Fatal("no `VERSION ?= vX.Y.Z` line in the Makefile")
	}
	plugin, pluginNum := m[1], m[2]

	var chart struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "../../charts/vllm-llama/Chart.yaml")), &chart); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(chart.Version) {
		t.Errorf("chart version %q is not SemVer X.Y.Z", chart.Version)
	}
	// appVersion is the default vLLM image tag (image.tag "" = appVersion).
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(chart.AppVersion) {
		t.Errorf("chart appVersion %q is not a vLLM image tag vX.Y.Z", chart.AppVersion)
	}

	log := read(t, "../../CHANGELOG.md")
	for _, want := range []string{"# Changelog", "## [Unreleased]", "Keep a Changelog"} {
		if !strings.Contains(log, want) {
			t.Errorf("CHANGELOG.md lacks %q", want)
		}
	}
	sec := regexp.MustCompile(`(?m)^## \[` + regexp.QuoteMeta(pluginNum) + `\] - \d{4}-\d{2}-\d{2}\n((?s:.*?))(?:^## |\z)`).FindStringSubmatch(log)
	if sec == nil {
		t.Fatalf("CHANGELOG.md has no `## [%s] - YYYY-MM-DD` entry for VERSION %s", pluginNum, plugin)
	}
	for _, want := range []string{"Plugin " + plugin, "chart vllm-llama " + chart.Version, "appVersion " + chart.AppVersion} {
		if !strings.Contains(sec[1], want) {
			t.Errorf("CHANGELOG.md entry %s does not name %q", pluginNum, want)
		}
	}
	if !strings.Contains(log, "\n["+pluginNum+"]: ") {
		t.Errorf("CHANGELOG.md has no link reference for [%s]", pluginNum)
	}
}
