package diagnose

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func deployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "scout", Namespace: "default", Annotations: map[string]string{
			"kubectl-llama.io/model-id": "meta-llama/Llama-4-Scout-17B-16E", "kubectl-llama.io/gpu-count": "8",
		}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
			Containers: []corev1.Container{{
				Name:    "inference-server",
				Image:   "vllm/vllm-openai:v0.10.0",
				Command: []string{"python3", "-m", "vllm.entrypoints.openai.api_server"},
				Args:    []string{"--host=0.0.0.0", "--port=7080", "--max-model-len=1310720", "--model=meta-llama/Llama-4-Scout-17B-16E", "--tensor-parallel-size=8"},
				Env: []corev1.EnvVar{{Name: "HUGGING_FACE_HUB_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "hf-secret"}, Key: "hf_api_token"}}}},
			}},
		}}},
	}
}

// standardMode adds the GPU toleration the chart renders for GKE Standard.
func standardMode(d *appsv1.Deployment) {
	d.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
}

func pod(mut ...func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "scout-6d4f-abcde", Namespace: "default", UID: "u1", CreationTimestamp: metav1.NewTime(t0),
			Labels: map[string]string{"app.kubernetes.io/name": "vllm-llama", "app.kubernetes.io/instance": "scout"}},
		Spec: corev1.PodSpec{NodeName: "gpu-node-1", Containers: []corev1.Container{{
			Name: "inference-server", Image: "vllm/vllm-openai:v0.10.0",
			Resources:    corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1311Gi")}},
			StartupProbe: &corev1.Probe{PeriodSeconds: 10, FailureThreshold: 180},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, m := range mut {
		m(&p)
	}
	return p
}

func unsched(msg string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.NodeName = ""
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg, LastTransitionTime: metav1.NewTime(t0)}}
	}
}

func waiting(reason, msg string, restarts int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "inference-server", Image: "vllm/vllm-openai:v0.10.0", RestartCount: restarts,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
	}
}

func lastTerminated(reason string, code int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, FinishedAt: metav1.NewTime(t0)}
	}
}

func running(restarts int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "inference-server", Image: "vllm/vllm-openai:v0.10.0", RestartCount: restarts, ContainerID: "containerd://c1",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0)}}}}
	}
}

func event(kind, name, reason, msg string, count int32) corev1.Event {
	return corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name + "." + reason, Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Name: name, Namespace: "default"},
		Reason:         reason, Message: msg, Count: count, Type: "Warning",
		FirstTimestamp: metav1.NewTime(t0), LastTimestamp: metav1.NewTime(t0),
	}
}

