package vllmstub

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// kind is how argparse treats an option.
type kind int

const (
	kStr       kind = iota // type=str, one value
	kInt                   // type=int (vLLM's human_readable_int where noted)
	kFloat                 // type=float
	kStoreTrue             // action="store_true": no value, "--x=v" is an error
	kBoolOpt               // argparse.BooleanOptionalAction: --x / --no-x
	kJSON                  // vLLM's json.loads type for dict-valued config
	kMulti                 // nargs="+": one or more values
)

// flagSpec is one accepted vLLM option.
type flagSpec struct {
	name    string   // canonical spelling without the leading "--"
	short   string   // argparse alias such as "-tp", or ""
	kind    kind     //
	choices []string // allowed values for a choice option
	human   bool     // kInt accepting 1k / 1K / 1m suffixes (human_readable_int)
	removed string   // first vLLM version that no longer accepts it ("" = still accepted)
	added   string   // first vLLM version that accepts it ("" = 0.10.0 or earlier)
}

// flagTable lists the options of vLLM v0.10.0's OpenAI server that the chart
// (or a user's extraArgs) may plausibly render: the frontend (server) flags of
// vllm/entrypoints/openai/cli_args.py and the engine flags of
// vllm/engine/arg_utils.py (EngineArgs / AsyncEngineArgs). It is deliberately
// a small explicit list, not vLLM's full surface: an option missing here makes
// the stub fail like an unknown option would, which a test will show; add the
// real option here (with its real type) rather than loosening the parser.
//
// Version rules, from vLLM's release history (shared/research):
//   - --swap-space was removed from the engine arguments in v0.18.0 (PR 36216);
//   - --enable-log-requests appeared in v0.10.1 (PR 21739), replacing
//     --disable-log-requests, which later releases dropped.
//
// The table is independent of charts/vllm-llama/catalog.yaml on purpose: the
// chart decides from the catalog which flags to render, the stub checks them
// against what vLLM really accepts, so a wrong catalog rule fails a test.
var flagTable = []flagSpec{
	// Frontend (server) arguments.
	{name: "host", kind: kStr},
	{name: "port", kind: kInt},
	{name: "uvicorn-log-level", kind: kStr, choices: []string{"debug", "info", "warning", "error", "critical", "trace"}},
	{name: "disable-uvicorn-access-log", kind: kStoreTrue},
	{name: "allow-credentials", kind: kStoreTrue},
	{name: "allowed-origins", kind: kJSON},
	{name: "allowed-methods", kind: kJSON},
	{name: "allowed-headers", kind: kJSON},
	{name: "api-key", kind: kStr},
	{name: "lora-modules", kind: kMulti},
	{name: "chat-template", kind: kStr},
	{name: "chat-template-content-format", kind: kStr, choices: []string{"auto", "string", "openai"}},
	{name: "response-role", kind: kStr},
	{name: "ssl-keyfile", kind: kStr},
	{name: "ssl-certfile", kind: kStr},
	{name: "root-path", kind: kStr},
	{name: "middleware", kind: kStr},
	{name: "return-tokens-as-token-ids", kind: kStoreTrue},
	{name: "disable-frontend-multiprocessing", kind: kStoreTrue},
	{name: "enable-request-id-headers", kind: kStoreTrue},
	{name: "enable-auto-tool-choice", kind: kStoreTrue},
	{name: "tool-call-parser", kind: kStr},
	{name: "tool-parser-plugin", kind: kStr},
	{name: "disable-fastapi-docs", kind: kStoreTrue},
	{name: "enable-prompt-tokens-details", kind: kStoreTrue},
	{name: "enable-server-load-tracking", kind: kStoreTrue},
	{name: "enable-force-include-usage", kind: kStoreTrue},
	{name: "max-log-len", kind: kInt},
	{name: "disable-log-stats", kind: kStoreTrue},
	{name: "disable-log-requests", kind: kStoreTrue},
	{name: "enable-log-requests", kind: kStoreTrue, added: "0.10.1"},

	// Engine arguments.
	{name: "model", kind: kStr},
	{name: "served-model-name", kind: kMulti},
	{name: "tokenizer", kind: kStr},
	{name: "tokenizer-mode", kind: kStr, choices: []string{"auto", "slow", "mistral", "custom"}},
	{name: "trust-remote-code", kind: kBoolOpt},
	{name: "revision", kind: kStr},
	{name: "download-dir", kind: kStr},
	{name: "load-format", kind: kStr},
	{name: "dtype", kind: kStr, choices: []string{"auto", "half", "float16", "bfloat16", "float", "float32"}},
	{name: "kv-cache-dtype", kind: kStr, choices: []string{"auto", "fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc"}},
	{name: "max-model-len", kind: kInt, human: true},
	{name: "seed", kind: kInt},
	{name: "tensor-parallel-size", short: "-tp", kind: kInt},
	{name: "pipeline-parallel-size", short: "-pp", kind: kInt},
	{name: "data-parallel-size", short: "-dp", kind: kInt},
	{name: "enable-expert-parallel", kind: kBoolOpt},
	{name: "distributed-executor-backend", kind: kStr, choices: []string{"ray", "mp", "uni", "external_launcher"}},
	{name: "gpu-memory-utilization", kind: kFloat},
	{name: "swap-space", kind: kFloat, removed: "0.18.0"},
	{name: "cpu-offload-gb", kind: kFloat},
	{name: "block-size", kind: kInt, choices: []string{"1", "8", "16", "32", "64", "128"}},
	{name: "max-num-seqs", kind: kInt},
	{name: "max-num-batched-tokens", kind: kInt, human: true},
	{name: "max-seq-len-to-capture", kind: kInt},
	{name: "enable-prefix-caching", kind: kBoolOpt},
	{name: "enable-chunked-prefill", kind: kBoolOpt},
	{name: "enforce-eager", kind: kBoolOpt},
	{name: "disable-custom-all-reduce", kind: kBoolOpt},
	{name: "async-scheduling", kind: kBoolOpt},
	{name: "quantization", short: "-q", kind: kStr},
	{name: "limit-mm-per-prompt", kind: kJSON},
	{name: "mm-processor-kwargs", kind: kJSON},
	{name: "override-generation-config", kind: kJSON},
	{name: "generation-config", kind: kStr},
	{name: "hf-overrides", kind: kJSON},
	{name: "rope-scaling", kind: kJSON},
	{name: "compilation-config", short: "-O", kind: kJSON},
	{name: "speculative-config", kind: kJSON},
	{name: "max-logprobs", kind: kInt},
	{name: "enable-lora", kind: kBoolOpt},
	{name: "max-loras", kind: kInt},
	{name: "max-lora-rank", kind: kInt},
	{name: "scheduling-policy", kind: kStr, choices: []string{"fcfs", "priority"}},
	{name: "enable-sleep-mode", kind: kBoolOpt},
}

