// Package preflight holds the checks install and upgrade run before they
// change anything: the cluster answers, the namespace exists, GKE's mode,
// and whether Standard node pools carry the GPUs a model asks for. Each
// failure is one line that says what is wrong and how to fix it.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Target names the cluster a command talks to, for messages.
type Target struct {
	Context string // kubeconfig context ("" when none)
	Server  string // API server URL
}

func (t Target) String() string {
	ctx := t.Context
	if ctx == "" {
		ctx = "(none)"
	}
	return fmt.Sprintf("context %q (server %s)", ctx, t.Server)
}

// ReachTimeout bounds the reachability probe.
const ReachTimeout = 10 * time.Second

// Reachable asks the API server for its version within ReachTimeout.
func Reachable(ctx context.Context, cs kubernetes.Interface, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, ReachTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// Discovery has no context parameter; the rest client's timeout and
		// this select bound it.
		_, err := cs.Discovery().ServerVersion()
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		return nil
	}
	why, ok := apiCause(t, err)
	if !ok {
		why = reason(err) // the probe's own timeout, or an error without the URL
	}
	return fmt.Errorf("%s (--skip-preflight skips this check)", unreachable(t, why))
}

func unreachable(t Target, why string) string {
	return fmt.Sprintf("cannot reach the cluster of %s: %s; check `kubectl --context %s cluster-info`, or pass --context/--kubeconfig", t, why, quoteCtx(t.Context))
}

// Unreachable turns an error of any command that failed to talk to the API
// server of t (no answer, TLS, credentials: an exec plugin such as
// gke-gcloud-auth-plugin missing or failing, or rejected) into the one line
// Reachable gives, with the fix. Other errors, including those of a model
// server behind a port-forward, come back as they are.
func Unreachable(t Target, err error) error {
	if err == nil || strings.Contains(err.Error(), "cannot reach the cluster") {
		return err
	}
	if why, ok := apiCause(t, err); ok {
		return errors.New(unreachable(t, why))
	}
	return err
}

// apiCause says why err is a failure to talk to the API server of t, and
// whether it is one.
func apiCause(t Target, err error) (string, bool) {
	msg := err.Error()
	if i := strings.Index(msg, "getting credentials: "); i >= 0 {
		return credentialsReason(msg[i:]), true
	}
	if apierrors.IsUnauthorized(err) || strings.Contains(msg, "the server has asked for the client to provide credentials") {
		return "credentials rejected (Unauthorized)", true
	}
	server := strings.TrimRight(t.Server, "/")
	if server == "" {
		return "", false
	}
	// client-go's transport errors quote the request URL: Get "SERVER/...": cause.
	i := strings.Index(msg, `"`+server+`/`)
	if i < 0 {
		i = strings.Index(msg, `"`+server+`"`)
	}
	if i < 0 {
		return "", false
	}
	rest := msg[i+1:]
	j := strings.Index(rest, `": `)
	if j < 0 {
		return "", false
	}
	return reason(errors.New(rest[j+3:])), true
}

// credentialBoilerplate is what client-go says around a missing credential
// plugin, besides the plugin's name and its install hint.
var credentialBoilerplate = regexp.MustCompile(`\s*It looks like you are trying to use a client-go credential plugin that is not installed\.\s*To learn more about this feature, consult the documentation available at:\s*\S+\s*`)

// credentialsReason is a credential plugin error on one line: the plugin's
// name and what went wrong, then its install hint, without client-go's
// boilerplate (the error may already have been flattened to one line).
func credentialsReason(msg string) string {
	why := strings.Join(strings.Fields(credentialBoilerplate.ReplaceAllString(msg, "; ")), " ")
	why = strings.TrimSuffix(why, ";")
	if strings.Contains(why, "failed with exit code") {
		why += " (its own message is above)"
	}
	return why
}

func quoteCtx(c string) string {
	if c == "" {
		return "NAME"
	}
	return c
}

// reason shortens a transport error to its cause.
func reason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", ReachTimeout)
	}
	msg := err.Error()
	for _, cause := range []string{"connection refused", "no such host", "i/o timeout", "certificate", "network is unreachable"} {
		if strings.Contains(msg, cause) {
			if cause == "certificate" {
				return "TLS: " + lastPart(msg)
			}
			return cause
		}
	}
	return lastPart(msg)
}

func lastPart(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg)-i > 12 {
		return msg[i+2:]
	}
	return msg
}

// Namespace checks that namespace exists. With create set a missing
// namespace is fine (it will be created) and created reports that.
func Namespace(ctx context.Context, cs kubernetes.Interface, namespace string, create bool) (missing bool, err error) {
	_, err = cs.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		return false, nil
	case apierrors.IsNotFound(err):
		if create {
			return true, nil
		}
		return true, fmt.Errorf("namespace %s does not exist: create it with `kubectl create namespace %s`, or pass --create-namespace", namespace, namespace)
	case apierrors.IsForbidden(err):
		// Namespace-scoped users cannot read Namespace objects; the
		// namespace then exists as far as we can tell.
		return false, nil
	default:
		return false, fmt.Errorf("checking namespace %s: %s", namespace, lastPart(err.Error()))
	}
}

