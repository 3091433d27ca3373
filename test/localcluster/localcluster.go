// Package localcluster is TEST INFRASTRUCTURE: it starts and stops the local
// test control plane (test/cluster: real kube-apiserver, controller-manager,
// scheduler and etcd v1.37.2, kwok nodes simulating GKE GPU node pools) for Go
// tests, by running the llama-cluster binary that `make cluster-build`
// installs. It imports nothing from k8s.io/kubernetes.
//
//	c := localcluster.StartT(t, localcluster.Options{Profile: "h100"})
//	c.Client.CoreV1().Nodes().List(...)
//	cmd.Env = c.Env() // KUBECONFIG for a built binary (kubectl-llama, helm)
//
// Each cluster lives in its own temp state dir on free loopback ports, so
// tests (and a developer's `make cluster-up`) may run several at once. A
// watchdog stops the cluster if the test binary dies without cleaning up.
package localcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Environment variables the harness reads.
const (
	// EnvBinary overrides the llama-cluster binary path.
	EnvBinary = "LLAMA_CLUSTER_BIN"
	// EnvPodRunner is the default Options.PodRunner (the fake kubelet).
	EnvPodRunner = "LLAMA_POD_RUNNER"
	// EnvCache overrides the cache dir (default ~/.cache/kubectl-llama).
	EnvCache = "KUBECTL_LLAMA_CACHE"
)

// CacheDir is where `make cluster-build` puts its binaries (under bin/).
func CacheDir() string {
	if d := os.Getenv(EnvCache); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "kubectl-llama")
	}
	return filepath.Join(home, ".cache", "kubectl-llama")
}

// Binary returns the llama-cluster binary: $LLAMA_CLUSTER_BIN, else
// <cache>/bin/llama-cluster.
func Binary() (string, error) {
	p := os.Getenv(EnvBinary)
	if p == "" {
		p = filepath.Join(CacheDir(), "bin", "llama-cluster")
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("llama-cluster binary not found at %s: run `make cluster-build` (or set %s)", p, EnvBinary)
	}
	return p, nil
}

// Options configure a cluster.
type Options struct {
	// Profile names the node pools (test/cluster/nodepools.yaml): cpu, h100,
	// h200, h100-h200, autopilot, autopilot-h200, autopilot-h100-h200.
	// Default h100.
	Profile string
	// PodRunner is the fake-kubelet binary started as a managed process
	// (default $LLAMA_POD_RUNNER; "" = none: pods are scheduled but get no
	// status).
	PodRunner     string
	PodRunnerArgs []string
	// StateDir defaults to a new temp dir, removed by Stop.
	StateDir string
	// Timeout for startup (default 3m).
	Timeout time.Duration
}

// Cluster is a running local control plane.
type Cluster struct {
	StateDir          string
	Server            string // https://127.0.0.1:PORT
	Version           string // v1.37.2
	Profile           string
	Kubeconfig        string // admin (system:masters)
	LimitedKubeconfig string // LimitedUser: no rights until a test binds a Role
	LimitedUser       string
	PodRunnerDir      string // the pod runner's --state-dir
	Nodes             []string
	StartupSeconds    float64

	Config *rest.Config // admin
	Client kubernetes.Interface

	bin string
}

// info mirrors llama-cluster's cluster.json.
type info struct {
	StateDir          string   `json:"stateDir"`
	Server            string   `json:"server"`
	Kubeconfig        string   `json:"kubeconfig"`
	LimitedKubeconfig string   `json:"limitedKubeconfig"`
	LimitedUser       string   `json:"limitedUser"`
	Version           string   `json:"version"`
	Profile           string   `json:"profile"`
	PodRunnerDir      string   `json:"podRunnerDir"`
	Nodes             []string `json:"nodes"`
	StartupSeconds    float64  `json:"startupSeconds"`
}

