package cmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes/scheme"
	fakerest "k8s.io/client-go/rest/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-llama/kubectl-llama/plugin/hftoken"
)

func TestInstallDryRunPresets(t *testing.T) {
	cases := map[string][]string{
		"install-dry-run-scout":                 {"install", "scout", "--dry-run"},
		"install-dry-run-scout-instruct":        {"install", "scout-instruct", "--dry-run"},
		"install-dry-run-maverick":              {"install", "maverick", "--dry-run"},
		"install-dry-run-maverick-instruct":     {"install", "maverick-instruct", "--dry-run"},
		"install-dry-run-maverick-instruct-fp8": {"install", "maverick-instruct-fp8", "--dry-run"},
		"install-dry-run-scout-standard-h200":   {"install", "scout", "llama", "--dry-run", "--mode", "standard", "--gpu", "h200", "--max-model-len", "65536", "-n", "llm"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t)
			e.env["HF_TOKEN"] = fakeToken
			out, errOut, err := e.run(args...)
			golden(t, name, transcript(args, out, errOut, err))
			if err != nil {
				t.Fatalf("dry run failed: %v", err)
			}
			assertNoToken(t, "the rendered manifest", out+errOut)
			if len(e.cs.Actions()) != 0 {
				t.Errorf("a dry run must not contact the cluster; it did: %v", e.cs.Actions())
			}
		})
	}
}

