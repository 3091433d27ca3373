package cmd

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubectl-llama/kubectl-llama/plugin/catalog"
	"github.com/kubectl-llama/kubectl-llama/plugin/helmx"
)

const installExample = `  # Llama 4 Scout on the GPU it was sized for (8 x H100), waiting until it serves
  export HF_TOKEN=hf_...
  kubectl llama install scout

  # Render the manifests only (no cluster needed)
  kubectl llama install scout --dry-run

  # Maverick FP8 on H100 in a GKE Standard cluster, release name "mav", namespace llm
  kubectl llama install maverick-instruct-fp8 mav --gpu h100 --mode standard -n llm --create-namespace

  # A fine-tune of Scout: the preset's GPU defaults with another model id
  kubectl llama install scout my-scout --model-id myorg/Llama-4-Scout-ft

  # Install, or upgrade when it exists (helm upgrade --install)
  kubectl llama install scout --upgrade --max-model-len 65536`

type installOptions struct {
	deployOptions
	upgrade bool
}

func newInstallCmd(f *factory) *cobra.Command {
	o := &installOptions{deployOptions: deployOptions{f: f}}
	c := &cobra.Command{
		Use:   "install MODEL [RELEASE]",
		Short: "Install a Llama 4 model served by vLLM (a Helm release of the vllm-llama chart)",
		Long: `Install a Llama 4 model served by vLLM as a Helm release of the vllm-llama chart.

MODEL is a preset (see kubectl llama models); RELEASE defaults to it. With
--model-id and no preset, MODEL may be left out: a custom model then needs
--gpu and --gpu-count. Before changing anything, install checks that the
cluster answers, the namespace exists, the model fits the GPU, the release is
new, the Hugging Face token is at hand ($HF_TOKEN, --hf-token-file or
--hf-token-stdin; stored in Secret hf-secret by server-side apply, never in
Helm values), and in GKE Standard that a node pool has the GPUs. Then it waits
until the model serves, showing progress, and names the cause if it cannot.`,
		Example: installExample,
		Args:    cobra.RangeArgs(0, 2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return presetNames(), cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
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
	c.Flags().BoolVar(&o.upgrade, "upgrade", false, "upgrade the release when it already exists (helm upgrade --install)")
	o.values.registerCompletions(c)
	return c
}

// Complete reads the positional arguments (MODEL [RELEASE]), merges the
// values and loads the chart.
func (o *installOptions) Complete(args []string) error {
	preset, release, err := parseModelArgs(args, o.values.flags.ModelID, o.chart.source.Embedded())
	if err != nil {
		return err
	}
	o.values.flags.Preset = preset
	o.release = release
	if preset == "" && o.values.flags.ModelID != "" {
		// A custom model: no preset at all (the chart's default is scout).
		if err := o.completeCommon(); err != nil {
			return err
		}
		helmx.SetPath(o.vals, helmx.ValPreset, "")
		return nil
	}
	return o.completeCommon()
}

// parseModelArgs resolves MODEL [RELEASE]. With --model-id a single
// argument that is not a preset is the release name.
func parseModelArgs(args []string, modelID string, checkCatalog bool) (preset, release string, err error) {
	cat, err := catalog.Load()
	if err != nil {
		return "", "", err
	}
	isPreset := func(s string) bool { _, ok := cat.Presets[s]; return ok }
	switch len(args) {
	case 0:
		if modelID == "" {
			return "", "", fmt.Errorf("which model? give a preset (%s) or --model-id org/name", strings.Join(cat.PresetNames(), ", "))
		}
		return "", releaseFromModelID(modelID), nil
	case 1:
		if isPreset(args[0]) || !checkCatalog {
			return args[0], args[0], nil
		}
		if modelID != "" {
			return "", args[0], nil
		}
	default:
		if isPreset(args[0]) || !checkCatalog {
			return args[0], args[1], nil
		}
	}
	_, err = cat.Preset(args[0])
	return "", "", err
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// releaseFromModelID derives a release name from org/Name: "name", lowercased.
func releaseFromModelID(id string) string {
	name := id[strings.LastIndex(id, "/")+1:]
	name = strings.Trim(nonName.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(name) > 53 {
		name = strings.TrimRight(name[:53], "-")
	}
	return name
}

// Validate checks flag combinations.
func (o *installOptions) Validate() error {
	if err := o.validateCommon(); err != nil {
		return err
	}
	if o.dryRun && o.upgrade {
		return fmt.Errorf("--dry-run renders a new release; drop --upgrade (or use kubectl llama upgrade --dry-run)")
	}
	return nil
}

// Run renders (--dry-run) or installs.
func (o *installOptions) Run(c *cobra.Command) error {
	if o.dryRun {
		return o.renderDryRun(false)
	}
	return o.run(c.Context(), false, o.upgrade, false, false)
}
