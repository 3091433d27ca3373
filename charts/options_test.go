package charts_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func podSpec(t *testing.T, r *rendered) map[string]any {
	t.Helper()
	return get(r.deployment(t), "spec", "template", "spec").(map[string]any)
}

func env(t *testing.T, r *rendered) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, e := range r.container(t)["env"].([]any) {
		m := e.(map[string]any)
		if m["value"] != nil {
			out[m["name"].(string)] = m["value"]
		} else {
			out[m["name"].(string)] = m["valueFrom"]
		}
	}
	return out
}

func volume(t *testing.T, r *rendered, name string) map[string]any {
	t.Helper()
	for _, vol := range podSpec(t, r)["volumes"].([]any) {
		if m := vol.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("no volume %q", name)
	return nil
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestGKEModes(t *testing.T) {
	r := mustRender(t, nil)
	eq(t, "autopilot tolerations", podSpec(t, r)["tolerations"], nil)
	eq(t, "autopilot nodeSelector", podSpec(t, r)["nodeSelector"], map[string]any{"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"})

	r = mustRender(t, v("gke.mode", "standard", "gke.acceleratorCountSelector", true,
		"tolerations", []any{map[string]any{"key": "dedicated", "operator": "Exists"}}))
	eq(t, "standard tolerations", podSpec(t, r)["tolerations"], []any{
		map[string]any{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
		map[string]any{"key": "dedicated", "operator": "Exists"},
	})
	eq(t, "count selector", podSpec(t, r)["nodeSelector"], map[string]any{
		"cloud.google.com/gke-accelerator": "nvidia-h100-80gb", "cloud.google.com/gke-accelerator-count": "8"})
}

// nodeSelector merges with the chart's accelerator selectors: other keys are
// added, the chart's own key with the same value is rendered once, another
// value is refused (TestFitCheckMessages).
func TestNodeSelectorMerge(t *testing.T) {
	r := mustRender(t, v("gke.acceleratorCountSelector", true, "nodeSelector", map[string]any{
		"cloud.google.com/gke-accelerator": "nvidia-h100-80gb", "cloud.google.com/gke-accelerator-count": "8", "team": "ml"}))
	eq(t, "nodeSelector", podSpec(t, r)["nodeSelector"], map[string]any{
		"cloud.google.com/gke-accelerator": "nvidia-h100-80gb", "cloud.google.com/gke-accelerator-count": "8", "team": "ml"})
	if n := strings.Count(r.manifest, "cloud.google.com/gke-accelerator:"); n != 1 {
		t.Errorf("accelerator selector rendered %d times, want once", n)
	}
}

func TestGPUShapes(t *testing.T) {
	cases := []struct {
		vals                      map[string]any
		cpu, mem, eph, gpus, accl string
	}{
		// The shape of 4 x H100 asks 300Gi; scout's fit needs 600Gi for the weights.
		{v("gpu.count", 4), "73", "655Gi", "600Gi", "4", "nvidia-h100-80gb"},
		{v("model.preset", "maverick"), "157", "2067Gi", "850Gi", "8", "nvidia-h200-141gb"},
		// The fit asks 600Gi, the 8 x H200 shape 850Gi: the larger wins.
		{v("model.preset", "maverick-instruct-fp8", "gpu.type", "h200"), "157", "2067Gi", "850Gi", "8", "nvidia-h200-141gb"},
		{v("model.preset", "scout-instruct", "gpu.type", "a100-40gb", "gpu.count", 16), "86", "1200Gi", "600Gi", "16", "nvidia-tesla-a100"},
		{v("model.preset", "maverick", "gpu.type", "b200"), "208", "3000Gi", "1000Gi", "8", "nvidia-b200"},
	}
	for _, c := range cases {
		r := mustRender(t, c.vals)
		res := r.container(t)["resources"].(map[string]any)
		want := map[string]any{"cpu": c.cpu, "memory": c.mem, "ephemeral-storage": c.eph, "nvidia.com/gpu": c.gpus}
		eq(t, "requests", res["requests"], want)
		eq(t, "limits", res["limits"], want)
		eq(t, "accelerator", get(podSpec(t, r), "nodeSelector", "cloud.google.com/gke-accelerator"), c.accl)
		if !slices.Contains(r.args(t), "--tensor-parallel-size="+c.gpus) {
			t.Errorf("%v: args %v lack --tensor-parallel-size=%s", c.vals, r.args(t), c.gpus)
		}
		eq(t, "gpu-count annotation", get(r.deployment(t), "metadata", "annotations", "kubectl-llama.io/gpu-count"), c.gpus)
	}
}

func TestCache(t *testing.T) {
	r := mustRender(t, v("cache.emptyDir.sizeLimit", "700Gi", "cache.mountPath", "/models"))
	eq(t, "emptyDir", volume(t, r, "cache")["emptyDir"], map[string]any{"sizeLimit": "700Gi"})
	eq(t, "HF_HOME", env(t, r)["HF_HOME"], "/models")

	r = mustRender(t, v("cache.type", "pvc", "cache.pvc.existingClaim", "weights"))
	eq(t, "existing claim", volume(t, r, "cache")["persistentVolumeClaim"], map[string]any{"claimName": "weights"})
	if _, ok := r.objects["PersistentVolumeClaim/weights"]; ok {
		t.Error("an existing claim must not be created")
	}

	r = mustRender(t, v("cache.type", "pvc", "cache.pvc.size", "900Gi", "cache.pvc.storageClassName", "premium-rwo", "cache.pvc.keep", true))
	eq(t, "new claim", volume(t, r, "cache")["persistentVolumeClaim"], map[string]any{"claimName": release + "-cache"})
	pvc := r.objects["PersistentVolumeClaim/"+release+"-cache"]
	eq(t, "pvc spec", pvc["spec"], map[string]any{"accessModes": []any{"ReadWriteOnce"}, "storageClassName": "premium-rwo",
		"resources": map[string]any{"requests": map[string]any{"storage": "900Gi"}}})
	eq(t, "pvc keep", get(pvc, "metadata", "annotations", "helm.sh/resource-policy"), "keep")

	r = mustRender(t, v("cache.type", "gcsfuse", "cache.gcsfuse.bucket", "my-weights", "cache.gcsfuse.readOnly", true))
	eq(t, "gcsfuse volume", volume(t, r, "cache")["csi"], map[string]any{
		"driver": "gcsfuse.csi.storage.gke.io", "readOnly": true,
		"volumeAttributes": map[string]any{"bucketName": "my-weights", "mountOptions": "implicit-dirs,file-cache:enable-parallel-downloads:true,file-cache:max-size-mb:-1"}})
	eq(t, "gcsfuse pod annotation", get(r.deployment(t), "spec", "template", "metadata", "annotations", "gke-gcsfuse/volumes"), "true")
	eq(t, "HF_HOME", env(t, r)["HF_HOME"], "/data/huggingface")
	eq(t, "offline when read-only", env(t, r)["HF_HUB_OFFLINE"], "1")

	r = mustRender(t, v("shm.sizeLimit", "64Gi"))
	eq(t, "shm", volume(t, r, "dshm")["emptyDir"], map[string]any{"medium": "Memory", "sizeLimit": "64Gi"})
}

func TestMonitoring(t *testing.T) {
	r := mustRender(t, nil)
	for k := range r.objects {
		if strings.HasPrefix(k, "PodMonitoring/") || strings.HasPrefix(k, "ServiceMonitor/") {
			t.Errorf("%s rendered by default", k)
		}
	}
	r = mustRender(t, v("monitoring.podMonitoring.enabled", true, "monitoring.serviceMonitor.enabled", true,
		"monitoring.serviceMonitor.interval", "15s", "monitoring.serviceMonitor.labels", map[string]any{"release": "prom"}))
	pm := r.objects["PodMonitoring/"+release]
	eq(t, "PodMonitoring apiVersion", pm["apiVersion"], "monitoring.googleapis.com/v1")
	eq(t, "PodMonitoring spec", pm["spec"], map[string]any{
		"selector":  map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "vllm-llama", "app.kubernetes.io/instance": release}},
		"endpoints": []any{map[string]any{"port": "http", "path": "/metrics", "interval": "30s"}}})
	sm := r.objects["ServiceMonitor/"+release]
	eq(t, "ServiceMonitor apiVersion", sm["apiVersion"], "monitoring.coreos.com/v1")
	eq(t, "ServiceMonitor endpoints", get(sm, "spec", "endpoints"), []any{map[string]any{"port": "http", "path": "/metrics", "interval": "15s"}})
	eq(t, "ServiceMonitor label", get(sm, "metadata", "labels", "release"), "prom")
	// /metrics only has engine data without --disable-log-stats.
	if slices.Contains(r.args(t), "--disable-log-stats") {
		t.Error("--disable-log-stats rendered by default")
	}
	if r := mustRender(t, v("disableLogStats", true)); !slices.Contains(r.args(t), "--disable-log-stats") {
		t.Error("disableLogStats=true did not render --disable-log-stats")
	}
}

func TestAPIKey(t *testing.T) {
	r := mustRender(t, nil)
	if _, ok := env(t, r)["VLLM_API_KEY"]; ok || strings.Contains(r.manifest, "--api-key") {
		t.Error("API key rendered while disabled")
	}
	r = mustRender(t, v("apiKey.enabled", true, "apiKey.secretName", "keys", "apiKey.secretKey", "vllm"))
	ref := map[string]any{"secretKeyRef": map[string]any{"name": "keys", "key": "vllm"}}
	eq(t, "VLLM_API_KEY", env(t, r)["VLLM_API_KEY"], ref)
	if !slices.Contains(r.args(t), "--api-key=$(VLLM_API_KEY)") {
		t.Errorf("args %v lack --api-key=$(VLLM_API_KEY)", r.args(t))
	}
	testPod := r.hooks["Pod/"+release+"-test"]
	eq(t, "test pod key", get(testPod, "spec", "containers", 0, "env", 2), map[string]any{"name": "VLLM_API_KEY", "valueFrom": ref})
	if !strings.Contains(r.notes, "Authorization: Bearer $VLLM_API_KEY") {
		t.Errorf("NOTES lack the Authorization header:\n%s", r.notes)
	}
	// With the key, the Service may reach outside the cluster.
	r = mustRender(t, v("apiKey.enabled", true, "service.type", "LoadBalancer"))
	eq(t, "service type", get(r.objects["Service/"+release], "spec", "type"), "LoadBalancer")
}

// A ServiceMonitor behind the NetworkPolicy: Prometheus' namespace is not
// known to the chart, so NOTES says to admit it.
func TestNetworkPolicyWithServiceMonitorWarns(t *testing.T) {
	const warn = "add its namespace to networkPolicy.from"
	if r := mustRender(t, v("networkPolicy.enabled", true, "monitoring.serviceMonitor.enabled", true)); !strings.Contains(r.notes, warn) {
		t.Errorf("NOTES lack the warning:\n%s", r.notes)
	}
	from := []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}}
	if r := mustRender(t, v("networkPolicy.enabled", true, "monitoring.serviceMonitor.enabled", true, "networkPolicy.from", from)); strings.Contains(r.notes, warn) {
		t.Error("warned although networkPolicy.from is set")
	}
}

