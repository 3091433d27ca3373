package helmx

import (
	"errors"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
)

// Chart value names the plugin sets (the chart's contract, see
// charts/vllm-llama/values.yaml).
const (
	ValPreset         = "model.preset"
	ValModelID        = "model.id"
	ValGPUType        = "gpu.type"
	ValGPUCount       = "gpu.count"
	ValMode           = "gke.mode"
	ValMaxModelLen    = "maxModelLen"
	ValImageTag       = "image.tag"
	ValHFSecretName   = "hfToken.secretName"
	ValHFSecretKey    = "hfToken.secretKey"
	ValAPIKeyEnabled  = "apiKey.enabled"
	ValAPIKeySecret   = "apiKey.secretName"
	ValAPIKeyKey      = "apiKey.secretKey"
	DefaultHFSecret   = "hf-secret"
	DefaultHFKey      = "hf_api_token"
	ValHFCreate       = "hfToken.create"
	ValHFValue        = "hfToken.value"
	ValHFOptional     = "hfToken.optional"
	ModeAutopilot     = "autopilot"
	ModeStandard      = "standard"
	defaultAPIKeyName = "vllm-api-key"
	defaultAPIKeyKey  = "api_key"
)

// ValueFlags are the plugin's own flags that map onto chart values. Zero
// values mean "not given": the chart's default (or the release's value on
// upgrade) applies.
type ValueFlags struct {
	Preset      string // model.preset
	ModelID     string // model.id
	GPU         string // gpu.type
	GPUCount    int    // gpu.count
	Mode        string // gke.mode
	MaxModelLen int    // maxModelLen
	ImageTag    string // image.tag
}

// Map returns the flags as a nested values map.
func (f ValueFlags) Map() map[string]interface{} {
	m := map[string]interface{}{}
	set := func(path string, v interface{}) { SetPath(m, path, v) }
	if f.Preset != "" {
		set(ValPreset, f.Preset)
	}
	if f.ModelID != "" {
		set(ValModelID, f.ModelID)
	}
	if f.GPU != "" {
		set(ValGPUType, f.GPU)
	}
	if f.GPUCount != 0 {
		set(ValGPUCount, f.GPUCount)
	}
	if f.Mode != "" {
		set(ValMode, f.Mode)
	}
	if f.MaxModelLen != 0 {
		set(ValMaxModelLen, f.MaxModelLen)
	}
	if f.ImageTag != "" {
		set(ValImageTag, f.ImageTag)
	}
	return m
}

// MergeValues merges -f/--values, --set-json, --set, --set-string, ... exactly
// as helm does (helm's own values.Options), then the plugin's flags on top:
// an explicit --gpu beats a --set gpu.type.
func MergeValues(opts *values.Options, f ValueFlags, settings *cli.EnvSettings) (map[string]interface{}, error) {
	if settings == nil {
		settings = cli.New()
	}
	if opts == nil {
		opts = &values.Options{}
	}
	vals, err := opts.MergeValues(getter.All(settings))
	if err != nil {
		msg := oneLine(err.Error())
		if strings.HasPrefix(msg, "failed parsing --set") {
			msg += ": write KEY=VALUE pairs separated by commas, e.g. --set gpu.count=4,maxModelLen=65536"
		}
		return nil, errors.New(msg)
	}
	return chartutil.MergeTables(f.Map(), vals), nil
}

// SetPath sets a dotted path in a nested map, creating tables on the way.
func SetPath(m map[string]interface{}, path string, v interface{}) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// Lookup reads a dotted path from a nested map.
func Lookup(m map[string]interface{}, path string) (interface{}, bool) {
	var cur interface{} = m
	for _, p := range strings.Split(path, ".") {
		t, ok := cur.(map[string]interface{})
		if !ok {
			return nil, false
		}
		if cur, ok = t[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// String reads a dotted path as a string ("" when absent or not a string).
func String(m map[string]interface{}, path string) string {
	v, _ := Lookup(m, path)
	s, _ := v.(string)
	return s
}

// Bool reads a dotted path as a bool.
func Bool(m map[string]interface{}, path string) bool {
	v, _ := Lookup(m, path)
	b, _ := v.(bool)
	return b
}

// Coalesce returns the values a render of ch with user values vals sees:
// the chart's defaults overlaid with vals.
func Coalesce(ch *chart.Chart, vals map[string]interface{}) (map[string]interface{}, error) {
	out, err := chartutil.CoalesceValues(ch, vals)
	if err != nil {
		return nil, err
	}
	return out.AsMap(), nil
}

// HFSecret returns the name and key of the Hugging Face token Secret the
// coalesced values point at (defaults hf-secret / hf_api_token).
func HFSecret(coalesced map[string]interface{}) (name, key string) {
	name, key = String(coalesced, ValHFSecretName), String(coalesced, ValHFSecretKey)
	if name == "" {
		name = DefaultHFSecret
	}
	if key == "" {
		key = DefaultHFKey
	}
	return name, key
}

// APIKeySecret returns whether the release serves behind an API key and the
// Secret name and key holding it (the chart's apiKey.* values, defaults
// vllm-api-key / api_key). Read the key with the clientset; never print it.
func APIKeySecret(coalesced map[string]interface{}) (enabled bool, name, key string) {
	enabled = Bool(coalesced, ValAPIKeyEnabled)
	name, key = String(coalesced, ValAPIKeySecret), String(coalesced, ValAPIKeyKey)
	if name == "" {
		name = defaultAPIKeyName
	}
	if key == "" {
		key = defaultAPIKeyKey
	}
	return enabled, name, key
}
