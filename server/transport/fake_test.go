package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"cairn/raft"
)

// fakeRaft is a hand-written Raft that records what the transport does.
type fakeRaft struct {
	mu          sync.Mutex
	msgs        []raft.Message
	waiters     []waiter
	removed     map[uint64]bool
	processErr  error
	snapErr     error // returned by ReceiveSnapshot after reading
	snapshots   [][]byte
	snapReadErr []error // read errors ReceiveSnapshot saw

	unreachable chan uint64
	snapStatus  chan snapReport
	snapEntered chan struct{} // if not nil, ReceiveSnapshot signals here...
	snapGate    chan struct{} // ...and waits for this
}

type waiter struct {
	n  int
	ch chan struct{}
}

type snapReport struct {
	id     uint64
	status raft.SnapshotStatus
}

func newFakeRaft() *fakeRaft {
	return &fakeRaft{
		removed:     map[uint64]bool{},
		unreachable: make(chan uint64, 1<<16),
		snapStatus:  make(chan snapReport, 64),
	}
}

func (f *fakeRaft) Process(ctx context.Context, m raft.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, m)
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if len(f.msgs) >= w.n {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	f.waiters = kept
	return f.processErr
}

func (f *fakeRaft) IsRemoved(id uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removed[id]
}

func (f *fakeRaft) ReportUnreachable(id uint64) {
	select {
	case f.unreachable <- id:
	default:
	}
}

func (f *fakeRaft) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	f.snapStatus <- snapReport{id, status}
}

func (f *fakeRaft) ReceiveSnapshot(ctx context.Context, m raft.Message, payload io.Reader) error {
	if f.snapEntered != nil {
		f.snapEntered <- struct{}{}
		<-f.snapGate
	}
	var buf bytes.Buffer
	_, err := io.Copy(&buf, payload)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.snapReadErr = append(f.snapReadErr, err)
		return err
	}
	f.snapshots = append(f.snapshots, buf.Bytes())
	return f.snapErr
}

// reached returns a channel closed once n messages have been processed.
func (f *fakeRaft) reached(n int) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{})
	if len(f.msgs) >= n {
		close(ch)
	} else {
		f.waiters = append(f.waiters, waiter{n, ch})
	}
	return ch
}

func (f *fakeRaft) received() []raft.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]raft.Message(nil), f.msgs...)
}

// waitFor fails the test if ch is not closed within d (a generous bound:
// the tests never wait this long unless something is broken).
func waitFor(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// logSink collects Logf output.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, sprintf(format, args...))
}

func (l *logSink) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if bytes.Contains([]byte(s), []byte(substr)) {
			n++
		}
	}
	return n
}

// node is a transport serving on a loopback httptest server.
type node struct {
	id   uint64
	tr   *Transport
	raft *fakeRaft
	srv  *httptest.Server
	log  *logSink
}

func (n *node) url() string { return n.srv.URL }

const testCluster = 0xc1

func testConfig(id, cluster uint64, fr *fakeRaft, log *logSink) Config {
	return Config{
		LocalID:    id,
		ClusterID:  cluster,
		Raft:       fr,
		Logf:       log.logf,
		BackoffMin: 10 * time.Millisecond,
		BackoffMax: 100 * time.Millisecond,
	}
}

// newNode starts a member on loopback; wrap, if not nil, wraps its handler.
func newNode(t *testing.T, id, cluster uint64, wrap func(http.Handler) http.Handler) *node {
	t.Helper()
	n := &node{id: id, raft: newFakeRaft(), log: &logSink{}}
	n.tr = New(testConfig(id, cluster, n.raft, n.log))
	var h http.Handler = n.tr.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	n.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		n.tr.Close()
		n.srv.Close()
	})
	return n
}

func connect(t *testing.T, a, b *node) {
	t.Helper()
	if err := a.tr.AddPeer(b.id, []string{b.url()}); err != nil {
		t.Fatal(err)
	}
}

func app(from, to, index uint64) raft.Message {
	return raft.Message{Type: raft.MsgApp, From: from, To: to, Term: 3, LogTerm: 3, Index: index - 1, Commit: index - 1,
		Entries: []raft.Entry{{Term: 3, Index: index, Data: []byte("set /k v")}}}
}

// pipeNet is an in-memory network of net.Pipe connections for synctest
// bubbles: listeners by address, and a dialer.
type pipeNet struct {
	mu sync.Mutex
	ls map[string]*pipeListener
}

type pipeListener struct {
	addr string
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	net  *pipeNet
}

func (n *pipeNet) listen(addr string) *pipeListener {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ls == nil {
		n.ls = map[string]*pipeListener{}
	}
	l := &pipeListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{}), net: n}
	n.ls[addr] = l
	return l
}

var errRefused = errors.New("pipenet: connection refused")

func (n *pipeNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	l := n.ls[addr]
	n.mu.Unlock()
	if l == nil {
		return nil, errRefused
	}
	c1, c2 := net.Pipe()
	select {
	case l.ch <- c2:
		return c1, nil
	case <-l.done:
		return nil, errRefused
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.net.mu.Lock()
		if l.net.ls[l.addr] == l {
			delete(l.net.ls, l.addr)
		}
		l.net.mu.Unlock()
	})
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr(l.addr) }

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }
