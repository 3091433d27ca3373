package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pfCurl is one manual round trip: kubectl port-forward to the Service on a
// free port, curl once, stop the forward (not counted). It returns the
// peak RSS of kubectl and of curl.
func (b *bench) pfCurl(ctx context.Context, ns, svc string) (time.Duration, [2]int64, error) {
	start := time.Now()
	pf, err := b.r.start(ctx, b.cfg.kubectl, "port-forward", "-n", ns, "--address", "127.0.0.1", "service/"+svc, ":8000")
	if err != nil {
		return 0, [2]int64{}, err
	}
	port, err := pf.waitPort(30 * time.Second)
	if err != nil {
		return 0, [2]int64{}, err
	}
	c := b.curl(ctx, port)
	d := time.Since(start)
	pf.stop()
	if err := c.fail("curl"); err != nil {
		return 0, [2]int64{}, err
	}
	return d, [2]int64{pf.rss, c.MaxRSSKiB}, mustContain("curl", c.Stdout, `"choices"`)
}

// benchChat: 5. chat round trip (50 each) and port-forward throughput.
func (b *bench) benchChat(ctx context.Context) {
	const g, ns, rel = "5 chat round trip", "bench-chat", "rt"
	fail := func(measure string, err error) {
		b.rep.add(Row{Group: g, Measure: measure, Unit: "ms", Anchor: "kubectl port-forward + curl", Error: err.Error()})
	}
	if err := b.c.namespace(ctx, ns, false); err != nil {
		fail("chat", err)
		return
	}
	if err := b.r.run(ctx, nil, b.cfg.plugin, "install", "scout", rel, "-n", ns, "-q").fail("kubectl llama install"); err != nil {
		fail("chat", err)
		return
	}
	defer func() {
		b.r.run(ctx, nil, b.cfg.helm, "uninstall", rel, "-n", ns)
		_ = b.c.waitNoPods(ctx, ns, "app.kubernetes.io/instance="+rel, 2*time.Minute)
	}()
	var p, m []float64
	for i := 0; i < b.cfg.chatRuns+2; i++ {
		ch := b.r.run(ctx, nil, b.cfg.plugin, "chat", rel, prompt, "--max-tokens", "7", "--temperature", "0", "-n", ns)
		if err := ch.fail("kubectl llama chat"); err != nil {
			fail("chat", err)
			return
		}
		d, rss, err := b.pfCurl(ctx, ns, rel)
		if err != nil {
			fail("chat", err)
			return
		}
		if i < 2 { // warm-up
			continue
		}
		p, m = append(p, ms(ch.Wall)), append(m, ms(d))
		b.mem.chat = append(b.mem.chat, kib2mib(ch.MaxRSSKiB))
		b.mem.portForward = append(b.mem.portForward, kib2mib(rss[0]))
		b.mem.pfCurl = append(b.mem.pfCurl, kib2mib(rss[0]+rss[1]))
	}
	b.rep.add(Row{Group: g, Measure: "kubectl llama chat (one process)", Unit: "ms", Plugin: summarize(p),
		Anchor: "kubectl port-forward + curl", AnchorStats: summarize(m),
		Note: "each sample is a fresh process: connect, forward, request, answer"})

	// Throughput of the forwarded path: one long-lived forward each, both
	// open at once, trials alternating which goes first.
	pf, err := b.openForward(ctx, b.cfg.plugin, "port-forward", rel, "-n", ns, "--local-port", "0")
	if err != nil {
		fail("throughput", err)
		return
	}
	defer pf.close()
	kf, err := b.openForward(ctx, b.cfg.kubectl, "port-forward", "-n", ns, "--address", "127.0.0.1", "service/"+rel, ":8000")
	if err != nil {
		fail("throughput", err)
		return
	}
	defer kf.close()
	var pr, kr []float64
	for i := -1; i < b.cfg.tputTrials; i++ { // trial -1: warm-up
		order := []*forward{pf, kf}
		if i%2 == 1 {
			order = []*forward{kf, pf}
		}
		for _, f := range order {
			n, d, err := load(ctx, f.client, f.url, b.cfg.concurrency, b.cfg.tputRequests, b.cfg.tputDuration)
			if err != nil {
				fail("throughput", fmt.Errorf("%s: %w", f.name, err))
				return
			}
			if i < 0 {
				continue
			}
			if f == pf {
				pr = append(pr, float64(n)/d.Seconds())
			} else {
				kr = append(kr, float64(n)/d.Seconds())
			}
		}
	}
	fmt.Fprintf(os.Stderr, "bench: port-forward throughput: kubectl-llama %.0f req/s, kubectl %.0f req/s (medians)\n", summarize(pr).Median, summarize(kr).Median)
	b.rep.add(Row{Group: "5 port-forward throughput", Measure: fmt.Sprintf("kubectl llama port-forward, concurrency %d", b.cfg.concurrency),
		Unit: "req/s", HigherIsBetter: true, Plugin: summarize(pr), Anchor: "kubectl port-forward", AnchorStats: summarize(kr),
		Note: fmt.Sprintf("per trial at most %d requests or %s, trials alternating; chat completions of 7 tokens against the stand-in", b.cfg.tputRequests, b.cfg.tputDuration)})
}

// forward is a long-lived port-forward process and a keep-alive client for it.
type forward struct {
	name   string
	p      *proc
	url    string
	client *http.Client
}

func (f *forward) close() {
	f.client.CloseIdleConnections()
	f.p.stop()
}

// openForward starts a port-forward and waits for its local port.
func (b *bench) openForward(ctx context.Context, name string, args ...string) (*forward, error) {
	p, err := b.r.start(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	port, err := p.waitPort(30 * time.Second)
	if err != nil {
		p.stop()
		return nil, err
	}
	return &forward{name: name, p: p, url: "http://127.0.0.1:" + port + "/v1/chat/completions",
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: b.cfg.concurrency, MaxConnsPerHost: b.cfg.concurrency}}}, nil
}

// load sends up to max chat requests with conc workers for at most d and
// returns how many succeeded and the time taken. Any failed request fails it.
func load(ctx context.Context, client *http.Client, url string, conc, max int, d time.Duration) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var next, ok atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(max) && ctx.Err() == nil {
				if err := request(ctx, client, url); err != nil {
					if ctx.Err() == nil {
						once.Do(func() { firstErr = err; cancel() })
					}
					return
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load()), time.Since(start), firstErr
}

func request(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(chatBody)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"choices"`) {
		return fmt.Errorf("POST %s: %s: %.200s", url, resp.Status, body)
	}
	return nil
}
