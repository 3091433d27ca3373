package charts_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/lint/support"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-llama/kubectl-llama/charts"
)

// valueKeys lists the dotted keys of values.yaml down to the leaves (empty
// maps and lists are leaves: users fill them).
func valueKeys(prefix string, m map[string]any, out *[]string) {
	for k, val := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := val.(map[string]any); ok && len(sub) > 0 {
			valueKeys(key, sub, out)
			continue
		}
		*out = append(*out, key)
	}
}

// The README documents every value, and documents no value that is gone.
func TestReadmeListsEveryValue(t *testing.T) {
	raw, err := charts.FS.ReadFile(charts.ChartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var vals map[string]any
	if err := yaml.Unmarshal(raw, &vals); err != nil {
		t.Fatal(err)
	}
	var want []string
	valueKeys("", vals, &want)
	sort.Strings(want)
	if len(want) < 80 {
		t.Fatalf("only %d keys found in values.yaml: %v", len(want), want)
	}
	readme, err := charts.FS.ReadFile(charts.ChartDir + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Values\n")
	if !ok {
		t.Fatal("README.md has no \"## Values\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Za-z0-9.]+)` \\|").FindAllStringSubmatch(section, -1) {
		rows[m[1]] = true
	}
	for _, k := range want {
		if !rows[k] {
			t.Errorf("README.md has no table row for value %s", k)
		}
		delete(rows, k)
	}
	for k := range rows {
		t.Errorf("README.md documents %s, which values.yaml does not have", k)
	}
}

// helm lint --strict, through the SDK, with the defaults and every ci file.
func TestLintStrict(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(charts.ChartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) != 5 {
		t.Fatalf("want 5 ci values files, got %v (%v)", files, err)
	}
	cases := map[string]map[string]any{"defaults": nil}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var vals map[string]any
		if err := yaml.Unmarshal(raw, &vals); err != nil {
			t.Fatal(err)
		}
		cases[filepath.Base(f)] = vals
	}
	for name, vals := range cases {
		t.Run(name, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = "ai"
			lint.KubeVersion = kubeVersion
			res := lint.Run([]string{charts.ChartDir}, vals)
			// As helm lint --strict: warnings and errors fail, INFO
			// (e.g. "icon is recommended") is only reported.
			for _, m := range res.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %s", m.Error())
				} else {
					t.Logf("lint: %s", m.Error())
				}
			}
			for _, e := range res.Errors {
				t.Errorf("lint error: %v", e)
			}
			if res.TotalChartsLinted != 1 {
				t.Errorf("linted %d charts", res.TotalChartsLinted)
			}
		})
	}
}

// Each ci file renders its preset in standard mode (ct install's input).
func TestCIValuesRender(t *testing.T) {
	for _, c := range seedCases {
		raw, err := os.ReadFile(filepath.Join(charts.ChartDir, "ci", c.preset+"-values.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var vals map[string]any
		if err := yaml.Unmarshal(raw, &vals); err != nil {
			t.Fatal(err)
		}
		r := mustRender(t, vals)
		eq(t, c.preset+" preset annotation", get(r.deployment(t), "metadata", "annotations", "kubectl-llama.io/preset"), c.preset)
		if tol := podSpec(t, r)["tolerations"]; tol == nil {
			t.Errorf("%s: ci values should exercise the standard-mode toleration", c.preset)
		}
	}
}

// The embedded chart is the directory on disk, file for file.
func TestEmbeddedChartMatchesDisk(t *testing.T) {
	ch, err := charts.Load()
	if err != nil {
		t.Fatal(err)
	}
	if ch.Metadata.Name != "vllm-llama" || ch.Metadata.Version != "0.1.0" || ch.Metadata.AppVersion != "v0.10.0" || ch.Metadata.KubeVersion != ">=1.28.0-0" {
		t.Errorf("Chart.yaml metadata: %+v", ch.Metadata)
	}
	for _, k := range []string{"artifacthub.io/links", "artifacthub.io/images", "artifacthub.io/license", "artifacthub.io/changes"} {
		if strings.TrimSpace(ch.Metadata.Annotations[k]) == "" {
			t.Errorf("Chart.yaml lacks annotation %s", k)
		}
	}
	if !strings.Contains(ch.Metadata.Annotations["artifacthub.io/images"], "vllm/vllm-openai:"+ch.Metadata.AppVersion) {
		t.Error("artifacthub.io/images does not name the appVersion image")
	}
}
