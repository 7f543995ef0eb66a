package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cairn/server/transport/backoff"
)

// Paths and headers of the peer protocol.
const (
	pathStream      = "/raft/stream"
	pathSnapshot    = "/raft/snapshot"
	hdrClusterID    = "X-Cairn-Cluster-ID"
	hdrFrom         = "X-Cairn-From"
	hdrTo           = "X-Cairn-To"
	hdrReject       = "X-Cairn-Reject"
	hdrSnapshotSize = "X-Cairn-Snapshot-Size"
)

// Values of hdrReject, telling the sender which check failed.
const (
	rejectCluster = "cluster-mismatch"
	rejectMember  = "wrong-member"
	rejectRemoved = "removed"
)

// Response body bytes.
const (
	respKeepAlive = 0x00
	respOK        = 0x01
	respError     = 0x02
)

// peer is the outbound side towards one member: a bounded queue of encoded
// frames and the goroutine that streams them.
type peer struct {
	t      *Transport
	id     uint64
	queue  chan []byte
	wake   chan struct{} // poked by enqueue after a drop: report unreachable
	ctx    context.Context
	cancel context.CancelFunc

	sent, sentBytes, batches, dropped atomic.Uint64
	needReport                        atomic.Bool
	down                              atomic.Bool // between a stream's failure and the next attempt
	rand                              *rand.Rand  // jitter, used by run only

	mu         sync.Mutex
	urls       []string
	next       int    // index into urls of the next URL to try
	connected  string // URL of the connected stream, "" if none
	stopStream func() // ends the current stream, nil if none
	active     bool
	since      time.Time
	lastErr    error
}

func newPeer(t *Transport, id uint64, urls []string, r *rand.Rand) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	return &peer{
		t:      t,
		id:     id,
		queue:  make(chan []byte, t.cfg.QueueSize),
		wake:   make(chan struct{}, 1),
		ctx:    ctx,
		cancel: cancel,
		urls:   urls,
		rand:   r,
	}
}

func (p *peer) enqueue(frame []byte) {
	if p.down.Load() {
		// The stream failed and the goroutine waits out its backoff: a
		// message queued now would go out only after that, stale (say a run
		// of MsgApps raft has given up on, which would spare a restarted
		// peer the snapshot it needs). Drop it and let Raft know, as for a
		// full queue. Messages sent while a stream is being set up are
		// queued: they go out as soon as it is.
		p.drop(1)
		return
	}
	select {
	case p.queue <- frame:
	default:
		p.drop(1)
	}
}

// drop counts n dropped messages and asks the stream goroutine to report the
// peer unreachable (never from the caller's goroutine: Send must not call
// Raft).
func (p *peer) drop(n uint64) {
	total := p.dropped.Add(n)
	if isPow2(total) {
		p.t.cfg.Logf("transport: dropped messages to %016x (%d so far)", p.id, total)
	}
	p.needReport.Store(true)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *peer) reportIfNeeded() {
	if p.needReport.Swap(false) {
		p.t.cfg.Raft.ReportUnreachable(p.id)
	}
}

// dropQueued discards everything queued; Raft will retransmit.
func (p *peer) dropQueued() {
	var n uint64
	for {
		select {
		case <-p.queue:
			n++
		default:
			if n > 0 {
				p.dropped.Add(n)
			}
			return
		}
	}
}

func (p *peer) setURLs(urls []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.urls = urls
	p.next = 0
	if p.connected != "" && !slices.Contains(urls, p.connected) && p.stopStream != nil {
		p.stopStream()
	}
}

// pickURL returns the URL to try next and advances the rotation.
func (p *peer) pickURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.urls[p.next%len(p.urls)]
	p.next = (p.next + 1) % len(p.urls)
	return u
}

func (p *peer) setActive(url string, stop func()) {
	p.mu.Lock()
	p.connected, p.stopStream = url, stop
	p.active = true
	p.since = p.t.cfg.Clock.Now()
	p.mu.Unlock()
	p.t.cfg.Logf("transport: stream to %016x at %s connected", p.id, url)
}

// setInactive records a failure; it logs only when the stream was up, so a
// peer that stays down does not flood the log.
func (p *peer) setInactive(err error) {
	p.down.Store(true)
	p.mu.Lock()
	wasActive := p.active
	first := p.lastErr == nil && p.since.IsZero()
	p.connected, p.stopStream = "", nil
	if wasActive {
		p.active = false
		p.since = p.t.cfg.Clock.Now()
	}
	p.lastErr = err
	p.mu.Unlock()
	if wasActive || first {
		p.t.cfg.Logf("transport: stream to %016x down: %v", p.id, err)
	}
}