func TestDiagnose(t *testing.T) {
	const podName = "scout-6d4f-abcde"
	pendingRS := appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "scout-6d4f"}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](1)}}
	tests := []struct {
		name    string
		pods    []corev1.Pod
		events  []corev1.Event
		rss     []appsv1.ReplicaSet
		logs    PodLogs
		dep     func(*appsv1.Deployment)
		cause   string
		fatal   bool
		grace   time.Duration
		message []string
		fix     []string
		logLine string
	}{
		{
			name:    "insufficient GPU",
			dep:     standardMode,
			pods:    []corev1.Pod{pod(unsched("0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."))},
			cause:   CauseInsufficientGPU,
			fatal:   true,
			grace:   GraceScheduling,
			message: []string{"no node has 8 free nvidia-h100-80gb GPUs", "Insufficient nvidia.com/gpu"},
			fix:     []string{"free GPUs on the nvidia-h100-80gb nodes", "--gpu-count"},
		},
		{
			name:    "insufficient GPU while the autoscaler adds a node heals",
			dep:     standardMode,
			pods:    []corev1.Pod{pod(unsched("0/1 nodes are available: 1 Insufficient nvidia.com/gpu."))},
			events:  []corev1.Event{event("Pod", podName, "TriggeredScaleUp", "pod triggered scale-up: [{gpu-pool 0->1 (max: 2)}]", 1)},
			cause:   CauseInsufficientGPU,
			fatal:   false,
			grace:   GraceScheduling,
			message: []string{"the cluster autoscaler is adding a node", "gpu-pool 0->1"},
			fix:     []string{"free GPUs"},
		},
		{
			name: "insufficient GPU while the old pod terminates heals",
			dep:  standardMode,
			pods: []corev1.Pod{pod(unsched("0/1 nodes are available: 1 Insufficient nvidia.com/gpu.")), pod(func(p *corev1.Pod) {
				p.Name = "scout-old-xyz"
				p.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
			})},
			cause:   CauseInsufficientGPU,
			fatal:   false,
			grace:   GraceScheduling,
			message: []string{"scout-old-xyz of this release is terminating"},
			fix:     []string{"free GPUs"},
		},
		{
			name: "no node with the accelerator on Autopilot",
			dep: func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.Tolerations = nil // the chart adds the GPU toleration in Standard mode only
			},
			pods:    []corev1.Pod{pod(unsched("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."))},
			cause:   CauseNoAcceleratorNode,
			fatal:   true,
			grace:   GraceAutoprovision, // node auto-provisioning takes minutes
			message: []string{"cloud.google.com/gke-accelerator=nvidia-h100-80gb"},
			fix:     []string{"GKE Autopilot", "GPU quota for 8 x nvidia-h100-80gb", "--mode standard"},
		},
		{
			name:    "Autopilot: NotTriggerScaleUp before node auto-provisioning answers keeps the grace",
			pods:    []corev1.Pod{pod(unsched("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."))},
			events:  []corev1.Event{event("Pod", podName, "NotTriggerScaleUp", "pod didn't trigger scale-up: 2 node(s) didn't match Pod's node affinity/selector", 3)},
			cause:   CauseNoAcceleratorNode,
			fatal:   true,
			grace:   GraceAutoprovision,
			message: []string{"cannot add one"},
			fix:     []string{"GPU quota for 8 x nvidia-h100-80gb"},
		},
		{
			name:    "no node with the accelerator",
			dep:     standardMode,
			pods:    []corev1.Pod{pod(unsched("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."))},
			events:  []corev1.Event{event("Pod", podName, "NotTriggerScaleUp", "pod didn't trigger scale-up: 2 node(s) didn't match Pod's node affinity/selector", 3)},
			cause:   CauseNoAcceleratorNode,
			fatal:   true,
			grace:   GraceNone, // the autoscaler said no node will come
			message: []string{"cloud.google.com/gke-accelerator=nvidia-h100-80gb", "cannot add one"},
			fix:     []string{"create a GPU node pool with accelerator nvidia-h100-80gb (count 8 per node)", "--gpu"},
		},
		{
			name:    "untolerated GKE GPU taint",
			pods:    []corev1.Pod{pod(unsched("0/4 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}, 3 node(s) didn't match Pod's node affinity/selector."))},
			cause:   CauseUntoleratedTaint,
			fatal:   true,
			grace:   GraceScheduling,
			message: []string{"taint {nvidia.com/gpu: present}"},
			fix:     []string{"--set gke.mode=standard", "toleration"},
		},
		{
			name:    "untolerated taint, v1.37 scheduler message (no taint named), pod made for Autopilot",
			pods:    []corev1.Pod{pod(unsched("0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint(s). preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."))},
			cause:   CauseUntoleratedTaint,
			fatal:   true,
			grace:   GraceScheduling,
			message: []string{"a node carries a taint the pod does not tolerate"},
			fix:     []string{"--mode standard", "--set gke.mode=standard", "toleration"},
		},
		{
			name:    "not enough cpu or memory on the GPU node",
			dep:     standardMode,
			pods:    []corev1.Pod{pod(unsched("0/1 nodes are available: 1 Insufficient memory, 1 Insufficient cpu."))},
			cause:   CauseUnschedulable,
			fatal:   true,
			grace:   GraceScheduling,
			message: []string{"no node can run the pod", "Insufficient memory"},
			fix:     []string{"lack memory, cpu", "machine type"},
		},
		{
			name:    "autopilot rejection",
			rss:     []appsv1.ReplicaSet{pendingRS},
			events:  []corev1.Event{event("ReplicaSet", "scout-6d4f", "FailedCreate", `Error creating: admission webhook "warden-validating.common-webhooks.networking.gke.io" denied the request: GKE Warden rejected the request because it violates one or more constraints. Violations details: {"[denied by autogke-gpu-limitation]":["The combination of accelerator type nvidia-h100-80gb and count 3 is not supported."]}`, 5)},
			cause:   CauseAutopilotRejected,
			fatal:   true,
			message: []string{"GKE Autopilot refused the pod", "count 3 is not supported"},
			fix:     []string{"8 x nvidia-h100-80gb", "kubectl llama models", "--set gke.mode=standard"},
		},
		{
			name: "autopilot rejection from the deployment condition",
			dep: func(d *appsv1.Deployment) {
				d.Status.Conditions = []appsv1.DeploymentCondition{{Type: "ReplicaFailure", Status: corev1.ConditionTrue, Reason: "FailedCreate",
					Message: `admission webhook "warden-validating.common-webhooks.networking.gke.io" denied the request: GKE Warden rejected the request because it violates one or more constraints.`}}
			},
			cause:   CauseAutopilotRejected,
			fatal:   true,
			message: []string{"GKE Warden"},
			fix:     []string{"Autopilot only accepts"},
		},
		{
			name:    "image tag not found",
			pods:    []corev1.Pod{pod(waiting("ErrImagePull", `rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/vllm/vllm-openai:v0.99.0": not found`, 0))},
			cause:   CauseImagePull,
			fatal:   true,
			grace:   GraceNone,
			message: []string{"cannot be pulled", "not found"},
			fix:     []string{`"v0.10.0" does not exist`, "--image-tag"},
		},
		{
			name:    "image pull back-off takes the message from the event",
			pods:    []corev1.Pod{pod(waiting("ImagePullBackOff", `Back-off pulling image "vllm/vllm-openai:v0.10.0"`, 0))},
			events:  []corev1.Event{event("Pod", podName, "Failed", `Failed to pull image "vllm/vllm-openai:v0.10.0": dial tcp: i/o timeout`, 4)},
			cause:   CauseImagePull,
			fatal:   true,
			grace:   GraceImagePull,
			message: []string{"i/o timeout"},
			fix:     []string{"reach the image registry"},
		},
		{
			name:    "invalid image name",
			pods:    []corev1.Pod{pod(waiting("InvalidImageName", `Failed to apply default image tag "vllm/VLLM:": couldn't parse image name`, 0))},
			cause:   CauseInvalidImage,
			fatal:   true,
			message: []string{"not a valid image reference"},
			fix:     []string{"--set image.repository"},
		},
		{
			name:    "HF secret missing",
			pods:    []corev1.Pod{pod(waiting("CreateContainerConfigError", `secret "hf-secret" not found`, 0))},
			cause:   CauseSecretMissing,
			fatal:   true,
			grace:   GraceSecret,
			message: []string{`Secret "hf-secret" does not exist`},
			fix:     []string{"export HF_TOKEN", "kubectl llama upgrade scout", "kubectl llama install", "recreates the Secret"},
		},
		{
			name:    "HF secret key missing",
			pods:    []corev1.Pod{pod(waiting("CreateContainerConfigError", `couldn't find key hf_api_token in Secret default/hf-secret`, 0))},
			cause:   CauseSecretMissing,
			fatal:   true,
			grace:   GraceSecret,
			message: []string{`has no key "hf_api_token"`},
			fix:     []string{"export HF_TOKEN"},
		},
		{
			name:    "crash loop without a known signature shows the log",
			pods:    []corev1.Pod{pod(waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container", 3), lastTerminated("Error", 1))},
			logs:    PodLogs{Previous: []string{"INFO starting", "Traceback (most recent call last):", "RuntimeError: something odd"}},
			cause:   CauseCrashLoop,
			fatal:   true,
			message: []string{"keeps crashing (exit code 1 Error, 3 restarts)"},
			fix:     []string{"kubectl llama logs scout --previous"},
			logLine: "RuntimeError: something odd",
		},
		{
			name:    "first crash is not yet fatal",
			pods:    []corev1.Pod{pod(waiting("CrashLoopBackOff", "back-off 10s", 1), lastTerminated("Error", 1))},
			cause:   CauseCrashLoop,
			fatal:   false,
			message: []string{"keeps crashing"},
			fix:     []string{"logs"},
		},
		{
			name:    "OOMKilled",
			pods:    []corev1.Pod{pod(waiting("CrashLoopBackOff", "back-off", 1), lastTerminated("OOMKilled", 137))},
			cause:   CauseOOMKilled,
			fatal:   true,
			message: []string{"exceeding its memory limit (limit 1311Gi, exit code 137", "not GPU memory"},
			fix:     []string{"more memory"},
		},
		{
			name: "startup probe restarts",
			pods: []corev1.Pod{pod(running(2), lastTerminated("Error", 137))},
			events: []corev1.Event{
				event("Pod", podName, "Unhealthy", "Startup probe failed: Get \"http://10.0.0.5:7080/health\": dial tcp 10.0.0.5:7080: connect: connection refused", 180),
				event("Pod", podName, "Killing", "Container inference-server failed startup probe, will be restarted", 2),
			},
			cause:   CauseStartupProbe,
			fatal:   true,
			message: []string{"startup probe's 30m0s (failureThreshold 180 x periodSeconds 10)", "restarted 2 time(s)", "connection refused"},
			fix:     []string{"probes.startup.failureThreshold", "cache.type=pvc"},
		},
		{
			name: "gated repo",
			pods: []corev1.Pod{pod(waiting("CrashLoopBackOff", "back-off", 1), lastTerminated("Error", 1))},
			logs: PodLogs{Previous: []string{
				"INFO 07-01 10:00:00 [api_server.py:1395] vLLM API server version 0.10.0",
				"huggingface_hub.errors.GatedRepoError: 403 Client Error. (Request ID: Root=1-abc)",
				"Cannot access gated repo for url https://hf.example/meta-llama/Llama-4-Scout-17B-16E/resolve/main/config.json.",
				"Access to model meta-llama/Llama-4-Scout-17B-16E is restricted and you are not in the authorized list.",
			}},
			cause:   CauseGatedRepo,
			fatal:   true,
			message: []string{"refused to download meta-llama/Llama-4-Scout-17B-16E (401/403)", "Secret hf-secret lacks access"},
			fix:     []string{"request access to meta-llama/Llama-4-Scout-17B-16E", "export HF_TOKEN", "kubectl llama upgrade scout"},
			logLine: "not in the authorized list",
		},
		{
			name: "CUDA out of memory",
			pods: []corev1.Pod{pod(waiting("CrashLoopBackOff", "back-off", 1), lastTerminated("Error", 1))},
			logs: PodLogs{Previous: []string{
				"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 3 has a total capacity of 79.10 GiB of which 1.2 GiB is free.",
			}},
			cause:   CauseCUDAOutOfMemory,
			fatal:   true,
			message: []string{"CUDA out of memory", "--max-model-len=1310720"},
			fix:     []string{"lower --max-model-len from 1310720 to 655360", "kubectl llama upgrade scout --max-model-len 655360"},
		},
		{
			name: "KV cache too small (v0.10 message)",
			pods: []corev1.Pod{pod(waiting("CrashLoopBackOff", "back-off", 1), lastTerminated("Error", 1))},
			logs: PodLogs{Previous: []string{
				"ERROR 07-01 10:10:00 [core.py:586] ValueError: The model's max seq len (1310720) is larger than the maximum number of tokens that can be stored in KV cache (812352). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.",
				"RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}",
			}},
			cause:   CauseKVCacheTooSmall,
			fatal:   true,
			message: []string{"KV cache cannot hold one request of --max-model-len=1310720"},
			fix:     []string{"lower --max-model-len from 1310720 to 524288"},
			logLine: "812352",
		},
		{
			name: "KV cache too small (later message)",
			pods: []corev1.Pod{pod(running(0))},
			logs: PodLogs{Current: []string{
				"ValueError: To serve at least one request with the models's max seq len (1310720), (120.0 GiB KV cache is needed, which is larger than the available KV cache memory (50.0 GiB). Based on the available memory, the estimated maximum model length is 546133. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.",
			}},
			cause:   CauseKVCacheTooSmall,
			fatal:   false, // still running: not yet exited
			message: []string{"--max-model-len=1310720"},
			fix:     []string{"to 524288"},
		},
		{
			name:    "max-model-len above the model's",
			pods:    []corev1.Pod{pod(waiting("CrashLoopBackOff", "back-off", 1), lastTerminated("Error", 1))},
			logs:    PodLogs{Previous: []string{"ValueError: User-specified max_model_len (20000000) is greater than the derived max_model_len (max_position_embeddings=10485760 or model_max_length=None in model's config.json)."}},
			cause:   CauseMaxModelLenTooLarge,
			fatal:   true,
			message: []string{"--max-model-len=20000000 is larger than the model supports (10485760)"},
			fix:     []string{"at most 10485760"},
		},
		{
			name: "unrecognized argument",
			pods: []corev1.Pod{pod(waiting("CrashLoopBackOff", "back-off", 1), lastTerminated("Error", 2))},
			logs: PodLogs{Previous: []string{
				"usage: api_server.py [-h] [--host HOST] [--port PORT]",
				"api_server.py: error: unrecognized arguments: --swap-space=16",
			}},
			cause:   CauseUnrecognizedArg,
			fatal:   true,
			message: []string{"vLLM v0.10.0 does not know the argument(s) --swap-space=16"},
			fix:     []string{"the flag --swap-space is not supported by this vLLM image version (vllm/vllm-openai:v0.10.0)", "--image-tag"},
		},
		{
			name: "NCCL shared memory",
			pods: []corev1.Pod{pod(waiting("CrashLoopBackOff", "back-off", 1), lastTerminated("Error", 1))},
			logs: PodLogs{Previous: []string{
				"(VllmWorker rank=3 pid=300) ERROR [multiproc_executor.py:511] torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/NCCLUtils.hpp:268, unhandled system error",
				"Error while creating shared memory segment /dev/shm/nccl-abc (size 9637888)",
			}},
			cause:   CauseNCCL,
			fatal:   true,
			message: []string{"NCCL / shared memory"},
			fix:     []string{"shm.sizeLimit", "NCCL_DEBUG=INFO"},
		},
		{
			name: "progress deadline",
			dep: func(d *appsv1.Deployment) {
				d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "scout-6d4f" has timed out progressing.`}}
			},
			cause:   CauseProgressDeadline,
			fatal:   true,
			message: []string{"timed out progressing"},
			fix:     []string{"kubectl llama status scout"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := deployment()
			if tc.dep != nil {
				tc.dep(d)
			}
			fs := Diagnose(Input{Release: "scout", Deployment: d, Pods: tc.pods, Events: tc.events, ReplicaSets: tc.rss, Logs: map[string]PodLogs{podName: tc.logs}})
			if len(fs) == 0 {
				t.Fatalf("no finding, want %s", tc.cause)
			}
			f := fs[0]
			if f.Cause != tc.cause {
				t.Fatalf("cause %s, want %s (%s)", f.Cause, tc.cause, f)
			}
			if f.Fatal != tc.fatal {
				t.Errorf("fatal %v, want %v", f.Fatal, tc.fatal)
			}
			if f.Grace != tc.grace {
				t.Errorf("grace %v, want %v", f.Grace, tc.grace)
			}
			for _, m := range tc.message {
				if !strings.Contains(f.Message, m) {
					t.Errorf("message %q lacks %q", f.Message, m)
				}
			}
			for _, m := range tc.fix {
				if !strings.Contains(f.Fix, m) {
					t.Errorf("fix %q lacks %q", f.Fix, m)
				}
			}
			if tc.logLine != "" && !strings.Contains(strings.Join(f.Logs, "\n"), tc.logLine) {
				t.Errorf("logs %q lack %q", f.Logs, tc.logLine)
			}
		})
	}
}

func TestNoDeployment(t *testing.T) {
	fs := Diagnose(Input{Release: "scout"})
	if len(fs) != 1 || fs[0].Cause != CauseNoDeployment || !strings.Contains(fs[0].Fix, "kubectl llama install scout") {
		t.Fatalf("got %v", fs)
	}
}

func TestHealthyReleaseHasNoFinding(t *testing.T) {
	p := pod(running(0))
	p.Status.ContainerStatuses[0].Ready = true
	if fs := Diagnose(Input{Release: "scout", Deployment: deployment(), Pods: []corev1.Pod{p}, Logs: map[string]PodLogs{p.Name: {Current: []string{"INFO:     Application startup complete."}}}}); len(fs) != 0 {
		t.Fatalf("findings on a healthy release: %v", fs)
	}
}

func TestStage(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{nil, ""},
		{[]string{"INFO 07-01 [api_server.py:1395] vLLM API server version 0.10.0"}, "vLLM 0.10.0 starting"},
		{[]string{"x", "INFO [gpu_model_runner.py:1892] Starting to load model meta-llama/Llama-4-Scout-17B-16E...", "y"}, "downloading and loading the model weights"},
		{[]string{"Loading safetensors checkpoint shards:  46% Completed | 23/50 [01:02<01:10,  2.7s/it]"}, "loading weights: 23/50 shards"},
		{[]string{"INFO [default_loader.py:262] Loading weights took 97.41 seconds"}, "weights loaded in 97.41s"},
		{[]string{"INFO [gpu_model_runner.py:1925] Model loading took 25.49 GiB and 99.2 seconds"}, "model loaded (25.49 GiB), profiling memory"},
		{[]string{"INFO [kv_cache_utils.py:833] GPU KV cache size: 1,623,552 tokens"}, "allocating the KV cache"},
		{[]string{"Capturing CUDA graph shapes: 100%"}, "capturing CUDA graphs"},
		{[]string{"INFO [api_server.py:1818] Starting vLLM API server 0 on http://0.0.0.0:7080"}, "starting the API server"},
		{[]string{"INFO:     Application startup complete.", "INFO:     127.0.0.1:4 - \"GET /health HTTP/1.1\" 200 OK"}, "API server up, waiting for the readiness probe"},
	} {
		if got := Stage(tc.lines); got != tc.want {
			t.Errorf("Stage(%q) = %q, want %q", tc.lines, got, tc.want)
		}
	}
}
