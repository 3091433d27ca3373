package controlplane

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime/schema"

	cluster "github.com/kubectl-llama/kubectl-llama/test/cluster"
)

var autopilotManifests = cluster.AutopilotManifests

// The kwok CRDs the cluster installs: the ones kwok is told to serve
// (enableCRDs). The pod runner creates PortForward/Logs objects per pod, or
// ClusterPortForward/ClusterLogs, to route `kubectl port-forward` and
// `kubectl logs` to its servers and log files.
var kwokCRDs = []string{"portforwards", "clusterportforwards", "logs", "clusterlogs"}

// kwok stage files from the module: nodes become Ready and keep a lease;
// deleted pods are removed. No pod-ready stage: pod status belongs to the pod
// runner (fake kubelet).
var kwokStages = []string{
	"kustomize/stage/node/fast/node-initialize.yaml",
	"kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"kustomize/stage/pod/fast/pod-delete.yaml",
}

// kwokConfig is the kwok --config file: a KwokConfiguration (defaults are not
// applied from a file, so every option that matters is set) and the stages.
func kwokConfig(kwokDir string, port int) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  manageNodesWithAnnotationSelector: '%s=fake'
  nodeIP: 127.0.0.1
  nodePort: %d
  serverAddress: 127.0.0.1:%d
  cidr: 10.0.0.0/16
  nodeLeaseDurationSeconds: 40
  nodeLeaseParallelism: 4
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  enablePodsOnNodeSyncStreamWatch: true
  enableDebuggingHandlers: true
  enableCRDs: [PortForward, ClusterPortForward, Logs, ClusterLogs]
`, KwokAnnotation, port, port)
	for _, s := range kwokStages {
		data, err := os.ReadFile(filepath.Join(kwokDir, s))
		if err != nil {
			return nil, fmt.Errorf("kwok stage: %w", err)
		}
		b.WriteString("---\n")
		b.Write(bytes.TrimSpace(data))
		b.WriteString("\n")
	}
	return b.Bytes(), nil
}

func knownGVR(group, version, kind string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: knownKinds[schema.GroupKind{Group: group, Kind: kind}]}
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]any, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur, ok = m[f]
		if !ok {
			return nil, false, nil
		}
	}
	s, ok := cur.([]any)
	return s, ok, nil
}
