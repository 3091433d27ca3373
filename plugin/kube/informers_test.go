package kube

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

func TestInformers(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p1", Namespace: "ns", Labels: map[string]string{"app": "a"}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p2", Namespace: "ns", Labels: map[string]string{"app": "b"}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p3", Namespace: "other", Labels: map[string]string{"app": "a"}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns"}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "ns"}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}},
	)
	s := NewInformers(cs, "ns")
	pods := s.Pods(func(lo *metav1.ListOptions) { lo.LabelSelector = "app=a" })
	deps, rss, evs := s.Deployments(nil), s.ReplicaSets(nil), s.Events(nil)
	added := make(chan string, 10)
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(o any) { added <- o.(*corev1.Pod).Name }}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	s.Start(ctx) // a second Start does nothing
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if !s.WaitForSync(sctx) {
		t.Fatal("informers did not sync")
	}
	if got := pods.GetStore().ListKeys(); len(got) != 1 || got[0] != "ns/p1" {
		t.Errorf("pods = %v, want [ns/p1] (namespace and selector applied)", got)
	}
	for name, inf := range map[string]cache.SharedIndexInformer{"deployments": deps, "replicasets": rss, "events": evs} {
		if n := len(inf.GetStore().List()); n != 1 {
			t.Errorf("%s: %d objects, want 1", name, n)
		}
	}
	if _, err := cs.CoreV1().Pods("ns").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p4", Namespace: "ns", Labels: map[string]string{"app": "a"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for !seen["p4"] {
		select {
		case n := <-added:
			seen[n] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("no add event for p4 (seen %v)", seen)
		}
	}
	cancel()
	done := make(chan struct{})
	go func() { s.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the context ended")
	}
}

func TestInformersWaitForSyncCanceled(t *testing.T) {
	s := NewInformers(fake.NewClientset(), "ns")
	s.Pods(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // never started, context over: WaitForSync gives up
	if s.WaitForSync(ctx) {
		t.Error("WaitForSync = true for informers that never ran")
	}
}
