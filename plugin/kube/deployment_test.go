package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestDeployment(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "scout", Namespace: "llm"}})
	if d, err := Deployment(ctx, cs, "llm", "scout"); err != nil || d.Name != "scout" {
		t.Fatalf("Deployment = %v, %v", d, err)
	}
	_, err := Deployment(ctx, cs, "default", "scout")
	if want := "release scout not found in namespace default (no Deployment scout): see kubectl llama list -A"; err == nil || err.Error() != want {
		t.Errorf("missing: err = %v, want %q", err, want)
	}
	cs.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	if _, err := Deployment(ctx, cs, "llm", "scout"); err == nil || !strings.HasPrefix(err.Error(), "reading Deployment llm/scout: connection refused") {
		t.Errorf("API error: err = %v", err)
	}
}
