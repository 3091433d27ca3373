//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// failFastBound is how soon a cause that cannot heal must be named: far
// under the install timeout (52 min for scout, 1 h 51 min for maverick).
const failFastBound = 60 * time.Second

// TestSchedulingDiagnosis: on an H100-only Standard cluster, a model that
// needs H200 and a second 8-GPU model on a full node are named within
// seconds, not at the install timeout (52 min for scout, 1 h 51 min for
// maverick). Every preset's Standard render is accepted by the apiserver.
func TestSchedulingDiagnosis(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "h100")
	k := pluginCLI(t, c.Env(), fakeToken(t))

	t.Run("presets accepted by the apiserver (standard)", func(t *testing.T) {
		presetsServerDryRun(t, k, c.Config, c.Client, "standard")
	})
	t.Run("maverick needs H200", func(t *testing.T) {
		t.Parallel()
		r := k.fail(3*time.Minute, []string{"install", "maverick", "-n", "mav", "--create-namespace"},
			"maverick cannot become ready", "nvidia-h200-141gb")
		mustContain(t, "pre-flight warning", r.stderr,
			"warning: no node with accelerator nvidia-h200-141gb: found a3-highgpu-pool (nvidia-h100-80gb x 8)")
		if r.elapsed > failFastBound {
			t.Errorf("missing accelerator named after %s, want < %s", r.elapsed, failFastBound)
		}
		t.Logf("missing H200 named after %s", r.elapsed.Round(time.Millisecond))
		st := statusOf(t, k, "maverick", "mav")
		if !st.has("NoAcceleratorNode") {
			t.Errorf("status -o json diagnosis: %+v, want NoAcceleratorNode", st.Diagnosis)
		}
	})
	t.Run("second 8-GPU model on a full node", func(t *testing.T) {
		t.Parallel()
		k.ok("install", "scout", "-n", "full", "--create-namespace", "-q")
		r := k.fail(3*time.Minute, []string{"install", "scout-instruct", "-n", "full", "-q"},
			"scout-instruct cannot become ready", "Insufficient nvidia.com/gpu", "8 free nvidia-h100-80gb GPUs")
		if r.elapsed > failFastBound {
			t.Errorf("Insufficient nvidia.com/gpu named after %s, want < %s", r.elapsed, failFastBound)
		}
		t.Logf("full node named after %s", r.elapsed.Round(time.Millisecond))
		st := statusOf(t, k, "scout-instruct", "full")
		if !st.has("InsufficientGPU") {
			t.Errorf("status -o json diagnosis: %+v, want InsufficientGPU", st.Diagnosis)
		}

		// --atomic: the same failure, then the release and its objects are
		// gone, so nothing holds the name or waits for GPUs.
		r = k.fail(3*time.Minute, []string{"install", "scout-instruct", "again", "-n", "full", "-q", "--atomic"},
			"again cannot become ready", "Insufficient nvidia.com/gpu", "(release uninstalled)")
		mustContain(t, "atomic stderr", r.stderr, "--atomic: uninstalling again")
		ctx := context.Background()
		if _, err := c.Client.AppsV1().Deployments("full").Get(ctx, "again", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("--atomic left the Deployment (err %v)", err)
		}
		if recs, err := c.Client.CoreV1().Secrets("full").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=again"}); err != nil || len(recs.Items) != 0 {
			t.Errorf("--atomic left %d release records (err %v)", len(recs.Items), err)
		}
	})
}

