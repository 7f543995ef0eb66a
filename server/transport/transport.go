package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"cairn/raft"
)

// Raft is what the transport needs from the member. See the package
// documentation for when each method is called.
type Raft interface {
	// Process hands a received message to Raft.
	Process(ctx context.Context, m raft.Message) error
	// IsRemoved reports whether member id was removed from the cluster;
	// its requests are refused with 410 Gone.
	IsRemoved(id uint64) bool
	// ReportUnreachable tells Raft that messages to id were dropped.
	ReportUnreachable(id uint64)
	// ReportSnapshot tells Raft the outcome of a SendSnapshot to id.
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
	// ReceiveSnapshot stores an incoming snapshot. It must read payload to
	// io.EOF; any other read error means the transfer failed, and what was
	// written must be discarded. It may set m.Snapshot.Data (m.Snapshot is
	// shared with the message later given to Process).
	ReceiveSnapshot(ctx context.Context, m raft.Message, payload io.Reader) error
}

// Errors, matched with errors.Is. They appear in logs, in PeerStatus.LastError
// and in the errors of the receiving side.
var (
	ErrClosed          = errors.New("transport: closed")
	ErrUnknownPeer     = errors.New("transport: unknown peer")
	ErrPeerExists      = errors.New("transport: peer already added")
	ErrBadPeer         = errors.New("transport: bad peer ID or URL")
	ErrUnreachable     = errors.New("transport: peer unreachable")
	ErrClusterMismatch = errors.New("transport: cluster ID mismatch")
	ErrWrongMember     = errors.New("transport: request addressed to another member")
	ErrRemoved         = errors.New("transport: member removed from the cluster")
	ErrRejected        = errors.New("transport: request rejected by peer")
	ErrProtocol        = errors.New("transport: protocol error")
	ErrFrameTooLarge   = errors.New("transport: frame too large")
	ErrSnapshot        = errors.New("transport: snapshot transfer failed")
	ErrStreamClosed    = errors.New("transport: stream closed by peer")
)

// Defaults for Config's zero values.
const (
	DefaultDialTimeout  = time.Second
	DefaultWriteTimeout = 5 * time.Second
	DefaultKeepAlive    = time.Second
	DefaultQueueSize    = 4096
	DefaultMaxFrameSize = 16 << 20
	// DefaultMaxInboundSnapshots suits a small box; etcd allows 16.
	DefaultMaxInboundSnapshots = 2
	DefaultBackoffMin          = 100 * time.Millisecond
	DefaultBackoffMax          = 5 * time.Second
	// maxBatchBytes bounds one write of queued frames.
	maxBatchBytes = 64 << 10
)

// Config configures a Transport. LocalID, ClusterID and Raft are required;
// zero values of the rest select the defaults.
type Config struct {
	LocalID   uint64
	ClusterID uint64
	Raft      Raft

	// Logf receives diagnostics; nil discards them.
	Logf func(format string, args ...any)
	// Clock drives backoff and keep-alives; nil means SystemClock.
	Clock Clock
	// Rand seeds the reconnect jitter; nil means a random seed.
	Rand *rand.Rand

	// DialTimeout bounds connecting to a peer.
	DialTimeout time.Duration
	// WriteTimeout bounds every write on a peer connection.
	WriteTimeout time.Duration
	// KeepAlive is how often an idle stream sends a keep-alive each way.
	KeepAlive time.Duration
	// ReadTimeout bounds every read on a peer connection; default 5 × KeepAlive.
	ReadTimeout time.Duration
	// QueueSize is the number of messages queued per peer before Send drops.
	QueueSize int
	// MaxFrameSize is the largest encoded message accepted or sent.
	MaxFrameSize int
	// MaxInboundSnapshots bounds the snapshots received at once (each holds a
	// decompressor); more are refused with 503 and Raft retries later.
	MaxInboundSnapshots int
	// BackoffMin and BackoffMax bound the reconnect delay.
	BackoffMin, BackoffMax time.Duration
	// DialContext, if set, replaces the TCP dialer (tests use net.Pipe).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

func (c *Config) setDefaults() {
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.KeepAlive, DefaultKeepAlive)
	def(&c.ReadTimeout, 5*c.KeepAlive)
	def(&c.BackoffMin, DefaultBackoffMin)
	def(&c.BackoffMax, DefaultBackoffMax)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxInboundSnapshots <= 0 {
		c.MaxInboundSnapshots = DefaultMaxInboundSnapshots
	}
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.DialContext == nil {
		d := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 5 * time.Second, Count: 3}}
		c.DialContext = d.DialContext
	}
}

