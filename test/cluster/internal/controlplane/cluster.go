// Package controlplane starts and stops the local test control plane: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler built from the
// Kubernetes Go modules, kwok simulating GKE GPU nodes, and optionally the
// fake-kubelet pod runner. Every process runs detached in its own process
// group; its pid, command line and start time are recorded in the state dir so
// that Down stops exactly those processes. Test infrastructure: GPUs are
// simulated.
package controlplane

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Pinned versions.
const (
	Version     = "v1.37.2" // k8s.io/kubernetes, reported by the apiserver
	KwokVersion = "v0.8.0"  // sigs.k8s.io/kwok
	KwokModule  = "sigs.k8s.io/kwok"
)

// Component names, also the names of their log and run files.
const (
	Etcd       = "etcd"
	APIServer  = "kube-apiserver"
	CM         = "kube-controller-manager"
	Scheduler  = "kube-scheduler"
	Kwok       = "kwok"
	PodRunner  = "pod-runner"
	Watchdog   = "watchdog"
	kwokCRDDir = "kustomize/crd/bases"
)

// stop order for Down: consumers first, etcd last.
var stopOrder = []string{Watchdog, PodRunner, Kwok, Scheduler, CM, APIServer, Etcd}

// Options configure Up.
type Options struct {
	StateDir      string
	BinDir        string     // etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
	KwokDir       string     // sigs.k8s.io/kwok module dir ("" = go mod download -json)
	Profile       string     // node pool profile
	NodePools     *NodePools // parsed nodepools.yaml
	PodRunner     string     // path of the pod runner binary ("" = none)
	PodRunnerArgs []string   // extra arguments for it
	Timeout       time.Duration
	Log           io.Writer // progress lines
	// OwnerPID, when set, starts a watchdog (`llama-cluster watch`) that runs
	// Down once that process is gone: a test binary killed by a timeout
	// leaves no cluster behind.
	OwnerPID int
}

// Ports are the loopback ports of a cluster.
type Ports struct {
	Etcd      int `json:"etcd"`
	EtcdPeer  int `json:"etcdPeer"`
	APIServer int `json:"apiserver"`
	Kwok      int `json:"kwok"`
}

// Info is <state>/cluster.json, written once the cluster is ready.
type Info struct {
	StateDir          string    `json:"stateDir"`
	Server            string    `json:"server"`
	Kubeconfig        string    `json:"kubeconfig"`
	LimitedKubeconfig string    `json:"limitedKubeconfig"`
	LimitedUser       string    `json:"limitedUser"`
	Version           string    `json:"version"`
	Profile           string    `json:"profile"`
	Ports             Ports     `json:"ports"`
	BinDir            string    `json:"binDir"`
	KwokDir           string    `json:"kwokDir"`
	PodRunner         string    `json:"podRunner,omitempty"`
	PodRunnerDir      string    `json:"podRunnerDir"`
	Nodes             []string  `json:"nodes"`
	StartedAt         time.Time `json:"startedAt"`
	StartupSeconds    float64   `json:"startupSeconds"`
}