func TestNetworkPolicyAndPDB(t *testing.T) {
	r := mustRender(t, nil)
	for k := range r.objects {
		if strings.HasPrefix(k, "NetworkPolicy/") || strings.HasPrefix(k, "PodDisruptionBudget/") {
			t.Errorf("%s rendered by default", k)
		}
	}
	sel := map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "vllm-llama", "app.kubernetes.io/instance": release}}
	r = mustRender(t, v("networkPolicy.enabled", true, "podDisruptionBudget.enabled", true))
	np := r.objects["NetworkPolicy/"+release]
	eq(t, "netpol spec", np["spec"], map[string]any{
		"podSelector": sel, "policyTypes": []any{"Ingress"},
		"ingress": []any{map[string]any{
			"ports": []any{map[string]any{"port": "http", "protocol": "TCP"}},
			"from":  []any{map[string]any{"podSelector": map[string]any{}}}}}})
	eq(t, "pdb spec", r.objects["PodDisruptionBudget/"+release]["spec"], map[string]any{"minAvailable": float64(1), "selector": sel})

	peer := map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"team": "apps"}}}
	r = mustRender(t, v("networkPolicy.enabled", true, "networkPolicy.from", []any{peer}, "monitoring.podMonitoring.enabled", true,
		"podDisruptionBudget.enabled", true, "podDisruptionBudget.maxUnavailable", "50%"))
	eq(t, "netpol from", get(r.objects["NetworkPolicy/"+release], "spec", "ingress", 0, "from"), []any{peer,
		map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "gmp-system"}}}})
	eq(t, "pdb maxUnavailable", r.objects["PodDisruptionBudget/"+release]["spec"], map[string]any{"maxUnavailable": "50%", "selector": sel})
}