func TestInstallDryRunJSON(t *testing.T) {
	e := newTestEnv(t)
	out, _, err := e.run("install", "scout", "--dry-run", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Kind string `json:"kind"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	kinds := []string{}
	for _, i := range list.Items {
		kinds = append(kinds, i.Kind)
	}
	if list.Kind != "List" || !strings.Contains(strings.Join(kinds, ","), "Deployment") || !strings.Contains(strings.Join(kinds, ","), "Service") {
		t.Fatalf("want a List with the Deployment and Service, got %s %v", list.Kind, kinds)
	}
}

// Every error path: one line on stderr, exit 1, nothing changed.
func TestInstallErrors(t *testing.T) {
	existing := &release.Release{
		Name: "scout", Namespace: "default", Version: 1,
		Info:  &release.Info{Status: release.StatusDeployed},
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "vllm-llama", Version: "0.1.0"}},
	}
	cases := []struct {
		name   string
		args   []string
		token  bool
		before func(*testEnv)
	}{
		{name: "unknown-preset", args: []string{"install", "llama3"}, token: true},
		{name: "misfit", args: []string{"install", "maverick", "--gpu", "h100", "--dry-run"}},
		{name: "misfit-cluster", args: []string{"install", "maverick", "--gpu", "h100", "--mode", "autopilot"}, token: true},
		{name: "bad-gpu-count", args: []string{"install", "scout", "--gpu-count", "3", "--dry-run"}},
		{name: "bad-set", args: []string{"install", "scout", "--set", "gpu.type", "--dry-run"}},
		{name: "bad-set-schema", args: []string{"install", "scout", "--set", "replicas=many", "--dry-run"}},
		{name: "no-token", args: []string{"install", "scout", "--mode", "autopilot"}},
		{name: "secret-without-key", args: []string{"install", "scout", "--mode", "autopilot"}, before: func(e *testEnv) {
			_, _ = e.cs.CoreV1().Secrets("default").Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hf-secret"}, Data: map[string][]byte{"token": []byte("x")}}, metav1.CreateOptions{})
		}},
		{name: "existing-release", args: []string{"install", "scout", "--mode", "autopilot"}, token: true, before: func(e *testEnv) {
			if err := e.store("default").Create(existing); err != nil {
				e.t.Fatal(err)
			}
		}},
		{name: "namespace-missing", args: []string{"install", "scout", "-n", "llm", "--mode", "autopilot"}, token: true},
		{name: "token-as-value", args: []string{"install", "scout", "--set", "hfToken.create=true", "--mode", "autopilot"}, token: true},
		{name: "bad-mode", args: []string{"install", "scout", "--mode", "gke"}, token: true},
		{name: "bad-release-name", args: []string{"install", "scout", "My_Release", "--dry-run"}},
		{name: "no-model", args: []string{"install"}},
		{name: "token-file-missing", args: []string{"install", "scout", "--hf-token-file", "/nonexistent/token"}},
		{name: "atomic-without-wait", args: []string{"install", "scout", "--atomic", "--wait=false", "--mode", "autopilot"}, token: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t)
			if c.token {
				e.env["HF_TOKEN"] = fakeToken
			}
			if c.before != nil {
				c.before(e)
			}
			e.cs.ClearActions()
			before, _ := e.store("default").ListReleases()
			out, errOut, err := e.run(c.args...)
			golden(t, "install-error-"+c.name, transcript(c.args, out, errOut, err))
			if err == nil {
				t.Fatal("want an error")
			}
			if lines := strings.Count(strings.TrimSpace(errOut), "\n") + 1; lines != 1 {
				t.Errorf("want one line on stderr, got %d:\n%s", lines, errOut)
			}
			if after, _ := e.store("default").ListReleases(); len(after) != len(before) {
				t.Errorf("an error path wrote a release record: %d before, %d after", len(before), len(after))
			}
			assertNoToken(t, "output", out+errOut)
			for _, a := range e.cs.Actions() {
				if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
					t.Errorf("an error path changed the cluster: %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
			if n := len(e.waits); n != 0 {
				t.Errorf("waited after an error")
			}
		})
	}
}

func TestInstallUnreachableCluster(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a closed port: connection refused
	e := newTestEnv(t)
	e.kubeconfig = writeKubeconfig(t, "https://"+addr)
	e.realClients = true
	e.env["HF_TOKEN"] = fakeToken
	_, errOut, err := e.run("install", "scout")
	if err == nil {
		t.Fatal("want an error")
	}
	want := `error: cannot reach the cluster of context "test" (server https://` + addr + `): connection refused; check ` + "`kubectl --context test cluster-info`" + `, or pass --context/--kubeconfig (--skip-preflight skips this check)` + "\n"
	if errOut != want {
		t.Errorf("stderr:\n got %q\nwant %q", errOut, want)
	}
}

// Every command that reads the cluster says the same one line when the API
// server cannot be reached, or its credential plugin (GKE's
// gke-gcloud-auth-plugin) is missing: the context, the cause, the fix.
func TestCommandsUnreachableCluster(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	fix := "; check `kubectl --context test cluster-info`, or pass --context/--kubeconfig\n"
	refused := `error: cannot reach the cluster of context "test" (server https://` + addr + `): connection refused` + fix
	// client-go adds the install hint the first time in a process only; each
	// real command is its own process (the e2e suite runs them so).
	noPlugin := `error: cannot reach the cluster of context "test" (server https://` + addr + `): getting credentials: exec: executable gke-gcloud-auth-plugin-missing not found`
	execPath := writeKubeconfigUser(t, "https://"+addr, `    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: gke-gcloud-auth-plugin-missing
      installHint: Install gke-gcloud-auth-plugin for use with kubectl by following https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin
      provideClusterInfo: true
      interactiveMode: IfAvailable
`)
	for _, cmd := range [][]string{{"list"}, {"list", "-A"}, {"status", "scout"}, {"wait", "scout", "--timeout", "5s"},
		{"logs", "scout"}, {"chat", "scout", "hi"}, {"port-forward", "scout"}, {"uninstall", "scout"}} {
		for kc, want := range map[string]string{"refused": refused, "exec plugin missing": noPlugin} {
			t.Run(strings.Join(cmd, " ")+"/"+kc, func(t *testing.T) {
				e := newTestEnv(t)
				e.kubeconfig = writeKubeconfig(t, "https://"+addr)
				if kc != "refused" {
					e.kubeconfig = execPath
				}
				e.realClients = true
				_, errOut, err := e.run(cmd...)
				if err == nil || !strings.HasPrefix(errOut, strings.TrimSuffix(want, fix)) || !strings.HasSuffix(errOut, fix) || strings.Count(errOut, "\n") != 1 {
					t.Errorf("stderr:\n got %q\nwant %q", errOut, want)
				}
			})
		}
	}
}

func TestInstallCreatesSecretThenRelease(t *testing.T) {
	e := newTestEnv(t)
	e.secrets = true // helm's secrets driver over the fake clientset: real release records
	e.env["HF_TOKEN"] = fakeToken
	args := []string{"install", "scout", "--mode", "autopilot"}
	out, errOut, err := e.run(args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	golden(t, "install-scout", transcript(args, out, errOut, err))

	s, err := e.cs.CoreV1().Secrets("default").Get(context.Background(), "hf-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data["hf_api_token"]) != fakeToken {
		t.Error("hf-secret does not hold the token")
	}
	if s.Labels[hftoken.ManagedByLabel] != hftoken.ManagedByValue {
		t.Errorf("hf-secret lacks the managed-by label: %v", s.Labels)
	}
	// The Secret was applied (server-side apply, field manager kubectl-llama)
	// before the release record was written.
	var order []string
	for _, a := range e.cs.Actions() {
		if a.GetResource().Resource != "secrets" {
			continue
		}
		switch act := a.(type) {
		case k8stesting.PatchAction:
			order = append(order, "apply "+act.GetName())
		case k8stesting.CreateAction:
			order = append(order, "create "+act.GetObject().(metav1.Object).GetName())
		}
	}
	if len(order) < 2 || order[0] != "apply hf-secret" || !strings.HasPrefix(order[1], "create sh.helm.release.v1.scout.v1") {
		t.Errorf("want the token Secret applied before the release record, got %v", order)
	}
	// The token is nowhere but its Secret: not in the decoded release record.
	rel := decodeRelease(t, e, "sh.helm.release.v1.scout.v1")
	raw, _ := json.Marshal(rel)
	assertNoToken(t, "the release record", string(raw))
	assertNoToken(t, "the manifest", rel.Manifest)
	assertNoToken(t, "stdout/stderr", out+errOut)
	if rel.Config["gke"].(map[string]interface{})["mode"] != "autopilot" {
		t.Errorf("release values: %v", rel.Config)
	}
	if len(e.waits) != 1 || !strings.HasPrefix(e.waits[0], "default/scout 52m20s") {
		t.Errorf("want one wait with the derived timeout, got %v", e.waits)
	}
}

// decodeRelease reads a release record as helm stores it: base64(gzip(json)).
func decodeRelease(t *testing.T, e *testEnv, secret string) *release.Release {
	t.Helper()
	s, err := e.cs.CoreV1().Secrets("default").Get(context.Background(), secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertNoToken(t, "the release record Secret", string(s.Data["release"]))
	b, err := base64.StdEncoding.DecodeString(string(s.Data["release"]))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	j, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	assertNoToken(t, "the decoded release record", string(j))
	var rel release.Release
	if err := json.Unmarshal(j, &rel); err != nil {
		t.Fatal(err)
	}
	return &rel
}

func TestInstallTokenFromStdinUpdatesUserSecret(t *testing.T) {
	user := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hf-secret", Namespace: "default", Labels: map[string]string{"team": "ml"}}, Data: map[string][]byte{"hf_api_token": []byte("old")}}
	e := newTestEnv(t, user)
	e.stdin = fakeToken + "\n"
	out, errOut, err := e.run("install", "scout", "--mode", "autopilot", "--hf-token-stdin", "--wait=false")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	assertNoToken(t, "output", out+errOut)
	s, _ := e.cs.CoreV1().Secrets("default").Get(context.Background(), "hf-secret", metav1.GetOptions{})
	if string(s.Data["hf_api_token"]) != fakeToken {
		t.Error("token not updated")
	}
	if _, ok := s.Labels[hftoken.ManagedByLabel]; ok {
		t.Error("a user's Secret must not be marked as created by kubectl-llama")
	}
	if !strings.Contains(errOut, "Secret hf-secret updated with the Hugging Face token from stdin") {
		t.Errorf("stderr: %s", errOut)
	}
	if len(e.waits) != 0 {
		t.Error("--wait=false waited")
	}
}

func TestInstallExistingSecretNoToken(t *testing.T) {
	user := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hf-secret", Namespace: "default"}, Data: map[string][]byte{"hf_api_token": []byte("x")}}
	e := newTestEnv(t, user)
	_, errOut, err := e.run("install", "scout", "--mode", "autopilot", "--wait=false")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	for _, a := range e.cs.Actions() {
		if a.GetResource().Resource == "secrets" && a.GetVerb() == "patch" {
			t.Error("the user's Secret was changed although no token was given")
		}
	}
}

func TestInstallUpgradeFlag(t *testing.T) {
	e := newTestEnv(t)
	e.env["HF_TOKEN"] = fakeToken
	if _, errOut, err := e.run("install", "scout", "--mode", "standard"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	out, errOut, err := e.run("install", "scout", "--upgrade", "--max-model-len", "65536")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(out, "release scout upgraded in namespace default (revision 2)") {
		t.Errorf("stdout: %s", out)
	}
	rel, err := e.store("default").Last("scout")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rel.Manifest, "--max-model-len=65536") || rel.Config["gke"].(map[string]interface{})["mode"] != "standard" {
		t.Errorf("upgrade lost or ignored values: %v", rel.Config)
	}
}

func TestInstallAtomicUninstallsAfterFailedWait(t *testing.T) {
	e := newTestEnv(t)
	e.env["HF_TOKEN"] = fakeToken
	e.waitErr = errors.New("scout cannot become ready: pod scout-x unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu")
	_, errOut, err := e.run("install", "scout", "--mode", "autopilot", "--atomic")
	if err == nil {
		t.Fatal("want the wait's error")
	}
	if !strings.Contains(errOut, "--atomic: uninstalling scout") || !strings.Contains(errOut, "Insufficient nvidia.com/gpu (release uninstalled)") {
		t.Errorf("stderr: %s", errOut)
	}
	if rel, _ := e.store("default").Last("scout"); rel != nil && rel.Info.Status != release.StatusUninstalled {
		t.Errorf("release still %s", rel.Info.Status)
	}
}

// A Helm action that fails (an object the apiserver refuses) leaves a
// failed release record; --atomic removes it, so the same install can be
// retried, and without --atomic it stays for the user to inspect.
func TestInstallAtomicUninstallsAfterFailedInstall(t *testing.T) {
	for _, atomic := range []bool{true, false} {
		t.Run(fmt.Sprintf("atomic=%v", atomic), func(t *testing.T) {
			e := newTestEnv(t)
			e.env["HF_TOKEN"] = fakeToken
			e.kubeClient = &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard},
				DummyResources: newObjectInfos("scout"), CreateError: errors.New("admission webhook denied the request")}
			args := []string{"install", "scout", "--mode", "autopilot"}
			if atomic {
				args = append(args, "--atomic")
			}
			_, errOut, err := e.run(args...)
			if err == nil || !strings.Contains(errOut, "install of scout failed") || !strings.Contains(errOut, "admission webhook denied the request") {
				t.Fatalf("err %v stderr: %s", err, errOut)
			}
			if len(e.waits) != 0 {
				t.Error("waited after a failed install")
			}
			rel, _ := e.store("default").Last("scout")
			if atomic {
				if !strings.Contains(errOut, "--atomic: uninstalling scout") || !strings.Contains(errOut, "(release uninstalled)") {
					t.Errorf("stderr: %s", errOut)
				}
				if rel != nil && rel.Info.Status != release.StatusUninstalled {
					t.Errorf("--atomic left the release %s", rel.Info.Status)
				}
				return
			}
			if rel == nil || rel.Info.Status != release.StatusFailed {
				t.Errorf("without --atomic the failed release record should stay, got %v", rel)
			}
		})
	}
}

// newObjectInfos is what Helm's client builds from a manifest: one object
// per name, whose REST client finds nothing in the cluster (no conflict).
func newObjectInfos(names ...string) kube.ResourceList {
	var infos kube.ResourceList
	for _, n := range names {
		infos = append(infos, &resource.Info{
			Name: n, Namespace: "default",
			Object: &unstructured.Unstructured{Object: map[string]interface{}{
				"apiVersion": "v1", "kind": "Service", "metadata": map[string]interface{}{"name": n, "namespace": "default"}}},
			Mapping: &meta.RESTMapping{
				Resource:         schema.GroupVersionResource{Version: "v1", Resource: "services"},
				GroupVersionKind: schema.GroupVersionKind{Version: "v1", Kind: "Service"},
				Scope:            meta.RESTScopeNamespace,
			},
			Client: &fakerest.RESTClient{
				NegotiatedSerializer: scheme.Codecs.WithoutConversion(),
				Resp:                 &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))},
			},
		})
	}
	return infos
}

