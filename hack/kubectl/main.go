// Command kubectl is upstream kubectl (k8s.io/kubernetes/cmd/kubectl,
// Apache-2.0, The Kubernetes Authors), built from this small module at the
// test control plane's version so that tools which shell out to kubectl
// (chart-testing's ct install) do not depend on one being installed.
// It is a build tool of this repository, never shipped (make tools).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Client auth plugins, as upstream.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
