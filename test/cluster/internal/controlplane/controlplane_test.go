package controlplane

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	cluster "github.com/kubectl-llama/kubectl-llama/test/cluster"
)

func embeddedPools(t *testing.T) *NodePools {
	t.Helper()
	np, err := ParseNodePools(cluster.NodePools)
	if err != nil {
		t.Fatal(err)
	}
	return np
}

func nodesOf(t *testing.T, np *NodePools, profile string) []*corev1.Node {
	t.Helper()
	pools, err := np.Profile(profile)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*corev1.Node
	for _, p := range pools {
		nodes = append(nodes, p.Nodes()...)
	}
	return nodes
}

func byAccelerator(nodes []*corev1.Node, acc string) []*corev1.Node {
	var out []*corev1.Node
	for _, n := range nodes {
		if n.Labels[LabelAccelerator] == acc {
			out = append(out, n)
		}
	}
	return out
}

func wantQuantity(t *testing.T, n *corev1.Node, name corev1.ResourceName, want string) {
	t.Helper()
	for _, rl := range []corev1.ResourceList{n.Status.Capacity, n.Status.Allocatable} {
		got := rl[name]
		if got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("%s: %s = %s, want %s", n.Name, name, got.String(), want)
		}
	}
}

func TestStandardH100Profile(t *testing.T) {
	np := embeddedPools(t)
	nodes := nodesOf(t, np, "h100")
	gpu := byAccelerator(nodes, "nvidia-h100-80gb")
	cpu := byAccelerator(nodes, "")
	if len(gpu) != 1 || len(cpu) != 1 || len(nodes) != 2 {
		t.Fatalf("h100 profile: %d H100 nodes, %d CPU nodes, %d total; want 1, 1, 2", len(gpu), len(cpu), len(nodes))
	}
	n := gpu[0]
	if !strings.HasPrefix(n.Name, "gke-") {
		t.Errorf("node name %q: want prefix gke-", n.Name)
	}
	if n.Labels[LabelInstanceType] != "a3-highgpu-8g" || n.Labels[LabelNodePool] == "" {
		t.Errorf("labels %v", n.Labels)
	}
	wantQuantity(t, n, ResourceGPU, "8")
	wantQuantity(t, n, corev1.ResourceCPU, "208")
	wantQuantity(t, n, corev1.ResourceMemory, "1872Gi")
	wantQuantity(t, n, corev1.ResourceEphemeralStorage, "6000Gi")
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].ToString() != "nvidia.com/gpu=present:NoSchedule" {
		t.Errorf("taints %v, want nvidia.com/gpu=present:NoSchedule", n.Spec.Taints)
	}
	if n.Annotations[KwokAnnotation] != "fake" {
		t.Errorf("kwok annotation missing: %v", n.Annotations)
	}
	if len(cpu[0].Spec.Taints) != 0 {
		t.Errorf("CPU node tainted: %v", cpu[0].Spec.Taints)
	}
	if _, ok := cpu[0].Status.Capacity[ResourceGPU]; ok {
		t.Errorf("CPU node has GPUs")
	}
}

func TestH100H200Profile(t *testing.T) {
	nodes := nodesOf(t, embeddedPools(t), "h100-h200")
	h200 := byAccelerator(nodes, "nvidia-h200-141gb")
	if len(h200) != 1 || len(byAccelerator(nodes, "nvidia-h100-80gb")) != 1 {
		t.Fatalf("want one H100 and one H200 node")
	}
	n := h200[0]
	if n.Labels[LabelInstanceType] != "a3-ultragpu-8g" {
		t.Errorf("H200 machine type %q", n.Labels[LabelInstanceType])
	}
	wantQuantity(t, n, ResourceGPU, "8")
	wantQuantity(t, n, corev1.ResourceCPU, "224")
	wantQuantity(t, n, corev1.ResourceMemory, "2952Gi")
}

