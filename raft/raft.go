package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Campaign kinds, carried in the Context of vote requests.
const (
	campaignPreElection = "CampaignPreElection"
	campaignElection    = "CampaignElection"
	campaignTransfer    = "CampaignTransfer"
)

type stepFunc func(r *raft, m Message) error

// raft is the state machine of one member. Each role is a (step, tick) pair
// installed by becomeFollower, becomePreCandidate, becomeCandidate and
// becomeLeader; term checks happen once, in Step.
//
// Invariant: state == StateLeader iff lead == id and step == stepLeader.
// Invariant: Vote is None or the member voted for in Term.
type raft struct {
	id uint64

	Term uint64
	Vote uint64

	readStates []ReadState

	raftLog *raftLog

	maxMsgSize         uint64
	maxUncommittedSize uint64
	// uncommittedSize is the data size of entries the leader appended in its
	// term and has not yet applied (an upper bound of the uncommitted size).
	uncommittedSize uint64

	trk tracker

	state StateType

	// msgs may be sent at once; msgsAfterAppend only after the Ready that
	// carries them has been persisted (persist-before-send, Raft §3.8).
	msgs            []Message
	msgsAfterAppend []Message

	lead uint64
	// leadTransferee is the target of a leadership transfer in progress.
	leadTransferee uint64
	// pendingConfIndex is the log index of the last conf change the leader
	// appended; a new one is refused until it is applied.
	pendingConfIndex uint64

	// pendingAppend and pendingCommit ask flushAppends (run when the Ready
	// is taken) to send new entries and the new commit index: proposals made
	// between two Readies go out as one batch per follower.
	pendingAppend bool
	pendingCommit bool

	readOnly *readOnly
	// pendingReadIndexMessages wait until the leader commits an entry of its
	// term (it cannot know the commit index before that, Raft §6.4).
	pendingReadIndexMessages []Message

	// electionElapsed counts ticks since the last election timeout reset
	// (followers and candidates) or the last quorum check (leader).
	electionElapsed  int
	heartbeatElapsed int

	checkQuorum               bool
	preVote                   bool
	disableProposalForwarding bool
	leaderAppliesUnpersisted  bool

	heartbeatTimeout int
	electionTimeout  int
	// randomizedElectionTimeout is in [electionTimeout, 2*electionTimeout).
	randomizedElectionTimeout int

	// ticks counts every Tick since this member started. In lease mode the
	// leader stamps heartbeats with it and followers echo it back, so the
	// leader knows when a quorum last confirmed its lease.
	ticks uint64
	// leaseRevoked is set once this leader sent MsgTimeoutNow in its term:
	// the transferee campaigns through the followers' lease, so lease reads
	// stop until the next term.
	leaseRevoked bool
	// restartLease is set in lease mode when the member restarted with a
	// saved HardState: it may have acknowledged a leader's lease before
	// going down (lease acks are sent only once the term is durable).
	restartLease bool

	// othersCache caches others(); nil when the membership changed.
	othersCache []uint64

	tick   func()
	step   stepFunc
	logger Logger
	rand   *rand.Rand
}

func newRaft(c *Config) (*raft, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	logger := c.Logger
	if logger == nil {
		logger = discardLogger{}
	}
	hs, cs, err := c.Storage.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raft: storage initial state: %w", err)
	}
	if err := validConfState(cs); err != nil {
		return nil, err
	}
	r := &raft{
		id:                        c.ID,
		lead:                      None,
		raftLog:                   newLog(c.Storage, logger),
		maxMsgSize:                c.MaxSizePerMsg,
		maxUncommittedSize:        c.MaxUncommittedEntriesSize,
		trk:                       newTracker(c.MaxInflightMsgs, c.MaxInflightBytes),
		electionTimeout:           c.ElectionTick,
		heartbeatTimeout:          c.HeartbeatTick,
		logger:                    logger,
		rand:                      c.Rand,
		checkQuorum:               c.CheckQuorum,
		preVote:                   c.PreVote,
		readOnly:                  newReadOnly(c.ReadOnlyOption),
		disableProposalForwarding: c.DisableProposalForwarding,
		leaderAppliesUnpersisted:  c.LeaderAppliesUnpersisted,
	}
	r.setConf(cs)
	if !hs.IsEmpty() {
		if hs.Commit < r.raftLog.committed || hs.Commit > r.raftLog.lastIndex() {
			return nil, fmt.Errorf("%w: hard state commit %d out of range [%d, %d]",
				ErrInvalidConfig, hs.Commit, r.raftLog.committed, r.raftLog.lastIndex())
		}
		r.raftLog.committed = hs.Commit
		r.Term = hs.Term
		r.Vote = hs.Vote
		r.restartLease = c.ReadOnlyOption == ReadOnlyLeaseBased
	}
	if c.Applied > 0 {
		if c.Applied > r.raftLog.committed {
			return nil, fmt.Errorf("%w: Applied %d is past the commit index %d", ErrInvalidConfig, c.Applied, r.raftLog.committed)
		}
		r.raftLog.applied = max(r.raftLog.applied, c.Applied)
	}
	r.becomeFollower(r.Term, None)
	r.logger.Infof("raft: %x starting at term %d, commit %d, applied %d, last index %d, voters %v, learners %v",
		r.id, r.Term, r.raftLog.committed, r.raftLog.applied, r.raftLog.lastIndex(), r.trk.voters, r.trk.learners)
	return r, nil
}