// TestPodFailures breaks running pods the ways vLLM deployments break (bad
// flag, OOM kill, missing token Secret) and expects the cause within
// seconds; then a plain Helm user installs the chart into the same cluster.
func TestPodFailures(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "h100")
	token := fakeToken(t)
	k := pluginCLI(t, c.Env(), token)

	const ns = "broken"
	t.Run("crash loop: unrecognized argument", func(t *testing.T) {
		r := k.fail(3*time.Minute, []string{"install", "scout", "crash", "-n", ns, "--create-namespace", "--set", "extraArgs={--no-such-flag}"},
			"crash cannot become ready", "--no-such-flag", "not supported by this vLLM image version")
		mustContain(t, "install stdout (last log lines)", r.stdout, "api_server.py: error: unrecognized arguments: --no-such-flag")
		if r.elapsed > failFastBound {
			t.Errorf("named after %s", r.elapsed)
		}
		st := statusOf(t, k, "crash", ns)
		if !st.has("UnrecognizedArgument") {
			t.Errorf("status -o json diagnosis: %+v, want UnrecognizedArgument", st.Diagnosis)
		}
		k.ok("uninstall", "crash", "-n", ns, "--wait")
	})

	t.Run("OOM killed", func(t *testing.T) {
		r := k.fail(3*time.Minute, []string{"install", "scout", "oom", "-n", ns,
			"--set", `podAnnotations.podrunner\.kubectl-llama\.io/fault=oom`},
			"oom cannot become ready", "killed for exceeding its memory limit", "exit code 137")
		if r.elapsed > failFastBound {
			t.Errorf("named after %s", r.elapsed)
		}
		st := statusOf(t, k, "oom", ns)
		if !st.has("OOMKilled") {
			t.Errorf("status -o json diagnosis: %+v, want OOMKilled", st.Diagnosis)
		}
		r = k.ok("status", "oom", "-n", ns)
		mustContain(t, "status", r.stdout, "Diagnosis:", "killed for exceeding its memory limit", "fix: give the pod more memory")
		k.ok("uninstall", "oom", "-n", ns, "--wait")
	})

	t.Run("HF Secret deleted", func(t *testing.T) {
		ctx := context.Background()
		k.ok("install", "scout", "good", "-n", ns, "-q")
		// The user deletes the Secret; the pod is later replaced (node
		// repair, eviction): the new pod cannot start.
		if err := c.Client.CoreV1().Secrets(ns).Delete(ctx, "hf-secret", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: releaseSel + "good"}); err != nil {
			t.Fatal(err)
		}
		r := k.fail(3*time.Minute, []string{"wait", "good", "-n", ns, "--timeout", "10m"},
			"good cannot become ready", `Secret "hf-secret" does not exist`, "kubectl llama upgrade good")
		if r.elapsed > failFastBound {
			t.Errorf("named after %s", r.elapsed)
		}
		r = k.ok("status", "good", "-n", ns)
		mustContain(t, "status", r.stdout, `CreateContainerConfigError: secret "hf-secret" not found`, "Diagnosis:")
		st := statusOf(t, k, "good", ns)
		if !st.has("HFSecretMissing") {
			t.Errorf("status -o json diagnosis: %+v, want HFSecretMissing", st.Diagnosis)
		}
		// The fix the diagnosis gives works.
		r = k.ok("upgrade", "good", "-n", ns, "-q")
		mustContain(t, "upgrade stderr", r.stderr, "Secret hf-secret created")
		k.ok("wait", "good", "-n", ns, "--timeout", "1m")
		k.ok("uninstall", "good", "-n", ns, "--wait")
	})

	t.Run("plain helm install and helm test", func(t *testing.T) {
		plainHelm(t, c.Env(), c.Client, k, token)
	})
}

type statusJSON struct {
	Ready     bool
	State     string
	Diagnosis []struct{ Cause, Message, Fix string }
}

func (s statusJSON) has(cause string) bool {
	for _, d := range s.Diagnosis {
		if d.Cause == cause {
			return true
		}
	}
	return false
}

func statusOf(t *testing.T, k *cli, rel, ns string) statusJSON {
	t.Helper()
	r := k.ok("status", rel, "-n", ns, "-o", "json")
	var st statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	return st
}

// plainHelm installs the chart with the helm binary into the cluster the
// plugin uses (Secret created by the user beforehand), runs its test hook,
// and lists the release with the plugin.
func plainHelm(t *testing.T, env []string, cs kubernetes.Interface, k *cli, token string) {
	ctx := context.Background()
	const ns, rel = "helm-users", "llama"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hf-secret"}, StringData: map[string]string{"hf_api_token": token}}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h := newCLI(t, helmBin(t), withHelmDirs(t, env), token)
	chart := filepath.Join(repoRoot, "charts", "vllm-llama")
	r := h.ok("install", rel, chart, "-n", ns, "--set", "gke.mode=standard", "--wait", "--timeout", "3m")
	mustContain(t, "helm install", r.stdout, "STATUS: deployed")
	r = h.ok("test", rel, "-n", ns, "--timeout", "2m")
	mustContain(t, "helm test", r.stdout, "Phase:          Succeeded")
	r = k.ok("list", "-A")
	if !regexp.MustCompile(`(?m)^llama +helm-users +scout +h100 x 8 +standard +deployed +1/1 `).MatchString(r.stdout) {
		t.Errorf("kubectl llama list -A does not show the helm release:\n%s", r.stdout)
	}
	h.ok("uninstall", rel, "-n", ns, "--wait")
}
