package podrunner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/kubectl-llama/kubectl-llama/test/vllmstub"
)

// Options configure a Runner.
type Options struct {
	StateDir string // per-pod log files, services.json, curl shim
	StubPath string // vllmstub binary
	// NodeAnnotation selects the nodes whose pods the runner drives, "key=value"
	// (kwok's manageNodesWithAnnotationSelector); "" = every node.
	NodeAnnotation string
	LoadTime       time.Duration // default simulated model load time
	Backoff        time.Duration // first crash-loop / image-pull back-off (kubelet: 10s)
	MaxBackoff     time.Duration // back-off cap (kubelet: 5m)
	ProbePeriod    time.Duration // probe poll period (compressed time; default 500ms)
	Self           string        // this runner's binary, linked as the curl shim
	Log            *log.Logger
	Launcher       Launcher // default ExecLauncher
	Now            func() time.Time
}

// Runner is the fake kubelet.
type Runner struct {
	o       Options
	client  kubernetes.Interface
	dyn     dynamic.Interface
	queue   workqueue.TypedRateLimitingInterface[string]
	pods    corelisters.PodLister
	nodes   corelisters.NodeLister
	secrets corelisters.SecretLister
	cms     corelisters.ConfigMapLister
	svcs    corelisters.ServiceLister
	bcast   record.EventBroadcaster

	mu        sync.Mutex
	state     map[string]*podState // by namespace/name
	recorders map[string]record.EventRecorder
	ips       map[string]bool
	nextIP    int
	synced    func() bool
}

// podState is the runner's view of one pod it drives.
type podState struct {
	uid       types.UID
	key       string
	dir       string
	podIP     string
	startTime time.Time
	ctrs      map[string]*ctrRun
	order     []string
	crs       bool // PortForward / Logs created
	lastCRs   string
}

// ctrRun is a container plus its process bookkeeping.
type ctrRun struct {
	ctr
	spec        corev1.Container
	proc        Proc
	port        int // stub's loopback port (stable across restarts)
	vllmPort    int // the port vLLM listens on inside the "pod" (--port)
	logFile     string
	prevLogFile string
	backoff     time.Duration
	retryAt     time.Time
	lastEvent   string
	lastEventAt time.Time
	cancelProbe context.CancelFunc
}

// New returns a Runner.
func New(client kubernetes.Interface, dyn dynamic.Interface, o Options) *Runner {
	if o.Launcher == nil {
		o.Launcher = ExecLauncher{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = log.New(io.Discard, "", 0)
	}
	if o.Backoff == 0 {
		o.Backoff = 10 * time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.ProbePeriod == 0 {
		o.ProbePeriod = 500 * time.Millisecond
	}
	r := &Runner{o: o, client: client, dyn: dyn, state: map[string]*podState{}, recorders: map[string]record.EventRecorder{}, ips: map[string]bool{}}
	r.queue = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	r.bcast = record.NewBroadcaster()
	r.bcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return r
}

func (r *Runner) now() time.Time { return r.o.Now().Truncate(time.Second) }

func (r *Runner) logf(format string, a ...any) { r.o.Log.Printf(format, a...) }

// Run drives pods until ctx ends, then stops every process it started.
func (r *Runner) Run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(r.o.StateDir, "pods"), 0o755); err != nil {
		return err
	}
	if err := r.installCurlShim(); err != nil {
		return err
	}
	f := informers.NewSharedInformerFactory(r.client, 10*time.Minute)
	podInf, nodeInf := f.Core().V1().Pods(), f.Core().V1().Nodes()
	secInf, cmInf, svcInf := f.Core().V1().Secrets(), f.Core().V1().ConfigMaps(), f.Core().V1().Services()
	r.pods, r.nodes, r.secrets, r.cms, r.svcs = podInf.Lister(), nodeInf.Lister(), secInf.Lister(), cmInf.Lister(), svcInf.Lister()
	enqueuePod := func(obj any) {
		if k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			r.queue.Add(k)
		}
	}
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueuePod, UpdateFunc: func(_, n any) { enqueuePod(n) }, DeleteFunc: enqueuePod,
	})
	// A Secret or ConfigMap appearing heals CreateContainerConfigError (the
	// kubelet re-syncs pods periodically; here changes re-queue the namespace).
	nsChanged := func(obj any) {
		if m, ok := obj.(metav1.Object); ok {
			r.enqueueNamespace(m.GetNamespace())
		}
	}
	for _, inf := range []cache.SharedIndexInformer{secInf.Informer(), cmInf.Informer()} {
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: nsChanged, UpdateFunc: func(_, n any) { nsChanged(n) }, DeleteFunc: nsChanged})
	}
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(any) { r.enqueueNamespace("") }})
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("cache for %v did not sync", typ)
		}
	}
	r.logf("caches synced; driving pods on nodes with annotation %q", r.o.NodeAnnotation)
	go r.servicesLoop(ctx)
	go func() {
		<-ctx.Done()
		r.queue.ShutDown()
	}()
	for r.processNext(ctx) {
	}
	r.shutdown()
	return nil
}

