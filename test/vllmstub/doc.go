// Package vllmstub is TEST INFRASTRUCTURE: a small HTTP server that stands in
// for vLLM's OpenAI-compatible server (python3 -m vllm.entrypoints.openai.api_server)
// on the simulated GPU nodes of the local test control plane. No model is
// loaded and no GPU is used; answers are deterministic text built from the
// prompt. It never ships in the kubectl-llama plugin.
//
// It is started with the pod's own container command and args and parses them
// like vLLM's argparse (FlexibleArgumentParser) does for the emulated version
// (default 0.10.0): unknown flags make it exit 2 with vLLM's error text, so a
// chart that renders a flag the pinned vLLM does not accept fails here as it
// would on a GPU. The accepted flags are the explicit table in flags.go.
//
// Endpoints: /health, /ping, /version, /v1/models, /v1/chat/completions (with
// and without SSE streaming), /v1/completions, /metrics (vllm:* names, counting
// the requests served). --api-key (or env VLLM_API_KEY) protects /v1/* as vLLM
// does. Log lines imitate vLLM's (startup, request, access log) and are written
// in CRI log format to the log file, which kwok serves as `kubectl logs`.
//
// Behaviours that follow real vLLM rather than a simpler contract:
//   - the HTTP port opens only once the simulated model load is over
//     (connections are refused before, as with vLLM);
//   - --disable-log-stats leaves /metrics without vllm:* series, as in vLLM V1;
//   - a gated model (meta-llama/*) with no HUGGING_FACE_HUB_TOKEN / HF_TOKEN in
//     the environment fails to start with the Hugging Face 401 gated-repo error.
//
// Fault injection (env VLLMSTUB_FAULT or --fault) is described in faults.go.
package vllmstub