// upgrade --atomic after a failed wait rolls back to the revision before.
func TestUpgradeAtomicRollsBackAfterFailedWait(t *testing.T) {
	e := newTestEnv(t)
	e.env["HF_TOKEN"] = fakeToken
	if _, errOut, err := e.run("install", "scout", "--mode", "standard", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	e.waitErr = errors.New("scout cannot become ready: vLLM exited: CUDA out of memory")
	_, errOut, err := e.run("upgrade", "scout", "--max-model-len", "999999", "--atomic")
	if err == nil || !strings.Contains(errOut, "--atomic: rolling scout back to revision 1") || !strings.Contains(errOut, "CUDA out of memory (rolled back to revision 1)") {
		t.Fatalf("err %v stderr: %s", err, errOut)
	}
	rel, _ := e.store("default").Last("scout")
	if rel.Version != 3 || rel.Info.Status != release.StatusDeployed || strings.Contains(rel.Manifest, "--max-model-len=999999") {
		t.Errorf("after the rollback: revision %d %s, manifest with the failed value: %v", rel.Version, rel.Info.Status, strings.Contains(rel.Manifest, "999999"))
	}
}

func TestInstallStandardWarnsWithoutGPUNodes(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gke-c-l4-pool-1", Labels: map[string]string{
		"cloud.google.com/gke-nodepool": "l4-pool", "cloud.google.com/gke-accelerator": "nvidia-l4"}}}
	node.Status.Allocatable = corev1.ResourceList{"nvidia.com/gpu": resourceQty("8")}
	e := newTestEnv(t, node)
	e.env["HF_TOKEN"] = fakeToken
	args := []string{"install", "scout", "--wait=false"}
	out, errOut, err := e.run(args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	golden(t, "install-standard-no-h100-nodes", transcript(args, out, errOut, err))
}

