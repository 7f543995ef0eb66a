package server

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"cairn/httpapi"
	"cairn/httpapi/h1"
	"cairn/kv"
	"cairn/raft"
	"cairn/server/config"
	"cairn/server/transport"
	"cairn/snapshot"
	"cairn/wal"
)

// Errors, matched with errors.Is.
var (
	// ErrBootstrap: the member could not create or join its cluster (peers
	// did not answer in time, the member was not added, ...).
	ErrBootstrap = errors.New("server: cannot bootstrap")
	// ErrDataDir: the data directory cannot be used.
	ErrDataDir = errors.New("server: bad data directory")
	// ErrCorruptEntry: a committed entry does not decode; the member stops.
	ErrCorruptEntry = errors.New("server: corrupt log entry")
	// ErrFatal: a storage error the member cannot continue after.
	ErrFatal = errors.New("server: fatal storage error")
)

// Defaults of the tunables on Member.
const (
	DefaultCatchUpEntries = 5000
	DefaultRequestTimeout = 5 * time.Second
	DefaultBootstrapWait  = 5 * time.Minute
)

// maxInflightMsgs bounds the appends in flight to one follower. One: the
// leader sends a follower its next append only when the previous one is
// acknowledged, and everything proposed meanwhile leaves in that append, so
// a follower saves each batch with one write and one fdatasync and the
// leader writes one append per round trip. With a second append in flight,
// the follower saved it right after the first one, while it held only the
// few entries proposed in between, and the entries after it waited for
// both saves. On one 2-core box with 32 clients the window went 256 -> 4
// -> 2 -> 1, and each step cut CPU per write and raised throughput (1 over
// 2: 14 of 14 pairs, 8-12% more writes/s); with every fdatasync slowed to 5
// ms (an SD card), 1 over 2 gave 2,900-3,000 against 2,270-2,360 writes/s
// and a p50 of 11.5 against 13.8 ms (docs/performance.md). A follower
// catching up still gets up to MaxSizePerMsg per round trip.
const maxInflightMsgs = 1

// Clock is the time source of a member (leader-stamped request times,
// expiry checks). The default is the system clock.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// logStore is the durable log as the Ready loop uses it (*wal.WAL).
type logStore interface {
	Save(hs raft.HardState, ents []raft.Entry) (wal.SaveResult, error)
	SaveSnapshot(m wal.SnapshotMarker) error
	ReleaseBefore(index uint64) error
	Close() error
}