func TestAutopilotProfile(t *testing.T) {
	nodes := nodesOf(t, embeddedPools(t), "autopilot")
	if len(byAccelerator(nodes, "nvidia-h100-80gb")) != 1 {
		t.Fatalf("autopilot profile needs an H100 node")
	}
	for _, n := range nodes {
		if !strings.HasPrefix(n.Name, "gk3-") {
			t.Errorf("autopilot node %q: want prefix gk3-", n.Name)
		}
		if len(n.Spec.Taints) != 0 {
			t.Errorf("autopilot node %s tainted: %v", n.Name, n.Spec.Taints)
		}
	}
}

func TestEveryProfileHasACPUNodeAndDistinctNames(t *testing.T) {
	np := embeddedPools(t)
	seen := map[string]string{}
	for key, p := range np.Pools {
		for _, n := range p.Nodes() {
			if other, dup := seen[n.Name]; dup {
				t.Errorf("pools %s and %s both make node %s", key, other, n.Name)
			}
			seen[n.Name] = key
		}
	}
	for _, name := range np.ProfileNames() {
		if len(byAccelerator(nodesOf(t, np, name), "")) == 0 {
			t.Errorf("profile %s has no CPU node for system pods", name)
		}
	}
}

func TestParseNodePoolsRejects(t *testing.T) {
	pool := func(extra string) string {
		return "pools:\n  p: {name: p, count: 1, machineType: m, cpu: '1', memory: 1Gi, ephemeralStorage: 1Gi, mode: standard" + extra + "}\n"
	}
	for name, doc := range map[string]string{
		"unknown pool":     pool("") + "profiles: {x: [q]}\n",
		"bad mode":         strings.Replace(pool(""), "mode: standard", "mode: other", 1) + "profiles: {x: [p]}\n",
		"gpus without acc": pool(", gpus: 8") + "profiles: {x: [p]}\n",
		"zero count":       strings.Replace(pool(""), "count: 1", "count: 0", 1) + "profiles: {x: [p]}\n",
		"bad quantity":     strings.Replace(pool(""), "cpu: '1'", "cpu: lots", 1) + "profiles: {x: [p]}\n",
		"no profiles":      pool(""),
	} {
		if _, err := ParseNodePools([]byte(doc)); err == nil {
			t.Errorf("%s: accepted:\n%s", name, doc)
		}
	}
	if _, err := ParseNodePools([]byte(pool("") + "profiles: {x: [p]}\n")); err != nil {
		t.Errorf("valid document rejected: %v", err)
	}
}

func TestKwokConfigHasNoPodReadyStage(t *testing.T) {
	dir, err := KwokModuleDir(context.Background())
	if err != nil {
		t.Skipf("kwok module not available: %v", err)
	}
	cfg, err := kwokConfig(dir, 12345)
	if err != nil {
		t.Fatal(err)
	}
	s := string(cfg)
	for _, want := range []string{"name: node-initialize", "name: node-heartbeat-with-lease", "name: pod-delete", "nodePort: 12345", "serverAddress: 127.0.0.1:12345", "enableDebuggingHandlers: true", "ClusterPortForward"} {
		if !strings.Contains(s, want) {
			t.Errorf("kwok config lacks %q", want)
		}
	}
	if strings.Contains(s, "name: pod-ready") {
		t.Errorf("kwok config has the pod-ready stage; pod status belongs to the pod runner")
	}
	objs, err := decodeManifests(cfg)
	if err != nil || len(objs) != 4 {
		t.Fatalf("kwok config: %d documents, err %v; want 4", len(objs), err)
	}
}

func TestAutopilotManifestsDecode(t *testing.T) {
	objs, err := decodeManifests(cluster.AutopilotManifests)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		if _, ok := knownKinds[o.GroupVersionKind().GroupKind()]; !ok {
			t.Errorf("unsupported kind %s", o.GroupVersionKind())
		}
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
	}
	want := "MutatingWebhookConfiguration/sasecret-redacter.config.common-webhooks.networking.gke.io"
	if kinds[0] != want {
		t.Errorf("first object %s, want %s", kinds[0], want)
	}
}

