package ready

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-llama/kubectl-llama/plugin/diagnose"
	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
)

// Snapshot is what the cluster says about one release at one moment.
type Snapshot struct {
	Release     string
	Deployment  *appsv1.Deployment
	ReplicaSets []appsv1.ReplicaSet
	Pods        []corev1.Pod
	Events      []corev1.Event
	// Logs by pod name: the serving container's log tail.
	Logs map[string]diagnose.PodLogs
}

// Input turns the snapshot into the diagnosis input.
func (s *Snapshot) Input() diagnose.Input {
	return diagnose.Input{Release: s.Release, Deployment: s.Deployment, ReplicaSets: s.ReplicaSets, Pods: s.Pods, Events: s.Events, Logs: s.Logs}
}

// LogTail is how many log lines are kept per container.
const LogTail = 200

// Collect lists a release's objects (no watch): used by status.
func Collect(ctx context.Context, cs kubernetes.Interface, ns, release string) (*Snapshot, error) {
	s := &Snapshot{Release: release, Logs: map[string]diagnose.PodLogs{}}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading Deployment %s/%s: %w", ns, release, err)
	default:
		s.Deployment = d
	}
	sel := metav1.ListOptions{LabelSelector: kube.ReleaseSelector(release)}
	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("listing ReplicaSets: %w", err)
	}
	s.ReplicaSets = ownedBy(rss.Items, release)
	pods, err := cs.CoreV1().Pods(ns).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	s.Pods = pods.Items
	evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	s.Events = releaseEvents(evs.Items, release)
	for i := range s.Pods {
		p := &s.Pods[i]
		st := containerStatus(p)
		if st == nil {
			continue
		}
		var l diagnose.PodLogs
		if st.State.Running != nil || st.State.Terminated != nil {
			l.Current, _ = readLog(ctx, cs, ns, p.Name, false)
		}
		if st.RestartCount > 0 {
			l.Previous, _ = readLog(ctx, cs, ns, p.Name, true)
		}
		s.Logs[p.Name] = l
	}
	return s, nil
}

func readLog(ctx context.Context, cs kubernetes.Interface, ns, pod string, previous bool) ([]string, error) {
	n := int64(LogTail)
	rc, err := cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: kube.ContainerName, Previous: previous, TailLines: &n}).Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var lines []string
	err = scanLines(rc, func(l string) { lines = append(lines, l) })
	return tailLines(lines, LogTail), err
}

// scanLines splits a log stream into lines, on \n and on the \r that
// progress bars use.
func scanLines(r io.Reader, fn func(string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		for _, l := range strings.Split(sc.Text(), "\r") {
			if l = strings.TrimRight(l, " "); l != "" {
				fn(l)
			}
		}
	}
	return sc.Err()
}

func tailLines(l []string, n int) []string {
	if len(l) > n {
		return l[len(l)-n:]
	}
	return l
}

func containerStatus(p *corev1.Pod) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == kube.ContainerName {
			return &p.Status.ContainerStatuses[i]
		}
	}
	if len(p.Status.ContainerStatuses) == 1 {
		return &p.Status.ContainerStatuses[0]
	}
	return nil
}

func ownedBy(rss []appsv1.ReplicaSet, release string) []appsv1.ReplicaSet {
	var out []appsv1.ReplicaSet
	for _, rs := range rss {
		for _, o := range rs.OwnerReferences {
			if o.Kind == "Deployment" && o.Name == release {
				out = append(out, rs)
				break
			}
		}
	}
	return out
}

// releaseEvents keeps events about the release's Deployment, ReplicaSets
// and pods (all named after the release).
func releaseEvents(evs []corev1.Event, release string) []corev1.Event {
	var out []corev1.Event
	for _, e := range evs {
		n := e.InvolvedObject.Name
		if n == release || strings.HasPrefix(n, release+"-") {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return diagnose.EventTime(out[i]).Before(diagnose.EventTime(out[j])) })
	return out
}

// currentReplicaSet is the ReplicaSet of the Deployment's current revision.
func currentReplicaSet(d *appsv1.Deployment, rss []appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if d == nil {
		return nil
	}
	rev := d.Annotations["deployment.kubernetes.io/revision"]
	var best *appsv1.ReplicaSet
	for i := range rss {
		rs := &rss[i]
		if rev != "" && rs.Annotations["deployment.kubernetes.io/revision"] == rev {
			return rs
		}
		if best == nil || best.CreationTimestamp.Before(&rs.CreationTimestamp) {
			best = rs
		}
	}
	return best
}

// CurrentPods are the pods of the Deployment's current revision (all the
// pods when the revision cannot be told).
func CurrentPods(d *appsv1.Deployment, rss []appsv1.ReplicaSet, pods []corev1.Pod) []corev1.Pod {
	rs := currentReplicaSet(d, rss)
	if rs == nil || rs.Spec.Selector == nil {
		return pods
	}
	hash := rs.Labels["pod-template-hash"]
	if hash == "" {
		return pods
	}
	sel := labels.SelectorFromSet(labels.Set{"pod-template-hash": hash})
	var out []corev1.Pod
	for _, p := range pods {
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}
