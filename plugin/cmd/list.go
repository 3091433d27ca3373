package cmd

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-llama/kubectl-llama/plugin/helmx"
)

type listOptions struct {
	f             *factory
	allNamespaces bool
	output        string
	namespace     string
}

func newListCmd(f *factory) *cobra.Command {
	o := &listOptions{f: f}
	c := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the vllm-llama releases: model, GPU, status, readiness",
		Example: "  kubectl llama list\n  kubectl llama list -A -o json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	c.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list releases in every namespace")
	c.Flags().StringVarP(&o.output, "output", "o", "", "json or yaml (default: a table)")
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("json", "yaml"))
	return c
}

// Complete resolves the namespace.
func (o *listOptions) Complete() error {
	o.namespace = o.f.namespace()
	return nil
}

// Validate checks the output format.
func (o *listOptions) Validate() error {
	if o.output != "" && o.output != "json" && o.output != "yaml" {
		return fmt.Errorf("--output %q: use json or yaml", o.output)
	}
	return nil
}

// listItem is one release as list prints it (-o json|yaml).
type listItem struct {
	helmx.Info
	Ready string `json:"ready"`
	Age   string `json:"age"`
}

// Run lists releases.
func (o *listOptions) Run(ctx context.Context) error {
	ns := o.namespace
	if o.allNamespaces {
		ns = ""
	}
	cfg, cs, err := o.f.clients(ns)
	if err != nil {
		return err
	}
	rels, err := helmx.List(cfg, o.allNamespaces)
	if err != nil {
		return listError(err, o.namespace, o.allNamespaces)
	}
	items := make([]listItem, 0, len(rels))
	for _, r := range rels {
		in := helmx.ReleaseInfo(r)
		readDeployment(ctx, cs, &in)
		it := listItem{Info: in, Ready: "?", Age: "?"}
		if in.ReadyKnown {
			it.Ready = fmt.Sprintf("%d/%d", in.Ready, in.Desired)
		}
		if r.Info != nil && !r.Info.FirstDeployed.IsZero() {
			it.Age = duration.HumanDuration(o.f.now().Sub(r.Info.FirstDeployed.Time))
		}
		items = append(items, it)
	}
	out := o.f.streams.Out
	if o.output != "" {
		return printStructured(out, o.output, map[string]interface{}{"releases": items})
	}
	if len(items) == 0 {
		where := "namespace " + o.namespace
		if o.allNamespaces {
			where = "any namespace"
		}
		fmt.Fprintf(o.f.streams.ErrOut, "No vllm-llama releases found in %s.\n", where)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNAMESPACE\tMODEL\tGPU\tMODE\tSTATUS\tREADY\tAGE")
	for _, it := range items {
		model := it.Preset
		if model == "" {
			model = it.ModelID
		}
		gpu := it.GPU
		if it.GPUCount > 0 {
			gpu = fmt.Sprintf("%s x %d", it.GPU, it.GPUCount)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Name, it.Namespace, dash(model), dash(gpu), dash(it.Mode), it.Status, it.Ready, it.Age)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readDeployment fills the ready/desired replicas from the live Deployment.
func readDeployment(ctx context.Context, cs kubernetes.Interface, in *helmx.Info) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := cs.AppsV1().Deployments(in.Namespace).Get(ctx, in.Name, metav1.GetOptions{})
	if err != nil {
		return
	}
	in.ReadyKnown = true
	in.Ready = d.Status.ReadyReplicas
	in.Desired = 1
	if d.Spec.Replicas != nil {
		in.Desired = *d.Spec.Replicas
	}
}

// listError turns a storage error into one line.
func listError(err error, namespace string, all bool) error {
	if apierrors.IsForbidden(err) || strings.Contains(err.Error(), "forbidden") {
		if all {
			return fmt.Errorf("cannot list releases in all namespaces: no permission to list Secrets cluster-wide (Helm keeps release records in Secrets); drop -A to list namespace %s", namespace)
		}
		return fmt.Errorf("cannot list releases in namespace %s: no permission to list Secrets there (Helm keeps release records in Secrets); ask for list on secrets, or pick another -n", namespace)
	}
	return fmt.Errorf("listing releases: %s", helmx.CleanError(err))
}

// releaseCompletion completes release names from helm list (namespace-scoped, cheap).
func releaseCompletion(f *factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := f.actionConfig(f.namespace())
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		rels, err := helmx.List(cfg, false)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, r := range rels {
			if strings.HasPrefix(r.Name, toComplete) {
				names = append(names, r.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