func (r *Runner) enqueueNamespace(ns string) {
	if r.pods == nil {
		return
	}
	pods, _ := r.pods.List(everything)
	for _, p := range pods {
		if ns == "" || p.Namespace == ns {
			r.queue.Add(p.Namespace + "/" + p.Name)
		}
	}
}

func (r *Runner) processNext(ctx context.Context) bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)
	after, err := r.sync(ctx, key)
	switch {
	case err != nil && apierrors.IsConflict(err):
		r.queue.AddRateLimited(key)
	case err != nil:
		r.logf("sync %s: %v", key, err)
		r.queue.AddRateLimited(key)
	default:
		r.queue.Forget(key)
		if after > 0 {
			r.queue.AddAfter(key, after)
		}
	}
	return true
}

// shutdown stops every container process (SIGTERM, then SIGKILL).
func (r *Runner) shutdown() {
	r.mu.Lock()
	var procs []Proc
	for _, st := range r.state {
		for _, c := range st.ctrs {
			if c.cancelProbe != nil {
				c.cancelProbe()
			}
			if c.proc != nil {
				procs = append(procs, c.proc)
			}
		}
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func(p Proc) { defer wg.Done(); p.Stop(3 * time.Second) }(p)
	}
	wg.Wait()
	r.bcast.Shutdown()
	r.logf("stopped %d container processes", len(procs))
}

// ours reports whether the runner drives pods on the node.
func (r *Runner) ours(nodeName string) (*corev1.Node, bool) {
	n, err := r.nodes.Get(nodeName)
	if err != nil {
		return nil, false
	}
	if r.o.NodeAnnotation == "" {
		return n, true
	}
	k, v, _ := strings.Cut(r.o.NodeAnnotation, "=")
	return n, n.Annotations[k] == v
}

// sync reconciles one pod; it returns when to look again (0 = on change).
func (r *Runner) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := r.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		r.teardown(ctx, key, nil)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	st := r.state[key]
	r.mu.Unlock()
	if st != nil && st.uid != pod.UID {
		r.teardown(ctx, key, nil) // same name, new pod
		st = nil
	}
	if pod.DeletionTimestamp != nil {
		// kwok's pod-delete stage removes the object; the runner only stops
		// the processes and removes its PortForward / Logs.
		r.teardown(ctx, key, pod)
		return 0, nil
	}
	if pod.Spec.NodeName == "" {
		return 0, nil
	}
	node, ok := r.ours(pod.Spec.NodeName)
	if !ok {
		return 0, nil
	}
	if st == nil {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			return 0, nil // finished before this runner started
		}
		st = r.newState(pod)
	}
	next := r.step(ctx, pod, st)
	if err := r.ensureCRs(ctx, pod, st); err != nil {
		r.logf("%s: kwok PortForward/Logs: %v", key, err)
		if next == 0 || next > time.Second {
			next = time.Second
		}
	}
	r.mu.Lock()
	view := r.view(st, hostIP(node))
	r.mu.Unlock()
	status := BuildStatus(pod, view, r.now())
	if !equality.Semantic.DeepEqual(status, pod.Status) {
		p := pod.DeepCopy()
		p.Status = status
		if _, err := r.client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			return 0, err
		}
		r.logf("%s: status %s %s", key, status.Phase, summarize(status))
	}
	return next, nil
}

func summarize(s corev1.PodStatus) string {
	var parts []string
	for _, c := range s.ContainerStatuses {
		st := "running"
		switch {
		case c.State.Waiting != nil:
			st = c.State.Waiting.Reason
		case c.State.Terminated != nil:
			st = c.State.Terminated.Reason
		}
		parts = append(parts, fmt.Sprintf("%s=%s ready=%v restarts=%d", c.Name, st, c.Ready, c.RestartCount))
	}
	return strings.Join(parts, "; ")
}

func hostIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return "127.0.0.1"
}

func (r *Runner) newState(pod *corev1.Pod) *podState {
	key := pod.Namespace + "/" + pod.Name
	st := &podState{uid: pod.UID, key: key, ctrs: map[string]*ctrRun{}, startTime: r.now(),
		dir: filepath.Join(r.o.StateDir, "pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID))}
	if pod.Status.StartTime != nil {
		st.startTime = pod.Status.StartTime.Time
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st.podIP = r.allocIP(pod)
	for _, c := range pod.Spec.Containers {
		cr := &ctrRun{ctr: ctr{name: c.Name, image: c.Image, kind: kindOf(pod, &c)}, spec: c}
		// A runner restarted over a running cluster keeps the restart count.
		for _, s := range pod.Status.ContainerStatuses {
			if s.Name == c.Name {
				cr.restartCount = s.RestartCount
			}
		}
		st.ctrs[c.Name] = cr
		st.order = append(st.order, c.Name)
	}
	r.state[key] = st
	r.logf("%s: driving pod (uid %s) on node %s, ip %s", key, pod.UID, pod.Spec.NodeName, st.podIP)
	return st
}

// allocIP hands out pod IPs from 10.244.0.0/16 (reusing the pod's if set).
func (r *Runner) allocIP(pod *corev1.Pod) string {
	if ip := pod.Status.PodIP; ip != "" && !r.ips[ip] {
		r.ips[ip] = true
		return ip
	}
	for i := 0; i < 65000; i++ {
		r.nextIP = r.nextIP%65000 + 1
		ip := fmt.Sprintf("10.244.%d.%d", 1+r.nextIP/250, 1+r.nextIP%250)
		if !r.ips[ip] {
			r.ips[ip] = true
			return ip
		}
	}
	return ""
}

func (r *Runner) view(st *podState, host string) *podView {
	v := &podView{podIP: st.podIP, hostIP: host, startTime: st.startTime, initDone: true}
	for _, n := range st.order {
		c := st.ctrs[n].ctr
		v.containers = append(v.containers, &c)
	}
	return v
}

func (r *Runner) recorder(node string) record.EventRecorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec, ok := r.recorders[node]; ok {
		return rec
	}
	rec := r.bcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: node})
	r.recorders[node] = rec
	return rec
}

func (r *Runner) event(pod *corev1.Pod, c *corev1.Container, typ, reason, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	ref := &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1",
		ResourceVersion: pod.ResourceVersion, FieldPath: "spec.containers{" + c.Name + "}"}
	r.recorder(pod.Spec.NodeName).Event(ref, typ, reason, msg)
	r.logf("%s/%s: event %s %s: %s", pod.Namespace, pod.Name, typ, reason, msg)
}