func validConfState(cs ConfState) error {
	seen := map[uint64]bool{}
	for _, ids := range [][]uint64{cs.Voters, cs.Learners} {
		for _, id := range ids {
			if id == None || seen[id] {
				return fmt.Errorf("%w: conf state lists member %d twice or as zero", ErrInvalidConfig, id)
			}
			seen[id] = true
		}
	}
	return nil
}

// setConf replaces the membership (startup, snapshot restore); progress is
// reset.
func (r *raft) setConf(cs ConfState) {
	r.othersCache = nil
	r.trk = newTracker(r.trk.maxInflight, r.trk.maxInflightBytes)
	r.trk.voters = slices.Sorted(slices.Values(cs.Voters))
	r.trk.learners = slices.Sorted(slices.Values(cs.Learners))
	next := r.raftLog.lastIndex() + 1
	for _, id := range r.trk.voters {
		r.trk.initProgress(id, 0, next, false)
	}
	for _, id := range r.trk.learners {
		r.trk.initProgress(id, 0, next, true)
	}
	if pr, ok := r.trk.progress[r.id]; ok {
		pr.match = r.raftLog.stableLastIndex()
		pr.next = max(pr.next, pr.match+1)
	}
}

func (r *raft) hardState() HardState {
	return HardState{Term: r.Term, Vote: r.Vote, Commit: r.raftLog.committed}
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, RaftState: r.state} }

// send queues m, filling in From and (for most types) Term.
func (r *raft) send(m Message) {
	if m.From == None {
		m.From = r.id
	}
	switch m.Type {
	case MsgVote, MsgVoteResp, MsgPreVote, MsgPreVoteResp:
		if m.Term == 0 {
			r.logger.Panicf("raft: term should be set when sending %s", m.Type)
		}
	default:
		if m.Term != 0 {
			r.logger.Panicf("raft: term should not be set when sending %s (was %d)", m.Type, m.Term)
		}
		if m.Type != MsgProp && m.Type != MsgReadIndex {
			m.Term = r.Term
		}
	}
	switch {
	case m.Type == MsgAppResp || m.Type == MsgVoteResp || m.Type == MsgPreVoteResp,
		m.Type == MsgHeartbeatResp && r.readOnly.option == ReadOnlyLeaseBased:
		// These acknowledge durable state (appended entries, an installed
		// snapshot, a persisted vote; in lease mode, a heartbeat ack
		// promises not to vote for a while, which must survive a restart):
		// they wait for the Ready to be saved.
		r.msgsAfterAppend = append(r.msgsAfterAppend, m)
	default:
		if m.To == r.id {
			r.logger.Panicf("raft: message to self: %s", m.Type)
		}
		r.msgs = append(r.msgs, m)
	}
}

// sendAppend sends entries (or an empty probe) to member to.
func (r *raft) sendAppend(to uint64) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends a MsgApp (or a MsgSnap) to member to if flow control
// allows; with sendIfEmpty false it sends nothing when there are no new
// entries. It reports whether a message was sent.
func (r *raft) maybeSendAppend(to uint64, sendIfEmpty bool) bool {
	pr := r.trk.progress[to]
	if pr == nil || pr.isPaused() {
		return false
	}
	prevIndex := pr.next - 1
	prevTerm, errt := r.raftLog.term(prevIndex)
	var ents []Entry
	var erre error
	if errt == nil {
		ents, erre = r.raftLog.entries(pr.next, r.maxMsgSize)
	}
	if len(ents) == 0 && !sendIfEmpty && errt == nil && erre == nil {
		return false
	}
	if errt != nil || erre != nil {
		return r.sendSnapshot(to, pr)
	}
	bytes := entsSize(ents)
	r.send(Message{To: to, Type: MsgApp, Index: prevIndex, LogTerm: prevTerm, Entries: ents, Commit: r.raftLog.committed})
	last := prevIndex
	if len(ents) > 0 {
		last = ents[len(ents)-1].Index
	}
	pr.sentEntries(last, bytes)
	pr.sentCommit = max(pr.sentCommit, r.raftLog.committed)
	return true
}

func (r *raft) sendSnapshot(to uint64, pr *progress) bool {
	if !pr.recentActive {
		r.logger.Debugf("raft: %x not sending snapshot to %x: not recently active", r.id, to)
		return false
	}
	snap, err := r.raftLog.snapshot()
	if err != nil {
		if errors.Is(err, ErrSnapshotTemporarilyUnavailable) {
			r.logger.Debugf("raft: %x snapshot temporarily unavailable for %x", r.id, to)
			return false
		}
		r.logger.Panicf("raft: storage Snapshot: %v", err)
	}
	if snap.IsEmpty() {
		r.logger.Panicf("raft: need a non-empty snapshot for %x", to)
	}
	r.logger.Debugf("raft: %x sends snapshot [index %d, term %d] to %x", r.id, snap.Meta.Index, snap.Meta.Term, to)
	pr.becomeSnapshot(snap.Meta.Index)
	r.send(Message{To: to, Type: MsgSnap, Snapshot: &snap})
	return true
}

func (r *raft) sendHeartbeat(to uint64, ctx []byte) {
	// Never tell a follower a commit index beyond what it is known to hold:
	// its log may still differ there.
	commit := min(r.trk.progress[to].match, r.raftLog.committed)
	var stamp uint64
	if r.readOnly.option == ReadOnlyLeaseBased {
		stamp = r.ticks
	}
	r.send(Message{To: to, Type: MsgHeartbeat, Commit: commit, Index: stamp, Context: ctx})
}

