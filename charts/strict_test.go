package charts_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// Every built-in object the chart can render decodes strictly into its
// Kubernetes type: no misspelt or misplaced field survives.
func TestObjectsDecodeStrictly(t *testing.T) {
	for _, vals := range []map[string]any{
		v("cache.type", "pvc", "apiKey.enabled", true, "networkPolicy.enabled", true, "podDisruptionBudget.enabled", true,
			"serviceAccount.create", true, "hfToken.create", true, "hfToken.value", "x", "gke.mode", "standard",
			"monitoring.podMonitoring.enabled", true, "monitoring.serviceMonitor.enabled", true,
			"extraEnv", []any{map[string]any{"name": "VLLM_LOGGING_LEVEL", "value": "DEBUG"}},
			"podAnnotations", map[string]any{"a": "b"}, "podLabels", map[string]any{"team": "ml"},
			"imagePullSecrets", []any{map[string]any{"name": "regcred"}}, "priorityClassName", "high",
			"affinity", map[string]any{"nodeAffinity": map[string]any{}}),
		v("cache.type", "gcsfuse", "cache.gcsfuse.bucket", "b", "model.preset", "maverick-instruct-fp8"),
	} {
		r := mustRender(t, vals)
		all := map[string]map[string]any{}
		for k, o := range r.objects {
			all[k] = o
		}
		for k, o := range r.hooks {
			all[k] = o
		}
		for k, o := range all {
			var into any
			switch o["kind"] {
			case "Deployment":
				into = &appsv1.Deployment{}
			case "Service":
				into = &corev1.Service{}
			case "Secret":
				into = &corev1.Secret{}
			case "PersistentVolumeClaim":
				into = &corev1.PersistentVolumeClaim{}
			case "ServiceAccount":
				into = &corev1.ServiceAccount{}
			case "Pod":
				into = &corev1.Pod{}
			case "NetworkPolicy":
				into = &networkingv1.NetworkPolicy{}
			case "PodDisruptionBudget":
				into = &policyv1.PodDisruptionBudget{}
			case "PodMonitoring", "ServiceMonitor":
				continue // CRDs: their fields are asserted in TestMonitoring
			default:
				t.Errorf("unexpected object %s", k)
				continue
			}
			decodeStrict(t, o, into)
		}
	}
}
