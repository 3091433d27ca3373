//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-llama/kubectl-llama/test/localcluster"
)

const (
	releaseSel  = "app.kubernetes.io/instance="
	progressPat = `(?m)^\[\d+s\] .*pod .*: `
)

// TestServingLifecycle is the tutorial as one user session on an H100
// cluster: install scout, wait, chat, smoke test, list, port-forward across a
// pod replacement, upgrade with Recreate, status, logs, uninstall; the token
// stays in its Secret. Then a user with only a namespace Role does the same.
func TestServingLifecycle(t *testing.T) {
	t.Parallel()
	c := startCluster(t, "h100")
	token := fakeToken(t)
	k := pluginCLI(t, c.Env(), token)
	cs := c.Client
	ctx := context.Background()
	const ns, rel = "llm", "scout"

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("install waits with progress", func(t *testing.T) {
		r := k.ok("install", "scout", "-n", ns, "--create-namespace")
		mustContain(t, "install stdout", r.stdout, "release scout installed in namespace llm", "scout is ready",
			"kubectl llama chat scout")
		if n := len(regexp.MustCompile(progressPat).FindAllString(r.stdout, -1)); n < 2 {
			t.Errorf("want progress lines while waiting, got %d:\n%s", n, r.stdout)
		}
		mustContain(t, "install stderr", r.stderr, "GKE Standard detected", "Secret hf-secret created with the Hugging Face token from $HF_TOKEN")
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, "hf-secret", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(s.Data["hf_api_token"]) != token {
			t.Errorf("Secret hf-secret key hf_api_token does not hold $HF_TOKEN")
		}
		r = k.ok("wait", rel, "-n", ns, "--timeout", "1m")
		mustContain(t, "wait stdout", r.stdout, "scout is ready")
	})

	step("chat answers", func(t *testing.T) {
		r := k.ok("chat", rel, "San Francisco is a", "--max-tokens", "7", "-n", ns)
		if strings.TrimSpace(r.stdout) == "" || !strings.HasSuffix(r.stdout, "\n") {
			t.Errorf("want an answer line on stdout: %s", r)
		}
	})

	step("smoke test passes", func(t *testing.T) {
		r := k.ok("test", rel, "-n", ns)
		for _, s := range []string{"connect", "health", "models", "chat"} {
			if !regexp.MustCompile(`(?m)^PASS +` + s + ` `).MatchString(r.stdout) {
				t.Errorf("no PASS line for step %s:\n%s", s, r.stdout)
			}
		}
		mustContain(t, "test stdout", r.stdout, "meta-llama/Llama-4-Scout-17B-16E", "smoke test passed: 4/4 steps")
	})

	step("list shows it", func(t *testing.T) {
		r := k.ok("list", "-n", ns)
		row := regexp.MustCompile(`(?m)^scout +llm +scout +h100 x 8 +standard +deployed +1/1 `)
		if !row.MatchString(r.stdout) {
			t.Errorf("list has no ready scout row:\n%s", r.stdout)
		}
		r = k.ok("list", "-A", "-o", "json")
		var l struct {
			Releases []struct {
				Name, Namespace, Preset, ModelID, GPU, Status, Ready string
				GPUCount                                             int
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
			t.Fatalf("list -o json: %v\n%s", err, r.stdout)
		}
		if len(l.Releases) != 1 {
			t.Fatalf("list -A -o json: %d releases, want 1:\n%s", len(l.Releases), r.stdout)
		}
		got := l.Releases[0]
		if got.Name != rel || got.Namespace != ns || got.Preset != "scout" || got.ModelID != "meta-llama/Llama-4-Scout-17B-16E" ||
			got.GPU != "h100" || got.GPUCount != 8 || got.Status != "deployed" || got.Ready != "1/1" {
			t.Errorf("list -o json: %+v", got)
		}
	})

	step("port-forward survives pod replacement", func(t *testing.T) {
		portForwardAcrossReplacement(t, k, cs, ns, rel)
	})

	step("token only in its Secret", func(t *testing.T) {
		checkTokenOnlyInSecret(t, c.Config, ns, token, 1)
	})

	step("upgrade recreates the pod", func(t *testing.T) {
		upgradeWithRecreate(t, k, cs, ns, rel)
	})

	step("status and logs", func(t *testing.T) {
		r := k.ok("status", rel, "-n", ns)
		mustContain(t, "status", r.stdout, "revision 2 deployed", "--max-model-len 65536", "Status:      READY", "8 x h100 (nvidia-h100-80gb)")
		r = k.ok("status", rel, "-n", ns, "-o", "json")
		var st struct {
			Ready bool
			State string
			Model struct{ MaxModelLen int }
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status -o json: %v", err)
		}
		if !st.Ready || st.State != "ready" || st.Model.MaxModelLen != 65536 {
			t.Errorf("status -o json: %+v", st)
		}
		r = k.ok("logs", rel, "-n", ns, "--tail", "200")
		mustContain(t, "logs", r.stdout, "vLLM API server version 0.10.0", "'max_model_len': 65536", "Application startup complete")
	})

	step("logs -f follows the server log", func(t *testing.T) {
		lines := linesOf(k.background(t, "logs", rel, "-n", ns, "-f", "--tail", "1"))
		k.ok("chat", rel, "-n", ns, "logs follow me", "--max-tokens", "3")
		// The new pod had no chat before: this line was written after logs -f started.
		if !lines.waitFor(30*time.Second, `"POST /v1/chat/completions HTTP/1.1" 200 OK`) {
			t.Fatal("no access line of the chat request from logs -f within 30s")
		}
	})

	step("token only in its Secret after upgrade", func(t *testing.T) {
		checkTokenOnlyInSecret(t, c.Config, ns, token, 2)
	})

	step("uninstall leaves only the Secret", func(t *testing.T) {
		r := k.ok("uninstall", rel, "-n", ns, "--wait")
		mustContain(t, "uninstall", r.stdout+r.stderr, "release scout uninstalled from namespace llm", "Secret hf-secret (Hugging Face token) kept")
		onlyUserObjectsLeft(t, c.Config, ns, "secret/hf-secret")
		r = k.ok("list", "-A")
		if strings.Contains(r.stdout, "scout") {
			t.Errorf("list after uninstall still shows scout:\n%s", r.stdout)
		}
	})

	step("namespace-scoped user", func(t *testing.T) {
		limitedUser(t, c, token)
	})
}

// portForwardAcrossReplacement runs `port-forward RELEASE --local-port 0` in
// the background, talks to the model, deletes the pod and talks again.
func portForwardAcrossReplacement(t *testing.T, k *cli, cs kubernetes.Interface, ns, rel string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	forwards := make(chan [2]string, 4) // local address, pod
	fwLine := regexp.MustCompile(`^Forwarding from (127\.0\.0\.1:\d+) -> pod (\S+) port 7080$`)
	lines := k.background(t, "port-forward", rel, "-n", ns, "--local-port", "0")
	go func() {
		for l := range lines {
			if m := fwLine.FindStringSubmatch(l); m != nil {
				forwards <- [2]string{m[1], m[2]}
			}
		}
	}()

	var first [2]string
	select {
	case first = <-forwards:
	case <-time.After(30 * time.Second):
		t.Fatal("no `Forwarding from 127.0.0.1:PORT -> pod P port 7080` line within 30s")
	}
	models := func() error {
		resp, err := http.Get("http://" + first[0] + "/v1/models")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(body), "meta-llama/Llama-4-Scout-17B-16E") {
			return fmt.Errorf("GET /v1/models: %d %s", resp.StatusCode, body)
		}
		return nil
	}
	if err := models(); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, first[1], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var second [2]string
	select {
	case second = <-forwards:
	case <-time.After(60 * time.Second):
		t.Fatalf("no reconnection within 60s of deleting pod %s", first[1])
	}
	if second[1] == first[1] || second[0] != first[0] {
		t.Errorf("after deleting %s: forwarding %s -> %s, want the same local address to a new pod", first[1], second[0], second[1])
	}
	took := eventually(t, 30*time.Second, "GET /v1/models through the port-forward after the pod was replaced", models)
	t.Logf("answered through %s by the replacement pod %s (%s after reconnecting)", first[0], second[1], took.Round(time.Millisecond))
}

