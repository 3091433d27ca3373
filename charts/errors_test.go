package charts_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/kubectl-llama/kubectl-llama/plugin/catalog"
)

// helmPrefix is what Helm puts before a template's fail message; the plugin
// strips it the same way (see FailMessage in the report of issue 2).
var helmPrefix = regexp.MustCompile(`^execution error at \([^)]*\): `)

const presetList = "maverick, maverick-instruct, maverick-instruct-fp8, scout, scout-instruct"

// Every fit-check failure: one line naming the model, the GPU, why, and what
// to do instead.
func TestFitCheckMessages(t *testing.T) {
	cases := []struct {
		name string
		vals map[string]any
		want string
	}{
		{"unknown preset", v("model.preset", "llama3"),
			`unknown model.preset "llama3": choose one of ` + presetList + `, or set model.preset="" and model.id for a custom model`},
		{"unknown gpu", v("gpu.type", "tpu"),
			`unknown gpu.type "tpu": choose one of a100-40gb, a100-80gb, b200, h100, h100-mega, h200, l4`},
		{"maverick BF16 on h100", v("model.preset", "maverick", "gpu.type", "h100"),
			"model maverick (meta-llama/Llama-4-Maverick-17B-128E) does not fit on gpu h100 (nvidia-h100-80gb): BF16 weights (about 804 GB) exceed 8 x 80 GB = 640 GB of GPU memory; maverick-instruct-fp8 fits h100; use gpu.type one of: b200, h200"},
		{"maverick-instruct BF16 on a100-80gb", v("model.preset", "maverick-instruct", "gpu.type", "a100-80gb"),
			"model maverick-instruct (meta-llama/Llama-4-Maverick-17B-128E-Instruct) does not fit on gpu a100-80gb (nvidia-a100-80gb): BF16 weights (about 804 GB) exceed 8 x 80 GB = 640 GB of GPU memory; use gpu.type one of: b200, h200"},
		{"maverick BF16 on l4", v("model.preset", "maverick", "gpu.type", "l4"),
			"model maverick (meta-llama/Llama-4-Maverick-17B-128E) does not fit on gpu l4 (nvidia-l4): BF16 weights (about 804 GB) exceed 8 x 24 GB = 192 GB of GPU memory; use gpu.type one of: b200, h200"},
		{"FP8 on A100", v("model.preset", "maverick-instruct-fp8", "gpu.type", "a100-80gb"),
			"model maverick-instruct-fp8 (meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8) does not fit on gpu a100-80gb (nvidia-a100-80gb): A100 has no native FP8 support (vLLM fails with unsupported FP8); use an INT4 (w4a16) build with model.id; use gpu.type one of: b200, h100, h100-mega, h200"},
		{"FP8 on A100 40GB", v("model.preset", "maverick-instruct-fp8", "gpu.type", "a100-40gb"),
			"model maverick-instruct-fp8 (meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8) does not fit on gpu a100-40gb (nvidia-tesla-a100): A100 has no native FP8 support (vLLM fails with unsupported FP8); use an INT4 (w4a16) build with model.id; use gpu.type one of: b200, h100, h100-mega, h200"},
		{"scout BF16 on l4", v("model.preset", "scout", "gpu.type", "l4"),
			"model scout (meta-llama/Llama-4-Scout-17B-16E) does not fit on gpu l4 (nvidia-l4): BF16 weights (about 218 GB) exceed 8 x 24 GB = 192 GB of GPU memory; use gpu.type one of: a100-40gb, a100-80gb, b200, h100, h100-mega, h200"},
		{"autopilot count not offered", v("gpu.count", 3),
			"gpu.count 3 is not offered by h100 (nvidia-h100-80gb) on GKE Autopilot: allowed counts are 1, 2, 4, 8"},
		{"autopilot h200 count", v("model.preset", "maverick", "gpu.count", 4),
			"gpu.count 4 is not offered by h200 (nvidia-h200-141gb) on GKE Autopilot: allowed counts are 8"},
		{"nodeSelector overriding the accelerator", v("nodeSelector", map[string]any{"cloud.google.com/gke-accelerator": "nvidia-h200-141gb"}),
			"nodeSelector cloud.google.com/gke-accelerator=nvidia-h200-141gb conflicts with the chart's nvidia-h100-80gb: the chart selects GPU nodes from gpu.type and gpu.count; remove it from nodeSelector and set those instead"},
		{"standard count not offered", v("gpu.count", 3, "gke.mode", "standard"),
			"gpu.count 3 is not offered by h100 (nvidia-h100-80gb): its GKE machine types have 1, 2, 4, 8 GPUs"},
		{"below minCount", v("gpu.count", 2),
			"model scout needs at least 4 x h100 GPUs: its weights (about 218 GB) do not fit in 2 x 80 GB; set gpu.count to one of 4, 8"},
		{"below minCount a100-40gb", v("model.preset", "scout-instruct", "gpu.type", "a100-40gb", "gpu.count", 4),
			"model scout-instruct needs at least 8 x a100-40gb GPUs: its weights (about 218 GB) do not fit in 4 x 40 GB; set gpu.count to one of 8, 16"},
		{"no model at all", v("model.preset", ""),
			"no model: set model.preset to one of " + presetList + ", or model.id (with gpu.type, gpu.count and model.weightsGB) for a custom model"},
		{"custom model without settings", v("model.preset", "", "model.id", "org/m"),
			"custom model org/m (model.preset is empty) needs gpu.type, gpu.count, model.weightsGB (or probes.startup.failureThreshold): set them, or use a preset (" + presetList + ")"},
		{"custom model missing count", v("model.preset", "", "model.id", "org/m", "gpu.type", "l4", "model.weightsGB", 16),
			"custom model org/m (model.preset is empty) needs gpu.count: set them, or use a preset (" + presetList + ")"},
		{"custom model too big", v("model.preset", "", "model.id", "org/m", "gpu.type", "l4", "gpu.count", 1, "model.weightsGB", 30),
			"custom model org/m (about 30 GB of weights) does not fit in 1 x l4 (24 GB of GPU memory): raise gpu.count or choose a larger gpu.type"},
		{"custom model unknown gpu", v("model.preset", "", "model.id", "org/m", "gpu.type", "v100", "gpu.count", 1, "model.weightsGB", 3),
			`unknown gpu.type "v100": choose one of a100-40gb, a100-80gb, b200, h100, h100-mega, h200, l4`},
		{"bad model id", v("model.id", "not a model"),
			`model.id "not a model" is not a model id: use a Hugging Face id such as org/name`},
		{"flag removed in the image's vLLM", v("image.tag", "v0.18.0", "extraArgs", []any{"--swap_space=4"}),
			"extraArgs: --swap-space is not accepted by vLLM 0.18.0 (image tag v0.18.0): --swap-space was removed from vLLM's engine arguments in v0.18.0"},
		{"gcsfuse without bucket", v("cache.type", "gcsfuse"),
			"cache.type is gcsfuse but cache.gcsfuse.bucket is empty: set cache.gcsfuse.bucket to a Cloud Storage bucket name"},
		{"tensor parallelism beyond the GPUs", v("model.tensorParallelSize", 16),
			"model.tensorParallelSize 16 exceeds the pod's 8 GPUs (gpu.count): vLLM runs one tensor-parallel rank per GPU; lower it or raise gpu.count"},
		{"LoadBalancer without an API key", v("service.type", "LoadBalancer"),
			"service.type LoadBalancer would expose vLLM's API outside the cluster without authentication: set apiKey.enabled=true (with apiKey.secretName), or keep service.type ClusterIP and use kubectl llama port-forward"},
		{"NodePort without an API key", v("service.type", "NodePort"),
			"service.type NodePort would expose vLLM's API outside the cluster without authentication: set apiKey.enabled=true (with apiKey.secretName), or keep service.type ClusterIP and use kubectl llama port-forward"},
		{"podLabels overriding a selector label", v("podLabels", map[string]any{"app.kubernetes.io/instance": "other"}),
			"podLabels app.kubernetes.io/instance=other conflicts with the chart's own label app.kubernetes.io/instance=llama: remove it from podLabels (the model label comes from model.name)"},
		{"podAnnotations overriding the gcsfuse annotation", v("cache.type", "gcsfuse", "cache.gcsfuse.bucket", "b", "podAnnotations", map[string]any{"gke-gcsfuse/volumes": "false"}),
			"podAnnotations gke-gcsfuse/volumes=false conflicts with the chart's own annotation gke-gcsfuse/volumes=true: remove it from podAnnotations"},
		{"hfToken.create without value", v("hfToken.create", true),
			"hfToken.create is true but hfToken.value is empty: set hfToken.value, or (better) create the Secret yourself and leave hfToken.create false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := renderErr(t, c.vals)
			if !helmPrefix.MatchString(msg) {
				t.Fatalf("not a template fail: %q", msg)
			}
			got := helmPrefix.ReplaceAllString(msg, "")
			if got != c.want {
				t.Errorf("message\n got: %s\nwant: %s", got, c.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("message is not one line: %q", got)
			}
		})
	}
}

