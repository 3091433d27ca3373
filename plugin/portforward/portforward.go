// Package portforward forwards a local port to a release's Service the way
// `kubectl port-forward service/NAME` does (Service -> ready pod -> target
// port, websocket tunnelling with SPDY fallback), and keeps forwarding when
// the pod is replaced: it watches the Service's pods and reconnects to the
// new ready pod on the same local port.
package portforward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/kubectl/pkg/util"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
)

// ErrNoReadyPod means the Service has no ready pod to forward to.
var ErrNoReadyPod = errors.New("no ready pod")

// Options tunes StartWithOptions.
type Options struct {
	// Local is the local address:port; port 0 picks a free port.
	// Default 127.0.0.1:0.
	Local string
	// Log receives one line per (re)connection (nil: none).
	Log io.Writer
	// WaitReady is how long Start waits for a ready pod (0: fail at once).
	WaitReady time.Duration
}

// Forward is a running port-forward.
type Forward struct {
	// URL is the local base URL, http://ADDRESS:PORT.
	URL string
	// Address and LocalPort are where it listens.
	Address   string
	LocalPort int
	// Service and ServicePort name the forwarded Service port.
	Service     string
	ServicePort int32

	cfg    *rest.Config
	cs     kubernetes.Interface
	ns     string
	svc    *corev1.Service
	log    io.Writer
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}
	pods   cache.Store
	infs   *kube.Informers

	mu         sync.Mutex
	pod        string
	targetPort int32
	err        error
}

// Start forwards local (address:port) to the release's Service.
func Start(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, release, local string) (*Forward, error) {
	return StartWithOptions(ctx, cfg, cs, ns, release, Options{Local: local})
}

// StartWithOptions is Start with options.
func StartWithOptions(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, release string, o Options) (*Forward, error) {
	if o.Local == "" {
		o.Local = "127.0.0.1:0"
	}
	host, portStr, err := net.SplitHostPort(o.Local)
	if err != nil {
		return nil, fmt.Errorf("local address %q: %w", o.Local, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("local port %q: use 0-65535", portStr)
	}
	svc, err := cs.CoreV1().Services(ns).Get(ctx, release, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading Service %s/%s: %w (is the release installed? kubectl llama list)", ns, release, err)
	}
	if len(svc.Spec.Selector) == 0 {
		return nil, fmt.Errorf("service %s has no selector: nothing to forward to", release)
	}
	sp := servicePort(svc)
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	fctx, cancel := context.WithCancel(context.Background())
	f := &Forward{
		Address: host, LocalPort: port, Service: release, ServicePort: sp,
		cfg: cfg, cs: cs, ns: ns, svc: svc, log: log, cancel: cancel,
		done: make(chan struct{}), wake: make(chan struct{}, 1),
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector).String()
	f.infs = kube.NewInformers(cs, ns)
	// A failing pod watch (the API server gone for a while) is said on the
	// log at most every 30 s, instead of client-go's log lines.
	var apiErrs kube.WatchErrors
	f.infs.OnWatchError = func(err error) {
		if apiErrs.Within(30*time.Second) == nil {
			fmt.Fprintln(f.log, kube.APITrouble(err))
		}
		apiErrs.Set(err)
	}
	inf := f.infs.Pods(func(lo *metav1.ListOptions) { lo.LabelSelector = sel })
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { f.notify() },
		UpdateFunc: func(any, any) { f.notify() },
		DeleteFunc: func(any) { f.notify() },
	}); err != nil {
		cancel()
		return nil, err
	}
	f.pods = inf.GetStore()
	f.infs.Start(fctx)
	syncCtx, syncCancel := context.WithTimeout(ctx, 30*time.Second)
	defer syncCancel()
	// Notified when the list is in (cache.WaitForCacheSync would poll
	// every 100 ms and add that to every chat and port-forward).
	if !f.infs.WaitForSync(syncCtx) {
		f.stopInformers()
		if err := apiErrs.Within(time.Minute); err != nil {
			return nil, fmt.Errorf("watching the pods of Service %s: %w", release, err)
		}
		return nil, fmt.Errorf("watching the pods of Service %s: %w", release, syncCtx.Err())
	}
	// The first connection: wait for a ready pod up to WaitReady.
	first, err := f.waitPod(ctx, o.WaitReady, "")
	if err != nil {
		f.stopInformers()
		return nil, err
	}
	c, err := f.connect(first)
	if err != nil {
		f.stopInformers()
		return nil, err
	}
	f.URL = "http://" + net.JoinHostPort(displayHost(host), strconv.Itoa(f.LocalPort))
	go f.supervise(fctx, first, c)
	go func() {
		select {
		case <-ctx.Done():
			f.Close()
		case <-f.done:
		}
	}()
	return f, nil
}

