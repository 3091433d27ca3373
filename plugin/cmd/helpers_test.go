package cmd

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fakeToken is recognisable in any output, record or manifest it leaks into.
const fakeToken = "hf_TESTTOKEN_0123456789abcdefSECRET"

// testEnv runs commands against Helm's memory driver (or its secrets
// driver over the fake clientset), kubefake.PrintingKubeClient and client-go's
// fake clientset. No cluster, no network.
type testEnv struct {
	t       *testing.T
	cs      *fake.Clientset
	mem     *driver.Memory
	secrets bool // store releases as Secrets in cs (helm's default driver)
	env     map[string]string
	stdin   string
	// kubeconfig used for namespace and target resolution.
	kubeconfig string
	// realClients: use the production clients built from the kubeconfig.
	realClients bool
	// waitErr is what the waiter returns; waits records its calls.
	waitErr error
	waits   []string
	now     time.Time
	// kubeClient is Helm's client for the release's objects (default: one
	// that accepts everything).
	kubeClient kube.Interface
	// tty: stdin is a terminal.
	tty bool
}

func newTestEnv(t *testing.T, objs ...runtime.Object) *testEnv {
	t.Helper()
	base := []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}}
	e := &testEnv{
		t:   t,
		cs:  fake.NewClientset(append(base, objs...)...),
		mem: driver.NewMemory(),
		env: map[string]string{},
		now: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
	}
	e.kubeconfig = writeKubeconfig(t, "https://127.0.0.1:6443")
	return e
}

// writeKubeconfig writes a kubeconfig with context "test" pointing at server.
func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	return writeKubeconfigUser(t, server, "    token: not-a-real-token\n")
}

// writeKubeconfigUser is writeKubeconfig with the user's credentials given
// as the YAML lines under user: (a token, an exec plugin).
func writeKubeconfigUser(t *testing.T, server, user string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ` + server + `
    insecure-skip-tls-verify: true
users:
- name: test
  user:
` + user + `contexts:
- name: test
  context:
    cluster: test
    user: test
    namespace: default
current-context: test
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *testEnv) store(ns string) *storage.Storage {
	if e.secrets {
		d := driver.NewSecrets(e.cs.CoreV1().Secrets(ns))
		return storage.Init(d)
	}
	e.mem.SetNamespace(ns)
	return storage.Init(e.mem)
}

func (e *testEnv) actionConfig(ns string) *action.Configuration {
	caps := chartutil.DefaultCapabilities.Copy()
	kv, _ := chartutil.ParseKubeVersion("v1.37.0")
	caps.KubeVersion = *kv
	var kc kube.Interface = &kubefake.PrintingKubeClient{Out: io.Discard}
	if e.kubeClient != nil {
		kc = e.kubeClient
	}
	return &action.Configuration{
		Releases:     e.store(ns),
		KubeClient:   kc,
		Capabilities: caps,
		Log:          func(string, ...interface{}) {},
	}
}

// run executes `kubectl llama ARGS...` and returns stdout, stderr and the error.
func (e *testEnv) run(args ...string) (string, string, error) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(e.stdin), Out: &out, ErrOut: &errOut}
	flags := genericclioptions.NewConfigFlags(true)
	f := newFactory(flags, streams)
	f.getenv = func(k string) string { return e.env[k] }
	f.now = func() time.Time { return e.now }
	f.terminal = func(any) bool { return e.tty }
	f.helmSettings = func() *cli.EnvSettings {
		s := cli.New()
		dir := e.t.TempDir()
		s.RepositoryCache, s.RepositoryConfig, s.RegistryConfig = dir, filepath.Join(dir, "repositories.yaml"), filepath.Join(dir, "registry.json")
		return s
	}
	if !e.realClients {
		f.actionConfig = func(ns string) (*action.Configuration, error) { return e.actionConfig(ns), nil }
		f.clientset = func() (kubernetes.Interface, error) { return e.cs, nil }
	}
	f.waiter = func(_ context.Context, _ kubernetes.Interface, ns, rel string, timeout time.Duration, out io.Writer, quiet bool) error {
		e.waits = append(e.waits, ns+"/"+rel+" "+timeout.String())
		return e.waitErr
	}
	root := newRootCmd(streams, flags, f)
	root.SetArgs(append([]string{"--kubeconfig", e.kubeconfig}, args...))
	err := root.ExecuteContext(context.Background())
	if err != nil {
		PrintError(&errOut, err)
	}
	return out.String(), errOut.String(), err
}

// golden compares got with testdata/NAME.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (go test -update rewrites it; review the diff):\n--- want\n%s\n--- got\n%s", p, want, got)
	}
}

// transcript formats one command run for a golden file.
func transcript(args []string, stdout, stderr string, err error) string {
	var b strings.Builder
	b.WriteString("$ kubectl llama " + strings.Join(args, " ") + "\n")
	b.WriteString("--- stdout\n" + stdout)
	b.WriteString("--- stderr\n" + stderr)
	if err != nil {
		b.WriteString("--- exit 1\n")
	} else {
		b.WriteString("--- exit 0\n")
	}
	return b.String()
}

func assertNoToken(t *testing.T, where, s string) {
	t.Helper()
	if strings.Contains(s, fakeToken) || strings.Contains(s, "TESTTOKEN") {
		t.Errorf("the Hugging Face token leaked into %s", where)
	}
}