// upgradeWithRecreate changes --max-model-len and checks, from a pod watch
// opened before the upgrade, that the old pod is gone before the new one
// exists (Recreate), and that the new pod carries the new flag.
func upgradeWithRecreate(t *testing.T, k *cli, cs kubernetes.Interface, ns, rel string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, rel, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("Deployment strategy %s, want Recreate", d.Spec.Strategy.Type)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: releaseSel + rel})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("before upgrade: %d pods, err %v", len(pods.Items), err)
	}
	old := pods.Items[0].Name
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: releaseSel + rel, ResourceVersion: pods.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	var events []string // "ADDED pod", "DELETED pod", in watch order
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && (ev.Type == watch.Added || ev.Type == watch.Deleted) {
				events = append(events, string(ev.Type)+" "+p.Name)
			}
		}
	}()
	// A dry run first: the new render, and nothing changes (the pod watch
	// below would see it, and the real upgrade is still revision 2).
	r := k.ok("upgrade", rel, "-n", ns, "--max-model-len", "65536", "--dry-run")
	mustContain(t, "upgrade --dry-run stdout", r.stdout, "kind: Deployment", "--max-model-len=65536", "nvidia-h100-80gb")
	r = k.ok("upgrade", rel, "-n", ns, "--max-model-len", "65536")
	mustContain(t, "upgrade stdout", r.stdout, "release scout upgraded in namespace llm (revision 2)", "scout is ready")
	w.Stop()
	<-done
	deletedOld, addedNew := -1, -1
	for i, e := range events {
		if e == "DELETED "+old {
			deletedOld = i
		}
		if strings.HasPrefix(e, "ADDED ") && e != "ADDED "+old && addedNew < 0 {
			addedNew = i
		}
	}
	if deletedOld < 0 || addedNew < 0 || deletedOld > addedNew {
		t.Errorf("want the old pod %s deleted before the new one is created (Recreate); pod events: %v", old, events)
	} else {
		t.Logf("pod watch during the upgrade: %v", events)
	}
	pods, err = cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: releaseSel + rel})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("after upgrade: %d pods, err %v", len(pods.Items), err)
	}
	var args []string
	for _, ctr := range pods.Items[0].Spec.Containers {
		if ctr.Name == "inference-server" {
			args = append(ctr.Command, ctr.Args...)
		}
	}
	if !regexp.MustCompile(`--max-model-len[= ]65536( |$)`).MatchString(strings.Join(args, " ")) {
		t.Errorf("new pod %s args lack --max-model-len 65536: %q", pods.Items[0].Name, args)
	}
}

