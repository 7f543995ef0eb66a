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
	rand                              *rand.Rand // jitter, used by run only

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
	pr, pw := io.Pipe()
	// net/http waits for the body writer when a request is cancelled, and
	// that writer may be blocked reading the pipe: unblock it.
	stopAfter := context.AfterFunc(ctx, func() { pr.CloseWithError(context.Cause(ctx)) })
	defer stopAfter()
	defer pw.CloseWithError(errStreamDone)
	req, err := p.newRequest(ctx, url, pathStream, pr)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrBadPeer, err)
	}
	// Do returns only once the request body is finished, and the body is the
	// pipe this goroutine writes after Do returns: if the connection dies
	// before the response headers arrive, nothing would ever end the wait.
	// Bound it: after ReadTimeout without headers, cancel the stream, which
	// closes the pipe (stopAfter above) and so ends Do.
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
		pr.CloseWithError(err)
		readErr <- err
	})
	defer func() {
		cancel()
		pr.CloseWithError(errStreamDone)
		wg.Wait()
	}()
	p.setActive(url, func() { cancelCause(errURLsChanged) })
	ticker := p.t.cfg.Clock.NewTicker(p.t.cfg.KeepAlive)
	defer ticker.Stop()

	buf := make([]byte, 0, maxBatchBytes)
	var keepAlive [frameHeaderSize]byte
	wrote := false
	for {
		select {
		case <-ctx.Done():
			return true, context.Cause(ctx)
		case err := <-readErr:
			return true, err
		case <-p.wake:
			p.reportIfNeeded()
		case <-ticker.C():
			if !wrote {
				if _, err := pw.Write(keepAlive[:]); err != nil {
					return true, fmt.Errorf("%w: %s: %v", ErrUnreachable, url, err)
				}
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
			if _, err := pw.Write(buf); err != nil {
				p.dropped.Add(n)
				return true, fmt.Errorf("%w: %s: %v", ErrUnreachable, url, err)
			}
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