// Start starts a cluster and waits until it is ready (apiserver ready, nodes
// Ready, default ServiceAccount). Call Stop when done (StartT does).
func Start(ctx context.Context, o Options) (*Cluster, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if o.Profile == "" {
		o.Profile = "h100"
	}
	if o.PodRunner == "" {
		o.PodRunner = os.Getenv(EnvPodRunner)
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.StateDir == "" {
		// llama-cluster refuses non-empty dirs it did not create: hand it a
		// fresh path inside a temp dir.
		tmp, err := os.MkdirTemp("", "llama-cluster-")
		if err != nil {
			return nil, err
		}
		o.StateDir = filepath.Join(tmp, "state")
	}
	args := []string{"up", "-o", "json", "--state-dir", o.StateDir, "--profile", o.Profile,
		"--timeout", o.Timeout.String(), "--owner-pid", fmt.Sprint(os.Getpid())}
	if o.PodRunner != "" {
		args = append(args, "--pod-runner", o.PodRunner)
		for _, a := range o.PodRunnerArgs {
			args = append(args, "--pod-runner-arg", a)
		}
	}
	var stdout, stderr bytes.Buffer
	up := func() error {
		stdout.Reset()
		stderr.Reset()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			// Keep what the components said before down removes the state dir.
			err = fmt.Errorf("llama-cluster up: %v\n%s%s", err, stderr.String(), logTails(o.StateDir, 20))
			_ = exec.Command(bin, "down", "--state-dir", o.StateDir).Run()
			return err
		}
		return nil
	}
	if err := up(); err != nil {
		// One retry: a control-plane component that dies during start-up is
		// reported (with its log) on stderr, and a second failure is an error.
		fmt.Fprintf(os.Stderr, "localcluster: start failed, retrying once: %v\n", err)
		if err2 := up(); err2 != nil {
			return nil, fmt.Errorf("%v\n(first attempt: %v)", err2, err)
		}
	}
	var in info
	if err := json.Unmarshal(stdout.Bytes(), &in); err != nil {
		return nil, fmt.Errorf("llama-cluster up: bad output: %v\n%s", err, stdout.String())
	}
	c := &Cluster{
		StateDir: in.StateDir, Server: in.Server, Version: in.Version, Profile: in.Profile,
		Kubeconfig: in.Kubeconfig, LimitedKubeconfig: in.LimitedKubeconfig, LimitedUser: in.LimitedUser,
		PodRunnerDir: in.PodRunnerDir, Nodes: in.Nodes, StartupSeconds: in.StartupSeconds, bin: bin,
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		_ = c.Stop()
		return nil, err
	}
	c.Config.QPS, c.Config.Burst = 100, 200
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

// StartT starts a cluster for a test or benchmark and stops it in t.Cleanup;
// if the test failed, the tail of every component log is logged first.
func StartT(t testing.TB, o Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("local cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "pod-runner"} {
				if tail := c.LogTail(name, 20); tail != "" {
					t.Logf("--- %s log (last 20 lines) ---\n%s", name, tail)
				}
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping local cluster: %v", err)
		}
	})
	return c
}

// Stop stops every process of the cluster and removes its state dir (and
// the temp dir holding it).
func (c *Cluster) Stop() error {
	out, err := exec.Command(c.bin, "down", "--state-dir", c.StateDir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("llama-cluster down: %v: %s", err, out)
	}
	if parent := filepath.Dir(c.StateDir); strings.HasPrefix(filepath.Base(parent), "llama-cluster-") {
		_ = os.Remove(parent)
	}
	return nil
}

func (c *Cluster) run(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, c.bin, append(args, "--state-dir", c.StateDir)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("llama-cluster %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// AddProfile adds the node pools of a profile the cluster does not have yet
// and waits until their nodes are Ready.
func (c *Cluster) AddProfile(ctx context.Context, profile string) error {
	return c.run(ctx, "nodes", "add", "--profile", profile)
}

// AddPools adds node pools by key (nodepools.yaml `pools:`) and waits until
// their nodes are Ready.
func (c *Cluster) AddPools(ctx context.Context, keys ...string) error {
	return c.run(ctx, "nodes", "add", "--pool", strings.Join(keys, ","))
}

// RemovePools deletes the nodes of node pools by key.
func (c *Cluster) RemovePools(ctx context.Context, keys ...string) error {
	return c.run(ctx, "nodes", "remove", "--pool", strings.Join(keys, ","))
}

// Env is os.Environ() with KUBECONFIG pointing at the admin kubeconfig, for
// running built binaries (kubectl-llama, helm, kubectl) against the cluster.
func (c *Cluster) Env() []string { return withEnv(os.Environ(), "KUBECONFIG", c.Kubeconfig) }

// LimitedEnv is Env for the limited user.
func (c *Cluster) LimitedEnv() []string {
	return withEnv(os.Environ(), "KUBECONFIG", c.LimitedKubeconfig)
}

// LimitedConfig is the rest config of the limited user.
func (c *Cluster) LimitedConfig() (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", c.LimitedKubeconfig)
}

// LogTail returns the last n lines of a component's log (kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok, etcd, pod-runner).
func (c *Cluster) LogTail(component string, n int) string {
	return fileTail(filepath.Join(c.StateDir, "logs", component+".log"), n)
}

// fileTail returns the last n lines of a file, or "" when it cannot be read.
func fileTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func withEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

// logTails returns the last n lines of every component log under
// stateDir/logs, for an error message.
func logTails(stateDir string, n int) string {
	files, _ := filepath.Glob(filepath.Join(stateDir, "logs", "*.log"))
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "--- %s (last %d lines)\n%s\n", filepath.Base(f), n, fileTail(f, n))
	}
	return b.String()
}
