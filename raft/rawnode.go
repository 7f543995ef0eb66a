package raft

// StateType is a member's role.
type StateType uint8

// Roles.
const (
	StateFollower StateType = iota
	StateCandidate
	StateLeader
	StatePreCandidate
)

var stateNames = [...]string{"StateFollower", "StateCandidate", "StateLeader", "StatePreCandidate"}

func (s StateType) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "StateType(" + itoa(uint64(s)) + ")"
}

// SoftState is volatile state that need not be persisted.
type SoftState struct {
	Lead      uint64
	RaftState StateType
}

// ReadState answers a ReadIndex request: once the application has applied
// Index, a read reflecting all writes acknowledged before the request was
// made may be served. RequestCtx is the context given to ReadIndex.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

// SnapshotStatus is the outcome of sending a snapshot, reported by the
// application through ReportSnapshot.
type SnapshotStatus uint8

// Snapshot statuses.
const (
	SnapshotFinish SnapshotStatus = iota
	SnapshotFailure
)

// Ready is a batch of work for the application: state to persist, messages to
// send and entries to apply. See the package documentation for the order in
// which it must be handled.
type Ready struct {
	// SoftState is non-nil if the leader or role changed. Not persisted.
	*SoftState
	// HardState is to be persisted; empty if unchanged.
	HardState HardState
	// ReadStates answer ReadIndex requests.
	ReadStates []ReadState
	// Entries are to be appended to durable storage (replacing any
	// conflicting suffix).
	Entries []Entry
	// Snapshot is to be installed in durable storage; empty if none.
	Snapshot Snapshot
	// CommittedEntries are to be applied to the state machine, in order. All
	// are already durable on this member.
	CommittedEntries []Entry
	// Messages may be sent right away, before anything in this Ready is
	// persisted (the leader's MsgApp and heartbeats, vote requests, ...).
	Messages []Message
	// MessagesAfterPersist may be sent only after HardState, Entries and
	// Snapshot of this Ready are durable: they acknowledge durable state
	// (vote grants, MsgAppResp; Raft thesis §3.8).
	MessagesAfterPersist []Message
	// MustSync reports whether HardState and Entries must be fsynced before
	// MessagesAfterPersist go out (false when only the commit index changed).
	MustSync bool
}

// ProgressState is the replication mode of a follower as seen by the leader.
type ProgressState uint8

// Progress states.
const (
	// ProgressProbe: the leader sends at most one MsgApp per heartbeat
	// interval until it finds where the follower's log matches.
	ProgressProbe ProgressState = iota
	// ProgressReplicate: the leader streams MsgApps optimistically, bounded
	// by the inflight window.
	ProgressReplicate
	// ProgressSnapshot: the follower needs a snapshot; the leader sends
	// nothing else until ReportSnapshot or a response shows it caught up.
	ProgressSnapshot
)

var progressStateNames = [...]string{"StateProbe", "StateReplicate", "StateSnapshot"}

func (s ProgressState) String() string {
	if int(s) < len(progressStateNames) {
		return progressStateNames[s]
	}
	return "ProgressState(" + itoa(uint64(s)) + ")"
}

// Progress is the leader's view of one member's replication, as reported by
// Status.
type Progress struct {
	Match, Next     uint64
	State           ProgressState
	PendingSnapshot uint64
	RecentActive    bool
	IsLearner       bool
	// Inflight is the number of MsgApps in flight; InflightBytes their size.
	Inflight      int
	InflightBytes uint64
	// Paused reports whether the leader currently holds back MsgApps.
	Paused bool
}

// Status is a snapshot of a member's state for monitoring and tests.
type Status struct {
	ID uint64
	HardState
	SoftState
	Applied uint64
	// Progress is set only on the leader: one entry per member.
	Progress map[uint64]Progress
	// Config is the current membership.
	Config ConfState
	// LeadTransferee is the target of a leadership transfer in progress.
	LeadTransferee uint64
}

// RawNode is a member's Raft state machine with the Ready/Advance interface.
// It is not safe for concurrent use: one goroutine owns it.
type RawNode struct {
	r *raft
}

// NewRawNode validates c and returns a RawNode restarted from c.Storage.
func NewRawNode(c *Config) (*RawNode, error) {
	return nil, nil
}

// Bootstrap initializes a fresh member's log with one conf change entry per
// peer so the initial voters are known. Storage must be empty.
func (rn *RawNode) Bootstrap(peers []uint64) error { return nil }

// Tick advances the logical clock by one tick.
func (rn *RawNode) Tick() {}

// Campaign starts an election (a pre-vote first if Config.PreVote).
func (rn *RawNode) Campaign() error { return nil }

// Propose proposes data to be appended to the log.
func (rn *RawNode) Propose(data []byte) error { return nil }

// ProposeConfChange proposes a membership change.
func (rn *RawNode) ProposeConfChange(cc ConfChange) error { return nil }

// ApplyConfChange applies a committed membership change and returns the new
// membership. Call it when applying an EntryConfChange entry.
func (rn *RawNode) ApplyConfChange(cc ConfChange) *ConfState { return nil }

// Step feeds a message from the network into the state machine.
func (rn *RawNode) Step(m Message) error { return nil }

// HasReady reports whether Ready would return anything to do.
func (rn *RawNode) HasReady() bool { return false }

// Ready returns the pending work. Each Ready must be followed by Advance
// before the next call to Ready.
func (rn *RawNode) Ready() Ready { return Ready{} }

// Advance tells the state machine that rd was fully handled.
func (rn *RawNode) Advance(rd Ready) {}

// Status returns the member's current state.
func (rn *RawNode) Status() Status { return Status{} }

// ReadIndex requests a linearizable read point; the answer arrives as a
// ReadState carrying rctx.
func (rn *RawNode) ReadIndex(rctx []byte) {}

// TransferLeader asks the leader to hand leadership to transferee.
func (rn *RawNode) TransferLeader(transferee uint64) {}

// ReportUnreachable tells the leader that a message to id could not be sent.
func (rn *RawNode) ReportUnreachable(id uint64) {}

// ReportSnapshot tells the leader the outcome of sending a snapshot to id.
func (rn *RawNode) ReportSnapshot(id uint64, status SnapshotStatus) {}
