package podrunner

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/kubectl-llama/kubectl-llama/test/vllmstub"
)

// Exit is how a container process ended.
type Exit struct {
	Code     int
	Signaled bool // killed by a signal (the runner's, not the "OOM killer")
	At       time.Time
}

// Proc is a running container process.
type Proc interface {
	// Done is closed when the process has exited; Exit is valid then.
	Done() <-chan struct{}
	Exit() Exit
	// Stop sends SIGTERM, then SIGKILL after grace.
	Stop(grace time.Duration)
}

// LaunchSpec describes a process to start for a container.
type LaunchSpec struct {
	Argv    []string
	Env     []string
	LogFile string // CRI log file; the process writes it itself when SelfLogs
	// SelfLogs: the process writes LogFile itself (vllmstub); otherwise the
	// runner turns its stdout/stderr into CRI lines.
	SelfLogs bool
	Dir      string
	Output   string // file for the process's raw stdout/stderr when SelfLogs
}

// Launcher starts processes (a fake in unit tests).
type Launcher interface {
	Launch(spec LaunchSpec) (Proc, error)
}

// ExecLauncher starts real processes in their own process group, killed with
// the runner (Pdeathsig on Linux).
type ExecLauncher struct{}

type execProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	exit Exit
	// mu guards exited: once the child is reaped its pid (and so its
	// process-group id) may belong to another process, such as a cluster's
	// etcd, so signals go out only while exited is false, under mu.
	mu     sync.Mutex
	exited bool
}

// Launch implements Launcher.
func (ExecLauncher) Launch(spec LaunchSpec) (Proc, error) {
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.SysProcAttr = sysProcAttr()
	var closers []io.Closer
	var wg sync.WaitGroup
	if spec.SelfLogs {
		out, err := os.OpenFile(spec.Output, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = out, out
		closers = append(closers, out)
	} else {
		f, err := vllmstub.OpenLogFile(spec.LogFile)
		if err != nil {
			return nil, err
		}
		closers = append(closers, f)
		var mu sync.Mutex
		for _, stream := range []string{"stdout", "stderr"} {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			if stream == "stdout" {
				cmd.Stdout = w
			} else {
				cmd.Stderr = w
			}
			closers = append(closers, w)
			wg.Add(1)
			go func(stream string) {
				defer wg.Done()
				defer r.Close()
				sc := bufio.NewScanner(r)
				sc.Buffer(make([]byte, 64*1024), 1024*1024)
				for sc.Scan() {
					mu.Lock()
					_, _ = io.WriteString(f, vllmstub.CRILine(time.Now(), stream, sc.Text()))
					mu.Unlock()
				}
			}(stream)
		}
	}
	if err := cmd.Start(); err != nil {
		for _, c := range closers {
			c.Close()
		}
		return nil, err
	}
	// The child holds its own copies of the pipe write ends now.
	if !spec.SelfLogs {
		for _, c := range closers[1:] {
			c.Close()
		}
		closers = closers[:1]
	}
	p := &execProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		markExited := func() { p.mu.Lock(); p.exited = true; p.mu.Unlock() }
		if waitExited(cmd.Process.Pid) { // blocks until exit, without reaping
			markExited()
		}
		err := cmd.Wait()
		markExited()
		wg.Wait()
		for _, c := range closers {
			c.Close()
		}
		p.exit = Exit{Code: 0, At: time.Now()}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.exit.Code, p.exit.Signaled = 128+int(ws.Signal()), true
			} else {
				p.exit.Code = ee.ExitCode()
			}
		} else if err != nil {
			p.exit.Code = 128
		}
		close(p.done)
	}()
	return p, nil
}

func (p *execProc) Done() <-chan struct{} { return p.done }
func (p *execProc) Exit() Exit            { return p.exit }

func (p *execProc) Stop(grace time.Duration) {
	p.signalGroup(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.signalGroup(syscall.SIGKILL)
		<-p.done
	}
}

// signalGroup signals the child's process group unless the child has exited.
func (p *execProc) signalGroup(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// timerProc is a container that "runs" without a process: it exits with
// code after d (d < 0: never, until stopped).
type timerProc struct {
	done chan struct{}
	once sync.Once
	exit Exit
	stop chan struct{}
}

func newTimerProc(d time.Duration, code int) *timerProc {
	p := &timerProc{done: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		var tc <-chan time.Time
		if d >= 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			tc = t.C
		}
		select {
		case <-tc:
			p.exit = Exit{Code: code, At: time.Now()}
		case <-p.stop:
			p.exit = Exit{Code: 137, Signaled: true, At: time.Now()}
		}
		close(p.done)
	}()
	return p
}

func (p *timerProc) Done() <-chan struct{} { return p.done }
func (p *timerProc) Exit() Exit            { return p.exit }
func (p *timerProc) Stop(time.Duration) {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// probeOnce runs one HTTP GET (or TCP connect when path == "") against addr.
func probeOnce(ctx context.Context, addr, path string, timeout time.Duration) error {
	if path == "" {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err == nil {
			c.Close()
		}
		return err
	}
	return httpProbe(ctx, "http://"+addr+path, timeout)
}
