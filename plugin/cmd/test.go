package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-llama/kubectl-llama/plugin/endpoint"
	"github.com/kubectl-llama/kubectl-llama/plugin/openai"
	"github.com/kubectl-llama/kubectl-llama/plugin/preflight"
)

// The seed's smoke test: the tutorial's curl.
const (
	smokePrompt    = "San Francisco is a"
	smokeMaxTokens = 7
)

type testOptions struct {
	releaseOptions
	endpointURL string
	timeout     time.Duration
}

func newTestCmd(f *factory) *cobra.Command {
	o := &testOptions{releaseOptions: releaseOptions{f: f}}
	c := &cobra.Command{
		Use:   "test RELEASE",
		Short: "Smoke-test a release: /health, /v1/models and a 7-token chat completion",
		Long: `Run the tutorial's smoke test against the release through a port-forward
(or --endpoint): GET /health, GET /v1/models, then a chat completion of
"San Francisco is a" with max_tokens 7 at temperature 0. Each step prints
PASS or FAIL with its time; the command exits non-zero naming the failing step.`,
		Example: "  kubectl llama test scout\n  kubectl llama test scout --endpoint http://127.0.0.1:8080",
		Args:    cobra.ExactArgs(1),
		RunE:    runCommand(o),
	}
	c.Flags().StringVar(&o.endpointURL, "endpoint", "", "model server URL (no port-forward)")
	c.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "time limit of each step")
	return c
}

func (o *testOptions) Validate() error {
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive")
	}
	return validateReleaseName(o.release)
}

type smokeStep struct {
	name string
	run  func(ctx context.Context) (string, error)
}

func (o *testOptions) Run(ctx context.Context) error {
	ctx, cancel := signalContext(ctx)
	defer cancel()
	out := o.f.streams.Out
	var ep *endpoint.Endpoint
	var model string
	fwCtx, fwCancel := context.WithCancel(ctx)
	defer fwCancel()
	steps := []smokeStep{
		{"connect", func(sctx context.Context) (string, error) {
			// The port-forward lives on the command's context (the step's
			// context ends with the step); the step's limit bounds the setup.
			type opened struct {
				ep  *endpoint.Endpoint
				err error
			}
			done := make(chan opened, 1)
			go func() {
				e, err := openEndpoint(fwCtx, o.f, o.release, o.endpointURL)
				done <- opened{e, err}
			}()
			select {
			case r := <-done:
				if r.err != nil {
					return "", r.err
				}
				ep = r.ep
			case <-sctx.Done():
				fwCancel()
				return "", fmt.Errorf("connecting to %s: %w", o.release, sctx.Err())
			}
			if ep.Forward != nil {
				return fmt.Sprintf("port-forward %s -> pod %s port %d", strings.TrimPrefix(ep.BaseURL, "http://"), ep.Forward.Pod(), ep.Forward.TargetPort()), nil
			}
			return ep.BaseURL, nil
		}},
		{"health", func(ctx context.Context) (string, error) {
			return "GET /health 200", ep.Client().Health(ctx)
		}},
		{"models", func(ctx context.Context) (string, error) {
			var err error
			model, err = ep.Client().ServedModel(ctx)
			return "GET /v1/models: " + model, err
		}},
		{"chat", func(ctx context.Context) (string, error) {
			mt, temp := smokeMaxTokens, 0.0
			res, err := ep.Client().Chat(ctx, openai.ChatRequest{Model: model, MaxTokens: &mt, Temperature: &temp,
				Messages: []openai.Message{{Role: "user", Content: smokePrompt}}}, nil)
			if err != nil {
				return "", err
			}
			if strings.TrimSpace(res.Content) == "" {
				return "", fmt.Errorf("empty answer (finish reason %s)", orNone(res.FinishReason))
			}
			return fmt.Sprintf("POST /v1/chat/completions %q (max_tokens %d, temperature 0): %q", smokePrompt, smokeMaxTokens, res.Content), nil
		}},
	}
	defer func() {
		if ep != nil {
			ep.Close()
		}
	}()
	for i, s := range steps {
		sctx, scancel := context.WithTimeout(ctx, o.timeout)
		start := time.Now()
		detail, err := s.run(sctx)
		scancel()
		took := time.Since(start).Round(time.Millisecond)
		if err != nil {
			err = preflight.Unreachable(o.f.target(), apiError(o.release, err))
			printStep(out, "FAIL", s.name, err.Error(), took)
			return fmt.Errorf("smoke test failed at step %s (%d/%d): %v", s.name, i+1, len(steps), err)
		}
		printStep(out, "PASS", s.name, detail, took)
	}
	fmt.Fprintf(out, "smoke test passed: %d/%d steps\n", len(steps), len(steps))
	return nil
}

func printStep(w io.Writer, verdict, name, detail string, took time.Duration) {
	fmt.Fprintf(w, "%s  %-8s %s (%s)\n", verdict, name, detail, took)
}
