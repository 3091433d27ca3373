package ready

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-llama/kubectl-llama/plugin/diagnose"
)

// Describe says in one line where the release is on its way to ready: the
// rollout, then the newest pod's phase, scheduling, image pull, container
// start and the model load stage read from its log (stages, by pod name).
func Describe(s *Snapshot, stages map[string]string) string {
	if s.Deployment == nil {
		return fmt.Sprintf("waiting for Deployment %s to be created", s.Release)
	}
	msg, _, err := RolloutStatus(s.Deployment)
	if err != nil {
		msg = err.Error()
	}
	var live []corev1.Pod
	for _, p := range s.Pods {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		if len(s.Pods) > 0 {
			return fmt.Sprintf("%s; waiting for pod %s to terminate", msg, s.Pods[0].Name)
		}
		return msg + "; waiting for a pod to be created"
	}
	sort.SliceStable(live, func(i, j int) bool { return live[j].CreationTimestamp.Before(&live[i].CreationTimestamp) })
	p := &live[0]
	return fmt.Sprintf("%s; pod %s: %s", msg, p.Name, PodState(p, podEvents(s.Events, p), stages[p.Name]))
}

func podEvents(evs []corev1.Event, p *corev1.Pod) []corev1.Event {
	var out []corev1.Event
	for _, e := range evs {
		if e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == p.Name {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return diagnose.EventTime(out[i]).Before(diagnose.EventTime(out[j])) })
	return out
}

// PodState describes one pod in a few words.
func PodState(p *corev1.Pod, evs []corev1.Event, stage string) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			if c.Reason == corev1.PodReasonUnschedulable {
				return "waiting for a node (" + short(c.Message) + ")"
			}
			return "waiting to be scheduled"
		}
	}
	if p.Spec.NodeName == "" {
		return "waiting to be scheduled"
	}
	st := containerStatus(p)
	if st == nil {
		return "scheduled on node " + p.Spec.NodeName
	}
	switch {
	case st.Ready:
		return "ready"
	case st.State.Waiting != nil:
		w := st.State.Waiting
		if w.Reason == "ContainerCreating" || w.Reason == "PodInitializing" || w.Reason == "" {
			var last string
			for _, e := range evs {
				switch e.Reason {
				case "Pulling", "Pulled", "Created", "Started":
					last = e.Reason
				}
			}
			switch last {
			case "Pulling":
				return fmt.Sprintf("pulling image %s on node %s", st.Image, p.Spec.NodeName)
			case "Pulled":
				return "image pulled, creating the container"
			}
			return "creating the container on node " + p.Spec.NodeName
		}
		if w.Reason == "CrashLoopBackOff" {
			s := "crash loop"
			if t := st.LastTerminationState.Terminated; t != nil {
				s += fmt.Sprintf(", last exit code %d %s", t.ExitCode, t.Reason)
			}
			return fmt.Sprintf("%s (%d restarts)", s, st.RestartCount)
		}
		s := w.Reason
		if w.Message != "" {
			s += ": " + short(w.Message)
		}
		if st.RestartCount > 0 {
			s += fmt.Sprintf(" (%d restarts)", st.RestartCount)
		}
		return s
	case st.State.Running != nil:
		if stage == "" {
			stage = "container started, waiting for the model server"
		}
		if st.RestartCount > 0 {
			stage += fmt.Sprintf(" (%d restarts)", st.RestartCount)
		}
		return stage
	case st.State.Terminated != nil:
		t := st.State.Terminated
		return fmt.Sprintf("container exited (code %d %s)", t.ExitCode, t.Reason)
	}
	return string(p.Status.Phase)
}

func short(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\n", " "))
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
