package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var (
	errStatus = errors.New("cairn-bench: unexpected HTTP status")
	errSetup  = errors.New("cairn-bench: setup failed")
)

// counters are shared by the clients of one run and read by the progress
// line. atomic.Int64 is 8-byte aligned on 32-bit platforms too.
type counters struct {
	ops, errs, casOK, casFail atomic.Int64
	issued                    atomic.Int64 // operations started, for --total
	firstErr                  atomic.Value // string
}

func (c *counters) fail(err error) {
	c.errs.Add(1)
	c.firstErr.CompareAndSwap(nil, err.Error())
}

// progressLoop prints a progress line every second until done is closed.
func progressLoop(w io.Writer, name string, c *counters, done <-chan struct{}) {
	if w == nil {
		return
	}
	start := time.Now()
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	var last int64
	for {
		select {
		case <-done:
			fmt.Fprintf(w, "\r%80s\r", "")
			return
		case now := <-tk.C:
			ops := c.ops.Load()
			fmt.Fprintf(w, "\r%s %5.0fs  ops %d  ops/s %d  errors %d   ",
				name, now.Sub(start).Seconds(), ops, ops-last, c.errs.Load())
			last = ops
		}
	}
}

// keyPath returns the escaped path of key i under prefix.
func keyPath(b []byte, prefix string, i int) []byte {
	b = append(b[:0], "/v2/keys"...)
	b = append(b, prefix...)
	b = append(b, "/k"...)
	return strconv.AppendInt(b, int64(i), 10)
}

// valueForm returns the form body "value=<n bytes>", made of URL-safe bytes.
func valueForm(n int) []byte {
	b := append(make([]byte, 0, n+6), "value="...)
	for i := 0; i < n; i++ {
		b = append(b, 'a'+byte(i%26))
	}
	return b
}

// connPool hands out connections to clients; with --conns < --clients the
// clients queue for them (the wait is part of the measured latency).
type connPool chan *httpConn

func newPool(cfg *config) (connPool, error) {
	p := make(connPool, cfg.conns)
	for i := 0; i < cfg.conns; i++ {
		addr, err := endpointAddr(cfg.endpoints[i%len(cfg.endpoints)])
		if err != nil {
			return nil, err
		}
		p <- newHTTPConn(addr, cfg.timeout)
	}
	return p, nil
}

func (p connPool) close() {
	for {
		select {
		case c := <-p:
			c.Close()
		default:
			return
		}
	}
}

