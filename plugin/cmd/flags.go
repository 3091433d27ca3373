package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"

	"github.com/kubectl-llama/kubectl-llama/plugin/catalog"
	"github.com/kubectl-llama/kubectl-llama/plugin/helmx"
)

// valueOptions are the flags install and upgrade share: the plugin's own
// value flags plus helm's -f/--set family.
type valueOptions struct {
	flags helmx.ValueFlags
	helm  values.Options
}

func (v *valueOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&v.flags.GPU, "gpu", "", "GPU profile: "+strings.Join(gpuNames(), ", ")+" (default: the model's, see kubectl llama models)")
	fs.IntVar(&v.flags.GPUCount, "gpu-count", 0, "GPUs per pod (default: the model's count on that GPU)")
	fs.StringVar(&v.flags.Mode, "mode", "", "GKE mode: autopilot or standard (default: detected from the cluster)")
	fs.IntVar(&v.flags.MaxModelLen, "max-model-len", 0, "vLLM --max-model-len (default: the model's on that GPU)")
	fs.StringVar(&v.flags.ImageTag, "image-tag", "", "vLLM image tag (default: the chart's appVersion)")
	fs.StringVar(&v.flags.ModelID, "model-id", "", "Hugging Face model id (org/name): replaces the preset's, or a custom model without a preset")
	fs.StringSliceVarP(&v.helm.ValueFiles, "values", "f", nil, "values file or URL (can repeat)")
	fs.StringArrayVar(&v.helm.Values, "set", nil, "set values on the command line (key1=val1,key2=val2; can repeat)")
	fs.StringArrayVar(&v.helm.StringValues, "set-string", nil, "set STRING values on the command line (can repeat)")
	fs.StringArrayVar(&v.helm.JSONValues, "set-json", nil, "set JSON values on the command line (can repeat)")
	fs.StringArrayVar(&v.helm.FileValues, "set-file", nil, "set values from files (key=path; can repeat)")
}

func (v *valueOptions) registerCompletions(c *cobra.Command) {
	_ = c.RegisterFlagCompletionFunc("gpu", fixedCompletion(gpuNames()...))
	_ = c.RegisterFlagCompletionFunc("mode", fixedCompletion(helmx.ModeAutopilot, helmx.ModeStandard))
}

func (v *valueOptions) validate() error {
	if m := v.flags.Mode; m != "" && m != helmx.ModeAutopilot && m != helmx.ModeStandard {
		return fmt.Errorf("--mode %q: use autopilot or standard", m)
	}
	if v.flags.GPU != "" {
		cat, err := catalog.Load()
		if err != nil {
			return err
		}
		if _, err := cat.GPU(v.flags.GPU); err != nil {
			return err
		}
	}
	if v.flags.GPUCount < 0 || v.flags.MaxModelLen < 0 {
		return fmt.Errorf("--gpu-count and --max-model-len must be positive")
	}
	if id := v.flags.ModelID; id != "" && strings.Count(id, "/") != 1 {
		return fmt.Errorf("--model-id %q: use a Hugging Face id, org/name", id)
	}
	return nil
}

// chartOptions select the chart.
type chartOptions struct {
	source helmx.ChartSource
}

func (c *chartOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.source.Ref, "chart", "", "chart to use instead of the embedded one: a local path, an oci:// reference, or a chart name in --repo")
	fs.StringVar(&c.source.Repo, "repo", "", "chart repository URL")
	fs.StringVar(&c.source.Version, "version", "", "chart version constraint (with --repo or an oci:// --chart)")
}

func validateReleaseName(name string) error {
	if err := chartutil.ValidateReleaseName(name); err != nil {
		return fmt.Errorf("invalid release name %q: use lowercase letters, digits and '-', at most 53 characters", name)
	}
	return nil
}

func gpuNames() []string {
	cat, err := catalog.Load()
	if err != nil {
		return nil
	}
	return cat.GPUNames()
}

func presetNames() []string {
	cat, err := catalog.Load()
	if err != nil {
		return nil
	}
	return cat.PresetNames()
}

func fixedCompletion(words ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return words, cobra.ShellCompDirectiveNoFileComp
	}
}

// valueToFlag names the plugin flag for a chart value in chart messages
// ("use gpu.type one of: ..." reads "use --gpu one of: ..." here).
var valueToFlag = strings.NewReplacer(
	"gpu.type", "--gpu",
	"gpu.count", "--gpu-count",
	"gke.mode", "--mode",
	"image.tag", "--image-tag",
)

func inPluginTerms(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(valueToFlag.Replace(err.Error()))
}
