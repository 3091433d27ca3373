package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// Report is what the bench prints and writes to bench/results.json.
type Report struct {
	Meta map[string]string `json:"meta"`
	Rows []Row             `json:"rows"`
}

// Row compares the plugin with its anchor on one measure. Ratio is
// plugin/anchor for costs (time, bytes) and anchor/plugin for throughput,
// so a ratio above 1 always means the plugin does worse.
type Row struct {
	Group          string  `json:"group"`
	Measure        string  `json:"measure"`
	Unit           string  `json:"unit"`
	HigherIsBetter bool    `json:"higherIsBetter,omitempty"`
	Plugin         Stats   `json:"plugin"`
	Anchor         string  `json:"anchor"`
	AnchorStats    Stats   `json:"anchorStats"`
	Ratio          float64 `json:"ratio"`
	Note           string  `json:"note,omitempty"`
	Error          string  `json:"error,omitempty"`
}

func (r *Report) add(row Row) {
	if row.Error == "" && row.Plugin.N > 0 && row.AnchorStats.N > 0 {
		if row.HigherIsBetter {
			row.Ratio = ratio(row.AnchorStats.Median, row.Plugin.Median)
		} else {
			row.Ratio = ratio(row.Plugin.Median, row.AnchorStats.Median)
		}
	}
	r.Rows = append(r.Rows, row)
}

func fmtStats(s Stats) string {
	if s.N == 0 {
		return "-"
	}
	if s.N == 1 {
		return fmt.Sprintf("%.1f", s.Median)
	}
	return fmt.Sprintf("%.1f (%.1f-%.1f)", s.Median, s.Min, s.Max)
}

// printTable writes the human table: median (min-max) of N runs.
func (r *Report) printTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tMEASURE\tUNIT\tN\tKUBECTL-LLAMA median (min-max)\tANCHOR\tANCHOR median (min-max)\tRATIO")
	for _, row := range r.Rows {
		if row.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t%s\t-\tERROR: %s\n", row.Group, row.Measure, row.Unit, row.Anchor, row.Error)
			continue
		}
		rt := fmt.Sprintf("%.2f", row.Ratio)
		if row.Anchor == "" {
			rt = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", row.Group, row.Measure, row.Unit, row.Plugin.N,
			fmtStats(row.Plugin), row.Anchor, fmtStats(row.AnchorStats), rt)
	}
	tw.Flush()
	var notes []string
	for _, row := range r.Rows {
		if row.Note != "" {
			notes = append(notes, fmt.Sprintf("  %s / %s: %s", row.Group, row.Measure, row.Note))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "notes:\n%s\n", strings.Join(notes, "\n"))
	}
	fmt.Fprintln(w, "ratio = kubectl-llama / anchor (anchor / kubectl-llama for req/s): above 1 means kubectl-llama does worse")
}

func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