// Member is one running cluster member: the Raft loop, its storage, the
// peer transport and the client API. Create it with New, then Start; Stop
// ends it.
type Member struct {
	// Tunables: set them between New and Start.

	// CatchUpEntries is how many log entries are kept in memory after a
	// snapshot so slow followers can catch up without a snapshot.
	CatchUpEntries uint64
	// RequestTimeout bounds each client proposal or quorum read.
	RequestTimeout time.Duration
	// BootstrapWait bounds waiting for the peers of a new cluster.
	BootstrapWait time.Duration
	// Clock is the time source; nil means the system clock.
	Clock Clock
	// UnsafeNoFsync turns off fsync in the WAL and snapshots: UNSAFE, for
	// tests only.
	UnsafeNoFsync bool
	// AdaptiveProcs lets the member set GOMAXPROCS from its load: one P
	// while few requests wait on it, the GOMAXPROCS it started with while
	// many do or a snapshot is written (procs.go). It changes a
	// process-wide setting, so only a process that runs one member should
	// turn it on; the daemon does, unless GOMAXPROCS is set in its
	// environment.
	AdaptiveProcs bool

	cfg    *config.Config
	logger *slog.Logger
	rand   *rand.Rand // guarded by randMu
	randMu sync.Mutex

	id, clusterID uint64
	store         *kv.Store
	ms            *raft.MemoryStorage
	rn            *raft.RawNode // owned by the loop goroutine
	wal           logStore
	snapper       *snapshot.Snapshotter
	tr            *transport.Transport
	api           *httpapi.Handler
	cluster       clusterView
	joinPeers     []memberJSON

	// send and save are the Ready loop's I/O seams; wrapIO, if set, may
	// wrap them at Start (tests).
	send   func([]raft.Message)
	save   func(raft.HardState, []raft.Entry) error
	wrapIO func(*Member)

	clientLns, peerLns []net.Listener
	servers            []httpServer
	peerRaft           atomic.Pointer[http.Handler]

	actc  chan func(*raft.RawNode)
	snapc chan snapResult
	// The disk writer (writer.go): Readies to persist, and Readies made
	// durable, in order. walQueued (loop-owned) counts those handed over
	// and not yet reported back.
	walIn     chan raft.Ready
	walOut    chan []raft.Ready
	walQueued int
	// walFlush asks a lingering writer to save now (flushWriter);
	// lingerOK, set by the loop, lets it linger at all (writer.go).
	walFlush chan struct{}
	lingerOK atomic.Bool
	// lastHS is the newest hard state raft handed out; lazyHS one that
	// moved only the commit index and went to no writer yet (loop-owned).
	lastHS, lazyHS raft.HardState

	// Loop-owned state.
	confState     raft.ConfState
	appliedTerm   uint64
	snapIndex     atomic.Uint64 // written by the loop only
	snapshotting  bool
	expirePending time.Time
	startCommit   uint64
	startTime     time.Time
	leaderSince   atomic.Int64 // unix nanoseconds
	sendApp       atomic.Uint64
	recvApp       atomic.Uint64
	stats         serverStats // metrics and leader stats (stats.go)
	// readsWaiting counts quorum reads in flight, for the procs governor
	// (proposals in flight are stats.proposalsPending).
	readsWaiting atomic.Int64
	// procs is the procs governor (nil unless AdaptiveProcs); only the
	// Ready loop uses it. setProcs is runtime.GOMAXPROCS, replaced in
	// tests.
	procs    *procsGovernor
	setProcs func(int) int
	// queuedBytes is the payload size of received messages queued for the
	// loop and not yet stepped (see Process). Invariant: at most
	// maxQueuedBytes plus one message per inbound stream.
	queuedBytes  atomic.Int64
	campaigned   bool
	snapFailedAt uint64
	// snapStagger delays this process's first snapshot by a share of
	// --snapshot-count set by the member's rank among the voters, so that
	// members do not all snapshot at the same index (see maybeSnapshot).
	// staggered records that it has been set.
	snapStagger uint64
	staggered   bool

	// Published state.
	lead        atomic.Uint64
	term        atomic.Uint64
	applied     atomic.Uint64
	isLeader    atomic.Bool
	lastLoop    atomic.Int64
	reqSeq      atomic.Uint64
	tickEvery   time.Duration
	electionDur time.Duration

	mu          sync.Mutex
	waiters     map[uint64]chan result
	readWaiters map[uint64]chan uint64
	pendingRead []raft.ReadState
	appliedCh   chan struct{} // closed and replaced after each apply batch
	leaderCh    chan struct{} // closed while a leader is known

	started   atomic.Bool
	running   atomic.Bool   // set once storage, transport and RawNode exist
	idPub     atomic.Uint64 // m.id for handlers that run during bootstrap
	stopOnce  sync.Once
	stopc     chan struct{}
	removedc  chan struct{}
	readyc    chan struct{}
	readyOnce sync.Once
	failc     chan struct{}
	failErr   error
	failOnce  sync.Once
	wg        sync.WaitGroup
}

type result struct {
	ev  *kv.Event
	err error
	// dropped: raft refused the proposal (no leader, a transfer under
	// way, ...); nothing was proposed and the caller may retry.
	dropped bool
}

type snapResult struct {
	meta raft.SnapshotMeta
	err  error
}

