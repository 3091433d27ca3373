package controlplane

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func clients(stateDir string) (kubernetes.Interface, dynamic.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", layout{stateDir}.kubeconfig())
	if err != nil {
		return nil, nil, err
	}
	cfg.QPS, cfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cs, dc, nil
}

// AddNodes creates the nodes of pools in a running cluster (existing nodes are
// kept), applies what their mode needs, and waits until they are Ready.
func AddNodes(ctx context.Context, stateDir string, pools []Pool, log io.Writer) ([]string, error) {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	l := layout{abs}
	cs, dc, err := clients(abs)
	if err != nil {
		return nil, err
	}
	if err := applyPoolExtras(ctx, dc, pools); err != nil {
		return nil, err
	}
	names, err := createNodes(ctx, cs, pools)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	kwok, err := loadProc(l, Kwok)
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, kwok, func() error { return nodesReady(ctx, cs, names) }); err != nil {
		return nil, err
	}
	if err := waitPoolExtras(ctx, cs, pools); err != nil {
		return nil, err
	}
	if log != nil {
		fmt.Fprintf(log, "nodes Ready: %s\n", strings.Join(names, ", "))
	}
	if info, err := ReadInfo(abs); err == nil {
		for _, n := range names {
			if !contains(info.Nodes, n) {
				info.Nodes = append(info.Nodes, n)
			}
		}
		if err := info.write(); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// RemoveNodes deletes the nodes of pools from a running cluster.
func RemoveNodes(ctx context.Context, stateDir string, pools []Pool, log io.Writer) error {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	cs, _, err := clients(abs)
	if err != nil {
		return err
	}
	var removed []string
	for _, p := range pools {
		for _, n := range p.Nodes() {
			if err := ignoreNotFound(cs.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{})); err != nil {
				return err
			}
			removed = append(removed, n.Name)
		}
	}
	if info, err := ReadInfo(abs); err == nil {
		var keep []string
		for _, n := range info.Nodes {
			if !contains(removed, n) {
				keep = append(keep, n)
			}
		}
		info.Nodes = keep
		if err := info.write(); err != nil {
			return err
		}
	}
	if log != nil {
		fmt.Fprintf(log, "nodes deleted: %s\n", strings.Join(removed, ", "))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Status writes the processes and nodes of the cluster in stateDir and
// returns an error unless every process runs and the apiserver is ready.
func Status(ctx context.Context, stateDir string, w io.Writer) error {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	l := layout{abs}
	exists, err := checkStateDir(l)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("no cluster in %s", abs)
	}
	procs, err := loadProcs(l)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tSTATE\tLOG")
	down := 0
	for _, p := range procs {
		state := "running"
		if !p.Running() {
			state = "NOT RUNNING"
			down++
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", p.Name, p.PID, state, p.Log)
	}
	_ = tw.Flush()
	info, err := healthy(ctx, l)
	if err != nil {
		return fmt.Errorf("cluster in %s is not healthy: %w", abs, err)
	}
	fmt.Fprintf(w, "\nserver %s (%s), profile %s\nexport KUBECONFIG=%s\n\n", info.Server, info.Version, info.Profile, info.Kubeconfig)
	cs, _, err := clients(abs)
	if err != nil {
		return err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREADY\tPOOL\tACCELERATOR\tGPUS\tTAINTS")
	for _, n := range nodes.Items {
		ready := "False"
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = string(c.Status)
			}
		}
		gpus := n.Status.Allocatable[ResourceGPU]
		var taints []string
		for _, t := range n.Spec.Taints {
			taints = append(taints, t.ToString())
		}
		acc := n.Labels[LabelAccelerator]
		if acc == "" {
			acc = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, ready, n.Labels[LabelNodePool], acc, gpus.String(), strings.Join(taints, ","))
	}
	_ = tw.Flush()
	if down > 0 {
		return fmt.Errorf("%d process(es) not running", down)
	}
	return nil
}
