package podrunner

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ctr is the runner's record of one container of a pod.
type ctr struct {
	name  string
	image string
	kind  runKind

	// Waiting (never started, or between restarts).
	waitReason, waitMessage string

	// Running.
	running     bool
	startedAt   time.Time
	containerID string
	started     bool // startup probe passed (or none)
	ready       bool // readiness probe passed (or none)
	everStarted bool

	// Terminated: current (not restarting) and last (before a restart).
	term, lastTerm *corev1.ContainerStateTerminated
	done           bool // terminated for good (restartPolicy says so)

	restartCount int32
}

// podView is what status building needs from the runner's pod state.
type podView struct {
	podIP, hostIP string
	startTime     time.Time
	containers    []*ctr
	initDone      bool
}

// BuildStatus computes the pod status a kubelet would report for the given
// runner state, keeping the scheduler's conditions and unchanged transition
// times from the current status.
func BuildStatus(pod *corev1.Pod, v *podView, now time.Time) corev1.PodStatus {
	old := pod.Status
	st := corev1.PodStatus{QOSClass: old.QOSClass}
	if v.podIP != "" {
		st.PodIP, st.PodIPs = v.podIP, []corev1.PodIP{{IP: v.podIP}}
	}
	if v.hostIP != "" {
		st.HostIP, st.HostIPs = v.hostIP, []corev1.HostIP{{IP: v.hostIP}}
	}
	if !v.startTime.IsZero() {
		t := metav1.NewTime(v.startTime)
		st.StartTime = &t
	}

	allReady, allDone, anySucceededOnly, anyStarted := true, len(v.containers) > 0, true, false
	var unready []string
	for _, c := range v.containers {
		cs := corev1.ContainerStatus{Name: c.name, Image: c.image, RestartCount: c.restartCount, LastTerminationState: corev1.ContainerState{Terminated: c.lastTerm}}
		started := false
		switch {
		case c.running:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.startedAt)}
			started = c.started
			cs.Ready = c.started && c.ready
		case c.done:
			cs.State.Terminated = c.term
		default:
			reason := c.waitReason
			if reason == "" {
				reason = "ContainerCreating"
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: c.waitMessage}
		}
		cs.Started = &started
		if c.everStarted {
			cs.ImageID = imageID(c.image)
			cs.ContainerID = c.containerID
		}
		if !cs.Ready {
			allReady = false
			unready = append(unready, c.name)
		}
		if !c.done {
			allDone = false
		} else if c.term != nil && c.term.ExitCode != 0 {
			anySucceededOnly = false
		}
		anyStarted = anyStarted || c.everStarted
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	sort.Slice(st.ContainerStatuses, func(i, j int) bool { return st.ContainerStatuses[i].Name < st.ContainerStatuses[j].Name })

	switch {
	case allDone && anySucceededOnly:
		st.Phase = corev1.PodSucceeded
	case allDone:
		st.Phase = corev1.PodFailed
	case anyStarted:
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}

	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg}
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
		}
		c.LastTransitionTime = metav1.NewTime(now)
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		st.Conditions = append(st.Conditions, c)
	}
	cond(corev1.PodReadyToStartContainers, v.podIP != "", "", "")
	cond(corev1.PodInitialized, v.initDone, "ContainersNotInitialized", "containers with incomplete status: [init]")
	notReady := "containers with unready status: [" + strings.Join(unready, " ") + "]"
	reason := "ContainersNotReady"
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		reason, notReady = "PodCompleted", ""
	}
	cond(corev1.ContainersReady, allReady && len(v.containers) > 0, reason, notReady)
	cond(corev1.PodReady, allReady && len(v.containers) > 0, reason, notReady)
	// Keep conditions others own (PodScheduled from the scheduler, DisruptionTarget, ...).
	for _, o := range old.Conditions {
		switch o.Type {
		case corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady:
		default:
			st.Conditions = append(st.Conditions, o)
		}
	}
	sort.SliceStable(st.Conditions, func(i, j int) bool { return condOrder(st.Conditions[i].Type) < condOrder(st.Conditions[j].Type) })
	return st
}

func condOrder(t corev1.PodConditionType) int {
	switch t {
	case corev1.PodReadyToStartContainers:
		return 0
	case corev1.PodInitialized:
		return 1
	case corev1.PodReady:
		return 2
	case corev1.ContainersReady:
		return 3
	case corev1.PodScheduled:
		return 4
	}
	return 5
}

// terminated builds a terminated state the way the kubelet reports it:
// reason Completed for 0, OOMKilled for 137 from the OOM killer, Error otherwise.
func terminated(code int, started, finished time.Time, containerID string) *corev1.ContainerStateTerminated {
	reason := "Error"
	switch code {
	case 0:
		reason = "Completed"
	case 137:
		reason = "OOMKilled"
	}
	return &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason,
		StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(finished), ContainerID: containerID}
}

// podRef is the kubelet's format.Pod: name_namespace(uid).
func podRef(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// crashLoopMessage is the kubelet's CrashLoopBackOff waiting message.
func crashLoopMessage(d time.Duration, container string, pod *corev1.Pod) string {
	return fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", d, container, podRef(pod))
}