// Transport sends and receives Raft messages. Create it with New.
type Transport struct {
	cfg    Config
	client *http.Client
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine started by the transport

	mu      sync.RWMutex
	closed  bool
	peers   map[uint64]*peer
	inbound map[*inbound]struct{}
	streams map[uint64]*inbound // the current inbound message stream per sender

	snapSem        chan struct{} // one token per snapshot being received
	mismatchLogged sync.Map      // foreign cluster ID -> struct{}
	processErrors  atomic.Uint64
	unknownDropped atomic.Uint64
}

// New returns a Transport with no peers. It panics if LocalID is zero or Raft
// is nil (programmer errors).
func New(cfg Config) *Transport {
	if cfg.LocalID == raft.None || cfg.Raft == nil {
		panic("transport: New needs a non-zero LocalID and a Raft")
	}
	cfg.setDefaults()
	t := &Transport{
		cfg:     cfg,
		peers:   map[uint64]*peer{},
		inbound: map[*inbound]struct{}{},
		streams: map[uint64]*inbound{},
		snapSem: make(chan struct{}, cfg.MaxInboundSnapshots),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	var protocols http.Protocols
	protocols.SetHTTP1(true) // no HTTP/2: one TCP stream per peer stream
	t.client = &http.Client{Transport: &http.Transport{
		Proxy:                 nil, // peers are never reached through $HTTP_PROXY
		DialContext:           t.dial,
		DisableKeepAlives:     true, // streams are long-lived; no idle pool to leak
		DisableCompression:    true,
		ResponseHeaderTimeout: cfg.ReadTimeout,
		Protocols:             &protocols,
	}}
	return t
}

func (t *Transport) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	defer cancel()
	c, err := t.cfg.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: c, readTimeout: t.cfg.ReadTimeout, writeTimeout: t.cfg.WriteTimeout}, nil
}

// goFunc runs f on a goroutine that Close waits for.
func (t *Transport) goFunc(f func()) { t.wg.Go(f) }

// parseURLs checks peer URLs: http with a host, nothing else.
func parseURLs(urls []string) ([]string, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("%w: no URLs", ErrBadPeer)
	}
	out := make([]string, 0, len(urls))
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return nil, fmt.Errorf("%w: %q is not an http://host:port URL", ErrBadPeer, s)
		}
		out = append(out, "http://"+u.Host)
	}
	return out, nil
}

// AddPeer starts a stream to member id at the given peer URLs.
func (t *Transport) AddPeer(id uint64, urls []string) error {
	if id == raft.None || id == t.cfg.LocalID {
		return fmt.Errorf("%w: peer ID %016x", ErrBadPeer, id)
	}
	us, err := parseURLs(urls)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if _, ok := t.peers[id]; ok {
		return fmt.Errorf("%w: %016x", ErrPeerExists, id)
	}
	// *rand.Rand is not safe for concurrent use: each peer gets its own,
	// seeded from the configured one (under t.mu).
	r := rand.New(rand.NewPCG(t.cfg.Rand.Uint64(), t.cfg.Rand.Uint64()))
	p := newPeer(t, id, us, r)
	t.peers[id] = p
	t.goFunc(p.run)
	return nil
}

// UpdatePeer replaces the URLs of member id. A connected stream whose URL is
// no longer listed is closed and reconnects to a listed one.
func (t *Transport) UpdatePeer(id uint64, urls []string) error {
	us, err := parseURLs(urls)
	if err != nil {
		return err
	}
	t.mu.RLock()
	p, ok := t.peers[id]
	closed := t.closed
	t.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case !ok:
		return fmt.Errorf("%w: %016x", ErrUnknownPeer, id)
	}
	p.setURLs(us)
	return nil
}

// RemovePeer stops the stream to member id and forgets it. It does not wait
// for the stream goroutine to exit (Close does). Removing an unknown peer is
// a no-op.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	p, ok := t.peers[id]
	delete(t.peers, id)
	t.mu.Unlock()
	if ok {
		p.cancel()
	}
}