func TestArgs(t *testing.T) {
	base := []string{"--host=0.0.0.0", "--port=7080", "--swap-space=16", "--max-model-len=262144",
		"--limit-mm-per-prompt", `{"image":5}`, "--model=meta-llama/Llama-4-Scout-17B-16E", "--tensor-parallel-size=8"}
	cases := []struct {
		name string
		vals map[string]any
		want []string
	}{
		{"default v0.10.0", nil, base},
		{"extraArgs appended", v("extraArgs", []any{"--enable-auto-tool-choice", "--tool-call-parser=llama4_pythonic"}),
			append(slices.Clone(base), "--enable-auto-tool-choice", "--tool-call-parser=llama4_pythonic")},
		{"maxModelLen override", v("maxModelLen", 65536), replace(base, "--max-model-len=262144", "--max-model-len=65536")},
		{"tag >= 0.18.0 drops --swap-space", v("image.tag", "v0.18.0"), without(base, "--swap-space=16")},
		{"tag without v, newer", v("image.tag", "0.30.1"), without(base, "--swap-space=16")},
		{"tag 0.17.1 keeps --swap-space", v("image.tag", "v0.17.1"), base},
		{"non-version tag follows appVersion", v("image.tag", "latest"), base},
		{"swapSpace 0", v("swapSpace", 0), without(base, "--swap-space=16")},
		{"swapSpace 4", v("swapSpace", 4), replace(base, "--swap-space=16", "--swap-space=4")},
		{"preset overrides", v("model.gpuMemoryUtilization", 0.925, "model.maxNumSeqs", 32, "model.dtype", "bfloat16", "model.kvCacheDtype", "fp8",
			"model.tensorParallelSize", 4, "model.limitMMPerPrompt", map[string]any{"image": 2}),
			[]string{"--host=0.0.0.0", "--port=7080", "--swap-space=16", "--max-model-len=262144", "--gpu-memory-utilization=0.925",
				"--limit-mm-per-prompt", `{"image":2}`, "--dtype=bfloat16", "--kv-cache-dtype=fp8", "--max-num-seqs=32",
				"--model=meta-llama/Llama-4-Scout-17B-16E", "--tensor-parallel-size=4"}},
		{"gpuMemoryUtilization as --set passes it (a string)", v("model.gpuMemoryUtilization", "0.9"),
			[]string{"--host=0.0.0.0", "--port=7080", "--swap-space=16", "--max-model-len=262144", "--gpu-memory-utilization=0.90",
				"--limit-mm-per-prompt", `{"image":5}`, "--model=meta-llama/Llama-4-Scout-17B-16E", "--tensor-parallel-size=8"}},
		{"maverick on b200", v("model.preset", "maverick", "gpu.type", "b200"),
			[]string{"--host=0.0.0.0", "--port=7080", "--swap-space=16", "--max-model-len=131072", "--gpu-memory-utilization=0.95",
				"--dtype=auto", "--kv-cache-dtype=auto", "--max-num-seqs=64", "--model=meta-llama/Llama-4-Maverick-17B-128E", "--tensor-parallel-size=8"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eq(t, "args", mustRender(t, c.vals).args(t), c.want)
		})
	}
	r := mustRender(t, v("image.tag", "latest"))
	eq(t, "image", r.container(t)["image"], "vllm/vllm-openai:latest")
	if !strings.Contains(r.notes, `image tag "latest" is not a version`) || !strings.Contains(r.notes, "appVersion (v0.10.0)") {
		t.Errorf("NOTES do not explain the fallback:\n%s", r.notes)
	}
	if r := mustRender(t, nil); strings.Contains(r.notes, "is not a version") {
		t.Error("NOTES mention a fallback for the default tag")
	}
	r = mustRender(t, v("command", []any{"vllm", "serve"}))
	eq(t, "command", r.container(t)["command"], []any{"vllm", "serve"})
}

