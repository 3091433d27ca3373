package localcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBinaryNamesTheFix(t *testing.T) {
	t.Setenv(EnvBinary, filepath.Join(t.TempDir(), "missing"))
	_, err := Binary()
	if err == nil || !strings.Contains(err.Error(), "make cluster-build") {
		t.Fatalf("Binary() error = %v, want a hint to run make cluster-build", err)
	}
	exe := filepath.Join(t.TempDir(), "llama-cluster")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvBinary, exe)
	if got, err := Binary(); err != nil || got != exe {
		t.Fatalf("Binary() = %q, %v; want %q", got, err, exe)
	}
}

func TestWithEnvReplaces(t *testing.T) {
	got := withEnv([]string{"A=1", "KUBECONFIG=/old", "B=2"}, "KUBECONFIG", "/new")
	want := []string{"A=1", "B=2", "KUBECONFIG=/new"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("withEnv = %v, want %v", got, want)
	}
}
