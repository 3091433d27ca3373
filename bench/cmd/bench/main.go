// Command bench measures kubectl-llama against the tools it replaces (helm,
// kubectl, the tutorial's manual steps), each against its anchor in the same
// run, and prints median (min-max) of N runs with ratios; it writes the
// same table as JSON (bench/results.json). `make bench` builds everything
// and runs it; it is never part of `make test`.
//
//  1. CLI start: kubectl-llama version vs helm version; binary size; peak RSS.
//  2. Render: kubectl llama install P --dry-run vs helm template (5 presets).
//  3. Ready lag on the local control plane: Deployment Available (the bench's
//     own watch) to kubectl llama wait exiting, vs kubectl wait and helm --wait.
//  4. Install to first answer: kubectl llama install + chat vs the tutorial's
//     steps (kubectl create secret, apply, wait, port-forward, curl).
//  5. Chat round trip vs kubectl port-forward + curl; port-forward throughput.
//  6. Peak RSS of install and chat.
//
// It starts its own cluster (llama-cluster, Autopilot-like profile with the
// fake kubelet) in a temp dir and stops it, or uses -kubeconfig. Everything
// listens on 127.0.0.1 and every step has a timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

var presets = []string{"scout", "scout-instruct", "maverick", "maverick-instruct", "maverick-instruct-fp8"}

type config struct {
	plugin, helm, kubectl, curl         string
	chartDir, seedDir                   string
	llamaCluster, podRunner, kubeconfig string
	profile                             string
	out                                 string
	sections                            string
	missing                             []string // anchors not installed (kubectl, curl)

	runs, renderRuns, readyRuns, firstRuns, chatRuns int
	loadTime                                         time.Duration
	concurrency, tputRequests, tputTrials            int
	tputDuration                                     time.Duration
}

// memRSS collects peak RSS (MiB) samples from the other sections (6).
type memRSS struct {
	install, helmInstall, chat, portForward, pfCurl, wait []float64
}

type bench struct {
	cfg config
	r   *runner
	c   *cluster
	rep *Report
	mem memRSS
	// retries of the tutorial's port-forward+curl loop (4)
	retries []float64
	tmp     string
}

func main() {
	os.Exit(run())
}

func run() int {
	home, _ := os.UserHomeDir()
	cache := filepath.Join(home, ".cache", "kubectl-llama", "bin")
	var cfg config
	flag.StringVar(&cfg.plugin, "plugin", "bin/bench/kubectl-llama", "kubectl-llama binary (release build, as make bench builds it)")
	flag.StringVar(&cfg.helm, "helm", filepath.Join(cache, "helm"), "helm binary (release build)")
	flag.StringVar(&cfg.kubectl, "kubectl", "kubectl", "kubectl binary")
	flag.StringVar(&cfg.curl, "curl", "curl", "curl binary")
	flag.StringVar(&cfg.chartDir, "chart", "charts/vllm-llama", "the vllm-llama chart directory (for helm)")
	flag.StringVar(&cfg.seedDir, "seed", "test/fixtures/seed", "the tutorial's manifests")
	flag.StringVar(&cfg.llamaCluster, "llama-cluster", filepath.Join(cache, "llama-cluster"), "llama-cluster binary")
	flag.StringVar(&cfg.podRunner, "pod-runner", "bin/podrunner", "fake-kubelet binary, vllmstub next to it (make test-bins)")
	flag.StringVar(&cfg.kubeconfig, "kubeconfig", "", "use this running cluster (Autopilot-like profile with the pod runner) instead of starting one")
	flag.StringVar(&cfg.profile, "profile", "autopilot", "llama-cluster profile (the tutorial's manifests need Autopilot: no GPU taint)")
	flag.StringVar(&cfg.out, "o", "bench/results.json", "JSON results file")
	flag.StringVar(&cfg.sections, "sections", "1,2,3,4,5,6", "comma-separated sections to run")
	flag.IntVar(&cfg.runs, "runs", 30, "runs of each CLI start measurement")
	flag.IntVar(&cfg.renderRuns, "render-runs", 20, "runs of each render measurement")
	flag.IntVar(&cfg.readyRuns, "ready-runs", 5, "ready-lag runs")
	flag.IntVar(&cfg.firstRuns, "first-runs", 3, "install-to-first-answer runs of each side")
	flag.IntVar(&cfg.chatRuns, "chat-runs", 50, "chat round trips of each side")
	flag.DurationVar(&cfg.loadTime, "load-time", 6*time.Second, "simulated model load for the ready-lag runs")
	flag.IntVar(&cfg.concurrency, "concurrency", 8, "throughput concurrency")
	flag.IntVar(&cfg.tputRequests, "tput-requests", 5000, "throughput: requests per trial (bound)")
	flag.DurationVar(&cfg.tputDuration, "tput-duration", 10*time.Second, "throughput: time per trial (bound)")
	flag.IntVar(&cfg.tputTrials, "tput-trials", 5, "throughput trials of each side")
	flag.Parse()

	if err := resolve(&cfg); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 40*time.Minute)
	defer cancel()

	tmp, err := os.MkdirTemp("", "kubectl-llama-bench-run-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	b := &bench{cfg: cfg, rep: &Report{Meta: map[string]string{}}, tmp: tmp}
	b.r = &runner{env: childEnv(tmp, ""), timeout: 5 * time.Minute}
	b.meta(ctx)

	want := map[string]bool{}
	for _, s := range strings.Split(cfg.sections, ",") {
		want[strings.TrimSpace(s)] = true
	}
	if want["1"] {
		b.benchCLI(ctx)
	}
	if want["2"] {
		b.benchRender(ctx)
	}
	if (want["3"] || want["4"] || want["5"] || want["6"]) && len(cfg.missing) > 0 {
		b.rep.add(Row{Group: "3-6 cluster", Measure: "skipped", Error: fmt.Sprintf("%s not found (the anchors of 3-6): install kubectl (a release of v1.32 or later) and curl, or pass -kubectl/-curl", strings.Join(cfg.missing, ", "))})
	} else if want["3"] || want["4"] || want["5"] || want["6"] {
		if cfg.kubeconfig != "" {
			b.c, err = useCluster(cfg.kubeconfig)
		} else {
			b.c, err = startCluster(ctx, cfg.llamaCluster, cfg.podRunner, cfg.profile)
		}
		if err != nil {
			b.rep.add(Row{Group: "cluster", Measure: "start", Error: err.Error()})
		} else {
			defer b.c.stop()
			b.r.env = childEnv(tmp, b.c.Kubeconfig)
			b.rep.Meta["cluster"] = b.c.Version + " (llama-cluster " + cfg.profile + ", kwok nodes, fake kubelet + vLLM stand-in)"
			if want["3"] {
				b.benchReady(ctx)
			}
			if want["4"] {
				b.benchFirst(ctx)
			}
			if want["5"] || want["6"] {
				b.benchChat(ctx)
			}
			if want["6"] {
				b.benchMemory()
			}
		}
	}
	fmt.Println()
	b.rep.printTable(os.Stdout)
	if err := b.rep.writeJSON(cfg.out); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		return 1
	}
	fmt.Printf("wrote %s\n", cfg.out)
	return 0
}

