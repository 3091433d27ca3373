// Package charts embeds the vllm-llama chart directory into the plugin
// binary. The files are read straight from charts/vllm-llama at build time,
// so a change to the chart needs no copy step and cannot go stale.
package charts

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// ChartDir is the chart's folder name, inside FS and inside charts/.
const ChartDir = "vllm-llama"

// CatalogFile is the model x GPU catalog's path inside the chart.
const CatalogFile = "catalog.yaml"

// FS holds the chart directory. "all:" keeps _helpers.tpl and .helmignore,
// which a plain go:embed pattern would drop.
//
//go:embed all:vllm-llama
var FS embed.FS

// Catalog returns the raw bytes of the chart's catalog.yaml.
func Catalog() ([]byte, error) {
	return FS.ReadFile(ChartDir + "/" + CatalogFile)
}

// Load returns the embedded chart, loaded as Helm loads a chart directory.
func Load() (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(FS, ChartDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := FS.ReadFile(path)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(path, ChartDir+"/"), Data: data})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading embedded chart: %w", err)
	}
	return loader.LoadFiles(files)
}
