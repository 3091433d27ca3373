package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-llama/kubectl-llama/plugin/version"
)

func newVersionCmd(streams genericiooptions.IOStreams) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin, chart and default vLLM versions",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			info, err := version.Get()
			if err != nil {
				return err
			}
			switch output {
			case "":
				fmt.Fprintf(streams.Out, "kubectl-llama %s\nchart vllm-llama %s\nvLLM image default %s\n", info.Plugin, info.Chart, info.VLLM)
				return nil
			case "json", "yaml":
				return printStructured(streams.Out, output, info)
			}
			return fmt.Errorf("--output %q: use json or yaml", output)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "json or yaml")
	return c
}