func (p *peer) status() PeerStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PeerStatus{
		ID:        p.id,
		URLs:      slices.Clone(p.urls),
		Active:    p.active,
		Since:     p.since,
		LastError: errString(p.lastErr),
		Err:       p.lastErr,
		Sent:      p.sent.Load(),
		SentBytes: p.sentBytes.Load(),
		Batches:   p.batches.Load(),
		Dropped:   p.dropped.Load(),
	}
}

// run keeps a stream to the peer open until the peer is removed or the
// transport closed.
func (p *peer) run() {
	defer p.cancel()
	bo := backoff.New(p.t.cfg.BackoffMin, p.t.cfg.BackoffMax, p.rand)
	for {
		p.down.Store(false)
		connected, err := p.stream(p.ctx, p.pickURL())
		if p.ctx.Err() != nil {
			return
		}
		if connected {
			bo.Reset()
		}
		p.setInactive(err)
		p.dropQueued()
		p.needReport.Store(false)
		p.t.cfg.Raft.ReportUnreachable(p.id)
		wait := p.t.cfg.Clock.After(bo.Next())
	backoff:
		for {
			select {
			case <-p.ctx.Done():
				return
			case <-p.wake:
				p.reportIfNeeded()
			case <-wait:
				break backoff
			}
		}
	}
}

// newRequest builds a request to the peer with the identifying headers.
func (p *peer) newRequest(ctx context.Context, url, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(hdrClusterID, formatID(p.t.cfg.ClusterID))
	req.Header.Set(hdrFrom, formatID(p.t.cfg.LocalID))
	req.Header.Set(hdrTo, formatID(p.id))
	req.Header.Set("Content-Type", "application/octet-stream")
	return req, nil
}

// rejection turns a non-200 response into an error wrapping the matching
// sentinel, with the peer's explanation.
func rejection(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	text := strings.TrimSpace(string(msg))
	var sentinel error
	switch resp.Header.Get(hdrReject) {
	case rejectCluster:
		sentinel = ErrClusterMismatch
	case rejectMember:
		sentinel = ErrWrongMember
	case rejectRemoved:
		sentinel = ErrRemoved
	default:
		sentinel = ErrRejected
	}
	return fmt.Errorf("%w: %s: %s", sentinel, resp.Status, text)
}

// Reasons the sender ends its own stream.
var (
	errStreamDone  = errors.New("transport: stream stopped")
	errURLsChanged = errors.New("transport: stream stopped: peer URLs changed")
	errNoResponse  = errors.New("transport: no response to the stream request within the read timeout")
)

// stream connects to url and writes queued frames until the stream fails or
// ctx ends. connected reports whether the peer accepted the stream.
func (p *peer) stream(ctx context.Context, url string) (connected bool, err error) {
	ctx, cancelCause := context.WithCancelCause(ctx)
	cancel := func() { cancelCause(errStreamDone) }
	defer cancel()
	body := &streamBody{p: p, ctx: ctx, url: url, accepted: make(chan struct{}), done: make(chan struct{})}
	// The body's writer runs on net/http's connection goroutine; once it has
	// begun, wait for it before returning, so that nothing else is still
	// taking frames off the queue.
	defer func() {
		cancel()
		if body.began.Load() {
			<-body.done
		}
	}()
	req, err := p.newRequest(ctx, url, pathStream, body)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrBadPeer, err)
	}
	// Do returns once the response headers arrive, while the body is still
	// being written. If the connection dies before the headers arrive,
	// nothing would end the wait: after ReadTimeout without headers, cancel
	// the stream, which ends Do.
	headers := make(chan struct{})
	var guard sync.WaitGroup
	guard.Go(func() {
		select {
		case <-p.t.cfg.Clock.After(p.t.cfg.ReadTimeout):
			cancelCause(errNoResponse)
		case <-headers:
		case <-ctx.Done():
		}
	})
	resp, err := p.t.client.Do(req)
	close(headers)
	guard.Wait()
	if err != nil {
		if errors.Is(context.Cause(ctx), errNoResponse) {
			err = errNoResponse
		}
		return false, fmt.Errorf("%w: %s: %v", ErrUnreachable, url, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if ctx.Err() != nil {
		// The guard fired just as the headers arrived.
		return false, fmt.Errorf("%w: %s: %v", ErrUnreachable, url, context.Cause(ctx))
	}
	if resp.StatusCode != http.StatusOK {
		return false, rejection(resp)
	}

	// The reader watches the keep-alives; its failure ends the stream.
	readErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := io.Copy(io.Discard, resp.Body)
		if err == nil {
			err = ErrStreamClosed
		} else {
			err = fmt.Errorf("%w: %s: %v", ErrUnreachable, url, err)
		}
		readErr <- err
	})
	defer func() {
		cancel()
		wg.Wait()
	}()
	p.setActive(url, func() { cancelCause(errURLsChanged) })
	close(body.accepted)
	for {
		select {
		case <-ctx.Done():
			return true, context.Cause(ctx)
		case err := <-readErr:
			return true, err
		case <-body.done:
			return true, body.err
		case <-p.wake:
			p.reportIfNeeded()
		}
	}
}

