package ready

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubectl-llama/kubectl-llama/plugin/diagnose"
	"github.com/kubectl-llama/kubectl-llama/test/testutil"
)

var relLabels = map[string]string{"app.kubernetes.io/name": "vllm-llama", "app.kubernetes.io/instance": "scout"}

func testDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "scout", Namespace: "ns", Generation: 1, Labels: relLabels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
			Containers:   []corev1.Container{{Name: "inference-server", Image: "vllm/vllm-openai:v0.10.0"}},
		}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1},
	}
}

func testPod(mut func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "scout-abc-1", Namespace: "ns", Labels: relLabels, CreationTimestamp: metav1.Now()},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "inference-server", Image: "vllm/vllm-openai:v0.10.0"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	mut(p)
	return p
}

func TestWaitReturnsWhenAvailable(t *testing.T) {
	d := testDeployment()
	p := testPod(func(p *corev1.Pod) {
		p.Spec.NodeName = "gpu-1"
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "inference-server", ContainerID: "containerd://1", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	})
	cs := fake.NewClientset(d, p)
	out := &testutil.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Wait(context.Background(), cs, "ns", "scout", WaitOptions{Timeout: time.Minute, Out: out, NoLogs: true})
	}()
	// Wait until the waiter printed its first progress line, then make the
	// Deployment available: the watch must deliver it.
	for !strings.Contains(out.String(), "container started") {
		select {
		case err := <-done:
			t.Fatalf("returned early: %v\n%s", err, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	d = d.DeepCopy()
	d.Status.AvailableReplicas = 1
	d.Status.ReadyReplicas = 1
	if _, err := cs.AppsV1().Deployments("ns").UpdateStatus(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Wait did not return after the Deployment became available")
	}
	if !strings.Contains(out.String(), "scout is ready: 1/1 replicas available") {
		t.Errorf("output:\n%s", out)
	}
	if strings.Contains(out.String(), "\r") {
		t.Errorf("non-TTY output rewrote a line:\n%q", out)
	}
}

func TestWaitFailsFast(t *testing.T) {
	old := metav1.NewTime(time.Now().Add(-5 * time.Minute))
	tests := []struct {
		name  string
		pod   func(*corev1.Pod)
		cause string
		want  []string
	}{
		{
			name: "bad image",
			pod: func(p *corev1.Pod) {
				p.Spec.NodeName = "gpu-1"
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "inference-server", Image: "vllm/vllm-openai:nope",
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "manifest unknown"}}}}
			},
			cause: diagnose.CauseImagePull,
			want:  []string{"scout cannot become ready: pod/scout-abc-1: image vllm/vllm-openai:nope cannot be pulled: manifest unknown; fix:", "--image-tag"},
		},
		{
			name: "no GPU for minutes",
			pod: func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
					Message: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.", LastTransitionTime: old}}
			},
			cause: diagnose.CauseInsufficientGPU,
			want:  []string{"Insufficient nvidia.com/gpu", "fix: free GPUs"},
		},
		{
			name: "crash with a vLLM error in the log",
			pod: func(p *corev1.Pod) {
				p.Spec.NodeName = "gpu-1"
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "inference-server", RestartCount: 1,
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}}
			},
			cause: diagnose.CauseOOMKilled,
			want:  []string{"memory limit"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(testDeployment(), testPod(tc.pod))
			out := &testutil.SyncBuffer{}
			err := Wait(context.Background(), cs, "ns", "scout", WaitOptions{Timeout: time.Minute, Out: out, NoLogs: true})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *Error, got %v", err)
			}
			if e.TimedOut {
				t.Fatalf("timed out instead of failing fast: %v", err)
			}
			if e.Findings[0].Cause != tc.cause {
				t.Fatalf("cause %s, want %s", e.Findings[0].Cause, tc.cause)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestWaitGivesGraceToHealableCauses(t *testing.T) {
	// A fresh "secret not found" may heal (the Secret is being created):
	// Wait must not fail before the grace; with a short timeout it times
	// out with the diagnosis instead.
	p := testPod(func(p *corev1.Pod) {
		p.Spec.NodeName = "gpu-1"
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "inference-server",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: `secret "hf-secret" not found`}}}}
	})
	cs := fake.NewClientset(testDeployment(), p)
	out := &testutil.SyncBuffer{}
	err := Wait(context.Background(), cs, "ns", "scout", WaitOptions{Timeout: 1500 * time.Millisecond, Out: out, NoLogs: true})
	var e *Error
	if !errors.As(err, &e) || !e.TimedOut {
		t.Fatalf("want a timeout, got %v", err)
	}
	for _, w := range []string{"scout not ready after", `Secret "hf-secret" does not exist`, "export HF_TOKEN"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if !strings.Contains(out.String(), "CreateContainerConfigError") {
		t.Errorf("progress lacks the pod state:\n%s", out)
	}
}

func TestWaitTimeoutWithoutFindingNamesTheState(t *testing.T) {
	cs := fake.NewClientset(testDeployment())
	err := Wait(context.Background(), cs, "ns", "scout", WaitOptions{Timeout: 300 * time.Millisecond, Quiet: true, Out: &testutil.SyncBuffer{}})
	if err == nil || !strings.Contains(err.Error(), "waiting for a pod to be created") || !strings.Contains(err.Error(), "kubectl llama status scout") {
		t.Fatalf("got %v", err)
	}
}

