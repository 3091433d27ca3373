// Command podrunner is TEST INFRASTRUCTURE: the fake kubelet of the local
// test control plane (see package github.com/kubectl-llama/kubectl-llama/test/podrunner).
// It is started by `llama-cluster up --pod-runner PATH` as
//
//	podrunner --kubeconfig=FILE --state-dir=DIR [--stub PATH] [--load-time 2s] [--backoff 10s] ...
//
// Invoked under the name "curl" (the symlink DIR/bin/curl), it is the curl
// shim of helm-test pods instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-llama/kubectl-llama/test/podrunner"
)

func main() {
	if filepath.Base(os.Args[0]) == "curl" {
		os.Exit(podrunner.CurlMain(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "podrunner: error:", err)
		os.Exit(1)
	}
}

func run() error {
	var o podrunner.Options
	var kubeconfig, logFile string
	flag.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	flag.StringVar(&o.StateDir, "state-dir", "", "directory for pod log files, services.json and the curl shim (required)")
	flag.StringVar(&o.StubPath, "stub", "", "vllmstub binary (default: vllmstub next to this binary, else on PATH)")
	flag.StringVar(&o.NodeAnnotation, "node-annotation", "kwok.x-k8s.io/node=fake", "drive pods of nodes with this annotation (key=value; empty: all nodes)")
	flag.DurationVar(&o.LoadTime, "load-time", 2*time.Second, "default simulated model load time of vllmstub")
	flag.DurationVar(&o.Backoff, "backoff", 10*time.Second, "first crash-loop / image-pull back-off (doubles)")
	flag.DurationVar(&o.MaxBackoff, "max-backoff", 5*time.Minute, "back-off cap")
	flag.DurationVar(&o.ProbePeriod, "probe-period", 500*time.Millisecond, "how often probes run (compressed time)")
	flag.StringVar(&logFile, "log-file", "", "the runner's own decision log (default <state-dir>/podrunner.log)")
	flag.Parse()
	if o.StateDir == "" {
		return fmt.Errorf("--state-dir is required")
	}
	if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.Self = self
	if o.StubPath == "" {
		o.StubPath = filepath.Join(filepath.Dir(self), "vllmstub")
		if _, err := os.Stat(o.StubPath); err != nil {
			if o.StubPath, err = exec.LookPath("vllmstub"); err != nil {
				return fmt.Errorf("vllmstub not found next to %s nor on PATH: pass --stub PATH", self)
			}
		}
	}
	if logFile == "" {
		logFile = filepath.Join(o.StateDir, "podrunner.log")
	}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	o.Log = log.New(f, "", log.LstdFlags|log.Lmicroseconds)
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fmt.Fprintf(os.Stderr, "podrunner (TEST INFRASTRUCTURE, fake kubelet): stub %s, state %s, log %s\n", o.StubPath, o.StateDir, logFile)
	o.Log.Printf("podrunner starting: stub %s, state %s", o.StubPath, o.StateDir)
	return podrunner.New(client, dyn, o).Run(ctx)
}
