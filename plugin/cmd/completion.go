package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCompletionCmd(f *factory) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script for kubectl-llama",
		Long: `Print a shell completion script for the kubectl-llama binary.

kubectl 1.26 and later complete plugins itself: put the kubectl_complete-llama
script (shipped next to the binary) on your PATH and "kubectl llama <TAB>"
works. For the kubectl-llama command itself:

  source <(kubectl llama completion bash)
  kubectl llama completion zsh > "${fpath[1]}/_kubectl-llama"
  kubectl llama completion fish > ~/.config/fish/completions/kubectl-llama.fish`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			// The scripts are generated for the root's name; as a plugin
			// binary it is kubectl-llama (the display name "kubectl llama"
			// would hijack kubectl's own completion).
			saved := root.Use
			root.Use = "kubectl-llama"
			defer func() { root.Use = saved }()
			out := f.streams.Out
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return fmt.Errorf("unknown shell %q: use bash, zsh, fish or powershell", args[0])
		},
	}
}
