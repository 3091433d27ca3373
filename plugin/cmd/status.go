package cmd

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-llama/kubectl-llama/plugin/ready"
	"github.com/kubectl-llama/kubectl-llama/plugin/status"
)

type statusOptions struct {
	releaseOptions
	output string
}

func newStatusCmd(f *factory) *cobra.Command {
	o := &statusOptions{releaseOptions: releaseOptions{f: f}}
	c := &cobra.Command{
		Use:   "status RELEASE",
		Short: "Show a release's model, Deployment and pods, and why it is not ready",
		Example: `  kubectl llama status scout
  kubectl llama status scout -o json`,
		Args: cobra.ExactArgs(1),
		RunE: runCommand(o),
	}
	c.Flags().StringVarP(&o.output, "output", "o", "", "output format: json or yaml (default: a human summary)")
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("json", "yaml"))
	return c
}

func (o *statusOptions) Validate() error {
	switch o.output {
	case "", "json", "yaml":
	default:
		return fmt.Errorf("--output %q: use json or yaml", o.output)
	}
	return validateReleaseName(o.release)
}

func (o *statusOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	_, cs, ns, err := o.f.servingClients()
	if err != nil {
		return err
	}
	snap, err := ready.Collect(ctx, cs, ns, o.release)
	if err != nil {
		return err
	}
	var h *status.HelmInfo
	if in := o.f.helmInfo(ns, o.release); in != nil {
		h = &status.HelmInfo{Revision: in.Revision, Status: in.Status, Chart: in.Chart, AppVersion: in.AppVersion, Updated: in.Updated, Preset: in.Preset, GPU: in.GPU}
	}
	if snap.Deployment == nil && h == nil {
		return fmt.Errorf("release %s not found in namespace %s: see kubectl llama list -A", o.release, ns)
	}
	var svc *corev1.Service
	if s, err := cs.CoreV1().Services(ns).Get(ctx, o.release, metav1.GetOptions{}); err == nil {
		svc = s
	}
	st := status.Build(ns, snap, svc, h)
	out := o.f.streams.Out
	switch o.output {
	case "json":
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(out, string(b))
	case "yaml":
		b, err := yaml.Marshal(st)
		if err != nil {
			return err
		}
		fmt.Fprint(out, string(b))
	default:
		status.Print(out, st)
	}
	return nil
}
