package diagnose

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
)

var (
	// Older schedulers name the taint ("untolerated taint {k: v}"), current
	// ones do not ("had untolerated taint(s)").
	reTaint       = regexp.MustCompile(`untolerated taint\(?s?\)?(?:\s*(\{[^}]*\}))?`)
	reInsufficent = regexp.MustCompile(`Insufficient ([a-zA-Z0-9./_-]+)`)
)

// replicaSetFindings reads ReplicaSet FailedCreate events and the
// Deployment's ReplicaFailure condition: pods that were never created, for
// instance refused by GKE Autopilot's admission (GKE Warden).
func replicaSetFindings(in Input) []Finding {
	var out []Finding
	current := map[string]bool{}
	for _, rs := range in.ReplicaSets {
		want := int32(1)
		if rs.Spec.Replicas != nil {
			want = *rs.Spec.Replicas
		}
		// A ReplicaSet that has all its pods has no pending creation error.
		if rs.Status.Replicas < want {
			current[rs.Name] = true
		}
	}
	for _, e := range in.Events {
		if e.InvolvedObject.Kind != "ReplicaSet" || e.Reason != "FailedCreate" || !current[e.InvolvedObject.Name] {
			continue
		}
		out = append(out, failedCreate("replicaset/"+e.InvolvedObject.Name, e.Message, eventFirst(e), in))
	}
	if c := deploymentCondition(in.Deployment, "ReplicaFailure"); c != nil && c.Status == corev1.ConditionTrue {
		out = append(out, failedCreate("deployment/"+in.Deployment.Name, c.Message, c.LastTransitionTime.Time, in))
	}
	return out
}

func failedCreate(obj, msg string, since time.Time, in Input) Finding {
	low := strings.ToLower(msg)
	if strings.Contains(low, "gke warden") || strings.Contains(low, "autogke") || strings.Contains(low, "autopilot") {
		spec := ServingSpec(in.Deployment)
		return Finding{
			Cause:   CauseAutopilotRejected,
			Object:  obj,
			Message: "GKE Autopilot refused the pod: " + trimMsg(msg),
			Fix: fmt.Sprintf("Autopilot only accepts GPU pods with an allowed accelerator/count and resource shape (asked: %s x %s): pick a GPU and count Autopilot offers for this model (kubectl llama models), or install into a Standard cluster with --set gke.mode=standard",
				orUnknown(spec.GPUCount), orUnknown(spec.Accelerator)),
			Fatal: true,
			Since: since,
		}
	}
	f := Finding{
		Cause:   CauseFailedCreate,
		Object:  obj,
		Message: "pods cannot be created: " + trimMsg(msg),
		Fatal:   true,
		Grace:   GraceFailedReuse,
		Since:   since,
	}
	switch {
	case strings.Contains(low, "exceeded quota"):
		f.Fix = "raise the namespace ResourceQuota (kubectl describe quota) or free resources in the namespace"
	case strings.Contains(low, "forbidden") || strings.Contains(low, "denied the request"):
		f.Fix = "an admission policy refused the pod spec: adjust the release values to satisfy it, or ask the cluster admin"
	default:
		f.Fix = fmt.Sprintf("see kubectl describe replicaset -l %s", kube.ReleaseSelector(in.Release))
	}
	return f
}

