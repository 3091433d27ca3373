// Command dist packs cross-built kubectl-llama binaries into release archives
// that are byte-for-byte reproducible, and writes their checksums.txt.
//
// Input: -bin DIR holding one <os>_<arch>/ folder per platform with the
// binary (kubectl-llama, or kubectl-llama.exe on windows). Output, in -out:
//
//	kubectl-llama_<version>_<os>_<arch>.tar.gz   (.zip for windows)
//	checksums.txt                                (sha256, lowercase, sorted)
//
// Every archive holds the binary and LICENSE at its root. Entries are in a
// fixed order with fixed modes, zero owners and one fixed mtime
// (-mtime, default $SOURCE_DATE_EPOCH); the gzip header carries no name and
// no time. Same binaries + same LICENSE -> same bytes.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Binary is the plugin's executable name inside every archive.
const Binary = "kubectl-llama"

// DefaultEpoch is the mtime used when neither -mtime nor SOURCE_DATE_EPOCH is
// set: 2025-01-01T00:00:00Z.
const DefaultEpoch = 1735689600

// Entry is one file of an archive.
type Entry struct {
	Name string
	Mode int64 // permission bits only
	Data []byte
}

// Platform is one GOOS/GOARCH pair.
type Platform struct{ OS, Arch string }

// ArchiveName returns the file name of the release archive for p.
func ArchiveName(version string, p Platform) string {
	ext := ".tar.gz"
	if p.OS == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%s_%s%s", Binary, version, p.OS, p.Arch, ext)
}

// BinaryName returns the executable's name on p.
func BinaryName(p Platform) string {
	if p.OS == "windows" {
		return Binary + ".exe"
	}
	return Binary
}

// WriteTarGz writes entries, in the given order, as a gzip-compressed tar.
func WriteTarGz(w io.Writer, entries []Entry, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	// Name "" and ModTime zero: the gzip header holds neither.
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     e.Name,
			Mode:     e.Mode,
			Size:     int64(len(e.Data)),
			ModTime:  mtime.UTC().Truncate(time.Second),
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar %s: %w", e.Name, err)
		}
		if _, err := tw.Write(e.Data); err != nil {
			return fmt.Errorf("tar %s: %w", e.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// WriteZip writes entries, in the given order, as a deflated zip.
func WriteZip(w io.Writer, entries []Entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.DefaultCompression)
	})
	for _, e := range entries {
		hdr := &zip.FileHeader{
			Name:     e.Name,
			Method:   zip.Deflate,
			Modified: mtime.UTC().Truncate(time.Second),
		}
		hdr.SetMode(os.FileMode(e.Mode))
		f, err := zw.CreateHeader(hdr)
		if err != nil {
			return fmt.Errorf("zip %s: %w", e.Name, err)
		}
		if _, err := f.Write(e.Data); err != nil {
			return fmt.Errorf("zip %s: %w", e.Name, err)
		}
	}
	return zw.Close()
}

// Archive returns the release archive for p holding binary and license.
func Archive(p Platform, binary, license []byte, mtime time.Time) ([]byte, error) {
	entries := []Entry{
		{Name: BinaryName(p), Mode: 0o755, Data: binary},
		{Name: "LICENSE", Mode: 0o644, Data: license},
	}
	var buf bytes.Buffer
	var err error
	if p.OS == "windows" {
		err = WriteZip(&buf, entries, mtime)
	} else {
		err = WriteTarGz(&buf, entries, mtime)
	}
	return buf.Bytes(), err
}

// Checksums renders sha256sum-style lines ("<hex>  <name>"), sorted by name.
func Checksums(files map[string][]byte) []byte {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		sum := sha256.Sum256(files[n])
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	return []byte(b.String())
}

var platformDir = regexp.MustCompile(`^([a-z0-9]+)_([a-z0-9]+)$`)

// Platforms lists the <os>_<arch> folders of binDir, sorted.
func Platforms(binDir string) ([]Platform, error) {
	ents, err := os.ReadDir(binDir)
	if err != nil {
		return nil, err
	}
	var ps []Platform
	for _, e := range ents {
		m := platformDir.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		ps = append(ps, Platform{OS: m[1], Arch: m[2]})
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("no <os>_<arch> folders in %s: run the cross build first", binDir)
	}
	return ps, nil
}

// Run builds every archive and checksums.txt into outDir.
func Run(version, binDir, licensePath, outDir string, mtime time.Time) error {
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(version) {
		return fmt.Errorf("version %q is not semver vX.Y.Z", version)
	}
	license, err := os.ReadFile(licensePath)
	if err != nil {
		return err
	}
	ps, err := Platforms(binDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	out := map[string][]byte{}
	for _, p := range ps {
		bin, err := os.ReadFile(filepath.Join(binDir, p.OS+"_"+p.Arch, BinaryName(p)))
		if err != nil {
			return err
		}
		data, err := Archive(p, bin, license, mtime)
		if err != nil {
			return err
		}
		name := ArchiveName(version, p)
		if err := os.WriteFile(filepath.Join(outDir, name), data, 0o644); err != nil {
			return err
		}
		out[name] = data
	}
	return os.WriteFile(filepath.Join(outDir, "checksums.txt"), Checksums(out), 0o644)
}

func defaultEpoch() (int64, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return DefaultEpoch, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
	}
	return n, nil
}

func main() {
	epoch, err := defaultEpoch()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	version := flag.String("version", "", "release version (vX.Y.Z)")
	binDir := flag.String("bin", "dist/bin", "folder with one <os>_<arch>/ folder per platform")
	license := flag.String("license", "LICENSE", "license file put in every archive")
	out := flag.String("out", "dist", "output folder")
	mtime := flag.Int64("mtime", epoch, "mtime of every entry, seconds since the epoch (default $SOURCE_DATE_EPOCH)")
	flag.Parse()
	if *version == "" {
		fmt.Fprintln(os.Stderr, "error: -version is required")
		os.Exit(2)
	}
	if err := Run(*version, *binDir, *license, *out, time.Unix(*mtime, 0)); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
