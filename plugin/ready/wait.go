// Package ready waits for a release's model server to become available,
// showing what it is doing (scheduling, image pull, weights download and
// load) and failing fast, with the cause and the fix, when it cannot get
// there by itself.
package ready

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kubectl-llama/kubectl-llama/plugin/diagnose"
	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
)

// WaitOptions tunes Wait.
type WaitOptions struct {
	// Timeout bounds the wait (0: until ctx ends).
	Timeout time.Duration
	// Out receives progress lines (nil: none).
	Out io.Writer
	// Quiet silences progress (the returned error still carries the diagnosis).
	Quiet bool
	// TTY rewrites one progress line in place. It is also turned on when Out
	// is a terminal.
	TTY bool
	// NoLogs skips reading the serving container's log (the model load
	// stage and the log-based diagnosis).
	NoLogs bool
}

// Error is returned when the release did not become available: it carries
// the diagnosis.
type Error struct {
	Release string
	// TimedOut is true when the timeout ran out; false on a fail-fast cause.
	TimedOut bool
	// Interrupted is true when the caller cancelled the wait (Ctrl-C).
	Interrupted bool
	Elapsed     time.Duration
	// State is the last progress description.
	State    string
	Findings []diagnose.Finding
}

func (e *Error) Error() string {
	el := e.Elapsed.Round(time.Second)
	switch {
	case e.Interrupted:
		return fmt.Sprintf("stopped waiting for %s after %s (%s); the release is still installed: kubectl llama wait %s", e.Release, el, e.State, e.Release)
	case !e.TimedOut && len(e.Findings) > 0:
		return fmt.Sprintf("%s cannot become ready: %s", e.Release, e.Findings[0].String())
	case len(e.Findings) > 0:
		return fmt.Sprintf("%s not ready after %s: %s", e.Release, el, e.Findings[0].String())
	default:
		return fmt.Sprintf("%s not ready after %s (%s); see kubectl llama status %s and kubectl llama logs %s", e.Release, el, e.State, e.Release, e.Release)
	}
}

