// Package status turns what the cluster says about a release into facts
// (printed as a table, or as JSON / YAML with stable field names) and the
// diagnosis of why it is not ready.
package status

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-llama/kubectl-llama/plugin/diagnose"
	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
	"github.com/kubectl-llama/kubectl-llama/plugin/ready"
)

// Status is the facts about one release.
type Status struct {
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	// Ready is true when the Deployment has rolled out and is available.
	Ready bool `json:"ready"`
	// State is one line: where the release is on its way to ready.
	State      string             `json:"state"`
	Helm       *Helm              `json:"helm,omitempty"`
	Model      Model              `json:"model"`
	Deployment *Deployment        `json:"deployment,omitempty"`
	Service    *Service           `json:"service,omitempty"`
	Pods       []Pod              `json:"pods"`
	Diagnosis  []diagnose.Finding `json:"diagnosis"`
}

// Helm is the release record.
type Helm struct {
	Revision   int    `json:"revision"`
	Status     string `json:"status"`
	Chart      string `json:"chart"`
	AppVersion string `json:"appVersion,omitempty"`
	Updated    string `json:"updated,omitempty"`
}

// Model is what is served, on what.
type Model struct {
	Preset      string `json:"preset,omitempty"`
	ID          string `json:"id,omitempty"`
	GPU         string `json:"gpu,omitempty"`
	GPUCount    int    `json:"gpuCount,omitempty"`
	Accelerator string `json:"accelerator,omitempty"`
	Image       string `json:"image,omitempty"`
	MaxModelLen int    `json:"maxModelLen,omitempty"`
}

// Deployment is the Deployment's rollout.
type Deployment struct {
	Replicas   int32       `json:"replicas"`
	Updated    int32       `json:"updatedReplicas"`
	Ready      int32       `json:"readyReplicas"`
	Available  int32       `json:"availableReplicas"`
	Rollout    string      `json:"rollout"`
	Conditions []Condition `json:"conditions,omitempty"`
}

// Condition is a Deployment condition.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Service is where the model server answers in the cluster.
type Service struct {
	Name       string `json:"name"`
	Port       int32  `json:"port"`
	TargetPort string `json:"targetPort"`
}

// Pod is one pod of the release.
type Pod struct {
	Name     string `json:"name"`
	Phase    string `json:"phase"`
	Ready    bool   `json:"ready"`
	Restarts int32  `json:"restarts"`
	Node     string `json:"node,omitempty"`
	State    string `json:"state"`
	// Stage is the model server start-up stage read from its log.
	Stage   string `json:"stage,omitempty"`
	Created string `json:"created,omitempty"`
}

// HelmInfo is the part of a Helm release record status shows.
type HelmInfo struct {
	Revision   int
	Status     string
	Chart      string
	AppVersion string
	Updated    string
	Preset     string
	GPU        string
}

// Build assembles the facts from a snapshot (and the Helm record when there is one).
func Build(ns string, snap *ready.Snapshot, svc *corev1.Service, h *HelmInfo) *Status {
	s := &Status{Release: snap.Release, Namespace: ns, Pods: []Pod{}, Diagnosis: []diagnose.Finding{}}
	if h != nil {
		s.Helm = &Helm{Revision: h.Revision, Status: h.Status, Chart: h.Chart, AppVersion: h.AppVersion, Updated: h.Updated}
		s.Model.Preset, s.Model.GPU = h.Preset, h.GPU
	}
	stages := map[string]string{}
	for name, l := range snap.Logs {
		if st := diagnose.Stage(l.Current); st != "" {
			stages[name] = st
		}
	}
	if d := snap.Deployment; d != nil {
		spec := diagnose.ServingSpec(d)
		a := d.Annotations
		s.Model.ID = spec.ModelID
		s.Model.GPUCount, _ = strconv.Atoi(spec.GPUCount)
		s.Model.Accelerator = spec.Accelerator
		s.Model.Image = spec.Image
		s.Model.MaxModelLen, _ = strconv.Atoi(spec.MaxModelLen)
		if v := a[kube.AnnPreset]; v != "" {
			s.Model.Preset = v
		}
		if v := a[kube.AnnGPU]; v != "" {
			s.Model.GPU = v
		}
		msg, done, err := ready.RolloutStatus(d)
		if err != nil {
			msg = err.Error()
		}
		s.Ready = done
		s.Deployment = deploymentFacts(d, msg)
	}
	if svc != nil {
		s.Service = &Service{Name: svc.Name}
		if len(svc.Spec.Ports) > 0 {
			s.Service.Port = svc.Spec.Ports[0].Port
			s.Service.TargetPort = svc.Spec.Ports[0].TargetPort.String()
		}
	}
	pods := append([]corev1.Pod(nil), snap.Pods...)
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for i := range pods {
		p := &pods[i]
		s.Pods = append(s.Pods, podFacts(p, snap.Events, stages[p.Name]))
	}
	if s.Ready {
		s.State = "ready"
	} else {
		s.State = ready.Describe(snap, stages)
		s.Diagnosis = append(s.Diagnosis, diagnose.Diagnose(snap.Input())...)
	}
	return s
}

