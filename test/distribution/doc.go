// Package distribution holds the end-to-end tests of the published chart
// (issue 6): a static chart repository and an OCI registry on 127.0.0.1,
// installed from with helm and with the built kubectl-llama, into the local
// control plane. Run through `make e2e-dist` (build tag e2e).
package distribution
