package helmx

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/kubectl-llama/kubectl-llama/charts"
)

func TestCleanError(t *testing.T) {
	cases := map[string]string{
		"execution error at (vllm-llama/templates/deployment.yaml:3:4): model x does not fit":                                                           "model x does not fit",
		`template: vllm-llama/templates/_model.tpl:12:5: executing "x" at <fail "boom">: error calling fail: boom`:                                      "boom",
		"values don't meet the specifications of the schema(s) in the following chart(s):\nvllm-llama:\n- at '/replicas': got string\n- at '/x': bad\n": "invalid values: at '/replicas': got string; at '/x': bad",
		"plain\nmulti  line": "plain multi line",
	}
	for in, want := range cases {
		if got := CleanError(errors.New(in)).Error(); got != want {
			t.Errorf("%q:\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestRenderAndTimeout(t *testing.T) {
	ch, err := charts.Load()
	if err != nil {
		t.Fatal(err)
	}
	vals, err := MergeValues(&values.Options{Values: []string{"gpu.type=h100"}}, ValueFlags{Preset: "scout", GPU: "h200", MaxModelLen: 4096}, cli.New())
	if err != nil {
		t.Fatal(err)
	}
	if String(vals, ValGPUType) != "h200" {
		t.Errorf("--gpu must beat --set gpu.type: %v", vals)
	}
	rel, err := Render(ch, vals, RenderOptions{Release: "r", Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Deployment(rel.Manifest, "r")
	if err != nil || d == nil {
		t.Fatal(d, err)
	}
	budget, ok := StartupBudget(d)
	if !ok || budget < 30*time.Minute {
		t.Fatalf("scout's startup budget %v", budget)
	}
	if DefaultTimeout(d) != budget+ScheduleMargin {
		t.Error("timeout = budget + margin")
	}
	if DefaultTimeout(nil) != FallbackTimeout {
		t.Error("fallback")
	}
	if _, err := Render(ch, map[string]interface{}{"model": map[string]interface{}{"preset": "maverick"}, "gpu": map[string]interface{}{"type": "l4"}}, RenderOptions{Release: "r", Namespace: "ns"}); err == nil || strings.Contains(err.Error(), "templates/") || strings.Contains(err.Error(), "\n") {
		t.Errorf("misfit error not one clean line: %v", err)
	}
}

func TestLoadChartLocalPath(t *testing.T) {
	dir := t.TempDir()
	// Write the embedded chart out as a local directory.
	ch, _ := charts.Load()
	for _, f := range ch.Raw {
		p := filepath.Join(dir, "vllm-llama", f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := LoadChart(ChartSource{Ref: filepath.Join(dir, "vllm-llama")}, cli.New(), nil)
	if err != nil || got.Metadata.Version != ch.Metadata.Version {
		t.Fatal(got, err)
	}
	if _, err := LoadChart(ChartSource{Ref: filepath.Join(dir, "missing")}, cli.New(), nil); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing path: %v", err)
	}
	if _, err := LoadChart(ChartSource{Ref: "oci://127.0.0.1:1/charts/vllm-llama"}, cli.New(), nil); err == nil || !strings.Contains(err.Error(), "missing registry client") {
		t.Errorf("oci without registry client: %v", err)
	}
	if _, err := LoadChart(ChartSource{Version: "1.0.0"}, nil, nil); err == nil {
		t.Error("--version with the embedded chart accepted")
	}
}

// A chart repository on 127.0.0.1 (helm's --repo): index.yaml + the packaged chart.
func TestLoadChartFromRepo(t *testing.T) {
	ch, err := charts.Load()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := chartutil.Save(ch, dir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	idx, err := repo.IndexDirectory(dir, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	settings := cli.New()
	home := t.TempDir()
	settings.RepositoryCache, settings.RepositoryConfig = filepath.Join(home, "cache"), filepath.Join(home, "repositories.yaml")
	got, err := LoadChart(ChartSource{Repo: srv.URL, Version: ch.Metadata.Version}, settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Metadata.Name != "vllm-llama" || got.Metadata.Version != ch.Metadata.Version {
		t.Errorf("got %s %s", got.Metadata.Name, got.Metadata.Version)
	}
	if _, err := LoadChart(ChartSource{Repo: srv.URL, Version: "99.0.0"}, settings, nil); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing version: %v", err)
	}
}