// others returns the members other than r in ID order (deterministic). The
// slice is cached until the membership changes; callers must not modify it.
func (r *raft) others() []uint64 {
	if r.othersCache == nil {
		ids := r.trk.members()
		r.othersCache = slices.DeleteFunc(ids, func(id uint64) bool { return id == r.id })
	}
	return r.othersCache
}

func (r *raft) bcastAppend() {
	for _, id := range r.others() {
		r.sendAppend(id)
	}
}

// flushAppends sends what proposals and commit advances since the last
// Ready left pending: new entries to every follower the flow control lets
// through (in MaxSizePerMsg batches), and an empty MsgApp carrying the
// commit index to followers that have not been sent it yet.
func (r *raft) flushAppends() {
	if !r.pendingAppend && !r.pendingCommit {
		return
	}
	appendNew, commit := r.pendingAppend, r.pendingCommit
	r.pendingAppend, r.pendingCommit = false, false
	if r.state != StateLeader {
		return
	}
	for _, id := range r.others() {
		sent := false
		if appendNew {
			for r.maybeSendAppend(id, false) {
				sent = true
			}
		}
		if !sent && commit {
			if pr := r.trk.progress[id]; pr.sentCommit < r.raftLog.committed {
				r.sendAppend(id)
			}
		}
	}
}

func (r *raft) bcastHeartbeat() {
	ctx := r.readOnly.lastPendingRequestCtx()
	for _, id := range r.others() {
		r.sendHeartbeat(id, ctx)
	}
}

// maybeCommit advances the commit index to what a quorum of voters durably
// holds, if that entry is from the current term.
func (r *raft) maybeCommit() bool {
	return r.raftLog.maybeCommit(r.trk.committed(), r.Term)
}

func (r *raft) reset(term uint64) {
	if r.Term != term {
		r.Term = term
		r.Vote = None
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.abortLeaderTransfer()
	r.trk.resetVotes()
	next := r.raftLog.lastIndex() + 1
	for id, pr := range r.trk.progress {
		*pr = progress{next: next, inflights: pr.inflights, isLearner: pr.isLearner}
		pr.inflights.reset()
		if id == r.id {
			pr.match = r.raftLog.stableLastIndex()
			pr.next = max(next, pr.match+1)
		}
	}
	r.pendingConfIndex = 0
	r.pendingAppend, r.pendingCommit = false, false
	r.leaseRevoked = false
	r.uncommittedSize = 0
	r.readOnly = newReadOnly(r.readOnly.option)
	r.pendingReadIndexMessages = nil
}

// appendEntry stamps es with the leader's term and the next indexes and
// appends them; false if the uncommitted size limit refuses them.
func (r *raft) appendEntry(es ...Entry) bool {
	li := r.raftLog.lastIndex()
	for i := range es {
		es[i].Term = r.Term
		es[i].Index = li + 1 + uint64(i)
	}
	if !r.increaseUncommittedSize(es) {
		return false
	}
	r.raftLog.append(es...)
	// The leader's own acknowledgement comes with Advance, once the entries
	// are durable.
	return true
}

func (r *raft) increaseUncommittedSize(ents []Entry) bool {
	s := entsSize(ents)
	if r.maxUncommittedSize > 0 && r.uncommittedSize > 0 && s > 0 && r.uncommittedSize+s > r.maxUncommittedSize {
		return false
	}
	r.uncommittedSize += s
	return true
}

func (r *raft) reduceUncommittedSize(s uint64) {
	if s > r.uncommittedSize {
		r.uncommittedSize = 0
	} else {
		r.uncommittedSize -= s
	}
}

// tickElection is the tick of followers and candidates.
func (r *raft) tickElection() {
	// Saturate: a member that never campaigns (a learner) must not overflow
	// a 32-bit int; past 2*electionTimeout the count means the same.
	if r.electionElapsed < 2*r.electionTimeout {
		r.electionElapsed++
	}
	if r.promotable() && r.pastElectionTimeout() {
		r.electionElapsed = 0
		if err := r.Step(Message{From: r.id, Type: MsgHup}); err != nil {
			r.logger.Debugf("raft: error on election timeout: %v", err)
		}
	}
}

// tickHeartbeat is the tick of the leader.
func (r *raft) tickHeartbeat() {
	r.heartbeatElapsed++
	r.electionElapsed++
	if r.electionElapsed >= r.electionTimeout {
		r.electionElapsed = 0
		if r.checkQuorum {
			_ = r.Step(Message{From: r.id, Type: MsgCheckQuorum})
		}
		// A transfer that did not finish within an election timeout is abandoned.
		if r.state == StateLeader && r.leadTransferee != None {
			r.logger.Infof("raft: %x aborts leadership transfer to %x: timed out", r.id, r.leadTransferee)
			r.abortLeaderTransfer()
		}
	}
	if r.state != StateLeader {
		return
	}
	if r.heartbeatElapsed >= r.heartbeatTimeout {
		r.heartbeatElapsed = 0
		_ = r.Step(Message{From: r.id, Type: MsgBeat})
	}
}

func (r *raft) becomeFollower(term, lead uint64) {
	r.step = stepFollower
	r.reset(term)
	r.tick = r.tickElection
	r.lead = lead
	r.state = StateFollower
	r.raftLog.applyUnstable = false
	r.logger.Infof("raft: %x became follower at term %d", r.id, r.Term)
}

func (r *raft) becomeCandidate() {
	if r.state == StateLeader {
		r.logger.Panicf("raft: invalid transition [leader -> candidate]")
	}
	r.step = stepCandidate
	r.reset(r.Term + 1)
	r.tick = r.tickElection
	r.Vote = r.id
	r.state = StateCandidate
	r.raftLog.applyUnstable = false
	r.logger.Infof("raft: %x became candidate at term %d", r.id, r.Term)
}

func (r *raft) becomePreCandidate() {
	if r.state == StateLeader {
		r.logger.Panicf("raft: invalid transition [leader -> pre-candidate]")
	}
	// A pre-candidate changes neither its term nor its vote.
	r.step = stepCandidate
	r.trk.resetVotes()
	r.tick = r.tickElection
	r.lead = None
	r.state = StatePreCandidate
	r.raftLog.applyUnstable = false
	r.logger.Infof("raft: %x became pre-candidate at term %d", r.id, r.Term)
}

func (r *raft) becomeLeader() {
	if r.state == StateFollower {
		r.logger.Panicf("raft: invalid transition [follower -> leader]")
	}
	r.step = stepLeader
	r.reset(r.Term)
	r.tick = r.tickHeartbeat
	r.lead = r.id
	r.state = StateLeader
	r.raftLog.applyUnstable = r.leaderAppliesUnpersisted
	self := r.trk.progress[r.id]
	self.becomeReplicate()
	self.recentActive = true
	// The log may hold conf changes that are not yet applied: refuse new
	// ones until everything up to here is applied.
	r.pendingConfIndex = r.raftLog.lastIndex()
	// A new leader appends an empty entry of its term so that it can commit
	// (and so learn the commit index; Raft §5.4.2, §6.4).
	if !r.appendEntry(Entry{}) {
		r.logger.Panicf("raft: empty entry was dropped")
	}
	r.logger.Infof("raft: %x became leader at term %d", r.id, r.Term)
}

// promotable reports whether r may campaign: it is a voter and is not
// waiting for a snapshot to be persisted.
func (r *raft) promotable() bool {
	pr := r.trk.progress[r.id]
	return pr != nil && !pr.isLearner && r.raftLog.unstable.snapshot == nil
}

func (r *raft) pastElectionTimeout() bool {
	return r.electionElapsed >= r.randomizedElectionTimeout
}

func (r *raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTimeout + r.rand.IntN(r.electionTimeout)
}

func (r *raft) abortLeaderTransfer() { r.leadTransferee = None }

func (r *raft) committedEntryInCurrentTerm() bool {
	return r.raftLog.zeroTermOnOutOfBounds(r.raftLog.term(r.raftLog.committed)) == r.Term
}

func (r *raft) hup(t string) {
	if r.state == StateLeader {
		r.logger.Debugf("raft: %x ignoring MsgHup: already leader", r.id)
		return
	}
	if !r.promotable() {
		r.logger.Warningf("raft: %x is not promotable and cannot campaign", r.id)
		return
	}
	if r.hasUnappliedConfChanges() {
		r.logger.Warningf("raft: %x cannot campaign at term %d: committed conf changes not yet applied", r.id, r.Term)
		return
	}
	r.logger.Infof("raft: %x starting a new election at term %d", r.id, r.Term)
	r.campaign(t)
}

func (r *raft) hasUnappliedConfChanges() bool {
	l := r.raftLog
	if l.applied >= l.committed {
		return false
	}
	ents, err := l.slice(l.applied+1, l.committed+1, ^uint64(0))
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Type == EntryConfChange {
			return true
		}
	}
	return false
}

