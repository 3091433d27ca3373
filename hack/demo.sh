#!/usr/bin/env bash
# make demo: kubectl llama on a throwaway local control plane.
#
# Starts a real Kubernetes control plane (test/cluster) whose GPU node is
# SIMULATED (a kwok node advertising 8 x H100) and whose pods run a stand-in
# for vLLM (test/vllmstub, started by the fake kubelet test/podrunner), then
# installs Llama 4 Scout with kubectl llama, waits, chats, lists, and tears
# everything down on exit, even on failure or Ctrl-C.
#
# The Makefile builds the binaries first; paths come from the environment:
#   LLAMA_CLUSTER (llama-cluster), KUBECTL_LLAMA (bin/kubectl-llama),
#   POD_RUNNER (bin/podrunner, with bin/vllmstub next to it).
set -euo pipefail

: "${LLAMA_CLUSTER:?set by make demo}" "${KUBECTL_LLAMA:?set by make demo}" "${POD_RUNNER:?set by make demo}"
LOAD_TIME=${DEMO_LOAD_TIME:-4s} # how long the stand-in pretends to load the weights

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
say() { printf '\n'; bold "== $*"; }
# show prints a command as the user would type it, then runs it.
show() {
	local shown="" a
	for a in "$@"; do case $a in *" "*) shown+=" \"$a\"" ;; *) shown+=" $a" ;; esac; done
	printf '\n$%s\n' "$shown"
	shift 2
	"$KUBECTL_LLAMA" "$@"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-llama-demo.XXXXXX")
state="$tmp/cluster"
cleanup() {
	rc=$?
	trap - EXIT INT TERM
	say "Tearing down the local control plane"
	"$LLAMA_CLUSTER" down --state-dir "$state" >/dev/null 2>&1 || true
	rm -rf "$tmp"
	if [ $rc -eq 0 ]; then echo "done: every process the demo started is stopped and $tmp is removed"; else echo "demo FAILED (exit $rc); everything it started is stopped"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat <<EOF
kubectl llama demo
------------------
What is real: the Kubernetes v1.37.2 control plane (kube-apiserver, scheduler,
controller-manager, etcd) on 127.0.0.1, the kubectl-llama plugin, the Helm
chart, and every API call between them.
What is SIMULATED: the GPUs (a kwok node that advertises 8 x NVIDIA H100 80GB,
no GPU is used) and the model server (a small stand-in that speaks vLLM's
OpenAI API; it does not load Llama 4 and its answers are canned).
EOF

say "Starting a local control plane with one simulated a3-highgpu-8g node (8 x H100)"
"$LLAMA_CLUSTER" up --profile h100 --state-dir "$state" --owner-pid $$ \
	--pod-runner "$POD_RUNNER" --pod-runner-arg="--load-time=$LOAD_TIME" |
	grep -vE '^[[:space:]]+(export KUBECONFIG|limited user|stop with)'
export KUBECONFIG="$state/kubeconfig"

say "Installing Llama 4 Scout"
echo "HF_TOKEN below is a FAKE token (hf_DEMO...): the stand-in model server downloads nothing."
echo "On a real cluster, export a Hugging Face token with access to meta-llama/Llama-4-Scout-17B-16E."
export HF_TOKEN="hf_DEMOFAKETOKEN000000000000000000000"
show kubectl llama install scout

say "Asking the model (the tutorial's smoke test)"
show kubectl llama chat scout "San Francisco is a" --max-tokens 7
echo "(the answer comes from the stand-in server, not from Llama 4)"

say "What is installed"
show kubectl llama list
