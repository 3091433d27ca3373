package cmd

import (
	"fmt"
	"os"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/cli"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-llama/kubectl-llama/plugin/deploy"
	"github.com/kubectl-llama/kubectl-llama/plugin/helmx"
	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
	"github.com/kubectl-llama/kubectl-llama/plugin/preflight"
)

// factory gives commands their clients. Production builds them from the
// kubectl flags; tests replace the function fields with fakes (Helm memory
// driver, client-go fake). Nothing here is global.
type factory struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	getenv  func(string) string
	now     func() time.Time
	// actionConfig returns a Helm configuration keeping releases in
	// namespace ("" = all namespaces).
	actionConfig func(namespace string) (*action.Configuration, error)
	// clientset returns a Kubernetes client for the selected context.
	clientset func() (kubernetes.Interface, error)
	// helmSettings are helm's environment settings (cache and registry
	// config paths), used only for remote charts and -f URLs.
	helmSettings func() *cli.EnvSettings
	// waiter waits for a release to become ready (ready.Wait).
	waiter deploy.Waiter
	// terminal reports whether a stream is a terminal (chat's interactive mode).
	terminal func(any) bool
}

func newFactory(flags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *factory {
	f := &factory{flags: flags, streams: streams, getenv: os.Getenv, now: time.Now, waiter: readyWaiter, terminal: isTerminal}
	f.actionConfig = func(ns string) (*action.Configuration, error) {
		return helmx.NewActionConfig(f.flags, ns, f.getenv("HELM_DRIVER"), nil)
	}
	f.clientset = func() (kubernetes.Interface, error) {
		c, err := kube.New(f.flags)
		if err != nil {
			return nil, err
		}
		return c.Clientset, nil
	}
	f.helmSettings = func() *cli.EnvSettings { return cli.New() }
	return f
}

// namespace is -n, else the kubeconfig context's namespace, else "default".
// It reads the kubeconfig only; no cluster is contacted.
func (f *factory) namespace() string {
	ns, _, err := f.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil || ns == "" {
		if f.flags.Namespace != nil && *f.flags.Namespace != "" {
			return *f.flags.Namespace
		}
		return "default"
	}
	return ns
}

// target names the context and API server for messages.
func (f *factory) target() preflight.Target {
	var t preflight.Target
	if raw, err := f.flags.ToRawKubeConfigLoader().RawConfig(); err == nil {
		t.Context = raw.CurrentContext
	}
	if f.flags.Context != nil && *f.flags.Context != "" {
		t.Context = *f.flags.Context
	}
	if cfg, err := f.flags.ToRESTConfig(); err == nil {
		t.Server = cfg.Host
	} else {
		t.Server = "(none)"
	}
	return t
}

// clients returns both clients for namespace, with one-line errors.
func (f *factory) clients(namespace string) (*action.Configuration, kubernetes.Interface, error) {
	cs, err := f.clientset()
	if err != nil {
		return nil, nil, err
	}
	cfg, err := f.actionConfig(namespace)
	if err != nil {
		return nil, nil, fmt.Errorf("%v", err)
	}
	return cfg, cs, nil
}