// checkTokenOnlyInSecret lists every object of every type in ns and decodes
// every Helm release record: the token (or its base64) is only in Secret
// hf-secret, which must hold it (so the search can find it).
func checkTokenOnlyInSecret(t *testing.T, cfg *rest.Config, ns, token string, wantReleases int) {
	ctx := context.Background()
	b64 := base64.StdEncoding.EncodeToString([]byte(token))
	objs := namespacedObjects(ctx, t, cfg, ns)
	kinds := map[string]int{}
	releases, sawSecret := 0, false
	for _, u := range objs {
		kinds[u.GetKind()]++
		raw, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		if u.GetKind() == "Secret" {
			if typ, _, _ := unstructured.NestedString(u.Object, "type"); typ == "helm.sh/release.v1" {
				releases++
				text += helmRelease(t, u)
			}
		}
		found := strings.Contains(text, token) || strings.Contains(text, b64)
		if u.GetKind() == "Secret" && u.GetName() == "hf-secret" {
			sawSecret = found
			continue
		}
		if found {
			t.Errorf("the HF token appears in %s", objectRef(u))
		}
	}
	if !sawSecret {
		t.Errorf("the token is not in Secret hf-secret: the search would not find it elsewhere either")
	}
	if releases != wantReleases {
		t.Errorf("%d Helm release records decoded, want %d", releases, wantReleases)
	}
	var ks []string
	for k, n := range kinds {
		ks = append(ks, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(ks)
	t.Logf("searched %d objects (%s) and %d decoded release records", len(objs), strings.Join(ks, " "), releases)
}

// onlyUserObjectsLeft waits until the namespace holds only what a fresh
// namespace holds (default ServiceAccount, kube-root-ca.crt, events) plus keep.
func onlyUserObjectsLeft(t *testing.T, cfg *rest.Config, ns string, keep ...string) {
	allowed := map[string]bool{"serviceaccount/default": true, "configmap/kube-root-ca.crt": true}
	for _, k := range keep {
		allowed[k] = true
	}
	eventually(t, 30*time.Second, "namespace "+ns+" free of the release", func() error {
		var extra []string
		seen := map[string]bool{}
		for _, u := range namespacedObjects(context.Background(), t, cfg, ns) {
			ref := objectRef(u)
			seen[ref] = true
			if u.GetKind() == "Event" || allowed[ref] {
				continue
			}
			extra = append(extra, ref)
		}
		for _, k := range keep {
			if !seen[k] {
				return fmt.Errorf("%s is gone", k)
			}
		}
		if len(extra) > 0 {
			return fmt.Errorf("left behind: %v", extra)
		}
		return nil
	})
}

// limitedUser: llama-user with only a Role in namespace team installs,
// lists, checks, chats and uninstalls there.
func limitedUser(t *testing.T, c *localcluster.Cluster, token string) {
	ctx := context.Background()
	const ns = "team"
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	all := []string{"*"}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "llama-user"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "pods/portforward", "services", "secrets",
			"serviceaccounts", "configmaps", "persistentvolumeclaims", "events", "endpoints"}, Verbs: all},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets"}, Verbs: all},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: all},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: all},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
	}}
	bindLimitedUser(t, c, ns, role)
	u := pluginCLI(t, c.LimitedEnv(), token)

	// Without rights on Nodes and webhook configurations the mode cannot be
	// detected: install says so, assumes Autopilot, and the wait names the
	// GPU taint of this Standard cluster with the fix; the fix works.
	r := u.fail(3*time.Minute, []string{"install", "scout", "-n", ns},
		"scout cannot become ready", "taint", "kubectl llama upgrade scout --mode standard")
	mustContain(t, "install stderr (what pre-flight could not see)", r.stderr,
		"could not detect the GKE mode (no permission to read MutatingWebhookConfigurations or Nodes): assuming autopilot; pass --mode standard")
	if r.elapsed > failFastBound {
		t.Errorf("untolerated taint named after %s, want < %s", r.elapsed, failFastBound)
	}
	r = u.ok("upgrade", "scout", "-n", ns, "--mode", "standard")
	mustContain(t, "upgrade stdout", r.stdout, "scout is ready")
	mustContain(t, "upgrade stderr (what pre-flight could not see)", r.stderr,
		"warning: no permission to list Nodes: skipping the check for nvidia-h100-80gb nodes with 8 GPUs")

	r = u.ok("list", "-n", ns)
	if !regexp.MustCompile(`(?m)^scout +team +scout +h100 x 8 +standard +deployed +1/1 `).MatchString(r.stdout) {
		t.Errorf("list -n team:\n%s", r.stdout)
	}
	r = u.run("list", "-A")
	t.Logf("list -A as %s: %s", c.LimitedUser, r)
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); r.stderr == "" || len(lines) != 1 {
		t.Errorf("list -A as a namespace-scoped user: want one clear line on stderr: %s", r)
	}
	mustContain(t, "list -A stderr", r.stderr, "error: cannot list releases in all namespaces: no permission to list Secrets cluster-wide")

	r = u.ok("status", "scout", "-n", ns)
	mustContain(t, "status", r.stdout, "Status:      READY")
	r = u.ok("chat", "scout", "San Francisco is a", "--max-tokens", "7", "-n", ns)
	if strings.TrimSpace(r.stdout) == "" {
		t.Errorf("chat as limited user: no answer: %s", r)
	}
	u.ok("uninstall", "scout", "-n", ns, "--wait")
	onlyUserObjectsLeft(t, c.Config, ns, "secret/hf-secret", "role/llama-user", "rolebinding/llama-user")

	viewerPortForward(t, c, token)
}