// ReadInfo reads <state>/cluster.json.
func ReadInfo(stateDir string) (*Info, error) {
	data, err := os.ReadFile(layout{stateDir}.info())
	if err != nil {
		return nil, err
	}
	var info Info
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

func (info *Info) write() error {
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(layout{info.StateDir}.info(), append(data, '\n'), 0o600)
}

// ErrNotOurs is returned for a state dir llama-cluster did not create.
var ErrNotOurs = errors.New("not a llama-cluster state dir")

// checkStateDir returns whether dir exists; an existing non-empty dir without
// our marker is refused, so that down never removes a directory it does not own.
func checkStateDir(l layout) (bool, error) {
	entries, err := os.ReadDir(l.root)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(entries) == 0 {
		return true, nil
	}
	if _, err := os.Stat(l.marker()); err != nil {
		return true, fmt.Errorf("%s: %w (no %s file); pick another --state-dir", l.root, ErrNotOurs, filepath.Base(l.marker()))
	}
	return true, nil
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Up starts a cluster in o.StateDir and waits until it is ready. If a healthy
// cluster already runs there it is reused (its nodes are completed with the
// profile's pools); a stale one (a process gone, or never ready) is stopped
// and replaced.
func Up(ctx context.Context, o Options) (*Info, error) {
	start := time.Now()
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	abs, err := filepath.Abs(o.StateDir)
	if err != nil {
		return nil, err
	}
	o.StateDir = abs
	l := layout{abs}
	pools, err := o.NodePools.Profile(o.Profile)
	if err != nil {
		return nil, err
	}

	exists, err := checkStateDir(l)
	if err != nil {
		return nil, err
	}
	if exists {
		if info, err := healthy(ctx, l); err == nil {
			o.logf("cluster already running in %s; adding the pools of profile %q", abs, o.Profile)
			if _, err := AddNodes(ctx, abs, pools, o.Log); err != nil {
				return nil, err
			}
			return ReadInfo(info.StateDir)
		} else {
			o.logf("replacing stale cluster state in %s (%v)", abs, err)
		}
		if err := stopAll(l, o.Log); err != nil {
			return nil, err
		}
		if err := os.RemoveAll(abs); err != nil {
			return nil, err
		}
	}

	bins, err := o.binaries()
	if err != nil {
		return nil, err
	}
	kwokDirCh := make(chan result[string], 1)
	go func() {
		d, err := o.kwokDir(ctx)
		kwokDirCh <- result[string]{d, err}
	}()

	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(l.marker(), []byte("created by llama-cluster; removed by llama-cluster down\n"), 0o600); err != nil {
		return nil, err
	}
	if err := l.mkdirs(); err != nil {
		return nil, err
	}
	info, err := o.up(ctx, l, bins, pools, kwokDirCh)
	if err != nil {
		o.logf("startup failed; stopping what was started (logs kept in %s)", filepath.Dir(l.log(Etcd)))
		_ = stopAll(l, o.Log)
		return nil, err
	}
	info.StartupSeconds = time.Since(start).Seconds()
	if err := info.write(); err != nil {
		return nil, err
	}
	return info, nil
}

type result[T any] struct {
	v   T
	err error
}

func (o *Options) binaries() (map[string]string, error) {
	bins := map[string]string{}
	var missing []string
	for _, name := range []string{Etcd, APIServer, CM, Scheduler, Kwok} {
		p := filepath.Join(o.BinDir, name)
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			missing = append(missing, name)
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		bins[name] = abs
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing in %s: %s; build them with `make cluster-build`", o.BinDir, strings.Join(missing, ", "))
	}
	if o.PodRunner != "" {
		abs, err := filepath.Abs(o.PodRunner)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("pod runner: %w", err)
		}
		bins[PodRunner] = abs
	}
	return bins, nil
}

// KwokModuleDir returns the directory of the pinned kwok module, downloading
// it with the go command if needed.
func KwokModuleDir(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", KwokModule+"@"+KwokVersion)
	cmd.Dir = os.TempDir() // outside any module
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %v: %s", KwokModule, KwokVersion, err, strings.TrimSpace(stderr.String()))
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", err
	}
	if m.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", KwokModule, KwokVersion, m.Error)
	}
	return m.Dir, nil
}

