package podrunner

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
)

type maps struct {
	secrets map[string]*corev1.Secret
	cms     map[string]*corev1.ConfigMap
}

func (m maps) Secret(ns, name string) (*corev1.Secret, error) {
	if s, ok := m.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (m maps) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	if c, ok := m.cms[ns+"/"+name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func hfEnv() []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "LD_LIBRARY_PATH", Value: "${LD_LIBRARY_PATH}:/usr/local/nvidia/lib64"},
		{Name: "MODEL_ID", Value: "meta-llama/Llama-4-Scout-17B-16E-Instruct"},
		{Name: "HUGGING_FACE_HUB_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "hf-secret"}, Key: "hf_api_token"}}},
		{Name: "ARG_MODEL", Value: "--model=$(MODEL_ID)"},
	}
}

func TestResolveEnv(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}}
	c := &corev1.Container{Name: "inference-server", Env: hfEnv()}
	_, _, err := ResolveEnv(pod, c, maps{})
	if err == nil || err.Error() != `secret "hf-secret" not found` {
		t.Errorf("missing secret: %v", err)
	}
	m := maps{secrets: map[string]*corev1.Secret{"default/hf-secret": {Data: map[string][]byte{"other": []byte("x")}}}}
	_, _, err = ResolveEnv(pod, c, m)
	if err == nil || err.Error() != "couldn't find key hf_api_token in Secret default/hf-secret" {
		t.Errorf("missing key: %v", err)
	}
	m.secrets["default/hf-secret"].Data["hf_api_token"] = []byte("hf_abc")
	list, env, err := ResolveEnv(pod, c, m)
	if err != nil {
		t.Fatal(err)
	}
	if env["HUGGING_FACE_HUB_TOKEN"] != "hf_abc" || env["ARG_MODEL"] != "--model=meta-llama/Llama-4-Scout-17B-16E-Instruct" ||
		env["LD_LIBRARY_PATH"] != "${LD_LIBRARY_PATH}:/usr/local/nvidia/lib64" || len(list) != 4 {
		t.Errorf("env = %v", env)
	}
	opt := true
	c2 := &corev1.Container{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: &opt}},
		{Prefix: "X_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		Env: []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "nope"}}}}}
	m.cms = map[string]*corev1.ConfigMap{"default/cm": {Data: map[string]string{"a": "1"}}}
	_, _, err = ResolveEnv(pod, c2, m)
	if err == nil || err.Error() != "couldn't find key nope in ConfigMap default/cm" {
		t.Errorf("configmap key: %v", err)
	}
	c2.Env = nil
	_, env, _ = ResolveEnv(pod, c2, m)
	if env["X_a"] != "1" {
		t.Errorf("envFrom: %v", env)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x"}
	for in, want := range map[string]string{"$(A)-$(B)": "x-$(B)", "$$(A)": "$(A)", "${A}": "${A}", "a$": "a$", "$(A": "$(A"} {
		if got := Expand(in, env); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestImageConventions(t *testing.T) {
	if m := unpullable("invalid.local/vllm/vllm-openai:v0.10.0"); !strings.Contains(m, "lookup invalid.local: no such host") {
		t.Errorf("host convention: %q", m)
	}
	if m := unpullable("vllm/vllm-openai:does-not-exist"); !strings.Contains(m, "code = NotFound") || !strings.HasSuffix(m, ": not found") {
		t.Errorf("tag convention: %q", m)
	}
	if unpullable("vllm/vllm-openai:v0.10.0") != "" {
		t.Error("a normal image must pull")
	}
	for img, want := range map[string]string{"vllm/vllm-openai:v0.10.0": "0.10.0", "r.example/vllm/vllm-openai:v0.18.1": "0.18.1", "vllm/vllm-openai": LatestVLLMVersion} {
		if !isVLLMImage(img) || vllmVersion(img) != want {
			t.Errorf("%s: vllm %v version %q", img, isVLLMImage(img), vllmVersion(img))
		}
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}}
	if k := kindOf(pod, &corev1.Container{Image: "curlimages/curl:8.12.1", Command: []string{"/bin/sh", "-ec"}}); k != runScript {
		t.Errorf("curl test pod: %s", k)
	}
	if k := kindOf(pod, &corev1.Container{Image: "busybox"}); k != runComplete {
		t.Errorf("busybox Never: %s", k)
	}
	pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	if k := kindOf(pod, &corev1.Container{Image: "busybox"}); k != runForever {
		t.Errorf("busybox Always: %s", k)
	}
}

func TestBuildStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	sched := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Status: corev1.PodStatus{QOSClass: corev1.PodQOSGuaranteed, Conditions: []corev1.PodCondition{sched}}}
	c := &ctr{name: "inference-server", image: "vllm/vllm-openai:v0.10.0", running: true, everStarted: true, started: true, ready: true,
		startedAt: now, containerID: "containerd://abc"}
	v := &podView{podIP: "10.244.1.2", hostIP: "127.0.0.1", startTime: now, containers: []*ctr{c}, initDone: true}
	st := BuildStatus(pod, v, now)
	cond := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range st.Conditions {
		cond[c.Type] = c
	}
	if st.Phase != corev1.PodRunning || cond[corev1.PodReady].Status != corev1.ConditionTrue || cond[corev1.ContainersReady].Status != corev1.ConditionTrue ||
		cond[corev1.PodScheduled].LastTransitionTime != sched.LastTransitionTime || st.QOSClass != corev1.PodQOSGuaranteed ||
		st.PodIP != "10.244.1.2" || st.HostIP != "127.0.0.1" || !*st.ContainerStatuses[0].Started || st.ContainerStatuses[0].ImageID == "" {
		t.Errorf("running: %+v", st)
	}

	// Crash loop: waiting CrashLoopBackOff, lastState terminated, phase stays Running.
	c.running, c.ready, c.started = false, false, false
	c.restartCount = 2
	c.lastTerm = terminated(2, now, now, "containerd://abc")
	c.waitReason, c.waitMessage = "CrashLoopBackOff", crashLoopMessage(10*time.Second, c.name, pod)
	st = BuildStatus(pod, v, now)
	cs := st.ContainerStatuses[0]
	if st.Phase != corev1.PodRunning || cs.State.Waiting == nil || cs.State.Waiting.Message != "back-off 10s restarting failed container=inference-server pod=p_ns(u1)" ||
		cs.LastTerminationState.Terminated.Reason != "Error" || cs.RestartCount != 2 || cs.Ready {
		t.Errorf("crash loop: %+v", cs)
	}
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReady && (c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotReady" || c.Message != "containers with unready status: [inference-server]") {
			t.Errorf("Ready condition: %+v", c)
		}
	}
	if terminated(137, now, now, "").Reason != "OOMKilled" || terminated(0, now, now, "").Reason != "Completed" {
		t.Error("terminated reasons")
	}

	// Never started (config error): Pending.
	c2 := &ctr{name: "x", image: "i", waitReason: "CreateContainerConfigError", waitMessage: `secret "hf-secret" not found`}
	st = BuildStatus(pod, &podView{podIP: "10.244.1.3", startTime: now, containers: []*ctr{c2}, initDone: true}, now)
	if st.Phase != corev1.PodPending || st.ContainerStatuses[0].State.Waiting.Reason != "CreateContainerConfigError" || st.ContainerStatuses[0].ContainerID != "" {
		t.Errorf("config error: %+v", st)
	}
	// Run to completion.
	c3 := &ctr{name: "t", image: "busybox", everStarted: true, done: true, term: terminated(0, now, now, "containerd://x")}
	st = BuildStatus(pod, &podView{podIP: "10.244.1.4", startTime: now, containers: []*ctr{c3}, initDone: true}, now)
	if st.Phase != corev1.PodSucceeded {
		t.Errorf("completed: %s", st.Phase)
	}
}

