package cmd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

// installFixtures installs two releases through the real install path
// (scout in default, ready; maverick-instruct-fp8 "mav" in llm) and adds a
// release of another chart that list must leave out.
func installFixtures(t *testing.T, e *testEnv) {
	t.Helper()
	e.env["HF_TOKEN"] = fakeToken
	if _, errOut, err := e.run("install", "scout", "--mode", "autopilot", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	e.now = e.now.Add(90 * time.Minute)
	if _, errOut, err := e.run("install", "maverick-instruct-fp8", "mav", "-n", "llm", "--create-namespace", "--mode", "standard", "--gpu", "h200", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	other := &release.Release{Name: "redis", Namespace: "default", Version: 1,
		Info:  &release.Info{Status: release.StatusDeployed},
		Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "redis", Version: "1.0.0"}}}
	if err := e.store("default").Create(other); err != nil {
		t.Fatal(err)
	}
	// Helm's kube client is a fake: create the scout Deployment the real
	// apiserver would now hold, with one ready replica.
	one := int32(1)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "scout", Namespace: "default"}, Spec: appsv1.DeploymentSpec{Replicas: &one}, Status: appsv1.DeploymentStatus{ReadyReplicas: 1}}
	if _, err := e.cs.AppsV1().Deployments("default").Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(2 * time.Hour)
}

// The releases' timestamps come from helm's clock: pin them all to at for
// goldens (the storage lists releases in no fixed order).
func pinTimes(t *testing.T, e *testEnv, at time.Time) {
	t.Helper()
	for _, ns := range []string{"default", "llm"} {
		rels, _ := e.store(ns).ListReleases()
		for _, r := range rels {
			ts := helmtime.Time{Time: at}
			r.Info.FirstDeployed, r.Info.LastDeployed = ts, ts
			_ = e.store(ns).Update(r)
		}
	}
}

