package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

var (
	testTime = time.Unix(DefaultEpoch, 0)
	testBin  = bytes.Repeat([]byte("\x7fELF fake binary "), 512)
	testLic  = []byte("Apache License\nVersion 2.0\n")
	linux    = Platform{OS: "linux", Arch: "amd64"}
	windows  = Platform{OS: "windows", Arch: "amd64"}
)

func TestArchiveIsReproducible(t *testing.T) {
	for _, p := range []Platform{linux, windows, {OS: "darwin", Arch: "arm64"}} {
		a, err := Archive(p, testBin, testLic, testTime)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Archive(p, bytes.Clone(testBin), bytes.Clone(testLic), testTime)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%v: two archives of the same input differ", p)
		}
		// The mtime is really in the bytes: another one gives another archive.
		c, err := Archive(p, testBin, testLic, testTime.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a, c) {
			t.Errorf("%v: the mtime does not reach the archive", p)
		}
	}
}

func TestTarGzLayout(t *testing.T) {
	data, err := Archive(linux, testBin, testLic, testTime)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || !gz.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q / mtime %v, want none", gz.Name, gz.ModTime)
	}
	tr := tar.NewReader(gz)
	want := []struct {
		name string
		mode int64
		data []byte
	}{{"kubectl-llama", 0o755, testBin}, {"LICENSE", 0o644, testLic}}
	for _, w := range want {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("want entry %s: %v", w.name, err)
		}
		if h.Name != w.name || h.Mode != w.mode || h.Typeflag != tar.TypeReg {
			t.Errorf("entry %s mode %o type %c, want %s mode %o regular", h.Name, h.Mode, h.Typeflag, w.name, w.mode)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want 0:0 and no names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(testTime) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, testTime)
		}
		got, _ := io.ReadAll(tr)
		if !bytes.Equal(got, w.data) {
			t.Errorf("%s: content differs", h.Name)
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("extra entries after LICENSE: %v", err)
	}
}

func TestZipLayout(t *testing.T) {
	data, err := Archive(windows, testBin, testLic, testTime)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 2 || zr.File[0].Name != "kubectl-llama.exe" || zr.File[1].Name != "LICENSE" {
		t.Fatalf("zip entries %v, want [kubectl-llama.exe LICENSE]", zr.File)
	}
	for i, want := range [][]byte{testBin, testLic} {
		f := zr.File[i]
		if !f.Modified.Equal(testTime) {
			t.Errorf("%s: mtime %v, want %v", f.Name, f.Modified, testTime)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, want) {
			t.Errorf("%s: content differs", f.Name)
		}
	}
	if m := zr.File[0].Mode().Perm(); m != 0o755 {
		t.Errorf("exe mode %o, want 755", m)
	}
}

func TestArchiveName(t *testing.T) {
	if got := ArchiveName("v0.1.0", linux); got != "kubectl-llama_v0.1.0_linux_amd64.tar.gz" {
		t.Error(got)
	}
	if got := ArchiveName("v0.1.0", windows); got != "kubectl-llama_v0.1.0_windows_amd64.zip" {
		t.Error(got)
	}
}

func TestChecksumsFormat(t *testing.T) {
	got := string(Checksums(map[string][]byte{"b.zip": []byte("b"), "a.tar.gz": []byte("a")}))
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	want := sum("a") + "  a.tar.gz\n" + sum("b") + "  b.zip\n"
	if got != want {
		t.Errorf("checksums:\n%s\nwant:\n%s", got, want)
	}
	if strings.ToLower(got) != got {
		t.Error("checksums must be lowercase")
	}
}

// TestRunTwice runs the whole archive step twice on the same binaries into
// two folders: every output file must be byte-identical.
func TestRunTwice(t *testing.T) {
	bin := t.TempDir()
	for _, p := range []Platform{linux, {OS: "linux", Arch: "arm64"}, {OS: "darwin", Arch: "amd64"}, windows} {
		dir := filepath.Join(bin, p.OS+"_"+p.Arch)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, BinaryName(p)), append([]byte(p.OS+p.Arch), testBin...), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lic := filepath.Join(t.TempDir(), "LICENSE")
	if err := os.WriteFile(lic, testLic, 0o600); err != nil {
		t.Fatal(err)
	}
	out1, out2 := t.TempDir(), t.TempDir()
	if err := Run("v1.2.3", bin, lic, out1, testTime); err != nil {
		t.Fatal(err)
	}
	// Different file mtimes on the inputs must not matter.
	_ = os.Chtimes(lic, time.Now(), time.Now())
	if err := Run("v1.2.3", bin, lic, out2, testTime); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(out1)
	if len(ents) != 5 {
		t.Fatalf("%d files in dist, want 4 archives + checksums.txt", len(ents))
	}
	for _, e := range ents {
		a, _ := os.ReadFile(filepath.Join(out1, e.Name()))
		b, err := os.ReadFile(filepath.Join(out2, e.Name()))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs (%v)", e.Name(), err)
		}
	}
	sums, _ := os.ReadFile(filepath.Join(out1, "checksums.txt"))
	line := regexp.MustCompile(`(?m)^([0-9a-f]{64})  (kubectl-llama_v1\.2\.3_windows_amd64\.zip)$`).FindStringSubmatch(string(sums))
	if line == nil {
		t.Fatalf("no windows line in checksums.txt:\n%s", sums)
	}
	z, _ := os.ReadFile(filepath.Join(out1, line[2]))
	if h := sha256.Sum256(z); hex.EncodeToString(h[:]) != line[1] {
		t.Error("checksums.txt does not match the archive")
	}
	if err := Run("1.2.3", bin, lic, t.TempDir(), testTime); err == nil {
		t.Error("a version without the v prefix was accepted")
	}
}

// TestBuildIsReproducible builds the plugin for linux/amd64 twice, from the
// work tree and from a copy of it at another path, with the release flags
// of `make dist`, and compares the bytes. The package cache is shared, so
// this checks the link step and path independence (-trimpath) cheaply.
func TestBuildIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin twice")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	copyRoot := filepath.Join(t.TempDir(), "elsewhere")
	copyTree(t, root, copyRoot)
	build := func(dir, out string) []byte {
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-buildvcs=false",
			"-ldflags", "-s -w -X github.com/kubectl-llama/kubectl-llama/plugin/version.version=v0.0.0-repro",
			"-o", out, "./cmd/kubectl-llama")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build in %s: %v\n%s", dir, err, b)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	a := build(root, filepath.Join(t.TempDir(), "a"))
	b := build(copyRoot, filepath.Join(t.TempDir(), "b"))
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same source differ: the release is not reproducible")
	}
	x, _ := Archive(linux, a, testLic, testTime)
	y, _ := Archive(linux, b, testLic, testTime)
	if !bytes.Equal(x, y) {
		t.Fatal("archives of two builds differ")
	}
}

// copyTree copies the root module's source (not .git, build outputs or the
// separate test/cluster module) to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	skip := map[string]bool{".git": true, "dist": true, "bin": true, ".cache": true, "test": true, "node_modules": true}
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && skip[rel] {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
