package server

import (
	"sync"
	"sync/atomic"
	"time"

	"cairn/httpapi"
	"cairn/httpapi/metric"
	"cairn/raft"
)

// serverStats are the member's measurements behind /metrics,
// /v2/stats/self and /v2/stats/leader. Counters are atomics updated by the
// loop and the transport's goroutines; the follower table and the rate
// windows have their own locks. Nothing here allocates per message. The
// zero value is ready to use.
type serverStats struct {
	once             sync.Once     // creates the histograms
	commit           atomic.Uint64 // last HardState.Commit saved
	leaderChanges    atomic.Uint64
	proposalsPending atomic.Int64
	proposalsFailed  atomic.Uint64
	walBytes         atomic.Uint64
	walFsync         *metric.Histogram

	snapTaken, snapFailed       atomic.Uint64
	snapReceived, snapInstalled atomic.Uint64
	snapSave, snapInstall       *metric.Histogram

	sendRate, recvRate rateWindow
	followers          followerTable
}

// etcdDiskBuckets are etcd's buckets for its disk histograms: 1 ms to 8.192 s.
var etcdDiskBuckets = metric.ExpBuckets(time.Millisecond, 2, 14)

// init creates the histograms; every method that touches one calls it.
func (s *serverStats) init() {
	s.once.Do(func() {
		s.walFsync = metric.NewHistogram(etcdDiskBuckets)
		s.snapSave = metric.NewHistogram(etcdDiskBuckets)
		s.snapInstall = metric.NewHistogram(etcdDiskBuckets)
	})
}

// walSaved records one WAL Save that started at start and wrote bytes;
// only a Save that fdatasynced is timed (etcd_disk_wal_fsync_duration_seconds).
func (s *serverStats) walSaved(start time.Time, bytes int, synced bool) {
	s.walBytes.Add(uint64(max(bytes, 0)))
	if synced {
		s.init()
		s.walFsync.Observe(time.Since(start))
	}
}

// snapshotSaved times one attempt to snapshot the store (deferred with the
// attempt's start time).
func (s *serverStats) snapshotSaved(start time.Time) {
	s.init()
	s.snapSave.Observe(time.Since(start))
}

// snapshotDone counts a finished local snapshot.
func (s *serverStats) snapshotDone(err error) {
	if err != nil {
		s.snapFailed.Add(1)
		return
	}
	s.snapTaken.Add(1)
}

// snapshotInstalled counts and times installing a snapshot from the leader
// (deferred with the install's start time).
func (s *serverStats) snapshotInstalled(start time.Time) {
	s.init()
	s.snapInstalled.Add(1)
	s.snapInstall.Observe(time.Since(start))
}

// leaderChanged notes a new leader lead seen by member self; a member that
// becomes leader starts measuring its followers afresh.
func (s *serverStats) leaderChanged(lead, self uint64) {
	if lead == raft.None {
		return
	}
	s.leaderChanges.Add(1)
	if lead == self {
		s.followers.reset()
	}
}

// sent is called by the loop for the messages it hands to the transport.
func (s *serverStats) sent(msgs []raft.Message) {
	var now time.Time
	for i := range msgs {
		msg := &msgs[i]
		switch msg.Type {
		case raft.MsgApp, raft.MsgHeartbeat:
		default:
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		if msg.Type == raft.MsgApp {
			s.sendRate.add(now, approxSize(msg))
		} else {
			s.followers.heartbeatSent(msg.To, now)
		}
	}
}

// received is called for every message from a peer.
func (s *serverStats) received(msg *raft.Message) {
	switch msg.Type {
	case raft.MsgApp:
		s.recvRate.add(time.Now(), approxSize(msg))
	case raft.MsgHeartbeatResp:
		s.followers.heartbeatAcked(msg.From, time.Now())
	}
}

// approxSize estimates a message's encoded size for the bandwidth rates:
// the entries' data plus a fixed overhead per entry and per message.
func approxSize(msg *raft.Message) int {
	n := 32
	for i := range msg.Entries {
		n += 24 + len(msg.Entries[i].Data)
	}
	return n
}

// metrics gathers the counters for httpapi.
func (s *serverStats) metrics() httpapi.Metrics {
	s.init()
	return httpapi.Metrics{
		CommittedIndex:     s.commit.Load(),
		LeaderChanges:      s.leaderChanges.Load(),
		ProposalsPending:   s.proposalsPending.Load(),
		ProposalsFailed:    s.proposalsFailed.Load(),
		WALFsync:           s.walFsync.Snapshot(),
		WALBytes:           s.walBytes.Load(),
		SnapshotsTaken:     s.snapTaken.Load(),
		SnapshotsFailed:    s.snapFailed.Load(),
		SnapshotSave:       s.snapSave.Snapshot(),
		SnapshotsReceived:  s.snapReceived.Load(),
		SnapshotsInstalled: s.snapInstalled.Load(),
		SnapshotInstall:    s.snapInstall.Snapshot(),
	}
}

// followerTable is what a leader measured of its followers: the round
// trip of each heartbeat to its response (etcd 2 measured the same), and
// the sends the transport could not deliver (ReportUnreachable).
type followerTable struct {
	mu        sync.Mutex
	stats     map[uint64]*httpapi.FollowerStats
	rtt       map[uint64]*metric.Histogram // the same round trips, etcd's RTT buckets
	heartbeat map[uint64]time.Time         // oldest heartbeat sent and not yet answered
}

// etcdRTTBuckets are etcd's buckets for peer round trips: 0.1 ms to 3.2768 s.
var etcdRTTBuckets = metric.ExpBuckets(100*time.Microsecond, 2, 16)

func (t *followerTable) reset() {
	t.mu.Lock()
	clear(t.stats)
	clear(t.rtt)
	clear(t.heartbeat)
	t.mu.Unlock()
}

// get returns id's entry; the caller holds t.mu.
func (t *followerTable) get(id uint64) *httpapi.FollowerStats {
	if t.stats == nil {
		t.stats = map[uint64]*httpapi.FollowerStats{}
		t.rtt = map[uint64]*metric.Histogram{}
		t.heartbeat = map[uint64]time.Time{}
	}
	fs, ok := t.stats[id]
	if !ok {
		v := httpapi.NewFollowerStats()
		fs = &v
		t.stats[id] = fs
		t.rtt[id] = metric.NewHistogram(etcdRTTBuckets)
	}
	return fs
}

// heartbeatStale is how long a heartbeat may go unanswered before it
// counts as failed; the next heartbeat then starts a new round trip.
const heartbeatStale = 5 * time.Second

// heartbeatSent remembers when a heartbeat left for id. A heartbeat sent
// while an earlier one is unanswered does not restart the clock: the round
// trip is measured from the oldest unanswered heartbeat, so a slow
// follower never looks fast; one unanswered for heartbeatStale counts as
// failed and the clock restarts.
func (t *followerTable) heartbeatSent(id uint64, now time.Time) {
	t.mu.Lock()
	fs := t.get(id)
	sent, waiting := t.heartbeat[id]
	if waiting && now.Sub(sent) > heartbeatStale {
		fs.Failed()
		waiting = false
	}
	if !waiting {
		t.heartbeat[id] = now
	}
	t.mu.Unlock()
}

// heartbeatAcked records the round trip of id's outstanding heartbeat.
func (t *followerTable) heartbeatAcked(id uint64, now time.Time) {
	t.mu.Lock()
	if sent, ok := t.heartbeat[id]; ok {
		delete(t.heartbeat, id)
		t.get(id).Succeed(now.Sub(sent))
		t.rtt[id].Observe(now.Sub(sent))
	}
	t.mu.Unlock()
}

// failed counts a send to id that did not arrive (only while leader).
func (t *followerTable) failed(id uint64) {
	t.mu.Lock()
	t.get(id).Failed()
	delete(t.heartbeat, id) // its answer, if any, no longer times a round trip
	t.mu.Unlock()
}

func (t *followerTable) snapshot() map[uint64]httpapi.FollowerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[uint64]httpapi.FollowerStats, len(t.stats))
	for id, fs := range t.stats {
		out[id] = *fs
	}
	return out
}

