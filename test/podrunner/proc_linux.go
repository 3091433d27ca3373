//go:build linux

package podrunner

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts a container process in its own process group (so it and
// its children are stopped together) and kills it if the runner dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// waitExited blocks until the child pid has exited, leaving it unreaped
// (WNOWAIT): its pid cannot be reused until cmd.Wait reaps it. It reports
// whether it could wait so.
func waitExited(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err == nil
		}
	}
}
