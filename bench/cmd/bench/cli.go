package main

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"strings"
)

// benchCLI: 1. `kubectl-llama version` vs `helm version`, binary size, peak RSS.
func (b *bench) benchCLI(ctx context.Context) {
	const g = "1 CLI start"
	var pw, hw, pr, hr []float64
	for i := 0; i < b.cfg.runs+2; i++ {
		p := b.r.run(ctx, nil, b.cfg.plugin, "version")
		h := b.r.run(ctx, nil, b.cfg.helm, "version")
		if err := firstErr(p.fail("kubectl-llama version"), h.fail("helm version")); err != nil {
			b.rep.add(Row{Group: g, Measure: "version", Unit: "ms", Anchor: "helm version", Error: err.Error()})
			return
		}
		if i < 2 { // warm-up: page cache
			continue
		}
		pw, hw = append(pw, ms(p.Wall)), append(hw, ms(h.Wall))
		pr, hr = append(pr, kib2mib(p.MaxRSSKiB)), append(hr, kib2mib(h.MaxRSSKiB))
	}
	b.rep.add(Row{Group: g, Measure: "version wall time", Unit: "ms", Plugin: summarize(pw), Anchor: "helm version", AnchorStats: summarize(hw)})
	b.rep.add(Row{Group: g, Measure: "version peak RSS", Unit: "MiB", Plugin: summarize(pr), Anchor: "helm version", AnchorStats: summarize(hr)})
	ps, err1 := os.Stat(b.cfg.plugin)
	hs, err2 := os.Stat(b.cfg.helm)
	if err := firstErr(err1, err2); err != nil {
		b.rep.add(Row{Group: g, Measure: "binary size", Unit: "MiB", Anchor: "helm", Error: err.Error()})
		return
	}
	b.rep.add(Row{Group: g, Measure: "binary size", Unit: "MiB",
		Plugin: summarize([]float64{float64(ps.Size()) / (1 << 20)}), Anchor: "helm",
		AnchorStats: summarize([]float64{float64(hs.Size()) / (1 << 20)}),
		Note:        "kubectl-llama " + linkage(b.cfg.plugin) + ", helm " + linkage(b.cfg.helm)})
}

// benchRender: 2. `kubectl llama install P --dry-run` vs `helm template` of
// the same chart and values, for every preset. The outputs are compared too.
func (b *bench) benchRender(ctx context.Context) {
	const g = "2 render"
	for _, preset := range presets {
		pargs := []string{"install", preset, "--dry-run", "--mode", "autopilot"}
		hargs := []string{"template", preset, b.cfg.chartDir, "--namespace", "default", "--skip-tests",
			"--set", "model.preset=" + preset, "--set", "gke.mode=autopilot"}
		var pw, hw []float64
		note := ""
		for i := 0; i < b.cfg.renderRuns+1; i++ {
			p := b.r.run(ctx, nil, b.cfg.plugin, pargs...)
			h := b.r.run(ctx, nil, b.cfg.helm, hargs...)
			if err := firstErr(p.fail("kubectl-llama install --dry-run"), h.fail("helm template")); err != nil {
				b.rep.add(Row{Group: g, Measure: preset, Unit: "ms", Anchor: "helm template", Error: err.Error()})
				note = "error"
				break
			}
			if i == 0 {
				if strings.TrimSpace(p.Stdout) != strings.TrimSpace(h.Stdout) {
					note = "outputs differ from helm template (--skip-tests)"
				}
				continue
			}
			pw, hw = append(pw, ms(p.Wall)), append(hw, ms(h.Wall))
		}
		if note == "error" {
			continue
		}
		b.rep.add(Row{Group: g, Measure: "install " + preset + " --dry-run", Unit: "ms", Plugin: summarize(pw),
			Anchor: "helm template", AnchorStats: summarize(hw), Note: note})
	}
}

// linkage says whether an ELF binary is static or dynamically linked (a
// cgo build: larger, and not what the release archives ship).
func linkage(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return "not ELF"
	}
	defer f.Close()
	if f.Section(".interp") != nil {
		return "dynamically linked (cgo)"
	}
	return "static"
}

func kib2mib(k int64) float64 { return float64(k) / 1024 }

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// mustContain fails when a command's answer lacks want.
func mustContain(what, out, want string) error {
	if !strings.Contains(out, want) {
		return fmt.Errorf("%s: answer lacks %q: %.200s", what, want, out)
	}
	return nil
}