func TestList(t *testing.T) {
	e := newTestEnv(t)
	installFixtures(t, e)
	pinTimes(t, e, e.now.Add(-3*time.Hour))
	for name, args := range map[string][]string{
		"list":            {"list"},
		"list-all":        {"list", "-A"},
		"list-yaml":       {"list", "-A", "-o", "yaml"},
		"list-llm":        {"list", "-n", "llm"},
		"list-empty":      {"list", "-n", "nothing"},
		"list-bad-output": {"list", "-o", "wide"},
	} {
		t.Run(name, func(t *testing.T) {
			out, errOut, err := e.run(args...)
			golden(t, name, transcript(args, out, errOut, err))
		})
	}
	out, _, err := e.run("list", "-A", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Releases []map[string]interface{} `json:"releases"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Releases) != 2 {
		t.Fatalf("want 2 releases in JSON, got %v (%v)", doc.Releases, err)
	}
	if doc.Releases[0]["name"] != "scout" || doc.Releases[0]["ready"] != "1/1" || doc.Releases[1]["gpu"] != "h200" {
		t.Errorf("JSON facts: %v", doc.Releases)
	}
}

func TestListForbidden(t *testing.T) {
	e := newTestEnv(t)
	e.secrets = true
	e.cs.PrependReactor("list", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errForbidden)
	})
	_, errOut, err := e.run("list", "-A")
	if err == nil || !strings.Contains(errOut, "cannot list releases in all namespaces: no permission to list Secrets cluster-wide") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("stderr: %q", errOut)
	}
	_, errOut, err = e.run("list")
	if err == nil || !strings.Contains(errOut, "cannot list releases in namespace default") {
		t.Errorf("stderr: %q", errOut)
	}
}

func TestUninstall(t *testing.T) {
	e := newTestEnv(t)
	installFixtures(t, e)
	args := []string{"uninstall", "scout"}
	out, errOut, err := e.run(args...)
	golden(t, "uninstall", transcript(args, out, errOut, err))
	if _, err := e.cs.CoreV1().Secrets("default").Get(context.Background(), "hf-secret", metav1.GetOptions{}); err != nil {
		t.Error("uninstall without --delete-secret removed the token Secret")
	}
	args = []string{"uninstall", "mav", "-n", "llm", "--delete-secret"}
	out, errOut, err = e.run(args...)
	golden(t, "uninstall-delete-secret", transcript(args, out, errOut, err))
	if _, err := e.cs.CoreV1().Secrets("llm").Get(context.Background(), "hf-secret", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("--delete-secret kept a Secret kubectl-llama created: %v", err)
	}
	args = []string{"uninstall", "nope"}
	out, errOut, err = e.run(args...)
	golden(t, "uninstall-not-found", transcript(args, out, errOut, err))
	args = []string{"uninstall", "redis"}
	out, errOut, err = e.run(args...)
	golden(t, "uninstall-other-chart", transcript(args, out, errOut, err))
}

// With no token Secret (a release installed with hfToken.optional, or the
// Secret removed by hand) uninstall does not claim to have kept one.
func TestUninstallWithoutSecret(t *testing.T) {
	e := newTestEnv(t)
	e.env["HF_TOKEN"] = fakeToken
	if _, errOut, err := e.run("install", "scout", "--mode", "autopilot", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if err := e.cs.CoreV1().Secrets("default").Delete(context.Background(), "hf-secret", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := e.run("uninstall", "scout")
	if err != nil || !strings.Contains(out, "release scout uninstalled") || strings.Contains(errOut, "kept") {
		t.Errorf("%v stdout %q stderr %q", err, out, errOut)
	}
}

func TestUninstallKeepsUserSecret(t *testing.T) {
	user := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hf-secret", Namespace: "default"}, Data: map[string][]byte{"hf_api_token": []byte("x")}}
	e := newTestEnv(t, user)
	if _, errOut, err := e.run("install", "scout", "--mode", "autopilot", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	_, errOut, err := e.run("uninstall", "scout", "--delete-secret")
	if err != nil || !strings.Contains(errOut, "Secret hf-secret kept: not created by kubectl-llama") {
		t.Errorf("%v stderr: %s", err, errOut)
	}
	if _, err := e.cs.CoreV1().Secrets("default").Get(context.Background(), "hf-secret", metav1.GetOptions{}); err != nil {
		t.Error("deleted the user's Secret")
	}
}

func TestUpgrade(t *testing.T) {
	e := newTestEnv(t)
	e.env["HF_TOKEN"] = fakeToken
	if _, errOut, err := e.run("install", "scout", "--mode", "standard", "--gpu", "h200", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	delete(e.env, "HF_TOKEN") // the Secret exists now
	args := []string{"upgrade", "scout", "--max-model-len", "65536"}
	out, errOut, err := e.run(args...)
	golden(t, "upgrade-max-model-len", transcript(args, out, errOut, err))
	rel, _ := e.store("default").Last("scout")
	if rel.Version != 2 || !strings.Contains(rel.Manifest, "--max-model-len=65536") || !strings.Contains(rel.Manifest, "nvidia-h200-141gb") || !strings.Contains(rel.Manifest, "nvidia.com/gpu") {
		t.Errorf("upgrade did not keep the release's values (h200, standard) and apply the new one")
	}
	if len(e.waits) != 1 {
		t.Errorf("upgrade should wait once, got %v", e.waits)
	}
	// --dry-run: the upgraded render (kept h200 + standard, new context
	// length), and nothing changes.
	e.cs.ClearActions()
	out, errOut, err = e.run("upgrade", "scout", "--max-model-len", "4096", "--dry-run")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(out, "--max-model-len=4096") || !strings.Contains(out, "nvidia-h200-141gb") || !strings.Contains(out, "key: nvidia.com/gpu") || !strings.Contains(out, "kind: Deployment") {
		t.Errorf("upgrade --dry-run render:\n%s", out)
	}
	if rel, _ := e.store("default").Last("scout"); rel.Version != 2 {
		t.Errorf("upgrade --dry-run wrote revision %d", rel.Version)
	}
	for _, a := range e.cs.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			t.Errorf("upgrade --dry-run changed the cluster: %s %s", v, a.GetResource().Resource)
		}
	}
	if len(e.waits) != 1 {
		t.Error("upgrade --dry-run waited")
	}
	if out, _, err = e.run("upgrade", "scout", "--dry-run", "-o", "json"); err != nil || !strings.Contains(out, `"kind": "List"`) {
		t.Errorf("upgrade --dry-run -o json: %v\n%.200s", err, out)
	}
	for name, args := range map[string][]string{
		"upgrade-misfit":      {"upgrade", "scout", "--model", "maverick", "--gpu", "h100"},
		"upgrade-not-found":   {"upgrade", "nope", "--max-model-len", "1024"},
		"upgrade-bad-preset":  {"upgrade", "scout", "--model", "llama3"},
		"upgrade-reuse-reset": {"upgrade", "scout", "--reuse-values", "--reset-values"},
	} {
		t.Run(name, func(t *testing.T) {
			out, errOut, err := e.run(args...)
			golden(t, name, transcript(args, out, errOut, err))
			if err == nil {
				t.Error("want an error")
			}
		})
	}
	// Change of model: allowed, fit check passes on h200.
	if _, errOut, err := e.run("upgrade", "scout", "--model", "maverick-instruct-fp8", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	rel, _ = e.store("default").Last("scout")
	if !strings.Contains(rel.Manifest, "Llama-4-Maverick-17B-128E-Instruct-FP8") {
		t.Error("model change not applied")
	}
	// A custom model id does not survive a change of preset: the new preset
	// brings its own model.
	if _, errOut, err := e.run("install", "scout", "ft", "--model-id", "myorg/Scout-ft", "--mode", "standard", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if _, errOut, err := e.run("upgrade", "ft", "--model", "maverick-instruct-fp8", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	rel, _ = e.store("default").Last("ft")
	if strings.Contains(rel.Manifest, "myorg/Scout-ft") || !strings.Contains(rel.Manifest, "--model=meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8") {
		t.Errorf("upgrade --model kept the release's custom model id:\n%s", rel.Manifest)
	}
	// ... while --model-id with it still names the model.
	if _, errOut, err := e.run("upgrade", "ft", "--model", "scout", "--model-id", "myorg/Scout-ft2", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if rel, _ = e.store("default").Last("ft"); !strings.Contains(rel.Manifest, "--model=myorg/Scout-ft2") {
		t.Error("upgrade --model --model-id lost the model id")
	}
	// --reset-values drops h200: back to the preset default (h100 for fp8).
	if _, errOut, err := e.run("upgrade", "scout", "--reset-values", "--model", "maverick-instruct-fp8", "--mode", "standard", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	rel, _ = e.store("default").Last("scout")
	if !strings.Contains(rel.Manifest, "nvidia-h100-80gb") {
		t.Error("--reset-values kept the old GPU")
	}
}