func deploymentFacts(d *appsv1.Deployment, rollout string) *Deployment {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	out := &Deployment{Replicas: want, Updated: d.Status.UpdatedReplicas, Ready: d.Status.ReadyReplicas, Available: d.Status.AvailableReplicas, Rollout: rollout}
	for _, c := range d.Status.Conditions {
		out.Conditions = append(out.Conditions, Condition{Type: string(c.Type), Status: string(c.Status), Reason: c.Reason, Message: c.Message})
	}
	return out
}

func podFacts(p *corev1.Pod, evs []corev1.Event, stage string) Pod {
	out := Pod{Name: p.Name, Phase: string(p.Status.Phase), Node: p.Spec.NodeName, Stage: stage}
	if !p.CreationTimestamp.IsZero() {
		out.Created = p.CreationTimestamp.UTC().Format(time.RFC3339)
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == kube.ContainerName || len(p.Status.ContainerStatuses) == 1 {
			out.Ready = c.Ready
			out.Restarts = c.RestartCount
		}
	}
	var pe []corev1.Event
	for _, e := range evs {
		if e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == p.Name {
			pe = append(pe, e)
		}
	}
	out.State = ready.PodState(p, pe, stage)
	return out
}

// Print writes the human view.
func Print(w io.Writer, s *Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rel := fmt.Sprintf("%s (namespace %s)", s.Release, s.Namespace)
	if h := s.Helm; h != nil {
		rel += fmt.Sprintf(", revision %d %s, chart %s", h.Revision, h.Status, h.Chart)
	}
	fmt.Fprintf(tw, "Release:\t%s\n", rel)
	m := s.Model
	if m.ID != "" || m.Preset != "" {
		model := orDash(m.ID)
		if m.Preset != "" {
			model += " (preset " + m.Preset + ")"
		}
		fmt.Fprintf(tw, "Model:\t%s\n", model)
		gpu := fmt.Sprintf("%s x %s", orDashInt(m.GPUCount), orDash(m.GPU))
		if m.Accelerator != "" {
			gpu += " (" + m.Accelerator + ")"
		}
		fmt.Fprintf(tw, "GPU:\t%s\n", gpu)
		fmt.Fprintf(tw, "Image:\t%s, --max-model-len %s\n", orDash(m.Image), orDashInt(m.MaxModelLen))
	}
	if d := s.Deployment; d != nil {
		fmt.Fprintf(tw, "Deployment:\t%d/%d ready, %d updated, %d available (%s)\n", d.Ready, d.Replicas, d.Updated, d.Available, d.Rollout)
	} else {
		fmt.Fprintf(tw, "Deployment:\tnot found\n")
	}
	if sv := s.Service; sv != nil {
		fmt.Fprintf(tw, "Service:\t%s:%d -> %s\n", sv.Name, sv.Port, sv.TargetPort)
	}
	if s.Ready {
		fmt.Fprintf(tw, "Status:\tREADY\n")
	} else {
		fmt.Fprintf(tw, "Status:\tNOT READY: %s\n", s.State)
	}
	_ = tw.Flush()
	if len(s.Pods) > 0 {
		fmt.Fprintln(w, "Pods:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tREADY\tRESTARTS\tNODE\tSTATE")
		for _, p := range s.Pods {
			r := "0/1"
			if p.Ready {
				r = "1/1"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", p.Name, r, p.Restarts, orDash(p.Node), p.State)
		}
		_ = tw.Flush()
	}
	if len(s.Diagnosis) > 0 {
		fmt.Fprintln(w, "Diagnosis:")
		for _, f := range s.Diagnosis {
			fatal := ""
			if f.Fatal {
				fatal = " [will not heal by itself]"
			}
			fmt.Fprintf(w, "  - %s: %s%s\n    fix: %s\n", f.Object, f.Message, fatal, f.Fix)
			if len(f.Logs) > 0 {
				fmt.Fprintln(w, "    log:")
				for _, l := range f.Logs {
					fmt.Fprintf(w, "      %s\n", l)
				}
			}
		}
	}
	if s.Ready {
		fmt.Fprintf(w, "Next: kubectl llama chat %s \"San Francisco is a\"  |  kubectl llama port-forward %s\n", s.Release, s.Release)
	}
}

func orDashInt(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
