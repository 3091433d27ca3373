package vllmstub

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes the model a Server serves.
type Config struct {
	Version     string   // emulated vLLM version, e.g. "0.10.0"
	Model       string   // --model (the root of the served names)
	Served      []string // --served-model-name values, or [Model]
	MaxModelLen int64
	APIKey      string // --api-key or VLLM_API_KEY; "" = no auth
	LogStats    bool   // false with --disable-log-stats: no vllm:* metrics
	LogRequests bool   // log "Received request ..." lines
	Log         *Logger
	// EngineDeadAfterFirst makes the engine die after one completion (fault engine-dead).
	EngineDeadAfterFirst bool
}

// Server is the HTTP side of the stub: vLLM's OpenAI routes for one model.
type Server struct {
	Config
	now     func() time.Time
	created int64
	dead    atomic.Bool
	m       metrics
}

// NewServer returns a Server ready to serve.
func NewServer(c Config) *Server {
	srv := &Server{Config: c}
	if srv.now == nil {
		srv.now = time.Now
	}
	if len(srv.Served) == 0 {
		srv.Served = []string{srv.Model}
	}
	if srv.Log == nil {
		srv.Log = NewLogger(nil, io.Discard, io.Discard, nil)
	}
	srv.created = srv.now().Unix()
	srv.m.init()
	return srv
}

// Handler returns the routes wrapped in vLLM's API-key check and uvicorn's access log.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", s.health)
	mux.HandleFunc("/ping", s.health)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"version": s.Version})
	})
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /v1/models", s.models)
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("POST /v1/completions", s.completions)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]string{"detail": "Not Found"})
	})
	return s.accessLog(s.auth(mux))
}

// auth mirrors vLLM's AuthenticationMiddleware: only /v1 paths, OPTIONS
// exempt, "Authorization: Bearer KEY", 401 {"error":"Unauthorized"}.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.APIKey != "" && r.Method != http.MethodOptions && strings.HasPrefix(r.URL.Path, "/v1") &&
			r.Header.Get("Authorization") != "Bearer "+s.APIKey {
			writeJSON(w, 401, map[string]string{"error": "Unauthorized"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
	w.ResponseWriter.WriteHeader(c)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// accessLog writes uvicorn's access line: INFO:     ADDR - "GET /p HTTP/1.1" 200 OK
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = 200
		}
		s.Log.Uvicorn("%s - \"%s %s HTTP/%d.%d\" %d %s", r.RemoteAddr, r.Method, r.URL.RequestURI(),
			r.ProtoMajor, r.ProtoMinor, sw.code, http.StatusText(sw.code))
	})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodHead {
		writeJSON(w, 405, map[string]string{"detail": "Method Not Allowed"})
		return
	}
	if s.dead.Load() {
		w.WriteHeader(503)
		return
	}
	w.WriteHeader(200)
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	var data []map[string]any
	for _, name := range s.Served {
		data = append(data, map[string]any{
			"id": name, "object": "model", "created": s.created, "owned_by": "vllm",
			"root": s.Model, "parent": nil, "max_model_len": s.MaxModelLen,
			"permission": []map[string]any{{
				"id": "modelperm-" + randHex(16), "object": "model_permission", "created": s.created,
				"allow_create_engine": false, "allow_sampling": true, "allow_logprobs": true,
				"allow_search_indices": false, "allow_view": true, "allow_fine_tuning": false,
				"organization": "*", "group": nil, "is_blocking": false,
			}},
		})
	}
	writeJSON(w, 200, map[string]any{"object": "list", "data": data})
}

// ErrorBody is vLLM's (v0.10) error response shape.
type ErrorBody struct {
	Object  string  `json:"object"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    int     `json:"code"`
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	writeJSON(w, code, ErrorBody{Object: "error", Message: msg, Type: typ, Code: code})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// request is the subset of OpenAI's chat / completion request vLLM checks here.
type request struct {
	Model         *string           `json:"model"`
	Messages      []json.RawMessage `json:"messages"`
	Prompt        json.RawMessage   `json:"prompt"`
	MaxTokens     *int64            `json:"max_tokens"`
	MaxCompletion *int64            `json:"max_completion_tokens"`
	Stream        bool              `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// decode reads the body like FastAPI + pydantic would, returning vLLM's 400
// error text on failure (RequestValidationError -> BadRequestError).
func decode(r *http.Request, chat bool) (*request, string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err.Error()
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, "[{'type': 'json_invalid', 'loc': ('body', 0), 'msg': 'JSON decode error', 'input': {}, 'ctx': {'error': 'Expecting value'}}]"
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Sprintf("[{'type': 'model_attributes_type', 'loc': ('body',), 'msg': %q, 'input': %s}]", err.Error(), string(body))
	}
	field := "prompt"
	missing := req.Prompt == nil
	if chat {
		field, missing = "messages", raw["messages"] == nil
	}
	if missing {
		return nil, fmt.Sprintf("[{'type': 'missing', 'loc': ('body', '%s'), 'msg': 'Field required', 'input': %s}]", field, strings.TrimSpace(string(body)))
	}
	return &req, ""
}

