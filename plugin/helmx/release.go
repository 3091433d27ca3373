package helmx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/kubectl-llama/kubectl-llama/charts"
	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
)

// LastRelease returns the newest revision of name, or nil when the release
// does not exist or its last revision is uninstalled (kept history): the
// `helm upgrade --install` test for "install it" (History with Max=1).
func LastRelease(cfg *action.Configuration, name string) (*release.Release, error) {
	h := action.NewHistory(cfg)
	h.Max = 1
	versions, err := h.Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, nil
	}
	last := versions[len(versions)-1]
	if last.Info != nil && last.Info.Status == release.StatusUninstalled {
		return nil, nil
	}
	return last, nil
}

// Uninstalled reports whether name has history whose last revision is
// uninstalled (an install must then replace it, as helm does).
func Uninstalled(cfg *action.Configuration, name string) bool {
	h := action.NewHistory(cfg)
	h.Max = 1
	versions, err := h.Run(name)
	return err == nil && len(versions) > 0 && versions[len(versions)-1].Info.Status == release.StatusUninstalled
}

// Get returns the latest revision of a release, with a one-line error when
// it does not exist.
func Get(cfg *action.Configuration, name, namespace string) (*release.Release, error) {
	rel, err := action.NewGet(cfg).Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("release %s not found in namespace %s: see `kubectl llama list -A`", name, namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("reading release %s: %s", name, oneLine(err.Error()))
	}
	return rel, nil
}

// Values returns the values a release was rendered with: the chart's
// defaults overlaid with the user-supplied values (helm get values --all).
func Values(rel *release.Release) (map[string]interface{}, error) {
	return Coalesce(rel.Chart, rel.Config)
}

// Info is what list shows for a release, read from the release record (the
// rendered Deployment's kubectl-llama.io/* annotations, then the values).
type Info struct {
	Name        string `json:"name"`
	Namespace   string `json:"namespace"`
	Revision    int    `json:"revision"`
	Preset      string `json:"preset,omitempty"`
	ModelID     string `json:"modelID"`
	GPU         string `json:"gpu"`
	GPUCount    int    `json:"gpuCount"`
	Accelerator string `json:"accelerator,omitempty"`
	Mode        string `json:"mode"`
	Status      string `json:"status"`
	Chart       string `json:"chart"`
	AppVersion  string `json:"appVersion,omitempty"`
	Updated     string `json:"updated"`
	// Ready and Desired are the Deployment's ready and desired replicas;
	// filled in by the caller, which has the cluster client.
	Ready   int32 `json:"readyReplicas"`
	Desired int32 `json:"replicas"`
	// ReadyKnown is false when the Deployment could not be read.
	ReadyKnown bool `json:"-"`
}

// ReleaseInfo extracts Info from a release record.
func ReleaseInfo(rel *release.Release) Info {
	in := Info{Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version}
	if rel.Info != nil {
		in.Status = rel.Info.Status.String()
		if !rel.Info.LastDeployed.IsZero() {
			in.Updated = rel.Info.LastDeployed.UTC().Format("2006-01-02T15:04:05Z")
		}
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		in.Chart = rel.Chart.Metadata.Name + "-" + rel.Chart.Metadata.Version
		in.AppVersion = rel.Chart.Metadata.AppVersion
	}
	if d, err := Deployment(rel.Manifest, rel.Name); err == nil && d != nil {
		a := d.Annotations
		in.Preset = a[kube.AnnPreset]
		in.ModelID = a[kube.AnnModelID]
		in.GPU = a[kube.AnnGPU]
		in.GPUCount, _ = strconv.Atoi(a[kube.AnnGPUCount])
		in.Accelerator = a[kube.AnnAccelerator]
		if d.Spec.Replicas != nil {
			in.Desired = *d.Spec.Replicas
		}
	}
	if vals, err := Values(rel); err == nil {
		if in.Preset == "" {
			in.Preset = String(vals, ValPreset)
		}
		if in.ModelID == "" {
			in.ModelID = String(vals, ValModelID)
		}
		if in.GPU == "" {
			in.GPU = String(vals, ValGPUType)
		}
		in.Mode = String(vals, ValMode)
	}
	return in
}

// IsOurChart reports whether a release was installed from the vllm-llama chart.
func IsOurChart(rel *release.Release) bool {
	return rel.Chart != nil && rel.Chart.Metadata != nil && rel.Chart.Metadata.Name == charts.ChartDir
}

// List returns the latest revision of every vllm-llama release in the
// configuration's namespace (or all namespaces when cfg was built with ""),
// sorted by namespace then name. Superseded and uninstalled revisions are
// left out, as `helm list` does.
func List(cfg *action.Configuration, allNamespaces bool) ([]*release.Release, error) {
	l := action.NewList(cfg)
	l.AllNamespaces = allNamespaces
	l.StateMask = action.ListDeployed | action.ListFailed | action.ListPendingInstall |
		action.ListPendingUpgrade | action.ListPendingRollback | action.ListUninstalling | action.ListUnknown
	rels, err := l.Run()
	if err != nil {
		return nil, err
	}
	var out []*release.Release
	for _, r := range rels {
		if IsOurChart(r) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func indentJSON(buf *bytes.Buffer, j []byte) error {
	if err := json.Indent(buf, j, "", "    "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	return nil
}
