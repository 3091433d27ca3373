package helmx

import (
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"

	"github.com/kubectl-llama/kubectl-llama/charts"
)

// ChartSource says where the chart comes from. The zero value is the chart
// embedded in the binary.
type ChartSource struct {
	// Ref is a local chart directory or archive, an oci:// reference, or a
	// chart name inside Repo. Empty means the embedded chart (or, with Repo
	// set, the chart named vllm-llama in that repository).
	Ref string
	// Repo is a chart repository URL (helm's --repo).
	Repo string
	// Version is a chart version constraint for Repo or oci:// (helm's --version).
	Version string
}

// Embedded reports whether s selects the chart compiled into the binary.
func (s ChartSource) Embedded() bool { return s.Ref == "" && s.Repo == "" }

// String describes the source for progress output.
func (s ChartSource) String() string {
	switch {
	case s.Embedded():
		return "embedded chart"
	case s.Repo != "":
		return fmt.Sprintf("chart %s from %s%s", s.name(), s.Repo, versionSuffix(s.Version))
	default:
		return fmt.Sprintf("chart %s%s", s.Ref, versionSuffix(s.Version))
	}
}

func (s ChartSource) name() string {
	if s.Ref == "" {
		return charts.ChartDir
	}
	return s.Ref
}

func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return " version " + v
}

// LoadChart returns the chart s points at. Remote charts (repository URL or
// oci://) are downloaded through Helm's cache; rc is needed for oci://.
func LoadChart(s ChartSource, settings *cli.EnvSettings, rc *registry.Client) (*chart.Chart, error) {
	if s.Embedded() {
		if s.Version != "" {
			return nil, fmt.Errorf("--version needs --repo or an oci:// --chart: the embedded chart has one version")
		}
		return charts.Load()
	}
	if settings == nil {
		settings = cli.New()
	}
	// LocateChart lives on the Install action's ChartPathOptions; it is the
	// only way to give it a registry client.
	inst := action.NewInstall(&action.Configuration{RegistryClient: rc})
	inst.SetRegistryClient(rc)
	inst.ChartPathOptions.RepoURL = s.Repo
	inst.ChartPathOptions.Version = s.Version
	inst.ChartPathOptions.PlainHTTP = PlainHTTPFor(s.Ref)
	if registry.IsOCI(s.Ref) && rc == nil {
		return nil, fmt.Errorf("missing registry client for %s", s.Ref)
	}
	path, err := inst.ChartPathOptions.LocateChart(s.name(), settings)
	if err != nil {
		return nil, fmt.Errorf("locating %s: %s", s, oneLine(err.Error()))
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %s", s, oneLine(err.Error()))
	}
	if ch.Metadata.Name != charts.ChartDir {
		return nil, fmt.Errorf("%s is chart %q, not %s", s, ch.Metadata.Name, charts.ChartDir)
	}
	return ch, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