// New validates cfg and binds the client and peer listeners (so the
// addresses are known, and taken, before Start). It does not touch the
// data directory.
func New(cfg *config.Config, logger *slog.Logger) (*Member, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var seed [16]byte
	crand.Read(seed[:])
	m := &Member{
		CatchUpEntries: DefaultCatchUpEntries,
		RequestTimeout: DefaultRequestTimeout,
		BootstrapWait:  DefaultBootstrapWait,
		cfg:            cfg,
		logger:         logger,
		rand:           rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))),
		actc:           make(chan func(*raft.RawNode), 4096),
		snapc:          make(chan snapResult, 1),
		walIn:          make(chan raft.Ready, maxWriterQueue),
		walOut:         make(chan []raft.Ready, 1),
		walFlush:       make(chan struct{}, 1),
		waiters:        map[uint64]chan result{},
		readWaiters:    map[uint64]chan uint64{},
		appliedCh:      make(chan struct{}),
		leaderCh:       make(chan struct{}),
		stopc:          make(chan struct{}),
		removedc:       make(chan struct{}),
		readyc:         make(chan struct{}),
		failc:          make(chan struct{}),
	}
	m.tickEvery = cfg.HeartbeatInterval
	m.electionDur = cfg.ElectionTimeout
	listen := func(urls []url.URL) ([]net.Listener, error) {
		var out []net.Listener
		for _, u := range urls {
			ln, err := net.Listen("tcp", u.Host)
			if err != nil {
				for _, l := range out {
					l.Close()
				}
				return nil, fmt.Errorf("server: listen on %s: %w", u.String(), err)
			}
			out = append(out, ln)
		}
		return out, nil
	}
	var err error
	if m.peerLns, err = listen(cfg.ListenPeerURLs); err != nil {
		return nil, err
	}
	if m.clientLns, err = listen(cfg.ListenClientURLs); err != nil {
		for _, l := range m.peerLns {
			l.Close()
		}
		return nil, err
	}
	return m, nil
}

// ClientAddrs and PeerAddrs return the bound listener addresses.
func (m *Member) ClientAddrs() []net.Addr { return addrs(m.clientLns) }

// PeerAddrs returns the bound peer listener addresses.
func (m *Member) PeerAddrs() []net.Addr { return addrs(m.peerLns) }

func addrs(lns []net.Listener) []net.Addr {
	out := make([]net.Addr, len(lns))
	for i, l := range lns {
		out[i] = l.Addr()
	}
	return out
}

// goFunc runs f on a goroutine that Stop waits for.
func (m *Member) goFunc(f func()) { m.wg.Go(f) }

func (m *Member) now() time.Time {
	if m.Clock != nil {
		return m.Clock.Now()
	}
	return time.Now()
}

