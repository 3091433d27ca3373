package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/registry"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-llama/kubectl-llama/plugin/deploy"
	"github.com/kubectl-llama/kubectl-llama/plugin/helmx"
	"github.com/kubectl-llama/kubectl-llama/plugin/hftoken"
	"github.com/kubectl-llama/kubectl-llama/plugin/ready"
)

// deployOptions are what install and upgrade share.
type deployOptions struct {
	f      *factory
	values valueOptions
	chart  chartOptions

	createNamespace bool
	wait            bool
	timeout         time.Duration
	atomic          bool
	quiet           bool
	dryRun          bool
	output          string
	skipPreflight   bool
	tokenFile       string
	tokenStdin      bool

	// Set by complete.
	release   string
	namespace string
	ch        *chart.Chart
	vals      map[string]interface{}
	token     hftoken.Token
}

func (o *deployOptions) addFlags(fs *pflag.FlagSet) {
	o.values.addFlags(fs)
	o.chart.addFlags(fs)
	fs.BoolVar(&o.createNamespace, "create-namespace", false, "create the namespace if it does not exist")
	fs.BoolVar(&o.wait, "wait", true, "wait until the model server is ready, showing progress and a diagnosis")
	fs.DurationVar(&o.timeout, "timeout", 0, "how long to wait (default: the chart's startup probe budget for the model plus 15m for scheduling and image pull)")
	fs.BoolVar(&o.atomic, "atomic", false, "if the wait fails, uninstall (new release) or roll back (upgrade) after printing the diagnosis")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "no progress output while waiting")
	fs.BoolVar(&o.dryRun, "dry-run", false, "render the manifests without contacting the cluster")
	fs.StringVarP(&o.output, "output", "o", "", "with --dry-run: yaml (default) or json")
	fs.BoolVar(&o.skipPreflight, "skip-preflight", false, "skip the cluster checks (reachability, namespace, GPU nodes)")
	fs.StringVar(&o.tokenFile, "hf-token-file", "", "read the Hugging Face token from this file (default: $HF_TOKEN)")
	fs.BoolVar(&o.tokenStdin, "hf-token-stdin", false, "read the Hugging Face token from standard input")
}

// completeCommon merges values, loads the chart and resolves the namespace.
// It never contacts the cluster.
func (o *deployOptions) completeCommon() error {
	o.namespace = o.f.namespace()
	vals, err := helmx.MergeValues(&o.values.helm, o.values.flags, o.f.helmSettings())
	if err != nil {
		return err
	}
	o.vals = vals
	var rc *registry.Client
	if registry.IsOCI(o.chart.source.Ref) {
		if rc, err = helmx.NewRegistryClient(o.f.streams.ErrOut, o.chart.source.Ref); err != nil {
			return err
		}
	}
	ch, err := helmx.LoadChart(o.chart.source, o.f.helmSettings(), rc)
	if err != nil {
		return err
	}
	o.ch = ch
	return nil
}

func (o *deployOptions) validateCommon() error {
	if err := o.values.validate(); err != nil {
		return err
	}
	if err := validateReleaseName(o.release); err != nil {
		return err
	}
	if o.output != "" && !o.dryRun {
		return fmt.Errorf("-o/--output needs --dry-run")
	}
	if o.output != "" && o.output != "yaml" && o.output != "json" {
		return fmt.Errorf("--output %q: use yaml or json", o.output)
	}
	if o.tokenFile != "" && o.tokenStdin {
		return fmt.Errorf("--hf-token-file and --hf-token-stdin: pick one")
	}
	if o.timeout < 0 {
		return fmt.Errorf("--timeout must be positive")
	}
	if o.atomic && !o.wait && !o.dryRun {
		return fmt.Errorf("--atomic undoes a release that does not become ready, so it needs the wait: drop --wait=false")
	}
	return nil
}

func (o *deployOptions) resolveToken() error {
	t, err := hftoken.Resolve(hftoken.Sources{File: o.tokenFile, Stdin: o.tokenStdin, In: o.f.streams.In, Env: o.f.getenv})
	if err != nil {
		return err
	}
	o.token = t
	return nil
}

// renderDryRun prints the manifests a client-side render produces.
func (o *deployOptions) renderDryRun(isUpgrade bool) error {
	vals := o.vals
	assumed := helmx.String(vals, helmx.ValMode) == ""
	if assumed {
		helmx.SetPath(vals, helmx.ValMode, helmx.ModeAutopilot)
	}
	rel, err := helmx.Render(o.ch, vals, helmx.RenderOptions{Release: o.release, Namespace: o.namespace, IsUpgrade: isUpgrade})
	if err != nil {
		return inPluginTerms(err)
	}
	if assumed {
		fmt.Fprintf(o.f.streams.ErrOut, "mode: autopilot (dry run: no cluster to detect it from; pass --mode standard for a Standard cluster)\n")
	}
	return o.printManifest(rel.Manifest)
}

// printManifest writes a rendered manifest as YAML (default) or, with -o
// json, as a v1 List.
func (o *deployOptions) printManifest(manifest string) error {
	out := o.f.streams.Out
	if o.output == "json" {
		b, err := helmx.ManifestJSON(manifest)
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	_, err := fmt.Fprint(out, manifest)
	if err == nil && len(manifest) > 0 && manifest[len(manifest)-1] != '\n' {
		fmt.Fprintln(out)
	}
	return err
}

func (o *deployOptions) run(ctx context.Context, upgrade, installOrUpgrade, reuse, reset bool) error {
	if err := o.resolveToken(); err != nil {
		return err
	}
	cfg, cs, err := o.f.clients(o.namespace)
	if err != nil {
		return err
	}
	env := deploy.Env{
		Action:    cfg,
		Clientset: cs,
		Target:    o.f.target(),
		Out:       o.f.streams.Out,
		ErrOut:    o.f.streams.ErrOut,
		Wait:      o.f.waiter,
	}
	res, err := deploy.Run(ctx, env, deploy.Request{
		Release:          o.release,
		Namespace:        o.namespace,
		Chart:            o.ch,
		Values:           o.vals,
		Upgrade:          upgrade,
		InstallOrUpgrade: installOrUpgrade,
		ReuseValues:      reuse,
		ResetValues:      reset,
		CreateNamespace:  o.createNamespace,
		Wait:             o.wait,
		Timeout:          o.timeout,
		Atomic:           o.atomic,
		Quiet:            o.quiet,
		SkipPreflight:    o.skipPreflight,
		Token:            o.token,
		DryRun:           o.dryRun,
	})
	if err != nil {
		return inPluginTerms(err)
	}
	if o.dryRun {
		return o.printManifest(res.Manifest)
	}
	if o.wait && !o.quiet && res.Release != nil {
		// The waiter has just said "<release> is ready".
		fmt.Fprintf(o.f.streams.Out, "\nNext:\n  kubectl llama chat %s -n %s \"San Francisco is a\"\n  kubectl llama port-forward %s -n %s   # OpenAI API on http://127.0.0.1:8080/v1, follows pod replacements\n",
			o.release, o.namespace, o.release, o.namespace)
	}
	return nil
}

// readyWaiter adapts ready.Wait to deploy.Waiter.
func readyWaiter(ctx context.Context, cs kubernetes.Interface, ns, release string, timeout time.Duration, out io.Writer, quiet bool) error {
	return ready.Wait(ctx, cs, ns, release, ready.WaitOptions{Timeout: timeout, Out: out, Quiet: quiet})
}

// printStructured writes v as json or yaml.
func printStructured(w io.Writer, format string, v interface{}) error {
	if format == "json" {
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