func (r *raft) campaign(t string) {
	var term uint64
	var voteMsg MessageType
	if t == campaignPreElection {
		r.becomePreCandidate()
		voteMsg = MsgPreVote
		// Pre-vote requests carry the term the member would campaign at.
		term = r.Term + 1
	} else {
		r.becomeCandidate()
		voteMsg = MsgVote
		term = r.Term
	}
	var ctx []byte
	if t == campaignTransfer {
		ctx = []byte(t)
	}
	for _, id := range r.trk.voters {
		if id == r.id {
			// Our own vote counts only once it is durable: it is stepped
			// back in at Advance.
			r.send(Message{To: id, Term: term, Type: voteRespType(voteMsg)})
			continue
		}
		r.send(Message{To: id, Term: term, Type: voteMsg,
			Index: r.raftLog.lastIndex(), LogTerm: r.raftLog.lastTerm(), Context: ctx})
	}
}

func voteRespType(t MessageType) MessageType {
	switch t {
	case MsgVote:
		return MsgVoteResp
	case MsgPreVote:
		return MsgPreVoteResp
	}
	panic(fmt.Sprintf("raft: not a vote message: %s", t))
}

// poll records a vote and returns the election outcome.
func (r *raft) poll(id uint64, t MessageType, granted bool) voteResult {
	if granted {
		r.logger.Infof("raft: %x received %s from %x at term %d", r.id, t, id, r.Term)
	} else {
		r.logger.Infof("raft: %x received %s rejection from %x at term %d", r.id, t, id, r.Term)
	}
	r.trk.recordVote(id, granted)
	_, _, res := r.trk.tallyVotes()
	return res
}