// Args is the result of parsing a vLLM command line.
type Args struct {
	Prog   string            // "api_server.py" or "vllm serve"
	Values map[string]string // canonical option name -> last value ("true" for flags)
	Multi  map[string][]string
	Set    []string // canonical names in the order given (for the non-default args line)
}

// Has reports whether the option was given.
func (a *Args) Has(name string) bool { _, ok := a.Values[name]; return ok }

// Str returns an option's value or def.
func (a *Args) Str(name, def string) string {
	if v, ok := a.Values[name]; ok {
		return v
	}
	return def
}

// Int returns an integer option (already validated by Parse) or def.
func (a *Args) Int(name string, def int64) int64 {
	v, ok := a.Values[name]
	if !ok {
		return def
	}
	n, _ := parseHumanInt(v, true)
	return n
}

// Float returns a float option or def.
func (a *Args) Float(name string, def float64) float64 {
	v, ok := a.Values[name]
	if !ok {
		return def
	}
	f, _ := strconv.ParseFloat(v, 64)
	return f
}

// Bool reports a store_true / BooleanOptionalAction option.
func (a *Args) Bool(name string) bool { return a.Values[name] == "true" }

// UsageError is an argparse error: the program prints usage plus
// "PROG: error: MSG" to stderr and exits 2.
type UsageError struct {
	Prog string
	Msg  string
}

