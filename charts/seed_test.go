package charts_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// seedCase is one tutorial manifest and the preset that replaces it.
type seedCase struct {
	preset, fixture string
	// startupFailureThreshold: ceil((900 + 6 x weightsGB) / 10), see values.yaml.
	startupFailureThreshold int32
}

var seedCases = []seedCase{
	{"scout", "vllm-llama4-scout-17b-16e.yaml", 221},                                  // 218 GB
	{"scout-instruct", "vllm-llama4-scout-17b-16e-instruct.yaml", 221},                // 218 GB
	{"maverick", "vllm-llama4-maverick-17b-128e.yaml", 573},                           // 804 GB
	{"maverick-instruct", "vllm-llama4-maverick-17b-128e-instruct.yaml", 573},         // 804 GB
	{"maverick-instruct-fp8", "vllm-llama4-maverick-17b-128e-instruct-fp8.yaml", 332}, // 402 GB
}

// seedFix is one documented difference between the tutorial's manifests and
// the chart's default rendering. The test applies every fix to the parsed
// seed and then demands equality with the chart's output: any difference not
// listed here fails. Keep this table and README.md "Differences from the
// tutorial" in step.
type seedFix struct {
	name string
	dep  func(d *appsv1.Deployment, c seedCase)
	svc  func(s *corev1.Service)
}

