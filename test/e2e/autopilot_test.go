//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestAutopilot: on an Autopilot-like cluster (GKE's signals, Warden's GPU
// policy as a ValidatingAdmissionPolicy) install detects the mode and says
// how, a GPU count Autopilot does not offer is refused before the cluster is
// touched, and every preset's Autopilot render passes admission.
func TestAutopilot(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "autopilot")
	token := fakeToken(t)
	k := pluginCLI(t, c.Env(), token)
	ctx := context.Background()

	t.Run("presets accepted by the apiserver and Warden (autopilot)", func(t *testing.T) {
		presetsServerDryRun(t, k, c.Config, c.Client, "autopilot")
	})

	t.Run("install detects Autopilot", func(t *testing.T) {
		r := k.ok("install", "scout", "-n", "ap", "--create-namespace")
		mustContain(t, "install stderr", r.stderr,
			"mode: autopilot; GKE Autopilot detected (MutatingWebhookConfiguration sasecret-redacter.config.common-webhooks.networking.gke.io exists)")
		mustContain(t, "install stdout", r.stdout, "scout is ready")
		d, err := c.Client.AppsV1().Deployments("ap").Get(ctx, "scout", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Spec.Template.Spec.Tolerations) != 0 {
			t.Errorf("Autopilot release tolerates %v: Warden rejects GPU tolerations it adds itself", d.Spec.Template.Spec.Tolerations)
		}
		r = k.ok("chat", "scout", "San Francisco is a", "--max-tokens", "7", "-n", "ap")
		if strings.TrimSpace(r.stdout) == "" {
			t.Errorf("no answer: %s", r)
		}
	})

	t.Run("GKE exec credentials (gke-gcloud-auth-plugin)", func(t *testing.T) {
		// A kubeconfig as `gcloud container clusters get-credentials` writes
		// it: the user is an exec plugin found on PATH. Ours prints the
		// cluster's admin token as an ExecCredential and notes each call.
		dir := t.TempDir()
		calls := filepath.Join(dir, "calls")
		plugin := "#!/bin/sh\n" +
			"[ -n \"$KUBERNETES_EXEC_INFO\" ] || { echo 'no KUBERNETES_EXEC_INFO' >&2; exit 3; }\n" +
			"echo call >> '" + calls + "'\n" +
			`printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s"}}\n' '` + c.Config.BearerToken + "'\n"
		if err := os.WriteFile(filepath.Join(dir, "gke-gcloud-auth-plugin"), []byte(plugin), 0o755); err != nil {
			t.Fatal(err)
		}
		ca := c.Config.CAData
		if len(ca) == 0 {
			b, err := os.ReadFile(c.Config.CAFile)
			if err != nil {
				t.Fatal(err)
			}
			ca = b
		}
		kubeconfig := filepath.Join(dir, "kubeconfig")
		kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: gke_proj_us-central1_llama
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: gke_proj_us-central1_llama
  context: {cluster: gke_proj_us-central1_llama, user: gke_proj_us-central1_llama}
current-context: gke_proj_us-central1_llama
users:
- name: gke_proj_us-central1_llama
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin
      installHint: Install gke-gcloud-auth-plugin for use with kubectl
      provideClusterInfo: true
      interactiveMode: IfAvailable
`, c.Config.Host, base64.StdEncoding.EncodeToString(ca))
		if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
			t.Fatal(err)
		}
		// Later entries win (os/exec): this kubeconfig, the plugin first on PATH.
		env := append(c.Env(), "KUBECONFIG="+kubeconfig, "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		g := pluginCLI(t, env, token)
		r := g.ok("list", "-n", "ap")
		mustContain(t, "list through exec credentials", r.stdout, "scout", "deployed", "1/1")
		r = g.ok("chat", "scout", "San Francisco is a", "--max-tokens", "7", "-n", "ap") // port-forward upgrade carries them too
		if strings.TrimSpace(r.stdout) == "" {
			t.Errorf("no answer through exec credentials: %s", r)
		}
		if b, _ := os.ReadFile(calls); !strings.Contains(string(b), "call") {
			t.Error("the exec plugin was never called")
		}
	})

	onTerminal(t, k, "ap", "scout")

	t.Run("gpu count Autopilot does not offer", func(t *testing.T) {
		k.fail(failFastBound, []string{"install", "scout", "three", "-n", "ap", "--gpu-count", "3"},
			"--gpu-count 3 is not offered by h100 (nvidia-h100-80gb) on GKE Autopilot: allowed counts are 1, 2, 4, 8")
		if _, err := c.Client.AppsV1().Deployments("ap").Get(ctx, "three", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("refused install left a Deployment (err %v)", err)
		}
		secrets, err := c.Client.CoreV1().Secrets("ap").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=three"})
		if err != nil || len(secrets.Items) != 0 {
			t.Errorf("refused install left %d release records (err %v)", len(secrets.Items), err)
		}
	})

	t.Run("node selector overriding the accelerator", func(t *testing.T) {
		// A user pins the accelerator by hand (as GKE docs do): the chart
		// owns that selector, so it refuses instead of rendering a
		// duplicate key that the apiserver and Warden would each read
		// their own way.
		k.fail(failFastBound, []string{"install", "scout", "pinned", "-n", "ap", "--gpu-count", "4",
			"--set-string", `nodeSelector.cloud\.google\.com/gke-accelerator=nvidia-h200-141gb`},
			"nodeSelector cloud.google.com/gke-accelerator=nvidia-h200-141gb conflicts", "from --gpu and --gpu-count")
		if _, err := c.Client.AppsV1().Deployments("ap").Get(ctx, "pinned", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("refused install left a Deployment (err %v)", err)
		}
	})

	k.ok("uninstall", "scout", "-n", "ap", "--wait")
}

// presetsServerDryRun renders every preset on every GPU it fits (from
// `kubectl llama models -o json`) in one GKE mode with `install --dry-run`
// and creates the result in the cluster by server-side dry run: schema,
// defaulting and admission (Warden's policy on Autopilot) accept it.
func presetsServerDryRun(t *testing.T, k *cli, cfg *rest.Config, cs kubernetes.Interface, mode string) {
	ctx := context.Background()
	ns := "dry-run-" + mode
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := k.ok("models", "-o", "json")
	var cat struct {
		Models []struct {
			Preset     string
			DefaultGPU string
			Fits       []struct {
				GPU   string
				Count int
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &cat); err != nil {
		t.Fatalf("models -o json: %v", err)
	}
	if len(cat.Models) < 5 {
		t.Fatalf("models -o json: %d presets, want the 5 of the catalog", len(cat.Models))
	}
	combos := 0
	for _, m := range cat.Models {
		for _, fit := range m.Fits {
			args := []string{"install", m.Preset, "--gpu", fit.GPU, "--mode", mode, "--dry-run", "-o", "yaml", "-n", ns}
			if fit.GPU == m.DefaultGPU {
				args = []string{"install", m.Preset, "--mode", mode, "--dry-run", "-n", ns} // as documented
			}
			r := k.ok(args...)
			objs, err := applyDryRun(ctx, t, cfg, ns, []byte(r.stdout))
			if err != nil {
				t.Errorf("%s on %s (%s): rejected by the apiserver: %v", m.Preset, fit.GPU, mode, err)
				continue
			}
			want := fmt.Sprintf("deployment/%s", m.Preset)
			if !contains(objs, want) || !contains(objs, "service/"+m.Preset) {
				t.Errorf("%s on %s (%s): created %v, want the Deployment and Service", m.Preset, fit.GPU, mode, objs)
			}
			combos++
		}
	}
	t.Logf("%d preset x GPU renders accepted by server-side dry run in %s mode", combos, mode)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