// text flattens a message content (a string, or a list of parts).
func contentText(c json.RawMessage) string {
	var s string
	if json.Unmarshal(c, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(c, &parts) == nil {
		var out []string
		for _, p := range parts {
			if p.Type == "text" {
				out = append(out, p.Text)
			}
		}
		return strings.Join(out, " ")
	}
	return ""
}

// Answer is the deterministic text the stub "generates" for a prompt: a
// continuation that echoes the prompt and says plainly that no model ran.
func Answer(prompt, model string) []string {
	text := strings.TrimSpace(prompt)
	if text == "" {
		text = "(empty prompt)"
	}
	words := strings.Fields(text + " ... [simulated answer by vllmstub, test infrastructure: no model ran, " + model + " was not loaded]")
	return words
}

// generation is one request's simulated output.
type generation struct {
	id           string
	prompt       int64
	words        []string
	finishReason string
	start        time.Time
}

func countWords(s string) int64 { return int64(len(strings.Fields(s))) }

// prepare checks the model name and the token budget and produces the words.
func (s *Server) prepare(w http.ResponseWriter, req *request, promptText string, promptTokens int64, prefix string) (*generation, bool) {
	if s.dead.Load() {
		writeError(w, 500, "InternalServerError", "EngineCore encountered an issue. See stack trace (above) for the root cause.")
		return nil, false
	}
	if req.Model != nil && *req.Model != "" {
		ok := false
		for _, n := range s.Served {
			ok = ok || n == *req.Model
		}
		if !ok {
			writeError(w, 404, "NotFoundError", fmt.Sprintf("The model `%s` does not exist.", *req.Model))
			return nil, false
		}
	}
	maxTokens := s.MaxModelLen - promptTokens
	if req.MaxCompletion != nil {
		req.MaxTokens = req.MaxCompletion
	}
	if req.MaxTokens != nil {
		if *req.MaxTokens < 1 {
			writeError(w, 400, "BadRequestError", fmt.Sprintf("max_tokens must be at least 1, got %d.", *req.MaxTokens))
			return nil, false
		}
		if promptTokens+*req.MaxTokens > s.MaxModelLen {
			writeError(w, 400, "BadRequestError", fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.",
				s.MaxModelLen, promptTokens+*req.MaxTokens, promptTokens, *req.MaxTokens))
			return nil, false
		}
		maxTokens = *req.MaxTokens
	}
	g := &generation{id: prefix + randHex(16), prompt: promptTokens, words: Answer(promptText, s.Model), finishReason: "stop", start: s.now()}
	if int64(len(g.words)) > maxTokens {
		g.words, g.finishReason = g.words[:maxTokens], "length"
	}
	if s.LogRequests {
		s.Log.Info("logger.py:43", "Received request %s: prompt: %q, params: SamplingParams(n=1, temperature=1.0, top_p=1.0, max_tokens=%d), prompt_token_ids: None, prompt_embeds shape: None, lora_request: None.", g.id, promptText, maxTokens)
		s.Log.Info("async_llm.py:273", "Added request %s.", g.id)
	}
	return g, true
}

