package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-llama/kubectl-llama/plugin/helmx"
)

// Helpers of the commands that watch and talk to a running release (wait,
// status, port-forward, chat, test, logs).

// servingClients returns the REST config (needed by port-forward only; nil
// when the kubeconfig has none), the clientset and the namespace.
func (f *factory) servingClients() (*rest.Config, kubernetes.Interface, string, error) {
	cs, err := f.clientset()
	if err != nil {
		return nil, nil, "", err
	}
	cfg, _ := f.flags.ToRESTConfig()
	return cfg, cs, f.namespace(), nil
}

// restConfig is the REST config, with a one-line error.
func (f *factory) restConfig() (*rest.Config, error) {
	cfg, err := f.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("no usable cluster in kubeconfig: %w (set --kubeconfig or --context, or KUBECONFIG)", err)
	}
	return cfg, nil
}

// signalContext ends on Ctrl-C or SIGTERM.
func signalContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// isTerminal reports whether a stream is a terminal.
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// helmInfo reads the release record for status (nil when there is none,
// e.g. a Deployment applied without Helm).
func (f *factory) helmInfo(ns, release string) *helmx.Info {
	cfg, err := f.actionConfig(ns)
	if err != nil {
		return nil
	}
	rel, err := helmx.Get(cfg, release, ns)
	if err != nil {
		return nil
	}
	in := helmx.ReleaseInfo(rel)
	return &in
}