// Step is the single entry point for messages. Term handling happens here,
// once, before the role's step function sees the message.
func (r *raft) Step(m Message) error {
	switch {
	case m.Term == 0:
		// local message, MsgProp or MsgReadIndex
	case m.Term > r.Term:
		if m.Type == MsgVote || m.Type == MsgPreVote {
			force := string(m.Context) == campaignTransfer
			// In lease mode a member that restarted may have been part of
			// a leader's lease quorum before it went down: it honours that
			// lease for one election timeout after starting.
			startup := r.restartLease && r.ticks < uint64(r.electionTimeout)
			inLease := r.checkQuorum && (r.lead != None || startup) && r.electionElapsed < r.electionTimeout
			if !force && inLease {
				// Leader stickiness: we heard from a leader within the
				// election timeout, so ignore the (pre)vote.
				r.logger.Infof("raft: %x ignored %s from %x at term %d: lease not expired", r.id, m.Type, m.From, r.Term)
				return nil
			}
		}
		switch {
		case m.Type == MsgPreVote:
			// Never change term in response to a pre-vote.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// The term is bumped when the pre-vote wins.
		default:
			if m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap {
				r.becomeFollower(m.Term, m.From)
			} else {
				r.becomeFollower(m.Term, None)
			}
		}
	case m.Term < r.Term:
		switch {
		case (r.checkQuorum || r.preVote) && (m.Type == MsgHeartbeat || m.Type == MsgApp):
			// A stale leader (for example one isolated that rejoins) learns
			// our term from this response and steps down.
			r.send(Message{To: m.From, Type: MsgAppResp})
		case m.Type == MsgPreVote:
			r.send(Message{To: m.From, Term: r.Term, Type: MsgPreVoteResp, Reject: true})
		case m.Type == MsgVote:
			// Raft §5.1: the reply carries our term so that a candidate
			// with a stale term catches up. Without it a member we never
			// contact (one whose configuration does not list us) could keep
			// campaigning below our term forever.
			r.send(Message{To: m.From, Term: r.Term, Type: MsgVoteResp, Reject: true})
		default:
			r.logger.Debugf("raft: %x ignored %s from %x with lower term %d", r.id, m.Type, m.From, m.Term)
		}
		return nil
	}

	switch m.Type {
	case MsgHup:
		if r.preVote {
			r.hup(campaignPreElection)
		} else {
			r.hup(campaignElection)
		}
	case MsgVote, MsgPreVote:
		canVote := r.Vote == m.From ||
			(r.Vote == None && r.lead == None) ||
			(m.Type == MsgPreVote && m.Term > r.Term)
		if canVote && r.raftLog.isUpToDate(m.Index, m.LogTerm) {
			r.send(Message{To: m.From, Term: m.Term, Type: voteRespType(m.Type)})
			if m.Type == MsgVote {
				r.electionElapsed = 0
				r.Vote = m.From
			}
		} else {
			r.send(Message{To: m.From, Term: r.Term, Type: voteRespType(m.Type), Reject: true})
		}
	default:
		return r.step(r, m)
	}
	return nil
}

func stepLeader(r *raft, m Message) error {
	switch m.Type {
	case MsgBeat:
		r.bcastHeartbeat()
		return nil
	case MsgCheckQuorum:
		if !r.trk.quorumActive() {
			r.logger.Warningf("raft: %x stepped down to follower: quorum is not active", r.id)
			r.becomeFollower(r.Term, None)
		}
		for id, pr := range r.trk.progress {
			if id != r.id {
				pr.recentActive = false
			}
		}
		return nil
	case MsgProp:
		return r.leaderPropose(m)
	case MsgReadIndex:
		if len(r.trk.voters) == 1 && r.trk.isVoter(r.id) {
			r.respondReadIndex(m, r.raftLog.committed)
			return nil
		}
		if !r.committedEntryInCurrentTerm() {
			// Defer until we know the commit index (an entry of our term
			// is committed).
			r.pendingReadIndexMessages = append(r.pendingReadIndexMessages, m)
			return nil
		}
		r.serveReadIndex(m)
		return nil
	}

	pr := r.trk.progress[m.From]
	if pr == nil {
		r.logger.Debugf("raft: %x no progress available for %x", r.id, m.From)
		return nil
	}
	switch m.Type {
	case MsgAppResp:
		r.handleAppResp(m, pr)
	case MsgHeartbeatResp:
		pr.recentActive = true
		pr.msgAppProbesPaused = false
		if r.readOnly.option == ReadOnlyLeaseBased && m.Index <= r.ticks {
			pr.leaseTick = max(pr.leaseTick, m.Index)
		}
		if pr.state == ProgressReplicate && pr.inflights.full() {
			// MsgApps or their responses may have been lost silently with
			// the window full; nothing else would ever drain it. Free the
			// oldest slot so one more MsgApp goes out: the follower acks it
			// or rejects it (a gap), and either answer resynchronizes us.
			pr.inflights.freeFirstOne()
		}
		if pr.match < r.raftLog.lastIndex() {
			r.sendAppend(m.From)
		}
		if len(m.Context) == 0 {
			return nil
		}
		acks := r.readOnly.recvAck(m.From, m.Context)
		if acks == nil || !r.quorumAcked(acks) {
			return nil
		}
		for _, rs := range r.readOnly.advance(m.Context) {
			r.respondReadIndex(rs.req, rs.index)
		}
	case MsgSnapStatus:
		if pr.state != ProgressSnapshot {
			return nil
		}
		if m.Reject {
			pr.pendingSnapshot = 0
		}
		pr.becomeProbe()
		// Wait for a heartbeat response before probing again.
		pr.msgAppProbesPaused = true
	case MsgUnreachable:
		if pr.state == ProgressReplicate {
			pr.becomeProbe()
		}
	case MsgTransferLeader:
		if pr.isLearner {
			r.logger.Infof("raft: %x ignores transfer to learner %x", r.id, m.From)
			return nil
		}
		transferee := m.From
		if last := r.leadTransferee; last != None {
			if last == transferee {
				return nil // already in progress
			}
			r.abortLeaderTransfer()
		}
		if transferee == r.id {
			return nil
		}
		r.logger.Infof("raft: %x starts leadership transfer to %x at term %d", r.id, transferee, r.Term)
		// The transfer must finish within an election timeout.
		r.electionElapsed = 0
		r.leadTransferee = transferee
		if pr.match == r.raftLog.lastIndex() {
			r.sendTimeoutNow(transferee)
		} else {
			r.sendAppend(transferee)
		}
	}
	return nil
}

