package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-llama/kubectl-llama/plugin/version"
)

func newVersionCmd(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin, chart and default vLLM versions",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			info, err := version.Get()
			if err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "kubectl-llama %s\nchart vllm-llama %s\nvLLM image default %s\n", info.Plugin, info.Chart, info.VLLM)
			return nil
		},
	}
}