// The API server stops answering the informers' lists: progress says so
// while client-go retries (not client-go's own log lines), and so does the
// timeout's error. A Deployment that cannot be read at all fails at once.
func TestWaitShowsAPIServerTrouble(t *testing.T) {
	cs := fake.NewClientset(testDeployment())
	cs.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New(`Get "https://10.0.0.1/api/v1/namespaces/ns/pods": dial tcp 10.0.0.1:443: connect: connection refused`)
	})
	out := &testutil.SyncBuffer{}
	err := Wait(context.Background(), cs, "ns", "scout", WaitOptions{Timeout: 2 * time.Second, Out: out})
	const trouble = "cannot read from the API server (retrying): "
	if err == nil || !strings.Contains(err.Error(), trouble) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(out.String(), trouble) {
		t.Errorf("progress does not show the failing list:\n%s", out)
	}

	down := fake.NewClientset()
	down.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("getting credentials: exec: executable gke-gcloud-auth-plugin not found")
	})
	start := time.Now()
	err = Wait(context.Background(), down, "ns", "scout", WaitOptions{Timeout: time.Minute, Quiet: true, Out: &testutil.SyncBuffer{}})
	if err == nil || !strings.Contains(err.Error(), "gke-gcloud-auth-plugin not found") || time.Since(start) > 10*time.Second {
		t.Fatalf("after %s: %v", time.Since(start), err)
	}
}

func TestWaitInterruptedIsNotATimeout(t *testing.T) {
	cs := fake.NewClientset(testDeployment())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	err := Wait(ctx, cs, "ns", "scout", WaitOptions{Timeout: time.Minute, Quiet: true, Out: &testutil.SyncBuffer{}})
	var we *Error
	if !errors.As(err, &we) || !we.Interrupted || we.TimedOut {
		t.Fatalf("got %#v", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "stopped waiting for scout") || !strings.Contains(msg, "kubectl llama wait scout") || strings.Contains(msg, "not ready after") {
		t.Fatalf("message %q", msg)
	}
}

func TestWaitReadsTheModelStageFromTheLog(t *testing.T) {
	// The fake clientset serves "fake logs" as every container log, so this
	// checks the plumbing: a running container's log is followed.
	p := testPod(func(p *corev1.Pod) {
		p.Spec.NodeName = "gpu-1"
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "inference-server", ContainerID: "containerd://1", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	})
	cs := fake.NewClientset(testDeployment(), p)
	err := Wait(context.Background(), cs, "ns", "scout", WaitOptions{Timeout: 500 * time.Millisecond, Out: &testutil.SyncBuffer{}})
	var e *Error
	if !errors.As(err, &e) || !e.TimedOut {
		t.Fatalf("want timeout, got %v", err)
	}
	found := false
	for _, a := range cs.Actions() {
		if a.GetSubresource() == "log" {
			found = true
		}
	}
	if !found {
		t.Error("the container log was not read")
	}
}

func TestDescribe(t *testing.T) {
	d := testDeployment()
	now := metav1.Now()
	tests := []struct {
		name   string
		pod    func(*corev1.Pod)
		events []corev1.Event
		stage  string
		want   string
	}{
		{"unschedulable", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."}}
		}, nil, "", "0 of 1 updated replicas available; pod scout-abc-1: waiting for a node (0/1 nodes are available: 1 Insufficient nvidia.com/gpu.)"},
		{"pulling", func(p *corev1.Pod) {
			p.Spec.NodeName = "gpu-1"
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "inference-server", Image: "vllm/vllm-openai:v0.10.0", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
		}, []corev1.Event{{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "scout-abc-1"}, Reason: "Pulling", LastTimestamp: now}},
			"", "pod scout-abc-1: pulling image vllm/vllm-openai:v0.10.0 on node gpu-1"},
		{"loading", func(p *corev1.Pod) {
			p.Spec.NodeName = "gpu-1"
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "inference-server", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		}, nil, "loading weights: 23/50 shards", "pod scout-abc-1: loading weights: 23/50 shards"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Snapshot{Release: "scout", Deployment: d, Pods: []corev1.Pod{*testPod(tc.pod)}, Events: tc.events}
			if got := Describe(s, map[string]string{"scout-abc-1": tc.stage}); !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want it to contain %q", got, tc.want)
			}
		})
	}
}

func TestRolloutStatus(t *testing.T) {
	d := testDeployment()
	if _, done, _ := RolloutStatus(d); done {
		t.Error("done with 0 available")
	}
	d.Status.AvailableReplicas = 1
	if _, done, err := RolloutStatus(d); !done || err != nil {
		t.Errorf("not done: %v", err)
	}
	d.Generation = 2
	if msg, done, _ := RolloutStatus(d); done || !strings.Contains(msg, "observed") {
		t.Errorf("unobserved generation: %q %v", msg, done)
	}
	d.Status.ObservedGeneration = 2
	d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded"}}
	if _, _, err := RolloutStatus(d); err == nil {
		t.Error("no error on ProgressDeadlineExceeded")
	}
}

// BenchmarkWaitReturnsAfterAvailable measures the time from the Deployment
// turning available to Wait returning (target: well under 100 ms).
func BenchmarkWaitReturnsAfterAvailable(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := testDeployment()
		cs := fake.NewClientset(d)
		out := &testutil.SyncBuffer{}
		done := make(chan error, 1)
		go func() {
			done <- Wait(context.Background(), cs, "ns", "scout", WaitOptions{Timeout: time.Minute, Out: out, NoLogs: true})
		}()
		for !strings.Contains(out.String(), "waiting for a pod") {
			time.Sleep(time.Millisecond)
		}
		d = d.DeepCopy()
		d.Status.AvailableReplicas = 1
		b.StartTimer()
		if _, err := cs.AppsV1().Deployments("ns").UpdateStatus(context.Background(), d, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}