// Mode detection signals (GKE).
const (
	AutopilotWebhook = "sasecret-redacter.config.common-webhooks.networking.gke.io"
	NodePoolLabel    = "cloud.google.com/gke-nodepool"
	AcceleratorLabel = "cloud.google.com/gke-accelerator"
	GPUResource      = corev1.ResourceName("nvidia.com/gpu")
)

// Detection is the outcome of DetectMode.
type Detection struct {
	Mode string // autopilot or standard
	How  string // one sentence for the user
}

// DetectMode tells GKE Autopilot from Standard: Autopilot has the
// MutatingWebhookConfiguration AutopilotWebhook or nodes named gk3-*;
// Standard has nodes in gke-* node pools. Anything else is not GKE
// (standard, with a note). Without the rights to look, autopilot is assumed
// and How says so.
func DetectMode(ctx context.Context, cs kubernetes.Interface) Detection {
	_, whErr := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, AutopilotWebhook, metav1.GetOptions{})
	if whErr == nil {
		return Detection{"autopilot", fmt.Sprintf("GKE Autopilot detected (MutatingWebhookConfiguration %s exists)", AutopilotWebhook)}
	}
	nodes, nodeErr := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if nodeErr == nil {
		for _, n := range nodes.Items {
			if strings.HasPrefix(n.Name, "gk3-") {
				return Detection{"autopilot", fmt.Sprintf("GKE Autopilot detected (node %s is an Autopilot node)", n.Name)}
			}
		}
		for _, n := range nodes.Items {
			if strings.HasPrefix(n.Name, "gke-") && n.Labels[NodePoolLabel] != "" {
				return Detection{"standard", fmt.Sprintf("GKE Standard detected (node %s is in node pool %s)", n.Name, n.Labels[NodePoolLabel])}
			}
		}
	}
	whForbidden := whErr != nil && !apierrors.IsNotFound(whErr)
	if whForbidden && nodeErr != nil {
		return Detection{"autopilot", "could not detect the GKE mode (no permission to read MutatingWebhookConfigurations or Nodes): assuming autopilot; pass --mode standard for a Standard cluster"}
	}
	if nodeErr != nil {
		return Detection{"autopilot", "could not detect the GKE mode (no permission to list Nodes): assuming autopilot; pass --mode standard for a Standard cluster"}
	}
	return Detection{"standard", "no GKE signals found (not a GKE cluster?): using standard mode, which adds the nvidia.com/gpu toleration; pass --mode to override"}
}

// GPUNodes checks, for Standard mode, that at least one node carries the
// accelerator label with count allocatable nvidia.com/gpu. It returns a
// warning ("" when fine) and skipped=true when it could not list nodes.
func GPUNodes(ctx context.Context, cs kubernetes.Interface, accelerator string, count int) (warning string, skipped bool, err error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return fmt.Sprintf("no permission to list Nodes: skipping the check for %s nodes with %d GPUs", accelerator, count), true, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("listing nodes: %s", lastPart(err.Error()))
	}
	type pool struct {
		accel string
		max   int64
	}
	pools := map[string]*pool{}
	var bestMatch int64 = -1
	for _, n := range nodes.Items {
		acc := n.Labels[AcceleratorLabel]
		gpus := allocatable(n)
		name := n.Labels[NodePoolLabel]
		if name == "" {
			name = n.Name
		}
		if acc != "" {
			p := pools[name]
			if p == nil {
				p = &pool{accel: acc}
				pools[name] = p
			}
			if gpus > p.max {
				p.max = gpus
			}
		}
		if acc == accelerator {
			if gpus >= int64(count) {
				return "", false, nil
			}
			if gpus > bestMatch {
				bestMatch = gpus
			}
		}
	}
	if bestMatch >= 0 {
		return fmt.Sprintf("no node with %s has %d allocatable nvidia.com/gpu (at most %d): the pod will stay Pending; resize the node pool's machine type or lower --gpu-count", accelerator, count, bestMatch), false, nil
	}
	if len(pools) == 0 {
		return fmt.Sprintf("no GPU nodes found (no node has label %s): create a node pool with %s x %d, or the pod will stay Pending", AcceleratorLabel, accelerator, count), false, nil
	}
	names := make([]string, 0, len(pools))
	for n := range pools {
		names = append(names, n)
	}
	sort.Strings(names)
	found := make([]string, 0, len(names))
	for _, n := range names {
		found = append(found, fmt.Sprintf("%s (%s x %d)", n, pools[n].accel, pools[n].max))
	}
	return fmt.Sprintf("no node with accelerator %s: found %s; pick a matching --gpu or add a %s node pool, or the pod will stay Pending", accelerator, strings.Join(found, ", "), accelerator), false, nil
}

func allocatable(n corev1.Node) int64 {
	q, ok := n.Status.Allocatable[GPUResource]
	if !ok {
		return 0
	}
	return q.Value()
}
