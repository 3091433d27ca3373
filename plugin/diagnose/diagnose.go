// Package diagnose explains why a release's model server is not ready. It is
// a set of pure functions over what the API server says about a release (its
// Deployment, ReplicaSets, Pods and Events) and the tail of the serving
// container's log: every finding names the cause and the fix. Nothing here
// talks to a cluster, so table tests feed it fixtures.
package diagnose

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
)

// Causes, stable identifiers (they appear in `status -o json`).
const (
	CauseInsufficientGPU     = "InsufficientGPU"
	CauseNoAcceleratorNode   = "NoAcceleratorNode"
	CauseUntoleratedTaint    = "UntoleratedTaint"
	CauseUnschedulable       = "Unschedulable"
	CauseAutopilotRejected   = "AutopilotRejected"
	CauseFailedCreate        = "FailedCreate"
	CauseImagePull           = "ImagePull"
	CauseInvalidImage        = "InvalidImageName"
	CauseSecretMissing       = "HFSecretMissing"
	CauseContainerConfig     = "CreateContainerConfigError"
	CauseOOMKilled           = "OOMKilled"
	CauseStartupProbe        = "StartupProbeFailed"
	CauseCrashLoop           = "CrashLoopBackOff"
	CauseGatedRepo           = "GatedRepo"
	CauseCUDAOutOfMemory     = "CUDAOutOfMemory"
	CauseKVCacheTooSmall     = "KVCacheTooSmall"
	CauseMaxModelLenTooLarge = "MaxModelLenTooLarge"
	CauseUnrecognizedArg     = "UnrecognizedArgument"
	CauseNCCL                = "NCCLSharedMemory"
	CauseProgressDeadline    = "ProgressDeadlineExceeded"
	CauseNoDeployment        = "DeploymentNotFound"
)

