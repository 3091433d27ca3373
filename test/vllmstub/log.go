package vllmstub

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// CRITimeFormat is the timestamp layout of the CRI container log format
// (fixed nine fractional digits, as containerd writes it).
const CRITimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// CRILine formats one CRI log line: "<RFC3339Nano UTC> <stream> F <message>".
func CRILine(t time.Time, stream, msg string) string {
	return t.UTC().Format(CRITimeFormat) + " " + stream + " F " + msg + "\n"
}

// Logger writes the stub's output the way a container runtime records it:
// each line in CRI format to the log file (if any), and plain to the
// process's own stdout / stderr.
type Logger struct {
	mu     sync.Mutex
	file   io.Writer
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
}

// NewLogger returns a Logger; file may be nil.
func NewLogger(file, stdout, stderr io.Writer, now func() time.Time) *Logger {
	if now == nil {
		now = time.Now
	}
	return &Logger{file: file, stdout: stdout, stderr: stderr, now: now}
}

// OpenLogFile opens (appending) a CRI log file.
func OpenLogFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// Out writes message lines to stdout.
func (l *Logger) Out(msg string) { l.write("stdout", msg) }

// Err writes message lines to stderr.
func (l *Logger) Err(msg string) { l.write("stderr", msg) }

func (l *Logger) write(stream, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	for _, line := range strings.Split(strings.TrimSuffix(msg, "\n"), "\n") {
		if l.file != nil {
			_, _ = io.WriteString(l.file, CRILine(t, stream, line))
		}
		w := l.stdout
		if stream == "stderr" {
			w = l.stderr
		}
		if w != nil {
			_, _ = io.WriteString(w, line+"\n")
		}
	}
}

// vLLM's own log line: "INFO 07-25 10:00:00 [file.py:123] message"
// (format "%(levelname)s %(asctime)s [%(filename)s:%(lineno)d] %(message)s",
// datefmt "%m-%d %H:%M:%S"). vLLM logs to stdout.
func (l *Logger) vllm(level, where, format string, a ...any) {
	l.Out(fmt.Sprintf("%s %s [%s] %s", level, l.now().Format("01-02 15:04:05"), where, fmt.Sprintf(format, a...)))
}

// Info writes a vLLM INFO line.
func (l *Logger) Info(where, format string, a ...any) { l.vllm("INFO", where, format, a...) }

// Warn writes a vLLM WARNING line.
func (l *Logger) Warn(where, format string, a ...any) { l.vllm("WARNING", where, format, a...) }

// Uvicorn writes a uvicorn line ("INFO:     message").
func (l *Logger) Uvicorn(format string, a ...any) {
	l.Out("INFO:     " + fmt.Sprintf(format, a...))
}
