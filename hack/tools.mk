# Pinned build tools, built from the Go module proxy into $(CACHE)/bin, each
# only when missing. A tool lands as <name>-<version> with a <name> symlink
# beside it, so bumping a pin rebuilds it and an old build is never used.
# `make tools` builds them all; .ci/run calls it.
# Included near the top of the Makefile: keep its default goal.
_goal_before_tools := $(.DEFAULT_GOAL)
TOOLS_BIN := $(CACHE)/bin
TOOLS_SHARE := $(CACHE)/share

HELM_VERSION     ?= v3.21.4
CT_VERSION       ?= v3.14.0
KREW_VERSION     ?= v0.4.3
REGISTRY_VERSION ?= v3.1.2
# kubectl for ct install (ct shells out to it): built from the hack/kubectl
# module at the test control plane's Kubernetes version (no skew warnings,
# no dependence on a kubectl on the machine).
KUBECTL_VERSION  ?= v1.37.2

# Tools built from a module of this repository are keyed on its files too
# (content, not mtimes: a fresh clone must not rebuild them).
src-key = $(shell cat $(1) | sha256sum | cut -c1-10)
REGISTRY_BUILD := registry-$(REGISTRY_VERSION)-$(call src-key,hack/registry/go.mod hack/registry/go.sum hack/registry/main.go)
KUBECTL_BUILD  := kubectl-$(KUBECTL_VERSION)-$(call src-key,hack/kubectl/go.mod hack/kubectl/go.sum hack/kubectl/main.go)

HELM     := $(TOOLS_BIN)/helm
CT       := $(TOOLS_BIN)/ct
KREW     := $(TOOLS_BIN)/krew
VALIDATE_KREW := $(TOOLS_BIN)/validate-krew-manifest
REGISTRY := $(TOOLS_BIN)/registry
KUBECTL_BIN := $(TOOLS_BIN)/kubectl
YAMLLINT ?= /usr/bin/yamllint
# ct's own lint config and Chart.yaml schema, copied from its module.
CT_ETC   := $(TOOLS_SHARE)/ct-$(CT_VERSION)/etc

# helm's release ldflags: without them `helm version` says v3.21 and
# client-only rendering assumes Kubernetes v1.20. 1.36 = Helm's client-go line.
HELM_LDFLAGS := -s -w \
	-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/internal/version.gitTreeState=clean \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=36 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=36

KUBECTL_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(KUBECTL_VERSION) -X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean \
	-X k8s.io/client-go/pkg/version.gitVersion=$(KUBECTL_VERSION) -X k8s.io/client-go/pkg/version.gitMajor=1 \
	-X k8s.io/client-go/pkg/version.gitMinor=37 -X k8s.io/client-go/pkg/version.gitTreeState=clean

TOOL_GO := nice $(GO)

.PHONY: tools tools-dist
tools: tools-dist
tools-dist: $(HELM) $(CT) $(KREW) $(VALIDATE_KREW) $(REGISTRY) $(KUBECTL_BIN) $(YAMLLINT)

# $(call tool-link,name,version): point $(TOOLS_BIN)/name at name-version.
tool-link = ln -sfn $(1)-$(2) $(TOOLS_BIN)/$(1)

$(TOOLS_BIN)/helm-$(HELM_VERSION):
	@mkdir -p $(TOOLS_BIN)
	@echo "building helm $(HELM_VERSION) (cold: ~4-6 min on 2 cores)"
	time CGO_ENABLED=0 GOBIN=$(TOOLS_BIN)/.helm-$(HELM_VERSION) $(TOOL_GO) install -trimpath -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(TOOLS_BIN)/.helm-$(HELM_VERSION)/helm $@ && rmdir $(TOOLS_BIN)/.helm-$(HELM_VERSION)
$(HELM): $(TOOLS_BIN)/helm-$(HELM_VERSION)
	$(call tool-link,helm,$(HELM_VERSION))

