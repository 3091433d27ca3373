//go:build !linux

package main

import (
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// maxRSSKiB is 0 off Linux: the bench reports peak RSS on Linux only.
func maxRSSKiB(*os.ProcessState) int64 { return 0 }
