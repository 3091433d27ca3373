package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubectl-llama/kubectl-llama/plugin/endpoint"
	"github.com/kubectl-llama/kubectl-llama/plugin/openai"
)

type chatOptions struct {
	f           *factory
	release     string
	prompt      string
	maxTokens   int
	temperature float64
	tempSet     bool
	system      string
	stream      bool
	endpointURL string
	verbose     bool
	interactive bool
}

func newChatCmd(f *factory) *cobra.Command {
	o := &chatOptions{f: f}
	c := &cobra.Command{
		Use:   "chat RELEASE [PROMPT]",
		Short: "Send a chat completion to a release's model (interactive without a prompt on a terminal)",
		Long: `Send an OpenAI chat completion to the release's model server and print the
answer. It opens a port-forward to the release on a free local port (or uses
--endpoint), asks /v1/models for the served model, and uses the release's API
key from its Secret when it has one. Without PROMPT it reads the prompt from
standard input, or, on a terminal, chats interactively (/exit to leave).`,
		Example: `  kubectl llama chat scout "San Francisco is a" --max-tokens 7 --temperature 0
  kubectl llama chat scout "Write a haiku about GPUs" --stream -v
  kubectl llama chat scout --endpoint http://127.0.0.1:8080 "Hello"
  kubectl llama chat scout          # interactive`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			o.tempSet = c.Flags().Changed("temperature")
			return runCommand(o)(c, args)
		},
	}
	c.Flags().IntVar(&o.maxTokens, "max-tokens", 0, "maximum tokens to generate (0: the server's default)")
	c.Flags().Float64Var(&o.temperature, "temperature", 0, "sampling temperature (default: the server's)")
	c.Flags().StringVar(&o.system, "system", "", "system message")
	c.Flags().BoolVar(&o.stream, "stream", false, "print the answer token by token as it is generated")
	c.Flags().StringVar(&o.endpointURL, "endpoint", "", "model server URL, e.g. http://127.0.0.1:8080 (no port-forward)")
	c.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "print time to first token, tokens/s and latency on stderr")
	return c
}

func (o *chatOptions) Complete(args []string) error {
	o.release = args[0]
	if len(args) == 2 {
		o.prompt = args[1]
		return nil
	}
	if o.f.terminal(o.f.streams.In) {
		o.interactive = true
		return nil
	}
	b, err := io.ReadAll(o.f.streams.In)
	if err != nil {
		return fmt.Errorf("reading the prompt from stdin: %w", err)
	}
	o.prompt = strings.TrimSpace(string(b))
	return nil
}

func (o *chatOptions) Validate() error {
	if !o.interactive && o.prompt == "" {
		return fmt.Errorf("no prompt: pass it as an argument (kubectl llama chat %s \"San Francisco is a\") or on stdin", o.release)
	}
	if o.maxTokens < 0 {
		return fmt.Errorf("--max-tokens must be positive")
	}
	if o.tempSet && o.temperature < 0 {
		return fmt.Errorf("--temperature must be 0 or more")
	}
	return validateReleaseName(o.release)
}

// openEndpoint opens the release's endpoint (chat and test share it).
func openEndpoint(ctx context.Context, f *factory, release, url string) (*endpoint.Endpoint, error) {
	_, cs, ns, err := f.servingClients()
	if err != nil && url != "" {
		// No cluster needed with an explicit URL (no API key then).
		return &endpoint.Endpoint{BaseURL: strings.TrimRight(url, "/")}, nil
	}
	if err != nil {
		return nil, err
	}
	if url != "" {
		return endpoint.Open(ctx, nil, cs, ns, release, endpoint.Options{URL: url})
	}
	cfg, err := f.restConfig()
	if err != nil {
		return nil, err
	}
	return endpoint.Open(ctx, cfg, cs, ns, release, endpoint.Options{})
}

// apiError maps a client error to the one-line error of the commands.
func apiError(release string, err error) error {
	if errors.Is(err, openai.ErrNotReady) {
		return endpoint.NotReady(release, err)
	}
	return err
}

func (o *chatOptions) Run(ctx context.Context) error {
	ctx, cancel := signalContext(ctx)
	defer cancel()
	ep, err := openEndpoint(ctx, o.f, o.release, o.endpointURL)
	if err != nil {
		return err
	}
	defer ep.Close()
	client := ep.Client()
	model, err := client.ServedModel(ctx)
	if err != nil {
		return apiError(o.release, err)
	}
	var history []openai.Message
	if o.system != "" {
		history = append(history, openai.Message{Role: "system", Content: o.system})
	}
	if !o.interactive {
		_, err := o.turn(ctx, client, model, append(history, openai.Message{Role: "user", Content: o.prompt}))
		return err
	}
	out := o.f.streams.Out
	fmt.Fprintf(out, "Chatting with %s (/exit to leave).\n", model)
	in := bufio.NewScanner(o.f.streams.In)
	in.Buffer(make([]byte, 64*1024), 1024*1024)
	for {
		fmt.Fprint(out, "> ")
		if !in.Scan() {
			fmt.Fprintln(out)
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		switch line {
		case "":
			continue
		case "/exit", "/quit":
			return nil
		}
		msgs := append(history, openai.Message{Role: "user", Content: line})
		answer, err := o.turn(ctx, client, model, msgs)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(o.f.streams.ErrOut, "error: %v\n", err)
			continue
		}
		history = append(msgs, openai.Message{Role: "assistant", Content: answer})
	}
}

// turn sends one request and prints the answer.
func (o *chatOptions) turn(ctx context.Context, client *openai.Client, model string, msgs []openai.Message) (string, error) {
	req := openai.ChatRequest{Model: model, Messages: msgs, Stream: o.stream}
	if o.maxTokens > 0 {
		req.MaxTokens = &o.maxTokens
	}
	if o.tempSet {
		t := o.temperature
		req.Temperature = &t
	}
	out := o.f.streams.Out
	var onDelta func(string)
	if o.stream {
		onDelta = func(s string) { fmt.Fprint(out, s) }
	}
	res, err := client.Chat(ctx, req, onDelta)
	if err != nil {
		if o.stream {
			fmt.Fprintln(out)
		}
		return "", apiError(o.release, err)
	}
	if o.stream {
		fmt.Fprintln(out)
	} else {
		fmt.Fprintln(out, res.Content)
	}
	if o.verbose {
		tokens := res.Chunks
		if res.Usage != nil {
			tokens = res.Usage.CompletionTokens
		}
		fmt.Fprintf(o.f.streams.ErrOut, "time to first token %s, %d tokens, %.1f tokens/s, total %s, finish %s\n",
			res.TimeToFirstToken.Round(100_000), tokens, res.TokensPerSecond(), res.Total.Round(100_000), orNone(res.FinishReason))
	}
	return res.Content, nil
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
