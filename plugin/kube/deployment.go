package kube

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Deployment reads the release's Deployment (named after the release), with
// one-line errors: a missing one says the release is not there and where to
// look for it.
func Deployment(ctx context.Context, cs kubernetes.Interface, ns, release string) (*appsv1.Deployment, error) {
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("release %s not found in namespace %s (no Deployment %s): see kubectl llama list -A", release, ns, release)
	}
	if err != nil {
		return nil, fmt.Errorf("reading Deployment %s/%s: %w", ns, release, err)
	}
	return d, nil
}
