package portforward

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
	"github.com/kubectl-llama/kubectl-llama/test/testutil"
)

var t0 = time.Date(2025, 4, 5, 12, 0, 0, 0, time.UTC)

func svcWithPorts(ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "scout", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: ports},
	}
}

// pod is a running, assigned pod, ready since readyAgo when readyAgo >= 0.
func pod(name string, readyAgo time.Duration) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "x"}, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{
			Name:  kube.ContainerName,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 7080}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	cond := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse}
	if readyAgo >= 0 {
		cond = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-readyAgo))}
	}
	p.Status.Conditions = []corev1.PodCondition{cond}
	return p
}

func TestServicePort(t *testing.T) {
	cases := []struct {
		name string
		svc  *corev1.Service
		want int32
	}{
		{"named http wins over first", svcWithPorts(corev1.ServicePort{Name: "metrics", Port: 9090}, corev1.ServicePort{Name: "http", Port: 8000}), 8000},
		{"first when none is named http", svcWithPorts(corev1.ServicePort{Name: "api", Port: 8081}, corev1.ServicePort{Name: "metrics", Port: 9090}), 8081},
		{"chart default when no port", svcWithPorts(), kube.ServicePort},
	}
	for _, c := range cases {
		if got := servicePort(c.svc); got != c.want {
			t.Errorf("%s: servicePort = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestTargetPort(t *testing.T) {
	p := pod("p", time.Minute)
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9400}}})
	cases := []struct {
		name string
		sp   corev1.ServicePort
		want int32
	}{
		{"named targetPort resolves in the pod", corev1.ServicePort{Name: "http", Port: 8000, TargetPort: intstr.FromString("http")}, 7080},
		{"named targetPort of another container", corev1.ServicePort{Name: "http", Port: 8000, TargetPort: intstr.FromString("metrics")}, 9400},
		{"numeric targetPort as is", corev1.ServicePort{Name: "http", Port: 8000, TargetPort: intstr.FromInt32(7081)}, 7081},
		{"omitted targetPort is the port", corev1.ServicePort{Name: "http", Port: 8000}, 8000},
	}
	for _, c := range cases {
		got, err := targetPort(svcWithPorts(c.sp), p, 8000)
		if err != nil || got != c.want {
			t.Errorf("%s: targetPort = %d, %v; want %d", c.name, got, err, c.want)
		}
	}

	if _, err := targetPort(svcWithPorts(corev1.ServicePort{Name: "http", Port: 8000, TargetPort: intstr.FromString("grpc")}), p, 8000); err == nil || !strings.Contains(err.Error(), "service scout port 8000") {
		t.Errorf("unknown named port: err = %v, want one naming service scout port 8000", err)
	}
	if _, err := targetPort(svcWithPorts(corev1.ServicePort{Name: "http", Port: 8000}), p, 9999); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing service port: err = %v, want a one-line error", err)
	}
}