func (r *raft) quorumAcked(acks map[uint64]bool) bool {
	n := 0
	for _, id := range r.trk.voters {
		if acks[id] {
			n++
		}
	}
	return n >= quorumSize(len(r.trk.voters))
}

func (r *raft) leaderPropose(m Message) error {
	if len(m.Entries) == 0 {
		return fmt.Errorf("%w: empty proposal", ErrInvalidMessage)
	}
	if r.trk.progress[r.id] == nil {
		// Removed from the configuration: cannot lead new entries.
		return fmt.Errorf("%w: leader %x is not a member", ErrProposalDropped, r.id)
	}
	if r.leadTransferee != None {
		return fmt.Errorf("%w: to %x", ErrTransferInProgress, r.leadTransferee)
	}
	ents := make([]Entry, len(m.Entries))
	copy(ents, m.Entries)
	for i := range ents {
		if ents[i].Type != EntryConfChange {
			continue
		}
		cc, err := UnmarshalConfChange(ents[i].Data)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrProposalDropped, err)
		}
		if r.pendingConfIndex > r.raftLog.applied {
			return fmt.Errorf("%w: conf change at index %d is not yet applied (applied %d)",
				ErrProposalDropped, r.pendingConfIndex, r.raftLog.applied)
		}
		if err := r.checkConfChange(cc); err != nil {
			return err
		}
		r.pendingConfIndex = r.raftLog.lastIndex() + uint64(i) + 1
	}
	if !r.appendEntry(ents...) {
		return fmt.Errorf("%w: uncommitted size limit %d reached", ErrProposalDropped, r.maxUncommittedSize)
	}
	r.pendingAppend = true
	return nil
}

// checkConfChange refuses changes that could never be applied sensibly.
func (r *raft) checkConfChange(cc ConfChange) error {
	if cc.NodeID == None && cc.Type != ConfChangeUpdate {
		return fmt.Errorf("%w: conf change for node 0", ErrProposalDropped)
	}
	if cc.Type == ConfChangeRemove && r.trk.isVoter(cc.NodeID) && len(r.trk.voters) == 1 {
		return fmt.Errorf("%w: cannot remove the last voter %x", ErrProposalDropped, cc.NodeID)
	}
	if cc.Type == ConfChangeAddLearner && r.trk.isVoter(cc.NodeID) {
		return fmt.Errorf("%w: %x is a voter; demotion is not supported", ErrProposalDropped, cc.NodeID)
	}
	return nil
}