// Wait returns once the Deployment named release in namespace has rolled out
// and is available (kubectl rollout status semantics), or an *Error with the
// diagnosis on timeout or on a cause that does not heal by itself. It
// watches (informers), it does not poll.
func Wait(ctx context.Context, cs kubernetes.Interface, namespace, release string, o WaitOptions) error {
	start := time.Now()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	w := &waiter{
		cs: cs, ns: namespace, release: release, opts: o, start: start,
		wake:      make(chan struct{}, 1),
		firstSeen: map[string]time.Time{},
		logs:      map[string]*podLog{},
	}
	if o.Out == nil || o.Quiet {
		w.out = io.Discard
	} else {
		w.out = o.Out
		w.tty = o.TTY || isTerminal(o.Out)
	}
	// One read first: informers retry a failing list forever (the wait
	// would sit out its timeout on a wrong context or a missing credential
	// plugin); a Deployment not created yet is fine, it is waited for.
	if _, err := cs.AppsV1().Deployments(namespace).Get(ctx, release, metav1.GetOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading Deployment %s/%s: %w", namespace, release, err)
	}
	return w.run(ctx)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

type waiter struct {
	cs      kubernetes.Interface
	ns      string
	release string
	opts    WaitOptions
	start   time.Time
	out     io.Writer
	tty     bool

	wake      chan struct{}
	firstSeen map[string]time.Time
	lastLine  string
	ttyDirty  bool

	deps, pods, rss, evs cache.Store

	mu   sync.Mutex
	logs map[string]*podLog // by pod name
	// The informers' failed lists and watches (client-go retries them).
	apiErrs kube.WatchErrors
}

// apiTrouble is why the API server could not be read, when that happened
// in the last 30 s ("" otherwise).
func (w *waiter) apiTrouble() string {
	return kube.APITrouble(w.apiErrs.Within(30 * time.Second))
}

func (w *waiter) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *waiter) run(ctx context.Context) error {
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.notify() },
		UpdateFunc: func(any, any) { w.notify() },
		DeleteFunc: func(any) { w.notify() },
	}
	// The Deployment by name, the release's pods and ReplicaSets by label,
	// the namespace's events (filtered by name).
	set := kube.NewInformers(w.cs, w.ns)
	set.OnWatchError = func(err error) {
		w.apiErrs.Set(err)
		w.notify()
	}
	infs := []cache.SharedIndexInformer{
		set.Deployments(func(lo *metav1.ListOptions) {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.release).String()
		}),
		set.Pods(func(lo *metav1.ListOptions) { lo.LabelSelector = kube.ReleaseSelector(w.release) }),
		set.ReplicaSets(func(lo *metav1.ListOptions) { lo.LabelSelector = kube.ReleaseSelector(w.release) }),
		set.Events(nil),
	}
	for _, inf := range infs {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	w.deps, w.pods, w.rss, w.evs = infs[0].GetStore(), infs[1].GetStore(), infs[2].GetStore(), infs[3].GetStore()
	ctx, cancel := context.WithCancel(ctx)
	set.Start(ctx)
	defer func() {
		// Stop the informers (and log streams), then wait for them.
		cancel()
		set.Shutdown()
	}()
	// Notified, not polled: cache.WaitForCacheSync checks every 100 ms.
	// Meanwhile a failing list is shown as it is retried.
	synced := make(chan bool, 1)
	go func() { synced <- set.WaitForSync(ctx) }()
	for waiting := true; waiting; {
		select {
		case ok := <-synced:
			if !ok {
				return w.fail(ctx, nil, true)
			}
			waiting = false
		case <-w.wake:
			if t := w.apiTrouble(); t != "" {
				w.progress(t)
			}
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		snap := w.snapshot()
		if done, err := w.eval(ctx, snap); done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return w.fail(ctx, w.snapshot(), true)
		case <-w.wake:
		case <-tick.C:
		}
	}
}

// snapshot reads the informer caches (no API call).
func (w *waiter) snapshot() *Snapshot {
	s := &Snapshot{Release: w.release, Logs: map[string]diagnose.PodLogs{}}
	if obj, ok, _ := w.deps.GetByKey(w.ns + "/" + w.release); ok {
		s.Deployment = obj.(*appsv1.Deployment)
	}
	sel, _ := labels.Parse(kube.ReleaseSelector(w.release))
	for _, o := range w.rss.List() {
		rs := o.(*appsv1.ReplicaSet)
		if sel.Matches(labels.Set(rs.Labels)) {
			s.ReplicaSets = append(s.ReplicaSets, *rs)
		}
	}
	s.ReplicaSets = ownedBy(s.ReplicaSets, w.release)
	for _, o := range w.pods.List() {
		p := o.(*corev1.Pod)
		if sel.Matches(labels.Set(p.Labels)) {
			s.Pods = append(s.Pods, *p)
		}
	}
	sort.Slice(s.Pods, func(i, j int) bool { return s.Pods[i].Name < s.Pods[j].Name })
	var evs []corev1.Event
	for _, o := range w.evs.List() {
		evs = append(evs, *o.(*corev1.Event))
	}
	s.Events = releaseEvents(evs, w.release)
	w.mu.Lock()
	for name, l := range w.logs {
		s.Logs[name] = diagnose.PodLogs{Current: append([]string(nil), l.current...), Previous: l.previous}
	}
	w.mu.Unlock()
	return s
}

