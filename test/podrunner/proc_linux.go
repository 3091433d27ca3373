//go:build linux

package podrunner

import "syscall"

// sysProcAttr puts a container process in its own process group (so it and
// its children are stopped together) and kills it if the runner dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
