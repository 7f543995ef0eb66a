package raft

import "fmt"

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

	// selfSteps are this member's own acknowledgements (its vote, the
	// leader's own append), stepped by Persisted.
	selfSteps []Message
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
	raft       *raft
	prevSoftSt SoftState
	prevHardSt HardState
	// readyPending is set between Ready and Advance.
	readyPending bool
}

// NewRawNode validates c and returns a RawNode restarted from c.Storage
// (HardState, ConfState and log). A fresh member then calls Bootstrap, or
// waits to be contacted by a leader after being added to a cluster.
func NewRawNode(c *Config) (*RawNode, error) {
	r, err := newRaft(c)
	if err != nil {
		return nil, err
	}
	return &RawNode{raft: r, prevSoftSt: r.softState(), prevHardSt: r.hardState()}, nil
}

// Bootstrap initializes a fresh cluster's log with one AddVoter conf change
// entry per peer (term 1, committed), so the initial voters are known. The
// entries come out of the next Ready like any others and must be applied
// with ApplyConfChange (which is idempotent for them). Storage must be empty
// and peers non-empty, non-zero and distinct.
func (rn *RawNode) Bootstrap(peers []uint64) error {
	r := rn.raft
	if len(peers) == 0 {
		return fmt.Errorf("%w: no peers", ErrBootstrap)
	}
	seen := map[uint64]bool{}
	for _, id := range peers {
		if id == None || seen[id] {
			return fmt.Errorf("%w: peer ID %d is zero or repeated", ErrBootstrap, id)
		}
		seen[id] = true
	}
	last, err := r.raftLog.storage.LastIndex()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBootstrap, err)
	}
	hs, _, err := r.raftLog.storage.InitialState()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBootstrap, err)
	}
	if last != 0 || !hs.IsEmpty() || r.raftLog.lastIndex() != 0 {
		return fmt.Errorf("%w: storage is not empty", ErrBootstrap)
	}
	r.becomeFollower(1, None)
	ents := make([]Entry, len(peers))
	for i, id := range peers {
		cc := ConfChange{Type: ConfChangeAddVoter, NodeID: id}
		ents[i] = Entry{Type: EntryConfChange, Term: 1, Index: uint64(i + 1), Data: AppendConfChange(nil, &cc)}
	}
	r.raftLog.append(ents...)
	r.raftLog.committed = uint64(len(ents))
	for _, id := range peers {
		r.applyConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: id})
	}
	return nil
}

// Tick advances the logical clock by one tick. Election and heartbeat
// timeouts are counted in ticks.
func (rn *RawNode) Tick() {
	rn.raft.ticks++
	rn.raft.tick()
}

// Campaign starts an election now (a pre-vote first if Config.PreVote).
func (rn *RawNode) Campaign() error {
	return rn.raft.Step(Message{From: rn.raft.id, Type: MsgHup})
}

// Propose proposes data to be appended to the log. It returns
// ErrProposalDropped or ErrTransferInProgress (wrapped) when the proposal
// cannot be accepted now. Acceptance does not mean the entry will commit: the
// application learns that by seeing it in CommittedEntries.
func (rn *RawNode) Propose(data []byte) error {
	return rn.raft.Step(Message{Type: MsgProp, From: rn.raft.id, Entries: []Entry{{Data: data}}})
}

// ProposeConfChange proposes a membership change. Only one change may be
// pending (proposed and not yet applied) at a time; a second is refused with
// ErrProposalDropped by the leader.
func (rn *RawNode) ProposeConfChange(cc ConfChange) error {
	data := AppendConfChange(nil, &cc)
	return rn.raft.Step(Message{Type: MsgProp, From: rn.raft.id, Entries: []Entry{{Type: EntryConfChange, Data: data}}})
}

// ApplyConfChange applies a committed membership change and returns the new
// membership. Call it when applying an EntryConfChange entry, in log order.
// A leader that removes itself steps down here.
func (rn *RawNode) ApplyConfChange(cc ConfChange) *ConfState {
	cs := rn.raft.applyConfChange(cc)
	return &cs
}

// Step feeds a message from the network into the state machine. Local message
// types are refused with ErrStepLocalMsg, malformed messages with
// ErrInvalidMessage and responses from unknown members with
// ErrStepPeerNotFound.
func (rn *RawNode) Step(m Message) error {
	if isLocalMsg(m.Type) {
		return ErrStepLocalMsg
	}
	if err := m.valid(); err != nil {
		return err
	}
	if m.To != rn.raft.id {
		return fmt.Errorf("%w: addressed to %x, this is %x", ErrInvalidMessage, m.To, rn.raft.id)
	}
	if isResponseMsg(m.Type) && rn.raft.trk.progress[m.From] == nil {
		return ErrStepPeerNotFound
	}
	return rn.raft.Step(m)
}

// HasReady reports whether Ready would return anything to do.
func (rn *RawNode) HasReady() bool {
	r := rn.raft
	if r.softState() != rn.prevSoftSt {
		return true
	}
	if hs := r.hardState(); !hs.IsEmpty() && hs != rn.prevHardSt {
		return true
	}
	if r.raftLog.unstable.nextSnapshot() != nil || len(r.raftLog.unstable.nextEntries()) > 0 {
		return true
	}
	return len(r.msgs) > 0 || len(r.msgsAfterAppend) > 0 || len(r.readStates) > 0 ||
		r.raftLog.hasNextCommittedEnts() || (r.state == StateLeader && (r.pendingAppend || r.pendingCommit))
}