# ct: `go install ...@version` is refused (replace directives); build inside
# its downloaded module directory instead.
$(TOOLS_BIN)/ct-$(CT_VERSION):
	@mkdir -p $(TOOLS_BIN)
	@echo "building ct $(CT_VERSION)"
	dir=$$($(GO) mod download -json github.com/helm/chart-testing/v3@$(CT_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && \
	test -n "$$dir" && cd "$$dir" && \
	time CGO_ENABLED=0 $(TOOL_GO) build -trimpath -ldflags '-s -w -X github.com/helm/chart-testing/v3/ct/cmd.Version=$(CT_VERSION)' -o $@ ./ct
$(CT_ETC)/lintconf.yaml:
	@mkdir -p $(CT_ETC)
	dir=$$($(GO) mod download -json github.com/helm/chart-testing/v3@$(CT_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && \
	install -m 0644 "$$dir/etc/lintconf.yaml" "$$dir/etc/chart_schema.yaml" $(CT_ETC)/
$(CT): $(TOOLS_BIN)/ct-$(CT_VERSION) | $(CT_ETC)/lintconf.yaml
	$(call tool-link,ct,$(CT_VERSION))

$(TOOLS_BIN)/krew-$(KREW_VERSION) $(TOOLS_BIN)/validate-krew-manifest-$(KREW_VERSION) &:
	@mkdir -p $(TOOLS_BIN)
	@echo "building krew + validate-krew-manifest $(KREW_VERSION)"
	time CGO_ENABLED=0 GOBIN=$(TOOLS_BIN)/.krew-$(KREW_VERSION) $(TOOL_GO) install -trimpath -ldflags '-s -w' \
		sigs.k8s.io/krew/cmd/krew@$(KREW_VERSION) sigs.k8s.io/krew/cmd/validate-krew-manifest@$(KREW_VERSION)
	mv $(TOOLS_BIN)/.krew-$(KREW_VERSION)/krew $(TOOLS_BIN)/krew-$(KREW_VERSION)
	mv $(TOOLS_BIN)/.krew-$(KREW_VERSION)/validate-krew-manifest $(TOOLS_BIN)/validate-krew-manifest-$(KREW_VERSION)
	rmdir $(TOOLS_BIN)/.krew-$(KREW_VERSION)
$(KREW): $(TOOLS_BIN)/krew-$(KREW_VERSION)
	$(call tool-link,krew,$(KREW_VERSION))
$(VALIDATE_KREW): $(TOOLS_BIN)/validate-krew-manifest-$(KREW_VERSION)
	$(call tool-link,validate-krew-manifest,$(KREW_VERSION))

# The CNCF distribution registry, for the OCI chart tests (loopback only),
# from the hack/registry module: upstream's registry with only the filesystem
# storage driver (a cold build ~2 min instead of ~6 CPU-min). Its version is
# the one hack/registry/go.mod requires.
$(TOOLS_BIN)/$(REGISTRY_BUILD):
	@mkdir -p $(TOOLS_BIN)
	@grep -q 'github.com/distribution/distribution/v3 $(REGISTRY_VERSION)$$' hack/registry/go.mod || \
	  { echo "error: hack/registry/go.mod does not require distribution $(REGISTRY_VERSION)" >&2; exit 1; }
	@echo "building the distribution registry $(REGISTRY_VERSION) (hack/registry)"
	cd hack/registry && time CGO_ENABLED=0 $(TOOL_GO) build -trimpath -ldflags '-s -w' -o $@ .
$(REGISTRY): $(TOOLS_BIN)/$(REGISTRY_BUILD)
	ln -sfn $(REGISTRY_BUILD) $@

$(TOOLS_BIN)/$(KUBECTL_BUILD):
	@mkdir -p $(TOOLS_BIN)
	@echo "building kubectl $(KUBECTL_VERSION) (hack/kubectl module)"
	cd hack/kubectl && time $(TOOL_GO) build -trimpath -ldflags '$(KUBECTL_LDFLAGS)' -o $@ .
$(KUBECTL_BIN): $(TOOLS_BIN)/$(KUBECTL_BUILD)
	ln -sfn $(KUBECTL_BUILD) $@

# yamllint (for ct lint) comes from Debian.
$(YAMLLINT):
	command -v apt-get >/dev/null || { echo "error: yamllint missing: install it with your package manager" >&2; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq yamllint

.DEFAULT_GOAL := $(_goal_before_tools)