func (o *Options) kwokDir(ctx context.Context) (string, error) {
	if o.KwokDir != "" {
		return o.KwokDir, nil
	}
	return KwokModuleDir(ctx)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (o *Options) up(ctx context.Context, l layout, bins map[string]string, pools []Pool, kwokDirCh chan result[string]) (*Info, error) {
	t0 := time.Now()
	step := func(format string, args ...any) {
		o.logf("  [%5.1fs] %s", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
	}
	p, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	ports := Ports{Etcd: p[0], EtcdPeer: p[1], APIServer: p[2], Kwok: p[3]}
	server := fmt.Sprintf("https://127.0.0.1:%d", ports.APIServer)
	users, err := newUsers()
	if err != nil {
		return nil, err
	}
	if err := writePKI(l); err != nil {
		return nil, err
	}
	if err := writeTokenFile(l.tokens(), users); err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(l.caCert())
	if err != nil {
		return nil, err
	}
	kubeconfigs := map[string]string{
		AdminUser:   l.kubeconfig(),
		LimitedUser: l.limitedKubeconfig(),
		CMUser:      l.etc(CM + ".kubeconfig"),
		SchedUser:   l.etc(Scheduler + ".kubeconfig"),
		KwokUser:    l.etc(Kwok + ".kubeconfig"),
		RunnerUser:  l.etc(PodRunner + ".kubeconfig"),
	}
	for user, path := range kubeconfigs {
		if err := writeKubeconfig(path, server, caPEM, users[user], "default"); err != nil {
			return nil, err
		}
	}

	// etcd
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports.Etcd)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports.EtcdPeer)
	etcd, err := startProc(l, Etcd, bins[Etcd], []string{
		"--name=llama", "--data-dir=" + l.etcdData(),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=llama=" + peerURL,
		"--unsafe-no-fsync=true", "--log-level=warn",
	}, nil)
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, etcd, func() error { return getOK(ctx, http.DefaultClient, etcdURL+"/health", "") }); err != nil {
		return nil, err
	}
	step("etcd ready on %s", etcdURL)

	// kube-apiserver
	apiserver, err := startProc(l, APIServer, bins[APIServer], []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(ports.APIServer),
		"--advertise-address=192.0.2.10", // never contacted; loopback is refused here
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + l.p("pki"),
		"--tls-cert-file=" + l.apiserverCert(), "--tls-private-key-file=" + l.apiserverKey(),
		"--service-account-key-file=" + l.saPub(), "--service-account-signing-key-file=" + l.saKey(),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--token-auth-file=" + l.tokens(),
		"--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--kubelet-preferred-address-types=InternalIP",
		"--allow-privileged=true",
		"--profiling=false",
	}, nil)
	if err != nil {
		return nil, err
	}
	httpc, err := tlsClient(caPEM)
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, apiserver, func() error {
		return getOK(ctx, httpc, server+"/readyz", users[AdminUser].Token)
	}); err != nil {
		return nil, err
	}
	step("kube-apiserver ready on %s", server)

	cfg, err := clientcmd.BuildConfigFromFlags("", l.kubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}

	// controller-manager and scheduler need nothing else.
	cmKC, schedKC := kubeconfigs[CMUser], kubeconfigs[SchedUser]
	cm, err := startProc(l, CM, bins[CM], []string{
		"--kubeconfig=" + cmKC, "--authentication-kubeconfig=" + cmKC, "--authorization-kubeconfig=" + cmKC,
		"--leader-elect=false", "--secure-port=0",
		"--service-account-private-key-file=" + l.saKey(), "--root-ca-file=" + l.caCert(),
		// Controllers share the manager's identity (system:masters): with
		// per-controller service-account credentials the default
		// ServiceAccount appears ~5 s later. Users still go through RBAC.
		"--use-service-account-credentials=false", "--controllers=*",
	}, nil)
	if err != nil {
		return nil, err
	}
	if _, err := startProc(l, Scheduler, bins[Scheduler], []string{
		"--kubeconfig=" + schedKC, "--authentication-kubeconfig=" + schedKC, "--authorization-kubeconfig=" + schedKC,
		"--leader-elect=false", "--secure-port=0",
	}, nil); err != nil {
		return nil, err
	}

	// kwok: CRDs first (it checks them when enabled), then kwok itself.
	kd := <-kwokDirCh
	if kd.err != nil {
		return nil, kd.err
	}
	kwokDir := kd.v
	if err := o.installKwokCRDs(ctx, dc, kwokDir); err != nil {
		return nil, err
	}
	step("kwok CRDs established")
	kwokCfg, err := kwokConfig(kwokDir, ports.Kwok)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(l.etc("kwok.yaml"), kwokCfg, 0o600); err != nil {
		return nil, err
	}
	kwok, err := startProc(l, Kwok, bins[Kwok], []string{
		"--kubeconfig=" + kubeconfigs[KwokUser], "--config=" + l.etc("kwok.yaml"),
	}, []string{"KWOK_WORKDIR=" + l.etc("kwok-workdir")})
	if err != nil {
		return nil, err
	}

	// Nodes and mode signals.
	if err := applyPoolExtras(ctx, dc, pools); err != nil {
		return nil, err
	}
	nodes, err := createNodes(ctx, cs, pools)
	if err != nil {
		return nil, err
	}

	if bins[PodRunner] != "" {
		args := append([]string{"--kubeconfig=" + kubeconfigs[RunnerUser], "--state-dir=" + l.podRunnerDir()}, o.PodRunnerArgs...)
		if _, err := startProc(l, PodRunner, bins[PodRunner], args, nil); err != nil {
			return nil, err
		}
	}

	// Ready: nodes Ready (kwok works), default ServiceAccount (controller-manager works).
	if err := waitFor(ctx, kwok, func() error { return nodesReady(ctx, cs, nodes) }); err != nil {
		return nil, err
	}
	step("%d nodes Ready", len(nodes))
	if err := waitFor(ctx, cm, func() error {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return nil, err
	}
	step("default ServiceAccount exists")
	if err := waitPoolExtras(ctx, cs, pools); err != nil {
		return nil, err
	}
	if hasAutopilot(pools) {
		step("Autopilot admission policy in force")
	}
	procs, err := loadProcs(l)
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		if !p.Running() {
			return nil, fmt.Errorf("%s exited during startup; see %s:\n%s", p.Name, p.Log, tail(p.Log, 15))
		}
	}
	if o.OwnerPID > 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		if _, err := startProc(l, Watchdog, self, []string{"watch", "--state-dir=" + l.root, "--owner-pid=" + strconv.Itoa(o.OwnerPID)}, nil); err != nil {
			return nil, err
		}
	}
	info := &Info{
		StateDir: l.root, Server: server, Kubeconfig: l.kubeconfig(),
		LimitedKubeconfig: l.limitedKubeconfig(), LimitedUser: LimitedUser,
		Version: Version, Profile: o.Profile, Ports: ports, BinDir: o.BinDir, KwokDir: kwokDir,
		PodRunner: bins[PodRunner], PodRunnerDir: l.podRunnerDir(), Nodes: nodes, StartedAt: t0,
	}
	return info, nil
}