// bindLimitedUser creates role in namespace ns and binds the cluster's
// limited user to it (a RoleBinding of the same name).
func bindLimitedUser(t *testing.T, c *localcluster.Cluster, ns string, role *rbacv1.Role) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: c.LimitedUser}}}
	if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// viewerPortForward: a user who may forward to a release but not read its
// Secrets (a typical read-only role) still gets a working port-forward to a
// release with an API key, told that requests need the key.
func viewerPortForward(t *testing.T, c *localcluster.Cluster, token string) {
	ctx := context.Background()
	const ns = "viewer"
	admin := pluginCLI(t, c.Env(), token)
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	key := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vllm-api-key"}, StringData: map[string]string{"api_key": "e2e-api-key-not-a-secret"}}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, key, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	admin.ok("install", "scout", "-n", ns, "--mode", "standard", "--set", "apiKey.enabled=true", "-q")
	read := []string{"get", "list", "watch"}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "viewer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "services", "events"}, Verbs: read},
		{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"get", "create"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets"}, Verbs: read},
	}}
	bindLimitedUser(t, c, ns, role)
	u := pluginCLI(t, c.LimitedEnv(), token)
	lines := linesOf(u.background(t, "port-forward", "scout", "-n", ns, "--local-port", "0"))
	for _, want := range []string{"warning: no permission to read the release's API key Secret", "Forwarding from 127.0.0.1:", `-H "Authorization: Bearer $VLLM_API_KEY"`} {
		if !lines.waitFor(30*time.Second, want) {
			t.Errorf("port-forward as a viewer: no line with %q within 30s", want)
		}
	}
	admin.ok("uninstall", "scout", "-n", ns, "--wait")
}
