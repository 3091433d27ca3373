package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Node pool modes.
const (
	ModeStandard  = "standard"
	ModeAutopilot = "autopilot"
)

// Labels, annotations and resources the simulated nodes carry.
const (
	LabelAccelerator  = "cloud.google.com/gke-accelerator"
	LabelNodePool     = "cloud.google.com/gke-nodepool"
	LabelInstanceType = "node.kubernetes.io/instance-type"
	LabelMode         = "llama-cluster.test/mode" // standard|autopilot; test-only
	ResourceGPU       = corev1.ResourceName("nvidia.com/gpu")
	// KwokAnnotation marks the nodes kwok manages (see kwokConfig).
	KwokAnnotation = "kwok.x-k8s.io/node"
	// ClusterName appears in node names: gke-<ClusterName>-<pool>-<hash>-<id>.
	ClusterName = "llama"
)

// Pool is one simulated GKE node pool.
type Pool struct {
	Key              string `json:"-"`
	Name             string `json:"name"`
	Count            int    `json:"count"`
	MachineType      string `json:"machineType"`
	Accelerator      string `json:"accelerator,omitempty"`
	GPUs             int    `json:"gpus,omitempty"`
	CPU              string `json:"cpu"`
	Memory           string `json:"memory"`
	EphemeralStorage string `json:"ephemeralStorage"`
	Mode             string `json:"mode"`
}

// NodePools is the parsed nodepools.yaml.
type NodePools struct {
	Pools    map[string]Pool     `json:"pools"`
	Profiles map[string][]string `json:"profiles"`
}

// ParseNodePools parses and validates a nodepools.yaml document.
func ParseNodePools(data []byte) (*NodePools, error) {
	var np NodePools
	if err := yaml.Unmarshal(data, &np); err != nil {
		return nil, fmt.Errorf("node pools: %w", err)
	}
	if len(np.Profiles) == 0 {
		return nil, fmt.Errorf("node pools: no profiles")
	}
	for key, p := range np.Pools {
		p.Key = key
		np.Pools[key] = p
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("node pools: pool %q: %w", key, err)
		}
	}
	for name, keys := range np.Profiles {
		if len(keys) == 0 {
			return nil, fmt.Errorf("node pools: profile %q has no pools", name)
		}
		for _, k := range keys {
			if _, ok := np.Pools[k]; !ok {
				return nil, fmt.Errorf("node pools: profile %q names unknown pool %q", name, k)
			}
		}
	}
	return &np, nil
}

func (p Pool) validate() error {
	if p.Name == "" || p.MachineType == "" {
		return fmt.Errorf("name and machineType are required")
	}
	if p.Count < 1 {
		return fmt.Errorf("count must be at least 1")
	}
	if p.Mode != ModeStandard && p.Mode != ModeAutopilot {
		return fmt.Errorf("mode must be %s or %s, not %q", ModeStandard, ModeAutopilot, p.Mode)
	}
	if (p.GPUs > 0) != (p.Accelerator != "") {
		return fmt.Errorf("accelerator and gpus go together")
	}
	for field, q := range map[string]string{"cpu": p.CPU, "memory": p.Memory, "ephemeralStorage": p.EphemeralStorage} {
		if _, err := resource.ParseQuantity(q); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	}
	return nil
}

// ProfileNames lists the profiles, sorted.
func (np *NodePools) ProfileNames() []string {
	names := make([]string, 0, len(np.Profiles))
	for n := range np.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Profile returns the pools of a profile.
func (np *NodePools) Profile(name string) ([]Pool, error) {
	keys, ok := np.Profiles[name]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q (have: %s)", name, strings.Join(np.ProfileNames(), ", "))
	}
	return np.PoolsByKey(keys...)
}

// PoolsByKey returns the named pools.
func (np *NodePools) PoolsByKey(keys ...string) ([]Pool, error) {
	var pools []Pool
	for _, k := range keys {
		p, ok := np.Pools[k]
		if !ok {
			return nil, fmt.Errorf("unknown node pool %q", k)
		}
		pools = append(pools, p)
	}
	return pools, nil
}

// NodeName is the deterministic name of node i of the pool, shaped like GKE's
// gke-<cluster>-<pool>-<hash>-<id> (Autopilot: gk3-...).
func (p Pool) NodeName(i int) string {
	prefix := "gke"
	if p.Mode == ModeAutopilot {
		prefix = "gk3"
	}
	h := sha256.Sum256([]byte(p.Mode + "/" + p.Name + "/" + p.MachineType))
	id := sha256.Sum256(fmt.Appendf(nil, "%s/%d", p.Name, i))
	return fmt.Sprintf("%s-%s-%s-%s-%s", prefix, ClusterName, p.Name, hex.EncodeToString(h[:4]), hex.EncodeToString(id[:2]))
}

// Nodes returns the Node objects of the pool, with the capacity kwok keeps
// and the labels and taints GKE puts on such nodes.
func (p Pool) Nodes() []*corev1.Node {
	res := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(p.CPU),
		corev1.ResourceMemory:           resource.MustParse(p.Memory),
		corev1.ResourceEphemeralStorage: resource.MustParse(p.EphemeralStorage),
		corev1.ResourcePods:             resource.MustParse("110"),
	}
	if p.GPUs > 0 {
		res[ResourceGPU] = *resource.NewQuantity(int64(p.GPUs), resource.DecimalSI)
	}
	family, _, _ := strings.Cut(p.MachineType, "-")
	var nodes []*corev1.Node
	for i := range p.Count {
		name := p.NodeName(i)
		labels := map[string]string{
			"kubernetes.io/hostname":               name,
			"kubernetes.io/os":                     "linux",
			"kubernetes.io/arch":                   "amd64",
			LabelInstanceType:                      p.MachineType,
			LabelNodePool:                          p.Name,
			"cloud.google.com/machine-family":      family,
			"cloud.google.com/gke-os-distribution": "cos",
			"topology.kubernetes.io/region":        "us-central1",
			"topology.kubernetes.io/zone":          "us-central1-a",
			LabelMode:                              p.Mode,
			"type":                                 "kwok",
		}
		var taints []corev1.Taint
		if p.Accelerator != "" {
			labels[LabelAccelerator] = p.Accelerator
			if p.Mode == ModeStandard {
				taints = append(taints, corev1.Taint{Key: string(ResourceGPU), Value: "present", Effect: corev1.TaintEffectNoSchedule})
			}
		}
		nodes = append(nodes, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:   name,
				Labels: labels,
				Annotations: map[string]string{
					KwokAnnotation:                 "fake",
					"node.alpha.kubernetes.io/ttl": "0",
				},
			},
			Spec: corev1.NodeSpec{Taints: taints},
			Status: corev1.NodeStatus{
				Capacity:    res.DeepCopy(),
				Allocatable: res.DeepCopy(),
				NodeInfo: corev1.NodeSystemInfo{
					KubeletVersion:          Version + "-gke.local",
					ContainerRuntimeVersion: "containerd://simulated",
					OSImage:                 "Container-Optimized OS (simulated by kwok)",
					OperatingSystem:         "linux",
					Architecture:            "amd64",
				},
			},
		})
	}
	return nodes
}