func TestCustomModel(t *testing.T) {
	r := mustRender(t, v("model.preset", "", "model.id", "RedHatAI/Llama-4-Scout-17B-16E-Instruct-quantized.w4a16",
		"gpu.type", "l4", "gpu.count", 4, "model.weightsGB", 60, "maxModelLen", 32768))
	eq(t, "args", r.args(t), []string{"--host=0.0.0.0", "--port=7080", "--swap-space=16", "--max-model-len=32768",
		"--model=RedHatAI/Llama-4-Scout-17B-16E-Instruct-quantized.w4a16", "--tensor-parallel-size=4"})
	d := r.deployment(t)
	eq(t, "model label", get(d, "spec", "template", "metadata", "labels", "ai.gke.io/model"), "Llama-4-Scout-17B-16E-Instruct-quantized.w4a16")
	eq(t, "annotations", get(d, "metadata", "annotations"), map[string]any{
		"kubectl-llama.io/preset": "", "kubectl-llama.io/model-id": "RedHatAI/Llama-4-Scout-17B-16E-Instruct-quantized.w4a16",
		"kubectl-llama.io/gpu": "l4", "kubectl-llama.io/gpu-count": "4", "kubectl-llama.io/accelerator": "nvidia-l4"})
	eq(t, "resources", get(r.container(t), "resources", "limits"), map[string]any{"cpu": "44", "memory": "170Gi", "ephemeral-storage": "300Gi", "nvidia.com/gpu": "4"})
	// (900 + 6 x 60) / 10 = 126
	eq(t, "startup failureThreshold", get(r.container(t), "startupProbe", "failureThreshold"), float64(126))

	r = mustRender(t, v("model.preset", "", "model.id", "org/tiny", "model.name", "tiny model!", "gpu.type", "l4", "gpu.count", 1,
		"probes.startup.failureThreshold", 90))
	eq(t, "explicit budget", get(r.container(t), "startupProbe", "failureThreshold"), float64(90))
	eq(t, "sanitised label", get(r.deployment(t), "spec", "template", "metadata", "labels", "ai.gke.io/model"), "tiny-model")

	// model.id with a preset: the id changes, the preset's defaults stay.
	r = mustRender(t, v("model.id", "myorg/scout-mirror"))
	eq(t, "mirror args", r.args(t), replace([]string{"--host=0.0.0.0", "--port=7080", "--swap-space=16", "--max-model-len=262144",
		"--limit-mm-per-prompt", `{"image":5}`, "--model=X", "--tensor-parallel-size=8"}, "--model=X", "--model=myorg/scout-mirror"))
	eq(t, "mirror preset annotation", get(r.deployment(t), "metadata", "annotations", "kubectl-llama.io/preset"), "scout")

	// A custom model larger than the shape's disk: ephemeral storage grows
	// to hold its weights in the emptyDir (160 + 40 + 50), not with a PVC.
	big := v("model.preset", "", "model.id", "org/big", "gpu.type", "h100", "gpu.count", 2, "model.weightsGB", 160)
	eq(t, "custom model disk", get(mustRender(t, big).container(t), "resources", "limits", "ephemeral-storage"), "250Gi")
	big["cache"] = map[string]any{"type": "pvc"}
	eq(t, "custom model disk, pvc cache", get(mustRender(t, big).container(t), "resources", "limits", "ephemeral-storage"), "150Gi")
}