// Send queues messages for their recipients without blocking. msgs may be
// reused when Send returns. See the package documentation for drops.
func (t *Transport) Send(msgs []raft.Message) {
	for i := range msgs {
		m := &msgs[i]
		if m.To == raft.None || m.To == t.cfg.LocalID {
			continue
		}
		t.mu.RLock()
		p, ok := t.peers[m.To]
		closed := t.closed
		t.mu.RUnlock()
		if closed {
			return
		}
		if !ok {
			if n := t.unknownDropped.Add(1); isPow2(n) {
				t.cfg.Logf("transport: dropped %v to unknown peer %016x (%d such drops)", m.Type, m.To, n)
			}
			continue
		}
		if m.Type == raft.MsgSnap && m.Snapshot != nil {
			data := bytes.Clone(m.Snapshot.Data)
			t.SendSnapshot(*m, io.NopCloser(bytes.NewReader(data)), int64(len(data)))
			continue
		}
		frame := appendFrame(make([]byte, 0, frameSizeHint(m)), m)
		if len(frame)-frameHeaderSize > t.cfg.MaxFrameSize {
			t.cfg.Logf("transport: dropped %v to %016x: %d bytes exceeds the frame limit %d", m.Type, m.To, len(frame)-frameHeaderSize, t.cfg.MaxFrameSize)
			p.drop(1)
			continue
		}
		p.enqueue(frame)
	}
}

// SendSnapshot streams a MsgSnap with its payload (size bytes) to m.To in the
// background, closes payload when done, and reports the outcome through
// Raft.ReportSnapshot. After Close, payload is closed and nothing is
// reported.
func (t *Transport) SendSnapshot(m raft.Message, payload io.ReadCloser, size int64) {
	m = cloneForSnapshot(m)
	t.mu.RLock()
	p, ok := t.peers[m.To]
	closed := t.closed
	if !closed {
		t.wg.Add(1) // under the lock, so Close cannot be waiting yet
	}
	t.mu.RUnlock()
	if closed {
		payload.Close()
		return
	}
	go func() {
		defer t.wg.Done()
		defer payload.Close()
		var err error
		if !ok {
			err = fmt.Errorf("%w: %016x", ErrUnknownPeer, m.To)
		} else {
			err = p.sendSnapshot(t.ctx, m, payload, size)
		}
		status := raft.SnapshotFinish
		if err != nil {
			status = raft.SnapshotFailure
			t.cfg.Logf("transport: snapshot at index %d to %016x failed: %v", snapIndex(&m), m.To, err)
		}
		t.cfg.Raft.ReportSnapshot(m.To, status)
	}()
}

// cloneForSnapshot copies what the background sender reads of m, so the
// caller may reuse m (the payload travels separately).
func cloneForSnapshot(m raft.Message) raft.Message {
	m.Entries = nil
	m.Context = slices.Clone(m.Context)
	if m.Snapshot != nil {
		s := raft.Snapshot{Meta: m.Snapshot.Meta}
		s.Meta.ConfState.Voters = slices.Clone(s.Meta.ConfState.Voters)
		s.Meta.ConfState.Learners = slices.Clone(s.Meta.ConfState.Learners)
		m.Snapshot = &s
	}
	return m
}

func snapIndex(m *raft.Message) uint64 {
	if m.Snapshot == nil {
		return 0
	}
	return m.Snapshot.Meta.Index
}

// PeerStatus describes the outbound stream to one peer.
type PeerStatus struct {
	ID        uint64
	URLs      []string
	Active    bool      // the stream is connected
	Since     time.Time // when Active last changed (zero: never connected)
	LastError string    // why the stream last failed, "" if it never did
	Err       error     // the same failure, for errors.Is (ErrRemoved, ErrClusterMismatch, ...)
	Sent      uint64    // messages written to the stream
	SentBytes uint64    // bytes written, frame headers included
	Batches   uint64    // writes (each carrying one or more messages)
	Dropped   uint64    // messages dropped (queue full, stream failure, too large)
}

// Status returns the state of every peer, ordered by ID.
func (t *Transport) Status() []PeerStatus {
	t.mu.RLock()
	ps := make([]*peer, 0, len(t.peers))
	for _, p := range t.peers {
		ps = append(ps, p)
	}
	t.mu.RUnlock()
	out := make([]PeerStatus, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.status())
	}
	slices.SortFunc(out, func(a, b PeerStatus) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// ActivePeers returns the IDs of the peers whose stream is connected, sorted.
func (t *Transport) ActivePeers() []uint64 {
	var ids []uint64
	for _, s := range t.Status() {
		if s.Active {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// Close stops all streams and snapshot transfers, ends the inbound streams
// served by Handler, and waits for every goroutine the transport started. It
// does not close the peer listener. Close is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	t.peers = map[uint64]*peer{}
	in := make([]*inbound, 0, len(t.inbound))
	for s := range t.inbound {
		in = append(in, s)
	}
	t.mu.Unlock()
	t.cancel()
	for _, s := range in {
		s.stop()
	}
	t.wg.Wait()
	t.client.CloseIdleConnections()
	return nil
}

func isPow2(n uint64) bool { return bits.OnesCount64(n) == 1 }