func (r *raft) handleAppResp(m Message, pr *progress) {
	pr.recentActive = true
	if m.Reject {
		// Fast backtracking (Raft §5.3 optimization): the follower's hint
		// names the last index whose term is <= LogTerm in its log; find
		// where our log could match it.
		nextProbe := m.RejectHint
		if m.LogTerm > 0 {
			nextProbe, _ = r.raftLog.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.maybeDecrTo(m.Index, nextProbe) {
			if pr.state == ProgressReplicate {
				pr.becomeProbe()
			}
			r.sendAppend(m.From)
		}
		return
	}
	if m.Index > r.raftLog.lastIndex() {
		r.logger.Warningf("raft: %x ignoring MsgAppResp from %x for index %d past last index %d",
			r.id, m.From, m.Index, r.raftLog.lastIndex())
		return
	}
	oldPaused := pr.isPaused()
	if !pr.maybeUpdate(m.Index) && !(pr.match == m.Index && pr.state == ProgressProbe) {
		return
	}
	switch pr.state {
	case ProgressProbe:
		pr.becomeReplicate()
	case ProgressSnapshot:
		if pr.match+1 >= r.raftLog.firstIndex() {
			pr.becomeProbe()
			pr.becomeReplicate()
		}
	case ProgressReplicate:
		pr.inflights.freeLE(m.Index)
	}
	if r.maybeCommit() {
		r.onCommitAdvanced()
	} else if oldPaused {
		r.sendAppend(m.From)
	}
	// Stream what is left while the window allows.
	for r.maybeSendAppend(m.From, false) {
	}
	if m.From == r.leadTransferee && pr.match == r.raftLog.lastIndex() {
		r.logger.Infof("raft: %x sends MsgTimeoutNow to %x: log is up to date", r.id, m.From)
		r.sendTimeoutNow(m.From)
	}
}

// onCommitAdvanced tells followers the new commit index and serves reads
// that were waiting for the first commit of this term.
func (r *raft) onCommitAdvanced() {
	r.pendingCommit = true
	if len(r.pendingReadIndexMessages) > 0 && r.committedEntryInCurrentTerm() {
		pending := r.pendingReadIndexMessages
		r.pendingReadIndexMessages = nil
		for _, m := range pending {
			r.serveReadIndex(m)
		}
	}
}

// selfAck records that the leader's own log is durable up to index.
func (r *raft) selfAck(index uint64) {
	if r.state != StateLeader {
		return
	}
	pr := r.trk.progress[r.id]
	if pr == nil || !pr.maybeUpdate(index) {
		return
	}
	if r.maybeCommit() {
		r.onCommitAdvanced()
	}
	if r.leadTransferee != None {
		if tp := r.trk.progress[r.leadTransferee]; tp != nil && tp.match == r.raftLog.lastIndex() {
			r.sendTimeoutNow(r.leadTransferee)
		}
	}
}

func (r *raft) sendTimeoutNow(to uint64) {
	r.leaseRevoked = true
	r.send(Message{To: to, Type: MsgTimeoutNow})
}

func (r *raft) serveReadIndex(m Message) {
	if r.readOnly.option == ReadOnlyLeaseBased && r.leaseValid() {
		r.respondReadIndex(m, r.raftLog.committed)
		return
	}
	// ReadOnlySafe, or a lease that is not (or no longer) confirmed:
	// confirm leadership with a heartbeat round.
	r.readOnly.addRequest(r.raftLog.committed, m)
	// Our own acknowledgement.
	r.readOnly.recvAck(r.id, m.Context)
	r.bcastHeartbeatCtx(m.Context)
}

// leaseValid reports whether no other leader can exist yet. Every voter that
// echoed a heartbeat stamped at tick s refuses to vote until it has counted
// ElectionTick ticks since receiving it (CheckQuorum leader stickiness), so
// once a quorum echoed stamps >= s, no new leader can be elected before our
// tick s+ElectionTick-1 (one tick of slack for tick phase), provided the
// members' tick rates agree: the clock drift assumption of
// ReadOnlyLeaseBased.
func (r *raft) leaseValid() bool {
	if r.leaseRevoked || !r.checkQuorum {
		return false
	}
	start := committedIndex(r.trk.voters, func(id uint64) uint64 {
		if id == r.id {
			return r.ticks
		}
		if pr := r.trk.progress[id]; pr != nil {
			return pr.leaseTick
		}
		return 0
	})
	if start == 0 || start > r.ticks {
		return false
	}
	return r.ticks-start+1 < uint64(r.electionTimeout)
}

func (r *raft) bcastHeartbeatCtx(ctx []byte) {
	for _, id := range r.others() {
		r.sendHeartbeat(id, ctx)
	}
}

func (r *raft) respondReadIndex(req Message, index uint64) {
	if req.From == None || req.From == r.id {
		r.readStates = append(r.readStates, ReadState{Index: index, RequestCtx: req.Context})
		return
	}
	r.send(Message{To: req.From, Type: MsgReadIndexResp, Index: index, Context: req.Context})
}

func stepCandidate(r *raft, m Message) error {
	myVoteResp := MsgVoteResp
	if r.state == StatePreCandidate {
		myVoteResp = MsgPreVoteResp
	}
	switch m.Type {
	case MsgProp:
		return fmt.Errorf("%w: no leader at term %d", ErrProposalDropped, r.Term)
	case MsgApp:
		r.becomeFollower(m.Term, m.From)
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case myVoteResp:
		switch r.poll(m.From, m.Type, !m.Reject) {
		case voteWon:
			if r.state == StatePreCandidate {
				r.campaign(campaignElection)
			} else {
				r.becomeLeader()
				r.bcastAppend()
			}
		case voteLost:
			// A pre-candidate rejected at a higher term already stepped down
			// in Step; otherwise stay at this term as a follower.
			r.becomeFollower(r.Term, None)
		}
	case MsgTimeoutNow:
		r.logger.Debugf("raft: %x ignored MsgTimeoutNow from %x as a candidate", r.id, m.From)
	}
	return nil
}

func stepFollower(r *raft, m Message) error {
	switch m.Type {
	case MsgProp:
		if r.lead == None {
			return fmt.Errorf("%w: no leader at term %d", ErrProposalDropped, r.Term)
		}
		if r.disableProposalForwarding {
			return fmt.Errorf("%w: proposal forwarding disabled", ErrProposalDropped)
		}
		m.To = r.lead
		m.From = None
		m.Term = 0
		r.send(m)
	case MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppendEntries(m)
	case MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case MsgTransferLeader:
		if r.lead == None {
			r.logger.Infof("raft: %x no leader at term %d; dropping leader transfer", r.id, r.Term)
			return nil
		}
		r.send(Message{To: r.lead, From: m.From, Type: MsgTransferLeader})
	case MsgTimeoutNow:
		// Leadership transfers skip the pre-vote: we know we are not
		// rejoining from a partition.
		r.logger.Infof("raft: %x received MsgTimeoutNow from %x and starts an election", r.id, m.From)
		r.hup(campaignTransfer)
	case MsgReadIndex:
		if r.lead == None {
			r.logger.Infof("raft: %x no leader at term %d; dropping read index", r.id, r.Term)
			return nil
		}
		r.send(Message{To: r.lead, Type: MsgReadIndex, Context: m.Context})
	case MsgReadIndexResp:
		r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Context})
	}
	return nil
}

