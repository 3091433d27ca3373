package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/utils/ptr"
)

const modelID = "meta-llama/Llama-4-Scout-17B-16E"

// fakeVLLM answers like vLLM's OpenAI server (v0.10 error bodies).
type fakeVLLM struct {
	apiKey string
	got    []ChatRequest
	health int
}

func vllmError(w http.ResponseWriter, code int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "error", "message": msg, "type": typ, "param": nil, "code": code})
}

func (f *fakeVLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1/") && f.apiKey != "" && r.Header.Get("Authorization") != "Bearer "+f.apiKey {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"Unauthorized"}`))
		return
	}
	switch r.URL.Path {
	case "/health":
		if f.health != 0 {
			w.WriteHeader(f.health)
		}
	case "/v1/models":
		_, _ = fmt.Fprintf(w, `{"object":"list","data":[{"id":%q,"object":"model","owned_by":"vllm","root":%q,"max_model_len":262144}]}`, modelID, modelID)
	case "/v1/chat/completions":
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			vllmError(w, 400, "BadRequestError", "bad request")
			return
		}
		var req ChatRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			vllmError(w, 400, "BadRequestError", err.Error())
			return
		}
		f.got = append(f.got, req)
		if req.Model != modelID {
			vllmError(w, 404, "NotFoundError", fmt.Sprintf("The model `%s` does not exist.", req.Model))
			return
		}
		if req.MaxTokens != nil && *req.MaxTokens > 262144 {
			vllmError(w, 400, "BadRequestError", "This model's maximum context length is 262144 tokens.\nHowever, you requested 300000 tokens.")
			return
		}
		words := []string{"San", " Francisco", " is", " a", " city"}
		if !req.Stream {
			_, _ = fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","model":%q,"choices":[{"index":0,"message":{"role":"assistant","reasoning_content":null,"content":%q,"tool_calls":[]},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}}`, modelID, strings.Join(words, ""))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		_, _ = fmt.Fprintf(w, "data: {\"id\":\"c\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n", modelID)
		for _, word := range words {
			_, _ = fmt.Fprintf(w, "data: {\"id\":\"c\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", modelID, word)
			fl.Flush()
		}
		_, _ = fmt.Fprintf(w, "data: {\"id\":\"c\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n", modelID)
		if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
			_, _ = fmt.Fprintf(w, "data: {\"id\":\"c\",\"model\":%q,\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":5,\"total_tokens\":10}}\n\n", modelID)
		}
		_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	default:
		vllmError(w, 404, "NotFoundError", "Not Found")
	}
}

func TestChat(t *testing.T) {
	f := &fakeVLLM{apiKey: "sekret"}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := New(srv.URL+"/v1/", "sekret")
	ctx := context.Background()
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := c.ServedModel(ctx)
	if err != nil || m != modelID {
		t.Fatalf("ServedModel = %q, %v", m, err)
	}
	req := ChatRequest{Model: m, Messages: []Message{{Role: "user", Content: "San Francisco is a"}}, MaxTokens: ptr.To(7), Temperature: ptr.To(0.0)}
	r, err := c.Chat(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Content != "San Francisco is a city" || r.FinishReason != "length" || r.Usage.CompletionTokens != 5 {
		t.Errorf("result %+v", r)
	}
	// Request shape: the seed's curl.
	raw, _ := json.Marshal(f.got[0])
	if want := `{"model":"meta-llama/Llama-4-Scout-17B-16E","messages":[{"role":"user","content":"San Francisco is a"}],"max_tokens":7,"temperature":0}`; string(raw) != want {
		t.Errorf("request\n%s\nwant\n%s", raw, want)
	}

	var deltas []string
	req.Stream = true
	r, err = c.Chat(ctx, req, func(s string) { deltas = append(deltas, s) })
	if err != nil {
		t.Fatal(err)
	}
	if r.Content != "San Francisco is a city" || len(deltas) != 5 || deltas[1] != " Francisco" || r.Chunks != 5 || r.FinishReason != "length" {
		t.Errorf("stream result %+v, deltas %q", r, deltas)
	}
	if r.Usage == nil || r.Usage.CompletionTokens != 5 || !f.got[1].StreamOptions.IncludeUsage {
		t.Errorf("usage not requested or not read: %+v", r.Usage)
	}
	if r.TimeToFirstToken <= 0 || r.Total < r.TimeToFirstToken || r.TokensPerSecond() <= 0 {
		t.Errorf("timing %+v", r)
	}
}

func TestErrors(t *testing.T) {
	f := &fakeVLLM{apiKey: "sekret"}
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx := context.Background()
	msg := []Message{{Role: "user", Content: "hi"}}

	_, err := New(srv.URL, "sekret").Chat(ctx, ChatRequest{Model: "llama", Messages: msg}, nil)
	if err == nil || err.Error() != "model server answered 404 NotFoundError: The model `llama` does not exist." {
		t.Errorf("unknown model: %v", err)
	}
	_, err = New(srv.URL, "sekret").Chat(ctx, ChatRequest{Model: modelID, Messages: msg, MaxTokens: ptr.To(300000)}, nil)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "400 BadRequestError: This model's maximum context length is 262144 tokens. However") {
		t.Errorf("bad request: %v", err)
	}
	_, err = New(srv.URL, "wrong").Models(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || strings.Contains(err.Error(), "wrong") {
		t.Errorf("bad key: %v", err)
	}

	f.health = 503
	if err := New(srv.URL, "").Health(ctx); !errors.Is(err, ErrNotReady) {
		t.Errorf("503: %v", err)
	}
	// Connection refused: a closed port.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	if _, err := New("http://"+addr, "").Models(ctx); !errors.Is(err, ErrNotReady) {
		t.Errorf("refused: %v", err)
	}
}

func TestNestedErrorBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":{"message":"max_tokens must be at least 1, got 0.","type":"BadRequestError","param":null,"code":400}}`))
	}))
	defer srv.Close()
	_, err := New(srv.URL, "").Chat(context.Background(), ChatRequest{Model: "m"}, nil)
	if err == nil || err.Error() != "model server answered 400 BadRequestError: max_tokens must be at least 1, got 0." {
		t.Errorf("got %v", err)
	}
}

func TestStreamCutShort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"San\"}}]}\n\n"))
	}))
	defer srv.Close()
	_, err := New(srv.URL, "").Chat(context.Background(), ChatRequest{Model: "m", Stream: true}, nil)
	if !errors.Is(err, ErrNotReady) {
		t.Errorf("got %v", err)
	}
}