// step advances every container of the pod; it returns when to look again.
func (r *Runner) step(ctx context.Context, pod *corev1.Pod, st *podState) time.Duration {
	var next time.Duration
	wake := func(d time.Duration) {
		if d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	for _, name := range st.order {
		wake(r.stepContainer(ctx, pod, st, st.ctrs[name]))
	}
	return next
}

func (r *Runner) stepContainer(ctx context.Context, pod *corev1.Pod, st *podState, c *ctrRun) time.Duration {
	now := r.o.Now()
	r.mu.Lock()
	proc := c.proc
	r.mu.Unlock()
	if proc != nil {
		select {
		case <-proc.Done():
			r.exited(pod, c, proc.Exit())
		default:
			return 0 // running; the process or prober re-queues on change
		}
	}
	r.mu.Lock()
	done, retryAt := c.done, c.retryAt
	r.mu.Unlock()
	if done {
		return 0
	}
	if now.Before(retryAt) {
		return retryAt.Sub(now)
	}
	if msg := unpullable(c.image); msg != "" {
		return r.pullFailed(pod, c, msg)
	}
	envList, envMap, err := ResolveEnv(pod, &c.spec, r)
	var ce *configError
	if errors.As(err, &ce) {
		r.mu.Lock()
		c.waitReason, c.waitMessage = "CreateContainerConfigError", ce.msg
		r.mu.Unlock()
		if c.lastEvent != ce.msg || now.Sub(c.lastEventAt) > time.Minute {
			r.event(pod, &c.spec, corev1.EventTypeWarning, "Failed", "Error: %s", ce.msg)
			c.lastEvent, c.lastEventAt = ce.msg, now
		}
		return 10 * time.Second // the kubelet retries on its periodic sync
	}
	if err != nil {
		r.logf("%s: env: %v", st.key, err)
		return 2 * time.Second
	}
	if err := r.start(ctx, pod, st, c, envList, envMap); err != nil {
		r.mu.Lock()
		c.waitReason, c.waitMessage = "RunContainerError", err.Error()
		r.mu.Unlock()
		r.event(pod, &c.spec, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return 5 * time.Second
	}
	return 0
}

// pullFailed cycles ErrImagePull -> ImagePullBackOff -> ErrImagePull ...
// like the kubelet, with growing back-off.
func (r *Runner) pullFailed(pod *corev1.Pod, c *ctrRun, msg string) time.Duration {
	now := r.o.Now()
	r.mu.Lock()
	if c.waitReason != "ErrImagePull" {
		c.waitReason, c.waitMessage = "ErrImagePull", msg
		c.retryAt = now.Add(time.Second)
		r.mu.Unlock()
		r.event(pod, &c.spec, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.image)
		r.event(pod, &c.spec, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", c.image, msg)
		r.event(pod, &c.spec, corev1.EventTypeWarning, "Failed", "Error: ErrImagePull")
		return time.Second
	}
	c.backoff = nextBackoff(c.backoff, r.o.Backoff, r.o.MaxBackoff)
	c.waitReason, c.waitMessage = "ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %s", c.image, msg)
	c.retryAt = now.Add(c.backoff)
	d := c.backoff
	r.mu.Unlock()
	r.event(pod, &c.spec, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.image)
	r.event(pod, &c.spec, corev1.EventTypeWarning, "Failed", "Error: ImagePullBackOff")
	return d
}

func nextBackoff(cur, base, max time.Duration) time.Duration {
	if cur == 0 {
		return base
	}
	if cur*2 > max {
		return max
	}
	return cur * 2
}

// exited records a container's end and decides about a restart.
func (r *Runner) exited(pod *corev1.Pod, c *ctrRun, e Exit) {
	now := r.o.Now()
	r.mu.Lock()
	if c.cancelProbe != nil {
		c.cancelProbe()
		c.cancelProbe = nil
	}
	t := terminated(e.Code, c.startedAt, e.At.Truncate(time.Second), c.containerID)
	if t.FinishedAt.Before(&t.StartedAt) {
		t.FinishedAt = t.StartedAt
	}
	if e.Signaled {
		t.Reason = "Error"
	}
	c.proc, c.running, c.started, c.ready = nil, false, false, false
	policy := pod.Spec.RestartPolicy
	restart := policy == corev1.RestartPolicyAlways || policy == "" || (policy == corev1.RestartPolicyOnFailure && e.Code != 0)
	if !restart {
		c.term, c.done = t, true
		r.mu.Unlock()
		r.logf("%s/%s: container %s exited %d (%s), not restarting", pod.Namespace, pod.Name, c.name, e.Code, t.Reason)
		return
	}
	c.lastTerm = t
	// The first restart is immediate; then 10s, 20s, 40s ... (kubelet back-off).
	delay := c.backoff
	c.backoff = nextBackoff(c.backoff, r.o.Backoff, r.o.MaxBackoff)
	c.retryAt = now.Add(delay)
	if delay > 0 {
		c.waitReason, c.waitMessage = "CrashLoopBackOff", crashLoopMessage(delay, c.name, pod)
	} else {
		c.waitReason, c.waitMessage = "", ""
	}
	r.mu.Unlock()
	r.logf("%s/%s: container %s exited %d (%s), restart %d in %s", pod.Namespace, pod.Name, c.name, e.Code, t.Reason, c.restartCount+1, delay)
	if delay > 0 {
		r.event(pod, &c.spec, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.name, podRef(pod))
	}
}

// start launches the container's process (or its emulation).
func (r *Runner) start(ctx context.Context, pod *corev1.Pod, st *podState, c *ctrRun, envList []string, envMap map[string]string) error {
	if err := os.MkdirAll(filepath.Join(st.dir, c.name), 0o755); err != nil {
		return err
	}
	// restartCount is the attempt number of the latest container instance,
	// as the kubelet reports it: it grows when a container is restarted.
	attempt := c.restartCount
	if c.everStarted {
		attempt++
	}
	logFile := filepath.Join(st.dir, c.name, strconv.Itoa(int(attempt))+".log")
	// A restarted container gets a fresh log file, as with the kubelet.
	_ = os.Remove(logFile)
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		return err
	}
	argv := append(append([]string{}, c.spec.Command...), c.spec.Args...)
	for i := range argv {
		argv[i] = Expand(argv[i], envMap)
	}
	var proc Proc
	var err error
	switch c.kind {
	case runStub:
		if len(c.spec.Command) == 0 { // the image's ENTRYPOINT
			argv = append([]string{"python3", "-m", "vllm.entrypoints.openai.api_server"}, argv...)
		}
		if c.port == 0 {
			if c.port, err = freePort(); err != nil {
				return err
			}
		}
		c.vllmPort = vllmPort(argv)
		load := r.o.LoadTime
		if v := pod.Annotations[AnnotationLoadTime]; v != "" {
			if d, err := time.ParseDuration(v); err == nil {
				load = d
			}
		}
		stubArgs := []string{r.o.StubPath, "--listen", fmt.Sprintf("127.0.0.1:%d", c.port), "--log-file", logFile, "--load-time", load.String()}
		if v := vllmVersion(c.image); v != "" {
			stubArgs = append(stubArgs, "--vllm-version", v)
		}
		if q, ok := c.spec.Resources.Limits["nvidia.com/gpu"]; ok {
			stubArgs = append(stubArgs, "--gpus", strconv.FormatInt(q.Value(), 10))
		}
		if f := pod.Annotations[AnnotationFault]; f != "" {
			stubArgs = append(stubArgs, "--fault", f)
		}
		proc, err = r.o.Launcher.Launch(LaunchSpec{Argv: append(append(stubArgs, "--"), argv...), Env: envList, LogFile: logFile,
			SelfLogs: true, Dir: st.dir, Output: filepath.Join(st.dir, c.name, "stub-output.txt")})
	case runScript:
		env := append(envList, "PATH="+r.shimDir()+":/usr/local/bin:/usr/bin:/bin", "HOME="+st.dir,
			"PODRUNNER_SERVICES_FILE="+r.servicesFile(), "PODRUNNER_NAMESPACE="+pod.Namespace)
		proc, err = r.o.Launcher.Launch(LaunchSpec{Argv: argv, Env: env, LogFile: logFile, Dir: st.dir})
	case runComplete:
		code := 0
		if v := pod.Annotations[AnnotationExitCode]; v != "" {
			code, _ = strconv.Atoi(v)
		}
		proc = newTimerProc(time.Second, code)
	default: // runForever
		proc = newTimerProc(-1, 0)
	}
	if err != nil {
		return err
	}
	now := r.now()
	first := !c.everStarted
	r.mu.Lock()
	c.proc, c.running, c.everStarted, c.restartCount = proc, true, true, attempt
	c.startedAt, c.containerID = now, "containerd://"+randHex(32)
	c.waitReason, c.waitMessage = "", ""
	c.prevLogFile, c.logFile = c.logFile, logFile
	hasProbes := c.spec.StartupProbe != nil || c.spec.ReadinessProbe != nil || c.spec.LivenessProbe != nil
	// Probes run against vllmstub only; other containers pass them.
	c.started = c.spec.StartupProbe == nil || c.kind != runStub
	c.ready = c.spec.ReadinessProbe == nil || c.kind != runStub
	pctx, cancel := context.WithCancel(ctx)
	c.cancelProbe = cancel
	r.mu.Unlock()
	if first {
		r.event(pod, &c.spec, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.image)
	}
	r.event(pod, &c.spec, corev1.EventTypeNormal, "Created", "Created container: %s", c.name)
	r.event(pod, &c.spec, corev1.EventTypeNormal, "Started", "Started container %s", c.name)
	r.logf("%s: started container %s (%s) restart %d, log %s", st.key, c.name, c.kind, c.restartCount, logFile)
	key := st.key
	go func() {
		select {
		case <-proc.Done():
			r.queue.Add(key)
		case <-pctx.Done():
		}
	}()
	if hasProbes && c.kind == runStub {
		go r.probe(pctx, pod, c, proc, st.podIP)
	}
	return nil
}

// vllmPort is the --port of a vLLM command line (default 8000).
func vllmPort(argv []string) int {
	prog, rest, _ := vllmstub.SplitCommand(argv)
	a, err := vllmstub.Parse(prog, rest, "0.10.0")
	if err != nil {
		for i, s := range rest {
			if v, ok := strings.CutPrefix(s, "--port="); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
			if s == "--port" && i+1 < len(rest) {
				n, _ := strconv.Atoi(rest[i+1])
				return n
			}
		}
		return 8000
	}
	return int(a.Int("port", 8000))
}

// probe emulates the startup, readiness and liveness probes against the
// stub's loopback port, with compressed time: the startup probe (and the
// readiness probe until first success) run every ProbePeriod, later ones
// every periodSeconds capped at 2s; initial delays are ignored; a startup
// probe fails for good only after its real budget (initialDelaySeconds +
// periodSeconds*failureThreshold).
func (r *Runner) probe(ctx context.Context, pod *corev1.Pod, c *ctrRun, proc Proc, podIP string) {
	key := pod.Namespace + "/" + pod.Name
	addr := fmt.Sprintf("127.0.0.1:%d", c.port)
	startedAt := time.Now()
	target := func(p *corev1.Probe) (string, bool) {
		switch {
		case p.HTTPGet != nil:
			return p.HTTPGet.Path, true
		case p.TCPSocket != nil:
			return "", true
		}
		return "", false // exec / grpc: treated as passing
	}
	run := func(p *corev1.Probe) error {
		path, ok := target(p)
		if !ok {
			return nil
		}
		if path == "" && p.HTTPGet != nil {
			path = "/"
		}
		timeout := time.Duration(p.TimeoutSeconds) * time.Second
		if timeout <= 0 {
			timeout = time.Second
		}
		err := probeOnce(ctx, addr, path, timeout)
		if err != nil {
			// Name the pod IP and container port, as the kubelet's message does.
			err = errors.New(strings.ReplaceAll(err.Error(), addr, net.JoinHostPort(podIP, strconv.Itoa(c.vllmPort))))
		}
		return err
	}
	threshold := func(p *corev1.Probe) int {
		if p.FailureThreshold <= 0 {
			return 3
		}
		return int(p.FailureThreshold)
	}
	describe := func(err error) string {
		if he, ok := err.(*httpStatusError); ok {
			return fmt.Sprintf("HTTP probe failed with statuscode: %d", he.code)
		}
		return err.Error()
	}
	var readyFails, liveFails int
	var lastUnhealthy, lastReady, lastLive time.Time
	// After start-up, readiness and liveness run every periodSeconds, capped
	// at 2s (compressed time, and fewer /health lines in the container log).
	due := func(p *corev1.Probe, last *time.Time) bool {
		period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
		if period > 2*time.Second {
			period = 2 * time.Second
		}
		if time.Since(*last) < period {
			return false
		}
		*last = time.Now()
		return true
	}
	tick := time.NewTicker(r.o.ProbePeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-proc.Done():
			return
		case <-tick.C:
		}
		r.mu.Lock()
		started, ready := c.started, c.ready
		r.mu.Unlock()
		changed := false
		if !started {
			sp := c.spec.StartupProbe
			if err := run(sp); err == nil {
				started, changed = true, true
			} else {
				budget := time.Duration(sp.InitialDelaySeconds)*time.Second + time.Duration(max(sp.PeriodSeconds, 1))*time.Second*time.Duration(threshold(sp))
				if time.Since(lastUnhealthy) > 10*time.Second {
					r.event(pod, &c.spec, corev1.EventTypeWarning, "Unhealthy", "Startup probe failed: %s", describe(err))
					lastUnhealthy = time.Now()
				}
				if time.Since(startedAt) > budget {
					r.event(pod, &c.spec, corev1.EventTypeNormal, "Killing", "Container %s failed startup probe, will be restarted", c.name)
					go proc.Stop(2 * time.Second)
					return
				}
			}
		}
		if started && c.spec.ReadinessProbe != nil && (!ready || due(c.spec.ReadinessProbe, &lastReady)) {
			if err := run(c.spec.ReadinessProbe); err == nil {
				readyFails = 0
				if !ready {
					ready, changed = true, true
				}
			} else {
				readyFails++
				if ready && readyFails >= threshold(c.spec.ReadinessProbe) {
					ready, changed = false, true
					r.event(pod, &c.spec, corev1.EventTypeWarning, "Unhealthy", "Readiness probe failed: %s", describe(err))
				}
			}
		}
		if started && c.spec.LivenessProbe != nil && due(c.spec.LivenessProbe, &lastLive) {
			if err := run(c.spec.LivenessProbe); err == nil {
				liveFails = 0
			} else if liveFails++; liveFails >= threshold(c.spec.LivenessProbe) {
				r.event(pod, &c.spec, corev1.EventTypeWarning, "Unhealthy", "Liveness probe failed: %s", describe(err))
				r.event(pod, &c.spec, corev1.EventTypeNormal, "Killing", "Container %s failed liveness probe, will be restarted", c.name)
				go proc.Stop(2 * time.Second)
				return
			}
		}
		if changed {
			r.mu.Lock()
			if c.proc == proc {
				c.started, c.ready = started, ready
			}
			r.mu.Unlock()
			r.logf("%s: container %s started=%v ready=%v", key, c.name, started, ready)
			r.queue.Add(key)
		}
	}
}