var seedFixes = []seedFix{
	{name: "objects are named after the release, in the release namespace, with the standard labels",
		dep: func(d *appsv1.Deployment, c seedCase) {
			d.Name, d.Namespace, d.Labels = release, "ai", standardLabels()
		},
		svc: func(s *corev1.Service) { s.Name, s.Namespace, s.Labels = release, "ai", standardLabels() }},
	{name: "selector app=llama-server becomes app.kubernetes.io/name + instance",
		dep: func(d *appsv1.Deployment, c seedCase) {
			d.Spec.Selector.MatchLabels = selectorLabels()
			pod := standardLabels()
			pod["ai.gke.io/model"] = d.Spec.Template.Labels["ai.gke.io/model"]
			pod["ai.gke.io/inference-server"] = d.Spec.Template.Labels["ai.gke.io/inference-server"]
			d.Spec.Template.Labels = pod
		},
		svc: func(s *corev1.Service) { s.Spec.Selector = selectorLabels() }},
	{name: "Deployment annotations kubectl-llama.io/* describe the model for the plugin",
		dep: func(d *appsv1.Deployment, c seedCase) {
			ctr := d.Spec.Template.Spec.Containers[0]
			acc := d.Spec.Template.Spec.NodeSelector["cloud.google.com/gke-accelerator"]
			gpu := map[string]string{"nvidia-h100-80gb": "h100", "nvidia-h200-141gb": "h200"}[acc]
			d.Annotations = map[string]string{
				"kubectl-llama.io/preset":      c.preset,
				"kubectl-llama.io/model-id":    envValue(ctr, "MODEL_ID"),
				"kubectl-llama.io/gpu":         gpu,
				"kubectl-llama.io/gpu-count":   ctr.Resources.Limits.Name("nvidia.com/gpu", resource.DecimalSI).String(),
				"kubectl-llama.io/accelerator": acc,
			}
		}},
	{name: "strategy Recreate: an 8-GPU pod cannot surge onto the node its predecessor fills",
		dep: func(d *appsv1.Deployment, c seedCase) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType }},
	{name: "image: the default registry is implicit (same image); pull policy IfNotPresent",
		dep: func(d *appsv1.Deployment, c seedCase) {
			ctr := &d.Spec.Template.Spec.Containers[0]
			if first, rest, ok := strings.Cut(ctr.Image, "/"); ok && strings.Contains(first, ".") {
				ctr.Image = rest
			}
			ctr.ImagePullPolicy = corev1.PullIfNotPresent
		}},
	{name: "--disable-log-stats dropped (it empties /metrics); disableLogStats=true restores it",
		dep: func(d *appsv1.Deployment, c seedCase) {
			ctr := &d.Spec.Template.Spec.Containers[0]
			ctr.Args = without(ctr.Args, "--disable-log-stats")
		}},
	{name: "--limit_mm_per_prompt spelled --limit-mm-per-prompt (vLLM accepts both), its JSON compact",
		dep: func(d *appsv1.Deployment, c seedCase) {
			ctr := &d.Spec.Template.Spec.Containers[0]
			for i, a := range ctr.Args {
				if a == "--limit_mm_per_prompt" {
					ctr.Args[i] = "--limit-mm-per-prompt"
					var js map[string]any
					if err := json.Unmarshal([]byte(ctr.Args[i+1]), &js); err != nil {
						panic(err)
					}
					b, _ := json.Marshal(js)
					ctr.Args[i+1] = string(b)
				}
			}
		}},
	{name: "LD_LIBRARY_PATH without the literal ${LD_LIBRARY_PATH} (Kubernetes does not expand ${VAR})",
		dep: func(d *appsv1.Deployment, c seedCase) {
			ctr := &d.Spec.Template.Spec.Containers[0]
			ctr.Env[0].Value = strings.TrimPrefix(strings.TrimSpace(ctr.Env[0].Value), "${LD_LIBRARY_PATH}:")
		}},
	{name: "env HF_TOKEN (current huggingface_hub name) from the same Secret, HF_HOME on the cache volume",
		dep: func(d *appsv1.Deployment, c seedCase) {
			ctr := &d.Spec.Template.Spec.Containers[0]
			hf := ctr.Env[len(ctr.Env)-1]
			hf.Name = "HF_TOKEN"
			ctr.Env = append(ctr.Env, hf, corev1.EnvVar{Name: "HF_HOME", Value: "/data/huggingface"})
		}},
	{name: "container port 7080 declared and named http",
		dep: func(d *appsv1.Deployment, c seedCase) {
			d.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 7080, Protocol: corev1.ProtocolTCP}}
		}},
	{name: "startup (budget from the weight size), readiness and liveness probes on /health",
		dep: func(d *appsv1.Deployment, c seedCase) {
			ctr := &d.Spec.Template.Spec.Containers[0]
			h := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromString("http")}}
			ctr.StartupProbe = &corev1.Probe{ProbeHandler: h, InitialDelaySeconds: 30, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: c.startupFailureThreshold}
			ctr.ReadinessProbe = &corev1.Probe{ProbeHandler: h, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3}
			ctr.LivenessProbe = &corev1.Probe{ProbeHandler: h, PeriodSeconds: 15, TimeoutSeconds: 10, FailureThreshold: 6}
		}},
	{name: "secure defaults: no privilege escalation, all capabilities dropped, seccomp RuntimeDefault",
		dep: func(d *appsv1.Deployment, c seedCase) {
			f := false
			rd := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
			d.Spec.Template.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: rd}
			d.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
				AllowPrivilegeEscalation: &f, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}, SeccompProfile: rd}
		}},
	{name: "pod: no ServiceAccount token, no service links env, 60 s grace period",
		dep: func(d *appsv1.Deployment, c seedCase) {
			f, grace := false, int64(60)
			s := &d.Spec.Template.Spec
			s.ServiceAccountName, s.AutomountServiceAccountToken, s.EnableServiceLinks, s.TerminationGracePeriodSeconds = "default", &f, &f, &grace
		}},
	{name: "/dev/shm bounded (sizeLimit 20Gi); weights cache volume (emptyDir, the seed's behaviour) at HF_HOME",
		dep: func(d *appsv1.Deployment, c seedCase) {
			s := &d.Spec.Template.Spec
			limit := resource.MustParse("20Gi")
			s.Volumes[0].EmptyDir.SizeLimit = &limit
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			s.Containers[0].VolumeMounts = append(s.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "cache", MountPath: "/data/huggingface"})
		}},
	{name: "Service port named http, targetPort the named container port (= 7080)",
		svc: func(s *corev1.Service) {
			s.Spec.Ports[0].Name = "http"
			s.Spec.Ports[0].TargetPort = intstr.FromString("http")
		}},
}

