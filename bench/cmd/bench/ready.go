package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// available is the Deployment's Available condition for its current spec.
func available(d *appsv1.Deployment) bool {
	if d.Status.ObservedGeneration < d.Generation {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyTrial is one run of 3: helm upgrade --install --wait creates the
// release; as soon as the bench's watch sees the Deployment, it starts
// `kubectl wait --for=condition=Available` and `kubectl llama wait`. The pod's
// simulated model load (podrunner's load-time annotation) makes the
// Deployment Available about loadTime later, while all three wait; each
// lag is the waiter's exit minus the moment the bench's own watch saw
// Available flip to True.
type readyTrial struct {
	plugin, kubectl, helm time.Duration
	pluginRSS, helmRSS    int64
	armed                 time.Duration // shortest time a waiter ran before the flip
}

func (b *bench) readyOnce(ctx context.Context, ns, rel string) (readyTrial, error) {
	var t readyTrial
	ctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	w, err := b.c.cs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + rel})
	if err != nil {
		return t, err
	}
	defer w.Stop()
	helm, err := b.r.start(ctx, b.cfg.helm, "upgrade", "--install", rel, b.cfg.chartDir, "-n", ns,
		"--wait", "--timeout", "3m", "--set", "model.preset=scout", "--set", "gke.mode=autopilot",
		"--set-string", `podAnnotations.podrunner\.kubectl-llama\.io/load-time=`+b.cfg.loadTime.String())
	if err != nil {
		return t, err
	}
	defer helm.stop()
	var kw, pw *proc
	defer func() {
		for _, p := range []*proc{kw, pw} {
			if p != nil {
				p.stop()
			}
		}
	}()
	var avail time.Time
	for avail.IsZero() {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return t, errors.New("deployment watch closed")
			}
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok {
				continue
			}
			if kw == nil {
				if kw, err = b.r.start(ctx, b.cfg.kubectl, "wait", "--for=condition=Available", "--timeout=180s", "-n", ns, "deployment/"+rel); err != nil {
					return t, err
				}
				if pw, err = b.r.start(ctx, b.cfg.plugin, "wait", rel, "-n", ns, "--timeout", "3m", "-q"); err != nil {
					return t, err
				}
			}
			if available(d) {
				avail = time.Now()
			}
		case <-helm.done:
			return t, fmt.Errorf("helm exited before the Deployment was Available: %v: %s", helm.err, lastLine(helm.errb.String()))
		case <-ctx.Done():
			return t, fmt.Errorf("no Available Deployment %s/%s: %w", ns, rel, ctx.Err())
		}
	}
	if err := firstErr(pw.wait(time.Minute), kw.wait(time.Minute), helm.wait(time.Minute)); err != nil {
		return t, err
	}
	t.plugin, t.kubectl, t.helm = pw.exited.Sub(avail), kw.exited.Sub(avail), helm.exited.Sub(avail)
	t.pluginRSS, t.helmRSS = pw.rss, helm.rss
	t.armed = min(avail.Sub(pw.started), avail.Sub(kw.started))
	return t, nil
}

// benchReady: 3. ready lag of kubectl llama wait vs kubectl wait and helm --wait.
func (b *bench) benchReady(ctx context.Context) {
	const g, ns, rel = "3 ready lag", "bench-ready", "lag"
	fail := func(err error) {
		b.rep.add(Row{Group: g, Measure: "Available -> wait exits", Unit: "ms", Anchor: "kubectl wait / helm --wait", Error: err.Error()})
	}
	if err := b.c.namespace(ctx, ns, true); err != nil {
		fail(err)
		return
	}
	var p, k, h []float64
	armed := time.Hour
	for i := 0; i < b.cfg.readyRuns; i++ {
		t, err := b.readyOnce(ctx, ns, rel)
		b.r.run(ctx, nil, b.cfg.helm, "uninstall", rel, "-n", ns)
		if werr := b.c.waitNoPods(ctx, ns, "app.kubernetes.io/instance="+rel, 2*time.Minute); err == nil {
			err = werr
		}
		if err != nil {
			fail(fmt.Errorf("run %d: %w", i+1, err))
			return
		}
		fmt.Fprintf(os.Stderr, "bench: ready lag run %d: plugin %.1fms kubectl %.1fms helm %.1fms\n", i+1, ms(t.plugin), ms(t.kubectl), ms(t.helm))
		p, k, h = append(p, ms(t.plugin)), append(k, ms(t.kubectl)), append(h, ms(t.helm))
		b.mem.wait = append(b.mem.wait, kib2mib(t.pluginRSS))
		b.mem.helmInstall = append(b.mem.helmInstall, kib2mib(t.helmRSS))
		armed = min(armed, t.armed)
	}
	note := fmt.Sprintf("waiters started >= %.1fs before the flip; simulated model load %s", armed.Seconds(), b.cfg.loadTime)
	ps := summarize(p)
	if ps.Median >= 100 {
		note += "; ABOVE the 100 ms target"
	} else {
		note += "; target < 100 ms met"
	}
	b.rep.add(Row{Group: g, Measure: "Available -> kubectl llama wait exits", Unit: "ms", Plugin: ps,
		Anchor: "kubectl wait --for=condition=Available", AnchorStats: summarize(k), Note: note})
	b.rep.add(Row{Group: g, Measure: "Available -> kubectl llama wait exits", Unit: "ms", Plugin: ps,
		Anchor: "helm upgrade --install --wait", AnchorStats: summarize(h)})
}
