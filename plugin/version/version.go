// Package version reports the plugin's own version (linked in with
// -ldflags "-X github.com/kubectl-llama/kubectl-llama/plugin/version.version=vX.Y.Z")
// and the versions of the chart it embeds.
package version

import "github.com/kubectl-llama/kubectl-llama/charts"

// version is set at link time; "dev" marks a build without release ldflags.
var version = "v0.0.0-dev"

// Info is what `kubectl llama version` prints.
type Info struct {
	Plugin string `json:"plugin"`
	Chart  string `json:"chart"`
	VLLM   string `json:"vllm"`
}

// Plugin returns the plugin's version.
func Plugin() string { return version }

// Get returns the plugin version and the embedded chart's version and appVersion.
func Get() (Info, error) {
	ch, err := charts.Load()
	if err != nil {
		return Info{}, err
	}
	return Info{Plugin: version, Chart: ch.Metadata.Version, VLLM: ch.Metadata.AppVersion}, nil
}