func podFindings(p *corev1.Pod, spec Spec, evs []corev1.Event, logs PodLogs) []Finding {
	obj := "pod/" + p.Name
	var out []Finding
	if f, ok := unschedulable(p, spec, evs); ok {
		out = append(out, f)
	}
	for _, cs := range p.Status.InitContainerStatuses {
		out = append(out, containerFindings(obj, p, cs, spec, evs, PodLogs{})...)
	}
	for _, cs := range p.Status.ContainerStatuses {
		l := PodLogs{}
		if cs.Name == kube.ContainerName || len(p.Status.ContainerStatuses) == 1 {
			l = logs
		}
		out = append(out, containerFindings(obj, p, cs, spec, evs, l)...)
	}
	return out
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func unschedulable(p *corev1.Pod, spec Spec, evs []corev1.Event) (Finding, bool) {
	c := podCondition(p, corev1.PodScheduled)
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable {
		return Finding{}, false
	}
	msg := c.Message
	f := Finding{
		Object: "pod/" + p.Name,
		Fatal:  true,
		Grace:  GraceScheduling,
		Since:  c.LastTransitionTime.Time,
	}
	acc := orUnknown(spec.Accelerator)
	gpus := orUnknown(spec.GPUCount)
	// Rendered for GKE Autopilot: the chart adds the GPU toleration in
	// Standard mode only.
	autopilot := !toleratesGPUTaint(spec.Tolerations)
	switch {
	case strings.Contains(msg, "Insufficient nvidia.com/gpu"):
		f.Cause = CauseInsufficientGPU
		f.Message = fmt.Sprintf("no node has %s free %s GPUs: %s", gpus, acc, msg)
		f.Fix = fmt.Sprintf("free GPUs on the %s nodes (kubectl llama list -A shows other releases), add a node with %s GPUs (or let the node pool autoscale), or install with a --gpu-count the nodes have free", acc, gpus)
	case reTaint.MatchString(msg):
		taint := reTaint.FindStringSubmatch(msg)[1]
		f.Cause = CauseUntoleratedTaint
		if taint != "" {
			f.Message = fmt.Sprintf("the GPU nodes carry taint %s that the pod does not tolerate: %s", taint, msg)
		} else {
			f.Message = "a node carries a taint the pod does not tolerate: " + msg
		}
		switch {
		case strings.Contains(taint, "nvidia.com/gpu") || (taint == "" && autopilot):
			f.Fix = fmt.Sprintf("on GKE Standard the GPU nodes are tainted nvidia.com/gpu=present:NoSchedule and the release was made for Autopilot: kubectl llama upgrade %s --mode standard (helm: --set gke.mode=standard) adds the toleration", orUnknown(spec.Release))
		case taint == "":
			f.Fix = "see the GPU nodes' taints (kubectl describe nodes -l cloud.google.com/gke-accelerator) and add a toleration for them to the release (tolerations value, -f values.yaml)"
		default:
			f.Fix = fmt.Sprintf("add a toleration for %s to the release (tolerations value, -f values.yaml) or remove the taint from the GPU nodes", taint)
		}
	case strings.Contains(msg, "didn't match Pod's node affinity/selector") || strings.Contains(msg, "node(s) didn't match node selector"):
		f.Cause = CauseNoAcceleratorNode
		f.Message = fmt.Sprintf("no node has the accelerator label cloud.google.com/gke-accelerator=%s: %s", acc, msg)
		f.Fix = fmt.Sprintf("create a GPU node pool with accelerator %s (count %s per node), or install with a --gpu the cluster has (kubectl get nodes -L cloud.google.com/gke-accelerator)", acc, gpus)
		if autopilot {
			// Rendered for GKE Autopilot, which creates GPU nodes on demand.
			f.Fix = fmt.Sprintf("on GKE Autopilot the node is created on demand: check the project's GPU quota for %s x %s in the cluster's region and that its zones offer %s; on a Standard cluster, create a node pool with that accelerator and upgrade with --mode standard", gpus, acc, acc)
		}
	case strings.Contains(msg, "unbound immediate PersistentVolumeClaims") || strings.Contains(msg, "persistentvolumeclaim"):
		f.Cause = CauseUnschedulable
		f.Message = "the pod waits for a PersistentVolumeClaim: " + msg
		f.Fix = "check the cache volume claim (kubectl get pvc) and its StorageClass, or use --set cache.type=emptyDir"
	default:
		f.Cause = CauseUnschedulable
		f.Message = "no node can run the pod: " + msg
		res := []string{}
		for _, m := range reInsufficent.FindAllStringSubmatch(msg, -1) {
			res = append(res, m[1])
		}
		if len(res) > 0 {
			f.Fix = fmt.Sprintf("the GPU nodes lack %s for the pod's requests: use the machine type the preset expects for %s x %s (kubectl llama models), or lower the requests", strings.Join(res, ", "), gpus, acc)
		} else {
			f.Fix = "see kubectl describe pod " + p.Name
		}
	}
	if autopilot && f.Cause != CauseUntoleratedTaint {
		// Autopilot creates nodes on demand: give them time. (A taint is
		// configuration: no node comes without it.)
		f.Grace = GraceAutoprovision
	}
	// The cluster autoscaler (and GKE node auto-provisioning) is adding a
	// node: this heals by itself.
	var scaleUp, noScaleUp *corev1.Event
	for i := range evs {
		switch evs[i].Reason {
		case "TriggeredScaleUp":
			scaleUp = &evs[i]
		case "NotTriggerScaleUp", "FailedScaleUp":
			noScaleUp = &evs[i]
		}
	}
	switch {
	case scaleUp != nil && (noScaleUp == nil || !EventTime(*noScaleUp).After(EventTime(*scaleUp))):
		f.Fatal = false
		f.Message += " (the cluster autoscaler is adding a node: " + trimMsg(scaleUp.Message) + ")"
	case noScaleUp != nil:
		f.Message += " (the cluster autoscaler cannot add one: " + trimMsg(noScaleUp.Message) + ")"
		if !autopilot {
			// The autoscaler has answered: no node will come, nothing to wait for.
			f.Grace = GraceNone
		}
	}
	return f, true
}

func containerFindings(obj string, p *corev1.Pod, cs corev1.ContainerStatus, spec Spec, evs []corev1.Event, logs PodLogs) []Finding {
	var out []Finding
	if w := cs.State.Waiting; w != nil {
		switch w.Reason {
		case "ErrImagePull", "ImagePullBackOff":
			out = append(out, imagePull(obj, cs, w, evs))
		case "InvalidImageName":
			out = append(out, Finding{
				Cause:   CauseInvalidImage,
				Object:  obj,
				Message: fmt.Sprintf("image %q is not a valid image reference: %s", cs.Image, w.Message),
				Fix:     "set a valid image with --set image.repository=REPO and --image-tag TAG",
				Fatal:   true,
			})
		case "CreateContainerConfigError":
			out = append(out, containerConfig(obj, w, spec, evs))
		}
	}
	// Log signatures: a known vLLM error explains a crash better than an exit code.
	if f, ok := logFinding(obj, spec, logs); ok {
		f.Fatal = f.Fatal && (cs.RestartCount > 0 || cs.State.Terminated != nil || waitingCrash(cs) || cs.LastTerminationState.Terminated != nil)
		out = append(out, f)
		return out
	}
	term := cs.State.Terminated
	if term == nil {
		term = cs.LastTerminationState.Terminated
	}
	if f, ok := startupProbe(obj, p, cs, evs); ok {
		out = append(out, f)
		return out
	}
	if term != nil && (term.Reason == "OOMKilled" || (term.ExitCode == 137 && term.Reason != "Completed" && term.Reason != "Error")) {
		out = append(out, Finding{
			Cause:   CauseOOMKilled,
			Object:  obj,
			Message: fmt.Sprintf("container %s was killed for exceeding its memory limit (%s, exit code %d, %d restarts); this is host memory, not GPU memory", cs.Name, memLimit(p, cs.Name), term.ExitCode, cs.RestartCount),
			Fix:     "give the pod more memory (the preset's machine shape: kubectl llama models) or lower the load (--swap-space, --max-num-seqs); on Autopilot request the shape the GPU class allows",
			Fatal:   cs.RestartCount >= 1 || term.Reason == "OOMKilled",
			Since:   term.FinishedAt.Time,
			Logs:    tail(last(logs), 10),
		})
		return out
	}
	if waitingCrash(cs) {
		code := int32(0)
		reason := ""
		if term != nil {
			code, reason = term.ExitCode, term.Reason
		}
		out = append(out, Finding{
			Cause:   CauseCrashLoop,
			Object:  obj,
			Message: fmt.Sprintf("container %s keeps crashing (exit code %d %s, %d restarts)", cs.Name, code, reason, cs.RestartCount),
			Fix:     fmt.Sprintf("read the log: kubectl llama logs %s --previous", strings.TrimSuffix(releaseOf(p), "-")),
			Fatal:   cs.RestartCount >= 3,
			Logs:    tail(last(logs), 10),
		})
	}
	return out
}

func releaseOf(p *corev1.Pod) string {
	if r := p.Labels[kube.LabelInstance]; r != "" {
		return r
	}
	return p.Name
}

func waitingCrash(cs corev1.ContainerStatus) bool {
	return cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff"
}

func last(l PodLogs) []string {
	if len(l.Previous) > 0 {
		return l.Previous
	}
	return l.Current
}

func memLimit(p *corev1.Pod, name string) string {
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
				return "limit " + q.String()
			}
		}
	}
	return "no limit set"
}