// Every misfit the catalog lists, not only the ones above, fails rendering
// with its reason and the GPUs that fit, and so does every GPU the catalog
// has that a preset lists neither way (none today: the chart refuses that).
func TestEveryCatalogMisfitFails(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range cat.PresetNames() {
		p := cat.Presets[name]
		for _, gpu := range cat.GPUNames() {
			if _, fits := p.Fits[gpu]; fits {
				continue
			}
			n++
			t.Run(name+"/"+gpu, func(t *testing.T) {
				why, ok := p.Misfits[gpu]
				if !ok {
					t.Fatalf("catalog: %s lists %s neither as a fit nor as a misfit", name, gpu)
				}
				got := helmPrefix.ReplaceAllString(renderErr(t, v("model.preset", name, "gpu.type", gpu)), "")
				want := fmt.Sprintf("model %s (%s) does not fit on gpu %s (%s): %s; use gpu.type one of: %s",
					name, p.ID, gpu, cat.GPUs[gpu].Accelerator, why, strings.Join(p.FitGPUs(), ", "))
				if got != want {
					t.Errorf("message\n got: %s\nwant: %s", got, want)
				}
			})
		}
	}
	if n < 10 {
		t.Errorf("only %d misfits in the catalog: is it the Llama 4 catalog?", n)
	}
}

