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
// free port, curl once, stop the forward (not counted).
func (b *bench) pfCurl(ctx context.Context, ns, svc string) (time.Duration, int64, error) {
	start := time.Now()
	pf, err := b.r.start(ctx, b.cfg.kubectl, "port-forward", "-n", ns, "--address", "127.0.0.1", "service/"+svc, ":8000")
	if err != nil {
		return 0, 0, err
	}
	port, err := pf.waitPort(30 * time.Second)
	if err != nil {
		return 0, 0, err
	}
	c := b.curl(ctx, port)
	d := time.Since(start)
	pf.stop()
	if err := c.fail("curl"); err != nil {
		return 0, 0, err
	}
	return d, pf.rss, mustContain("curl", c.Stdout, `"choices"`)
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
		b.mem.portForward = append(b.mem.portForward, kib2mib(rss))
	}
	b.rep.add(Row{Group: g, Measure: "kubectl llama chat (one process)", Unit: "ms", Plugin: summarize(p),
		Anchor: "kubectl port-forward + curl", AnchorStats: summarize(m),
		Note: "each sample is a fresh process: connect, forward, request, answer"})

	// Throughput of the forwarded path, one long-lived forward each.
	pr, err := b.throughput(ctx, b.cfg.plugin, "port-forward", rel, "-n", ns, "--local-port", "0")
	if err != nil {
		fail("throughput", err)
		return
	}
	kr, err := b.throughput(ctx, b.cfg.kubectl, "port-forward", "-n", ns, "--address", "127.0.0.1", "service/"+rel, ":8000")
	if err != nil {
		fail("throughput", err)
		return
	}
	b.rep.add(Row{Group: "5 port-forward throughput", Measure: fmt.Sprintf("kubectl llama port-forward, concurrency %d", b.cfg.concurrency),
		Unit: "req/s", HigherIsBetter: true, Plugin: summarize(pr), Anchor: "kubectl port-forward", AnchorStats: summarize(kr),
		Note: fmt.Sprintf("per trial at most %d requests or %s; chat completions of 7 tokens against the stand-in", b.cfg.tputRequests, b.cfg.tputDuration)})
}

// throughput starts a forward, then measures requests/s at b.cfg.concurrency
// over b.cfg.tputTrials trials.
func (b *bench) throughput(ctx context.Context, name string, args ...string) ([]float64, error) {
	pf, err := b.r.start(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	defer pf.stop()
	port, err := pf.waitPort(30 * time.Second)
	if err != nil {
		return nil, err
	}
	url := "http://127.0.0.1:" + port + "/v1/chat/completions"
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: b.cfg.concurrency, MaxConnsPerHost: b.cfg.concurrency}}
	defer client.CloseIdleConnections()
	if _, _, err := load(ctx, client, url, b.cfg.concurrency, 4*b.cfg.concurrency, b.cfg.tputDuration); err != nil { // warm-up
		return nil, err
	}
	var rps []float64
	for i := 0; i < b.cfg.tputTrials; i++ {
		n, d, err := load(ctx, client, url, b.cfg.concurrency, b.cfg.tputRequests, b.cfg.tputDuration)
		if err != nil {
			return nil, err
		}
		rps = append(rps, float64(n)/d.Seconds())
	}
	fmt.Fprintf(os.Stderr, "bench: %s %s: %.0f req/s (median)\n", name, args[0], summarize(rps).Median)
	return rps, nil
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
