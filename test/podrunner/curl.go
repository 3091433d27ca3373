package podrunner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The chart's helm-test pod runs a /bin/sh script calling curl against the
// release's Service. The runner runs such scripts (images named .../curl with
// a shell command) on the host with /bin/sh, with `curl` on PATH being this
// runner's own binary (a symlink named curl, see CurlMain). The shim resolves
// Service names through services.json, which maps "name.namespace:port" (and
// the ClusterIP:port) to the loopback port of a Ready vllmstub behind the
// Service, so `helm test` really calls the stub the Service would route to.

func (r *Runner) shimDir() string      { return filepath.Join(r.o.StateDir, "bin") }
func (r *Runner) servicesFile() string { return filepath.Join(r.o.StateDir, "services.json") }

func (r *Runner) installCurlShim() error {
	if r.o.Self == "" {
		return nil
	}
	if err := os.MkdirAll(r.shimDir(), 0o755); err != nil {
		return err
	}
	link := filepath.Join(r.shimDir(), "curl")
	_ = os.Remove(link)
	return os.Symlink(r.o.Self, link)
}

// servicesLoop keeps services.json current.
func (r *Runner) servicesLoop(ctx context.Context) {
	last := ""
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		m := r.serviceMap()
		b, _ := json.MarshalIndent(m, "", "  ")
		if string(b) != last {
			tmp := r.servicesFile() + ".tmp"
			if err := os.WriteFile(tmp, b, 0o644); err == nil && os.Rename(tmp, r.servicesFile()) == nil {
				last = string(b)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// serviceMap computes "host:port" -> "127.0.0.1:stubport" for every Service
// port whose target is a Ready vllmstub container.
func (r *Runner) serviceMap() map[string]string {
	out := map[string]string{}
	svcs, _ := r.svcs.List(everything)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, svc := range svcs {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		pods, _ := r.pods.Pods(svc.Namespace).List(sel)
		for _, sp := range svc.Spec.Ports {
			for _, pod := range pods {
				st := r.state[pod.Namespace+"/"+pod.Name]
				if st == nil || st.uid != pod.UID || pod.DeletionTimestamp != nil {
					continue
				}
				target := ""
				for _, name := range st.order {
					c := st.ctrs[name]
					if c.kind != runStub || !c.running || !c.started || !c.ready || c.port == 0 {
						continue
					}
					if targetMatches(sp.TargetPort, sp.Port, c) {
						target = fmt.Sprintf("127.0.0.1:%d", c.port)
					}
				}
				if target == "" {
					continue
				}
				port := strconv.Itoa(int(sp.Port))
				for _, h := range []string{svc.Name + "." + svc.Namespace, svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace + ".svc.cluster.local", svc.Spec.ClusterIP} {
					if h != "" && h != "None" {
						out[h+":"+port] = target
					}
				}
				out[st.podIP+":"+strconv.Itoa(c0port(sp, st))] = target
				break
			}
		}
	}
	return out
}

func c0port(sp corev1.ServicePort, st *podState) int {
	if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0 {
		return int(sp.TargetPort.IntVal)
	}
	for _, name := range st.order {
		if st.ctrs[name].vllmPort != 0 {
			return st.ctrs[name].vllmPort
		}
	}
	return int(sp.Port)
}

func targetMatches(tp intstr.IntOrString, svcPort int32, c *ctrRun) bool {
	switch {
	case tp.Type == intstr.String && tp.StrVal != "":
		for _, p := range c.spec.Ports {
			if p.Name == tp.StrVal {
				return true
			}
		}
		return false
	case tp.IntVal != 0:
		return int(tp.IntVal) == c.vllmPort
	default:
		return int(svcPort) == c.vllmPort
	}
}

type httpStatusError struct{ code int }

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("HTTP probe failed with statuscode: %d", e.code)
}

// httpProbe is the kubelet's HTTP probe: 200-399 is success.
func httpProbe(ctx context.Context, u string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("Get %q: %v", u, ue.Err)
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10240))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return &httpStatusError{resp.StatusCode}
	}
	return nil
}