func (s *Server) finish(g *generation) {
	s.m.observe(g.prompt, int64(len(g.words)), g.finishReason, s.now().Sub(g.start))
	if s.EngineDeadAfterFirst && s.dead.CompareAndSwap(false, true) {
		s.Log.Err("ERROR " + s.now().Format("01-02 15:04:05") + " [core.py:632] EngineCore encountered a fatal error.\n" +
			traceback([][2]string{{sitePkgs + "/vllm/v1/engine/core.py", "line 623, in run_engine_core\n    engine_core.run_busy_loop()"}},
				"RuntimeError: CUDA error: an illegal memory access was encountered"))
	}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	req, msg := decode(r, true)
	if req == nil {
		writeError(w, 400, "BadRequestError", msg)
		return
	}
	var last string
	var promptTokens int64
	for _, raw := range req.Messages {
		var m message
		if err := json.Unmarshal(raw, &m); err != nil || m.Role == "" {
			writeError(w, 400, "BadRequestError", "[{'type': 'missing', 'loc': ('body', 'messages', 0, 'role'), 'msg': 'Field required'}]")
			return
		}
		t := contentText(m.Content)
		promptTokens += countWords(t) + 5 // per-message chat template overhead (approximation)
		if m.Role == "user" {
			last = t
		}
	}
	g, ok := s.prepare(w, req, last, promptTokens, "chatcmpl-")
	if !ok {
		return
	}
	s.m.start()
	defer s.m.end()
	defer s.finish(g)
	content := strings.Join(g.words, " ")
	usage := map[string]any{"prompt_tokens": g.prompt, "total_tokens": g.prompt + int64(len(g.words)), "completion_tokens": len(g.words), "prompt_tokens_details": nil}
	if !req.Stream {
		writeJSON(w, 200, map[string]any{
			"id": g.id, "object": "chat.completion", "created": g.start.Unix(), "model": s.reqModel(req),
			"choices": []map[string]any{{
				"index": 0, "message": map[string]any{"role": "assistant", "reasoning_content": nil, "content": content, "tool_calls": []any{}},
				"logprobs": nil, "finish_reason": g.finishReason, "stop_reason": nil,
			}},
			"usage": usage, "prompt_logprobs": nil, "kv_transfer_params": nil,
		})
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	sse := newSSE(w)
	chunk := func(choices []map[string]any) map[string]any {
		c := map[string]any{"id": g.id, "object": "chat.completion.chunk", "created": g.start.Unix(), "model": s.reqModel(req), "choices": choices}
		if includeUsage {
			c["usage"] = nil
		}
		return c
	}
	sse.send(chunk([]map[string]any{{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""}, "logprobs": nil, "finish_reason": nil}}))
	for i, word := range g.words {
		if i > 0 {
			word = " " + word
		}
		c := map[string]any{"index": 0, "delta": map[string]any{"content": word}, "logprobs": nil, "finish_reason": nil}
		if i == len(g.words)-1 {
			c["finish_reason"], c["stop_reason"] = g.finishReason, nil
		}
		sse.send(chunk([]map[string]any{c}))
	}
	if len(g.words) == 0 {
		sse.send(chunk([]map[string]any{{"index": 0, "delta": map[string]any{"content": ""}, "logprobs": nil, "finish_reason": g.finishReason, "stop_reason": nil}}))
	}
	if includeUsage {
		delete(usage, "prompt_tokens_details")
		sse.send(map[string]any{"id": g.id, "object": "chat.completion.chunk", "created": g.start.Unix(), "model": s.reqModel(req), "choices": []any{}, "usage": usage})
	}
	sse.done()
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	req, msg := decode(r, false)
	if req == nil {
		writeError(w, 400, "BadRequestError", msg)
		return
	}
	var prompt string
	if err := json.Unmarshal(req.Prompt, &prompt); err != nil {
		var list []string
		if json.Unmarshal(req.Prompt, &list) != nil || len(list) == 0 {
			writeError(w, 400, "BadRequestError", "Either prompt or prompt_embeds must be provided and non-empty.")
			return
		}
		prompt = list[0]
	}
	if req.MaxTokens == nil {
		def := int64(16) // the OpenAI completions default vLLM keeps
		req.MaxTokens = &def
	}
	g, ok := s.prepare(w, req, prompt, countWords(prompt)+1, "cmpl-")
	if !ok {
		return
	}
	s.m.start()
	defer s.m.end()
	defer s.finish(g)
	usage := map[string]any{"prompt_tokens": g.prompt, "total_tokens": g.prompt + int64(len(g.words)), "completion_tokens": len(g.words), "prompt_tokens_details": nil}
	if !req.Stream {
		writeJSON(w, 200, map[string]any{
			"id": g.id, "object": "text_completion", "created": g.start.Unix(), "model": s.reqModel(req),
			"choices": []map[string]any{{"index": 0, "text": " " + strings.Join(g.words, " "), "logprobs": nil,
				"finish_reason": g.finishReason, "stop_reason": nil, "prompt_logprobs": nil}},
			"usage": usage, "kv_transfer_params": nil,
		})
		return
	}
	sse := newSSE(w)
	for i, word := range g.words {
		c := map[string]any{"index": 0, "text": " " + word, "logprobs": nil, "finish_reason": nil, "stop_reason": nil}
		if i == len(g.words)-1 {
			c["finish_reason"] = g.finishReason
		}
		sse.send(map[string]any{"id": g.id, "object": "text_completion", "created": g.start.Unix(), "model": s.reqModel(req), "choices": []any{c}})
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		delete(usage, "prompt_tokens_details")
		sse.send(map[string]any{"id": g.id, "object": "text_completion", "created": g.start.Unix(), "model": s.reqModel(req), "choices": []any{}, "usage": usage})
	}
	sse.done()
}

