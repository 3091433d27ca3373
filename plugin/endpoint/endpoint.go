// Package endpoint gives commands that talk to a release's model server
// (chat, test, port-forward) its URL and API key: an ephemeral port-forward
// to the release's Service on a free local port, or a URL the user gave.
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
	"github.com/kubectl-llama/kubectl-llama/plugin/openai"
	"github.com/kubectl-llama/kubectl-llama/plugin/portforward"
)

// APIKeyEnv is the container env the chart sets from the API key Secret.
const APIKeyEnv = "VLLM_API_KEY"

// Endpoint is an open way to the model server.
type Endpoint struct {
	// BaseURL is the server root (no /v1).
	BaseURL string
	// APIKey is the release's API key, "" when it has none. Never print it.
	APIKey string
	// Forward is the port-forward behind BaseURL (nil with an explicit URL).
	Forward *portforward.Forward
}

// Client returns an OpenAI client for the endpoint.
func (e *Endpoint) Client() *openai.Client { return openai.New(e.BaseURL, e.APIKey) }

// Close ends the port-forward, if any.
func (e *Endpoint) Close() {
	if e.Forward != nil {
		e.Forward.Close()
	}
}

// Options for Open.
type Options struct {
	// URL bypasses the port-forward (--endpoint).
	URL string
	// Local is the port-forward's local address:port (default 127.0.0.1:0).
	Local string
	// Log receives the port-forward's connection lines.
	Log io.Writer
}

// Open returns the release's endpoint: o.URL as given, or a port-forward to
// its Service. The API key is read from the release's Secret when the
// Deployment takes VLLM_API_KEY from one.
func Open(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, release string, o Options) (*Endpoint, error) {
	key, err := APIKey(ctx, cs, ns, release)
	if err != nil && o.URL == "" {
		return nil, err
	}
	if o.URL != "" {
		return &Endpoint{BaseURL: strings.TrimRight(o.URL, "/"), APIKey: key}, nil
	}
	fw, err := portforward.StartWithOptions(ctx, cfg, cs, ns, release, portforward.Options{Local: o.Local, Log: o.Log})
	if err != nil {
		if errors.Is(err, portforward.ErrNoReadyPod) {
			return nil, NotReady(release, err)
		}
		return nil, err
	}
	return &Endpoint{BaseURL: fw.URL, APIKey: key, Forward: fw}, nil
}

// NotReady is the one-line error for a model server that does not answer.
func NotReady(release string, cause error) error {
	return fmt.Errorf("model server not ready (%v): run kubectl llama status %s", cause, release)
}

// APIKey reads the release's API key: the Secret and key the Deployment's
// serving container takes VLLM_API_KEY from ("" when there is none).
func APIKey(ctx context.Context, cs kubernetes.Interface, ns, release string) (string, error) {
	d, err := kube.Deployment(ctx, cs, ns, release)
	if err != nil {
		return "", err
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name != kube.ContainerName && len(d.Spec.Template.Spec.Containers) > 1 {
			continue
		}
		for _, e := range c.Env {
			if e.Name != APIKeyEnv {
				continue
			}
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				return e.Value, nil
			}
			ref := e.ValueFrom.SecretKeyRef
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return "", fmt.Errorf("reading the API key Secret %s of release %s: %w", ref.Name, release, err)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				return "", fmt.Errorf("the API key Secret %s has no key %q", ref.Name, ref.Key)
			}
			return strings.TrimSpace(string(v)), nil
		}
	}
	return "", nil
}
