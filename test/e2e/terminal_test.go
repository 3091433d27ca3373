//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// terminal is a pseudo-terminal: the command gets the slave side as its
// stdin/stdout/stderr, the test reads and types on the master side.
type terminal struct {
	master, slave *os.File
	mu            sync.Mutex
	out           bytes.Buffer
	read          chan struct{}
}

func openTerminal(t *testing.T) *terminal {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 250}); err != nil {
		t.Fatal(err)
	}
	term := &terminal{master: m, slave: s, read: make(chan struct{})}
	go func() {
		defer close(term.read)
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return // EIO once the slave side is closed everywhere
			}
		}
	}()
	t.Cleanup(func() { m.Close() })
	return term
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// waitFor waits until the screen output contains want.
func (term *terminal) waitFor(t *testing.T, d time.Duration, want string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(term.output(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("terminal: no %q within %s; screen:\n%q", want, d, term.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start runs kubectl-llama ARGS on the terminal.
func (term *terminal) start(t *testing.T, k *cli, args ...string) (wait func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := exec.CommandContext(ctx, k.bin, args...)
	cmd.Env = k.env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.slave, term.slave, term.slave
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	term.slave.Close() // the child holds it now
	return func() error {
		defer cancel()
		err := cmd.Wait()
		select {
		case <-term.read:
		case <-time.After(5 * time.Second):
		}
		k.mu.Lock()
		k.outputs = append(k.outputs, result{args: append([]string{"kubectl-llama"}, args...), stdout: term.output()})
		k.mu.Unlock()
		return err
	}
}

// onTerminal: on a real terminal the wait rewrites one progress line in
// place, and chat without a prompt is a conversation.
func onTerminal(t *testing.T, k *cli, ns, rel string) {
	t.Run("upgrade on a terminal: progress in place", func(t *testing.T) {
		term := openTerminal(t)
		wait := term.start(t, k, "upgrade", rel, "-n", ns, "--max-model-len", "65536")
		if err := wait(); err != nil {
			t.Fatalf("upgrade on a terminal: %v\n%q", err, term.output())
		}
		screen := term.output()
		if !strings.Contains(screen, "\r\x1b[K[") {
			t.Errorf("no line rewritten in place (\\r ESC[K) on the terminal:\n%q", screen)
		}
		if !strings.Contains(screen, rel+" is ready") {
			t.Errorf("no ready line:\n%q", screen)
		}
	})
	t.Run("chat on a terminal: interactive", func(t *testing.T) {
		term := openTerminal(t)
		wait := term.start(t, k, "chat", rel, "-n", ns, "--max-tokens", "7")
		term.waitFor(t, 30*time.Second, "(/exit to leave).")
		term.waitFor(t, 5*time.Second, "> ")
		if _, err := io.WriteString(term.master, "San Francisco is a\n"); err != nil {
			t.Fatal(err)
		}
		term.waitFor(t, 30*time.Second, "simulated answer")
		if _, err := io.WriteString(term.master, "/exit\n"); err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatalf("chat on a terminal: %v\n%q", err, term.output())
		}
		if n := strings.Count(term.output(), "> "); n < 2 {
			t.Errorf("want a prompt before and after the answer, got %d:\n%q", n, term.output())
		}
	})
}