func (r *raft) handleAppendEntries(m Message) {
	if m.Index < r.raftLog.committed {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.committed})
		return
	}
	if last, ok := r.raftLog.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: last})
		return
	}
	// Reject, with a hint: the last index <= m.Index whose term is <=
	// m.LogTerm. The leader can skip every index in between.
	hintIndex := min(m.Index, r.raftLog.lastIndex())
	hintIndex, hintTerm := r.raftLog.findConflictByTerm(hintIndex, m.LogTerm)
	r.logger.Debugf("raft: %x rejected MsgApp [logterm %d, index %d] from %x", r.id, m.LogTerm, m.Index, m.From)
	r.send(Message{To: m.From, Type: MsgAppResp, Index: m.Index, Reject: true, RejectHint: hintIndex, LogTerm: hintTerm})
}

func (r *raft) handleHeartbeat(m Message) {
	if m.Commit <= r.raftLog.lastIndex() {
		r.raftLog.commitTo(m.Commit)
	} else {
		r.logger.Warningf("raft: %x heartbeat commit %d past last index %d", r.id, m.Commit, r.raftLog.lastIndex())
	}
	// Index echoes the leader's lease stamp (ReadOnlyLeaseBased).
	r.send(Message{To: m.From, Type: MsgHeartbeatResp, Index: m.Index, Context: m.Context})
}

func (r *raft) handleSnapshot(m Message) {
	s := *m.Snapshot
	if r.restore(s) {
		r.logger.Infof("raft: %x restored snapshot [index %d, term %d]", r.id, s.Meta.Index, s.Meta.Term)
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.lastIndex()})
	} else {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.raftLog.committed})
	}
}

// restore installs snapshot s unless the log already covers it.
func (r *raft) restore(s Snapshot) bool {
	if s.Meta.Index <= r.raftLog.committed {
		return false
	}
	if r.state != StateFollower {
		r.logger.Warningf("raft: %x ignoring snapshot as %s", r.id, r.state)
		return false
	}
	cs := s.Meta.ConfState
	if validConfState(cs) != nil {
		r.logger.Warningf("raft: %x ignoring snapshot with an invalid configuration", r.id)
		return false
	}
	if !slices.Contains(cs.Voters, r.id) && !slices.Contains(cs.Learners, r.id) {
		// A member added after the snapshot was taken: the current leader
		// (which has us in its configuration, or it would not send to us)
		// replicates the entry adding us right after the snapshot. Until
		// then we are not promotable, so accepting is harmless.
		r.logger.Infof("raft: %x accepting snapshot at %d whose configuration predates it", r.id, s.Meta.Index)
	}
	if r.raftLog.matchTerm(s.Meta.Index, s.Meta.Term) {
		// We already have the entry: just fast-forward the commit index.
		r.raftLog.commitTo(s.Meta.Index)
		return false
	}
	r.raftLog.restore(s)
	r.setConf(cs)
	return true
}

// applyConfChange changes the membership; called when a conf change entry
// is applied.
func (r *raft) applyConfChange(cc ConfChange) ConfState {
	t := &r.trk
	next := r.raftLog.lastIndex() + 1
	var added uint64
	switch cc.Type {
	case ConfChangeAddVoter:
		if t.isVoter(cc.NodeID) || cc.NodeID == None {
			break
		}
		if t.isLearner(cc.NodeID) {
			t.learners = slices.DeleteFunc(t.learners, func(id uint64) bool { return id == cc.NodeID })
			t.progress[cc.NodeID].isLearner = false
		} else {
			t.initProgress(cc.NodeID, 0, next, false)
			t.progress[cc.NodeID].recentActive = true
			added = cc.NodeID
		}
		t.voters = insertSorted(t.voters, cc.NodeID)
	case ConfChangeAddLearner:
		if t.isVoter(cc.NodeID) || t.isLearner(cc.NodeID) || cc.NodeID == None {
			break
		}
		t.initProgress(cc.NodeID, 0, next, true)
		t.progress[cc.NodeID].recentActive = true
		added = cc.NodeID
		t.learners = insertSorted(t.learners, cc.NodeID)
	case ConfChangeRemove:
		if t.isVoter(cc.NodeID) && len(t.voters) == 1 {
			r.logger.Warningf("raft: %x ignoring removal of the last voter %x", r.id, cc.NodeID)
			break
		}
		t.voters = slices.DeleteFunc(t.voters, func(id uint64) bool { return id == cc.NodeID })
		t.learners = slices.DeleteFunc(t.learners, func(id uint64) bool { return id == cc.NodeID })
		delete(t.progress, cc.NodeID)
		delete(t.votes, cc.NodeID)
	case ConfChangeUpdate:
	}
	r.othersCache = nil
	if r.state != StateLeader {
		return t.confState()
	}
	if t.progress[r.id] == nil || t.isLearner(r.id) {
		// The leader removed itself: the change is committed (we apply only
		// committed entries), so step down and let the others elect.
		r.logger.Infof("raft: %x removed from the configuration; stepping down", r.id)
		r.becomeFollower(r.Term, None)
		return t.confState()
	}
	if r.leadTransferee != None && t.progress[r.leadTransferee] == nil {
		r.abortLeaderTransfer()
	}
	// A smaller quorum may commit more; a new member needs the log.
	if r.maybeCommit() {
		r.onCommitAdvanced()
	} else if added != None {
		r.sendAppend(added)
	}
	return t.confState()
}

func insertSorted(ids []uint64, id uint64) []uint64 {
	i, found := slices.BinarySearch(ids, id)
	if found {
		return ids
	}
	return slices.Insert(ids, i, id)
}
