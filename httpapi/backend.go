package httpapi

import (
	"context"
	"errors"
	"math"
	"time"

	"cairn/httpapi/metric"
	"cairn/kv"
)

// Backend is what the handlers need from the member. The member (package
// server) implements it; tests use a small in-memory fake.
//
// Errors: a *kv.Error is a store error and is rendered as etcd does; the
// sentinels below select the members API statuses; anything else is error
// 300 "Raft Internal Error" with the error's text as cause (the member
// returns ErrTimeout and ErrStopped for the usual cases, whose texts are
// etcd's causes).
type Backend interface {
	// ClusterID is sent as X-Etcd-Cluster-Id.
	ClusterID() uint64
	// RaftStatus returns the applied raft index and the current term
	// (X-Raft-Index, X-Raft-Term).
	RaftStatus() (index, term uint64)
	// Leader returns the leader's member ID, 0 if none is known.
	Leader() uint64
	// ID returns this member's ID.
	ID() uint64
	// Propose replicates a write (OpPut, OpPost, OpDelete) through the log
	// and returns the applied event. The member stamps Request.Time.
	Propose(ctx context.Context, r kv.Request) (*kv.Event, error)
	// Get reads the local replica (sequential consistency).
	Get(path string, recursive, sorted bool) (*kv.Event, error)
	// QuorumGet reads after a ReadIndex round (linearizable).
	QuorumGet(ctx context.Context, path string, recursive, sorted bool) (*kv.Event, error)
	// Watch registers a watcher on the local replica.
	Watch(path string, recursive, stream bool, sinceIndex uint64) (*kv.Watcher, error)
	// Members lists the cluster members sorted by ID.
	Members() []Member
	// AddMember adds a member (a learner if learner is set) and returns it.
	AddMember(ctx context.Context, peerURLs []string, learner bool) (Member, error)
	// RemoveMember removes a member.
	RemoveMember(ctx context.Context, id uint64) error
	// UpdateMember replaces a member's peer URLs.
	UpdateMember(ctx context.Context, id uint64, peerURLs []string) error
	// PromoteMember makes a caught-up learner a voting member.
	PromoteMember(ctx context.Context, id uint64) (Member, error)
	// ForwardURL returns the base URL under which the leader serves this
	// API for forwarded writes (its peer URL plus ForwardPrefix), and
	// false if this member is the leader or no leader is known.
	ForwardURL() (string, bool)
	// ClientURLs returns every member's advertised client URLs
	// (/v2/machines).
	ClientURLs() []string
	// SelfStats describes this member (/v2/stats/self).
	SelfStats() SelfStats
	// StoreStats returns the store's counters (/v2/stats/store).
	StoreStats() kv.Stats
	// WaitApplied waits until this member has applied raft index i (used
	// after a forwarded write so the client reads its write here too).
	WaitApplied(ctx context.Context, i uint64) error
}

// AtIndexReader is the optional Backend method behind the atIndex=N
// extension: what Get returned right after store index atIndex was
// applied (kv.Store.GetAt). A Backend without it answers atIndex reads
// with ErrAtIndexUnsupported.
type AtIndexReader interface {
	GetAt(path string, atIndex uint64, recursive, sorted bool) (*kv.Event, error)
}

// SelfStats is this member's state as /v2/stats/self shows it.
type SelfStats struct {
	Name      string
	ID        uint64
	IsLeader  bool
	StartTime time.Time
	// Leader is the known leader (0 if none) and LeaderSince when this
	// member first saw it lead.
	Leader      uint64
	LeaderSince time.Time
	// RecvAppend and SendAppend count append requests received and sent.
	RecvAppend, SendAppend uint64
	// Rates over the last 200 append requests received and sent, per
	// second (etcd's recvPkgRate, recvBandwidthRate, sendPkgRate,
	// sendBandwidthRate); 0 (omitted) when the last is over a second old.
	RecvPkgRate, RecvBandwidthRate float64
	SendPkgRate, SendBandwidthRate float64
}

// Member is one member as the members API shows it.
type Member struct {
	ID         uint64
	Name       string
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}

// ForwardPrefix is the path prefix under which a member's peer listener
// serves this API to other members forwarding writes to it.
const ForwardPrefix = "/cairn/client"

// ForwardedHeader marks a request forwarded by another member; it is never
// forwarded again (a member that lost leadership meanwhile proposes it
// itself).
const ForwardedHeader = "X-Cairn-Forwarded"

// appliedHeader carries, on answers to forwarded requests, the raft index
// the answering member had applied; the forwarding member waits until it
// has applied as much before it answers its client (read your writes).
const appliedHeader = "X-Cairn-Applied-Index"

