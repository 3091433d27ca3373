package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// cluster is the local control plane the bench runs against.
type cluster struct {
	Kubeconfig string
	Version    string
	cs         kubernetes.Interface

	bin, stateDir, tmp string // set when the bench started it (and stops it)
}

// clusterInfo is the part of llama-cluster's cluster.json the bench reads.
type clusterInfo struct {
	Kubeconfig     string  `json:"kubeconfig"`
	Version        string  `json:"version"`
	StartupSeconds float64 `json:"startupSeconds"`
}

// startCluster starts a cluster of profile in a temp state dir with the
// fake-kubelet pod runner. The cluster's watchdog stops it if the bench dies.
func startCluster(ctx context.Context, bin, podRunner, profile string) (*cluster, error) {
	tmp, err := os.MkdirTemp("", "kubectl-llama-bench-")
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, tmp: tmp, stateDir: filepath.Join(tmp, "state")}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "up", "-o", "json", "--state-dir", c.stateDir, "--profile", profile,
		"--pod-runner", podRunner, "--owner-pid", fmt.Sprint(os.Getpid()), "--timeout", "3m")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("llama-cluster up: %w", err)
	}
	var info clusterInfo
	if err := json.Unmarshal(out, &info); err != nil {
		c.stop()
		return nil, fmt.Errorf("llama-cluster up -o json: %w", err)
	}
	c.Kubeconfig, c.Version = info.Kubeconfig, info.Version
	if err := c.connect(); err != nil {
		c.stop()
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "bench: cluster %s (%s) up in %.1fs\n", c.stateDir, c.Version, info.StartupSeconds)
	return c, nil
}

// useCluster connects to an existing cluster (make cluster-up's); the bench
// never stops it.
func useCluster(kubeconfig string) (*cluster, error) {
	c := &cluster{Kubeconfig: kubeconfig}
	if err := c.connect(); err != nil {
		return nil, err
	}
	v, err := c.cs.Discovery().ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("cluster of %s: %w", kubeconfig, err)
	}
	c.Version = v.GitVersion
	return c, nil
}

func (c *cluster) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	c.cs, err = kubernetes.NewForConfig(cfg)
	return err
}

// stop stops a cluster the bench started and removes its state.
func (c *cluster) stop() {
	if c.bin == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, "down", "--state-dir", c.stateDir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: llama-cluster down: %v\n", err)
	}
	_ = os.RemoveAll(c.tmp)
}

// namespace creates ns (if missing) with the Hugging Face Secret the chart
// reads (a fake token: the stand-in only checks that one is set).
func (c *cluster) namespace(ctx context.Context, ns string, withSecret bool) error {
	_, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if !withSecret {
		return nil
	}
	_, err = c.cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "hf-secret"},
		StringData: map[string]string{"hf_api_token": fakeToken},
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// waitNoPods waits until no pod matching selector is left in ns.
func (c *cluster) waitNoPods(ctx context.Context, ns, selector string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		pods, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil && len(pods.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pods %q in %s still there after %s", selector, ns, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