// benchMemory: 6. peak RSS of install and chat (samples from 3, 4 and 5).
func (b *bench) benchMemory() {
	const g = "6 memory"
	b.rep.add(Row{Group: g, Measure: "install scout peak RSS", Unit: "MiB", Plugin: summarize(b.mem.install),
		Anchor: "helm upgrade --install --wait", AnchorStats: summarize(b.mem.helmInstall)})
	b.rep.add(Row{Group: g, Measure: "chat peak RSS", Unit: "MiB", Plugin: summarize(b.mem.chat),
		Anchor: "kubectl port-forward + curl", AnchorStats: summarize(b.mem.pfCurl),
		Note: fmt.Sprintf("anchor = sum of the two processes' peaks; kubectl port-forward alone %.1f MiB", summarize(b.mem.portForward).Median)})
}

// resolve finds the binaries and checks the inputs exist.
func resolve(cfg *config) error {
	for _, p := range []*string{&cfg.plugin, &cfg.helm, &cfg.kubectl, &cfg.curl} {
		path, err := exec.LookPath(*p)
		if err != nil && (p == &cfg.kubectl || p == &cfg.curl) {
			// Anchors of 3-6 only: those sections report the missing tool.
			cfg.missing = append(cfg.missing, *p)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s not found: build it (make bench builds kubectl-llama and helm) or pass its path", *p)
		}
		if path, err = filepath.Abs(path); err != nil {
			return err
		}
		*p = path
	}
	for _, p := range []*string{&cfg.chartDir, &cfg.seedDir, &cfg.podRunner, &cfg.llamaCluster} {
		if _, err := os.Stat(*p); err != nil {
			if cfg.kubeconfig != "" && (p == &cfg.podRunner || p == &cfg.llamaCluster) {
				continue
			}
			return fmt.Errorf("%s: %w", *p, err)
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	return nil
}

// childEnv is the environment of every measured command: the caller's, with
// KUBECONFIG set and Helm's and kubectl's caches in the run's temp dir.
func childEnv(tmp, kubeconfig string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "KUBECONFIG", "HF_TOKEN", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME", "KUBECACHEDIR", "HELM_NAMESPACE", "HELM_KUBECONTEXT":
			continue
		}
		env = append(env, kv)
	}
	if kubeconfig == "" {
		kubeconfig = filepath.Join(tmp, "no-cluster.kubeconfig")
	}
	return append(env,
		"KUBECONFIG="+kubeconfig,
		"HF_TOKEN="+fakeToken,
		"HELM_CACHE_HOME="+filepath.Join(tmp, "helm", "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(tmp, "helm", "config"),
		"HELM_DATA_HOME="+filepath.Join(tmp, "helm", "data"),
		"KUBECACHEDIR="+filepath.Join(tmp, "kube-cache"),
	)
}

func (b *bench) meta(ctx context.Context) {
	m := b.rep.Meta
	m["date"] = time.Now().UTC().Format(time.RFC3339)
	m["machine"] = fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		m["loadavg"] = strings.Join(strings.Fields(string(la))[:3], " ")
	}
	first := func(r result) string { return strings.SplitN(strings.TrimSpace(r.Stdout), "\n", 2)[0] }
	m["kubectl-llama"] = first(b.r.run(ctx, nil, b.cfg.plugin, "version"))
	m["helm"] = first(b.r.run(ctx, nil, b.cfg.helm, "version", "--short"))
	m["kubectl"] = first(b.r.run(ctx, nil, b.cfg.kubectl, "version", "--client"))
	m["runs"] = fmt.Sprintf("cli %d, render %d x 5 presets, ready %d, first answer %d each, chat %d each, throughput %d trials",
		b.cfg.runs, b.cfg.renderRuns, b.cfg.readyRuns, b.cfg.firstRuns, b.cfg.chatRuns, b.cfg.tputTrials)
}