func (e *UsageError) Error() string { return e.Prog + ": error: " + e.Msg }

// Lines returns the two stderr lines argparse writes.
func (e *UsageError) Lines() []string {
	return []string{
		"usage: " + e.Prog + " [-h] [--host HOST] [--port PORT] [--model MODEL] [--tensor-parallel-size TENSOR_PARALLEL_SIZE] ...",
		e.Error(),
	}
}

// SplitCommand takes a container's command+args and returns the program name
// argparse would print and the arguments it parses. It understands
// "python3 -m vllm.entrypoints.openai.api_server ARGS" and "vllm serve [MODEL] ARGS";
// anything else is treated as bare api_server arguments.
func SplitCommand(argv []string) (prog string, args []string, positionalModel string) {
	if len(argv) >= 3 && strings.HasPrefix(pathBase(argv[0]), "python") && argv[1] == "-m" {
		return "api_server.py", argv[3:], ""
	}
	if len(argv) >= 2 && pathBase(argv[0]) == "vllm" && argv[1] == "serve" {
		rest := argv[2:]
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			return "vllm serve", rest[1:], rest[0]
		}
		return "vllm serve", rest, ""
	}
	return "api_server.py", argv, ""
}

func pathBase(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Parse parses vLLM arguments for the emulated version like vLLM's
// FlexibleArgumentParser: "--k=v" and "--k v" forms, "_" and "-" spellings of
// option names, BooleanOptionalAction's --no-x, and argparse's error texts.
func Parse(prog string, args []string, version string) (*Args, error) {
	byName := map[string]*flagSpec{}
	for i := range flagTable {
		f := &flagTable[i]
		if f.removed != "" && versionAtLeast(version, f.removed) {
			continue
		}
		if f.added != "" && !versionAtLeast(version, f.added) {
			continue
		}
		byName["--"+f.name] = f
		if f.short != "" {
			byName[f.short] = f
		}
		if f.kind == kBoolOpt {
			byName["--no-"+f.name] = f
		}
	}
	out := &Args{Prog: prog, Values: map[string]string{}, Multi: map[string][]string{}}
	var unknown []string
	fail := func(format string, a ...any) error { return &UsageError{Prog: prog, Msg: fmt.Sprintf(format, a...)} }

	// FlexibleArgumentParser: underscores in option names become dashes.
	norm := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, "--") {
			if k, v, ok := strings.Cut(a, "="); ok {
				norm[i] = "--" + strings.ReplaceAll(k[2:], "_", "-") + "=" + v
			} else {
				norm[i] = "--" + strings.ReplaceAll(a[2:], "_", "-")
			}
		} else {
			norm[i] = a
		}
	}
	isOption := func(s string) bool {
		if !strings.HasPrefix(s, "-") || s == "-" {
			return false
		}
		_, err := strconv.ParseFloat(s, 64) // argparse treats negative numbers as values
		return err != nil
	}
	for i := 0; i < len(norm); i++ {
		tok := norm[i]
		if tok == "--" {
			unknown = append(unknown, norm[i+1:]...)
			break
		}
		if !isOption(tok) {
			unknown = append(unknown, tok) // api_server.py takes no positionals
			continue
		}
		key, inline, hasInline := strings.Cut(tok, "=")
		spec, ok := byName[key]
		if !ok {
			unknown = append(unknown, tok)
			continue
		}
		display := "--" + spec.name
		if spec.short != "" {
			display = spec.short + "/--" + spec.name
		}
		switch spec.kind {
		case kStoreTrue, kBoolOpt:
			if hasInline {
				return nil, fail("argument %s: ignored explicit argument '%s'", key, inline)
			}
			if strings.HasPrefix(key, "--no-") && spec.kind == kBoolOpt {
				out.set(spec.name, "false")
			} else {
				out.set(spec.name, "true")
			}
			continue
		case kMulti:
			var vals []string
			if hasInline {
				vals = append(vals, inline)
			}
			for i+1 < len(norm) && !isOption(norm[i+1]) {
				i++
				vals = append(vals, norm[i])
			}
			if len(vals) == 0 {
				return nil, fail("argument %s: expected at least one argument", display)
			}
			out.Multi[spec.name] = vals
			out.set(spec.name, strings.Join(vals, " "))
			continue
		}
		val := inline
		if !hasInline {
			if i+1 >= len(norm) || isOption(norm[i+1]) {
				return nil, fail("argument %s: expected one argument", display)
			}
			i++
			val = norm[i]
		}
		if err := checkValue(spec, val); err != "" {
			return nil, fail("argument %s: %s", display, err)
		}
		out.set(spec.name, val)
	}
	if len(unknown) > 0 {
		return nil, fail("unrecognized arguments: %s", strings.Join(unknown, " "))
	}
	return out, nil
}