// rateWindowSize is etcd's: rates cover the last 200 append requests.
const rateWindowSize = 200

// rateWindow computes etcd's package and bandwidth rates over the last
// rateWindowSize append requests; both are 0 when the newest is more than
// a second old.
type rateWindow struct {
	mu    sync.Mutex
	at    [rateWindowSize]int64 // unix nanoseconds
	size  [rateWindowSize]int
	n     int // Invariant: 0 <= n <= rateWindowSize
	next  int // slot of the next sample
	bytes int // sum of size over the window
}

func (q *rateWindow) add(now time.Time, size int) {
	q.mu.Lock()
	if q.n == rateWindowSize {
		q.bytes -= q.size[q.next]
	} else {
		q.n++
	}
	q.at[q.next], q.size[q.next] = now.UnixNano(), size
	q.bytes += size
	q.next = (q.next + 1) % rateWindowSize
	q.mu.Unlock()
}

// rate returns requests and bytes per second over the window.
func (q *rateWindow) rate(now time.Time) (pkgs, bytes float64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n < 2 {
		return 0, 0
	}
	back := q.at[(q.next+rateWindowSize-1)%rateWindowSize]
	front := q.at[(q.next+rateWindowSize-q.n)%rateWindowSize]
	span := back - front
	if now.UnixNano()-back > int64(time.Second) || span <= 0 {
		return 0, 0
	}
	sec := float64(span) / float64(time.Second)
	return float64(q.n) / sec, float64(q.bytes) / sec
}

// roundTrips snapshots the round-trip histograms.
func (t *followerTable) roundTrips() map[uint64]metric.HistogramSnapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[uint64]metric.HistogramSnapshot, len(t.rtt))
	for id, h := range t.rtt {
		out[id] = h.Snapshot()
	}
	return out
}

// Metrics implements httpapi.MetricsSource.
func (m *Member) Metrics() httpapi.Metrics {
	out := m.stats.metrics()
	if m.tr == nil {
		return out
	}
	rtt := m.stats.followers.roundTrips()
	for _, ps := range m.tr.Status() {
		out.Peers = append(out.Peers, httpapi.PeerMetrics{
			ID: ps.ID, Active: ps.Active, SentBytes: ps.SentBytes, SentFailures: ps.Dropped, RoundTrip: rtt[ps.ID],
		})
	}
	return out
}

// FollowerStats implements httpapi.LeaderStatsSource: what this member
// measured of its followers since it last became leader.
func (m *Member) FollowerStats() map[uint64]httpapi.FollowerStats {
	return m.stats.followers.snapshot()
}

var (
	_ httpapi.MetricsSource     = (*Member)(nil)
	_ httpapi.LeaderStatsSource = (*Member)(nil)
)

// withRates adds the append request rates to st.
func (s *serverStats) withRates(st httpapi.SelfStats) httpapi.SelfStats {
	now := time.Now()
	st.RecvPkgRate, st.RecvBandwidthRate = s.recvRate.rate(now)
	st.SendPkgRate, st.SendBandwidthRate = s.sendRate.rate(now)
	return st
}