func TestSeedComparison(t *testing.T) {
	for _, c := range seedCases {
		t.Run(c.preset, func(t *testing.T) {
			dep, svc := parseSeed(t, c.fixture)
			for _, f := range seedFixes {
				if f.dep != nil {
					f.dep(dep, c)
				}
				if f.svc != nil {
					f.svc(svc)
				}
			}
			r := mustRender(t, v("model.preset", c.preset))
			var gotDep appsv1.Deployment
			var gotSvc corev1.Service
			decodeStrict(t, r.objects["Deployment/"+release], &gotDep)
			decodeStrict(t, r.objects["Service/"+release], &gotSvc)
			for _, d := range diff(toMap(t, dep), toMap(t, &gotDep), "Deployment") {
				t.Error(d)
			}
			for _, d := range diff(toMap(t, svc), toMap(t, &gotSvc), "Service") {
				t.Error(d)
			}
			var kinds []string
			for k := range r.objects {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			if want := []string{"Deployment/" + release, "Service/" + release}; !reflect.DeepEqual(kinds, want) {
				t.Errorf("objects %v, want exactly %v (no Secret: the seed's inline {{HF_TOKEN}} Secret is never rendered)", kinds, want)
			}
		})
	}
}

// parseSeed reads a fixture: a Deployment, a Service and the tutorial's
// unparsable {{HF_TOKEN}} Secret, which is the only document allowed to fail.
func parseSeed(t *testing.T, name string) (*appsv1.Deployment, *corev1.Service) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "test", "fixtures", "seed", name))
	if err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	var svc *corev1.Service
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			if !strings.Contains(doc, "kind: Secret") || !strings.Contains(doc, "{{HF_TOKEN}}") {
				t.Fatalf("%s: unexpected unparsable document: %v", name, err)
			}
			continue
		}
		switch obj["kind"] {
		case "Deployment":
			dep = &appsv1.Deployment{}
			decodeStrict(t, obj, dep)
		case "Service":
			svc = &corev1.Service{}
			decodeStrict(t, obj, svc)
		default:
			t.Fatalf("%s: unexpected kind %v", name, obj["kind"])
		}
	}
	if dep == nil || svc == nil {
		t.Fatalf("%s: want a Deployment and a Service", name)
	}
	return dep, svc
}

func decodeStrict(t *testing.T, obj map[string]any, into any) {
	t.Helper()
	if obj == nil {
		t.Fatalf("object missing")
	}
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("decoding %v: %v", obj["kind"], err)
	}
}

// toMap normalises a typed object into plain JSON data (quantities become
// canonical strings, empty fields vanish).
func toMap(t *testing.T, obj any) map[string]any {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// diff lists every path where want and got differ.
func diff(want, got any, path string) []string {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		var out []string
		seen := map[string]bool{}
		for k := range wm {
			seen[k] = true
		}
		for k := range gm {
			seen[k] = true
		}
		ks := keys(seen)
		sort.Strings(ks)
		for _, k := range ks {
			out = append(out, diff(wm[k], gm[k], path+"."+k)...)
		}
		return out
	}
	wl, wok := want.([]any)
	gl, gok := got.([]any)
	if wok && gok && len(wl) == len(gl) {
		var out []string
		for i := range wl {
			out = append(out, diff(wl[i], gl[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	}
	if !reflect.DeepEqual(want, got) {
		return []string{fmt.Sprintf("%s: seed+fixes %s, chart %s", path, js(want), js(got))}
	}
	return nil
}

func js(x any) string { b, _ := json.Marshal(x); return string(b) }

func selectorLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": "vllm-llama", "app.kubernetes.io/instance": release}
}

func standardLabels() map[string]string {
	l := selectorLabels()
	l["app.kubernetes.io/version"] = "v0.10.0"
	l["app.kubernetes.io/component"] = "inference-server"
	l["app.kubernetes.io/managed-by"] = "Helm"
	l["helm.sh/chart"] = "vllm-llama-0.1.0"
	return l
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func without(xs []string, drop string) []string {
	var out []string
	for _, x := range xs {
		if x != drop {
			out = append(out, x)
		}
	}
	return out
}
