// Package hftoken reads the Hugging Face token from where the user keeps it
// ($HF_TOKEN, a file, stdin; never a flag value) and puts it into the
// cluster as a Secret by server-side apply. The token goes nowhere else: not
// into Helm values, release records, logs or error messages.
package hftoken

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	// EnvVar is the environment variable the token is read from.
	EnvVar = "HF_TOKEN"
	// FieldManager is the server-side apply field manager of the plugin.
	FieldManager = "kubectl-llama"
	// ManagedByLabel marks a Secret the plugin created, so that
	// `uninstall --delete-secret` knows it may delete it.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "kubectl-llama"
)

// Token is a Hugging Face token. Its String and GoString never reveal it, so
// a stray %v in a log or error cannot leak it.
type Token struct {
	value  string
	source string
}

// String hides the token.
func (t Token) String() string {
	if t.value == "" {
		return "<no token>"
	}
	return "<token from " + t.source + ">"
}

// GoString hides the token.
func (t Token) GoString() string { return t.String() }

// Empty reports whether no token was given.
func (t Token) Empty() bool { return t.value == "" }

// Source says where the token came from ($HF_TOKEN, a file, stdin).
func (t Token) Source() string { return t.source }

// Redact replaces the token in s.
func (t Token) Redact(s string) string {
	if t.value == "" {
		return s
	}
	return strings.ReplaceAll(s, t.value, "<redacted>")
}

// Sources is where Resolve may read a token from.
type Sources struct {
	File  string              // --hf-token-file
	Stdin bool                // --hf-token-stdin
	In    io.Reader           // stdin
	Env   func(string) string // os.Getenv
}

// Resolve returns the token from --hf-token-file, --hf-token-stdin or
// $HF_TOKEN, in that order. An empty result is not an error: an existing
// Secret may already hold the token.
func Resolve(s Sources) (Token, error) {
	switch {
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return Token{}, fmt.Errorf("reading --hf-token-file: %v", pathError(err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return Token{}, fmt.Errorf("--hf-token-file %s is empty", s.File)
		}
		return Token{value: v, source: "file " + s.File}, nil
	case s.Stdin:
		if s.In == nil {
			return Token{}, fmt.Errorf("--hf-token-stdin: no standard input")
		}
		b, err := io.ReadAll(io.LimitReader(s.In, 64<<10))
		if err != nil {
			return Token{}, fmt.Errorf("reading the token from stdin failed")
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return Token{}, fmt.Errorf("--hf-token-stdin: standard input was empty")
		}
		return Token{value: v, source: "stdin"}, nil
	}
	if s.Env != nil {
		if v := strings.TrimSpace(s.Env(EnvVar)); v != "" {
			return Token{value: v, source: "$" + EnvVar}, nil
		}
	}
	return Token{}, nil
}

func pathError(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// MissingError is the message for "no token anywhere".
func MissingError(secret, key, namespace string) error {
	return fmt.Errorf("no Hugging Face token: the Llama 4 repos are gated; export %s=... (or --hf-token-file / --hf-token-stdin), or create Secret %s with key %s in namespace %s", EnvVar, secret, key, namespace)
}

// Check says whether Secret name in namespace exists and holds key.
// exists=false with a nil error means it is absent; a Forbidden error is
// returned as is so the caller can say it could not check.
func Check(ctx context.Context, cs kubernetes.Interface, namespace, name, key string) (exists, hasKey bool, err error) {
	s, err := cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	_, hasKey = s.Data[key]
	return true, hasKey, nil
}

// Apply creates or updates Secret name/key in namespace with the token by
// server-side apply (field manager kubectl-llama). A Secret the plugin
// creates gets the managed-by label; a Secret the user made keeps its labels
// and only gets the key updated. Errors never carry the token.
func Apply(ctx context.Context, cs kubernetes.Interface, namespace, name, key string, t Token) (created bool, err error) {
	if t.Empty() {
		return false, fmt.Errorf("no token to store")
	}
	existing, err := cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		created = true
	case err != nil:
		return false, fmt.Errorf("reading Secret %s/%s: %s", namespace, name, t.Redact(err.Error()))
	}
	ac := corev1ac.Secret(name, namespace).
		WithType(corev1.SecretTypeOpaque).
		WithData(map[string][]byte{key: []byte(t.value)})
	if created || existing.Labels[ManagedByLabel] == ManagedByValue {
		ac = ac.WithLabels(map[string]string{ManagedByLabel: ManagedByValue})
	}
	if !created && existing.Type != "" && existing.Type != corev1.SecretTypeOpaque {
		ac.Type = nil // keep the user's type; applying another would be rejected
	}
	if _, err := cs.CoreV1().Secrets(namespace).Apply(ctx, ac, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return false, fmt.Errorf("storing the Hugging Face token in Secret %s/%s: %s", namespace, name, t.Redact(err.Error()))
	}
	return created, nil
}

// DeleteIfManaged deletes Secret name in namespace when the plugin created it
// (managed-by label). It reports whether it deleted it; a Secret the user
// made is kept and said so.
func DeleteIfManaged(ctx context.Context, cs kubernetes.Interface, namespace, name string) (deleted bool, why string, err error) {
	s, err := cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, "not found", nil
	}
	if err != nil {
		return false, "", err
	}
	if s.Labels[ManagedByLabel] != ManagedByValue {
		return false, fmt.Sprintf("not created by kubectl-llama (no label %s=%s)", ManagedByLabel, ManagedByValue), nil
	}
	if err := cs.CoreV1().Secrets(namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return false, "", err
	}
	return true, "", nil
}
