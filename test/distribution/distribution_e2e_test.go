//go:build e2e

package distribution

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-llama/kubectl-llama/test/localcluster"
	"github.com/kubectl-llama/kubectl-llama/test/testutil"
)

// Inputs, set by `make e2e-dist` (hack/dist.mk). A missing one fails the test.
type inputs struct {
	helm, registry, plugin, ct, kubectl, chartRepo, chartVersion, repoRoot string
}

func getInputs(t *testing.T) inputs {
	t.Helper()
	get := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			t.Fatalf("%s is not set: run these tests through make e2e-dist", name)
		}
		return v
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return inputs{
		helm:         get("HELM_BIN"),
		registry:     get("REGISTRY_BIN"),
		plugin:       get("KUBECTL_LLAMA_BIN"),
		ct:           os.Getenv("CT_BIN"),
		kubectl:      os.Getenv("KUBECTL_BIN"),
		chartRepo:    get("CHART_REPO_DIR"),
		chartVersion: get("CHART_VERSION"),
		repoRoot:     root,
	}
}

// env is a local control plane (h100 profile: GKE Standard, with the fake
// kubelet so pods really get Ready and helm test really runs) plus an
// isolated helm environment: its own config, cache and data folders and a
// dummy HF token for the plugin.
type env struct {
	t   *testing.T
	in  inputs
	c   *localcluster.Cluster
	cs  kubernetes.Interface
	env []string
}

const mode = "standard" // the h100 profile's node pools are GKE Standard ones

func newEnv(t *testing.T) *env {
	in := getInputs(t)
	c := localcluster.StartT(t, localcluster.Options{Profile: "h100"})
	home := t.TempDir()
	return &env{t: t, in: in, c: c, cs: c.Client, env: []string{
		"KUBECONFIG=" + c.Kubeconfig,
		"HOME=" + home,
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"HELM_REGISTRY_CONFIG=" + filepath.Join(home, "registry.json"),
		"HF_TOKEN=hf_e2e_dummy_token_not_a_credential",
	}}
}

func (e *env) run(name string, args ...string) (string, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), e.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	e.t.Logf("$ %s %s (%.1fs)\n%s", filepath.Base(name), strings.Join(args, " "), time.Since(start).Seconds(), out.String())
	return out.String(), err
}