// startSleeper starts a shell (and its sleep child) as a managed process.
func startSleeper(t *testing.T, l layout, name string) *Proc {
	t.Helper()
	if err := l.mkdirs(); err != nil {
		t.Fatal(err)
	}
	p, err := startProc(l, name, "/bin/sh", []string{"-c", "sleep 60; true", l.root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(time.Second) })
	return p
}

func TestProcStopEndsTheWholeGroup(t *testing.T) {
	l := layout{t.TempDir()}
	p := startSleeper(t, l, "sleeper")
	if !p.Running() {
		t.Fatal("not running after start")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(groupMembers(p.PID)) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // the sleep child
	}
	if n := len(groupMembers(p.PID)); n < 2 {
		t.Fatalf("group has %d members, want shell and sleep", n)
	}
	procs, err := loadProcs(l)
	if err != nil || len(procs) != 1 || procs[0].PID != p.PID {
		t.Fatalf("loadProcs = %v, %v", procs, err)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(groupMembers(p.PID)); n != 0 {
		t.Fatalf("%d processes of the group left", n)
	}
}

func TestProcStopLeavesARecycledPidAlone(t *testing.T) {
	l := layout{t.TempDir()}
	p := startSleeper(t, l, "sleeper")
	imposter := *p
	imposter.exited = nil // as read back from its record by another llama-cluster
	imposter.StartTime++  // same pid, different start time: another process
	if imposter.Running() {
		t.Fatal("a different start time must not count as the same process")
	}
	if err := imposter.Stop(time.Second); err != nil {
		t.Fatal(err)
	}
	other := *p
	other.exited = nil
	other.StateDir = "/elsewhere" // command line does not mention the state dir
	if other.Running() {
		t.Fatal("a command line without the state dir must not count")
	}
	if !p.Running() {
		t.Fatal("the real process was signalled")
	}
}

func TestDownRefusesAForeignDirAndToleratesAMissingOne(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Down(dir, nil); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("Down(foreign dir) = %v, want ErrNotOurs", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
		t.Fatal("foreign dir touched")
	}
	if err := Down(filepath.Join(dir, "missing"), nil); err != nil {
		t.Fatalf("Down(missing) = %v", err)
	}
}

func TestDownStopsRecordedProcessesAndRemovesState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	l := layout{dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.marker(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a := startSleeper(t, l, Etcd)
	b := startSleeper(t, l, Kwok)
	if err := Down(dir, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Proc{a, b} {
		if len(groupMembers(p.PID)) != 0 {
			t.Errorf("%s still running", p.Name)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state dir left: %v", err)
	}
}

func TestTokenFileFormat(t *testing.T) {
	users, err := newUsers()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokens.csv")
	if err := writeTokenFile(path, users); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	admin := users[AdminUser]
	if !strings.Contains(string(data), admin.Token+","+AdminUser+","+AdminUser+",\"system:masters\"\n") {
		t.Errorf("admin line missing:\n%s", data)
	}
	if strings.Contains(string(data), LimitedUser+","+LimitedUser+",\"") {
		t.Errorf("limited user has groups:\n%s", data)
	}
}

// A child this process started and reaps is running until it is reaped,
// whatever /proc shows: right after cmd.Start returns, its exec may not have
// set up the command line yet (etcd once read as "exited" at startup).
func TestOwnChildRunsUntilReaped(t *testing.T) {
	l := layout{t.TempDir()}
	p := startSleeper(t, l, "sleeper")
	early := *p
	early.Path = "" // what a cmdline read mid-exec gives: no argv[0]
	if !early.Running() {
		t.Fatal("an own child not yet reaped must count as running")
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("not reaped after Stop")
	}
	if p.Running() || early.Running() {
		t.Fatal("a reaped child must not count as running")
	}
}
