package helmx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// RenderOptions are the release facts a client-side render needs.
type RenderOptions struct {
	Release   string
	Namespace string
	// IsUpgrade renders as `helm template --is-upgrade`.
	IsUpgrade bool
}

// Render renders ch with vals entirely client-side (like `helm template`):
// no cluster is contacted. The chart's own checks (its `fail` fit check,
// values.schema.json) run here; their errors come back as one clean line.
func Render(ch *chart.Chart, vals map[string]interface{}, o RenderOptions) (*release.Release, error) {
	cfg := &action.Configuration{Log: func(string, ...interface{}) {}}
	inst := action.NewInstall(cfg)
	inst.ClientOnly = true
	inst.DryRun = true
	inst.DryRunOption = "client"
	inst.Replace = true // the name may exist in the cluster; we never look
	inst.ReleaseName = o.Release
	inst.Namespace = o.Namespace
	inst.IsUpgrade = o.IsUpgrade
	inst.KubeVersion = KubeVersion()
	inst.DisableHooks = true
	rel, err := inst.Run(ch, copyValues(vals))
	if err != nil {
		return nil, CleanError(err)
	}
	return rel, nil
}

func copyValues(v map[string]interface{}) map[string]interface{} {
	b, err := yaml.Marshal(v)
	if err != nil {
		return v
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}

var (
	// execution error at (vllm-llama/templates/deployment.yaml:3:4): MESSAGE
	execErrRe = regexp.MustCompile(`execution error at \([^)]*\): `)
	// template: vllm-llama/templates/x.yaml:1:2: executing "..." at <...>: error calling fail: MESSAGE
	tplErrRe = regexp.MustCompile(`template: \S+:\d+(:\d+)?: executing "[^"]*" at <[^>]*>: (error calling \w+: )?`)
	// values don't meet the specifications of the schema(s) in the following chart(s):\nvllm-llama:\n- at '/gpu/type': ...
	schemaHeadRe = regexp.MustCompile(`(?s)values don't meet the specifications of the schema\(s\) in the following chart\(s\):\s*[\w.-]+:\s*`)
)

// CleanError strips Helm's template-path noise from a render error so the
// user sees the chart's message as one line.
func CleanError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if schemaHeadRe.MatchString(msg) {
		body := schemaHeadRe.ReplaceAllString(msg, "")
		var items []string
		for _, l := range strings.Split(body, "\n") {
			l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
			if l != "" {
				items = append(items, l)
			}
		}
		return fmt.Errorf("invalid values: %s (fix that key in your -f file or --set; the chart's README lists every value with its type)", strings.Join(items, "; "))
	}
	if loc := execErrRe.FindStringIndex(msg); loc != nil {
		msg = msg[loc[1]:]
	} else if loc := tplErrRe.FindStringIndex(msg); loc != nil {
		msg = msg[loc[1]:]
	}
	return errors.New(oneLine(msg))
}

// Objects splits a rendered manifest stream into objects.
func Objects(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]interface{}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("parsing rendered manifest: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// Deployment returns the release's Deployment (named after the release) from
// a rendered manifest, or nil when the manifest has none.
func Deployment(manifest, release string) (*appsv1.Deployment, error) {
	objs, err := Objects(manifest)
	if err != nil {
		return nil, err
	}
	var first *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		if o.GetName() == release {
			first = o
			break
		}
		if first == nil {
			first = o
		}
	}
	if first == nil {
		return nil, nil
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(first.Object, &d); err != nil {
		return nil, fmt.Errorf("reading rendered Deployment: %w", err)
	}
	return &d, nil
}

// ManifestJSON turns a manifest stream into a v1 List, as kubectl -o json prints.
func ManifestJSON(manifest string) ([]byte, error) {
	objs, err := Objects(manifest)
	if err != nil {
		return nil, err
	}
	items := make([]interface{}, 0, len(objs))
	for _, o := range objs {
		items = append(items, o.Object)
	}
	list := map[string]interface{}{"apiVersion": "v1", "kind": "List", "items": items}
	var buf bytes.Buffer
	b, err := yaml.Marshal(list) // normalises key order
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, err
	}
	if err := indentJSON(&buf, j); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
