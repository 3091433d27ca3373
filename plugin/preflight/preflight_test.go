package preflight

import (
	"context"
	"errors"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func node(name, pool, accel string, gpus string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	if pool != "" {
		n.Labels[NodePoolLabel] = pool
	}
	if accel != "" {
		n.Labels[AcceleratorLabel] = accel
		n.Status.Allocatable = corev1.ResourceList{GPUResource: resource.MustParse(gpus)}
	}
	return n
}

func forbid(cs *fake.Clientset, res string) {
	cs.PrependReactor("*", res, func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: res}, "", errors.New("rbac"))
	})
}

func TestDetectMode(t *testing.T) {
	webhook := &admissionv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: AutopilotWebhook}}
	cases := []struct {
		name   string
		objs   []runtime.Object
		forbid []string
		mode   string
		howHas string
	}{
		{"autopilot webhook", []runtime.Object{webhook}, nil, "autopilot", AutopilotWebhook},
		{"autopilot node", []runtime.Object{node("gk3-c-pool-1-abc", "pool-1", "", "")}, []string{"mutatingwebhookconfigurations"}, "autopilot", "gk3-c-pool-1-abc"},
		{"standard", []runtime.Object{node("gke-c-gpu-1", "gpu-pool", "nvidia-h100-80gb", "8")}, nil, "standard", "node pool gpu-pool"},
		{"not GKE", []runtime.Object{node("kind-worker", "", "", "")}, nil, "standard", "not a GKE cluster"},
		{"no rights", nil, []string{"mutatingwebhookconfigurations", "nodes"}, "autopilot", "no permission"},
		{"no node rights", nil, []string{"nodes"}, "autopilot", "pass --mode standard"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := fake.NewClientset(c.objs...)
			for _, r := range c.forbid {
				forbid(cs, r)
			}
			d := DetectMode(context.Background(), cs)
			if d.Mode != c.mode || !strings.Contains(d.How, c.howHas) {
				t.Errorf("got %s (%s), want %s with %q", d.Mode, d.How, c.mode, c.howHas)
			}
		})
	}
}

func TestGPUNodes(t *testing.T) {
	ctx := context.Background()
	h100 := node("gke-c-h100-1", "h100-pool", "nvidia-h100-80gb", "8")
	small := node("gke-c-h100s-1", "h100-small", "nvidia-h100-80gb", "4")
	l4 := node("gke-c-l4-1", "l4-pool", "nvidia-l4", "8")
	cases := []struct {
		name  string
		nodes []runtime.Object
		want  string
	}{
		{"fits", []runtime.Object{h100, l4}, ""},
		{"too few", []runtime.Object{small}, "at most 4"},
		{"other accelerators", []runtime.Object{l4}, "found l4-pool (nvidia-l4 x 8)"},
		{"no gpu nodes", []runtime.Object{node("gke-c-cpu-1", "default-pool", "", "")}, "no GPU nodes found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			warn, skipped, err := GPUNodes(ctx, fake.NewClientset(c.nodes...), "nvidia-h100-80gb", 8)
			if err != nil || skipped {
				t.Fatal(err, skipped)
			}
			if (c.want == "") != (warn == "") || !strings.Contains(warn, c.want) {
				t.Errorf("warning %q, want %q", warn, c.want)
			}
		})
	}
	cs := fake.NewClientset()
	forbid(cs, "nodes")
	warn, skipped, err := GPUNodes(ctx, cs, "nvidia-h100-80gb", 8)
	if err != nil || !skipped || !strings.Contains(warn, "no permission to list Nodes") {
		t.Errorf("forbidden: %q %v %v", warn, skipped, err)
	}
}

func TestNamespace(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "llm"}})
	if missing, err := Namespace(ctx, cs, "llm", false); missing || err != nil {
		t.Error(missing, err)
	}
	if missing, err := Namespace(ctx, cs, "x", true); !missing || err != nil {
		t.Error(missing, err)
	}
	if _, err := Namespace(ctx, cs, "x", false); err == nil || !strings.Contains(err.Error(), "--create-namespace") {
		t.Error(err)
	}
	forbid(cs, "namespaces")
	if missing, err := Namespace(ctx, cs, "x", false); missing || err != nil {
		t.Error("a namespace-scoped user cannot read Namespaces: assume it exists", missing, err)
	}
}

func TestUnreachable(t *testing.T) {
	tg := Target{Context: "gke_p_z_c", Server: "https://10.0.0.1"}
	head := `cannot reach the cluster of context "gke_p_z_c" (server https://10.0.0.1): `
	fix := "; check `kubectl --context gke_p_z_c cluster-info`, or pass --context/--kubeconfig"
	missing := "getting credentials: exec: executable gke-gcloud-auth-plugin not found\n\nIt looks like you are trying to use a client-go credential plugin that is not installed.\n\nTo learn more about this feature, consult the documentation available at:\n      https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins\n\nInstall gke-gcloud-auth-plugin for use with kubectl by following https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
	hint := "getting credentials: exec: executable gke-gcloud-auth-plugin not found; Install gke-gcloud-auth-plugin for use with kubectl by following https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
	cases := map[string]struct{ in, want string }{
		"refused": {`reading Deployment llm/scout: Get "https://10.0.0.1/apis/apps/v1/namespaces/llm/deployments/scout": dial tcp 10.0.0.1:443: connect: connection refused`,
			head + "connection refused" + fix},
		"timeout": {`listing releases: Kubernetes cluster unreachable: Get "https://10.0.0.1/version": dial tcp 10.0.0.1:443: i/o timeout`,
			head + "i/o timeout" + fix},
		"credential plugin missing": {`reading Deployment llm/scout: Get "https://10.0.0.1/apis/apps/v1/namespaces/llm/deployments/scout": ` + missing,
			head + hint + fix},
		"credential plugin missing, already on one line": {`listing releases: Kubernetes cluster unreachable: Get "https://10.0.0.1/version": ` + strings.Join(strings.Fields(missing), " "),
			head + hint + fix},
		"credential plugin failed": {`Get "https://10.0.0.1/api/v1/pods": getting credentials: exec: executable gke-gcloud-auth-plugin failed with exit code 1`,
			head + "getting credentials: exec: executable gke-gcloud-auth-plugin failed with exit code 1 (its own message is above)" + fix},
		"credentials rejected": {"reading Deployment llm/scout: the server has asked for the client to provide credentials (get deployments.apps scout)",
			head + "credentials rejected (Unauthorized)" + fix},
		// Not the API server: a model server behind a port-forward, a plain error.
		"model server refused": {`model server not ready: Get "http://127.0.0.1:41234/v1/models": dial tcp 127.0.0.1:41234: connect: connection refused`,
			`model server not ready: Get "http://127.0.0.1:41234/v1/models": dial tcp 127.0.0.1:41234: connect: connection refused`},
		"other":        {"release scout not found in namespace llm", "release scout not found in namespace llm"},
		"already said": {head + "connection refused" + fix + " (--skip-preflight skips this check)", head + "connection refused" + fix + " (--skip-preflight skips this check)"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Unreachable(tg, errors.New(c.in)).Error(); got != c.want {
				t.Errorf("\n got %s\nwant %s", got, c.want)
			}
		})
	}
	if Unreachable(tg, nil) != nil {
		t.Error("nil error changed")
	}
}
