//go:build !linux

package podrunner

import "syscall"

// sysProcAttr puts a container process in its own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