func displayHost(h string) string {
	if h == "" || h == "0.0.0.0" || h == "::" {
		return "127.0.0.1"
	}
	return h
}

// servicePort is the port named http, else the first.
func servicePort(svc *corev1.Service) int32 {
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" {
			return p.Port
		}
	}
	if len(svc.Spec.Ports) > 0 {
		return svc.Spec.Ports[0].Port
	}
	return kube.ServicePort
}

// targetPort is the container port of pod behind the Service port sp: a
// numeric targetPort as is, a named one looked up in the pod's containers
// (kubectl's LookupContainerPortNumberByServicePort).
func targetPort(svc *corev1.Service, pod *corev1.Pod, sp int32) (int32, error) {
	target, err := util.LookupContainerPortNumberByServicePort(*svc, *pod, sp)
	if err != nil {
		return 0, fmt.Errorf("service %s port %d: %w", svc.Name, sp, err)
	}
	return target, nil
}

func (f *Forward) notify() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Pod is the pod currently forwarded to.
func (f *Forward) Pod() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pod
}

// TargetPort is the container port currently forwarded to.
func (f *Forward) TargetPort() int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.targetPort
}

// Done is closed when the forward stops.
func (f *Forward) Done() <-chan struct{} { return f.done }

// Err is why the forward stopped (nil after Close).
func (f *Forward) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Close stops forwarding and releases the local port.
func (f *Forward) Close() {
	f.cancel()
	<-f.done
}

func (f *Forward) stopInformers() {
	f.cancel()
	f.infs.Shutdown()
}