func imagePull(obj string, cs corev1.ContainerStatus, w *corev1.ContainerStateWaiting, evs []corev1.Event) Finding {
	msg := w.Message
	var since time.Time
	for _, e := range evs {
		if e.Reason == "Failed" && strings.Contains(e.Message, "pull") {
			if since.IsZero() {
				since = eventFirst(e)
			}
			if msg == "" || strings.HasPrefix(msg, "Back-off pulling image") {
				msg = e.Message
			}
		}
	}
	low := strings.ToLower(msg)
	permanent := false
	for _, s := range []string{"not found", "manifest unknown", "repository does not exist", "pull access denied", "unauthorized", "403 forbidden", "denied", "invalid reference"} {
		if strings.Contains(low, s) {
			permanent = true
		}
	}
	f := Finding{
		Cause:   CauseImagePull,
		Object:  obj,
		Message: fmt.Sprintf("image %s cannot be pulled: %s", cs.Image, orUnknown(trimMsg(msg))),
		Fatal:   true,
		Grace:   GraceImagePull,
		Since:   since,
	}
	if permanent {
		f.Grace = GraceNone
		f.Fix = fmt.Sprintf("the image or tag %q does not exist or is private: set an existing vLLM image with --image-tag TAG (or leave it empty for the chart's tested default)", imageTag(cs.Image))
	} else {
		f.Fix = "check that the nodes reach the image registry (egress, proxy) and that the tag exists; the kubelet keeps retrying"
	}
	return f
}

