package cmd

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kubectl-llama/kubectl-llama/plugin/catalog"
)

type modelsOptions struct {
	f      *factory
	gpu    string
	output string
	cat    *catalog.Catalog
}

func newModelsCmd(f *factory) *cobra.Command {
	o := &modelsOptions{f: f}
	c := &cobra.Command{
		Use:     "models",
		Short:   "Show the model catalog: presets, GPUs they fit, and why not",
		Example: "  kubectl llama models\n  kubectl llama models --gpu h100\n  kubectl llama models -o yaml",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	c.Flags().StringVar(&o.gpu, "gpu", "", "show whether each model fits this GPU, and why not")
	c.Flags().StringVarP(&o.output, "output", "o", "", "json or yaml (default: a table)")
	_ = c.RegisterFlagCompletionFunc("gpu", fixedCompletion(gpuNames()...))
	_ = c.RegisterFlagCompletionFunc("output", fixedCompletion("json", "yaml"))
	return c
}

// Complete loads the catalog embedded from the chart.
func (o *modelsOptions) Complete() error {
	cat, err := catalog.Load()
	o.cat = cat
	return err
}

// Validate checks --gpu and -o.
func (o *modelsOptions) Validate() error {
	if o.output != "" && o.output != "json" && o.output != "yaml" {
		return fmt.Errorf("--output %q: use json or yaml", o.output)
	}
	if o.gpu != "" {
		if _, err := o.cat.GPU(o.gpu); err != nil {
			return err
		}
	}
	return nil
}

// modelFit is one GPU a model fits, as -o json|yaml prints it.
type modelFit struct {
	GPU                string `json:"gpu"`
	Accelerator        string `json:"accelerator"`
	Count              int    `json:"count"`
	MinCount           int    `json:"minCount"`
	TensorParallelSize int    `json:"tensorParallelSize"`
	MaxModelLen        int    `json:"maxModelLen"`
}

type modelMisfit struct {
	GPU    string `json:"gpu"`
	Reason string `json:"reason"`
}

type modelRow struct {
	Preset     string        `json:"preset"`
	ModelID    string        `json:"modelID"`
	Precision  string        `json:"precision"`
	WeightsGB  int           `json:"weightsGB"`
	DefaultGPU string        `json:"defaultGPU"`
	Fits       []modelFit    `json:"fits"`
	Misfits    []modelMisfit `json:"misfits"`
	// With --gpu.
	GPU    string `json:"gpu,omitempty"`
	Fit    *bool  `json:"fit,omitempty"`
	Detail string `json:"detail,omitempty"`
}

func (o *modelsOptions) rows() []modelRow {
	var rows []modelRow
	for _, name := range o.cat.PresetNames() {
		p := o.cat.Presets[name]
		r := modelRow{Preset: name, ModelID: p.ID, Precision: p.Precision, WeightsGB: p.WeightsGB, DefaultGPU: p.DefaultGPU, Fits: []modelFit{}, Misfits: []modelMisfit{}}
		for _, g := range p.FitGPUs() {
			fit := p.Fits[g]
			r.Fits = append(r.Fits, modelFit{GPU: g, Accelerator: o.cat.GPUs[g].Accelerator, Count: fit.Count, MinCount: fit.MinCount, TensorParallelSize: fit.Count, MaxModelLen: fit.MaxModelLen})
		}
		mis := make([]string, 0, len(p.Misfits))
		for g := range p.Misfits {
			mis = append(mis, g)
		}
		sort.Strings(mis)
		for _, g := range mis {
			r.Misfits = append(r.Misfits, modelMisfit{GPU: g, Reason: p.Misfits[g]})
		}
		if o.gpu != "" {
			r.GPU = o.gpu
			fits := false
			if fit, ok := p.Fits[o.gpu]; ok {
				fits = true
				r.Detail = fmt.Sprintf("%d GPUs (at least %d), TP %d, max-model-len %d", fit.Count, fit.MinCount, fit.Count, fit.MaxModelLen)
			} else if why, ok := p.Misfits[o.gpu]; ok {
				r.Detail = why
			} else {
				r.Detail = "not in the catalog for this GPU"
			}
			r.Fit = &fits
		}
		rows = append(rows, r)
	}
	return rows
}

// Run prints the catalog.
func (o *modelsOptions) Run() error {
	rows := o.rows()
	out := o.f.streams.Out
	if o.output != "" {
		return printStructured(out, o.output, map[string]interface{}{"models": rows})
	}
	tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	if o.gpu != "" {
		fmt.Fprintf(tw, "PRESET\tMODEL ID\tFITS %s\tDETAIL\n", strings.ToUpper(o.gpu))
		for _, r := range rows {
			yes := "no"
			if *r.Fit {
				yes = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Preset, r.ModelID, yes, r.Detail)
		}
		return tw.Flush()
	}
	fmt.Fprintln(tw, "PRESET\tMODEL ID\tPRECISION\tWEIGHTS\tDEFAULT GPU\tFITS (gpu: TPxcount, max-model-len)")
	for _, r := range rows {
		fits := make([]string, 0, len(r.Fits))
		for _, f := range r.Fits {
			fits = append(fits, fmt.Sprintf("%s: TPx%d, %s", f.GPU, f.TensorParallelSize, shortLen(f.MaxModelLen)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d GB\t%s\t%s\n", r.Preset, r.ModelID, strings.ToUpper(r.Precision), r.WeightsGB, r.DefaultGPU, strings.Join(fits, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nkubectl llama models --gpu GPU shows why a model does not fit a GPU.")
	return nil
}

// shortLen prints a token count as 128k / 1M where exact.
func shortLen(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dk", n>>10)
	}
	return fmt.Sprint(n)
}
