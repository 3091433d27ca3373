package main

import (
	"bytes"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const sums = `1111111111111111111111111111111111111111111111111111111111111111  kubectl-llama_v0.1.0_windows_amd64.zip
2222222222222222222222222222222222222222222222222222222222222222  kubectl-llama_v0.1.0_linux_amd64.tar.gz
3333333333333333333333333333333333333333333333333333333333333333  kubectl-llama_v0.1.0_darwin_arm64.tar.gz
4444444444444444444444444444444444444444444444444444444444444444  vllm-llama-0.1.0.tgz
`

// manifestDoc is the part of krew's Plugin type the tests read.
type manifestDoc struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

func render(t *testing.T) manifestDoc {
	t.Helper()
	ps, err := ParseChecksums(strings.NewReader(sums), "v0.1.0", DefaultBaseURL+"/")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Render(&buf, "v0.1.0", ps); err != nil {
		t.Fatal(err)
	}
	var m manifestDoc
	if err := yaml.UnmarshalStrict(buf.Bytes(), &m); err != nil {
		t.Fatalf("manifest is not valid YAML: %v\n%s", err, buf.String())
	}
	return m
}

func TestManifestFromChecksums(t *testing.T) {
	m := render(t)
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "llama" {
		t.Errorf("header %s %s %s", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	if m.Spec.Version != "v0.1.0" || m.Spec.Homepage != Homepage {
		t.Errorf("version %q homepage %q", m.Spec.Version, m.Spec.Homepage)
	}
	if len(m.Spec.ShortDescription) == 0 || strings.Contains(m.Spec.ShortDescription, "\n") {
		t.Errorf("shortDescription %q", m.Spec.ShortDescription)
	}
	for _, w := range []string{"Hugging Face token", "GPU quota", "HF_TOKEN"} {
		if !strings.Contains(m.Spec.Caveats, w) {
			t.Errorf("caveats do not mention %q", w)
		}
	}
	if len(m.Spec.Platforms) != 3 {
		t.Fatalf("%d platforms, want 3 (the chart archive is not a platform)", len(m.Spec.Platforms))
	}
	want := []struct{ os, arch, sum, bin, file string }{
		{"darwin", "arm64", "3333", "kubectl-llama", "kubectl-llama_v0.1.0_darwin_arm64.tar.gz"},
		{"linux", "amd64", "2222", "kubectl-llama", "kubectl-llama_v0.1.0_linux_amd64.tar.gz"},
		{"windows", "amd64", "1111", "kubectl-llama.exe", "kubectl-llama_v0.1.0_windows_amd64.zip"},
	}
	for i, w := range want {
		p := m.Spec.Platforms[i]
		if p.Selector.MatchLabels["os"] != w.os || p.Selector.MatchLabels["arch"] != w.arch || len(p.Selector.MatchLabels) != 2 {
			t.Errorf("platform %d selector %v, want %s/%s", i, p.Selector.MatchLabels, w.os, w.arch)
		}
		if !strings.HasPrefix(p.SHA256, w.sum) || len(p.SHA256) != 64 {
			t.Errorf("%s: sha256 %s", w.os, p.SHA256)
		}
		if p.URI != "https://github.com/kubectl-llama/kubectl-llama/releases/download/v0.1.0/"+w.file {
			t.Errorf("%s: uri %s", w.os, p.URI)
		}
		if p.Bin != w.bin || len(p.Files) != 2 || p.Files[0].From != w.bin || p.Files[1].From != "LICENSE" {
			t.Errorf("%s: bin %s files %+v", w.os, p.Bin, p.Files)
		}
	}
}

func TestParseChecksumsRejects(t *testing.T) {
	for name, in := range map[string]string{
		"uppercase hash": strings.Repeat("A", 64) + "  kubectl-llama_v0.1.0_linux_amd64.tar.gz\n",
		"short hash":     "abc  kubectl-llama_v0.1.0_linux_amd64.tar.gz\n",
		"other version":  strings.Repeat("a", 64) + "  kubectl-llama_v0.0.9_linux_amd64.tar.gz\n",
		"windows tar":    strings.Repeat("a", 64) + "  kubectl-llama_v0.1.0_windows_amd64.tar.gz\n",
		"duplicate": strings.Repeat("a", 64) + "  kubectl-llama_v0.1.0_linux_amd64.tar.gz\n" +
			strings.Repeat("b", 64) + "  kubectl-llama_v0.1.0_linux_amd64.zip\n",
		"no archives": "",
	} {
		if _, err := ParseChecksums(strings.NewReader(in), "v0.1.0", DefaultBaseURL); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