// seed writes every key of the key space once, with cfg.clients writers.
func seed(ctx context.Context, cfg *config, p connPool) error {
	form := valueForm(cfg.valueSize)
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, cfg.clients)
	for w := 0; w < cfg.clients; w++ {
		wg.Go(func() {
			var path []byte
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= cfg.keys {
					return
				}
				c := <-p
				path = keyPath(path, cfg.prefix, i)
				st, _, err := c.do("PUT", path, form)
				p <- c
				if err == nil && st/100 != 2 {
					err = fmt.Errorf("%w: %d", errStatus, st)
				}
				if err != nil {
					errc <- fmt.Errorf("%w: seeding key %d: %w", errSetup, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

// runKV runs the closed-loop put, get, qget and cas workloads: every client
// issues its next request as soon as the previous one is answered.
func runKV(ctx context.Context, cfg *config, progress io.Writer) (*result, error) {
	p, err := newPool(cfg)
	if err != nil {
		return nil, err
	}
	defer p.close()
	switch cfg.workload {
	case "get", "qget", "cas":
		if err := seed(ctx, cfg, p); err != nil {
			return nil, err
		}
	}
	var c counters
	hists := make([]Histogram, cfg.clients)
	form := valueForm(cfg.valueSize)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.total == 0 {
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	done := make(chan struct{})
	var pwg sync.WaitGroup
	pwg.Go(func() { progressLoop(progress, cfg.workload, &c, done) })

	start := time.Now()
	var wg sync.WaitGroup
	for id := 0; id < cfg.clients; id++ {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(id), 0x5eed))
			h := &hists[id]
			var path, casForm []byte
			for ctx.Err() == nil {
				if cfg.total > 0 && c.issued.Add(1) > cfg.total {
					return
				}
				path = keyPath(path, cfg.prefix, rng.IntN(cfg.keys))
				t0 := time.Now()
				conn := <-p
				var st int
				var body []byte
				var err error
				switch cfg.workload {
				case "put":
					st, _, err = conn.do("PUT", path, form)
				case "get":
					st, _, err = conn.do("GET", path, nil)
				case "qget":
					st, _, err = conn.do("GET", append(path, "?quorum=true"...), nil)
				case "cas":
					st, body, err = conn.do("GET", path, nil)
					if err == nil && st == 200 {
						idx := modifiedIndex(body)
						casForm = append(casForm[:0], form...)
						casForm = append(casForm, "&prevIndex="...)
						casForm = strconv.AppendUint(casForm, idx, 10)
						st, body, err = conn.do("PUT", path, casForm)
					}
				}
				d := time.Since(t0)
				// Classify while the connection, whose buffer body aliases,
				// is still ours.
				casLost := cfg.workload == "cas" && st == 412 && bytes.Contains(body, []byte(`"errorCode":101`))
				if err == nil && st/100 != 2 && !casLost {
					err = fmt.Errorf("%w: %d %s", errStatus, st, bytes.TrimSpace(body))
				}
				p <- conn
				if err != nil {
					if ctx.Err() == nil {
						c.fail(err)
					}
					continue // a request cut off by the deadline is not an error
				}
				switch {
				case casLost:
					c.casFail.Add(1)
				case cfg.workload == "cas":
					c.casOK.Add(1)
				}
				h.Record(d)
				c.ops.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(done)
	pwg.Wait()
	var all Histogram
	for i := range hists {
		all.Merge(&hists[i])
	}
	res := newResult(cfg, elapsed, &c, &all)
	res.CASSuccess, res.CASFailed = c.casOK.Load(), c.casFail.Load()
	return res, nil
}

func newResult(cfg *config, elapsed time.Duration, c *counters, h *Histogram) *result {
	r := &result{
		Label: cfg.label, Workload: cfg.workload, Endpoints: cfg.endpoints,
		Clients: cfg.clients, Conns: cfg.conns, Keys: cfg.keys, ValueSize: cfg.valueSize,
		DurationS: elapsed.Seconds(), Ops: c.ops.Load(), Errors: c.errs.Load(),
		Latency: summarize(h),
	}
	if s, ok := c.firstErr.Load().(string); ok {
		r.FirstError = s
	}
	if elapsed > 0 {
		r.OpsPerSec = float64(r.Ops) / elapsed.Seconds()
	}
	return r
}

// eventSeq reads the sequence number the watch writer put at the start of
// an event's value ("<seq>.<padding>"): the first "value" of the event's
// JSON, which is node.value (node comes before prevNode).
func eventSeq(event []byte) (int64, bool) {
	const tag = `"value":"`
	i := bytes.Index(event, []byte(tag))
	if i < 0 {
		return 0, false
	}
	if p := bytes.Index(event[:i], []byte(`"prevNode"`)); p >= 0 {
		return 0, false // node has no value (a delete)
	}
	v := event[i+len(tag):]
	dot := bytes.IndexByte(v, '.')
	if dot <= 0 {
		return 0, false
	}
	var seq int64
	for _, b := range v[:dot] {
		if b < '0' || b > '9' || seq > (1<<62)/10 {
			return 0, false
		}
		seq = seq*10 + int64(b-'0')
	}
	return seq, true
}

// watchConns holds the watchers' connections, to close them all at the end
// (which ends their reads).
type watchConns struct {
	mu     sync.Mutex
	conns  []*httpConn
	closed bool
}

// add registers hc; after closeAll it closes hc and reports false.
func (w *watchConns) add(hc *httpConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		hc.Close()
		return false
	}
	w.conns = append(w.conns, hc)
	return true
}

func (w *watchConns) closeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for _, hc := range w.conns {
		hc.c.Close()
	}
}

// runWatch measures watch fan-out. cfg.watchers stream watchers
// (GET ?wait=true&stream=true) are spread over the endpoints; once all are
// registered (their response headers arrived), one writer PUTs to the watched
// key (or a random key under the prefix with --watch-recursive), one write at
// a time, each value carrying its sequence number. The delivery latency of an
// event at a watcher is the time from the writer starting to send the PUT to
// that watcher having read the event. The writer waits for every watcher to
// report the event (or --timeout, counted as missed) before the next write.
func runWatch(ctx context.Context, cfg *config, progress io.Writer) (*result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchPath := cfg.prefix + "/watched"
	query := "?wait=true&stream=true"
	if cfg.recursive {
		watchPath = cfg.prefix
		query += "&recursive=true"
	}
	// The writer's connection; it also creates the key or directory first.
	wAddr, err := endpointAddr(cfg.endpoints[0])
	if err != nil {
		return nil, err
	}
	writer := newHTTPConn(wAddr, cfg.timeout)
	defer writer.Close()
	form := valueForm(cfg.valueSize)
	var path []byte
	if cfg.recursive {
		path = keyPath(path, cfg.prefix, 0)
	} else {
		path = append(path, "/v2/keys"+watchPath...)
	}
	if st, _, err := writer.do("PUT", path, form); err != nil || st/100 != 2 {
		return nil, fmt.Errorf("%w: creating %s: status %d: %v", errSetup, path, st, err)
	}

	type delivery struct {
		seq int64
		at  time.Time
	}
	got := make(chan delivery, cfg.watchers)
	var c counters
	var wg sync.WaitGroup
	defer wg.Wait()
	// Each watcher reads its stream on a connection of its own, with the
	// same lean client as the other workloads: the chunked body is decoded
	// in place and only the event's value is looked at, so the watchers
	// cost the box little of the CPU the servers need.
	var conns watchConns
	defer conns.closeAll()
	defer cancel()
	ready := make(chan error, cfg.watchers)
	for i := 0; i < cfg.watchers; i++ {
		ep := cfg.endpoints[i%len(cfg.endpoints)]
		wg.Go(func() {
			addr, err := endpointAddr(ep)
			if err != nil {
				ready <- err
				return
			}
			hc := newHTTPConn(addr, cfg.timeout)
			body, err := hc.stream([]byte("/v2/keys" + watchPath + query))
			if err == nil && !conns.add(hc) {
				err = ctx.Err()
			}
			ready <- err
			if err != nil {
				return
			}
			lines := bufio.NewReaderSize(body, max(4<<10, 4*cfg.valueSize+1024))
			var long []byte // a line longer than the reader's buffer
			for {
				line, err := lines.ReadSlice('\n')
				at := time.Now()
				if err == bufio.ErrBufferFull {
					long = append(long, line...)
					continue
				}
				if err != nil {
					if ctx.Err() == nil {
						c.fail(fmt.Errorf("cairn-bench: watch stream ended: %w", err))
					}
					return
				}
				if len(long) > 0 {
					line = append(long, line...)
					long = long[:0]
				}
				if seq, ok := eventSeq(line); ok {
					select {
					case got <- delivery{seq, at}:
					case <-ctx.Done():
						return
					}
				}
			}
		})
	}
	for i := 0; i < cfg.watchers; i++ {
		if err := <-ready; err != nil {
			return nil, fmt.Errorf("%w: starting watcher: %w", errSetup, err)
		}
	}

	done := make(chan struct{})
	var pwg sync.WaitGroup
	pwg.Go(func() { progressLoop(progress, "watch", &c, done) })
	defer func() { close(done); pwg.Wait() }()

	var h Histogram
	rng := rand.New(rand.NewPCG(1, 0x5eed))
	deadline := time.Now().Add(cfg.duration)
	start := time.Now()
	var writes, missed int64
	var sendTimes []time.Time // by sequence number
	wform := make([]byte, 0, len(form)+24)
	timer := time.NewTimer(time.Hour)
	for seq := int64(0); ctx.Err() == nil; seq++ {
		if cfg.total > 0 && seq >= cfg.total || cfg.total == 0 && time.Now().After(deadline) {
			break
		}
		if cfg.recursive {
			path = keyPath(path, cfg.prefix, rng.IntN(cfg.keys))
		}
		wform = strconv.AppendInt(append(wform[:0], "value="...), seq, 10)
		wform = append(wform, '.')
		if pad := len(form) - len(wform); pad > 0 {
			wform = append(wform, form[len(form)-pad:]...)
		}
		t0 := time.Now()
		sendTimes = append(sendTimes, t0)
		st, body, err := writer.do("PUT", path, wform)
		if err == nil && st/100 != 2 {
			err = fmt.Errorf("%w: %d %s", errStatus, st, bytes.TrimSpace(body))
		}
		writes++
		if err != nil {
			c.fail(err)
			continue
		}
		timer.Reset(cfg.timeout)
		for n := 0; n < cfg.watchers; {
			select {
			case d := <-got:
				if d.seq < 0 || d.seq >= int64(len(sendTimes)) {
					continue
				}
				h.Record(d.at.Sub(sendTimes[d.seq]))
				c.ops.Add(1)
				if d.seq == seq {
					n++
				}
			case <-timer.C:
				missed += int64(cfg.watchers - n)
				n = cfg.watchers
			case <-ctx.Done():
				n = cfg.watchers
			}
		}
	}
	elapsed := time.Since(start)
	res := newResult(cfg, elapsed, &c, &h)
	res.Watchers, res.Writes, res.Missed = cfg.watchers, writes, missed
	res.Clients, res.Conns = 1, 1
	return res, nil
}
