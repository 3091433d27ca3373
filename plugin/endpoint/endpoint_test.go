package endpoint

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
	"github.com/kubectl-llama/kubectl-llama/plugin/portforward"
)

const secretValue = "sk-do-not-print-4242"

func deployment(containers ...corev1.Container) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "scout", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: containers,
		}}},
	}
}

func fromSecret(name, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: APIKeyEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key,
	}}}
}

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func server(env ...corev1.EnvVar) corev1.Container {
	return corev1.Container{Name: kube.ContainerName, Env: env}
}

func TestAPIKey(t *testing.T) {
	cases := []struct {
		name string
		objs []runtime.Object
		want string
	}{
		{"no API key env", []runtime.Object{deployment(server(corev1.EnvVar{Name: "HF_TOKEN", Value: "x"}))}, ""},
		{"from the Secret, trimmed", []runtime.Object{
			deployment(server(fromSecret("vllm-api-key", "key"))),
			secret("vllm-api-key", map[string]string{"key": secretValue + "\n"}),
		}, secretValue},
		{"literal value", []runtime.Object{deployment(server(corev1.EnvVar{Name: APIKeyEnv, Value: "literal"}))}, "literal"},
		{"serving container among others", []runtime.Object{
			deployment(
				corev1.Container{Name: "sidecar", Env: []corev1.EnvVar{{Name: APIKeyEnv, Value: "wrong"}}},
				server(fromSecret("vllm-api-key", "key")),
			),
			secret("vllm-api-key", map[string]string{"key": secretValue}),
		}, secretValue},
		{"a single container of another name", []runtime.Object{deployment(corev1.Container{Name: "vllm", Env: []corev1.EnvVar{{Name: APIKeyEnv, Value: "only"}}})}, "only"},
	}
	for _, c := range cases {
		got, err := APIKey(context.Background(), fake.NewClientset(c.objs...), "default", "scout")
		if err != nil || got != c.want {
			t.Errorf("%s: APIKey = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

func TestAPIKeyErrors(t *testing.T) {
	cases := []struct {
		name string
		objs []runtime.Object
		want string
	}{
		{"no Deployment", nil, "release scout not found in namespace default (no Deployment scout): see kubectl llama list -A"},
		{"missing Secret", []runtime.Object{deployment(server(fromSecret("vllm-api-key", "key")))}, "reading the API key Secret vllm-api-key of release scout"},
		{"missing key", []runtime.Object{
			deployment(server(fromSecret("vllm-api-key", "key"))),
			secret("vllm-api-key", map[string]string{"api_key": secretValue}),
		}, `the API key Secret vllm-api-key has no key "key"`},
	}
	for _, c := range cases {
		_, err := APIKey(context.Background(), fake.NewClientset(c.objs...), "default", "scout")
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: err = %q, want it to contain %q", c.name, msg, c.want)
		}
		if strings.Contains(msg, "\n") || strings.Contains(msg, secretValue) {
			t.Errorf("%s: err = %q: not one line or shows the key", c.name, msg)
		}
	}
}

func TestNotReady(t *testing.T) {
	cause := errors.New("no ready pod behind Service scout")
	err := NotReady("scout", cause)
	want := "model server not ready (no ready pod behind Service scout): run kubectl llama status scout"
	if err.Error() != want {
		t.Errorf("NotReady = %q, want %q", err, want)
	}
}

func TestOpenWithURL(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(
		deployment(server(fromSecret("vllm-api-key", "key"))),
		secret("vllm-api-key", map[string]string{"key": secretValue}),
	)
	ep, err := Open(ctx, nil, cs, "default", "scout", Options{URL: "http://127.0.0.1:8080/"})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if ep.BaseURL != "http://127.0.0.1:8080" || ep.APIKey != secretValue || ep.Forward != nil {
		t.Errorf("Open = {%q, key set %v, forward %v}; want the URL without its slash, the key, no port-forward", ep.BaseURL, ep.APIKey == secretValue, ep.Forward)
	}
	if ep.Client() == nil {
		t.Error("Client() = nil")
	}

	// With a URL the release need not be in the cluster (no key then).
	ep, err = Open(ctx, nil, fake.NewClientset(), "default", "scout", Options{URL: "http://127.0.0.1:9"})
	if err != nil || ep.BaseURL != "http://127.0.0.1:9" || ep.APIKey != "" || ep.Forward != nil {
		t.Errorf("Open without release = %+v, %v", ep, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	// Without a URL, the missing release is the error (no port-forward tried).
	if _, err := Open(ctx, nil, fake.NewClientset(), "default", "scout", Options{}); err == nil || !strings.Contains(err.Error(), "release scout not found") {
		t.Errorf("no release: err = %v", err)
	}
	// A Service without a ready pod: NotReady's message, wrapping ErrNoReadyPod.
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "scout", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: []corev1.ServicePort{{Name: "http", Port: 8000}}},
	}
	_, err := Open(ctx, nil, fake.NewClientset(deployment(server()), svc), "default", "scout", Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "model server not ready (") || !strings.HasSuffix(err.Error(), "run kubectl llama status scout") {
		t.Errorf("no ready pod: err = %v, want NotReady's message", err)
	}
	if !strings.Contains(err.Error(), portforward.ErrNoReadyPod.Error()+" behind Service scout") {
		t.Errorf("no ready pod: err = %v does not name the cause", err)
	}
}
