// Command etcd is etcd's server, built from go.etcd.io/etcd/server/v3 (the
// version k8s.io/kubernetes pins) for the local test control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
