package controlplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc records one process llama-cluster started. Each runs detached in its
// own process group (pgid == pid); down signals that group only after checking
// that the pid still runs the same command line (argv[0] and the state dir)
// and has the same start time, so a recycled pid is never touched.
type Proc struct {
	Name      string   `json:"name"`
	PID       int      `json:"pid"`
	Path      string   `json:"path"`
	Args      []string `json:"args"`
	StartTime uint64   `json:"startTime"` // /proc/<pid>/stat field 22, clock ticks since boot
	Log       string   `json:"log"`
	StateDir  string   `json:"stateDir"`

	// While the starting llama-cluster runs it is the parent: it reaps the
	// child and keeps its exit status for error messages.
	exited chan struct{}
	status string
}

// startProc starts path with args, detached, output to logPath, and records it
// in the state dir before returning.
func startProc(l layout, name, path string, args []string, env []string) (*Proc, error) {
	logf, err := os.OpenFile(l.log(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	cmd := exec.Command(path, args...)
	cmd.Stdin = devnull
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Dir = l.root
	cmd.Env = append(append(os.Environ(), ManagedEnv+"="+l.root), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, PID: cmd.Process.Pid, Path: path, Args: args, Log: l.log(name), StateDir: l.root, exited: make(chan struct{})}
	st, err := readStat(p.PID)
	if err == nil {
		p.StartTime = st.startTime
	}
	// The child outlives llama-cluster (then init reaps it); until then,
	// reap it here so an early exit is seen with its status.
	go func() {
		err := cmd.Wait()
		if err == nil {
			p.status = "exit status 0"
		} else {
			p.status = err.Error()
		}
		close(p.exited)
	}()
	data, _ := json.MarshalIndent(p, "", "  ")
	if err := os.WriteFile(l.run(name), data, 0o600); err != nil {
		return p, err
	}
	return p, nil
}

// loadProcs reads every process record of a state dir.
func loadProcs(l layout) ([]*Proc, error) {
	entries, err := os.ReadDir(l.runDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var procs []*Proc
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(l.runDir(), e.Name()))
		if err != nil {
			return nil, err
		}
		var p Proc
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		procs = append(procs, &p)
	}
	return procs, nil
}

type procStat struct {
	state     byte
	ppid      int
	pgrp      int
	startTime uint64
}

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) may contain spaces and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[2] field 5 (pgrp),
	// f[19] field 22 (starttime).
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, err
	}
	pgrp, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, err
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, err
	}
	return procStat{state: f[0][0], ppid: ppid, pgrp: pgrp, startTime: start}, nil
}

// Running reports whether the recorded process still runs, is not a zombie,
// and is the same process (start time, argv[0], state dir in its arguments).
func (p *Proc) Running() bool {
	if p.exited != nil {
		// Our own child, which we reap: its exit is known exactly. The /proc
		// checks below would race with its exec (for a moment after
		// cmd.Start returns, /proc/PID/cmdline is empty, and a component
		// still starting read as exited).
		select {
		case <-p.exited:
			return false
		default:
			return true
		}
	}
	st, err := readStat(p.PID)
	if err != nil || st.state == 'Z' || st.state == 'X' {
		return false
	}
	if p.StartTime != 0 && st.startTime != p.StartTime {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil {
		return false
	}
	argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	return len(argv) > 0 && argv[0] == p.Path && strings.Contains(string(cmdline), p.StateDir)
}

// groupMembers lists the live (non-zombie) processes of process group pgid.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.state == 'Z' || st.state == 'X' {
			continue
		}
		if st.pgrp == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Stop ends the process group of p: SIGTERM, then SIGKILL after grace. A
// process that is no longer the recorded one is left alone.
func (p *Proc) Stop(grace time.Duration) error {
	st, err := readStat(p.PID)
	if err == nil && st.state != 'Z' && st.state != 'X' {
		if !p.Running() {
			return nil // the pid now belongs to another process: not ours to signal
		}
	} else if len(groupMembers(p.PID)) == 0 {
		// The leader is gone (or a zombie) and nothing of its group is left.
		// While members live, no new process can get this pid, so they are ours.
		return nil
	}
	_ = syscall.Kill(-p.PID, syscall.SIGTERM)
	if waitGroupGone(p.PID, grace) {
		return nil
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	if waitGroupGone(p.PID, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("%s (pid %d) did not exit", p.Name, p.PID)
}

func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if len(groupMembers(pgid)) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ancestors returns the pids of this process and its ancestors.
func ancestors() map[int]bool {
	out := map[int]bool{}
	for pid := os.Getpid(); pid > 1 && !out[pid]; {
		out[pid] = true
		st, err := readStat(pid)
		if err != nil {
			break
		}
		pid = st.ppid
	}
	return out
}
