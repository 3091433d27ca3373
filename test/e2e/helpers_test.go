//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/kubectl-llama/kubectl-llama/test/localcluster"
)

// Binaries the suite runs. `make e2e` passes them in the environment; a bare
// `go test -tags e2e ./test/e2e/...` builds the plugin and the pod runner
// (with vllmstub) into a temp dir first.
const (
	envPlugin = "KUBECTL_LLAMA_BIN"
	envHelm   = "HELM_BIN"
)

var (
	pluginBin string // the built kubectl-llama
	repoRoot  string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	pluginBin = os.Getenv(envPlugin)
	needRunner := os.Getenv(localcluster.EnvPodRunner) == ""
	if pluginBin == "" || needRunner {
		tmp, err := os.MkdirTemp("", "kubectl-llama-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		var pkgs []string
		if pluginBin == "" {
			pkgs = append(pkgs, "./cmd/kubectl-llama")
			pluginBin = filepath.Join(tmp, "kubectl-llama")
		}
		if needRunner {
			pkgs = append(pkgs, "./test/podrunner/cmd/podrunner", "./test/vllmstub/cmd/vllmstub")
			os.Setenv(localcluster.EnvPodRunner, filepath.Join(tmp, "podrunner"))
		}
		build := exec.Command("go", append([]string{"build", "-o", tmp + "/"}, pkgs...)...)
		build.Dir, build.Stdout, build.Stderr = repoRoot, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %v: %v\n", pkgs, err)
			return 1
		}
	}
	return m.Run()
}

// helmBin is the helm v3.21.4 release build `make tools` installs.
func helmBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv(envHelm)
	if p == "" {
		p = filepath.Join(localcluster.CacheDir(), "bin", "helm")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("helm binary not found at %s: run `make tools` (or set %s)", p, envHelm)
	}
	return p
}

// startCluster starts a local control plane with the pod runner tuned for
// short tests (1 s model load, quick back-off and probes).
func startCluster(t *testing.T, profile string) *localcluster.Cluster {
	t.Helper()
	c := localcluster.StartT(t, localcluster.Options{Profile: profile, PodRunnerArgs: []string{
		"--load-time=1s", "--backoff=1s", "--max-backoff=4s", "--probe-period=200ms",
	}})
	t.Logf("%s cluster up in %.1fs (%s)", profile, c.StartupSeconds, c.StateDir)
	return c
}

// fakeToken is a recognisable fake Hugging Face token, unique per test.
func fakeToken(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "hf_E2EFAKETOKEN" + strings.ToUpper(hex.EncodeToString(b))
}

// cli runs the built kubectl-llama (or helm) as a user would: separate
// process, KUBECONFIG and HF_TOKEN in its environment. Every output is kept
// and checked for the token when the test ends.
type cli struct {
	t     *testing.T
	bin   string
	env   []string
	token string

	mu      sync.Mutex
	outputs []result
}

type result struct {
	args           []string
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("`%s` exit %d after %s\n--- stdout\n%s--- stderr\n%s", strings.Join(r.args, " "), r.code,
		r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
}

func newCLI(t *testing.T, bin string, env []string, token string) *cli {
	c := &cli{t: t, bin: bin, env: env, token: token}
	t.Cleanup(c.checkNoToken)
	return c
}

// pluginCLI runs kubectl-llama with the admin kubeconfig and the token in
// $HF_TOKEN; Helm's own dirs are temp dirs.
func pluginCLI(t *testing.T, env []string, token string) *cli {
	env = append(append([]string{}, env...), "HF_TOKEN="+token)
	return newCLI(t, pluginBin, withHelmDirs(t, env), token)
}

func withHelmDirs(t *testing.T, env []string) []string {
	d := t.TempDir()
	return append(env, "HELM_CONFIG_HOME="+filepath.Join(d, "config"), "HELM_CACHE_HOME="+filepath.Join(d, "cache"),
		"HELM_DATA_HOME="+filepath.Join(d, "data"))
}

// background starts kubectl-llama ARGS as a long-running command (logs -f,
// port-forward) and sends its output lines (stdout and stderr) on the
// returned channel, closed when the command ends. When the test ends the
// command gets an interrupt, as from Ctrl-C, and must exit cleanly within
// 10 s; its output is kept for the token check.
func (k *cli) background(t *testing.T, args ...string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = k.env
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out strings.Builder
	lines := make(chan string, 1024)
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			select {
			case lines <- sc.Text():
			default: // nobody reading: the output is still kept
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		defer cancel()
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("kubectl-llama %s did not end cleanly on interrupt: %v", strings.Join(args, " "), err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("kubectl-llama %s still running 10s after interrupt", strings.Join(args, " "))
			cancel()
			<-done
		}
		<-read
		mu.Lock()
		defer mu.Unlock()
		k.mu.Lock()
		k.outputs = append(k.outputs, result{args: append([]string{"kubectl-llama"}, args...), stdout: out.String()})
		k.mu.Unlock()
		t.Logf("kubectl-llama %s output:\n%s", strings.Join(args, " "), out.String())
	})
	return lines
}

