// Package deploy is the work behind `kubectl llama install` and `upgrade`:
// pre-flight checks, GKE mode, the Hugging Face token Secret, the Helm
// install or upgrade (the `helm upgrade --install` idiom), then the plugin's
// own readiness wait, and --atomic clean-up after a failed wait.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-llama/kubectl-llama/plugin/helmx"
	"github.com/kubectl-llama/kubectl-llama/plugin/hftoken"
	"github.com/kubectl-llama/kubectl-llama/plugin/preflight"
)

// Waiter waits for a release's Deployment to become ready, printing progress
// to out, and returns an error carrying the diagnosis (ready.Wait).
type Waiter func(ctx context.Context, cs kubernetes.Interface, namespace, release string, timeout time.Duration, out io.Writer, quiet bool) error

// Env is what a deployment talks to. Every field is required except Wait
// (needed only with Request.Wait).
type Env struct {
	Action    *action.Configuration
	Clientset kubernetes.Interface
	Target    preflight.Target
	Out       io.Writer // results and progress
	ErrOut    io.Writer // notes and warnings
	Wait      Waiter
}

// Request is one install or upgrade.
type Request struct {
	Release   string
	Namespace string
	Chart     *chart.Chart
	// Values are the user's values (-f, --set, the plugin's flags). gke.mode
	// set there counts as an explicit mode.
	Values map[string]interface{}
	// Upgrade: the release must exist (`kubectl llama upgrade`).
	Upgrade bool
	// InstallOrUpgrade: install, or upgrade when it exists (`install --upgrade`).
	InstallOrUpgrade bool
	// ReuseValues / ResetValues as helm's flags. With neither, an upgrade
	// keeps the release's user-supplied values and applies the new ones on top
	// (helm's --reset-then-reuse-values).
	ReuseValues     bool
	ResetValues     bool
	CreateNamespace bool
	Wait            bool
	// Timeout of the wait; 0 derives it from the rendered startup probe.
	Timeout       time.Duration
	Atomic        bool
	Quiet         bool
	SkipPreflight bool
	Token         hftoken.Token
	// HelmTimeout bounds Helm's own API operations (not the wait).
	HelmTimeout time.Duration
	// DryRun runs every check and renders with the values the install or
	// upgrade would use (the release's kept values included), then stops:
	// Result.Manifest holds the render, nothing in the cluster changes.
	DryRun bool
}

func (r Request) helmTimeout() time.Duration {
	if r.HelmTimeout == 0 {
		return 5 * time.Minute
	}
	return r.HelmTimeout
}

// Result is what happened.
type Result struct {
	Release  *release.Release
	Upgraded bool
	Timeout  time.Duration
	// Manifest is the rendered manifest of a DryRun.
	Manifest string
}

func (e Env) note(format string, a ...interface{}) {
	fmt.Fprintf(e.ErrOut, format+"\n", a...)
}

// notes holds pre-flight notes and warnings until every check has passed,
// so that a failed pre-flight prints only its one error line.
type notes []string

func (n *notes) add(format string, a ...interface{}) { *n = append(*n, fmt.Sprintf(format, a...)) }

func (n notes) flush(e Env) {
	for _, l := range n {
		fmt.Fprintln(e.ErrOut, l)
	}
}

