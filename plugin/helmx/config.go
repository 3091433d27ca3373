// Package helmx is the plugin's thin layer over the Helm SDK: an
// action.Configuration built from kubectl's ConfigFlags, chart sources
// (embedded, local path, repository URL, oci://), value merging, client-side
// rendering with clean error messages, and facts read back from releases.
// Release records are Helm's own (secrets driver by default), so `helm list`
// sees what the plugin installs and `helm upgrade` can take over.
package helmx

import (
	"fmt"
	"io"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// ClientOnlyKubeVersion is the Kubernetes version client-side renders assume.
// Without it the SDK assumes v1.20 and a chart's kubeVersion constraint fails.
const ClientOnlyKubeVersion = "v1.37.0"

// NewActionConfig returns a Helm action configuration that talks to the
// cluster selected by flags (--kubeconfig, --context, ...) and keeps release
// records in namespace ("" means every namespace, for list -A). driver is
// HELM_DRIVER ("" = secrets). The namespace is also written into flags so
// that Helm's kube client creates objects there (it takes the namespace from
// the RESTClientGetter, not from the action).
func NewActionConfig(flags *genericclioptions.ConfigFlags, namespace, driver string, log action.DebugLog) (*action.Configuration, error) {
	if namespace != "" {
		ns := namespace
		flags.Namespace = &ns
	}
	if log == nil {
		log = func(string, ...interface{}) {}
	}
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, driver, log); err != nil {
		return nil, fmt.Errorf("initialising Helm: %w", err)
	}
	rc, err := NewRegistryClient(io.Discard)
	if err != nil {
		return nil, err
	}
	cfg.RegistryClient = rc
	return cfg, nil
}

// NewRegistryClient returns the OCI registry client Helm needs for oci://
// charts (credentials from Helm's usual registry config file).
func NewRegistryClient(out io.Writer) (*registry.Client, error) {
	rc, err := registry.NewClient(registry.ClientOptEnableCache(true), registry.ClientOptWriter(out))
	if err != nil {
		return nil, fmt.Errorf("missing registry client: %w", err)
	}
	return rc, nil
}

// KubeVersion parses ClientOnlyKubeVersion.
func KubeVersion() *chartutil.KubeVersion {
	kv, err := chartutil.ParseKubeVersion(ClientOnlyKubeVersion)
	if err != nil {
		panic(err) // constant
	}
	return kv
}