func (s *Server) reqModel(req *request) string {
	if req.Model != nil && *req.Model != "" {
		return *req.Model
	}
	return s.Served[0]
}

type sse struct {
	w http.ResponseWriter
	f http.Flusher
}

func newSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(200)
	f, _ := w.(http.Flusher)
	return &sse{w: w, f: f}
}

func (s *sse) send(v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(s.w, "data: %s\n\n", b)
	if s.f != nil {
		s.f.Flush()
	}
}

func (s *sse) done() {
	io.WriteString(s.w, "data: [DONE]\n\n")
	if s.f != nil {
		s.f.Flush()
	}
}

// metrics holds the vllm:* series the stub exposes (V1 engine names).
type metrics struct {
	mu                     sync.Mutex
	running, waiting       int64
	promptTokens, genTokns int64
	success                map[string]int64
	ttft, e2e, itl         histogram
}

type histogram struct {
	buckets []float64
	counts  []int64
	sum     float64
	count   int64
}

func newHistogram(b ...float64) histogram {
	return histogram{buckets: b, counts: make([]int64, len(b))}
}

func (h *histogram) observe(v float64) {
	for i, b := range h.buckets {
		if v <= b {
			h.counts[i]++
		}
	}
	h.sum += v
	h.count++
}

func (m *metrics) init() {
	m.success = map[string]int64{}
	m.ttft = newHistogram(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560)
	m.e2e = newHistogram(0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680)
	m.itl = newHistogram(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80)
}

func (m *metrics) start() { m.mu.Lock(); m.running++; m.mu.Unlock() }
func (m *metrics) end()   { m.mu.Lock(); m.running--; m.mu.Unlock() }

func (m *metrics) observe(prompt, gen int64, reason string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.promptTokens += prompt
	m.genTokns += gen
	m.success[reason]++
	m.ttft.observe(d.Seconds() / 2)
	m.e2e.observe(d.Seconds())
	if gen > 1 {
		m.itl.observe(d.Seconds() / float64(gen))
	}
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %d.0\n", s.created)
	if s.LogStats {
		s.m.mu.Lock()
		lbl := fmt.Sprintf(`engine="0",model_name=%q`, s.Served[0])
		gauge := func(name, help string, v float64) {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s{%s} %s\n", name, help, name, name, lbl, num(v))
		}
		counter := func(name, help string, v int64) {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s{%s} %d.0\n", name, help, name, name, lbl, v)
		}
		gauge("vllm:num_requests_running", "Number of requests in model execution batches.", float64(s.m.running))
		gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", float64(s.m.waiting))
		gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", float64(s.m.running)*0.001)
		counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.", s.m.promptTokens)
		counter("vllm:generation_tokens_total", "Number of generation tokens processed.", s.m.genTokns)
		fmt.Fprintf(&b, "# HELP vllm:request_success_total Count of successfully processed requests.\n# TYPE vllm:request_success_total counter\n")
		reasons := []string{"abort", "length", "stop"}
		for k := range s.m.success {
			if k != "abort" && k != "length" && k != "stop" {
				reasons = append(reasons, k)
			}
		}
		sort.Strings(reasons)
		for _, k := range reasons {
			fmt.Fprintf(&b, "vllm:request_success_total{%s,finished_reason=%q} %d.0\n", lbl, k, s.m.success[k])
		}
		hist := func(name, help string, h histogram) {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
			for i, le := range h.buckets {
				fmt.Fprintf(&b, "%s_bucket{%s,le=%q} %d.0\n", name, lbl, num(le), h.counts[i])
			}
			fmt.Fprintf(&b, "%s_bucket{%s,le=\"+Inf\"} %d.0\n%s_count{%s} %d.0\n%s_sum{%s} %s\n", name, lbl, h.count, name, lbl, h.count, name, lbl, num(h.sum))
		}
		hist("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", s.m.ttft)
		hist("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", s.m.itl)
		hist("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", s.m.e2e)
		s.m.mu.Unlock()
	}
	io.WriteString(w, b.String())
}

// num formats like Python's float repr in prometheus_client ("1.0", "0.25").
func num(v float64) string {
	s := fmt.Sprintf("%g", v)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}