// lineWaiter reads a background command's lines until one contains a text.
type lineWaiter struct{ ch <-chan string }

func linesOf(ch <-chan string) lineWaiter { return lineWaiter{ch} }

// waitFor reports whether a line containing want arrives within d (lines
// before it are consumed).
func (l lineWaiter) waitFor(d time.Duration, want string) bool {
	deadline := time.After(d)
	for {
		select {
		case s, ok := <-l.ch:
			if !ok {
				return false
			}
			if strings.Contains(s, want) {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

// without returns c with an environment variable removed.
func (c *cli) without(key string) *cli {
	env := make([]string, 0, len(c.env))
	for _, kv := range c.env {
		if !strings.HasPrefix(kv, key+"=") {
			env = append(env, kv)
		}
	}
	n := &cli{t: c.t, bin: c.bin, env: env, token: c.token}
	c.t.Cleanup(n.checkNoToken)
	return n
}

// run runs the binary, killing it after limit (a hang is a failure, not a
// suite timeout).
func (c *cli) runLimit(limit time.Duration, stdin string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	start := time.Now()
	err := cmd.Run()
	r := result{args: append([]string{filepath.Base(c.bin)}, args...), stdout: stdout.String(), stderr: stderr.String(),
		elapsed: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r.code = -1
		c.t.Errorf("killed after %s: %s", limit, r)
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	default:
		c.t.Fatalf("running %s: %v", c.bin, err)
	}
	c.mu.Lock()
	c.outputs = append(c.outputs, r)
	c.mu.Unlock()
	c.t.Logf("$ %s  (exit %d, %s)", strings.Join(r.args, " "), r.code, r.elapsed.Round(time.Millisecond))
	return r
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.runLimit(3*time.Minute, "", args...)
}

// ok runs and fails the test unless the command exits 0.
func (c *cli) ok(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("want exit 0: %s", r)
	}
	return r
}

// fail runs and fails the test unless the command exits non-zero with one
// "error: ..." line on stderr containing every want.
func (c *cli) fail(limit time.Duration, args []string, want ...string) result {
	c.t.Helper()
	r := c.runLimit(limit, "", args...)
	if r.code <= 0 {
		c.t.Fatalf("want a non-zero exit: %s", r)
	}
	line := errorLine(r.stderr)
	if line == "" {
		c.t.Errorf("no `error: ...` line on stderr: %s", r)
	}
	for _, w := range want {
		if !strings.Contains(line, w) {
			c.t.Errorf("error line does not name %q:\n%s\nfull: %s", w, line, r)
		}
	}
	return r
}

// errorLine is the "error: ..." line of stderr (exactly one expected).
func errorLine(stderr string) string {
	var found []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "error: ") {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

func (c *cli) checkNoToken() {
	if c.token == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b64 := base64.StdEncoding.EncodeToString([]byte(c.token))
	for _, r := range c.outputs {
		if strings.Contains(r.stdout+r.stderr, c.token) || strings.Contains(r.stdout+r.stderr, b64) {
			c.t.Errorf("the HF token appears in the output of `%s`", strings.Join(r.args, " "))
		}
	}
	if len(c.outputs) > 0 {
		c.t.Logf("token absent from the output of %d commands", len(c.outputs))
	}
}

// mustContain fails unless s contains every want.
func mustContain(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}

// --- the cluster through client-go ---

func dynamicClients(t *testing.T, cfg *rest.Config) (dynamic.Interface, discovery.DiscoveryInterface, *restmapper.DeferredDiscoveryRESTMapper) {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{} // v1 Endpoints' deprecation, listed with the rest
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dyn, dc, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
}

// namespacedObjects lists every object of every listable namespaced type in
// ns (discovery + dynamic client).
func namespacedObjects(ctx context.Context, t *testing.T, cfg *rest.Config, ns string) []unstructured.Unstructured {
	t.Helper()
	dyn, dc, _ := dynamicClients(t, cfg)
	lists, err := dc.ServerPreferredNamespacedResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		t.Fatal(err)
	}
	var out []unstructured.Unstructured
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "list") {
				continue
			}
			items, err := dyn.Resource(gv.WithResource(r.Name)).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
					continue
				}
				t.Fatalf("listing %s %s: %v", gv, r.Name, err)
			}
			out = append(out, items.Items...)
		}
	}
	return out
}

