package status

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-llama/kubectl-llama/plugin/diagnose"
	"github.com/kubectl-llama/kubectl-llama/plugin/ready"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func fixture() (*ready.Snapshot, *corev1.Service, *HelmInfo) {
	labels := map[string]string{"app.kubernetes.io/name": "vllm-llama", "app.kubernetes.io/instance": "scout"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "scout", Namespace: "llm", Generation: 1, Annotations: map[string]string{
			"kubectl-llama.io/preset": "scout", "kubectl-llama.io/model-id": "meta-llama/Llama-4-Scout-17B-16E",
			"kubectl-llama.io/gpu": "h100", "kubectl-llama.io/gpu-count": "8", "kubectl-llama.io/accelerator": "nvidia-h100-80gb"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
			Containers: []corev1.Container{{Name: "inference-server", Image: "vllm/vllm-openai:v0.10.0",
				Args: []string{"--model=meta-llama/Llama-4-Scout-17B-16E", "--max-model-len=262144"}}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability."}}},
	}
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "scout-6d4f-abcde", Namespace: "llm", Labels: labels, CreationTimestamp: metav1.NewTime(t0)},
		Spec:       corev1.PodSpec{NodeName: "gke-gpu-1", Containers: []corev1.Container{{Name: "inference-server"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "inference-server", RestartCount: 2,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 20s restarting failed container"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}},
		}}},
	}
	logs := map[string]diagnose.PodLogs{p.Name: {Previous: []string{
		"INFO 01-01 12:00:01 [api_server.py:1395] vLLM API server version 0.10.0",
		"huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-abc)",
		"Access to model meta-llama/Llama-4-Scout-17B-16E is restricted. You must have access to it and be authenticated to access it. Please log in.",
	}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "scout"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8000, TargetPort: intstr.FromString("http")}}}}
	h := &HelmInfo{Revision: 1, Status: "deployed", Chart: "vllm-llama-0.1.0", AppVersion: "v0.10.0", Updated: "2026-01-01T11:59:00Z", Preset: "scout", GPU: "h100"}
	return &ready.Snapshot{Release: "scout", Deployment: d, Pods: []corev1.Pod{p}, Logs: logs}, svc, h
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update and review the file)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

func TestStatusGolden(t *testing.T) {
	snap, svc, h := fixture()
	s := Build("llm", snap, svc, h)
	j, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "status.json", append(j, '\n'))
	y, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "status.yaml", y)
	var b bytes.Buffer
	Print(&b, s)
	golden(t, "status.txt", b.Bytes())
	if s.Ready || len(s.Diagnosis) == 0 || s.Diagnosis[0].Cause != diagnose.CauseGatedRepo {
		t.Errorf("diagnosis: %+v", s.Diagnosis)
	}
}

func TestStatusReady(t *testing.T) {
	snap, svc, h := fixture()
	snap.Deployment.Status.AvailableReplicas = 1
	snap.Deployment.Status.ReadyReplicas = 1
	s := Build("llm", snap, svc, h)
	if !s.Ready || s.State != "ready" || len(s.Diagnosis) != 0 {
		t.Errorf("ready release: %+v", s)
	}
}
