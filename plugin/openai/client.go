// Package openai is a small client for the OpenAI-compatible API vLLM serves:
// /health, /v1/models and /v1/chat/completions, with and without SSE
// streaming. Errors are one line: vLLM's JSON error body becomes its message,
// and a server that is not up yet (connection refused, 502/503, an empty
// reply) is reported as ErrNotReady.
package openai

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
	"strings"
	"syscall"
	"time"
)

// ErrNotReady means the model server did not answer (yet): the connection
// was refused or dropped, or it answered 502/503.
var ErrNotReady = errors.New("model server not ready")

// Client talks to one vLLM server.
type Client struct {
	// BaseURL is the server root, e.g. http://127.0.0.1:8080 (no /v1).
	BaseURL string
	// APIKey is sent as "Authorization: Bearer" when set. Never printed.
	APIKey string
	// HTTP is the client used (default: a client without a global timeout;
	// contexts bound the calls).
	HTTP *http.Client
}

// New returns a client for baseURL (a trailing /v1 or / is removed).
func New(baseURL, apiKey string) *Client {
	b := strings.TrimRight(baseURL, "/")
	b = strings.TrimSuffix(b, "/v1")
	return &Client{BaseURL: b, APIKey: apiKey, HTTP: &http.Client{}}
}

// APIError is an error answer of the server.
type APIError struct {
	Status  int
	Type    string
	Message string
}

func (e *APIError) Error() string {
	t := e.Type
	if t == "" {
		t = http.StatusText(e.Status)
	}
	if e.Message == "" {
		return fmt.Sprintf("model server answered %d %s", e.Status, t)
	}
	return fmt.Sprintf("model server answered %d %s: %s", e.Status, t, e.Message)
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRequest is a /v1/chat/completions request.
type ChatRequest struct {
	Model         string         `json:"model"`
	Messages      []Message      `json:"messages"`
	MaxTokens     *int           `json:"max_tokens,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"`
	Stream        bool           `json:"stream,omitempty"`
	StreamOptions *StreamOptions `json:"stream_options,omitempty"`
}

// StreamOptions asks for a final usage chunk in a stream.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Usage counts tokens.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// ChatResponse is a non-streamed answer.
type ChatResponse struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int     `json:"index"`
		Message      Message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
}

// Result is a chat answer with its timing.
type Result struct {
	Content      string
	FinishReason string
	Model        string
	Usage        *Usage
	// TimeToFirstToken is the time from sending the request to the first
	// content (the whole answer when not streamed).
	TimeToFirstToken time.Duration
	// Total is the time from sending the request to the end of the answer.
	Total time.Duration
	// Chunks counts the content deltas of a stream.
	Chunks int
}