func (e *env) must(name string, args ...string) string {
	e.t.Helper()
	out, err := e.run(name, args...)
	if err != nil {
		e.t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out
}

func (e *env) helm(args ...string) string { e.t.Helper(); return e.must(e.in.helm, args...) }

// namespace creates a fresh namespace with the HF token Secret the chart
// reads (dummy token: GPUs and downloads are simulated), removed at the end.
func (e *env) namespace(prefix string) string {
	e.t.Helper()
	ctx := context.Background()
	ns, err := e.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		_ = e.cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

func (e *env) hfSecret(ns string) {
	e.t.Helper()
	_, err := e.cs.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "hf-secret"},
		StringData: map[string]string{"hf_api_token": "hf_e2e_dummy_token_not_a_credential"},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
}

// assertServing checks what a user would: the release's Deployment is
// available with the chart version asked for.
func (e *env) assertServing(ns, release string) {
	e.t.Helper()
	d, err := e.cs.AppsV1().Deployments(ns).Get(context.Background(), release, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("deployment %s/%s: %v", ns, release, err)
	}
	if d.Status.AvailableReplicas < 1 {
		e.t.Errorf("deployment %s/%s has no available replica: %+v", ns, release, d.Status)
	}
	want := "vllm-llama-" + e.in.chartVersion
	if got := d.Labels["helm.sh/chart"]; got != want {
		e.t.Errorf("deployment %s/%s label helm.sh/chart=%q, want %q", ns, release, got, want)
	}
	out := e.helm("list", "-n", ns, "-o", "json")
	if !strings.Contains(out, `"name":"`+release+`"`) || !strings.Contains(out, `"chart":"`+want+`"`) || !strings.Contains(out, `"status":"deployed"`) {
		e.t.Errorf("helm list does not show %s deployed from %s:\n%s", release, want, out)
	}
}

// TestChartRepository serves dist/chart-repo (from make chart-repo) on
// 127.0.0.1 as a static site, adds it with helm, installs and tests the
// chart from it, then installs it again with kubectl llama --repo.
func TestChartRepository(t *testing.T) {
	t.Parallel() // each test has its own cluster; they wait, not compute
	e := newEnv(t)
	var tgzGets atomic.Int32
	fs := http.FileServer(http.Dir(e.in.chartRepo))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".tgz") {
			tgzGets.Add(1)
		}
		fs.ServeHTTP(w, r)
	}))
	defer srv.Close()

	e.helm("repo", "add", "llama", srv.URL)
	out := e.helm("search", "repo", "llama/vllm-llama", "--version", e.in.chartVersion, "-o", "json")
	if !strings.Contains(out, `"version":"`+e.in.chartVersion+`"`) {
		t.Fatalf("helm search repo does not find vllm-llama %s:\n%s", e.in.chartVersion, out)
	}

	ns := e.namespace("dist-repo-helm")
	e.hfSecret(ns)
	e.helm("install", "scout", "llama/vllm-llama", "--version", e.in.chartVersion, "-n", ns,
		"--set", "model.preset=scout", "--set", "gke.mode="+mode, "--wait", "--timeout", "3m")
	e.assertServing(ns, "scout")
	e.helm("test", "scout", "-n", ns, "--timeout", "2m")
	if tgzGets.Load() == 0 {
		t.Fatal("helm installed without downloading the chart archive from the repository")
	}
	// The cluster has one 8-GPU H100 node: free it for the plugin's install.
	e.helm("uninstall", "scout", "-n", ns, "--wait", "--timeout", "2m")

	before := tgzGets.Load()
	ns2 := e.namespace("dist-repo-plugin")
	e.must(e.in.plugin, "install", "scout", "-n", ns2, "--repo", srv.URL, "--version", e.in.chartVersion, "--timeout", "3m")
	if tgzGets.Load() == before {
		t.Fatal("kubectl llama install --repo did not download the chart from the repository")
	}
	e.assertServing(ns2, "scout")
	e.helm("test", "scout", "-n", ns2, "--timeout", "2m")

	// A version the repository does not have: a clear error, nothing installed.
	ns3 := e.namespace("dist-repo-missing")
	out, err := e.run(e.in.plugin, "install", "scout", "-n", ns3, "--repo", srv.URL, "--version", "9.9.9")
	if err == nil {
		t.Fatalf("install of a chart version the repository lacks succeeded:\n%s", out)
	}
	if !strings.Contains(out, "9.9.9") || strings.Count(strings.TrimSpace(out), "\n") > 2 {
		t.Errorf("error for a missing chart version is not one clear line naming it:\n%s", out)
	}
	if out := e.helm("list", "-n", ns3, "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("a release exists after a failed install: %s", out)
	}
}

// blobGets counts the registry's access-log lines for chart blob downloads.
func blobGets(logs *testutil.SyncBuffer) int {
	return strings.Count(logs.String(), `"GET /v2/charts/vllm-llama/blobs/sha256:`)
}

