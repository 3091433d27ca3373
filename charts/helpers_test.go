package charts_test

import (
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-llama/kubectl-llama/charts"
)

// release is the release name every render uses; objects are named after it.
const release = "llama"

// kubeVersion is the cluster version for client-only renders (Helm's SDK
// default would be v1.20, below the chart's kubeVersion).
var kubeVersion = &chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}

// rendered is one client-only install: manifests by kind/name, the hooks,
// NOTES and the raw manifest text.
type rendered struct {
	objects  map[string]map[string]any // "Kind/name" -> object
	hooks    map[string]map[string]any
	notes    string
	manifest string
}

// render installs the embedded chart client-side (DryRun + ClientOnly), as
// the plugin's pre-flight and `helm template` do.
func render(vals map[string]any) (*rendered, error) {
	ch, err := charts.Load()
	if err != nil {
		return nil, err
	}
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun = true
	inst.ClientOnly = true
	inst.ReleaseName = release
	inst.Namespace = "ai"
	inst.KubeVersion = kubeVersion
	rel, err := inst.Run(ch, vals)
	if err != nil {
		return nil, err
	}
	r := &rendered{objects: map[string]map[string]any{}, hooks: map[string]map[string]any{}, notes: rel.Info.Notes, manifest: rel.Manifest}
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		if err := addObject(r.objects, doc); err != nil {
			return nil, err
		}
	}
	for _, h := range rel.Hooks {
		r.manifest += "\n---\n" + h.Manifest
		if err := addObject(r.hooks, h.Manifest); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func addObject(into map[string]map[string]any, doc string) error {
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		return err
	}
	if obj == nil {
		return nil
	}
	md, _ := obj["metadata"].(map[string]any)
	into[obj["kind"].(string)+"/"+md["name"].(string)] = obj
	return nil
}

// mustRender renders or fails the test.
func mustRender(t *testing.T, vals map[string]any) *rendered {
	t.Helper()
	r, err := render(vals)
	if err != nil {
		t.Fatalf("render %v: %v", vals, err)
	}
	return r
}

// renderErr renders values that must fail and returns the error text.
func renderErr(t *testing.T, vals map[string]any) string {
	t.Helper()
	_, err := render(vals)
	if err == nil {
		t.Fatalf("render %v: want an error, got none", vals)
	}
	return err.Error()
}

// values builds a values map from dotted keys: v("gpu.type", "l4", ...).
func v(kv ...any) map[string]any {
	out := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		parts := strings.Split(kv[i].(string), ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = kv[i+1]
	}
	return out
}

// get walks a decoded object: get(obj, "spec", "template", "spec", "containers", 0, "args").
func get(obj any, path ...any) any {
	cur := obj
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

func (r *rendered) deployment(t *testing.T) map[string]any {
	t.Helper()
	d, ok := r.objects["Deployment/"+release]
	if !ok {
		t.Fatalf("no Deployment/%s in %v", release, keys(r.objects))
	}
	return d
}

func (r *rendered) container(t *testing.T) map[string]any {
	t.Helper()
	return get(r.deployment(t), "spec", "template", "spec", "containers", 0).(map[string]any)
}

func (r *rendered) args(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, a := range r.container(t)["args"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
