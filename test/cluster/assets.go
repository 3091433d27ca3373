// Package cluster holds the data files of the local test control plane: the
// simulated GKE node pools and the Autopilot emulation manifests. The code
// lives in internal/controlplane and cmd/llama-cluster.
package cluster

import _ "embed"

// NodePools is nodepools.yaml: the node pool profiles llama-cluster offers.
//
//go:embed nodepools.yaml
var NodePools []byte

// AutopilotManifests is manifests/autopilot.yaml: the objects that make the
// cluster look like GKE Autopilot to a client.
//
//go:embed manifests/autopilot.yaml
var AutopilotManifests []byte