func TestDisplayHost(t *testing.T) {
	for in, want := range map[string]string{"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "127.0.0.1", "127.0.0.1": "127.0.0.1", "192.168.1.5": "192.168.1.5", "localhost": "localhost", "::1": "::1"} {
		if got := displayHost(in); got != want {
			t.Errorf("displayHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func storeOf(t *testing.T, pods ...*corev1.Pod) cache.Store {
	t.Helper()
	s := cache.NewStore(cache.MetaNamespaceKeyFunc)
	for _, p := range pods {
		if err := s.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestReadyPod(t *testing.T) {
	deleting := pod("deleting", 3*time.Hour)
	now := metav1.NewTime(t0)
	deleting.DeletionTimestamp = &now
	restarted := pod("restarted", 2*time.Hour)
	restarted.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: kube.ContainerName, RestartCount: 3}}
	unassigned := pod("unassigned", 4*time.Hour)
	unassigned.Spec.NodeName = ""
	older := pod("older", time.Minute)
	older.CreationTimestamp = metav1.NewTime(t0.Add(-48 * time.Hour))

	cases := []struct {
		name  string
		pods  []*corev1.Pod
		avoid string
		want  string
	}{
		{"none", nil, "", ""},
		{"not ready only", []*corev1.Pod{pod("a", -1)}, "", ""},
		{"ready over not ready", []*corev1.Pod{pod("a", -1), pod("b", time.Minute)}, "", "b"},
		{"deleting is skipped", []*corev1.Pod{deleting, pod("b", time.Minute)}, "", "b"},
		{"ready longest first", []*corev1.Pod{pod("new", time.Minute), pod("old", time.Hour), pod("mid", 10*time.Minute)}, "", "old"},
		{"fewer restarts first", []*corev1.Pod{restarted, pod("clean", 2*time.Hour)}, "", "clean"},
		{"assigned over unassigned", []*corev1.Pod{unassigned, pod("assigned", time.Minute)}, "", "assigned"},
		{"older pod when ready alike", []*corev1.Pod{pod("young", time.Minute), older}, "", "older"},
		{"avoid the named pod", []*corev1.Pod{pod("old", time.Hour), pod("new", time.Minute)}, "old", "new"},
		{"avoid the only ready pod", []*corev1.Pod{pod("old", time.Hour), pod("b", -1)}, "old", ""},
	}
	for _, c := range cases {
		f := &Forward{pods: storeOf(t, c.pods...)}
		got := ""
		if p := f.readyPod(c.avoid); p != nil {
			got = p.Name
		}
		if got != c.want {
			t.Errorf("%s: readyPod = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestStillGood(t *testing.T) {
	deleting := pod("deleting", time.Hour)
	now := metav1.NewTime(t0)
	deleting.DeletionTimestamp = &now
	f := &Forward{ns: "default", pods: storeOf(t, pod("ready", time.Hour), pod("notready", -1), deleting)}
	for name, want := range map[string]bool{"ready": true, "notready": false, "deleting": false, "gone": false} {
		if got := f.stillGood(name); got != want {
			t.Errorf("stillGood(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestWaitPod(t *testing.T) {
	ctx := context.Background()

	f := &Forward{Service: "scout", pods: storeOf(t, pod("a", -1)), wake: make(chan struct{}, 1)}
	if _, err := f.waitPod(ctx, 0, ""); !errors.Is(err, ErrNoReadyPod) || !strings.Contains(err.Error(), "Service scout") {
		t.Errorf("no wait: err = %v, want ErrNoReadyPod naming Service scout", err)
	}
	if _, err := f.waitPod(ctx, 20*time.Millisecond, ""); !errors.Is(err, ErrNoReadyPod) || !strings.Contains(err.Error(), "after 20ms") {
		t.Errorf("timeout: err = %v, want ErrNoReadyPod after 20ms", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.waitPod(cctx, time.Hour, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}

	// A pod turning ready (the informer's notify) ends the wait.
	go func() {
		time.Sleep(10 * time.Millisecond)
		if err := f.pods.Update(pod("a", time.Second)); err != nil {
			t.Error(err)
		}
		f.notify()
	}()
	p, err := f.waitPod(ctx, time.Minute, "")
	if err != nil || p.Name != "a" {
		t.Fatalf("waitPod = %v, %v; want pod a", p, err)
	}
}

func TestLineWriter(t *testing.T) {
	var b bytes.Buffer
	w := &lineWriter{w: &b, prefix: "port-forward: "}
	in := "E0101 first\nsecond\n"
	n, err := w.Write([]byte(in))
	if err != nil || n != len(in) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if want := "port-forward: E0101 first\nport-forward: second\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestStartErrors(t *testing.T) {
	ctx := context.Background()
	noSel := svcWithPorts(corev1.ServicePort{Name: "http", Port: 8000})
	noSel.Name, noSel.Spec.Selector = "nosel", nil
	cs := fake.NewClientset(svcWithPorts(corev1.ServicePort{Name: "http", Port: 8000, TargetPort: intstr.FromString("http")}), noSel, pod("notready", -1))
	cases := []struct {
		name, release, local string
		want                 string
	}{
		{"bad address", "scout", "127.0.0.1", "local address \"127.0.0.1\""},
		{"bad port", "scout", "127.0.0.1:70000", "local port \"70000\": use 0-65535"},
		{"no Service", "llama", "", "reading Service default/llama"},
		{"no selector", "nosel", "", "service nosel has no selector"},
		{"no ready pod", "scout", "", "no ready pod behind Service scout"},
	}
	for _, c := range cases {
		_, err := StartWithOptions(ctx, nil, cs, "default", c.release, Options{Local: c.local})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line containing %q", c.name, err, c.want)
		}
	}
	if _, err := Start(ctx, nil, cs, "default", "scout", ""); !errors.Is(err, ErrNoReadyPod) {
		t.Errorf("Start: err = %v, want ErrNoReadyPod", err)
	}
}

// The pod watch cannot list (the API server stopped answering after the
// Service was read): the log says so once, and the error names the cause
// rather than a bare deadline.
func TestStartWhenThePodListFails(t *testing.T) {
	cs := fake.NewClientset(svcWithPorts(corev1.ServicePort{Name: "http", Port: 8000, TargetPort: intstr.FromString("http")}))
	cs.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	log := &testutil.SyncBuffer{}
	_, err := StartWithOptions(ctx, nil, cs, "default", "scout", Options{Log: log})
	if err == nil || !strings.Contains(err.Error(), "watching the pods of Service scout: ") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v", err)
	}
	if n := strings.Count(log.String(), "cannot read from the API server (retrying): "); n != 1 {
		t.Errorf("log says it %d times, want once:\n%s", n, log.String())
	}
}