// startRegistry runs the CNCF distribution registry on a free 127.0.0.1
// port with temporary storage and no TLS; stopped at the end of the test.
func startRegistry(t *testing.T, bin string) (string, *testutil.SyncBuffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	err = os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("registry exited: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry on %s not ready: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOCIRegistry pushes the packaged chart to a real OCI registry on
// 127.0.0.1 and installs it from oci:// with helm and with kubectl llama.
func TestOCIRegistry(t *testing.T) {
	t.Parallel() // each test has its own cluster; they wait, not compute
	e := newEnv(t)
	addr, logs := startRegistry(t, e.in.registry)
	tgz := filepath.Join(e.in.chartRepo, "vllm-llama-"+e.in.chartVersion+".tgz")
	out := e.helm("push", tgz, "oci://"+addr+"/charts", "--plain-http")
	if !strings.Contains(out, "Digest: sha256:") {
		t.Errorf("helm push printed no digest:\n%s", out)
	}
	ref := "oci://" + addr + "/charts/vllm-llama"
	out = e.helm("show", "chart", ref, "--version", e.in.chartVersion, "--plain-http")
	if !strings.Contains(out, "version: "+e.in.chartVersion) {
		t.Fatalf("helm show chart from the registry:\n%s", out)
	}

	ns := e.namespace("dist-oci-helm")
	e.hfSecret(ns)
	e.helm("install", "scout", ref, "--version", e.in.chartVersion, "--plain-http", "-n", ns,
		"--set", "model.preset=scout", "--set", "gke.mode="+mode, "--wait", "--timeout", "3m")
	e.assertServing(ns, "scout")
	e.helm("test", "scout", "-n", ns, "--timeout", "2m")
	e.helm("uninstall", "scout", "-n", ns, "--wait", "--timeout", "2m")

	before := blobGets(logs)
	ns2 := e.namespace("dist-oci-plugin")
	e.must(e.in.plugin, "install", "scout", "-n", ns2, "--chart", ref, "--version", e.in.chartVersion, "--timeout", "3m")
	if blobGets(logs) == before {
		t.Fatalf("kubectl llama install --chart %s did not pull the chart from the registry:\n%s", ref, logs.String())
	}
	e.assertServing(ns2, "scout")
	e.helm("test", "scout", "-n", ns2, "--timeout", "2m")
}

// TestChartTestingInstall runs `ct install --all` (ct.yaml at the root)
// against a local control plane with H100 and H200 pools: every
// charts/*/ci/*-values.yaml is installed, waited for, `helm test`ed and
// removed by ct itself. ct's namespace is fixed and pre-created with the
// HF token Secret (a dummy token; the chart never takes it as a value).
func TestChartTestingInstall(t *testing.T) {
	t.Parallel() // each test has its own cluster; they wait, not compute
	in := getInputs(t)
	if in.ct == "" || in.kubectl == "" {
		t.Fatal("CT_BIN and KUBECTL_BIN must be set: run through make ct-install")
	}
	c := localcluster.StartT(t, localcluster.Options{Profile: "h100-h200"})
	e := &env{t: t, in: in, c: c, cs: c.Client}
	const ns = "ct-vllm-llama"
	if _, err := c.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.hfSecret(ns)
	ciValues, _ := filepath.Glob(filepath.Join(in.repoRoot, "charts", "*", "ci", "*-values.yaml"))
	if len(ciValues) == 0 {
		t.Fatal("no charts/*/ci/*-values.yaml to install")
	}

	// ct finds helm and kubectl on PATH.
	bin := t.TempDir()
	for name, target := range map[string]string{"helm": in.helm, "kubectl": in.kubectl} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.ct, "install", "--config", "ct.yaml", "--all",
		"--namespace", ns, "--release-label", "app.kubernetes.io/instance")
	cmd.Dir = in.repoRoot
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home, "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("ct install (%.1fs):\n%s", time.Since(start).Seconds(), out.String())
	if err != nil {
		t.Fatalf("ct install: %v", err)
	}
	if !strings.Contains(out.String(), "All charts installed successfully") {
		t.Fatal("ct install did not report success")
	}
	for _, f := range ciValues {
		if !strings.Contains(out.String(), "Installing chart with values file \""+strings.TrimPrefix(f, in.repoRoot+"/")) {
			t.Errorf("ct did not install with %s", f)
		}
	}
	if n := strings.Count(out.String(), "Phase:          Succeeded"); n < len(ciValues) {
		t.Errorf("%d helm test runs succeeded, want one per ci values file (%d)", n, len(ciValues))
	}
}