type fakeProc struct {
	once sync.Once
	done chan struct{}
	exit Exit
}

func (p *fakeProc) Done() <-chan struct{} { return p.done }
func (p *fakeProc) Exit() Exit            { return p.exit }
func (p *fakeProc) Stop(time.Duration)    { p.end(143) }
func (p *fakeProc) end(code int) {
	p.once.Do(func() { p.exit = Exit{Code: code, At: time.Now()}; close(p.done) })
}

// fakeLauncher records launches; tests end processes with exit codes.
type fakeLauncher struct {
	mu    sync.Mutex
	specs []LaunchSpec
	procs []*fakeProc
}

func (f *fakeLauncher) Launch(s LaunchSpec) (Proc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &fakeProc{done: make(chan struct{})}
	f.specs = append(f.specs, s)
	f.procs = append(f.procs, p)
	return p, nil
}

func (f *fakeLauncher) exit(i, code int) {
	f.mu.Lock()
	p := f.procs[i]
	f.mu.Unlock()
	p.end(code)
}

func (f *fakeLauncher) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.specs) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunnerLifecycle(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gke-h100-0", Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}}}
	other := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "real"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "scout-abc", Namespace: "default", UID: "uid-1"},
		Spec: corev1.PodSpec{NodeName: node.Name, RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{
			Name: "inference-server", Image: "vllm/vllm-openai:v0.10.0",
			Command:   []string{"python3", "-m", "vllm.entrypoints.openai.api_server"},
			Args:      []string{"--port=7080", "$(ARG_MODEL)", "--tensor-parallel-size=8"},
			Env:       hfEnv(),
			Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 7080}},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}},
		}}}}
	foreign := pod.DeepCopy()
	foreign.Name, foreign.UID, foreign.Spec.NodeName = "elsewhere", "uid-2", "real"
	client := fake.NewSimpleClientset(node, other, pod, foreign)
	fl := &fakeLauncher{}
	r := New(client, nil, Options{StateDir: t.TempDir(), StubPath: "/bin/vllmstub", NodeAnnotation: "kwok.x-k8s.io/node=fake",
		Launcher: fl, Backoff: 200 * time.Millisecond, LoadTime: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	get := func(name string) *corev1.Pod {
		p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	waiting := func(p *corev1.Pod) string {
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return ""
		}
		return p.Status.ContainerStatuses[0].State.Waiting.Reason + ": " + p.Status.ContainerStatuses[0].State.Waiting.Message
	}

	// 1. No Secret: CreateContainerConfigError plus a Warning event.
	waitFor(t, "CreateContainerConfigError", func() bool {
		return waiting(get("scout-abc")) == `CreateContainerConfigError: secret "hf-secret" not found`
	})
	if p := get("scout-abc"); p.Status.Phase != corev1.PodPending || p.Status.PodIP == "" || p.Status.HostIP != "127.0.0.1" {
		t.Errorf("pending pod status: %+v", p.Status)
	}
	waitFor(t, "Failed event", func() bool {
		evs, _ := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		for _, e := range evs.Items {
			if e.Reason == "Failed" && e.Type == corev1.EventTypeWarning && e.Message == `Error: secret "hf-secret" not found` && e.Source.Component == "kubelet" {
				return true
			}
		}
		return false
	})
	if len(get("elsewhere").Status.ContainerStatuses) != 0 {
		t.Error("a pod on a non-kwok node must be left alone")
	}

	// 2. The Secret appears: the stub starts with the pod's args expanded.
	_, err := client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hf-secret", Namespace: "default"},
		Data: map[string][]byte{"hf_api_token": []byte("hf_x")}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stub launch", func() bool { return fl.count() == 1 })
	argv := strings.Join(fl.specs[0].Argv, " ")
	for _, want := range []string{"/bin/vllmstub --listen 127.0.0.1:", "--vllm-version 0.10.0", "--gpus 8",
		"-- python3 -m vllm.entrypoints.openai.api_server --port=7080 --model=meta-llama/Llama-4-Scout-17B-16E-Instruct --tensor-parallel-size=8"} {
		if !strings.Contains(argv, want) {
			t.Errorf("argv %q lacks %q", argv, want)
		}
	}
	if !strings.Contains(strings.Join(fl.specs[0].Env, "\n"), "HUGGING_FACE_HUB_TOKEN=hf_x") || filepath.Base(fl.specs[0].LogFile) != "0.log" {
		t.Errorf("spec %+v", fl.specs[0])
	}
	waitFor(t, "Running", func() bool {
		p := get("scout-abc")
		return p.Status.Phase == corev1.PodRunning && p.Status.ContainerStatuses[0].State.Running != nil
	})

	// 3. Exit 2 (bad flag): immediate restart, then CrashLoopBackOff.
	fl.exit(0, 2)
	waitFor(t, "restart", func() bool { return fl.count() == 2 })
	waitFor(t, "restartCount 1", func() bool { return get("scout-abc").Status.ContainerStatuses[0].RestartCount == 1 })
	if filepath.Base(fl.specs[1].LogFile) != "1.log" {
		t.Errorf("restart log file %s", fl.specs[1].LogFile)
	}
	fl.exit(1, 137)
	waitFor(t, "CrashLoopBackOff", func() bool {
		return strings.HasPrefix(waiting(get("scout-abc")), "CrashLoopBackOff: back-off 200ms restarting failed container=inference-server pod=scout-abc_default(uid-1)")
	})
	cs := get("scout-abc").Status.ContainerStatuses[0]
	if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.Reason != "OOMKilled" || cs.LastTerminationState.Terminated.ExitCode != 137 {
		t.Errorf("after OOM: %+v", cs)
	}
	waitFor(t, "restart after back-off", func() bool { return fl.count() == 3 })
	waitFor(t, "restartCount 2", func() bool { return get("scout-abc").Status.ContainerStatuses[0].RestartCount == 2 })
	if filepath.Base(fl.specs[2].LogFile) != "2.log" {
		t.Errorf("second restart log file %s", fl.specs[2].LogFile)
	}

	// 4. Deletion stops the process.
	now := metav1.Now()
	p := get("scout-abc")
	p.DeletionTimestamp = &now
	if _, err := client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "process stopped", func() bool {
		select {
		case <-fl.procs[2].done:
			return true
		default:
			return false
		}
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestImagePullBackOff(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"},
		Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "c", Image: "vllm/vllm-openai:does-not-exist"}}}}
	client := fake.NewSimpleClientset(node, pod)
	r := New(client, nil, Options{StateDir: t.TempDir(), Launcher: &fakeLauncher{}, Backoff: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	seen := map[string]bool{}
	waitFor(t, "ErrImagePull then ImagePullBackOff", func() bool {
		p, _ := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		if len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Waiting != nil {
			w := p.Status.ContainerStatuses[0].State.Waiting
			seen[w.Reason] = true
			if w.Reason == "ImagePullBackOff" && !strings.HasPrefix(w.Message, `Back-off pulling image "vllm/vllm-openai:does-not-exist": ErrImagePull: rpc error: code = NotFound`) {
				t.Errorf("message %q", w.Message)
			}
		}
		return seen["ErrImagePull"] && seen["ImagePullBackOff"]
	})
	evs, _ := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
	var reasons []string
	for _, e := range evs.Items {
		reasons = append(reasons, fmt.Sprintf("%s/%s", e.Reason, e.Message))
	}
	joined := strings.Join(reasons, "\n")
	for _, want := range []string{`Pulling/Pulling image "vllm/vllm-openai:does-not-exist"`, "Failed/Error: ErrImagePull", `BackOff/Back-off pulling image "vllm/vllm-openai:does-not-exist"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("events lack %q:\n%s", want, joined)
		}
	}
}

func TestCurlShim(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" {
			w.WriteHeader(401)
			return
		}
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, r.Host)
	}))
	defer srv.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "services.json")
	target := strings.TrimPrefix(srv.URL, "http://")
	if err := os.WriteFile(file, []byte(`{"scout.default:8000":"`+target+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		return map[string]string{"PODRUNNER_SERVICES_FILE": file, "PODRUNNER_NAMESPACE": "default"}[k]
	}
	var out, errb bytes.Buffer
	if code := CurlMain([]string{"-fsS", "-H", "Authorization: Bearer k", "http://scout:8000/v1/models"}, env, &out, &errb); code != 0 || out.String() != "GET /v1/models scout:8000" {
		t.Errorf("curl: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := CurlMain([]string{"-fsS", "http://scout.default:8000/v1/models", "-d", "{}"}, env, &out, &errb); code != 22 || !strings.Contains(errb.String(), "curl: (22) The requested URL returned error: 401") {
		t.Errorf("curl -f 401: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := CurlMain([]string{"-sS", "http://other:8000/"}, env, &out, &errb); code != 7 || !strings.Contains(errb.String(), "curl: (7) Failed to connect to other port 8000") {
		t.Errorf("curl unknown service: %d %q", code, errb.String())
	}
}