func (w *waiter) eval(ctx context.Context, s *Snapshot) (bool, error) {
	now := time.Now()
	if s.Deployment != nil {
		_, done, err := RolloutStatus(s.Deployment)
		if done {
			w.finish(fmt.Sprintf("%s is ready: %s (%s)", w.release, readyCount(s.Deployment), now.Sub(w.start).Round(time.Second)))
			return true, nil
		}
		if err != nil {
			return true, w.fail(ctx, s, false)
		}
	}
	cur := s
	if s.Deployment != nil {
		c := *s
		c.Pods = CurrentPods(s.Deployment, s.ReplicaSets, s.Pods)
		cur = &c
	}
	if !w.opts.NoLogs {
		w.followLogs(ctx, cur.Pods)
	}
	if s.Deployment != nil {
		for _, f := range diagnose.Diagnose(cur.Input()) {
			if !f.Fatal {
				continue
			}
			since := f.Since
			key := f.Cause + "\x00" + f.Object
			if _, ok := w.firstSeen[key]; !ok {
				w.firstSeen[key] = now
			}
			if since.IsZero() || since.After(now) {
				since = w.firstSeen[key]
			}
			if now.Sub(since) >= f.Grace {
				return true, w.fail(ctx, cur, false)
			}
		}
	}
	line := Describe(cur, w.stages())
	if t := w.apiTrouble(); t != "" {
		line = t + "; last seen: " + line
	}
	w.progress(line)
	return false, nil
}

func readyCount(d *appsv1.Deployment) string {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return fmt.Sprintf("%d/%d replicas available", d.Status.AvailableReplicas, want)
}

// fail builds the error, with the diagnosis, and shows the log lines behind it.
func (w *waiter) fail(ctx context.Context, s *Snapshot, timedOut bool) error {
	e := &Error{Release: w.release, TimedOut: timedOut, Elapsed: time.Since(w.start), State: w.lastLine}
	if s != nil {
		in := s.Input()
		if s.Deployment != nil {
			in.Pods = CurrentPods(s.Deployment, s.ReplicaSets, s.Pods)
		}
		e.Findings = diagnose.Diagnose(in)
		if e.State == "" {
			e.State = Describe(s, w.stages())
		}
	}
	if t := w.apiTrouble(); t != "" {
		e.State = t
	}
	if e.State == "" {
		e.State = "the release's objects could not be read"
	}
	if ctx.Err() != nil && !timedOut {
		e.TimedOut = true
	}
	// The timeout ends the context with DeadlineExceeded; Canceled comes
	// from the caller (an interrupt).
	if errors.Is(ctx.Err(), context.Canceled) {
		e.Interrupted, e.TimedOut = true, false
	}
	w.endLine()
	if len(e.Findings) > 0 && len(e.Findings[0].Logs) > 0 {
		fmt.Fprintf(w.out, "last log lines of %s:\n", strings.TrimPrefix(e.Findings[0].Object, "pod/"))
		for _, l := range e.Findings[0].Logs {
			fmt.Fprintf(w.out, "  %s\n", l)
		}
	}
	return e
}

func (w *waiter) elapsed() string {
	return fmtDuration(time.Since(w.start))
}

func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// progress prints the state: on a TTY one line rewritten in place (with the
// elapsed time ticking), otherwise a new line only when the state changes.
func (w *waiter) progress(line string) {
	if w.tty {
		l := fmt.Sprintf("[%s] %s", w.elapsed(), line)
		// A wrapped line cannot be rewritten in place: cut it at the width.
		if f, ok := w.out.(*os.File); ok {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 10 && len(l) >= cols {
				l = l[:cols-4] + "..."
			}
		}
		fmt.Fprintf(w.out, "\r\033[K%s", l)
		w.ttyDirty = true
		w.lastLine = line
		return
	}
	if line == w.lastLine {
		return
	}
	w.lastLine = line
	fmt.Fprintf(w.out, "[%s] %s\n", w.elapsed(), line)
}

func (w *waiter) endLine() {
	if w.tty && w.ttyDirty {
		fmt.Fprint(w.out, "\n")
		w.ttyDirty = false
	}
}

func (w *waiter) finish(msg string) {
	w.endLine()
	fmt.Fprintln(w.out, msg)
}