// resources.* replace the profile's shape, requests = limits.
func TestResourcesOverride(t *testing.T) {
	r := mustRender(t, v("resources.cpu", "100", "resources.memory", "1000Gi", "resources.ephemeralStorage", "2Ti"))
	want := map[string]any{"cpu": "100", "memory": "1000Gi", "ephemeral-storage": "2Ti", "nvidia.com/gpu": "8"}
	eq(t, "limits", get(r.container(t), "resources", "limits"), want)
	eq(t, "requests", get(r.container(t), "resources", "requests"), want)
	r = mustRender(t, v("resources.memory", "1200Gi"))
	eq(t, "only memory", get(r.container(t), "resources", "limits"), map[string]any{"cpu": "146", "memory": "1200Gi", "ephemeral-storage": "600Gi", "nvidia.com/gpu": "8"})
}

// The startup budget scales with the weights; the plugin reads it back as
// periodSeconds x failureThreshold + initialDelaySeconds.
func TestStartupBudget(t *testing.T) {
	budget := func(r *rendered) int {
		p := r.container(t)["startupProbe"].(map[string]any)
		return int(p["periodSeconds"].(float64)*p["failureThreshold"].(float64) + p["initialDelaySeconds"].(float64))
	}
	scout := budget(mustRender(t, nil))
	fp8 := budget(mustRender(t, v("model.preset", "maverick-instruct-fp8")))
	maverick := budget(mustRender(t, v("model.preset", "maverick")))
	eq(t, "budgets", []int{scout, fp8, maverick}, []int{2240, 3350, 5760})
	if scout < 1800 {
		t.Errorf("scout budget %d s is below the tutorial's 1800 s wait", scout)
	}
	r := mustRender(t, v("probes.startup.periodSeconds", 20, "probes.startup.secondsPerGB", 10, "probes.startup.baseSeconds", 0, "probes.startup.initialDelaySeconds", 0))
	eq(t, "scaled budget", budget(r), 2180) // ceil(2180/20)=109 x 20
	if !strings.Contains(mustRender(t, v("model.preset", "maverick")).notes, "--timeout=5760s") {
		t.Error("NOTES wait does not use the startup budget")
	}
}

