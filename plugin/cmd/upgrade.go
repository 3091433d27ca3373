package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kubectl-llama/kubectl-llama/plugin/catalog"
	"github.com/kubectl-llama/kubectl-llama/plugin/helmx"
)

const upgradeExample = `  # Longer context for the scout release
  kubectl llama upgrade scout --max-model-len 524288

  # Move a release to another model and GPU (the fit check runs again)
  kubectl llama upgrade mav --model maverick-instruct-fp8 --gpu h200

  # Start from the chart's defaults instead of the release's values
  kubectl llama upgrade scout --reset-values --gpu h200

  # See what an upgrade would deploy, changing nothing
  kubectl llama upgrade scout --max-model-len 65536 --dry-run`

type upgradeOptions struct {
	deployOptions
	preset      string
	install     bool
	reuseValues bool
	resetValues bool
}

func newUpgradeCmd(f *factory) *cobra.Command {
	o := &upgradeOptions{deployOptions: deployOptions{f: f}}
	c := &cobra.Command{
		Use:   "upgrade RELEASE",
		Short: "Change a release's model, GPU or settings, and wait for it",
		Long: `Upgrade a vllm-llama release with new values, then wait until it serves again.

By default the release's own values are kept and the new flags apply on top
(helm's --reset-then-reuse-values), so "upgrade scout --max-model-len N"
changes only the context length. --reset-values starts from the chart's
defaults, --reuse-values merges over the release's computed values (as helm).
The model may change (--model PRESET, --model-id) and so may the GPU; the
chart's fit check runs again before anything changes.`,
		Example:           upgradeExample,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: releaseCompletion(f),
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c)
		},
	}
	o.addFlags(c.Flags())
	c.Flags().Lookup("dry-run").Usage = "render the upgraded release (its kept values, the new flags, the same checks) and change nothing"
	c.Flags().StringVar(&o.preset, "model", "", "switch to this model preset")
	c.Flags().BoolVarP(&o.install, "install", "i", false, "install the release when it does not exist (the chart's default model unless --model)")
	c.Flags().BoolVar(&o.reuseValues, "reuse-values", false, "merge the new values over the release's computed values (helm's --reuse-values)")
	c.Flags().BoolVar(&o.resetValues, "reset-values", false, "start from the chart's default values, dropping the release's")
	o.values.registerCompletions(c)
	_ = c.RegisterFlagCompletionFunc("model", fixedCompletion(presetNames()...))
	return c
}

// Complete merges values and loads the chart.
func (o *upgradeOptions) Complete(args []string) error {
	o.release = args[0]
	o.values.flags.Preset = o.preset
	if err := o.completeCommon(); err != nil {
		return err
	}
	if _, set := helmx.Lookup(o.vals, helmx.ValModelID); o.preset != "" && !set {
		// A new preset brings its own model: a model id kept from the
		// release (a custom model or a fine-tune) would be served sized as
		// the new preset.
		helmx.SetPath(o.vals, helmx.ValModelID, "")
	}
	return nil
}

// Validate checks flag combinations.
func (o *upgradeOptions) Validate() error {
	if err := o.validateCommon(); err != nil {
		return err
	}
	if o.preset != "" && o.chart.source.Embedded() {
		cat, err := catalog.Load()
		if err != nil {
			return err
		}
		if _, err := cat.Preset(o.preset); err != nil {
			return err
		}
	}
	if o.reuseValues && o.resetValues {
		return fmt.Errorf("--reuse-values and --reset-values: pick one")
	}
	return nil
}

// Run upgrades (or installs with --install).
func (o *upgradeOptions) Run(c *cobra.Command) error {
	return o.run(c.Context(), true, o.install, o.reuseValues, o.resetValues)
}
