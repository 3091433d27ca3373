# The local test control plane (test/cluster, see its README): Kubernetes
# control-plane binaries, etcd and kwok built from Go modules into
# $(CACHE)/bin, plus llama-cluster, which starts and stops them.
#
#   make cluster-build             build what is missing or stale
#   make cluster-up [PROFILE=h100] start a cluster in $(CLUSTER_STATE) with the pod
#                                  runner (bin/podrunner), print KUBECONFIG
#   make cluster-down              stop it and remove its state
#
# The control-plane build (~12 min cold on 2 cores) is keyed on test/cluster's
# go.mod + go.sum, the pinned versions and the Go version: a stamp file
# $(CACHE)/bin/.cluster-<key> marks a complete build. kwok lands as
# kwok-<version> with a kwok symlink (hack/tools.mk's convention).
_goal_before_cluster := $(.DEFAULT_GOAL)
CLUSTER_BIN    := $(CACHE)/bin
CLUSTER_STATE  ?= $(CACHE)/cluster
K8S_VERSION    := v1.37.2
KWOK_VERSION   := v0.8.0
PROFILE        ?= h100
LLAMA_CLUSTER  := $(CLUSTER_BIN)/llama-cluster

K8S_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=37 \
	-X k8s.io/component-base/version.gitTreeState=clean
CLUSTER_KEY := $(shell cat test/cluster/go.mod test/cluster/go.sum | sha256sum | cut -c1-12)-$(K8S_VERSION)-$(shell $(GO) env GOVERSION)
CLUSTER_STAMP := $(CLUSTER_BIN)/.cluster-$(CLUSTER_KEY)
CLUSTER_BINS := $(addprefix $(CLUSTER_BIN)/,etcd kube-apiserver kube-controller-manager kube-scheduler)
LLAMA_CLUSTER_SRC := test/cluster/go.mod test/cluster/go.sum $(shell find test/cluster -name '*.go' -o -name '*.yaml')

.PHONY: cluster-build cluster-up cluster-down cluster-status
cluster-build: $(CLUSTER_STAMP) $(CLUSTER_BIN)/kwok $(LLAMA_CLUSTER)

# Grouped target: rebuilt when the stamp or any binary is missing.
$(CLUSTER_STAMP) $(CLUSTER_BINS) &:
	@mkdir -p $(CLUSTER_BIN)
	@echo "building etcd, kube-apiserver, kube-controller-manager, kube-scheduler $(K8S_VERSION) (cold: ~12 min on 2 cores)"
	cd test/cluster && time nice $(GO) build -trimpath -ldflags '$(K8S_LDFLAGS)' -o $(CLUSTER_BIN)/ \
		./cmd/etcd ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler
	rm -f $(CLUSTER_BIN)/.cluster-* && touch $(CLUSTER_STAMP)

$(CLUSTER_BIN)/kwok-$(KWOK_VERSION):
	@mkdir -p $(CLUSTER_BIN)
	@echo "building kwok $(KWOK_VERSION) (cold: ~2 min)"
	time GOBIN=$(CLUSTER_BIN)/.kwok-$(KWOK_VERSION) nice $(GO) install -trimpath -ldflags '-s -w' sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)
	mv $(CLUSTER_BIN)/.kwok-$(KWOK_VERSION)/kwok $@ && rmdir $(CLUSTER_BIN)/.kwok-$(KWOK_VERSION)
$(CLUSTER_BIN)/kwok: $(CLUSTER_BIN)/kwok-$(KWOK_VERSION)
	ln -sfn kwok-$(KWOK_VERSION) $@

$(LLAMA_CLUSTER): $(LLAMA_CLUSTER_SRC)
	@mkdir -p $(CLUSTER_BIN)
	cd test/cluster && nice $(GO) build -trimpath -ldflags '-s -w' -o $@ ./cmd/llama-cluster

# The fake-kubelet pod runner (test/podrunner) gives pods their status and
# runs the vLLM stand-in behind them; POD_RUNNER= starts the cluster without it
# (pods then stay Pending after scheduling).
POD_RUNNER ?= $(CURDIR)/bin/podrunner
cluster-up: cluster-build $(if $(POD_RUNNER),test-bins)
	$(LLAMA_CLUSTER) up --profile $(PROFILE) --state-dir $(CLUSTER_STATE) $(if $(POD_RUNNER),--pod-runner $(POD_RUNNER))

cluster-down:
	@if [ -x $(LLAMA_CLUSTER) ]; then $(LLAMA_CLUSTER) down --state-dir $(CLUSTER_STATE); else echo "no llama-cluster binary: nothing started"; fi

cluster-status:
	$(LLAMA_CLUSTER) status --state-dir $(CLUSTER_STATE)

# End-to-end suite (test/e2e, build tag e2e): each test starts its own cluster
# from the cached binaries through test/localcluster, with the fake-kubelet pod
# runner (bin/podrunner, which runs bin/vllmstub) and the built plugin.
E2E_TIMEOUT ?= 30m
# The tests mostly wait on clusters: run them all at once (the default is GOMAXPROCS).
E2E_FLAGS   ?= -parallel 8
.PHONY: e2e test-bins
test: e2e
test-bins: FORCE
	$(GO) build -o bin/ ./test/podrunner/cmd/podrunner ./test/vllmstub/cmd/vllmstub

e2e: cluster-build build test-bins $(HELM)
	LLAMA_CLUSTER_BIN=$(LLAMA_CLUSTER) LLAMA_POD_RUNNER=$(CURDIR)/bin/podrunner KUBECTL_LLAMA_BIN=$(CURDIR)/bin/kubectl-llama HELM_BIN=$(HELM) \
		$(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) $(E2E_FLAGS) ./test/e2e/...

.DEFAULT_GOAL := $(_goal_before_cluster)
