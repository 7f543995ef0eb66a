package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"cairn/raft"
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

// peer is the outbound side towards one member: the encoded frames not yet
// written, and the goroutine that keeps a stream open and writes them.
type peer struct {
	t      *Transport
	id     uint64
	kick   chan struct{} // poked by push: pend has bytes for the stream goroutine
	wake   chan struct{} // poked after a drop: report unreachable
	ctx    context.Context
	cancel context.CancelFunc

	sent, sentBytes, batches, dropped atomic.Uint64
	needReport                        atomic.Bool
	rand                              *rand.Rand // jitter, used by run only

	// Outbound bytes. Whoever holds wmu while busy is false may write pend
	// to out: push tries at once, without blocking; otherwise the stream
	// goroutine takes pend and writes it with busy set.
	wmu   sync.Mutex
	pend  []byte   // encoded frames; the first may be partly written to out already
	pendN uint64   // messages in pend
	spare []byte   // the buffer the stream goroutine wrote last, for reuse
	out   *outConn // the connected stream; nil if none
	busy  bool     // the stream goroutine is writing
	wrote bool     // something was written since the last keep-alive tick
	// lastWrite is when the last write to out was started.
	lastWrite time.Time

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
		kick:   make(chan struct{}, 1),
		wake:   make(chan struct{}, 1),
		ctx:    ctx,
		cancel: cancel,
		urls:   urls,
		rand:   r,
	}
}

// add encodes m into pend; push sends it on.
func (p *peer) add(m *raft.Message) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.pendN >= uint64(p.t.cfg.QueueSize) {
		p.drop(1)
		return
	}
	start := len(p.pend)
	p.pend = appendFrame(p.pend, m)
	if size := len(p.pend) - start - frameHeaderSize; size > p.t.cfg.MaxFrameSize {
		p.pend = p.pend[:start]
		p.t.cfg.Logf("transport: dropped %v to %016x: %d bytes exceeds the frame limit %d", m.Type, m.To, size, p.t.cfg.MaxFrameSize)
		p.drop(1)
		return
	}
	p.pendN++
}

