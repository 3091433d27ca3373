package podrunner

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Lookup reads Secrets and ConfigMaps (from informer listers in the runner,
// from maps in tests). A missing object returns a NotFound error.
type Lookup interface {
	Secret(namespace, name string) (*corev1.Secret, error)
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
}

// configError is what the kubelet reports as CreateContainerConfigError.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// ResolveEnv computes a container's environment like the kubelet
// (kubelet_pods.go makeEnvironmentVariables): envFrom first, then env, with
// $(VAR) references in values expanded against the variables defined so
// far. Missing, non-optional Secrets / ConfigMaps / keys return the kubelet's
// error text. Field and resource references get plausible values.
func ResolveEnv(pod *corev1.Pod, c *corev1.Container, look Lookup) ([]string, map[string]string, error) {
	env := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	ns := pod.Namespace
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			name, optional := from.ConfigMapRef.Name, from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional
			cm, err := look.ConfigMap(ns, name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, nil, lookupErr(err, "configmap", name)
			}
			for _, k := range sortedKeys(cm.Data) {
				set(from.Prefix+k, cm.Data[k])
			}
		case from.SecretRef != nil:
			name, optional := from.SecretRef.Name, from.SecretRef.Optional != nil && *from.SecretRef.Optional
			s, err := look.Secret(ns, name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, nil, lookupErr(err, "secret", name)
			}
			keys := make([]string, 0, len(s.Data))
			for k := range s.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				set(from.Prefix+k, string(s.Data[k]))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, Expand(e.Value, env))
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			optional := ref.Optional != nil && *ref.Optional
			s, err := look.Secret(ns, ref.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, nil, lookupErr(err, "secret", ref.Name)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, nil, &configError{fmt.Sprintf("couldn't find key %s in Secret %s/%s", ref.Key, ns, ref.Name)}
			}
			set(e.Name, string(v))
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			optional := ref.Optional != nil && *ref.Optional
			cm, err := look.ConfigMap(ns, ref.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, nil, lookupErr(err, "configmap", ref.Name)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, nil, &configError{fmt.Sprintf("couldn't find key %s in ConfigMap %s/%s", ref.Key, ns, ref.Name)}
			}
			set(e.Name, v)
		case vf.FieldRef != nil:
			set(e.Name, fieldRef(pod, vf.FieldRef.FieldPath))
		case vf.ResourceFieldRef != nil:
			set(e.Name, resourceRef(c, vf.ResourceFieldRef.Resource))
		}
	}
	list := make([]string, 0, len(order))
	for _, k := range order {
		list = append(list, k+"="+env[k])
	}
	return list, env, nil
}

func lookupErr(err error, kind, name string) error {
	if apierrors.IsNotFound(err) {
		return &configError{fmt.Sprintf("%s %q not found", kind, name)}
	}
	return err
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fieldRef(pod *corev1.Pod, path string) string {
	switch path {
	case "metadata.name":
		return pod.Name
	case "metadata.namespace":
		return pod.Namespace
	case "metadata.uid":
		return string(pod.UID)
	case "spec.nodeName":
		return pod.Spec.NodeName
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName
	case "status.podIP":
		return pod.Status.PodIP
	case "status.hostIP":
		return pod.Status.HostIP
	}
	if k, ok := strings.CutPrefix(path, "metadata.labels['"); ok {
		return pod.Labels[strings.TrimSuffix(k, "']")]
	}
	if k, ok := strings.CutPrefix(path, "metadata.annotations['"); ok {
		return pod.Annotations[strings.TrimSuffix(k, "']")]
	}
	return ""
}

func resourceRef(c *corev1.Container, res string) string {
	name, isLimit := strings.CutPrefix(res, "limits.")
	if !isLimit {
		name = strings.TrimPrefix(res, "requests.")
	}
	list := c.Resources.Requests
	if isLimit {
		list = c.Resources.Limits
	}
	if q, ok := list[corev1.ResourceName(name)]; ok {
		return fmt.Sprint(q.Value())
	}
	return ""
}

// Expand replaces $(VAR) with env[VAR] like Kubernetes does for env values,
// command and args: "$$" escapes "$", and an undefined $(VAR) stays as is.
// ${VAR} is NOT expanded (the seed's LD_LIBRARY_PATH=${LD_LIBRARY_PATH}:...
// stays literal in a real pod too).
func Expand(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += end + 2
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