// Errors a Backend returns for the members API (wrapped with %w), and for
// requests that did not complete.
var (
	ErrMemberNotFound = errors.New("httpapi: member not found")
	ErrMemberRemoved  = errors.New("httpapi: member already removed")
	ErrMemberExists   = errors.New("httpapi: member or peer URL already exists")
	// ErrLearnerNotReady refuses promoting a learner that has not caught
	// up with the leader's log.
	ErrLearnerNotReady = errors.New("etcdserver: can only promote a learner member which is in sync with leader")
	// ErrNotLearner refuses promoting a voting member.
	ErrNotLearner = errors.New("etcdserver: can only promote a learner member")
	// ErrTimeout is the cause etcd gives when a proposal is not applied in
	// time, including when there is no leader.
	ErrTimeout = errors.New("etcdserver: request timed out")
	// ErrStopped: the member is shutting down.
	ErrStopped = errors.New("etcdserver: server stopped")
	// ErrUnhealthy refuses a membership change that would leave fewer
	// started voting members than a quorum (etcd's strict reconfig check).
	ErrUnhealthy = errors.New("etcdserver: unhealthy cluster")
	// ErrNotApplied: a waitApplied=N read timed out before this member
	// applied raft index N (error 300, with this text and N as cause).
	ErrNotApplied = errors.New("cairn: raft index not applied in time")
	// ErrAtIndexUnsupported: the Backend does not implement AtIndexReader.
	ErrAtIndexUnsupported = errors.New("cairn: atIndex reads are not supported by this member")
	// ErrBadRequest: malformed members API input.
	ErrBadRequest = errors.New("httpapi: bad request")
)

// MetricsSource is an optional Backend method: the member's Raft, WAL and
// snapshot metrics for /metrics. A Backend without it shows only what the
// Backend interface gives (term, applied index, store counters).
type MetricsSource interface {
	Metrics() Metrics
}

// Metrics are the member's counters as /metrics shows them (see the
// package documentation for the metric names).
type Metrics struct {
	CommittedIndex uint64
	// LeaderChanges counts the times this member saw a new leader.
	LeaderChanges uint64
	// ProposalsPending are proposals waiting to be applied;
	// ProposalsFailed those that ended without being applied (timeout, no
	// leader, member stopping).
	ProposalsPending int64
	ProposalsFailed  uint64
	// WALFsync times each WAL Save that fdatasynced (write plus sync);
	// WALBytes counts the bytes written to the WAL.
	WALFsync metric.HistogramSnapshot
	WALBytes uint64
	// SnapshotsTaken and SnapshotsFailed count local snapshots;
	// SnapshotSave times each attempt.
	SnapshotsTaken, SnapshotsFailed uint64
	SnapshotSave                    metric.HistogramSnapshot
	// SnapshotsReceived counts snapshots streamed in from the leader,
	// SnapshotsInstalled those made the member's state; SnapshotInstall
	// times each install.
	SnapshotsReceived, SnapshotsInstalled uint64
	SnapshotInstall                       metric.HistogramSnapshot
	// Peers are the other members this member streams to, by ID.
	Peers []PeerMetrics
}

// PeerMetrics describe the stream to one other member.
type PeerMetrics struct {
	ID     uint64
	Active bool // the stream is connected
	// SentBytes counts bytes written to the peer; SentFailures messages
	// that could not be sent (queue full, stream failure, too large).
	SentBytes, SentFailures uint64
	// RoundTrip holds the heartbeat round trips measured while this member
	// led (zero Count if none).
	RoundTrip metric.HistogramSnapshot
}

// LeaderStatsSource is an optional Backend method: what the leader
// measured of each follower (/v2/stats/leader). A Backend without it
// shows etcd's initial values for every follower.
type LeaderStatsSource interface {
	// FollowerStats returns the measurements of the followers this
	// member has measured as leader, keyed by member ID.
	FollowerStats() map[uint64]FollowerStats
}

// FollowerStats is etcd's per-follower entry of /v2/stats/leader:
// latencies of the leader's round trips to the follower in milliseconds,
// and counts of successful and failed sends.
type FollowerStats struct {
	Current, Average, StandardDeviation, Minimum, Maximum float64
	Fail, Success                                         uint64

	avgSquare float64 // running mean of Current², for StandardDeviation
}

// NewFollowerStats returns a follower's stats before any measurement: as
// in etcd, Minimum starts at 1<<63 (shown as 9223372036854775808).
func NewFollowerStats() FollowerStats { return FollowerStats{Minimum: 1 << 63} }

// Failed counts one send that did not reach the follower.
func (f *FollowerStats) Failed() { f.Fail++ }

// Succeed records one round trip of duration d, etcd's way: running
// average, standard deviation from the running mean of squares.
func (f *FollowerStats) Succeed(d time.Duration) {
	total := float64(f.Success) * f.Average
	totalSq := float64(f.Success) * f.avgSquare
	f.Success++
	f.Current = float64(d) / 1e6
	f.Maximum = max(f.Maximum, f.Current)
	f.Minimum = min(f.Minimum, f.Current)
	f.Average = (total + f.Current) / float64(f.Success)
	f.avgSquare = (totalSq + f.Current*f.Current) / float64(f.Success)
	f.StandardDeviation = math.Sqrt(max(0, f.avgSquare-f.Average*f.Average))
}
