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
	"net"
	"net/http"
	"strings"

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
	rc, err := NewRegistryClient(io.Discard, "")
	if err != nil {
		return nil, err
	}
	cfg.RegistryClient = rc
	return cfg, nil
}

// NewRegistryClient returns the OCI registry client Helm needs for oci://
// charts (credentials from Helm's usual registry config file). ref is the
// oci:// reference to pull, or "". Plain HTTP is used only for a loopback
// registry (a local test registry); any other registry is TLS only: Helm v3's
// default transport would silently retry a registry over plain HTTP when its
// TLS handshake is answered in HTTP, so the client gets a transport without
// that fallback.
func NewRegistryClient(out io.Writer, ref string) (*registry.Client, error) {
	opts := []registry.ClientOption{registry.ClientOptEnableCache(true), registry.ClientOptWriter(out)}
	if PlainHTTPFor(ref) {
		opts = append(opts, registry.ClientOptPlainHTTP())
	} else {
		opts = append(opts, registry.ClientOptHTTPClient(&http.Client{Transport: registry.NewTransport(false)}))
	}
	rc, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("missing registry client: %w", err)
	}
	return rc, nil
}

// PlainHTTPFor reports whether ref is an oci:// reference to a registry on a
// loopback address (127.0.0.0/8, ::1 or localhost), the only registries the
// plugin talks to without TLS.
func PlainHTTPFor(ref string) bool {
	if !registry.IsOCI(ref) {
		return false
	}
	hostport := strings.TrimPrefix(ref, "oci://")
	if i := strings.IndexByte(hostport, '/'); i >= 0 {
		hostport = hostport[:i]
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// KubeVersion parses ClientOnlyKubeVersion.
func KubeVersion() *chartutil.KubeVersion {
	kv, err := chartutil.ParseKubeVersion(ClientOnlyKubeVersion)
	if err != nil {
		panic(err) // constant
	}
	return kv
}
