// Package kube turns kubectl's ConfigFlags into clients, and names the objects
// the vllm-llama chart creates for a release. Commands get their clients here
// so --kubeconfig, --context and -n/--namespace behave as in kubectl.
package kube

import (
	"fmt"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Names and labels the chart gives every release's objects (see
// charts/vllm-llama/templates/_helpers.tpl). The Deployment and the Service
// are named after the release.
const (
	ChartName      = "vllm-llama"
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	ContainerName  = "inference-server"
	ServicePort    = 8000
	ContainerPort  = 7080
	AnnotationPre  = "kubectl-llama.io/"
	AnnPreset      = AnnotationPre + "preset"
	AnnModelID     = AnnotationPre + "model-id"
	AnnGPU         = AnnotationPre + "gpu"
	AnnGPUCount    = AnnotationPre + "gpu-count"
	AnnAccelerator = AnnotationPre + "accelerator"
)

// ReleaseSelector selects the pods (and other objects) of one release.
func ReleaseSelector(release string) string {
	return fmt.Sprintf("%s=%s,%s=%s", LabelName, ChartName, LabelInstance, release)
}

// Clients bundles what commands need to talk to the cluster.
type Clients struct {
	Config    *rest.Config
	Clientset kubernetes.Interface
	// Namespace is the -n flag, or the kubeconfig context's namespace, or "default".
	Namespace string
	// NamespaceExplicit is true when -n was given on the command line.
	NamespaceExplicit bool
}

// New builds clients from the kubectl flags.
func New(flags *genericclioptions.ConfigFlags) (*Clients, error) {
	ns, explicit, err := flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("no usable cluster in kubeconfig: %w (set --kubeconfig or --context, or KUBECONFIG)", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Clients{Config: cfg, Clientset: cs, Namespace: ns, NamespaceExplicit: explicit}, nil
}