func hasAutopilot(pools []Pool) bool {
	return slices.ContainsFunc(pools, func(p Pool) bool { return p.Mode == ModeAutopilot })
}

// applyPoolExtras applies what the pools' mode needs (Autopilot signals).
func applyPoolExtras(ctx context.Context, dc dynamic.Interface, pools []Pool) error {
	if !hasAutopilot(pools) {
		return nil
	}
	objs, err := decodeManifests(autopilotManifests)
	if err != nil {
		return err
	}
	return applyObjects(ctx, dc, objs)
}

// waitPoolExtras waits until what applyPoolExtras applied is in force: the
// apiserver loads admission policies asynchronously, so probe with a
// server-side dry run of a pod Warden would reject.
func waitPoolExtras(ctx context.Context, cs kubernetes.Interface, pools []Pool) error {
	if !hasAutopilot(pools) {
		return nil
	}
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "llama-cluster-policy-probe"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "probe", Image: "probe",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{ResourceGPU: resource.MustParse("1")}},
		}}},
	}
	return poll(ctx, func() error {
		_, err := cs.CoreV1().Pods("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "GKE Warden rejected") {
			return nil
		}
		return fmt.Errorf("autopilot admission policy not in force yet (probe: %v)", err)
	})
}

func (o *Options) installKwokCRDs(ctx context.Context, dc dynamic.Interface, kwokDir string) error {
	var names []string
	for _, kind := range kwokCRDs {
		data, err := os.ReadFile(filepath.Join(kwokDir, kwokCRDDir, "kwok.x-k8s.io_"+kind+".yaml"))
		if err != nil {
			return err
		}
		objs, err := decodeManifests(data)
		if err != nil {
			return err
		}
		if err := applyObjects(ctx, dc, objs); err != nil {
			return err
		}
		for _, obj := range objs {
			names = append(names, obj.GetName())
		}
	}
	crdGVR := knownGVR("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
	return poll(ctx, func() error {
		for _, n := range names {
			u, err := dc.Resource(crdGVR).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructuredSlice(u.Object, "status", "conditions")
			ok := false
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					ok = true
				}
			}
			if !ok {
				return fmt.Errorf("CRD %s not established", n)
			}
		}
		return nil
	})
}

func nodesReady(ctx context.Context, cs kubernetes.Interface, names []string) error {
	for _, n := range names {
		node, err := cs.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ready := false
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			return fmt.Errorf("node %s not Ready", n)
		}
		// The node lifecycle controller may have tainted a node it saw before
		// kwok made it Ready; the scheduler would refuse pods until it lifts
		// the taint.
		for _, t := range node.Spec.Taints {
			if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
				return fmt.Errorf("node %s still has taint %s", n, t.Key)
			}
		}
	}
	return nil
}

func tlsClient(caPEM []byte) (*http.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("bad CA certificate")
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}, nil
}

