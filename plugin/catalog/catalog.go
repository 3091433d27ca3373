// Package catalog reads the model x GPU catalog that ships inside the chart
// (charts/vllm-llama/catalog.yaml). The chart's templates read the same file,
// so the plugin and the chart can never disagree about a preset or a GPU.
package catalog

import (
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-llama/kubectl-llama/charts"
)

// Shape is the cpu / memory / ephemeral-storage a pod with N GPUs requests.
type Shape struct {
	CPU              string `json:"cpu"`
	Memory           string `json:"memory"`
	EphemeralStorage string `json:"ephemeralStorage"`
}

// GPU is one GKE accelerator profile.
type GPU struct {
	Accelerator string           `json:"accelerator"`
	MachineType string           `json:"machineType"`
	MemoryGB    int              `json:"memoryGB"`
	FP8         bool             `json:"fp8"`
	Counts      []int            `json:"counts"`
	Shapes      map[string]Shape `json:"shapes"`
}

// Fit holds a preset's defaults on one GPU it fits.
type Fit struct {
	Count                int     `json:"count"`
	MinCount             int     `json:"minCount"`
	MaxModelLen          int     `json:"maxModelLen"`
	GPUMemoryUtilization float64 `json:"gpuMemoryUtilization,omitempty"`
	MaxNumSeqs           int     `json:"maxNumSeqs,omitempty"`
	Dtype                string  `json:"dtype,omitempty"`
	KVCacheDtype         string  `json:"kvCacheDtype,omitempty"`
	EphemeralStorage     string  `json:"ephemeralStorage"`
}

// Preset is one model of the catalog.
type Preset struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	Precision        string            `json:"precision"`
	WeightsGB        int               `json:"weightsGB"`
	DefaultGPU       string            `json:"defaultGPU"`
	LimitMMPerPrompt map[string]int    `json:"limitMMPerPrompt,omitempty"`
	Fits             map[string]Fit    `json:"fits"`
	Misfits          map[string]string `json:"misfits"`
}

// VLLMFlag is a vLLM flag that exists only in some image versions.
type VLLMFlag struct {
	AddedIn   string `json:"addedIn,omitempty"`
	RemovedIn string `json:"removedIn,omitempty"`
	Why       string `json:"why"`
}

// Catalog is the whole file.
type Catalog struct {
	VLLMFlags map[string]VLLMFlag `json:"vllmFlags"`
	GPUs      map[string]GPU      `json:"gpus"`
	Presets   map[string]Preset   `json:"presets"`
}

// Load parses the catalog embedded from the chart.
func Load() (*Catalog, error) {
	raw, err := charts.Catalog()
	if err != nil {
		return nil, err
	}
	return Parse(raw)
}

// Parse parses catalog YAML strictly: an unknown key is an error.
func Parse(raw []byte) (*Catalog, error) {
	var c Catalog
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return nil, fmt.Errorf("parsing model catalog: %w", err)
	}
	return &c, nil
}

// PresetNames returns the preset names, sorted.
func (c *Catalog) PresetNames() []string { return sortedKeys(c.Presets) }

// GPUNames returns the GPU profile names, sorted.
func (c *Catalog) GPUNames() []string { return sortedKeys(c.GPUs) }

// Preset returns the named preset or an error listing the known ones.
func (c *Catalog) Preset(name string) (Preset, error) {
	p, ok := c.Presets[name]
	if !ok {
		return Preset{}, fmt.Errorf("unknown model %q: choose one of %s, or pass --model-id org/name for a custom model", name, strings.Join(c.PresetNames(), ", "))
	}
	return p, nil
}

// GPU returns the named GPU profile or an error listing the known ones.
func (c *Catalog) GPU(name string) (GPU, error) {
	g, ok := c.GPUs[name]
	if !ok {
		return GPU{}, fmt.Errorf("unknown GPU %q: choose one of %s", name, strings.Join(c.GPUNames(), ", "))
	}
	return g, nil
}

// FitGPUs returns the GPUs a preset fits, sorted.
func (p Preset) FitGPUs() []string { return sortedKeys(p.Fits) }

// PresetByAccelerator returns the GPU profile name for a GKE accelerator label value.
func (c *Catalog) GPUByAccelerator(accelerator string) (string, bool) {
	for name, g := range c.GPUs {
		if g.Accelerator == accelerator {
			return name, true
		}
	}
	return "", false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