// Run performs the request. Nothing in the cluster changes before every
// check has passed; errors are one line.
func Run(ctx context.Context, env Env, req Request) (*Result, error) {
	cs, ns, name := env.Clientset, req.Namespace, req.Release
	var pending notes
	if !req.SkipPreflight {
		if err := preflight.Reachable(ctx, cs, env.Target); err != nil {
			return nil, err
		}
	}
	if err := refuseTokenValue(req.Values); err != nil {
		return nil, err
	}

	// Existing release: install refuses, upgrade requires it.
	last, err := helmx.LastRelease(env.Action, name)
	if err != nil {
		return nil, fmt.Errorf("reading release %s in namespace %s: %s", name, ns, oneLine(err))
	}
	upgrade := last != nil && (req.Upgrade || req.InstallOrUpgrade)
	switch {
	case last != nil && !upgrade:
		return nil, fmt.Errorf("release %s already exists in namespace %s: use `kubectl llama upgrade %s` or `install --upgrade`", name, ns, name)
	case last == nil && req.Upgrade && !req.InstallOrUpgrade:
		return nil, fmt.Errorf("release %s not found in namespace %s: install it with `kubectl llama install MODEL %s`, or pass --install", name, ns, name)
	case last != nil && !helmx.IsOurChart(last):
		return nil, fmt.Errorf("release %s in namespace %s is chart %s, not vllm-llama: refusing to upgrade it", name, ns, last.Chart.Metadata.Name)
	}

	// The values the render will see.
	vals := copyMap(req.Values)
	renderChart := req.Chart
	if upgrade {
		vals, renderChart, err = upgradeValues(env.Action, name, req, vals)
		if err != nil {
			return nil, err
		}
	}
	if helmx.String(vals, helmx.ValMode) == "" {
		if upgrade {
			// Keep the release's mode unless the user changes it.
			if old, _ := helmx.Values(last); old != nil && helmx.String(old, helmx.ValMode) != "" {
				helmx.SetPath(vals, helmx.ValMode, helmx.String(old, helmx.ValMode))
				helmx.SetPath(req.Values, helmx.ValMode, helmx.String(old, helmx.ValMode))
			}
		}
	}
	if helmx.String(vals, helmx.ValMode) == "" {
		det := preflight.DetectMode(ctx, cs)
		pending.add("mode: %s; %s", det.Mode, det.How)
		helmx.SetPath(vals, helmx.ValMode, det.Mode)
		helmx.SetPath(req.Values, helmx.ValMode, det.Mode)
	}

	// Fit check: the chart's own, by rendering client-side.
	rendered, err := helmx.Render(renderChart, vals, helmx.RenderOptions{Release: name, Namespace: ns, IsUpgrade: upgrade})
	if err != nil {
		return nil, err
	}
	dep, err := helmx.Deployment(rendered.Manifest, name)
	if err != nil {
		return nil, err
	}
	coalesced, err := helmx.Coalesce(renderChart, vals)
	if err != nil {
		return nil, helmx.CleanError(err)
	}

	// Namespace.
	nsMissing := false
	if !req.SkipPreflight || req.CreateNamespace {
		nsMissing, err = preflight.Namespace(ctx, cs, ns, req.CreateNamespace)
		if err != nil {
			return nil, err
		}
	}

	// Hugging Face token.
	secret, key := helmx.HFSecret(coalesced)
	if req.Token.Empty() && !helmx.Bool(coalesced, helmx.ValHFOptional) {
		if nsMissing {
			return nil, hftoken.MissingError(secret, key, ns)
		}
		exists, hasKey, err := hftoken.Check(ctx, cs, ns, secret, key)
		switch {
		case apierrors.IsForbidden(err):
			pending.add("warning: no permission to read Secret %s in namespace %s: not checking that it holds the Hugging Face token", secret, ns)
		case err != nil:
			return nil, fmt.Errorf("checking Secret %s in namespace %s: %s", secret, ns, oneLine(err))
		case !exists:
			return nil, hftoken.MissingError(secret, key, ns)
		case !hasKey:
			return nil, fmt.Errorf("Secret %s in namespace %s has no key %s: export %s=... (or --hf-token-file / --hf-token-stdin) to set it, or pass --set hfToken.secretKey=KEY", secret, ns, key, hftoken.EnvVar)
		}
	}

	// GPU nodes (Standard mode only: Autopilot provisions them on demand).
	if !req.SkipPreflight && helmx.String(vals, helmx.ValMode) == helmx.ModeStandard && dep != nil {
		if acc, count := gpuRequest(dep); acc != "" && count > 0 {
			warn, _, err := preflight.GPUNodes(ctx, cs, acc, count)
			if err != nil {
				return nil, err
			}
			if warn != "" {
				pending.add("warning: %s", warn)
			}
		}
	}

	timeout := req.Timeout
	if timeout == 0 {
		timeout = helmx.DefaultTimeout(dep)
	}

	// Changes start here.
	pending.flush(env)
	if req.DryRun {
		return &Result{Upgraded: upgrade, Timeout: timeout, Manifest: rendered.Manifest}, nil
	}
	if nsMissing {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating namespace %s: %s", ns, oneLine(err))
		}
		env.note("namespace %s created", ns)
	}
	if !req.Token.Empty() {
		created, err := hftoken.Apply(ctx, cs, ns, secret, key, req.Token)
		if err != nil {
			return nil, err
		}
		verb := "updated"
		if created {
			verb = "created"
		}
		env.note("Secret %s %s with the Hugging Face token from %s", secret, verb, req.Token.Source())
	}

	helmTimeout := req.helmTimeout()
	var rel *release.Release
	if upgrade {
		u := action.NewUpgrade(env.Action)
		u.Namespace = ns
		u.ReuseValues = req.ReuseValues
		u.ResetValues = req.ResetValues
		u.ResetThenReuseValues = !req.ReuseValues && !req.ResetValues
		u.MaxHistory = 10
		u.Timeout = helmTimeout
		rel, err = u.RunWithContext(ctx, name, req.Chart, req.Values)
		if err != nil {
			return nil, atomicUndo(env, req, upgrade, last, fmt.Errorf("upgrade of %s failed: %s", name, req.Token.Redact(oneLine(helmx.CleanError(err)))))
		}
		fmt.Fprintf(env.Out, "release %s upgraded in namespace %s (revision %d)\n", name, ns, rel.Version)
	} else {
		in := action.NewInstall(env.Action)
		in.ReleaseName = name
		in.Namespace = ns
		in.Replace = helmx.Uninstalled(env.Action, name)
		in.Timeout = helmTimeout
		rel, err = in.RunWithContext(ctx, req.Chart, req.Values)
		if err != nil {
			return nil, atomicUndo(env, req, upgrade, last, fmt.Errorf("install of %s failed: %s", name, req.Token.Redact(oneLine(helmx.CleanError(err)))))
		}
		fmt.Fprintf(env.Out, "release %s installed in namespace %s (revision %d)\n", name, ns, rel.Version)
	}
	res := &Result{Release: rel, Upgraded: upgrade, Timeout: timeout}
	if !req.Wait {
		return res, nil
	}
	if env.Wait == nil {
		return res, errors.New("internal error: no waiter")
	}
	if !req.Quiet {
		if b, ok := helmx.StartupBudget(dep); ok && req.Timeout == 0 {
			fmt.Fprintf(env.Out, "waiting up to %s for %s to become ready (startup probe budget %s + %s for scheduling and image pull; --timeout to change)\n", timeout, name, b, helmx.ScheduleMargin)
		} else {
			fmt.Fprintf(env.Out, "waiting up to %s for %s to become ready\n", timeout, name)
		}
	}
	if werr := env.Wait(ctx, cs, ns, name, timeout, env.Out, req.Quiet); werr != nil {
		// The diagnosis is out (the waiter printed it); --atomic undoes.
		return res, atomicUndo(env, req, upgrade, last, werr)
	}
	return res, nil
}

// atomicUndo, with --atomic, undoes a failed install (uninstall, also of a
// release record Helm left as failed) or upgrade (rollback to the revision
// before it) and returns cause with what was done; without, cause as is.
func atomicUndo(env Env, req Request, upgrade bool, last *release.Release, cause error) error {
	if !req.Atomic {
		return cause
	}
	helmTimeout := req.helmTimeout()
	name := req.Release
	if upgrade {
		env.note("--atomic: rolling %s back to revision %d", name, last.Version)
		rb := action.NewRollback(env.Action)
		rb.Version = last.Version
		rb.Timeout = helmTimeout
		rb.MaxHistory = 10
		if err := rb.Run(name); err != nil {
			return fmt.Errorf("%v; --atomic rollback also failed: %s", cause, oneLine(err))
		}
		return fmt.Errorf("%v (rolled back to revision %d)", cause, last.Version)
	}
	if rel, err := helmx.LastRelease(env.Action, name); err != nil || rel == nil {
		return cause // Helm stopped before it recorded the release: nothing to undo
	}
	env.note("--atomic: uninstalling %s", name)
	un := action.NewUninstall(env.Action)
	un.Timeout = helmTimeout
	if _, err := un.Run(name); err != nil {
		return fmt.Errorf("%v; --atomic uninstall also failed: %s", cause, oneLine(err))
	}
	return fmt.Errorf("%v (release uninstalled)", cause)
}

// upgradeValues returns the values and chart an upgrade will render with,
// following helm's reuse rules (action.Upgrade.reuseValues).
func upgradeValues(cfg *action.Configuration, name string, req Request, newVals map[string]interface{}) (map[string]interface{}, *chart.Chart, error) {
	cur, err := cfg.Releases.Deployed(name)
	if err != nil {
		cur, err = cfg.Releases.Last(name)
		if err != nil {
			return nil, nil, fmt.Errorf("reading release %s: %s", name, oneLine(err))
		}
	}
	switch {
	case req.ResetValues:
		return newVals, req.Chart, nil
	case req.ReuseValues:
		oldVals, err := chartutil.CoalesceValues(cur.Chart, cur.Config)
		if err != nil {
			return nil, nil, fmt.Errorf("rebuilding the values of %s: %s", name, oneLine(err))
		}
		ch := *req.Chart
		ch.Values = oldVals
		return chartutil.CoalesceTables(newVals, copyMap(cur.Config)), &ch, nil
	default:
		return chartutil.CoalesceTables(newVals, copyMap(cur.Config)), req.Chart, nil
	}
}

// refuseTokenValue stops hfToken.value / hfToken.create: they would put the
// token into the Helm release record.
func refuseTokenValue(vals map[string]interface{}) error {
	if helmx.String(vals, helmx.ValHFValue) != "" || helmx.Bool(vals, helmx.ValHFCreate) {
		return fmt.Errorf("hfToken.create/hfToken.value would store the token in the Helm release record: pass it with $%s, --hf-token-file or --hf-token-stdin instead", hftoken.EnvVar)
	}
	return nil
}

// gpuRequest reads the accelerator and GPU count a rendered Deployment asks for.
func gpuRequest(d *appsv1.Deployment) (accelerator string, count int) {
	spec := d.Spec.Template.Spec
	accelerator = spec.NodeSelector[preflight.AcceleratorLabel]
	for _, c := range spec.Containers {
		if q, ok := c.Resources.Limits[preflight.GPUResource]; ok {
			count += int(q.Value())
		}
	}
	if count == 0 {
		if v, err := strconv.Atoi(d.Annotations["kubectl-llama.io/gpu-count"]); err == nil {
			count = v
		}
	}
	return accelerator, count
}

func copyMap(m map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(m))
	for k, v := range m {
		if t, ok := v.(map[string]interface{}); ok {
			out[k] = copyMap(t)
		} else {
			out[k] = v
		}
	}
	return out
}

func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return helmx.CleanError(err).Error()
}