// TokensPerSecond is the decode speed: completion tokens (or stream chunks
// when the server sent no usage) over the time after the first token.
func (r *Result) TokensPerSecond() float64 {
	n := r.Chunks
	if r.Usage != nil && r.Usage.CompletionTokens > 0 {
		n = r.Usage.CompletionTokens
	}
	d := r.Total - r.TimeToFirstToken
	if d <= 0 || r.Chunks <= 1 {
		d = r.Total
	}
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Model is an entry of /v1/models.
type Model struct {
	ID          string `json:"id"`
	Root        string `json:"root,omitempty"`
	MaxModelLen int    `json:"max_model_len,omitempty"`
}

// Health calls GET /health; nil when the server answers 200.
func (c *Client) Health(ctx context.Context) error {
	resp, err := c.do(ctx, http.MethodGet, "/health", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// Models lists the served models.
func (c *Client) Models(ctx context.Context) ([]Model, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/models", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Data []Model `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("reading /v1/models: %w", err)
	}
	return body.Data, nil
}

// ServedModel is the id of the first served model.
func (c *Client) ServedModel(ctx context.Context) (string, error) {
	ms, err := c.Models(ctx)
	if err != nil {
		return "", err
	}
	if len(ms) == 0 {
		return "", errors.New("the model server lists no model in /v1/models")
	}
	return ms[0].ID, nil
}

// Chat sends a chat completion. With req.Stream, onDelta (if not nil)
// receives each piece of content as it arrives.
func (c *Client) Chat(ctx context.Context, req ChatRequest, onDelta func(string)) (*Result, error) {
	if req.Stream && req.StreamOptions == nil {
		req.StreamOptions = &StreamOptions{IncludeUsage: true}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := c.do(ctx, http.MethodPost, "/v1/chat/completions", body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if !req.Stream {
		var cr ChatResponse
		if err := json.NewDecoder(resp.Body).Decode(&cr); err != nil {
			return nil, fmt.Errorf("reading the chat completion: %w", err)
		}
		r := &Result{Model: cr.Model, Usage: cr.Usage, Total: time.Since(start)}
		r.TimeToFirstToken = r.Total
		if len(cr.Choices) == 0 {
			return nil, errors.New("the model server returned no choice")
		}
		r.Content = cr.Choices[0].Message.Content
		r.FinishReason = cr.Choices[0].FinishReason
		r.Chunks = 1
		return r, nil
	}
	return readStream(resp.Body, start, onDelta)
}

type chunk struct {
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *Usage `json:"usage"`
	// An error in the middle of a stream.
	Error *errBody `json:"error"`
}

// readStream assembles an SSE stream: "data: {chunk}" events, ended by
// "data: [DONE]".
func readStream(r io.Reader, start time.Time, onDelta func(string)) (*Result, error) {
	res := &Result{}
	var b strings.Builder
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	done := false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data:") {
			continue // blank separators, comments, event: lines
		}
		data := strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		if data == "[DONE]" {
			done = true
			break
		}
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return nil, fmt.Errorf("reading the stream: bad event %q: %w", data, err)
		}
		if c.Error != nil {
			return nil, c.Error.apiError(0)
		}
		if c.Model != "" {
			res.Model = c.Model
		}
		if c.Usage != nil {
			res.Usage = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != "" {
				if res.Chunks == 0 {
					res.TimeToFirstToken = time.Since(start)
				}
				res.Chunks++
				b.WriteString(ch.Delta.Content)
				if onDelta != nil {
					onDelta(ch.Delta.Content)
				}
			}
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				res.FinishReason = *ch.FinishReason
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, notReady(fmt.Errorf("reading the stream: %w", err))
	}
	if !done {
		return nil, fmt.Errorf("%w: the stream ended before [DONE]", ErrNotReady)
	}
	res.Content = b.String()
	res.Total = time.Since(start)
	if res.Chunks == 0 {
		res.TimeToFirstToken = res.Total
	}
	return res, nil
}

// errBody is vLLM's error JSON: {"object":"error","message":...,"type":...,
// "code":400} (v0.10) or {"error":{"message":...,"type":...,"code":...}}.
type errBody struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    any    `json:"code"`
}

func (e *errBody) apiError(status int) *APIError {
	if status == 0 {
		if f, ok := e.Code.(float64); ok {
			status = int(f)
		}
	}
	return &APIError{Status: status, Type: e.Type, Message: oneLine(e.Message)}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return s
}

func (c *Client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, notReady(err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusBadGateway {
		return nil, fmt.Errorf("%w (%s %s answered %d)", ErrNotReady, method, path, resp.StatusCode)
	}
	var flat errBody
	var nested struct {
		Error *errBody `json:"error"`
	}
	switch {
	case json.Unmarshal(raw, &nested) == nil && nested.Error != nil && nested.Error.Message != "":
		return nil, nested.Error.apiError(resp.StatusCode)
	case json.Unmarshal(raw, &flat) == nil && flat.Message != "":
		return nil, flat.apiError(resp.StatusCode)
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, &APIError{Status: resp.StatusCode, Message: "the API key was refused"}
	}
	return nil, &APIError{Status: resp.StatusCode, Message: oneLine(string(raw))}
}

// notReady wraps connection errors (refused, reset, EOF) as ErrNotReady.
func notReady(err error) error {
	var op *net.OpError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &op) {
		return fmt.Errorf("%w: %v", ErrNotReady, err)
	}
	return err
}