// Finding is one diagnosed cause.
type Finding struct {
	// Cause is a stable identifier (Cause* constants).
	Cause string `json:"cause"`
	// Object is the object it was read from, "pod/NAME", "replicaset/NAME", ...
	Object string `json:"object"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Fix says what to do about it.
	Fix string `json:"fix"`
	// Fatal is true when the cause does not heal by itself once it has
	// lasted Grace: a waiter gives up instead of sitting out its timeout.
	Fatal bool `json:"fatal"`
	// Grace is how long a fatal cause is given to heal (a Secret being
	// created, a node being added), counted from Since.
	Grace time.Duration `json:"-"`
	// Since is when the cause was first reported by the cluster (zero when
	// unknown: the caller then counts from when it first saw it).
	Since time.Time `json:"-"`
	// Logs holds the last log lines that show the cause, when it comes from the log.
	Logs []string `json:"logs,omitempty"`
}

// String renders the finding as one line: "object: message; fix: fix".
func (f Finding) String() string {
	s := f.Message
	if f.Object != "" {
		s = f.Object + ": " + s
	}
	if f.Fix != "" {
		s += "; fix: " + f.Fix
	}
	return s
}

// PodLogs is the tail of the serving container's log of one pod: the
// running (or last) container and the previous, terminated one.
type PodLogs struct {
	Current  []string
	Previous []string
}

// Input is what the diagnosis looks at.
type Input struct {
	Release     string
	Deployment  *appsv1.Deployment
	ReplicaSets []appsv1.ReplicaSet
	Pods        []corev1.Pod
	Events      []corev1.Event
	// Logs by pod name.
	Logs map[string]PodLogs
}

// Default grace periods before a waiter gives up on a fatal cause.
const (
	GraceNone       = 0
	GraceSecret     = 20 * time.Second // the Secret may be being created
	GraceScheduling = 20 * time.Second // the autoscaler may answer with TriggeredScaleUp, a pod may be terminating
	// On GKE Autopilot a GPU pod is unschedulable until node auto-provisioning
	// creates its node; that can take minutes, and the autoscaler may first
	// say NotTriggerScaleUp (no existing node group fits) or FailedScaleUp (a
	// zone is out of that GPU) before it finds one.
	GraceAutoprovision = 3 * time.Minute
	GraceImagePull     = 90 * time.Second // a transient registry error retries
	GraceFailedReuse   = 30 * time.Second
)

// Diagnose returns the findings for a release, the most telling first: fatal
// findings before others, pod findings of the newest pods first. Identical
// causes on several pods are reported once.
func Diagnose(in Input) []Finding {
	var out []Finding
	if in.Deployment == nil {
		out = append(out, Finding{
			Cause:   CauseNoDeployment,
			Object:  "deployment/" + in.Release,
			Message: fmt.Sprintf("Deployment %q not found", in.Release),
			Fix:     fmt.Sprintf("check the release name and namespace (kubectl llama list -A), or install it: kubectl llama install %s", in.Release),
		})
		return out
	}
	spec := ServingSpec(in.Deployment)
	spec.Release = in.Release
	out = append(out, replicaSetFindings(in)...)
	terminating := ""
	for _, p := range in.Pods {
		if p.DeletionTimestamp != nil {
			terminating = p.Name
		}
	}
	pods := append([]corev1.Pod(nil), in.Pods...)
	sort.SliceStable(pods, func(i, j int) bool {
		return pods[j].CreationTimestamp.Before(&pods[i].CreationTimestamp)
	})
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, f := range podFindings(p, spec, podEvents(in.Events, p), in.Logs[p.Name]) {
			// A pod of this release is going away (Recreate rollout): its
			// GPUs are about to be free.
			if f.Cause == CauseInsufficientGPU && terminating != "" {
				f.Fatal = false
				f.Message += " (pod " + terminating + " of this release is terminating and will free its GPUs)"
			}
			out = append(out, f)
		}
	}
	if c := deploymentCondition(in.Deployment, appsv1.DeploymentProgressing); c != nil && c.Reason == "ProgressDeadlineExceeded" && len(out) == 0 {
		out = append(out, Finding{
			Cause:   CauseProgressDeadline,
			Object:  "deployment/" + in.Release,
			Message: "the Deployment exceeded its progress deadline: " + c.Message,
			Fix:     fmt.Sprintf("see the pods: kubectl llama status %s; kubectl llama logs %s", in.Release, in.Release),
			Fatal:   true,
			Since:   c.LastUpdateTime.Time,
		})
	}
	out = dedupe(out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Fatal && !out[j].Fatal })
	return out
}

func dedupe(in []Finding) []Finding {
	seen := map[string]bool{}
	var out []Finding
	for _, f := range in {
		k := f.Cause + "\x00" + f.Message
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, f)
	}
	return out
}

// Spec is what the diagnosis needs to know about the serving container.
type Spec struct {
	Release     string
	Image       string
	ImageTag    string
	MaxModelLen string
	ModelID     string
	Accelerator string
	GPUCount    string
	SecretName  string
	SecretKey   string
	Tolerations []corev1.Toleration
}

// ServingSpec reads the serving container's image, flags and node selector
// from the Deployment's pod template.
func ServingSpec(d *appsv1.Deployment) Spec {
	var s Spec
	if d == nil {
		return s
	}
	tpl := d.Spec.Template.Spec
	s.Accelerator = tpl.NodeSelector["cloud.google.com/gke-accelerator"]
	if s.Accelerator == "" {
		s.Accelerator = d.Annotations[kube.AnnAccelerator]
	}
	s.ModelID = d.Annotations[kube.AnnModelID]
	s.GPUCount = d.Annotations[kube.AnnGPUCount]
	s.Tolerations = tpl.Tolerations
	c := servingContainer(tpl.Containers)
	if c == nil {
		return s
	}
	s.Image = c.Image
	s.ImageTag = imageTag(c.Image)
	args := append(append([]string(nil), c.Command...), c.Args...)
	s.MaxModelLen = flagValue(args, "--max-model-len")
	if m := flagValue(args, "--model"); m != "" && s.ModelID == "" {
		s.ModelID = m
	}
	if s.GPUCount == "" {
		if q, ok := c.Resources.Limits["nvidia.com/gpu"]; ok {
			s.GPUCount = q.String()
		}
	}
	for _, e := range c.Env {
		if (e.Name == "HUGGING_FACE_HUB_TOKEN" || e.Name == "HF_TOKEN") && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			s.SecretName = e.ValueFrom.SecretKeyRef.Name
			s.SecretKey = e.ValueFrom.SecretKeyRef.Key
		}
	}
	return s
}

func servingContainer(cs []corev1.Container) *corev1.Container {
	for i := range cs {
		if cs[i].Name == kube.ContainerName {
			return &cs[i]
		}
	}
	if len(cs) > 0 {
		return &cs[0]
	}
	return nil
}

func imageTag(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		return image[i+1:]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		return image[i+1:]
	}
	return "latest"
}

// flagValue finds --name=value or --name value (also with underscores, as
// vLLM's argparse accepts both).
func flagValue(args []string, name string) string {
	alt := strings.ReplaceAll(name, "-", "_")
	alt = "--" + strings.TrimPrefix(alt, "__")
	for i, a := range args {
		for _, n := range []string{name, alt} {
			if strings.HasPrefix(a, n+"=") {
				return strings.TrimPrefix(a, n+"=")
			}
			if a == n && i+1 < len(args) {
				return args[i+1]
			}
		}
	}
	return ""
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// podEvents returns the events about pod p, oldest first.
func podEvents(evs []corev1.Event, p *corev1.Pod) []corev1.Event {
	var out []corev1.Event
	for _, e := range evs {
		if e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == p.Name && (e.InvolvedObject.UID == "" || e.InvolvedObject.UID == p.UID) {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return EventTime(out[i]).Before(EventTime(out[j])) })
	return out
}

// EventTime is the last time an event was seen (series, last or event time).
func EventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	default:
		return e.FirstTimestamp.Time
	}
}

// eventFirst is when an event was first seen.
func eventFirst(e corev1.Event) time.Time {
	switch {
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	default:
		return e.LastTimestamp.Time
	}
}
