package catalog

import (
	"fmt"
	"testing"
)

// The catalog must be self-consistent: every preset names every GPU profile
// exactly once (as a fit or a misfit), its default GPU is a fit, and every
// fit's GPU count is one the accelerator offers and at least minCount.
func TestCatalogConsistent(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Presets) != 5 {
		t.Fatalf("want the 5 seed presets, got %v", c.PresetNames())
	}
	for name, p := range c.Presets {
		if _, ok := p.Fits[p.DefaultGPU]; !ok {
			t.Errorf("%s: default GPU %q is not a fit", name, p.DefaultGPU)
		}
		for gpu := range c.GPUs {
			_, fit := p.Fits[gpu]
			_, misfit := p.Misfits[gpu]
			if fit == misfit {
				t.Errorf("%s: GPU %q must be exactly one of fits/misfits (fit=%v misfit=%v)", name, gpu, fit, misfit)
			}
		}
		for gpu, f := range p.Fits {
			g, err := c.GPU(gpu)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if !contains(g.Counts, f.Count) {
				t.Errorf("%s on %s: count %d not offered (%v)", name, gpu, f.Count, g.Counts)
			}
			if f.MinCount < 1 || f.MinCount > f.Count {
				t.Errorf("%s on %s: minCount %d outside 1..%d", name, gpu, f.MinCount, f.Count)
			}
			if f.MinCount*g.MemoryGB < p.WeightsGB {
				t.Errorf("%s on %s: minCount %d x %d GB cannot hold %d GB of weights", name, gpu, f.MinCount, g.MemoryGB, p.WeightsGB)
			}
			if p.Precision == "fp8" && !g.FP8 {
				t.Errorf("%s on %s: FP8 model on a GPU without FP8", name, gpu)
			}
		}
	}
	for name, g := range c.GPUs {
		for _, n := range g.Counts {
			if _, ok := g.Shapes[itoa(n)]; !ok {
				t.Errorf("gpu %s: no shape for count %d", name, n)
			}
		}
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func itoa(n int) string { return fmt.Sprint(n) }
