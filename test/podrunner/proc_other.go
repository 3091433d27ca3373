//go:build !linux

package podrunner

import "syscall"

// sysProcAttr puts a container process in its own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// waitExited cannot wait without reaping here: the short window between
// cmd.Wait's reap and the exited flag stays open on these systems.
func waitExited(pid int) bool { return false }