func (a *Args) set(name, v string) {
	if _, seen := a.Values[name]; !seen {
		a.Set = append(a.Set, name)
	}
	a.Values[name] = v
}

// checkValue returns argparse's complaint about a value, or "".
func checkValue(spec *flagSpec, v string) string {
	switch spec.kind {
	case kInt:
		if _, err := parseHumanInt(v, spec.human); err != nil {
			if spec.human {
				return fmt.Sprintf("Invalid value '%s' expected a human-readable integer (e.g. 1k, 1K, 25.6k, 1M)", v)
			}
			return fmt.Sprintf("invalid int value: '%s'", v)
		}
	case kFloat:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Sprintf("invalid float value: '%s'", v)
		}
	case kJSON:
		var m any
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return fmt.Sprintf("Value %s cannot be converted to <function loads>.", v)
		}
	}
	if len(spec.choices) > 0 {
		ok := false
		for _, c := range spec.choices {
			ok = ok || c == v
		}
		if !ok {
			q := make([]string, len(spec.choices))
			for i, c := range spec.choices {
				q[i] = "'" + c + "'"
			}
			if spec.kind == kInt {
				return fmt.Sprintf("invalid choice: %s (choose from %s)", v, strings.Join(spec.choices, ", "))
			}
			return fmt.Sprintf("invalid choice: '%s' (choose from %s)", v, strings.Join(q, ", "))
		}
	}
	return ""
}

// parseHumanInt parses an int; with human, also vLLM's "1k" (x1000), "1K"
// (x1024), "1m", "1M" forms.
func parseHumanInt(v string, human bool) (int64, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, nil
	}
	if !human || v == "" {
		return 0, fmt.Errorf("invalid int %q", v)
	}
	mult := map[byte]float64{'k': 1e3, 'm': 1e6, 'g': 1e9, 'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}
	m, ok := mult[v[len(v)-1]]
	if !ok {
		return 0, fmt.Errorf("invalid int %q", v)
	}
	f, err := strconv.ParseFloat(v[:len(v)-1], 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid int %q", v)
	}
	return int64(math.Round(f * m)), nil
}

// versionAtLeast compares dotted versions ("v0.10.0", "0.18.0"); an unparsable
// version counts as the default 0.10.0.
func versionAtLeast(v, min string) bool {
	a, b := versionParts(v), versionParts(min)
	for i := 0; i < 3; i++ {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return true
}

func versionParts(v string) [3]int {
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	var out [3]int
	parts := strings.Split(v, ".")
	for i := 0; i < 3 && i < len(parts); i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return [3]int{0, 10, 0}
		}
		out[i] = n
	}
	return out
}

// AcceptedFlags lists the canonical option names accepted for a version,
// sorted (documentation and tests).
func AcceptedFlags(version string) []string {
	var out []string
	for _, f := range flagTable {
		if (f.removed == "" || !versionAtLeast(version, f.removed)) && (f.added == "" || versionAtLeast(version, f.added)) {
			out = append(out, "--"+f.name)
		}
	}
	sort.Strings(out)
	return out
}
