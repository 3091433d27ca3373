package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-llama/kubectl-llama/test/testutil"
)

// result is one finished command.
type result struct {
	Wall      time.Duration
	MaxRSSKiB int64 // peak resident set (getrusage of the child)
	Stdout    string
	Stderr    string
	Err       error
}

// fail describes a failed command in one line (stderr's last line).
func (r result) fail(name string) error {
	if r.Err == nil {
		return nil
	}
	msg := strings.TrimSpace(r.Stderr)
	if i := strings.LastIndex(msg, "\n"); i >= 0 {
		msg = msg[i+1:]
	}
	return fmt.Errorf("%s: %v: %s", name, r.Err, msg)
}

// runner runs commands with a fixed environment and a per-command timeout.
type runner struct {
	env     []string
	timeout time.Duration
}

func (r *runner) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.Env = r.env
	c.SysProcAttr = sysProcAttr()
	c.WaitDelay = 2 * time.Second
	return c
}

// run runs name args to completion (bounded by r.timeout) and measures its
// wall time from fork to exit and its peak RSS.
func (r *runner) run(ctx context.Context, stdin io.Reader, name string, args ...string) result {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	c := r.command(ctx, name, args...)
	var out, errb bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = stdin, &out, &errb
	start := time.Now()
	err := c.Run()
	res := result{Wall: time.Since(start), Stdout: out.String(), Stderr: errb.String(), Err: err}
	if c.ProcessState != nil {
		res.MaxRSSKiB = maxRSSKiB(c.ProcessState)
	}
	return res
}

// proc is a background process: started, watched for its exit time.
type proc struct {
	cmd     *exec.Cmd
	name    string
	started time.Time
	done    chan struct{}
	exited  time.Time
	err     error
	out     testutil.SyncBuffer
	errb    testutil.SyncBuffer
	rss     int64
}

// start starts name args in the background; the returned proc records its
// exit time as soon as it exits.
func (r *runner) start(ctx context.Context, name string, args ...string) (*proc, error) {
	c := r.command(ctx, name, args...)
	p := &proc{cmd: c, name: name + " " + strings.Join(args, " "), done: make(chan struct{})}
	c.Stdout, c.Stderr = &p.out, &p.errb
	p.started = time.Now()
	if err := c.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = c.Wait()
		p.exited = time.Now()
		if c.ProcessState != nil {
			p.rss = maxRSSKiB(c.ProcessState)
		}
		close(p.done)
	}()
	return p, nil
}

// wait waits for the process to exit by itself, at most d.
func (p *proc) wait(d time.Duration) error {
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s: %v: %s", p.name, p.err, lastLine(p.errb.String()))
		}
		return nil
	case <-time.After(d):
		p.stop()
		return fmt.Errorf("%s: still running after %s", p.name, d)
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 3 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

var portRE = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)

// forwardPort extracts the local IPv4 loopback port from a port-forward's
// output line ("" when the line has none).
func forwardPort(line string) string {
	if m := portRE.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return ""
}

// waitPort waits until the process has printed a 127.0.0.1 port, at most d.
func (p *proc) waitPort(d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(p.out.String()))
		for sc.Scan() {
			if port := forwardPort(sc.Text()); port != "" {
				return port, nil
			}
		}
		select {
		case <-p.done:
			return "", fmt.Errorf("%s exited before forwarding: %v: %s", p.name, p.err, lastLine(p.errb.String()))
		case <-time.After(2 * time.Millisecond):
		}
	}
	p.stop()
	return "", fmt.Errorf("%s: no forwarding port after %s", p.name, d)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}
