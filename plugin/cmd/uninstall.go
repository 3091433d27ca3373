package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-llama/kubectl-llama/plugin/helmx"
	"github.com/kubectl-llama/kubectl-llama/plugin/hftoken"
)

type uninstallOptions struct {
	releaseOptions
	namespace    string
	deleteSecret bool
	wait         bool
	timeout      time.Duration
}

func newUninstallCmd(f *factory) *cobra.Command {
	o := &uninstallOptions{releaseOptions: releaseOptions{f: f}}
	c := &cobra.Command{
		Use:               "uninstall RELEASE",
		Aliases:           []string{"delete"},
		Short:             "Remove a release (keeps the Hugging Face token Secret unless --delete-secret)",
		Example:           "  kubectl llama uninstall scout\n  kubectl llama uninstall scout --delete-secret --wait",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: releaseCompletion(f),
		RunE:              runCommand(o),
	}
	c.Flags().BoolVar(&o.deleteSecret, "delete-secret", false, "also delete the Hugging Face token Secret, if kubectl-llama created it and no other release uses it")
	c.Flags().BoolVar(&o.wait, "wait", false, "wait until the release's objects are gone")
	c.Flags().DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for each deletion")
	return c
}

// Complete reads the release name and namespace.
func (o *uninstallOptions) Complete(args []string) error {
	o.namespace = o.f.namespace()
	return o.releaseOptions.Complete(args)
}

// Validate checks the release name.
func (o *uninstallOptions) Validate() error {
	return validateReleaseName(o.release)
}

// Run uninstalls.
func (o *uninstallOptions) Run(ctx context.Context) error {
	cfg, cs, err := o.f.clients(o.namespace)
	if err != nil {
		return err
	}
	rel, err := helmx.Get(cfg, o.release, o.namespace)
	if err != nil {
		return err
	}
	if !helmx.IsOurChart(rel) {
		return fmt.Errorf("release %s in namespace %s is chart %s, not vllm-llama: use helm uninstall", o.release, o.namespace, rel.Chart.Metadata.Name)
	}
	vals, err := helmx.Values(rel)
	if err != nil {
		return err
	}
	secret, _ := helmx.HFSecret(vals)

	un := action.NewUninstall(cfg)
	un.Wait = o.wait
	un.Timeout = o.timeout
	if _, err := un.Run(o.release); err != nil {
		return fmt.Errorf("uninstalling %s: %s", o.release, helmx.CleanError(err))
	}
	fmt.Fprintf(o.f.streams.Out, "release %s uninstalled from namespace %s\n", o.release, o.namespace)

	if !o.deleteSecret {
		if _, err := cs.CoreV1().Secrets(o.namespace).Get(ctx, secret, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			fmt.Fprintf(o.f.streams.ErrOut, "Secret %s (Hugging Face token) kept; --delete-secret removes it\n", secret)
		}
		return nil
	}
	// Another release of the namespace may still read the same Secret.
	if others, err := helmx.List(cfg, false); err == nil {
		for _, r := range others {
			if r.Name == o.release {
				continue
			}
			if v, err := helmx.Values(r); err == nil {
				if s, _ := helmx.HFSecret(v); s == secret {
					fmt.Fprintf(o.f.streams.ErrOut, "Secret %s kept: release %s uses it too\n", secret, r.Name)
					return nil
				}
			}
		}
	}
	deleted, why, err := hftoken.DeleteIfManaged(ctx, cs, o.namespace, secret)
	if err != nil {
		return fmt.Errorf("deleting Secret %s: %s", secret, helmx.CleanError(err))
	}
	if deleted {
		fmt.Fprintf(o.f.streams.Out, "Secret %s deleted\n", secret)
	} else {
		fmt.Fprintf(o.f.streams.ErrOut, "Secret %s kept: %s\n", secret, why)
	}
	return nil
}
