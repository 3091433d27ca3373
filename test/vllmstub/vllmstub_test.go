package vllmstub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var seedScoutArgs = []string{"python3", "-m", "vllm.entrypoints.openai.api_server",
	"--host=0.0.0.0", "--port=7080", "--swap-space=16", "--max-model-len=1310720",
	"--limit_mm_per_prompt", `{"image": 5}`, "--disable-log-stats",
	"--model=meta-llama/Llama-4-Scout-17B-16E-Instruct", "--tensor-parallel-size=8"}

func TestParseSeedArgs(t *testing.T) {
	prog, rest, _ := SplitCommand(seedScoutArgs)
	a, err := Parse(prog, rest, DefaultVersion)
	if err != nil {
		t.Fatal(err)
	}
	if prog != "api_server.py" {
		t.Errorf("prog = %q", prog)
	}
	checks := map[string]string{"host": "0.0.0.0", "port": "7080", "swap-space": "16", "limit-mm-per-prompt": `{"image": 5}`,
		"disable-log-stats": "true", "model": "meta-llama/Llama-4-Scout-17B-16E-Instruct", "tensor-parallel-size": "8"}
	for k, want := range checks {
		if got := a.Values[k]; got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if a.Int("max-model-len", 0) != 1310720 {
		t.Errorf("max-model-len = %d", a.Int("max-model-len", 0))
	}
}

func TestParseForms(t *testing.T) {
	a, err := Parse("api_server.py", []string{"--max_model_len", "4k", "-tp", "4", "--served-model-name", "a", "b",
		"--no-enable-prefix-caching", "--trust-remote-code", "--kv-cache-dtype", "fp8", "--gpu_memory_utilization=0.9"}, DefaultVersion)
	if err != nil {
		t.Fatal(err)
	}
	if a.Int("max-model-len", 0) != 4000 || a.Int("tensor-parallel-size", 0) != 4 {
		t.Errorf("ints: %v", a.Values)
	}
	if got := a.Multi["served-model-name"]; len(got) != 2 || got[1] != "b" {
		t.Errorf("served-model-name = %v", got)
	}
	if a.Values["enable-prefix-caching"] != "false" || !a.Bool("trust-remote-code") || a.Float("gpu-memory-utilization", 0) != 0.9 {
		t.Errorf("values: %v", a.Values)
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct {
		version string
		args    []string
		want    string
	}{
		{DefaultVersion, []string{"--model=m", "--foo"}, "api_server.py: error: unrecognized arguments: --foo"},
		{DefaultVersion, []string{"--foo", "bar", "--port=1"}, "api_server.py: error: unrecognized arguments: --foo bar"},
		{"0.18.0", []string{"--swap-space=16"}, "api_server.py: error: unrecognized arguments: --swap-space=16"},
		{"v0.30.0", []string{"--swap_space", "16"}, "api_server.py: error: unrecognized arguments: --swap-space 16"},
		{DefaultVersion, []string{"--enable-log-requests"}, "unrecognized arguments: --enable-log-requests"},
		{DefaultVersion, []string{"--port=abc"}, "argument --port: invalid int value: 'abc'"},
		{DefaultVersion, []string{"--port"}, "argument --port: expected one argument"},
		{DefaultVersion, []string{"--dtype=fp4"}, "argument --dtype: invalid choice: 'fp4' (choose from 'auto', 'half', 'float16', 'bfloat16', 'float', 'float32')"},
		{DefaultVersion, []string{"--disable-log-stats=true"}, "argument --disable-log-stats: ignored explicit argument 'true'"},
		{DefaultVersion, []string{"--limit-mm-per-prompt", "image=5"}, "argument --limit-mm-per-prompt: Value image=5 cannot be converted"},
		{DefaultVersion, []string{"-tp", "x"}, "argument -tp/--tensor-parallel-size: invalid int value: 'x'"},
	}
	for _, c := range cases {
		_, err := Parse("api_server.py", c.args, c.version)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(ue.Error(), c.want) {
			t.Errorf("Parse(%v, %s) = %v, want %q", c.args, c.version, err, c.want)
		}
	}
	if _, err := Parse("api_server.py", []string{"--swap-space=16", "--enable-log-requests"}, "0.17.1"); err != nil {
		t.Errorf("0.17.1 must accept --swap-space and --enable-log-requests: %v", err)
	}
}

func TestSplitCommand(t *testing.T) {
	prog, rest, model := SplitCommand([]string{"vllm", "serve", "meta-llama/X", "--port", "1"})
	if prog != "vllm serve" || model != "meta-llama/X" || len(rest) != 2 {
		t.Errorf("got %q %v %q", prog, rest, model)
	}
}

func TestCRILine(t *testing.T) {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := CRILine(ts, "stdout", "hello"); got != "2026-01-01T00:00:00.000000000Z stdout F hello\n" {
		t.Errorf("CRILine = %q", got)
	}
	var file, out, errb bytes.Buffer
	l := NewLogger(&file, &out, &errb, func() time.Time { return ts.Add(1500 * time.Millisecond) })
	l.Err("a\nb")
	want := "2026-01-01T00:00:01.500000000Z stderr F a\n2026-01-01T00:00:01.500000000Z stderr F b\n"
	if file.String() != want || errb.String() != "a\nb\n" || out.Len() != 0 {
		t.Errorf("file %q stderr %q stdout %q", file.String(), errb.String(), out.String())
	}
}

func newTestServer(t *testing.T, c Config) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	var logBuf bytes.Buffer
	if c.Model == "" {
		c.Model = "meta-llama/Llama-4-Scout-17B-16E-Instruct"
	}
	if c.MaxModelLen == 0 {
		c.MaxModelLen = 100
	}
	c.Version = DefaultVersion
	c.Log = NewLogger(&logBuf, io.Discard, io.Discard, nil)
	ts := httptest.NewServer(NewServer(c).Handler())
	t.Cleanup(ts.Close)
	return ts, &logBuf
}

func do(t *testing.T, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	ts, logs := newTestServer(t, Config{LogStats: true, Served: []string{"scout"}})
	if code, _ := do(t, "GET", ts.URL+"/health", ""); code != 200 {
		t.Errorf("/health = %d", code)
	}
	if code, _ := do(t, "POST", ts.URL+"/ping", ""); code != 200 {
		t.Errorf("/ping = %d", code)
	}
	if _, body := do(t, "GET", ts.URL+"/version", ""); strings.TrimSpace(body) != `{"version":"0.10.0"}` {
		t.Errorf("/version = %s", body)
	}
	_, body := do(t, "GET", ts.URL+"/v1/models", "")
	var models struct {
		Data []struct {
			ID, Root    string
			MaxModelLen int64 `json:"max_model_len"`
		}
	}
	if err := json.Unmarshal([]byte(body), &models); err != nil || len(models.Data) != 1 || models.Data[0].ID != "scout" ||
		models.Data[0].Root != "meta-llama/Llama-4-Scout-17B-16E-Instruct" || models.Data[0].MaxModelLen != 100 {
		t.Errorf("/v1/models = %s", body)
	}

	code, body := do(t, "POST", ts.URL+"/v1/chat/completions", `{"model":"scout","messages":[{"role":"user","content":"San Francisco is a"}],"max_tokens":5}`)
	var chat struct {
		Object  string
		Choices []struct {
			Message      struct{ Role, Content string }
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			Prompt     int64 `json:"prompt_tokens"`
			Completion int64 `json:"completion_tokens"`
		}
	}
	if err := json.Unmarshal([]byte(body), &chat); err != nil || code != 200 {
		t.Fatalf("chat: %d %s", code, body)
	}
	if chat.Object != "chat.completion" || chat.Choices[0].Message.Content != "San Francisco is a ..." ||
		chat.Choices[0].FinishReason != "length" || chat.Usage.Completion != 5 || chat.Choices[0].Message.Role != "assistant" {
		t.Errorf("chat = %s", body)
	}
	// No max_tokens: the whole deterministic answer, finish_reason stop.
	_, body = do(t, "POST", ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`)
	if !strings.Contains(body, `"finish_reason":"stop"`) || !strings.Contains(body, "no model ran") {
		t.Errorf("chat without max_tokens = %s", body)
	}
	_, body = do(t, "POST", ts.URL+"/v1/completions", `{"model":"scout","prompt":"San Francisco is a","max_tokens":2}`)
	if !strings.Contains(body, `"text":" San Francisco"`) || !strings.Contains(body, `"object":"text_completion"`) {
		t.Errorf("completions = %s", body)
	}

	_, body = do(t, "GET", ts.URL+"/metrics", "")
	gen := 5 + 2 + len(Answer("hi", "meta-llama/Llama-4-Scout-17B-16E-Instruct"))
	for _, want := range []string{
		fmt.Sprintf(`vllm:generation_tokens_total{engine="0",model_name="scout"} %d.0`, gen),
		`vllm:num_requests_running{engine="0",model_name="scout"} 0.0`,
		`vllm:num_requests_waiting{engine="0",model_name="scout"} 0.0`,
		`vllm:request_success_total{engine="0",model_name="scout",finished_reason="length"} 2.0`,
		`vllm:request_success_total{engine="0",model_name="scout",finished_reason="stop"} 1.0`,
		`vllm:e2e_request_latency_seconds_count{engine="0",model_name="scout"} 3.0`,
		"# TYPE vllm:time_to_first_token_seconds histogram",
		"# TYPE vllm:kv_cache_usage_perc gauge",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^\S+Z stdout F INFO:     127\.0\.0\.1:\d+ - "POST /v1/chat/completions HTTP/1\.1" 200 OK$`).MatchString(logs.String()) {
		t.Errorf("no access log line in:\n%s", logs.String())
	}
}

func TestMetricsWithoutLogStats(t *testing.T) {
	ts, _ := newTestServer(t, Config{LogStats: false})
	if _, body := do(t, "GET", ts.URL+"/metrics", ""); strings.Contains(body, "vllm:") {
		t.Errorf("--disable-log-stats must leave out vllm:* series:\n%s", body)
	}
}

func TestErrors(t *testing.T) {
	ts, _ := newTestServer(t, Config{})
	cases := []struct {
		body, typ, msg string
		code           int
	}{
		{`{"model":"nope","messages":[{"role":"user","content":"x"}]}`, "NotFoundError", "The model `nope` does not exist.", 404},
		{`{"model":`, "BadRequestError", "JSON decode error", 400},
		{`{"model":"meta-llama/Llama-4-Scout-17B-16E-Instruct"}`, "BadRequestError", "('body', 'messages'), 'msg': 'Field required'", 400},
		{`{"messages":[{"role":"user","content":"x"}],"max_tokens":1000}`, "BadRequestError", "This model's maximum context length is 100 tokens. However, you requested 1006 tokens (6 in the messages, 1000 in the completion).", 400},
	}
	for _, c := range cases {
		code, body := do(t, "POST", ts.URL+"/v1/chat/completions", c.body)
		var e ErrorBody
		if err := json.Unmarshal([]byte(body), &e); err != nil || code != c.code || e.Code != c.code || e.Object != "error" || e.Type != c.typ || !strings.Contains(e.Message, c.msg) {
			t.Errorf("%s -> %d %s", c.body, code, body)
		}
	}
}

func TestAPIKey(t *testing.T) {
	ts, _ := newTestServer(t, Config{APIKey: "sekret"})
	if code, body := do(t, "GET", ts.URL+"/v1/models", ""); code != 401 || strings.TrimSpace(body) != `{"error":"Unauthorized"}` {
		t.Errorf("no key: %d %s", code, body)
	}
	if code, _ := do(t, "GET", ts.URL+"/v1/models", "", "Authorization", "Bearer wrong"); code != 401 {
		t.Errorf("wrong key: %d", code)
	}
	if code, _ := do(t, "GET", ts.URL+"/v1/models", "", "Authorization", "Bearer sekret"); code != 200 {
		t.Errorf("right key: %d", code)
	}
	for _, p := range []string{"/health", "/metrics", "/version"} {
		if code, _ := do(t, "GET", ts.URL+p, ""); code != 200 {
			t.Errorf("%s must not need the key: %d", p, code)
		}
	}
}

func TestStreaming(t *testing.T) {
	ts, _ := newTestServer(t, Config{})
	for _, usage := range []bool{false, true} {
		body := fmt.Sprintf(`{"messages":[{"role":"user","content":"San Francisco is a"}],"max_tokens":4,"stream":true,"stream_options":{"include_usage":%v}}`, usage)
		resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("content-type %q", ct)
		}
		var text strings.Builder
		var sawDone, sawUsage bool
		var finish string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				continue
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				t.Fatalf("not an SSE data line: %q", line)
			}
			if data == "[DONE]" {
				sawDone = true
				continue
			}
			var c struct {
				Object  string
				Choices []struct {
					Delta        struct{ Content string }
					FinishReason *string `json:"finish_reason"`
				}
				Usage *struct {
					Completion int `json:"completion_tokens"`
				}
			}
			if err := json.Unmarshal([]byte(data), &c); err != nil || c.Object != "chat.completion.chunk" {
				t.Fatalf("chunk %q: %v", data, err)
			}
			for _, ch := range c.Choices {
				text.WriteString(ch.Delta.Content)
				if ch.FinishReason != nil {
					finish = *ch.FinishReason
				}
			}
			if c.Usage != nil {
				sawUsage = c.Usage.Completion == 4 && len(c.Choices) == 0
			}
		}
		resp.Body.Close()
		if text.String() != "San Francisco is a" || !sawDone || finish != "length" || sawUsage != usage {
			t.Errorf("usage=%v: text %q done %v finish %q usage chunk %v", usage, text.String(), sawDone, finish, sawUsage)
		}
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestMainServesAndLogs(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "0.log")
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		argv := append([]string{"--listen", addr, "--log-file", logFile, "--load-time", "100ms", "--"}, seedScoutArgs...)
		done <- Main(ctx, argv, env(map[string]string{"HUGGING_FACE_HUB_TOKEN": "hf_x"}), io.Discard, io.Discard)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stub never served /health")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
	b, _ := os.ReadFile(logFile)
	cri := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) F `)
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !cri.MatchString(l) {
			t.Errorf("not a CRI line: %q", l)
		}
	}
	for _, want := range []string{"TEST INFRASTRUCTURE", "non-default args: {'host': '0.0.0.0', 'port': 7080, 'swap_space': 16.0",
		"Starting to load model meta-llama/Llama-4-Scout-17B-16E-Instruct", "Loading weights took", "Model loading took",
		"Starting vLLM API server 0 on http://0.0.0.0:7080", "Application startup complete."} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func runMain(t *testing.T, e map[string]string, argv ...string) (int, string) {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "0.log")
	argv = append([]string{"--listen", freePort(t), "--log-file", logFile, "--load-time", "0", "--"}, argv...)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	code := Main(ctx, argv, env(e), io.Discard, io.Discard)
	b, _ := os.ReadFile(logFile)
	return code, string(b)
}

func TestMainFailures(t *testing.T) {
	tok := map[string]string{"HUGGING_FACE_HUB_TOKEN": "hf_x"}
	with := func(k, v string) map[string]string { return map[string]string{"HUGGING_FACE_HUB_TOKEN": "hf_x", k: v} }
	cases := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"unknown flag", tok, append(seedScoutArgs, "--foo"), 2, "stderr F api_server.py: error: unrecognized arguments: --foo"},
		{"swap-space on 0.18", with("VLLMSTUB_VLLM_VERSION", "v0.18.0"), seedScoutArgs, 2, "unrecognized arguments: --swap-space=16"},
		{"no token", nil, seedScoutArgs, 1, "Cannot access gated repo for url https://huggingface.co/meta-llama/Llama-4-Scout-17B-16E-Instruct/resolve/main/config.json.\n"},
		{"gated fault", with("VLLMSTUB_FAULT", "gated"), seedScoutArgs, 1, "huggingface_hub.errors.GatedRepoError: 401 Client Error."},
		{"gated 403", with("VLLMSTUB_FAULT", "gated-403"), seedScoutArgs, 1, "you are not in the authorized list"},
		{"oom", with("VLLMSTUB_FAULT", "oom"), seedScoutArgs, 137, "Starting to load model"},
		{"cuda oom", with("VLLMSTUB_FAULT", "cuda-oom"), seedScoutArgs, 1, "torch.OutOfMemoryError: CUDA out of memory."},
		{"kv cache", with("VLLMSTUB_FAULT", "kv-cache"), seedScoutArgs, 1, "ValueError: The model's max seq len (1310720) is larger than the maximum number of tokens that can be stored in KV cache (436906)."},
		{"nccl", with("VLLMSTUB_FAULT", "nccl"), seedScoutArgs, 1, "RuntimeError: NCCL error: unhandled system error"},
		{"too few gpus", with("VLLMSTUB_GPUS", "4"), seedScoutArgs, 1, "The number of required GPUs exceeds the total number of available GPUs"},
		{"max len above model", tok, []string{"python3", "-m", "x", "--model=meta-llama/Llama-4-Maverick-17B-128E-Instruct", "--max-model-len=2000000"}, 1, "User-specified max_model_len (2000000) is greater than the derived max_model_len (max_position_embeddings=1048576"},
		{"tool choice", tok, []string{"python3", "-m", "x", "--enable-auto-tool-choice"}, 1, "--enable-auto-tool-choice requires --tool-call-parser"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, logs := runMain(t, c.env, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d", code, c.code)
			}
			plain := regexp.MustCompile(`(?m)^\S+ (stdout|stderr) F `).ReplaceAllString(logs, "")
			if !strings.Contains(logs, c.want) && !strings.Contains(plain, c.want) {
				t.Errorf("log lacks %q:\n%s", c.want, logs)
			}
		})
	}
}

func TestAPIKeyFromEnvNotLogged(t *testing.T) {
	code, logs := runMain(t, map[string]string{"HUGGING_FACE_HUB_TOKEN": "hf_x"}, "python3", "-m", "x", "--api-key", "topsecret", "--model", "m")
	if code != 1 && code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(logs, "topsecret") || !strings.Contains(logs, "'api_key': '<redacted>'") {
		t.Errorf("api key handling in logs:\n%s", logs)
	}
}
