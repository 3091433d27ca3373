package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

const fieldManager = "llama-cluster"

// The cluster-scoped kinds llama-cluster applies.
var knownKinds = map[schema.GroupKind]string{
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 "customresourcedefinitions",
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     "mutatingwebhookconfigurations",
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        "validatingadmissionpolicies",
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: "validatingadmissionpolicybindings",
}

// decodeManifests splits a multi-document YAML into objects.
func decodeManifests(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			return objs, nil
		} else if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// applyObjects server-side applies cluster-scoped objects of knownKinds.
func applyObjects(ctx context.Context, dc dynamic.Interface, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		res, ok := knownKinds[gvk.GroupKind()]
		if !ok {
			return fmt.Errorf("apply: unsupported kind %s", gvk)
		}
		gvr := gvk.GroupVersion().WithResource(res)
		if _, err := dc.Resource(gvr).Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			return fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
		}
	}
	return nil
}

// createNodes creates the nodes of the pools that do not exist yet and
// returns the names of all of them.
func createNodes(ctx context.Context, cs kubernetes.Interface, pools []Pool) ([]string, error) {
	var names []string
	for _, p := range pools {
		for _, n := range p.Nodes() {
			names = append(names, n.Name)
			if _, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("create node %s: %w", n.Name, err)
			}
		}
	}
	return names, nil
}
