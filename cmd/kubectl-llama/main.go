// Command kubectl-llama is the kubectl plugin that installs, waits for and
// talks to Llama 4 models served by vLLM on Kubernetes GPUs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	// Auth plugins (exec credentials such as gke-gcloud-auth-plugin, OIDC).
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/kubectl-llama/kubectl-llama/plugin/cmd"
)

func main() {
	pflag.CommandLine = pflag.NewFlagSet("kubectl-llama", pflag.ExitOnError)
	root := cmd.NewRootCmd(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	// Ctrl-C ends a wait cleanly (the release stays as it is).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		cmd.PrintError(root.ErrOrStderr(), err)
		os.Exit(1)
	}
}
