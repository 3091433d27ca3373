package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-llama/kubectl-llama/plugin/helmx"
	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
	"github.com/kubectl-llama/kubectl-llama/plugin/ready"
)

type waitOptions struct {
	releaseOptions
	timeout time.Duration
	quiet   bool
}

func newWaitCmd(f *factory) *cobra.Command {
	o := &waitOptions{releaseOptions: releaseOptions{f: f}}
	c := &cobra.Command{
		Use:   "wait RELEASE",
		Short: "Wait until a release's model server is ready, showing progress and the cause when it cannot get there",
		Long: `Wait until the release's Deployment has rolled out and is available.

While waiting it shows the pod's scheduling, image pull, container start and
the model download/load stage read from the vLLM log. It stops early, naming
the cause and the fix, when the release cannot become ready by itself (no GPU
node, bad image, missing Hugging Face Secret, gated model, a vLLM error).`,
		Example: "  kubectl llama wait scout\n  kubectl llama wait scout --timeout 45m --quiet",
		Args:    cobra.ExactArgs(1),
		RunE:    runCommand(o),
	}
	c.Flags().DurationVar(&o.timeout, "timeout", 0, "how long to wait (default: the Deployment's startup probe budget plus a scheduling margin)")
	c.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "no progress lines")
	return c
}

func (o *waitOptions) Validate() error {
	if o.timeout < 0 {
		return fmt.Errorf("--timeout must be positive")
	}
	return validateReleaseName(o.release)
}

func (o *waitOptions) Run(ctx context.Context) error {
	ctx, cancel := signalContext(ctx)
	defer cancel()
	_, cs, ns, err := o.f.servingClients()
	if err != nil {
		return err
	}
	timeout := o.timeout
	if timeout == 0 {
		d, err := kube.Deployment(ctx, cs, ns, o.release)
		if err != nil {
			return err
		}
		timeout = helmx.DefaultTimeout(d)
	}
	out := o.f.streams.Out
	return ready.Wait(ctx, cs, ns, o.release, ready.WaitOptions{Timeout: timeout, Out: out, Quiet: o.quiet, TTY: isTerminal(out)})
}