func containerConfig(obj string, w *corev1.ContainerStateWaiting, spec Spec, evs []corev1.Event) Finding {
	msg := w.Message
	var since time.Time
	for _, e := range evs {
		if e.Reason == "Failed" && strings.Contains(e.Message, "Error:") {
			since = eventFirst(e)
			if msg == "" {
				msg = strings.TrimPrefix(e.Message, "Error: ")
			}
			break
		}
	}
	f := Finding{
		Cause:   CauseContainerConfig,
		Object:  obj,
		Message: "the container cannot be configured: " + msg,
		Fix:     "fix the referenced Secret or ConfigMap (kubectl describe pod)",
		Fatal:   true,
		Grace:   GraceSecret,
		Since:   since,
	}
	secret := spec.SecretName
	if secret == "" {
		secret = "hf-secret"
	}
	key := spec.SecretKey
	if key == "" {
		key = "hf_api_token"
	}
	if strings.Contains(msg, `secret "`+secret+`" not found`) || strings.Contains(msg, "in Secret") && strings.Contains(msg, "/"+secret) {
		f.Cause = CauseSecretMissing
		if strings.Contains(msg, "couldn't find key") {
			f.Message = fmt.Sprintf("the Hugging Face token Secret %q has no key %q: %s", secret, key, msg)
		} else {
			f.Message = fmt.Sprintf("the Hugging Face token Secret %q does not exist: %s", secret, msg)
		}
		f.Fix = fmt.Sprintf("export HF_TOKEN (a Hugging Face token with access to the Llama 4 repo) and run kubectl llama upgrade %s (kubectl llama install for a new release): it recreates the Secret", orDefault(spec.Release, "RELEASE"))
	}
	return f
}

// startupProbe reports a container the kubelet restarted because its
// startup probe kept failing: the model did not load within the probe's budget.
func startupProbe(obj string, p *corev1.Pod, cs corev1.ContainerStatus, evs []corev1.Event) (Finding, bool) {
	kills := int32(0)
	var since time.Time
	var lastUnhealthy string
	for _, e := range evs {
		if e.Reason == "Killing" && strings.Contains(e.Message, "failed startup probe") {
			kills += max(e.Count, 1)
			if since.IsZero() {
				since = eventFirst(e)
			}
		}
		if e.Reason == "Unhealthy" && strings.HasPrefix(e.Message, "Startup probe failed") {
			lastUnhealthy = e.Message
		}
	}
	if kills == 0 {
		return Finding{}, false
	}
	budget := "its budget"
	for _, c := range p.Spec.Containers {
		if c.Name == cs.Name && c.StartupProbe != nil {
			pr := c.StartupProbe
			period, th := max(pr.PeriodSeconds, 10), max(pr.FailureThreshold, 3)
			budget = fmt.Sprintf("%s (failureThreshold %d x periodSeconds %d)", (time.Duration(pr.InitialDelaySeconds+period*th) * time.Second).String(), th, period)
		}
	}
	msg := fmt.Sprintf("the model did not finish loading within the startup probe's %s; the container was restarted %d time(s)", budget, kills)
	if lastUnhealthy != "" {
		msg += " (" + lastUnhealthy + ")"
	}
	return Finding{
		Cause:   CauseStartupProbe,
		Object:  obj,
		Message: msg,
		Fix:     "downloading and loading the weights takes longer than the probe allows: raise the budget (--set probes.startup.failureThreshold=N, or model.weightsGB for a custom model) or keep the weights across restarts (--set cache.type=pvc)",
		Fatal:   kills >= 2,
		Since:   since,
	}, true
}

func trimMsg(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\n", " "))
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

func tail(lines []string, n int) []string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return append([]string(nil), lines...)
}

// toleratesGPUTaint: the pod tolerates GKE's nvidia.com/gpu=present:NoSchedule.
func toleratesGPUTaint(ts []corev1.Toleration) bool {
	for _, t := range ts {
		keyOK := t.Key == "nvidia.com/gpu" || (t.Key == "" && t.Operator == corev1.TolerationOpExists)
		valueOK := t.Operator == corev1.TolerationOpExists || t.Value == "present"
		effectOK := t.Effect == "" || t.Effect == corev1.TaintEffectNoSchedule
		if keyOK && valueOK && effectOK {
			return true
		}
	}
	return false
}
