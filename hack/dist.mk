# Release artifacts (issue 6): archives, krew manifest, chart repository,
# chart-testing. Included by the Makefile; see docs/distribution.md.
# Included near the top of the Makefile: keep its default goal.
_goal_before_dist := $(.DEFAULT_GOAL)
DIST_DIR        := dist
# Release platforms. Each non-host platform costs a cold cross-build of the
# whole graph (~3.5 CPU-min); make test builds all of them (catches code that
# does not compile for a platform), override for a quick local run.
DIST_PLATFORMS  ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
CHART_DIR       := charts/vllm-llama
CHART_REPO_DIR  := $(DIST_DIR)/chart-repo
# Optional absolute URL for the index entries; empty = relative URLs, so the
# folder works on any static host.
CHART_REPO_URL  ?=
# Archive entry mtimes: the last commit's time, so a commit always packs to
# the same bytes.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
KREW_MANIFEST   := krew/llama.yaml
CHART_VERSION   := $(shell sed -n 's/^version: *//p' $(CHART_DIR)/Chart.yaml)

.PHONY: dist dist-bin krew chart-repo ct-lint ct-install test-dist dist-test krew-test e2e-dist

# Cross-build every platform with the release flags (no cgo, no paths, no
# VCS stamp), then pack reproducible archives + checksums.txt.
dist-bin:
	@rm -rf $(DIST_DIR)/bin
	@set -e; for p in $(DIST_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "go build $$os/$$arch"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch nice $(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" \
	    -o $(DIST_DIR)/bin/$${os}_$$arch/kubectl-llama$$ext ./cmd/kubectl-llama; \
	done

dist: dist-bin
	@rm -f $(DIST_DIR)/kubectl-llama_* $(DIST_DIR)/checksums.txt
	$(GO) run ./hack/dist -version $(VERSION) -bin $(DIST_DIR)/bin -license LICENSE -out $(DIST_DIR) \
	  $(if $(SOURCE_DATE_EPOCH),-mtime $(SOURCE_DATE_EPOCH))
	@cat $(DIST_DIR)/checksums.txt

# The krew manifest, generated from dist/checksums.txt (never hand-edited).
krew: dist
	@mkdir -p $(dir $(KREW_MANIFEST))
	$(GO) run ./hack/krew -version $(VERSION) -checksums $(DIST_DIR)/checksums.txt -o $(KREW_MANIFEST)

# A static Helm chart repository: packaged chart + index.yaml.
chart-repo: $(HELM)
	@rm -rf $(CHART_REPO_DIR) && mkdir -p $(CHART_REPO_DIR)
	$(HELM) package $(CHART_DIR) --destination $(CHART_REPO_DIR)
	$(HELM) repo index $(CHART_REPO_DIR) $(if $(CHART_REPO_URL),--url $(CHART_REPO_URL))
	@ls $(CHART_REPO_DIR)

# krew's validator, hashes vs dist/, offline krew install + tampered archive.
krew-test: krew $(KREW) $(VALIDATE_KREW)
	VERSION=$(VERSION) DIST_PLATFORMS="$(DIST_PLATFORMS)" KREW=$(KREW) VALIDATE_KREW_MANIFEST=$(VALIDATE_KREW) \
	  $(GO) test -tags dist -count=1 ./hack/krew/

# Archive reproducibility + a double build of linux/amd64 (also run by unit).
dist-test:
	$(GO) test -count=1 ./hack/dist/

# ct reads lintconf/chart_schema from its module (copied under $(CT_ETC)).
CT_FLAGS := --config ct.yaml --lint-conf $(CT_ETC)/lintconf.yaml --chart-yaml-schema $(CT_ETC)/chart_schema.yaml

ct-lint: $(CT) $(HELM) $(YAMLLINT)
	PATH=$(TOOLS_BIN):$$PATH $(CT) lint $(CT_FLAGS) --all
	@# --all skips ct's version-increment check; on a branch ahead of
	@# origin/main, lint the changed charts against it, which checks the bump.
	@if git rev-parse -q --verify origin/main >/dev/null && [ "$$(git rev-parse HEAD)" != "$$(git rev-parse origin/main)" ]; then \
		echo "ct lint against origin/main (chart version bump check)"; \
		PATH=$(TOOLS_BIN):$$PATH $(CT) lint $(CT_FLAGS); \
	fi

# End-to-end (build tag e2e, test/distribution): each test starts its own
# local control plane (test/localcluster, with the fake kubelet).
#   TestChartRepository  dist/chart-repo on 127.0.0.1: helm repo add/install/test,
#                        kubectl llama install --repo
#   TestOCIRegistry      distribution registry on 127.0.0.1: helm push,
#                        helm install oci://, kubectl llama install --chart oci://
#   TestChartTestingInstall  ct install --all (make ct-install runs only this)
DIST_E2E_ENV = LLAMA_CLUSTER_BIN=$(LLAMA_CLUSTER) LLAMA_POD_RUNNER=$(CURDIR)/bin/podrunner \
	KUBECTL_LLAMA_BIN=$(CURDIR)/bin/kubectl-llama HELM_BIN=$(HELM) REGISTRY_BIN=$(REGISTRY) \
	CT_BIN=$(CT) KUBECTL_BIN=$(KUBECTL_BIN) CHART_REPO_DIR=$(CURDIR)/$(CHART_REPO_DIR) CHART_VERSION=$(CHART_VERSION)
DIST_E2E_DEPS = cluster-build build test-bins chart-repo $(HELM) $(REGISTRY) $(CT) $(KUBECTL_BIN)

e2e-dist: $(DIST_E2E_DEPS)
	$(DIST_E2E_ENV) $(GO) test -tags e2e -count=1 -timeout 30m ./test/distribution/...

ct-install: $(DIST_E2E_DEPS)
	$(DIST_E2E_ENV) $(GO) test -tags e2e -count=1 -timeout 30m -run 'TestChartTestingInstall' ./test/distribution/...

test-dist: krew-test ct-lint e2e-dist

# make test runs test-dist (after the prerequisites others add).
test: test-dist

.DEFAULT_GOAL := $(_goal_before_dist)
