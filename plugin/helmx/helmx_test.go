package helmx

import (
	"errors"
	"io"
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
		"values don't meet the specifications of the schema(s) in the following chart(s):\nvllm-llama:\n- at '/replicas': got string\n- at '/x': bad\n": "invalid values: at '/replicas': got string; at '/x': bad (fix that key in your -f file or --set; the chart's README lists every value with its type)",
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

func TestPlainHTTPOnlyForLoopbackRegistries(t *testing.T) {
	for ref, want := range map[string]bool{
		"oci://127.0.0.1:5000/charts/vllm-llama": true,
		"oci://127.1.2.3/charts/vllm-llama":      true,
		"oci://localhost:5000/charts/vllm-llama": true,
		"oci://[::1]:5000/charts/vllm-llama":     true,
		"oci://registry.example.com/charts/x":    false,
		"oci://10.0.0.1:5000/charts/x":           false,
		"oci://0.0.0.0:5000/charts/x":            false,
		"oci://localhost.example.com/charts/x":   false,
		"https://127.0.0.1/charts":               false, // not OCI
		"":                                       false,
	} {
		if got := PlainHTTPFor(ref); got != want {
			t.Errorf("PlainHTTPFor(%q) = %v, want %v", ref, got, want)
		}
	}
}

// A registry that is not on loopback is never spoken to in plain HTTP, even
// when it answers TLS in HTTP (Helm v3's default transport retries over
// http then). 0.0.0.0 is not a loopback address but connects to this host.
func TestRemoteRegistryIsTLSOnly(t *testing.T) {
	var plainRequests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainRequests++
		w.WriteHeader(http.StatusNotFound)
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	ref := "oci://0.0.0.0:" + port + "/charts/vllm-llama"
	rc, err := NewRegistryClient(io.Discard, ref)
	if err != nil {
		t.Fatal(err)
	}
	settings := cli.New()
	home := t.TempDir()
	settings.RepositoryCache, settings.RepositoryConfig, settings.RegistryConfig = filepath.Join(home, "cache"), filepath.Join(home, "repositories.yaml"), filepath.Join(home, "registry.json")
	_, err = LoadChart(ChartSource{Ref: ref, Version: "0.1.0"}, settings, rc)
	if err == nil || !strings.Contains(err.Error(), "HTTP response to HTTPS client") {
		t.Fatalf("want a TLS error, got %v", err)
	}
	if plainRequests != 0 {
		t.Errorf("%d plain-HTTP requests reached the registry", plainRequests)
	}
}