func TestInstallNoNodeRBAC(t *testing.T) {
	e := newTestEnv(t)
	e.env["HF_TOKEN"] = fakeToken
	forbid := func(res string) {
		e.cs.PrependReactor("*", res, func(a k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: res}, "", errors.New("rbac"))
		})
	}
	forbid("nodes")
	forbid("mutatingwebhookconfigurations")
	_, errOut, err := e.run("install", "scout", "--wait=false")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "assuming autopilot; pass --mode standard") {
		t.Errorf("stderr: %s", errOut)
	}
	_, errOut, err = e.run("install", "scout", "s2", "--mode", "standard", "--wait=false")
	if err != nil || !strings.Contains(errOut, "no permission to list Nodes: skipping the check") {
		t.Errorf("err %v stderr: %s", err, errOut)
	}
}

func TestCustomModel(t *testing.T) {
	e := newTestEnv(t)
	out, errOut, err := e.run("install", "--model-id", "myorg/Tiny-Llama_v2", "--gpu", "l4", "--gpu-count", "1", "--set", "model.weightsGB=10", "--dry-run")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(out, "name: tiny-llama-v2") || !strings.Contains(out, "--model=myorg/Tiny-Llama_v2") {
		t.Errorf("custom model not rendered as expected:\n%s", out)
	}
}

func resourceQty(s string) resourceQuantity { return mustQty(s) }

var _ = appsv1.Deployment{}
var _ = helmtime.Now