// CurlMain is the curl shim (the runner binary invoked as "curl"). It
// supports the options the chart's test uses: -f/--fail, -s, -S, -sS,
// -H/--header, -d/--data/--data-raw/--data-binary, -X/--request,
// --max-time, --retry, --retry-connrefused, --retry-delay, -o/--output,
// -w/--write-out "%{http_code}", and prints curl's messages and exit codes
// (7 connection refused / no Ready endpoint, 22 HTTP error with -f, 28 timeout).
func CurlMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var (
		fail, silent, showErr, retryConnRefused bool
		method, data, output, writeOut, rawURL  string
		headers                                 []string
		maxTime                                 time.Duration
		retries                                 int
		retryDelay                              = time.Second
	)
	need := func(i *int, name string) (string, bool) {
		if *i+1 >= len(args) {
			fmt.Fprintf(stderr, "curl: option %s: requires parameter\n", name)
			return "", false
		}
		*i++
		return args[*i], true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var ok = true
		var v string
		switch {
		case a == "--fail":
			fail = true
		case a == "--silent":
			silent = true
		case a == "--show-error":
			showErr = true
		case a == "--retry-connrefused":
			retryConnRefused = true
		case a == "-H" || a == "--header":
			v, ok = need(&i, a)
			headers = append(headers, v)
		case a == "-d" || a == "--data" || a == "--data-raw" || a == "--data-binary":
			v, ok = need(&i, a)
			data = v
		case a == "-X" || a == "--request":
			method, ok = need(&i, a)
		case a == "-o" || a == "--output":
			output, ok = need(&i, a)
		case a == "-w" || a == "--write-out":
			writeOut, ok = need(&i, a)
		case a == "--max-time" || a == "-m":
			v, ok = need(&i, a)
			f, _ := strconv.ParseFloat(v, 64)
			maxTime = time.Duration(f * float64(time.Second))
		case a == "--retry":
			v, ok = need(&i, a)
			retries, _ = strconv.Atoi(v)
		case a == "--retry-delay":
			v, ok = need(&i, a)
			n, _ := strconv.Atoi(v)
			retryDelay = time.Duration(n) * time.Second
		case strings.HasPrefix(a, "--"):
			fmt.Fprintf(stderr, "curl: option %s: is unknown\ncurl: try 'curl --help' or 'curl --manual' for more information\n", a)
			return 2
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for _, ch := range a[1:] {
				switch ch {
				case 'f':
					fail = true
				case 's':
					silent = true
				case 'S':
					showErr = true
				case 'L', 'k', 'v':
				default:
					fmt.Fprintf(stderr, "curl: option -%c: is unknown\n", ch)
					return 2
				}
			}
		default:
			rawURL = a
		}
		if !ok {
			return 2
		}
	}
	errorf := func(code int, format string, a ...any) int {
		if !silent || showErr {
			fmt.Fprintf(stderr, "curl: (%d) "+format+"\n", append([]any{code}, a...)...)
		}
		return code
	}
	if rawURL == "" {
		fmt.Fprintln(stderr, "curl: no URL specified")
		return 2
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return errorf(3, "URL rejected: Malformed input to a URL function")
	}
	if method == "" {
		method = http.MethodGet
		if data != "" {
			method = http.MethodPost
		}
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	host := u.Hostname()
	ns := getenv("PODRUNNER_NAMESPACE")
	resolve := func() (string, bool) {
		b, err := os.ReadFile(getenv("PODRUNNER_SERVICES_FILE"))
		if err != nil {
			return "", false
		}
		var m map[string]string
		_ = json.Unmarshal(b, &m)
		for _, h := range []string{host, host + "." + ns} {
			if t, ok := m[h+":"+port]; ok {
				return t, true
			}
		}
		if net.ParseIP(host) != nil && (host == "127.0.0.1" || host == "::1") {
			return net.JoinHostPort(host, port), true
		}
		return "", false
	}
	start := time.Now()
	for attempt := 0; ; attempt++ {
		target, ok := resolve()
		var code int
		var resp *http.Response
		var body []byte
		if !ok {
			// No Ready endpoint behind the name: connection refused for a
			// known ClusterIP-style name is what a pod would see; report
			// an unresolvable host only when nothing matches at all.
			code = 7
		} else {
			ctx := context.Background()
			var cancel context.CancelFunc = func() {}
			if maxTime > 0 {
				ctx, cancel = context.WithTimeout(ctx, maxTime-time.Since(start))
			}
			u2 := *u
			u2.Host = target
			req, _ := http.NewRequestWithContext(ctx, method, u2.String(), strings.NewReader(data))
			req.Host = u.Host
			req.Header.Set("User-Agent", "curl/8.12.1")
			req.Header.Set("Accept", "*/*")
			if data != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			for _, h := range headers {
				if k, v, ok := strings.Cut(h, ":"); ok {
					req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
				}
			}
			resp, err = http.DefaultClient.Do(req)
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			cancel()
			switch {
			case err == nil:
			case errors.Is(err, context.DeadlineExceeded):
				code = 28
			case errors.Is(err, syscall.ECONNREFUSED):
				code = 7
			default:
				code = 56
			}
		}
		if code == 0 && resp.StatusCode >= 500 && attempt < retries {
			time.Sleep(retryDelay)
			continue
		}
		if code == 7 && retryConnRefused && attempt < retries {
			if !silent {
				fmt.Fprintf(stderr, "Warning: Problem : connection refused. Will retry in %d seconds. %d retries left.\n", int(retryDelay.Seconds()), retries-attempt)
			}
			time.Sleep(retryDelay)
			continue
		}
		switch code {
		case 7:
			return errorf(7, "Failed to connect to %s port %s after %d ms: Couldn't connect to server", host, port, time.Since(start).Milliseconds())
		case 28:
			return errorf(28, "Operation timed out after %d milliseconds with 0 bytes received", time.Since(start).Milliseconds())
		case 56:
			return errorf(56, "Recv failure: %v", err)
		}
		if fail && resp.StatusCode >= 400 {
			return errorf(22, "The requested URL returned error: %d", resp.StatusCode)
		}
		w := stdout
		if output != "" && output != "-" {
			f, err := os.Create(output)
			if err != nil {
				return errorf(23, "Failure writing output to destination")
			}
			defer f.Close()
			w = f
		}
		_, _ = w.Write(body)
		if writeOut != "" {
			fmt.Fprint(stdout, strings.ReplaceAll(strings.ReplaceAll(writeOut, "%{http_code}", strconv.Itoa(resp.StatusCode)), `\n`, "\n"))
		}
		return 0
	}
}