// Start opens or creates the member's storage (for a new cluster it first
// exchanges member IDs with the peers listed in --initial-cluster; for
// --initial-cluster-state existing it asks them for its ID), starts the
// Raft loop and serves the listeners. ctx bounds the bootstrap; it is not
// used afterwards. A second Start panics.
func (m *Member) Start(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		panic("server: Start called twice")
	}
	m.api = httpapi.New(m, httpapi.Options{Timeout: m.RequestTimeout, Logf: m.logf})
	peerMux := http.NewServeMux()
	peerMux.HandleFunc("/cairn/id", m.serveID)
	peerMux.HandleFunc("/cairn/members", m.serveMembers)
	peerMux.HandleFunc("/raft/", func(w http.ResponseWriter, r *http.Request) {
		h := m.peerRaft.Load()
		if h == nil {
			http.Error(w, "member starting", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	})
	peerMux.HandleFunc(httpapi.ForwardPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		if !m.running.Load() {
			http.Error(w, "member starting", http.StatusServiceUnavailable)
			return
		}
		http.StripPrefix(httpapi.ForwardPrefix, m.api).ServeHTTP(w, r)
	})
	for _, ln := range m.peerLns {
		m.serve(ln, peerMux)
	}
	if err := m.openStorage(ctx); err != nil {
		m.Stop()
		return err
	}
	m.idPub.Store(m.id)
	m.randMu.Lock()
	trSeed, raftSeed := [2]uint64{m.rand.Uint64(), m.rand.Uint64()}, [2]uint64{m.rand.Uint64(), m.rand.Uint64()}
	m.randMu.Unlock()
	m.tr = transport.New(transport.Config{
		LocalID: m.id, ClusterID: m.clusterID, Raft: m, Logf: m.logf,
		// The transport shares one Rand among its peer goroutines; a
		// locked source makes that safe.
		Rand:      rand.New(&lockedSource{src: rand.NewPCG(trSeed[0], trSeed[1])}),
		KeepAlive: min(time.Second, m.electionDur/2),
	})
	h := m.tr.Handler()
	m.peerRaft.Store(&h)
	m.syncPeers()
	m.send = m.tr.Send
	m.save = func(hs raft.HardState, ents []raft.Entry) error {
		start := time.Now()
		res, err := m.wal.Save(hs, ents)
		m.stats.walSaved(start, res.Bytes, res.Synced)
		return err
	}
	if m.wrapIO != nil {
		m.wrapIO(m)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              m.id,
		ElectionTick:    int(m.electionDur / m.tickEvery),
		HeartbeatTick:   1,
		Storage:         m.ms,
		Applied:         m.applied.Load(),
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: maxInflightMsgs,
		// A leader answers once a quorum has the entry durable, without
		// waiting for its own disk writer, which may then linger
		// (writer.go).
		LeaderAppliesUnpersisted: true,
		CheckQuorum:              true,
		PreVote:                  true,
		Rand:                     rand.New(rand.NewPCG(raftSeed[0], raftSeed[1])),
		Logger:                   raftLogger{m.logger},
	})
	if err != nil {
		m.Stop()
		return fmt.Errorf("server: %w", err)
	}
	m.rn = rn
	m.running.Store(true)
	hs, _, _ := m.ms.InitialState()
	m.startCommit = hs.Commit
	m.lastHS = hs
	m.term.Store(hs.Term)
	// Request IDs continue from the clock, so entries proposed before a
	// restart and committed after it never match a new request's ID.
	m.reqSeq.Store(uint64(time.Now().UnixNano()))
	m.lastLoop.Store(time.Now().UnixNano())
	m.startTime = time.Now().UTC()
	if m.AdaptiveProcs {
		set := m.setProcs
		if set == nil {
			set = runtime.GOMAXPROCS
		}
		m.procs = newProcsGovernor(set(0), set)
	}
	m.goFunc(m.runWriter)
	m.goFunc(m.run)
	m.goFunc(m.publish)
	// Clients are served once the member has published its attributes
	// (and, on the leader, the cluster version), like etcd: so the first
	// user write of a fresh cluster gets store index 4.
	m.goFunc(func() {
		select {
		case <-m.readyc:
		case <-m.stopc:
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		select {
		case <-m.stopc:
			return
		default:
		}
		for _, ln := range m.clientLns {
			// The client API on the lean HTTP/1.1 path, watches
			// read for a client going away (httpapi/h1).
			srv := h1.New(m.api, h1.Options{ReadHeaderTimeout: readHeaderTimeout, ErrorLog: slog.NewLogLogger(m.logger.Handler(), slog.LevelWarn), Long: httpapi.MayWait})
			m.servers = append(m.servers, srv)
			m.goFunc(func() { srv.Serve(ln) })
		}
	})
	m.logger.Info("member started", "id", hexID(m.id), "cluster", hexID(m.clusterID), "name", m.cfg.Name,
		"client", urlsString(m.cfg.AdvertiseClientURLs), "peer", urlsString(m.cfg.InitialAdvertisePeerURLs))
	return nil
}

func (m *Member) serve(ln net.Listener, h http.Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.serveLocked(ln, h)
}

// httpServer is what Stop needs of an HTTP server: net/http's for the
// peer listeners, h1's for the client ones.
type httpServer interface {
	Shutdown(context.Context) error
	Close() error
}

// readHeaderTimeout bounds the arrival of a request head once it started.
const readHeaderTimeout = 10 * time.Second

func (m *Member) serveLocked(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout}
	m.servers = append(m.servers, srv)
	m.goFunc(func() { srv.Serve(ln) })
}

// ReadyNotify is closed once the member serves clients: it has caught up
// with the log as of its start and published its attributes.
func (m *Member) ReadyNotify() <-chan struct{} { return m.readyc }