// Every schema rejection names the key and what is wrong.
func TestSchemaMessages(t *testing.T) {
	cases := []struct {
		name string
		vals map[string]any
		want string
	}{
		{"unknown top-level key", v("modle", map[string]any{"preset": "scout"}), "at '': additional properties 'modle' not allowed"},
		{"unknown nested key", v("model.presett", "scout"), "at '/model': additional properties 'presett' not allowed"},
		{"gpu.count type", v("gpu.count", "eight"), "at '/gpu/count': got string, want integer"},
		{"gpu.count negative", v("gpu.count", -1), "at '/gpu/count': minimum: got -1, want 0"},
		{"gke.mode enum", v("gke.mode", "gdc"), "at '/gke/mode': value must be one of 'autopilot', 'standard'"},
		{"cache.type enum", v("cache.type", "nfs"), "at '/cache/type': value must be one of 'emptyDir', 'pvc', 'gcsfuse'"},
		{"extraArgs type", v("extraArgs", "--foo"), "at '/extraArgs': got string, want array"},
		{"apiKey.enabled type", v("apiKey.enabled", "yes"), "at '/apiKey/enabled': got string, want boolean"},
		{"gpuMemoryUtilization range", v("model.gpuMemoryUtilization", 1.5), "at '/model/gpuMemoryUtilization': maximum: got 1.5, want 1"},
		{"gpuMemoryUtilization text", v("model.gpuMemoryUtilization", "most"), "at '/model/gpuMemoryUtilization': 'most' does not match pattern"},
		{"image.pullPolicy enum", v("image.pullPolicy", "Sometimes"), "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'"},
		{"service.type enum", v("service.type", "ExternalName"), "at '/service/type': value must be one of 'ClusterIP', 'NodePort', 'LoadBalancer'"},
		{"interval format", v("monitoring.podMonitoring.interval", "often"), "at '/monitoring/podMonitoring/interval': 'often' does not match pattern"},
		{"no fullnameOverride (objects are named after the release)", v("fullnameOverride", "x"), "additional properties 'fullnameOverride' not allowed"},
		{"probe period", v("probes.startup.periodSeconds", 0), "at '/probes/startup/periodSeconds': minimum: got 0, want 1"},
		{"gpuMemoryUtilization zero as text", v("model.gpuMemoryUtilization", "0"), "at '/model/gpuMemoryUtilization': '0' does not match pattern"},
		{"dtype typo", v("model.dtype", "bf16"), "at '/model/dtype': value must be one of '', 'auto', 'half', 'float16', 'bfloat16', 'float', 'float32'"},
		{"kvCacheDtype typo", v("model.kvCacheDtype", "fp16"), "at '/model/kvCacheDtype': value must be one of '', 'auto', 'fp8', 'fp8_e4m3', 'fp8_e5m2'"},
		{"unbounded shm", v("shm.sizeLimit", ""), "at '/shm/sizeLimit': '' does not match pattern"},
		{"memory without unit letters", v("resources.memory", "lots"), "at '/resources/memory': 'lots' does not match pattern"},
		{"pdb negative", v("podDisruptionBudget.minAvailable", -1), "at '/podDisruptionBudget/minAvailable': minimum: got -1, want 0"},
		{"pdb text", v("podDisruptionBudget.maxUnavailable", "half"), "at '/podDisruptionBudget/maxUnavailable': 'half' does not match pattern"},
		{"secret name", v("hfToken.secretName", "HF_Secret"), "at '/hfToken/secretName': 'HF_Secret' does not match pattern"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := renderErr(t, c.vals)
			if !strings.Contains(msg, "values don't meet the specifications of the schema") || !strings.Contains(msg, c.want) {
				t.Errorf("message\n got: %s\nwant it to contain: %s", msg, c.want)
			}
		})
	}
}
