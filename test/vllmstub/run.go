package vllmstub

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Options are the stub's own settings (never the container's args). Each has
// a command-line form (before "--") and an environment form.
type Options struct {
	Listen   string        // --listen / VLLMSTUB_LISTEN: address to serve on; "" = 127.0.0.1:<--port>
	LogFile  string        // --log-file / VLLMSTUB_LOG_FILE: CRI-format log file ("" = none)
	LoadTime time.Duration // --load-time / VLLMSTUB_LOAD_TIME: simulated model load (default 2s)
	Version  string        // --vllm-version / VLLMSTUB_VLLM_VERSION: emulated vLLM version (default 0.10.0)
	Fault    string        // --fault / VLLMSTUB_FAULT: see faults.go
	GPUs     int           // --gpus / VLLMSTUB_GPUS: GPUs visible to the container (0 = unchecked)
}

// DefaultVersion is the vLLM version the stub emulates by default: the
// chart's appVersion (vllm/vllm-openai:v0.10.0).
const DefaultVersion = "0.10.0"

// Banner is the first line the stub writes, so nobody mistakes it for vLLM.
func Banner(version string) string {
	return "vllmstub: TEST INFRASTRUCTURE standing in for vLLM " + version + " (no model is loaded, no GPU is used)"
}

// knownModels maps model ids to their config.json max_position_embeddings
// (what vLLM derives max_model_len from).
var knownModels = map[string]int64{
	"meta-llama/Llama-4-Scout-17B-16E":                  10485760,
	"meta-llama/Llama-4-Scout-17B-16E-Instruct":         10485760,
	"meta-llama/Llama-4-Maverick-17B-128E":              1048576,
	"meta-llama/Llama-4-Maverick-17B-128E-Instruct":     1048576,
	"meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8": 1048576,
}

// Main runs the stub: argv is "[stub options] -- CONTAINER COMMAND ARGS..."
// (without "--", all of argv is the container command). It returns the exit
// code. ctx cancellation (SIGTERM) stops the server gracefully.
func Main(ctx context.Context, argv []string, getenv func(string) string, stdout, stderr io.Writer) int {
	opts, cmd, err := parseOptions(argv, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "vllmstub:", err)
		return 64
	}
	var file io.Writer
	if opts.LogFile != "" {
		f, err := OpenLogFile(opts.LogFile)
		if err != nil {
			fmt.Fprintln(stderr, "vllmstub:", err)
			return 64
		}
		defer f.Close()
		file = f
	}
	log := NewLogger(file, stdout, stderr, nil)
	log.Out(Banner(opts.Version))
	return run(ctx, opts, cmd, getenv, log)
}

