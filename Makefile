# kubectl-llama. `make demo` and `make test` are the two commands a newcomer runs.
SHELL := /bin/bash
GO    ?= go
# Build outputs that outlive a clean clone (cluster binaries, helm, kwok, ...).
CACHE ?= $(HOME)/.cache/kubectl-llama
VERSION ?= v0.1.0
LDFLAGS := -s -w -X github.com/kubectl-llama/kubectl-llama/plugin/version.version=$(VERSION)

# Everything CI runs (.ci/run), in order: unit first, then the steps the
# included files add with `test: <step>`, e2e last (hack/cluster.mk).
test: unit
.DEFAULT_GOAL :=

# Pinned tools (make tools) and release artifacts (dist, krew, chart-repo, ct-*).
include hack/tools.mk hack/dist.mk
# Local test control plane (cluster-build, cluster-up, cluster-down) and e2e.
include hack/cluster.mk

.PHONY: build test unit chart-test
build: bin/kubectl-llama

# Static, as the release archives are built (hack/dist.mk): same binary, 16 MB smaller than a cgo build.
bin/kubectl-llama: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $@ ./cmd/kubectl-llama

# The root module, then the test control plane's own module (its unit tests
# need no cluster build: only client-go and apimachinery).
unit:
	$(GO) test ./...
	cd test/cluster && $(GO) test ./internal/... ./cmd/llama-cluster/...

# The vllm-llama chart: seed comparison, fit checks, schema, options, README, lint
# (Helm SDK, no helm binary). Also part of unit.
chart-test:
	$(GO) test ./charts/...

FORCE:

# kubectl-llama against helm, kubectl and the tutorial's steps, each against its
# anchor in the same run (bench/cmd/bench; README.md, Performance): prints the
# table and writes bench/results.json. Starts and stops its own local cluster
# (loopback only, ~3 min warm). Never part of `make test`. BENCH_FLAGS=-h lists options.
BENCH_FLAGS ?=
# The kubectl anchor: the pinned build (make tools), the control plane's own
# version (v1.37.2), not the one on PATH; BENCH_KUBECTL=... for another.
BENCH_KUBECTL ?= $(KUBECTL_BIN)
.PHONY: bench
# The plugin is built as hack/dist.mk builds release archives (static, CGO off).
bench: test-bins cluster-build $(HELM) $(BENCH_KUBECTL)
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o bin/bench/kubectl-llama ./cmd/kubectl-llama
	$(GO) build -o bin/llama-bench ./bench/cmd/bench
	bin/llama-bench -plugin bin/bench/kubectl-llama -pod-runner bin/podrunner -helm $(HELM) -kubectl $(BENCH_KUBECTL) -llama-cluster $(LLAMA_CLUSTER) $(BENCH_FLAGS)

# The first command to run: a throwaway local control plane with a simulated
# 8 x H100 node and a vLLM stand-in, kubectl llama install scout -> ready ->
# chat -> list, torn down on exit (hack/demo.sh). Builds what it needs.
.PHONY: demo
demo: cluster-build build test-bins
	LLAMA_CLUSTER=$(LLAMA_CLUSTER) KUBECTL_LLAMA=$(CURDIR)/bin/kubectl-llama POD_RUNNER=$(CURDIR)/bin/podrunner hack/demo.sh