func getOK(ctx context.Context, c *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// poll retries fn every 50 ms until it succeeds, fails with an exitedError
// (a component died: no point waiting), or ctx ends.
func poll(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		var ee *exitedError
		if err == nil || errors.As(err, &ee) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitFor polls fn and fails fast, with the log's tail, when proc (the
// component that should make fn succeed) has exited.
func waitFor(ctx context.Context, proc *Proc, fn func() error) error {
	err := poll(ctx, func() error {
		if err := fn(); err != nil {
			if !proc.Running() {
				return &exitedError{proc}
			}
			return err
		}
		return nil
	})
	var ee *exitedError
	if errors.As(err, &ee) || err == nil {
		return err
	}
	return fmt.Errorf("waiting for %s: %v; its log %s ends:\n%s", proc.Name, err, proc.Log, tail(proc.Log, 15))
}

type exitedError struct{ p *Proc }

func (e *exitedError) Error() string {
	status := ""
	if e.p.status != "" {
		status = " (" + e.p.status + ")"
	}
	return fmt.Sprintf("%s (pid %d) exited%s; its log %s ends:\n%s", e.p.Name, e.p.PID, status, e.p.Log, tail(e.p.Log, 15))
}

// loadProc reads the record of one component.
func loadProc(l layout, name string) (*Proc, error) {
	data, err := os.ReadFile(l.run(name))
	if err != nil {
		return nil, err
	}
	var p Proc
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// healthy reports whether a complete, live cluster is recorded in l.
func healthy(ctx context.Context, l layout) (*Info, error) {
	info, err := ReadInfo(l.root)
	if err != nil {
		return nil, fmt.Errorf("no cluster.json: startup never completed")
	}
	procs, err := loadProcs(l)
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		if !p.Running() {
			return nil, fmt.Errorf("%s (pid %d) is not running", p.Name, p.PID)
		}
	}
	caPEM, err := os.ReadFile(l.caCert())
	if err != nil {
		return nil, err
	}
	c, err := tlsClient(caPEM)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.LoadFromFile(l.kubeconfig())
	if err != nil {
		return nil, err
	}
	token := ""
	for _, a := range cfg.AuthInfos {
		token = a.Token
	}
	if err := getOK(ctx, c, info.Server+"/readyz", token); err != nil {
		return nil, err
	}
	return info, nil
}

// stopAll stops every recorded process of l in stopOrder.
func stopAll(l layout, log io.Writer) error {
	procs, err := loadProcs(l)
	if err != nil {
		return err
	}
	rank := func(name string) int {
		if i := slices.Index(stopOrder, name); i >= 0 {
			return i
		}
		return -1 // unknown names first
	}
	slices.SortStableFunc(procs, func(a, b *Proc) int { return rank(a.Name) - rank(b.Name) })
	var errs []error
	for _, p := range procs {
		if p.PID == os.Getpid() {
			continue // the watchdog running Down
		}
		if err := p.Stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
		_ = os.Remove(l.run(p.Name))
	}
	return errors.Join(errs...)
}

// Down stops the processes recorded in stateDir and removes it. A missing
// state dir is not an error.
func Down(stateDir string, log io.Writer) error {
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
		if log != nil {
			fmt.Fprintf(log, "no cluster in %s\n", abs)
		}
		return nil
	}
	if err := stopAll(l, log); err != nil {
		return fmt.Errorf("%w; state kept in %s", err, abs)
	}
	killStrays(abs, log)
	return os.RemoveAll(abs)
}

// ManagedEnv is set in the environment of every process Up starts (value:
// the state dir); their descendants inherit it unless they reset the
// environment.
const ManagedEnv = "LLAMA_CLUSTER_MANAGED"

// killStrays kills processes left after the recorded groups are stopped (a
// pod runner's child in a group of its own, say) whose environment carries
// ManagedEnv=stateDir: only descendants of what Up started have it. Other
// processes that merely name the state dir (a `tail -f` of a log) are
// reported, never signalled.
func killStrays(stateDir string, log io.Writer) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	marker := ManagedEnv + "=" + stateDir
	self := ancestors() // this down and the shell or make that runs it
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || self[pid] {
			continue
		}
		if st, err := readStat(pid); err != nil || st.state == 'Z' {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")
		environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if slices.Contains(strings.Split(string(environ), "\x00"), marker) {
			if log != nil {
				fmt.Fprintf(log, "killing leftover process %d: %s\n", pid, args)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		} else if strings.Contains(args, stateDir) && log != nil {
			fmt.Fprintf(log, "note: process %d still refers to the state dir (not started by llama-cluster, left alone): %s\n", pid, args)
		}
	}
}

// Watch runs Down for stateDir once process ownerPID is gone, and returns
// when the state dir is gone (down ran) or ctx ends.
func Watch(ctx context.Context, stateDir string, ownerPID int, log io.Writer) error {
	owner, err := readStat(ownerPID)
	if err != nil {
		return Down(stateDir, log)
	}
	l := layout{stateDir}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		if _, err := os.Stat(l.marker()); err != nil {
			return nil
		}
		st, err := readStat(ownerPID)
		if err == nil && st.state != 'Z' && st.startTime == owner.startTime {
			continue
		}
		if log != nil {
			fmt.Fprintf(log, "owner process %d is gone: stopping the cluster in %s\n", ownerPID, stateDir)
		}
		return Down(stateDir, log)
	}
}

// ignoreNotFound is a small helper for callers deleting objects.
func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