func parseOptions(argv []string, getenv func(string) string) (Options, []string, error) {
	var own, cmd []string
	if i := indexOf(argv, "--"); i >= 0 {
		own, cmd = argv[:i], argv[i+1:]
	} else {
		cmd = argv
	}
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("vllmstub", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o Options
	var load, gpus string
	fs.StringVar(&o.Listen, "listen", env("VLLMSTUB_LISTEN", ""), "address to serve on (default 127.0.0.1:<--port of the vLLM args>)")
	fs.StringVar(&o.LogFile, "log-file", env("VLLMSTUB_LOG_FILE", ""), "CRI-format log file")
	fs.StringVar(&load, "load-time", env("VLLMSTUB_LOAD_TIME", "2s"), "simulated model load time")
	fs.StringVar(&o.Version, "vllm-version", env("VLLMSTUB_VLLM_VERSION", DefaultVersion), "vLLM version to emulate")
	fs.StringVar(&o.Fault, "fault", env("VLLMSTUB_FAULT", ""), "fault to inject: "+strings.Join(Faults, ", "))
	fs.StringVar(&gpus, "gpus", env("VLLMSTUB_GPUS", "0"), "GPUs visible to the container (0 = unchecked)")
	if err := fs.Parse(own); err != nil {
		return o, nil, err
	}
	d, err := time.ParseDuration(load)
	if err != nil {
		return o, nil, fmt.Errorf("--load-time: %v", err)
	}
	o.LoadTime = d
	if o.GPUs, err = strconv.Atoi(gpus); err != nil {
		return o, nil, fmt.Errorf("--gpus: %v", err)
	}
	o.Version = strings.TrimPrefix(o.Version, "v")
	if !validFault(o.Fault) {
		return o, nil, fmt.Errorf("unknown fault %q (one of %s)", o.Fault, strings.Join(Faults, ", "))
	}
	return o, cmd, nil
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// sleep waits d or until ctx ends; it reports whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func run(ctx context.Context, o Options, cmd []string, getenv func(string) string, log *Logger) int {
	log.Info("__init__.py:235", "Automatically detected platform cuda.")
	prog, rest, positional := SplitCommand(cmd)
	args, err := Parse(prog, rest, o.Version)
	if err != nil {
		var ue *UsageError
		if errors.As(err, &ue) {
			for _, l := range ue.Lines() {
				log.Err(l)
			}
			return 2
		}
		log.Err(err.Error())
		return 2
	}
	model := args.Str("model", "Qwen/Qwen3-0.6B")
	if positional != "" {
		model = positional
	}
	served := args.Multi["served-model-name"]
	log.Info("api_server.py:1755", "vLLM API server version %s", o.Version)
	log.Info("cli_args.py:261", "non-default args: %s", nonDefault(args, positional))

	fail := func(_, text string) int {
		log.Err(text)
		return 1
	}
	if args.Bool("enable-auto-tool-choice") && !args.Has("tool-call-parser") {
		return fail("", traceback([][2]string{{"<frozen runpy>", "line 198, in _run_module_as_main"},
			{sitePkgs + "/vllm/entrypoints/openai/cli_args.py", "line 298, in validate_parsed_serve_args\n    raise TypeError(\"Error: --enable-auto-tool-choice \""}},
			"TypeError: Error: --enable-auto-tool-choice requires --tool-call-parser"))
	}
	token := getenv("HUGGING_FACE_HUB_TOKEN")
	if token == "" {
		token = getenv("HF_TOKEN")
	}
	if o.Fault == FaultGated || (o.Fault != FaultGated403 && token == "" && strings.HasPrefix(model, "meta-llama/")) {
		return fail("", gatedError(model, 401))
	}
	if o.Fault == FaultGated403 {
		return fail("", gatedError(model, 403))
	}
	derived, known := knownModels[model]
	if !known {
		derived = 131072
	}
	maxLen := args.Int("max-model-len", derived)
	if known && maxLen > derived && getenv("VLLM_ALLOW_LONG_MAX_MODEL_LEN") == "" {
		return fail("", traceback([][2]string{{sitePkgs + "/vllm/config.py", "line 3653, in _get_and_verify_max_len\n    raise ValueError("}},
			fmt.Sprintf("ValueError: User-specified max_model_len (%d) is greater than the derived max_model_len (max_position_embeddings=%d or model_max_length=None in model's config.json). "+
				"This may lead to incorrect model outputs or CUDA errors. To allow overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1", maxLen, derived)))
	}
	log.Info("config.py:1604", "Using max model len %d", maxLen)
	tp, pp := args.Int("tensor-parallel-size", 1), args.Int("pipeline-parallel-size", 1)
	if o.GPUs > 0 && tp*pp > int64(o.GPUs) {
		return fail("", traceback([][2]string{{sitePkgs + "/vllm/executor/ray_utils.py", "line 345, in initialize_ray_cluster\n    raise ValueError("}},
			"ValueError: The number of required GPUs exceeds the total number of available GPUs in the placement group."))
	}
	if tp > 1 {
		log.Info("multiproc_worker_utils.py:138", "Using multiprocessing with %d workers (tensor parallel size %d)", tp*pp, tp)
	}
	if o.Fault == FaultNCCL {
		return fail("", ncclError())
	}
	log.Info("gpu_model_runner.py:1843", "Starting to load model %s...", model)
	if !sleep(ctx, o.LoadTime*3/4) {
		return 0
	}
	switch o.Fault {
	case FaultOOM:
		return 137 // the kernel's OOM killer: SIGKILL, nothing logged
	case FaultCUDAOOM:
		return fail("", cudaOOMError())
	}
	secs := o.LoadTime.Seconds()
	log.Info("default_loader.py:262", "Loading weights took %.2f seconds", secs*0.7)
	log.Info("gpu_model_runner.py:1892", "Model loading took %.4f GiB and %.6f seconds", modelGiB(model, tp), secs*0.75)
	if !sleep(ctx, o.LoadTime/4) {
		return 0
	}
	kvTokens := maxLen * 3
	if o.Fault == FaultKVCache {
		kvTokens = maxLen / 3
		return fail("", kvCacheError(maxLen, kvTokens))
	}
	log.Info("kv_cache_utils.py:716", "GPU KV cache size: %d tokens", kvTokens)
	log.Info("kv_cache_utils.py:720", "Maximum concurrency for %d tokens per request: %.2fx", maxLen, float64(kvTokens)/float64(maxLen))
	log.Info("core.py:193", "init engine (profile, create kv cache, warmup model) took %.2f seconds", secs*0.25)

	apiKey := args.Str("api-key", getenv("VLLM_API_KEY"))
	srv := NewServer(Config{
		Version: o.Version, Model: model, Served: served, MaxModelLen: maxLen, APIKey: apiKey,
		LogStats: !args.Bool("disable-log-stats"), LogRequests: !args.Bool("disable-log-requests") || args.Bool("enable-log-requests"),
		Log: log, EngineDeadAfterFirst: o.Fault == FaultEngineDead,
	})
	host, port := args.Str("host", "0.0.0.0"), args.Int("port", 8000)
	listen := o.Listen
	if listen == "" {
		listen = net.JoinHostPort("127.0.0.1", strconv.FormatInt(port, 10))
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fail("", "OSError: [Errno 98] error while attempting to bind on address ('"+host+"', "+strconv.FormatInt(port, 10)+"): address already in use")
	}
	log.Info("api_server.py:1818", "Starting vLLM API server 0 on http://%s:%d", host, port)
	log.Info("launcher.py:29", "Available routes are:")
	for _, r := range []string{"/health, Methods: GET", "/ping, Methods: GET, POST", "/version, Methods: GET", "/metrics, Methods: GET",
		"/v1/models, Methods: GET", "/v1/chat/completions, Methods: POST", "/v1/completions, Methods: POST"} {
		log.Info("launcher.py:37", "Route: %s", r)
	}
	log.Uvicorn("Started server process [1]")
	log.Uvicorn("Waiting for application startup.")
	log.Uvicorn("Application startup complete.")

	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	stats := time.NewTicker(10 * time.Second)
	defer stats.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Uvicorn("Shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = hs.Shutdown(sctx)
			cancel()
			log.Uvicorn("Waiting for application shutdown.")
			log.Uvicorn("Application shutdown complete.")
			log.Uvicorn("Finished server process [1]")
			return 0
		case err := <-errc:
			log.Err(err.Error())
			return 1
		case <-stats.C:
			if srv.LogStats {
				srv.m.mu.Lock()
				run, wait := srv.m.running, srv.m.waiting
				srv.m.mu.Unlock()
				log.Info("loggers.py:118", "Engine 000: Avg prompt throughput: 0.0 tokens/s, Avg generation throughput: 0.0 tokens/s, Running: %d reqs, Waiting: %d reqs, GPU KV cache usage: 0.0%%, Prefix cache hit rate: 0.0%%", run, wait)
			}
		}
	}
}