// Ready returns the pending work. Each Ready must be handled and passed to
// Advance before Ready is called again (calling Ready twice panics).
func (rn *RawNode) Ready() Ready {
	if rn.readyPending {
		panic("raft: Ready called again before Advance")
	}
	r := rn.raft
	r.flushAppends()
	rd := Ready{
		Entries:          r.raftLog.unstable.nextEntries(),
		CommittedEntries: r.raftLog.nextCommittedEnts(),
		Messages:         r.msgs,
		ReadStates:       r.readStates,
	}
	if ss := r.softState(); ss != rn.prevSoftSt {
		rd.SoftState = &ss
		rn.prevSoftSt = ss
	}
	hs := r.hardState()
	if hs != rn.prevHardSt {
		rd.HardState = hs
		rd.MustSync = hs.Term != rn.prevHardSt.Term || hs.Vote != rn.prevHardSt.Vote
		rn.prevHardSt = hs
	}
	if len(rd.Entries) > 0 {
		rd.MustSync = true
	}
	if s := r.raftLog.unstable.nextSnapshot(); s != nil {
		rd.Snapshot = *s
		rd.MustSync = true
	}
	r.raftLog.unstable.acceptInProgress()
	for _, m := range r.msgsAfterAppend {
		if m.To == r.id {
			rd.selfSteps = append(rd.selfSteps, m)
		} else {
			rd.MessagesAfterPersist = append(rd.MessagesAfterPersist, m)
		}
	}
	r.msgs = nil
	r.msgsAfterAppend = nil
	r.readStates = nil
	rn.readyPending = true
	return rd
}

// Advance tells the state machine that rd was fully handled: Snapshot,
// Entries and HardState are durable, MessagesAfterPersist were sent (or
// handed to the transport) and CommittedEntries were applied. It is
// AdvanceHandled followed by Persisted.
func (rn *RawNode) Advance(rd Ready) {
	rn.AdvanceHandled(rd)
	rn.Persisted(rd)
}

// AdvanceHandled tells the state machine that rd was handled except for
// persistence: Messages were sent and CommittedEntries applied, while
// Snapshot, Entries and HardState may still be on their way to disk. Ready
// may be called again at once. The application must call Persisted(rd) once
// they are durable, for each Ready in the order they were returned, and may
// send rd.MessagesAfterPersist only then. Until then raft neither counts
// these entries as the leader's own acknowledgement nor hands them out as
// CommittedEntries (except on a leader with Config.LeaderAppliesUnpersisted,
// once a quorum of others has them durable).
func (rn *RawNode) AdvanceHandled(rd Ready) {
	if !rn.readyPending {
		panic("raft: Advance called without a Ready")
	}
	rn.readyPending = false
	r := rn.raft
	if n := len(rd.CommittedEntries); n > 0 {
		r.raftLog.appliedTo(rd.CommittedEntries[n-1].Index)
		if r.state == StateLeader {
			r.reduceUncommittedSize(entsSize(rd.CommittedEntries))
		}
	}
}

// Persisted tells the state machine that rd's Snapshot, Entries and
// HardState are durable (and were appended to Storage). See AdvanceHandled.
func (rn *RawNode) Persisted(rd Ready) {
	r := rn.raft
	if !rd.Snapshot.IsEmpty() {
		r.raftLog.unstable.stableSnapTo(rd.Snapshot.Meta.Index)
		if rd.Snapshot.Meta.Index > r.raftLog.applied {
			r.raftLog.appliedTo(rd.Snapshot.Meta.Index)
		}
	}
	if n := len(rd.Entries); n > 0 {
		e := rd.Entries[n-1]
		r.raftLog.unstable.stableTo(e.Index, e.Term)
	}
	r.selfAck(r.raftLog.stableLastIndex())
	for _, m := range rd.selfSteps {
		if err := r.Step(m); err != nil {
			r.logger.Debugf("raft: %x stepping own %s: %v", r.id, m.Type, err)
		}
	}
}

// Status returns the member's current state. Progress is filled in on the
// leader only.
func (rn *RawNode) Status() Status {
	r := rn.raft
	s := Status{
		ID:             r.id,
		HardState:      r.hardState(),
		SoftState:      r.softState(),
		Applied:        r.raftLog.applied,
		Config:         r.trk.confState(),
		LeadTransferee: r.leadTransferee,
	}
	if r.state == StateLeader {
		s.Progress = make(map[uint64]Progress, len(r.trk.progress))
		for id, pr := range r.trk.progress {
			s.Progress[id] = pr.export()
		}
	}
	return s
}

// ReadIndex requests a linearizable read point. The answer arrives in a
// later Ready as a ReadState carrying rctx, which must be non-empty and
// unique among pending requests. Requests made without a known leader are
// dropped (the caller times out and retries).
func (rn *RawNode) ReadIndex(rctx []byte) {
	_ = rn.raft.Step(Message{Type: MsgReadIndex, Context: rctx})
}

// TransferLeader asks the leader to hand leadership to transferee. It may be
// called on any member; followers forward it to the leader.
func (rn *RawNode) TransferLeader(transferee uint64) {
	_ = rn.raft.Step(Message{Type: MsgTransferLeader, From: transferee})
}

// ReportUnreachable tells the leader that a message to id could not be
// delivered; replication to id falls back to probing.
func (rn *RawNode) ReportUnreachable(id uint64) {
	_ = rn.raft.Step(Message{Type: MsgUnreachable, From: id})
}

// ReportSnapshot tells the leader the outcome of sending a snapshot to id.
func (rn *RawNode) ReportSnapshot(id uint64, status SnapshotStatus) {
	_ = rn.raft.Step(Message{Type: MsgSnapStatus, From: id, Reject: status == SnapshotFailure})
}
