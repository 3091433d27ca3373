package cmd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
)

type logsOptions struct {
	releaseOptions
	follow   bool
	tail     int64
	previous bool
}

func newLogsCmd(f *factory) *cobra.Command {
	o := &logsOptions{releaseOptions: releaseOptions{f: f}}
	c := &cobra.Command{
		Use:   "logs RELEASE",
		Short: "Print the vLLM server log of a release (the newest pod, or every pod with a prefix)",
		Example: `  kubectl llama logs scout -f
  kubectl llama logs scout --tail 50 --previous`,
		Args: cobra.ExactArgs(1),
		RunE: runCommand(o),
	}
	c.Flags().BoolVarP(&o.follow, "follow", "f", false, "stream the log")
	c.Flags().Int64Var(&o.tail, "tail", -1, "lines from the end to show (-1: all)")
	c.Flags().BoolVarP(&o.previous, "previous", "p", false, "the log of the previous (crashed) container")
	return c
}

func (o *logsOptions) Validate() error {
	if o.tail < -1 {
		return fmt.Errorf("--tail must be -1 or more")
	}
	return validateReleaseName(o.release)
}

func (o *logsOptions) Run(ctx context.Context) error {
	ctx, cancel := signalContext(ctx)
	defer cancel()
	_, cs, ns, err := o.f.servingClients()
	if err != nil {
		return err
	}
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.ReleaseSelector(o.release)})
	if err != nil {
		return fmt.Errorf("listing the pods of %s: %w", o.release, err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return fmt.Errorf("release %s has no pod in namespace %s: see kubectl llama status %s", o.release, ns, o.release)
	}
	// Newest first.
	sort.SliceStable(pods, func(i, j int) bool { return pods[j].CreationTimestamp.Before(&pods[i].CreationTimestamp) })
	out := &lockedWriter{w: o.f.streams.Out}
	if len(pods) == 1 {
		return o.stream(ctx, cs, ns, pods[0].Name, out, "")
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i := range pods {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = o.stream(ctx, cs, ns, pods[i].Name, out, "["+pods[i].Name+"] ")
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (o *logsOptions) stream(ctx context.Context, cs kubernetes.Interface, ns, pod string, out *lockedWriter, prefix string) error {
	opts := &corev1.PodLogOptions{Container: kube.ContainerName, Follow: o.follow, Previous: o.previous}
	if o.tail >= 0 {
		opts.TailLines = &o.tail
	}
	rc, err := cs.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("log of pod %s: %w", pod, err)
	}
	defer rc.Close()
	r := bufio.NewReader(rc)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			if line[len(line)-1] != '\n' {
				line += "\n"
			}
			out.write(prefix + line)
		}
		if err == io.EOF || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("log of pod %s: %w", pod, err)
		}
	}
}

// lockedWriter keeps the lines of several pods whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) write(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, s)
}
