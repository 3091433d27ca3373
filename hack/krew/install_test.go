//go:build dist

// Release checks run by `make krew-test` after `make dist krew`: the
// generated manifest passes krew's own validator, matches the archives in
// dist/, and krew installs a working plugin from it offline, and refuses a
// tampered archive. Tool paths come from the Makefile (KREW,
// VALIDATE_KREW_MANIFEST); a missing one fails the test.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run this through make krew-test", name)
	}
	return v
}

func paths(t *testing.T) (manifest, dist, version string) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "krew", "llama.yaml"), filepath.Join(root, "dist"), env(t, "VERSION")
}

func runCmd(t *testing.T, extraEnv []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestValidateKrewManifest(t *testing.T) {
	manifest, _, _ := paths(t)
	out, err := runCmd(t, nil, env(t, "VALIDATE_KREW_MANIFEST"), "-manifest", manifest, "-skip-install")
	if err != nil {
		t.Fatalf("validate-krew-manifest: %v\n%s", err, out)
	}
}

// TestManifestMatchesDist hashes every archive in dist/ again and compares
// with the manifest: one platform per archive, same sha256.
func TestManifestMatchesDist(t *testing.T) {
	manifest, dist, version := paths(t)
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var m manifestDoc
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Spec.Version != version {
		t.Errorf("manifest version %s, want %s", m.Spec.Version, version)
	}
	// One archive and one manifest platform per platform make dist built.
	want := len(strings.Fields(env(t, "DIST_PLATFORMS")))
	archives, _ := filepath.Glob(filepath.Join(dist, "kubectl-llama_"+version+"_*"))
	if len(archives) != want || len(m.Spec.Platforms) != want {
		t.Fatalf("%d archives in dist, %d platforms in the manifest, want %d each", len(archives), len(m.Spec.Platforms), want)
	}
	for _, p := range m.Spec.Platforms {
		f := filepath.Join(dist, filepath.Base(p.URI))
		b, err := os.ReadFile(f)
		if err != nil {
			t.Errorf("%s/%s: %v", p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"], err)
			continue
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != p.SHA256 {
			t.Errorf("%s: manifest sha256 %s does not match the archive", filepath.Base(f), p.SHA256)
		}
	}
}

func hostArchive(t *testing.T, dist, version string) string {
	if runtime.GOOS != "linux" {
		t.Skipf("installs the %s archive; this host is %s", "linux", runtime.GOOS)
	}
	return filepath.Join(dist, "kubectl-llama_"+version+"_linux_"+runtime.GOARCH+".tar.gz")
}

// TestKrewInstall installs the host's archive with krew into a temporary
// KREW_ROOT, runs the installed plugin, lists and uninstalls it.
func TestKrewInstall(t *testing.T) {
	manifest, dist, version := paths(t)
	archive := hostArchive(t, dist, version)
	krew := env(t, "KREW")
	root := t.TempDir()
	// krew list/uninstall need an index folder; an empty repository will do.
	if out, err := runCmd(t, nil, "git", "init", "-q", filepath.Join(root, "index", "default")); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	kenv := []string{"KREW_ROOT=" + root, "KREW_NO_UPGRADE_CHECK=1", "KREW_OS=linux", "KREW_ARCH=" + runtime.GOARCH}
	out, err := runCmd(t, kenv, krew, "install", "--manifest="+manifest, "--archive="+archive)
	if err != nil {
		t.Fatalf("krew install: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Installed plugin: llama") {
		t.Errorf("krew install output:\n%s", out)
	}
	if !strings.Contains(out, "Hugging Face token") {
		t.Errorf("krew install did not show the caveats:\n%s", out)
	}
	bin := filepath.Join(root, "bin", "kubectl-llama")
	got, err := runCmd(t, nil, bin, "version")
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, got)
	}
	if first := strings.SplitN(got, "\n", 2)[0]; first != "kubectl-llama "+version {
		t.Errorf("installed plugin says %q, want %q", first, "kubectl-llama "+version)
	}
	if _, err := os.Stat(filepath.Join(root, "store", "llama", version, "LICENSE")); err != nil {
		t.Errorf("LICENSE not installed with the plugin: %v", err)
	}
	out, err = runCmd(t, kenv, krew, "list")
	if err != nil || !strings.Contains(out, "llama") {
		t.Errorf("krew list: %v\n%s", err, out)
	}
	if out, err := runCmd(t, kenv, krew, "uninstall", "llama"); err != nil {
		t.Errorf("krew uninstall: %v\n%s", err, out)
	}
	if _, err := os.Lstat(bin); !os.IsNotExist(err) {
		t.Errorf("%s still there after uninstall", bin)
	}
}

// TestKrewRejectsTamperedArchive: one byte appended, and krew must refuse
// the archive on its sha256 and install nothing.
func TestKrewRejectsTamperedArchive(t *testing.T) {
	manifest, dist, version := paths(t)
	archive := hostArchive(t, dist, version)
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), filepath.Base(archive))
	if err := os.WriteFile(tampered, append(data, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	out, err := runCmd(t, []string{"KREW_ROOT=" + root, "KREW_NO_UPGRADE_CHECK=1"}, env(t, "KREW"),
		"install", "--manifest="+manifest, "--archive="+tampered)
	if err == nil {
		t.Fatalf("krew installed a tampered archive:\n%s", out)
	}
	if !strings.Contains(out, "checksum does not match") {
		t.Errorf("krew failed, but not on the checksum:\n%s", out)
	}
	if _, err := os.Lstat(filepath.Join(root, "bin", "kubectl-llama")); !os.IsNotExist(err) {
		t.Error("a plugin binary was installed from the tampered archive")
	}
}