// modelGiB estimates the per-GPU weight size vLLM reports after loading.
func modelGiB(model string, tp int64) float64 {
	total := 16.0
	switch {
	case strings.Contains(model, "Maverick") && strings.HasSuffix(model, "FP8"):
		total = 375
	case strings.Contains(model, "Maverick"):
		total = 749
	case strings.Contains(model, "Scout"):
		total = 203
	}
	if tp < 1 {
		tp = 1
	}
	return total / float64(tp)
}

// nonDefault renders the given args like vLLM's "non-default args: {...}"
// (a Python dict with underscore keys).
func nonDefault(a *Args, positional string) string {
	var parts []string
	if positional != "" {
		parts = append(parts, fmt.Sprintf("'model_tag': '%s'", positional))
	}
	for _, name := range a.Set {
		key := strings.ReplaceAll(name, "-", "_")
		v := a.Values[name]
		var val string
		switch spec := lookup(name); {
		case name == "api-key":
			val = "'<redacted>'" // never echo a secret into logs
		case spec != nil && (spec.kind == kStoreTrue || spec.kind == kBoolOpt):
			val = map[string]string{"true": "True", "false": "False"}[v]
		case spec != nil && (spec.kind == kInt || spec.kind == kFloat):
			if spec.kind == kInt {
				val = strconv.FormatInt(a.Int(name, 0), 10)
			} else {
				val = num(a.Float(name, 0))
			}
		case spec != nil && spec.kind == kMulti:
			q := make([]string, len(a.Multi[name]))
			for i, m := range a.Multi[name] {
				q[i] = "'" + m + "'"
			}
			val = "[" + strings.Join(q, ", ") + "]"
		case spec != nil && spec.kind == kJSON:
			val = strings.NewReplacer(`"`, `'`, "true", "True", "false", "False", "null", "None").Replace(v)
		default:
			val = "'" + v + "'"
		}
		parts = append(parts, fmt.Sprintf("'%s': %s", key, val))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func lookup(name string) *flagSpec {
	for i := range flagTable {
		if flagTable[i].name == name {
			return &flagTable[i]
		}
	}
	return nil
}

// Getenv adapts os.Getenv.
func Getenv(k string) string { return os.Getenv(k) }
