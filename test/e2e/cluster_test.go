//go:build e2e

// End-to-end tests against the local test control plane (see
// test/cluster/README.md). Run with `make e2e` or
// `go test -tags e2e ./test/e2e/...` after `make cluster-build`.
package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-llama/kubectl-llama/test/localcluster"
)

const (
	gpu         = corev1.ResourceName("nvidia.com/gpu")
	accelLabel  = "cloud.google.com/gke-accelerator"
	h100        = "nvidia-h100-80gb"
	wardenStart = "GKE Warden rejected the request because it violates one or more constraints. Violations details:"
)

// gpuPodSpec asks for n GPUs of an accelerator ("" = no selector) and
// tolerates GKE's GPU taint.
func gpuPodSpec(accelerator string, n int64) corev1.PodSpec {
	spec := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:  "inference-server",
			Image: "pause:3.10", // not vLLM: the pod runner just keeps it running
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi"), gpu: *resource.NewQuantity(n, resource.DecimalSI)},
				Limits:   corev1.ResourceList{gpu: *resource.NewQuantity(n, resource.DecimalSI)},
			},
		}},
		Tolerations: []corev1.Toleration{{Key: string(gpu), Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
	}
	if accelerator != "" {
		spec.NodeSelector = map[string]string{accelLabel: accelerator}
	}
	return spec
}

func deployment(name string, spec corev1.PodSpec) *appsv1.Deployment {
	one := int32(1)
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
}

// waitPodScheduled waits for the Deployment's pod to get a PodScheduled
// condition with the given status and returns the pod.
func waitPodScheduled(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, app string, want corev1.ConditionStatus) *corev1.Pod {
	t.Helper()
	var last string
	for {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err == nil {
			for i := range pods.Items {
				p := &pods.Items[i]
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodScheduled {
						last = fmt.Sprintf("%s: PodScheduled=%s %s %s", p.Name, c.Status, c.Reason, c.Message)
						if c.Status == want {
							return p
						}
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod of %s: no PodScheduled=%s (last: %s)", app, want, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestClusterH100(t *testing.T) {
	t.Parallel()
	c := localcluster.StartT(t, localcluster.Options{Profile: "h100"})
	t.Logf("cluster up in %.1fs", c.StartupSeconds)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := c.Client

	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.37.2" {
		t.Errorf("server version %s, want v1.37.2", v.GitVersion)
	}

	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: accelLabel + "=" + h100})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 {
		t.Fatalf("%d H100 nodes, want 1", len(nodes.Items))
	}
	node := nodes.Items[0]
	if q := node.Status.Allocatable[gpu]; q.Value() != 8 {
		t.Errorf("H100 node allocatable nvidia.com/gpu = %s, want 8", q.String())
	}
	ready := false
	for _, cond := range node.Status.Conditions {
		ready = ready || (cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue)
	}
	if !ready {
		t.Errorf("H100 node %s not Ready", node.Name)
	}
	if !strings.HasPrefix(node.Name, "gke-") || len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != string(gpu) {
		t.Errorf("H100 node %s: want gke- name and the nvidia.com/gpu taint, got taints %v", node.Name, node.Spec.Taints)
	}

	// The real scheduler places an 8-GPU pod on the H100 node...
	ns := "default"
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("first", gpuPodSpec(h100, 8)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitPodScheduled(ctx, t, cs, ns, "first", corev1.ConditionTrue)
	if pod.Spec.NodeName != node.Name {
		t.Errorf("first pod on %q, want %s", pod.Spec.NodeName, node.Name)
	}
	// ...and reports the second one Unschedulable for lack of GPUs.
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("second", gpuPodSpec(h100, 8)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod = waitPodScheduled(ctx, t, cs, ns, "second", corev1.ConditionFalse)
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodScheduled {
			if cond.Reason != corev1.PodReasonUnschedulable || !strings.Contains(cond.Message, "Insufficient nvidia.com/gpu") {
				t.Errorf("second pod: PodScheduled reason %q message %q, want Unschedulable with Insufficient nvidia.com/gpu", cond.Reason, cond.Message)
			}
		}
	}

	// A node pool added to the running cluster.
	if err := c.AddProfile(ctx, "h100-h200"); err != nil {
		t.Fatal(err)
	}
	h200, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: accelLabel + "=nvidia-h200-141gb"})
	if err != nil || len(h200.Items) != 1 {
		t.Fatalf("after adding h100-h200: %v H200 nodes, err %v", len(h200.Items), err)
	}
}

func TestClusterAutopilotAdmission(t *testing.T) {
	t.Parallel()
	c := localcluster.StartT(t, localcluster.Options{Profile: "autopilot"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := c.Client

	// The signals kubectl-llama uses to detect Autopilot.
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "sasecret-redacter.config.common-webhooks.networking.gke.io", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Autopilot signal: %v", err)
	}
	if len(mwc.Webhooks) != 0 {
		t.Errorf("signal webhook configuration has %d webhooks, want none", len(mwc.Webhooks))
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if !strings.HasPrefix(n.Name, "gk3-") || len(n.Spec.Taints) != 0 {
			t.Errorf("autopilot node %s: want gk3- prefix and no taints, got %v", n.Name, n.Spec.Taints)
		}
	}

	pod := func(name string, spec corev1.PodSpec) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	}
	noGPU := gpuPodSpec("", 0)
	noGPU.Containers[0].Resources = corev1.ResourceRequirements{}
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string // "" = admitted
	}{
		{"no accelerator selector", pod("no-selector", gpuPodSpec("", 8)), "you must specify either node selector 'cloud.google.com/gke-accelerator'"},
		{"count not offered", pod("three", gpuPodSpec(h100, 3)), "requests 3 nvidia.com/gpu with accelerator 'nvidia-h100-80gb'; Autopilot supports 1, 2, 4, 8 GPUs"},
		{"H200 takes 8 only", pod("h200-four", gpuPodSpec("nvidia-h200-141gb", 4)), "Autopilot supports 8 GPUs"},
		{"GPU toleration without GPUs", pod("tolerates", noGPU), "cannot be specified if the pod does not request to use GPU"},
		{"valid", pod("valid", gpuPodSpec(h100, 8)), ""},
		{"valid A100 40GB x16", pod("a100", gpuPodSpec("nvidia-tesla-a100", 16)), ""},
	} {
		_, err := cs.CoreV1().Pods("default").Create(ctx, tc.pod, dryRun)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: rejected: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: admitted, want rejection %q", tc.name, tc.want)
		case tc.want != "" && (!strings.Contains(err.Error(), wardenStart) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %q, want Warden's message with %q", tc.name, err, tc.want)
		}
	}
	// Like Warden, the policy checks workloads' pod templates up front.
	_, err = cs.AppsV1().Deployments("default").Create(ctx, deployment("no-selector", gpuPodSpec("", 1)), dryRun)
	if err == nil || !strings.Contains(err.Error(), wardenStart) {
		t.Errorf("Deployment without accelerator selector: %v, want Warden rejection", err)
	}
}