// push sends pend on. When the stream is connected and idle it writes at
// once, from the caller's goroutine, with one non-blocking system call: the
// messages reach the socket without waking another goroutine. Whatever that
// call cannot write (a full socket buffer, no stream, the stream goroutine
// busy writing) waits in pend for the stream goroutine.
func (p *peer) push() {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if len(p.pend) == 0 {
		return
	}
	now := time.Now()
	if p.out != nil && !p.busy && p.out.raw != nil && now.Sub(p.lastWrite) >= directIdle {
		n := p.out.tryWrite(p.pend)
		p.lastWrite = now
		p.wrote = p.wrote || n > 0
		p.sentBytes.Add(uint64(n))
		if n == len(p.pend) {
			p.sent.Add(p.pendN)
			p.batches.Add(1)
			p.pend, p.pendN = p.pend[:0], 0
			return
		}
		p.pend = p.pend[:copy(p.pend, p.pend[n:])]
	}
	select {
	case p.kick <- struct{}{}:
	default:
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

// dropQueued discards everything not yet written; Raft will retransmit.
func (p *peer) dropQueued() {
	p.wmu.Lock()
	n := p.pendN
	p.pend, p.pendN = p.pend[:0], 0
	p.wmu.Unlock()
	if n > 0 {
		p.dropped.Add(n)
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
)

// outConn is the write side of a connected stream.
type outConn struct {
	c   net.Conn        // with deadlines (deadlineConn), for blocking writes
	raw syscall.RawConn // the socket, for non-blocking writes; nil if c has none (net.Pipe)
}

// tryWrite writes what one non-blocking system call takes of b and returns
// how much that was; a full socket buffer or an error writes nothing, and the
// stream goroutine's next blocking write meets the error.
func (o *outConn) tryWrite(b []byte) int {
	var n int
	err := o.raw.Write(func(fd uintptr) bool {
		var err error
		n, err = unix.Write(int(fd), b)
		if err != nil || n < 0 {
			n = 0
		}
		return true // one attempt; never wait for the socket
	})
	if err != nil {
		return 0
	}
	return n
}

// stream connects to url, switches the connection to the stream protocol
// and writes frames until the stream fails or ctx ends. connected reports
// whether the peer accepted the stream.
func (p *peer) stream(ctx context.Context, url string) (connected bool, err error) {
	ctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(errStreamDone)
	c, br, err := p.connect(ctx, url)
	if err != nil {
		return false, err
	}
	// Closing the connection ends the reader below and any blocked write.
	stopAfter := context.AfterFunc(ctx, func() { c.Close() })
	defer stopAfter()

	// The reader watches the keep-alives; its failure ends the stream.
	readErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := io.Copy(io.Discard, br)
		if err == nil {
			err = ErrStreamClosed
		} else {
			err = fmt.Errorf("%w: %s: %v", ErrUnreachable, url, err)
		}
		readErr <- err
	})
	defer wg.Wait()
	defer c.Close()

	out := &outConn{c: c}
	if sc, ok := c.(*deadlineConn).Conn.(syscall.Conn); ok {
		out.raw, _ = sc.SyscallConn()
	}
	p.wmu.Lock()
	p.out = out
	p.wmu.Unlock()
	defer func() {
		p.wmu.Lock()
		p.out = nil
		n := p.pendN // a partly written frame must not start the next stream
		p.pend, p.pendN = p.pend[:0], 0
		p.wmu.Unlock()
		p.dropped.Add(n)
	}()
	p.setActive(url, func() {
		p.wmu.Lock()
		p.out = nil // nothing more goes to the old URL
		p.wmu.Unlock()
		cancelCause(errURLsChanged)
	})
	ticker := p.t.cfg.Clock.NewTicker(p.t.cfg.KeepAlive)
	defer ticker.Stop()
	select {
	case p.kick <- struct{}{}: // write what was queued while disconnected
	default:
	}
	for {
		select {
		case <-ctx.Done():
			return true, context.Cause(ctx)
		case err := <-readErr:
			return true, err
		case <-p.wake:
			p.reportIfNeeded()
		case <-ticker.C():
			// A keep-alive if nothing was written for a period; and
			// whatever Queue left without a Push goes out too.
			p.wmu.Lock()
			if !p.wrote && len(p.pend) == 0 && !p.busy {
				var keepAlive [frameHeaderSize]byte
				p.pend = append(p.pend, keepAlive[:]...)
			}
			p.wrote = false
			p.wmu.Unlock()
			if err := p.flush(out); err != nil {
				return true, fmt.Errorf("%w: %s: %v", ErrUnreachable, url, err)
			}
		case <-p.kick:
			if err := p.flush(out); err != nil {
				return true, fmt.Errorf("%w: %s: %v", ErrUnreachable, url, err)
			}
		}
	}
}

// directIdle is how long a stream must have been idle for push to write
// from the caller's goroutine. A busy stream is left to its own goroutine,
// where messages queued during one write go out together in the next.
const directIdle = 200 * time.Microsecond

// maxSpare bounds the write buffer a stream keeps for reuse.
const maxSpare = 1 << 20

// flush writes pend to out with blocking writes (each under the write
// deadline) until pend stays empty.
func (p *peer) flush(out *outConn) error {
	for {
		p.wmu.Lock()
		if p.out != out {
			p.wmu.Unlock()
			return errStreamDone // detached: pend waits for the next stream
		}
		if len(p.pend) == 0 {
			p.wmu.Unlock()
			return nil
		}
		buf, n := p.pend, p.pendN
		p.pend, p.pendN, p.spare = p.spare[:0], 0, nil
		p.busy, p.wrote = true, true
		p.lastWrite = time.Now()
		p.wmu.Unlock()
		w, err := out.c.Write(buf)
		p.sentBytes.Add(uint64(w))
		p.wmu.Lock()
		p.busy = false
		if cap(buf) <= maxSpare {
			p.spare = buf[:0]
		}
		p.wmu.Unlock()
		if err != nil {
			p.dropped.Add(n)
			return err
		}
		p.sent.Add(n)
		p.batches.Add(1)
	}
}

// Upgrade token of the message stream: the stream request asks to switch
// the connection to it, and frames follow the 101 response.
const streamProtocol = "cairn-raft-stream/1"

// connect dials url and asks for the message stream. It returns the
// connection (reads and writes under deadlines) and a reader holding any
// bytes that followed the 101 response.
func (p *peer) connect(ctx context.Context, url string) (net.Conn, *bufio.Reader, error) {
	req, err := p.newRequest(ctx, url, pathStream, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadPeer, err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", streamProtocol)
	c, err := p.t.dial(ctx, "tcp", req.URL.Host)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, url, err)
	}
	// Until the answer is in, a cancelled ctx closes the connection.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	br := bufio.NewReader(c)
	resp, err := func() (*http.Response, error) {
		if err := req.Write(c); err != nil {
			return nil, err
		}
		return http.ReadResponse(br, req)
	}()
	if !stop() || ctx.Err() != nil {
		c.Close()
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, url, context.Cause(ctx))
	}
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, url, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		err := rejection(resp)
		resp.Body.Close()
		c.Close()
		return nil, nil, err
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), streamProtocol) {
		c.Close()
		return nil, nil, fmt.Errorf("%w: %s: switched to %q, want %q", ErrProtocol, url, resp.Header.Get("Upgrade"), streamProtocol)
	}
	return c, br, nil
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