func TestHFToken(t *testing.T) {
	const token = "hf_NEVER_RENDER_ME_123"
	// A token in values without create=true must go nowhere.
	r := mustRender(t, v("hfToken.secretName", "my-hf", "hfToken.secretKey", "token", "hfToken.value", token))
	if strings.Contains(r.manifest, token) || strings.Contains(r.notes, token) || strings.Contains(r.manifest, "kind: Secret") {
		t.Error("a token or Secret was rendered although the Secret is user-provided")
	}
	ref := map[string]any{"secretKeyRef": map[string]any{"name": "my-hf", "key": "token"}}
	eq(t, "HUGGING_FACE_HUB_TOKEN", env(t, r)["HUGGING_FACE_HUB_TOKEN"], ref)
	eq(t, "HF_TOKEN", env(t, r)["HF_TOKEN"], ref)

	r = mustRender(t, v("hfToken.optional", true))
	eq(t, "optional", env(t, r)["HF_TOKEN"], map[string]any{"secretKeyRef": map[string]any{"name": "hf-secret", "key": "hf_api_token", "optional": true}})

	r = mustRender(t, v("hfToken.create", true, "hfToken.value", token))
	s := r.objects["Secret/hf-secret"]
	eq(t, "created secret data", s["data"], map[string]any{"hf_api_token": "aGZfTkVWRVJfUkVOREVSX01FXzEyMw=="})
	if !strings.Contains(r.notes, "WARNING: hfToken.create stored your Hugging Face token") {
		t.Error("NOTES lack the hfToken.create warning")
	}
}

