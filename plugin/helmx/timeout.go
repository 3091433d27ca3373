package helmx

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// ScheduleMargin is added to the startup probe's budget for node
// provisioning (Autopilot creates a GPU node on demand) and the vLLM image pull.
const ScheduleMargin = 15 * time.Minute

// FallbackTimeout is used when the chart renders no startup probe.
const FallbackTimeout = 45 * time.Minute

// StartupBudget returns how long the serving container may take to start
// before the kubelet kills it: initialDelaySeconds + periodSeconds x
// failureThreshold of its startupProbe (Kubernetes' defaults 10 s and 3 when unset).
func StartupBudget(d *appsv1.Deployment) (time.Duration, bool) {
	if d == nil {
		return 0, false
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		p := c.StartupProbe
		if p == nil {
			continue
		}
		period, threshold := p.PeriodSeconds, p.FailureThreshold
		if period == 0 {
			period = 10
		}
		if threshold == 0 {
			threshold = 3
		}
		return time.Duration(int64(p.InitialDelaySeconds)+int64(period)*int64(threshold)) * time.Second, true
	}
	return 0, false
}

// DefaultTimeout is the wait timeout for a rendered Deployment: its startup
// budget plus ScheduleMargin, or FallbackTimeout without a startup probe.
func DefaultTimeout(d *appsv1.Deployment) time.Duration {
	b, ok := StartupBudget(d)
	if !ok {
		return FallbackTimeout
	}
	return b + ScheduleMargin
}
