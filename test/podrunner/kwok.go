package podrunner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	portForwardGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "portforwards"}
	logsGVR        = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}
	everything     = labels.Everything()
)

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// kwokObjects returns the namespaced kwok PortForward and Logs named after
// the pod: every port of a vllmstub container (its declared container ports
// and vLLM's --port) forwards to the stub's loopback port, and every started
// container's logs come from its current (and previous) CRI log file.
func (r *Runner) kwokObjects(pod *corev1.Pod, st *podState) (pf, lg *unstructured.Unstructured) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var forwards, logs []any
	for _, name := range st.order {
		c := st.ctrs[name]
		if c.kind == runStub && c.port != 0 {
			ports := map[int64]bool{int64(c.vllmPort): true}
			for _, p := range c.spec.Ports {
				ports[int64(p.ContainerPort)] = true
			}
			var list []int64
			for p := range ports {
				if p > 0 {
					list = append(list, p)
				}
			}
			sort.Slice(list, func(i, j int) bool { return list[i] < list[j] })
			anyList := make([]any, len(list))
			for i, p := range list {
				anyList[i] = p
			}
			forwards = append(forwards, map[string]any{"ports": anyList, "target": map[string]any{"address": "127.0.0.1", "port": int64(c.port)}})
		}
		if c.logFile != "" {
			l := map[string]any{"containers": []any{c.name}, "logsFile": c.logFile}
			if c.prevLogFile != "" {
				l["previousLogsFile"] = c.prevLogFile
			}
			logs = append(logs, l)
		}
	}
	owner := []any{map[string]any{"apiVersion": "v1", "kind": "Pod", "name": pod.Name, "uid": string(pod.UID)}}
	meta := func() map[string]any {
		return map[string]any{"name": pod.Name, "namespace": pod.Namespace, "ownerReferences": owner,
			"labels": map[string]any{"app.kubernetes.io/managed-by": "podrunner"}}
	}
	if len(forwards) > 0 {
		pf = &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "PortForward",
			"metadata": meta(), "spec": map[string]any{"forwards": forwards}}}
	}
	if len(logs) > 0 {
		lg = &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs",
			"metadata": meta(), "spec": map[string]any{"logs": logs}}}
	}
	return pf, lg
}

// ensureCRs creates or updates the pod's PortForward and Logs.
func (r *Runner) ensureCRs(ctx context.Context, pod *corev1.Pod, st *podState) error {
	if r.dyn == nil {
		return nil
	}
	pf, lg := r.kwokObjects(pod, st)
	sig, _ := json.Marshal([]any{pf, lg})
	if string(sig) == st.lastCRs {
		return nil
	}
	for _, o := range []struct {
		gvr schema.GroupVersionResource
		obj *unstructured.Unstructured
	}{{portForwardGVR, pf}, {logsGVR, lg}} {
		if o.obj == nil {
			continue
		}
		cl := r.dyn.Resource(o.gvr).Namespace(pod.Namespace)
		cur, err := cl.Get(ctx, pod.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = cl.Create(ctx, o.obj, metav1.CreateOptions{})
		case err == nil:
			o.obj.SetResourceVersion(cur.GetResourceVersion())
			_, err = cl.Update(ctx, o.obj, metav1.UpdateOptions{})
		}
		if err != nil {
			return err
		}
	}
	st.lastCRs = string(sig)
	return nil
}

// deleteCRs removes the pod's PortForward and Logs (the garbage collector
// would also, through their owner reference).
func (r *Runner) deleteCRs(ctx context.Context, ns, name string) {
	if r.dyn == nil {
		return
	}
	for _, gvr := range []schema.GroupVersionResource{portForwardGVR, logsGVR} {
		err := r.dyn.Resource(gvr).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			r.logf("%s/%s: delete %s: %v", ns, name, gvr.Resource, err)
		}
	}
}
