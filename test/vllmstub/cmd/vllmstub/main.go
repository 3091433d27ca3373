// Command vllmstub is TEST INFRASTRUCTURE: a stand-in for vLLM's OpenAI
// server used by the local test control plane's fake kubelet (test/podrunner).
// It never ships in the kubectl-llama plugin. See package
// github.com/kubectl-llama/kubectl-llama/test/vllmstub.
//
// Usage:
//
//	vllmstub [--listen ADDR] [--log-file FILE] [--load-time 2s] [--vllm-version 0.10.0] [--fault NAME] [--gpus N] \
//	    -- python3 -m vllm.entrypoints.openai.api_server --model=... [vLLM args]
//
// Every option also has an environment form (VLLMSTUB_LISTEN, VLLMSTUB_LOG_FILE,
// VLLMSTUB_LOAD_TIME, VLLMSTUB_VLLM_VERSION, VLLMSTUB_FAULT, VLLMSTUB_GPUS).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubectl-llama/kubectl-llama/test/vllmstub"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := vllmstub.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