// Stop shuts the member down: listeners, transport, Raft loop, storage. It
// is idempotent and blocks until every goroutine the member started has
// exited.
func (m *Member) Stop() {
	m.stopOnce.Do(func() {
		m.mu.Lock()
		close(m.stopc)
		m.mu.Unlock()
		if m.api != nil {
			m.api.Close()
		}
		m.mu.Lock()
		servers := m.servers
		m.mu.Unlock()
		// Requests in flight get their answer (proposals fail with "server
		// stopped" now that stopc is closed), on the peer listener too: a
		// write forwarded by a follower may be answered just now (the
		// leader removing itself answers the removal, then stops). The
		// transport goes first, so that its long-lived streams do not hold
		// up the graceful shutdown.
		if m.tr != nil {
			m.tr.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var wg sync.WaitGroup
		for _, s := range servers {
			wg.Go(func() {
				if s.Shutdown(ctx) != nil {
					s.Close()
				}
			})
		}
		wg.Wait()
		cancel()
		for _, l := range append(m.peerLns, m.clientLns...) {
			l.Close()
		}
		m.wg.Wait()
		if m.wal != nil {
			// A commit index the loop kept back (lazyHS) is written now,
			// so a clean restart applies everything it had applied.
			if !m.lazyHS.IsEmpty() && m.save != nil {
				if err := m.save(m.lazyHS, nil); err != nil {
					m.logger.Warn("cannot save the commit index at stop", "err", err)
				}
			}
			m.wal.Close()
		}
		m.logger.Info("member stopped", "id", hexID(m.id))
	})
}

// Removed is closed when this member applies its own removal; the process
// should then Stop and exit.
func (m *Member) Removed() <-chan struct{} { return m.removedc }

// Failed is closed when the member hit a fatal error (Err says which); the
// process must Stop and exit, then recover from disk on restart.
func (m *Member) Failed() <-chan struct{} { return m.failc }

// Err returns the fatal error after Failed is closed.
func (m *Member) Err() error {
	select {
	case <-m.failc:
		return m.failErr
	default:
		return nil
	}
}

func (m *Member) fail(err error) {
	m.failOnce.Do(func() {
		m.failErr = err
		m.logger.Error("member failed", "err", err)
		close(m.failc)
	})
}

// Healthy reports an error when the Raft loop has not run for several
// election timeouts (the watchdog then stops being fed).
func (m *Member) Healthy() error {
	if m.Err() != nil {
		return m.Err()
	}
	last := time.Unix(0, m.lastLoop.Load())
	if d := time.Since(last); d > 3*m.electionDur+time.Second {
		return fmt.Errorf("server: raft loop stalled for %v", d)
	}
	return nil
}

// Status is a summary for logs and sd_notify STATUS=.
func (m *Member) Status() string {
	role := "follower"
	if m.isLeader.Load() {
		role = "leader"
	}
	lead := m.lead.Load()
	if lead == 0 {
		return fmt.Sprintf("%s %s, no leader", m.cfg.Name, role)
	}
	return fmt.Sprintf("%s %s, leader %x, term %d", m.cfg.Name, role, lead, m.term.Load())
}

// ID returns the member ID.
func (m *Member) ID() uint64 { return m.id }

// ClusterID returns the cluster ID.
func (m *Member) ClusterID() uint64 { return m.clusterID }

func (m *Member) logf(format string, args ...any) {
	m.logger.Debug(fmt.Sprintf(format, args...))
}

func hexID(id uint64) string { return fmt.Sprintf("%x", id) }

func urlsString(us []url.URL) string {
	s := ""
	for i, u := range us {
		if i > 0 {
			s += ","
		}
		s += u.String()
	}
	return s
}

func urlStrings(us []url.URL) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.String()
	}
	return out
}

// dataDirs returns the WAL and snapshot directories under --data-dir.
func (m *Member) dataDirs() (walDir, snapDir, idFile string) {
	base := filepath.Join(m.cfg.DataDir, "member")
	return filepath.Join(base, "wal"), filepath.Join(base, "snap"), filepath.Join(base, "id")
}

// raftLogger adapts slog to raft.Logger.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debugf(f string, a ...any)   { r.l.Debug(fmt.Sprintf(f, a...)) }
func (r raftLogger) Infof(f string, a ...any)    { r.l.Debug(fmt.Sprintf(f, a...)) }
func (r raftLogger) Warningf(f string, a ...any) { r.l.Warn(fmt.Sprintf(f, a...)) }
func (r raftLogger) Errorf(f string, a ...any)   { r.l.Error(fmt.Sprintf(f, a...)) }
func (r raftLogger) Panicf(f string, a ...any)   { panic(fmt.Sprintf(f, a...)) }

// lockedSource makes a rand.Source safe for concurrent use.
type lockedSource struct {
	mu  sync.Mutex
	src rand.Source
}

func (l *lockedSource) Uint64() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.src.Uint64()
}