// podLabels and podAnnotations add to the chart's own; the same key with
// the same value is rendered once.
func TestPodLabelsAndAnnotations(t *testing.T) {
	r := mustRender(t, v("cache.type", "gcsfuse", "cache.gcsfuse.bucket", "b",
		"podLabels", map[string]any{"team": "ml", "ai.gke.io/inference-server": "vllm"},
		"podAnnotations", map[string]any{"gke-gcsfuse/volumes": "true", "a": "b"}))
	meta := get(r.objects["Deployment/"+release], "spec", "template", "metadata").(map[string]any)
	labels := meta["labels"].(map[string]any)
	eq(t, "team label", labels["team"], "ml")
	eq(t, "inference-server label", labels["ai.gke.io/inference-server"], "vllm")
	eq(t, "instance label", labels["app.kubernetes.io/instance"], release)
	eq(t, "annotations", meta["annotations"], map[string]any{"gke-gcsfuse/volumes": "true", "a": "b"})
	for _, k := range []string{"ai.gke.io/inference-server:", "gke-gcsfuse/volumes:"} {
		if n := strings.Count(r.manifest, k); n != 1 {
			t.Errorf("%s rendered %d times", k, n)
		}
	}
}

func TestNamesLabelsAndTestPod(t *testing.T) {
	r := mustRender(t, v("serviceAccount.create", true,
		"serviceAccount.annotations", map[string]any{"iam.gke.io/gcp-service-account": "gsa@p.iam.gserviceaccount.com"},
		"test.image.repository", "example/curl", "test.image.tag", "1.0"))
	for _, k := range []string{"Deployment/" + release, "Service/" + release, "ServiceAccount/" + release} {
		if _, ok := r.objects[k]; !ok {
			t.Errorf("no %s in %v", k, keys(r.objects))
		}
	}
	eq(t, "serviceAccountName", get(r.objects["Deployment/"+release], "spec", "template", "spec", "serviceAccountName"), release)
	svcSel := get(r.objects["Service/"+release], "spec", "selector").(map[string]any)
	pod := r.hooks["Pod/"+release+"-test"]
	if pod == nil {
		t.Fatalf("no test hook pod in %v", keys(r.hooks))
	}
	eq(t, "hook", get(pod, "metadata", "annotations", "helm.sh/hook"), "test")
	eq(t, "test image", get(pod, "spec", "containers", 0, "image"), "example/curl:1.0")
	podLabels := get(pod, "metadata", "labels").(map[string]any)
	selected := true
	for k, val := range svcSel {
		if podLabels[k] != val {
			selected = false
		}
	}
	if selected {
		t.Errorf("the Service selector %v selects the test pod %v", svcSel, podLabels)
	}
	eq(t, "test pod security", get(pod, "spec", "securityContext", "runAsNonRoot"), true)
	eq(t, "test container security", get(pod, "spec", "containers", 0, "securityContext"), map[string]any{
		"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": map[string]any{"drop": []any{"ALL"}}})
	script := get(pod, "spec", "containers", 0, "args", 0).(string)
	for _, want := range []string{"$BASE_URL/v1/models", "$BASE_URL/v1/chat/completions", `\"max_tokens\": 7`, `\"temperature\": 0`, "San Francisco is a"} {
		if !strings.Contains(script, want) {
			t.Errorf("test script lacks %q", want)
		}
	}
	eq(t, "BASE_URL", get(pod, "spec", "containers", 0, "env", 0, "value"), "http://"+release+":8000")

	if r := mustRender(t, v("test.enabled", false)); len(r.hooks) != 0 {
		t.Errorf("test.enabled=false still renders %v", keys(r.hooks))
	}
}

func replace(xs []string, old, new string) []string {
	out := slices.Clone(xs)
	for i := range out {
		if out[i] == old {
			out[i] = new
		}
	}
	return out
}
