package controlplane

import (
	"os"
	"path/filepath"
	"sort"
)

// layout names every path in a state dir:
//
//	<state>/.llama-cluster        marker: this dir is ours (down removes only such dirs)
//	<state>/cluster.json          written when the cluster is ready (Info)
//	<state>/kubeconfig            admin (system:masters)
//	<state>/kubeconfig-limited    user llama-user, no rights until bound to a Role
//	<state>/pki/                  CA, apiserver serving cert, service-account keys
//	<state>/auth/tokens.csv       kube-apiserver --token-auth-file
//	<state>/etc/                  component kubeconfigs, kwok.yaml
//	<state>/etcd/                 etcd data
//	<state>/logs/<name>.log       stdout+stderr of each process
//	<state>/run/<name>.json       one record per started process (pid, argv, start time)
//	<state>/pod-runner/           the pod runner's own directory (--state-dir)
type layout struct{ root string }

func (l layout) p(elem ...string) string { return filepath.Join(append([]string{l.root}, elem...)...) }

func (l layout) marker() string            { return l.p(".llama-cluster") }
func (l layout) info() string              { return l.p("cluster.json") }
func (l layout) kubeconfig() string        { return l.p("kubeconfig") }
func (l layout) limitedKubeconfig() string { return l.p("kubeconfig-limited") }
func (l layout) caCert() string            { return l.p("pki", "ca.crt") }
func (l layout) caKey() string             { return l.p("pki", "ca.key") }
func (l layout) apiserverCert() string     { return l.p("pki", "apiserver.crt") }
func (l layout) apiserverKey() string      { return l.p("pki", "apiserver.key") }
func (l layout) saKey() string             { return l.p("pki", "sa.key") }
func (l layout) saPub() string             { return l.p("pki", "sa.pub") }
func (l layout) tokens() string            { return l.p("auth", "tokens.csv") }
func (l layout) etc(name string) string    { return l.p("etc", name) }
func (l layout) etcdData() string          { return l.p("etcd") }
func (l layout) log(name string) string    { return l.p("logs", name+".log") }
func (l layout) run(name string) string    { return l.p("run", name+".json") }
func (l layout) runDir() string            { return l.p("run") }
func (l layout) podRunnerDir() string      { return l.p("pod-runner") }

func (l layout) mkdirs() error {
	for _, d := range []string{"pki", "auth", "etc", "etcd", "logs", "run", "pod-runner"} {
		if err := os.MkdirAll(l.p(d), 0o700); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
