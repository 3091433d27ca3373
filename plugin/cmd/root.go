// Package cmd holds the cobra commands of kubectl-llama. Each command is a
// thin wrapper: an Options struct with Complete / Validate / Run, and the work
// done in a library package under plugin/.
package cmd

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-llama/kubectl-llama/plugin/preflight"
)

// NewRootCmd builds the command tree. Nothing here is global: the streams and
// the kubeconfig flags are created per call, so tests build as many as they like.
func NewRootCmd(streams genericiooptions.IOStreams) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	return newRootCmd(streams, flags, newFactory(flags, streams))
}

// newRootCmd builds the tree around f; tests pass a factory with fakes.
func newRootCmd(streams genericiooptions.IOStreams, flags *genericclioptions.ConfigFlags, f *factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "kubectl llama",
		Short:         "Serve Llama 4 with vLLM on Kubernetes GPUs",
		Long:          "kubectl llama installs Llama 4 models served by vLLM on GKE GPUs through the vllm-llama Helm chart,\nwaits for them with a diagnosis of what is slow or broken, and talks to them.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl llama"},
		// completion is ours (completion.go): generated for kubectl-llama.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	flags.AddFlags(root.PersistentFlags())

	root.AddCommand(
		newVersionCmd(streams),
		newInstallCmd(f),
		newUpgradeCmd(f),
		newListCmd(f),
		newUninstallCmd(f),
		newModelsCmd(f),
		newCompletionCmd(f),
		newWaitCmd(f),
		newStatusCmd(f),
		newPortForwardCmd(f),
		newChatCmd(f),
		newTestCmd(f),
		newLogsCmd(f),
	)
	// Whatever the command, failing to reach the API server (wrong context,
	// TLS, an exec credential plugin missing or failing) reads as one line
	// naming the context and the fix.
	for _, c := range root.Commands() {
		if run := c.RunE; run != nil {
			c.RunE = func(c *cobra.Command, args []string) error {
				return preflight.Unreachable(f.target(), run(c, args))
			}
		}
	}
	return root
}

// PrintError writes err as kubectl does: one "error: ..." line on stderr.
func PrintError(w io.Writer, err error) {
	fmt.Fprintf(w, "error: %v\n", err)
}