// readyPod picks the pod kubectl would: the most active ready pod
// (podutils.ActivePods ordering, reversed), skipping avoid.
func (f *Forward) readyPod(avoid string) *corev1.Pod {
	var pods []*corev1.Pod
	for _, o := range f.pods.List() {
		p := o.(*corev1.Pod)
		if p.DeletionTimestamp == nil && p.Name != avoid && podutils.IsPodReady(p) {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return nil
	}
	sort.Sort(sort.Reverse(podutils.ActivePods(pods)))
	return pods[0]
}

func (f *Forward) waitPod(ctx context.Context, d time.Duration, avoid string) (*corev1.Pod, error) {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	for {
		if p := f.readyPod(avoid); p != nil {
			return p, nil
		}
		if d == 0 {
			return nil, fmt.Errorf("%w behind Service %s", ErrNoReadyPod, f.Service)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout:
			return nil, fmt.Errorf("%w behind Service %s after %s", ErrNoReadyPod, f.Service, d)
		case <-f.wake:
		}
	}
}

// conn is one client-go PortForwarder to one pod.
type conn struct {
	pf    *portforward.PortForwarder
	stop  chan struct{}
	errCh chan error
	ended bool
}

// close stops the PortForwarder (its listeners and stream connection) and
// waits for it to return.
func (c *conn) close() {
	if c.ended {
		return
	}
	close(c.stop)
	<-c.errCh
	c.ended = true
}

// connect starts a client-go PortForwarder to pod on the local port (the
// port chosen on the first connection is kept across reconnections).
func (f *Forward) connect(pod *corev1.Pod) (*conn, error) {
	target, err := targetPort(f.svc, pod, f.ServicePort)
	if err != nil {
		return nil, err
	}
	req := f.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(f.ns).Name(pod.Name).SubResource("portforward")
	dialer, err := createDialer(f.cfg, req.URL())
	if err != nil {
		return nil, err
	}
	c := &conn{stop: make(chan struct{}), errCh: make(chan error, 1)}
	ready := make(chan struct{})
	errOut := &lineWriter{w: f.log, prefix: "port-forward: "}
	c.pf, err = portforward.NewOnAddresses(dialer, []string{f.Address}, []string{fmt.Sprintf("%d:%d", f.LocalPort, target)}, c.stop, ready, io.Discard, errOut)
	if err != nil {
		return nil, err
	}
	go func() { c.errCh <- c.pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-c.errCh:
		if err == nil {
			err = errors.New("port-forward ended")
		}
		return nil, fmt.Errorf("port-forward to pod %s: %w", pod.Name, err)
	}
	ports, err := c.pf.GetPorts()
	if err != nil || len(ports) == 0 {
		c.close()
		return nil, fmt.Errorf("port-forward to pod %s: no local port", pod.Name)
	}
	f.mu.Lock()
	f.LocalPort = int(ports[0].Local)
	f.pod = pod.Name
	f.targetPort = target
	f.mu.Unlock()
	fmt.Fprintf(f.log, "Forwarding from %s:%d -> pod %s port %d\n", displayHost(f.Address), f.LocalPort, pod.Name, target)
	return c, nil
}

// createDialer is kubectl's (pkg/cmd/portforward): websocket tunnelling
// first, SPDY when the server refuses the upgrade, unless
// KUBECTL_PORT_FORWARD_WEBSOCKETS=false.
func createDialer(cfg *rest.Config, url *url.URL) (httpstream.Dialer, error) {
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	if strings.EqualFold(os.Getenv("KUBECTL_PORT_FORWARD_WEBSOCKETS"), "false") {
		return dialer, nil
	}
	tunneling, err := portforward.NewSPDYOverWebsocketDialer(url, cfg)
	if err != nil {
		return nil, err
	}
	return portforward.NewFallbackDialer(tunneling, dialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}

// supervise reconnects when the forwarded pod goes away or stops being
// ready, or when the connection to it is lost.
func (f *Forward) supervise(ctx context.Context, pod *corev1.Pod, c *conn) {
	defer close(f.done)
	defer f.infs.Shutdown()
	current := pod.Name
	for {
		select {
		case <-ctx.Done():
			c.close()
			return
		case err := <-c.errCh:
			c.ended = true
			if err != nil {
				fmt.Fprintf(f.log, "lost connection to pod %s: %v\n", current, err)
			}
		case <-f.wake:
			if f.stillGood(current) {
				continue
			}
			fmt.Fprintf(f.log, "pod %s is no longer ready\n", current)
		}
		c.close()
		for {
			next, err := f.waitPod(ctx, 24*time.Hour, "")
			if err != nil {
				f.setErr(err)
				return
			}
			nc, err := f.connect(next)
			if err == nil {
				c, current = nc, next.Name
				break
			}
			fmt.Fprintf(f.log, "reconnecting: %v\n", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

func (f *Forward) stillGood(name string) bool {
	o, ok, _ := f.pods.GetByKey(f.ns + "/" + name)
	if !ok {
		return false
	}
	p := o.(*corev1.Pod)
	return p.DeletionTimestamp == nil && podutils.IsPodReady(p)
}

func (f *Forward) setErr(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// lineWriter prefixes what client-go's PortForwarder writes to errOut.
type lineWriter struct {
	w      io.Writer
	prefix string
}

func (l *lineWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		fmt.Fprintf(l.w, "%s%s\n", l.prefix, line)
	}
	return len(p), nil
}