// teardown stops a pod's processes and removes its kwok objects.
func (r *Runner) teardown(ctx context.Context, key string, pod *corev1.Pod) {
	r.mu.Lock()
	st := r.state[key]
	if st == nil {
		r.mu.Unlock()
		return
	}
	delete(r.state, key)
	delete(r.ips, st.podIP)
	var procs []Proc
	for _, c := range st.ctrs {
		if c.cancelProbe != nil {
			c.cancelProbe()
		}
		if c.proc != nil {
			procs = append(procs, c.proc)
		}
	}
	r.mu.Unlock()
	grace := 2 * time.Second
	if pod != nil && pod.DeletionGracePeriodSeconds != nil && time.Duration(*pod.DeletionGracePeriodSeconds)*time.Second < grace {
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	for _, p := range procs {
		go p.Stop(grace)
	}
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	r.deleteCRs(ctx, ns, name)
	r.logf("%s: torn down (%d processes stopped)", key, len(procs))
}

// Secret implements Lookup from the informer cache.
func (r *Runner) Secret(ns, name string) (*corev1.Secret, error) {
	return r.secrets.Secrets(ns).Get(name)
}

// ConfigMap implements Lookup from the informer cache.
func (r *Runner) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	return r.cms.ConfigMaps(ns).Get(name)
}