func hasVerb(verbs []string, v string) bool {
	for _, x := range verbs {
		if x == v {
			return true
		}
	}
	return false
}

func objectRef(u unstructured.Unstructured) string {
	return strings.ToLower(u.GetKind()) + "/" + u.GetName()
}

// helmRelease decodes a Helm release Secret's record (base64 + gzip + JSON).
func helmRelease(t *testing.T, u unstructured.Unstructured) string {
	t.Helper()
	enc, _, _ := unstructured.NestedString(u.Object, "data", "release")
	outer, err := base64.StdEncoding.DecodeString(enc) // the API's encoding of Secret data
	if err != nil {
		t.Fatalf("%s: %v", objectRef(u), err)
	}
	inner, err := base64.StdEncoding.DecodeString(string(outer)) // Helm's own
	if err != nil {
		t.Fatalf("%s: helm record: %v", objectRef(u), err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(inner))
	if err != nil {
		t.Fatalf("%s: helm record: %v", objectRef(u), err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: helm record: %v", objectRef(u), err)
	}
	var probe map[string]any
	if err := json.Unmarshal(js, &probe); err != nil || probe["name"] == nil {
		t.Fatalf("%s: helm record is not a release: %v", objectRef(u), err)
	}
	return string(js)
}

// applyDryRun creates every object of a multi-document YAML (or a JSON
// List) in ns by server-side dry run, returning "kind/name" of each.
func applyDryRun(ctx context.Context, t *testing.T, cfg *rest.Config, ns string, manifest []byte) ([]string, error) {
	t.Helper()
	dyn, _, mapper := dynamicClients(t, cfg)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var created []string
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return created, err
		}
		if len(obj) == 0 {
			continue
		}
		u := unstructured.Unstructured{Object: obj}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return created, err
			}
			for _, item := range list.Items {
				if err := dryRunCreate(ctx, dyn, mapper, ns, item); err != nil {
					return created, err
				}
				created = append(created, objectRef(item))
			}
			continue
		}
		if err := dryRunCreate(ctx, dyn, mapper, ns, u); err != nil {
			return created, err
		}
		created = append(created, objectRef(u))
	}
	return created, nil
}

func dryRunCreate(ctx context.Context, dyn dynamic.Interface, mapper *restmapper.DeferredDiscoveryRESTMapper, ns string, u unstructured.Unstructured) error {
	gvk := u.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s: %w", objectRef(u), err)
	}
	ri := dyn.Resource(m.Resource)
	var res dynamic.ResourceInterface = ri
	if m.Scope.Name() == "namespace" {
		res = ri.Namespace(ns)
	}
	if _, err := res.Create(ctx, &u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		return fmt.Errorf("%s: %w", objectRef(u), err)
	}
	return nil
}

// eventually polls f until it returns nil or the bound passes.
func eventually(t *testing.T, bound time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > bound {
			t.Fatalf("%s: not within %s: %v", what, bound, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