// streamBody is a stream's request body. net/http's connection goroutine
// copies a request body with io.CopyBuffer, which hands the copy to WriteTo:
// so that goroutine itself waits for queued frames and writes each batch as
// one chunk (net/http flushes after every chunk of a request body). A frame
// reaches the socket after one goroutine wake-up, where a pipe between a
// goroutine of ours and net/http's would take two.
type streamBody struct {
	p        *peer
	ctx      context.Context
	url      string
	accepted chan struct{} // closed when the peer has answered 200
	began    atomic.Bool
	done     chan struct{} // closed when WriteTo returns, after err is set
	err      error
}

var errBodyRead = errors.New("transport: a stream body is written with WriteTo, not read")

// Read is never called by net/http, which uses WriteTo; a reader gets an
// error, so a change there would fail the stream loudly, not silently.
func (b *streamBody) Read([]byte) (int, error) { return 0, errBodyRead }

// WriteTo writes frames to w until the stream ends. It waits for the peer to
// accept the stream first, so no frame is sent to a peer that refuses it.
func (b *streamBody) WriteTo(w io.Writer) (int64, error) {
	if b.began.Swap(true) {
		return 0, errBodyRead
	}
	n, err := b.write(w)
	b.err = err
	close(b.done)
	return n, err
}

func (b *streamBody) write(w io.Writer) (int64, error) {
	p, ctx := b.p, b.ctx
	select {
	case <-b.accepted:
	case <-ctx.Done():
	}
	if ctx.Err() != nil {
		// Also when both were ready: the stream ended before net/http
		// got to the body.
		return 0, context.Cause(ctx)
	}
	ticker := p.t.cfg.Clock.NewTicker(p.t.cfg.KeepAlive)
	defer ticker.Stop()

	buf := make([]byte, 0, maxBatchBytes)
	var keepAlive [frameHeaderSize]byte
	var total int64
	wrote := false
	for {
		select {
		case <-ctx.Done():
			return total, context.Cause(ctx)
		case <-ticker.C():
			if !wrote {
				if _, err := w.Write(keepAlive[:]); err != nil {
					return total, fmt.Errorf("%w: %s: %v", ErrUnreachable, b.url, err)
				}
				total += frameHeaderSize
			}
			wrote = false
		case f := <-p.queue:
			buf = append(buf[:0], f...)
			n := uint64(1)
		batch:
			for len(buf) < maxBatchBytes {
				select {
				case f := <-p.queue:
					buf = append(buf, f...)
					n++
				default:
					break batch
				}
			}
			if _, err := w.Write(buf); err != nil {
				p.dropped.Add(n)
				return total, fmt.Errorf("%w: %s: %v", ErrUnreachable, b.url, err)
			}
			total += int64(len(buf))
			p.sent.Add(n)
			p.sentBytes.Add(uint64(len(buf)))
			p.batches.Add(1)
			wrote = true
		}
	}
}

// unwrapURLError drops the "Post "url": " prefix that net/http adds.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func formatID(id uint64) string { return fmt.Sprintf("%016x", id) }

func parseID(s string) (uint64, error) {
	if len(s) == 0 || len(s) > 16 {
		return 0, fmt.Errorf("%w: bad member ID %q", ErrProtocol, s)
	}
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: bad member ID %q", ErrProtocol, s)
	}
	return id, nil
}
