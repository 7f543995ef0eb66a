package raft

import (
	"fmt"
	"slices"
)

// inflight is one MsgApp in flight: the index of its last entry and the
// bytes of entry data it carried.
type inflight struct {
	index uint64
	bytes uint64
}

// inflights is the window of MsgApps sent to a follower but not yet
// acknowledged, bounded by a count and (optionally) a byte total.
//
// Invariant: buf[start:] indexes are increasing; bytes is their sum.
type inflights struct {
	buf      []inflight
	start    int
	bytes    uint64
	maxCount int
	maxBytes uint64 // 0 = unlimited
}

func newInflights(maxCount int, maxBytes uint64) *inflights {
	return &inflights{maxCount: maxCount, maxBytes: maxBytes}
}

func (in *inflights) count() int { return len(in.buf) - in.start }

// add records a MsgApp whose last entry is index.
func (in *inflights) add(index, bytes uint64) {
	if in.full() {
		panic("raft: cannot add to a full inflights window")
	}
	if in.start > 0 && in.start*2 >= cap(in.buf) {
		n := copy(in.buf, in.buf[in.start:])
		in.buf = in.buf[:n]
		in.start = 0
	}
	in.buf = append(in.buf, inflight{index: index, bytes: bytes})
	in.bytes += bytes
}

// freeLE frees the MsgApps whose last index is <= to.
func (in *inflights) freeLE(to uint64) {
	for in.start < len(in.buf) && in.buf[in.start].index <= to {
		in.bytes -= in.buf[in.start].bytes
		in.start++
	}
	if in.start == len(in.buf) {
		in.buf = in.buf[:0]
		in.start = 0
	}
}

// freeFirstOne frees the oldest MsgApp in flight.
func (in *inflights) freeFirstOne() {
	if in.count() > 0 {
		in.freeLE(in.buf[in.start].index)
	}
}

func (in *inflights) full() bool {
	return in.count() >= in.maxCount || (in.maxBytes != 0 && in.bytes >= in.maxBytes)
}

func (in *inflights) reset() {
	in.buf = in.buf[:0]
	in.start = 0
	in.bytes = 0
}

// progress is the leader's view of one member.
//
// Invariant: match < next.
// Invariant: in StateSnapshot, pendingSnapshot > 0.
type progress struct {
	match, next uint64
	state       ProgressState
	// pendingSnapshot is the index of the snapshot being sent (StateSnapshot).
	pendingSnapshot uint64
	// recentActive is set when the member was heard from since the last
	// CheckQuorum round.
	recentActive bool
	// msgAppProbesPaused is set after sending a probe, and cleared by a
	// heartbeat response, so StateProbe sends one MsgApp per heartbeat.
	msgAppProbesPaused bool
	inflights          *inflights
	isLearner          bool
	// sentCommit is the highest commit index sent to the member in a MsgApp.
	sentCommit uint64
	// leaseTick is the highest heartbeat stamp (leader tick) the member
	// echoed (ReadOnlyLeaseBased).
	leaseTick uint64
}

func (pr *progress) String() string {
	return fmt.Sprintf("%s match=%d next=%d", pr.state, pr.match, pr.next)
}

func (pr *progress) resetState(state ProgressState) {
	pr.msgAppProbesPaused = false
	pr.pendingSnapshot = 0
	pr.state = state
	pr.inflights.reset()
}

func (pr *progress) becomeProbe() {
	if pr.state == ProgressSnapshot {
		pending := pr.pendingSnapshot
		pr.resetState(ProgressProbe)
		pr.next = max(pr.match+1, pending+1)
	} else {
		pr.resetState(ProgressProbe)
		pr.next = pr.match + 1
	}
}

func (pr *progress) becomeReplicate() {
	pr.resetState(ProgressReplicate)
	pr.next = pr.match + 1
}

func (pr *progress) becomeSnapshot(snapshoti uint64) {
	pr.resetState(ProgressSnapshot)
	pr.pendingSnapshot = snapshoti
}

// sentEntries updates next after sending entries up to lastIndex carrying
// bytes of data.
func (pr *progress) sentEntries(lastIndex, bytes uint64) {
	switch pr.state {
	case ProgressReplicate:
		if lastIndex >= pr.next {
			pr.next = lastIndex + 1
			pr.inflights.add(lastIndex, bytes)
		}
	case ProgressProbe:
		pr.msgAppProbesPaused = true
	}
}

// maybeUpdate records that the member has index n; it returns false if the
// ack is stale.
func (pr *progress) maybeUpdate(n uint64) bool {
	updated := false
	if pr.match < n {
		pr.match = n
		updated = true
		pr.msgAppProbesPaused = false
	}
	pr.next = max(pr.next, n+1)
	return updated
}

// maybeDecrTo handles a rejection of the MsgApp at rejected: the follower's
// hint says its log may match at matchHint. It returns false if the
// rejection is stale.
func (pr *progress) maybeDecrTo(rejected, matchHint uint64) bool {
	if pr.state == ProgressReplicate {
		if rejected <= pr.match {
			return false // stale
		}
		pr.next = pr.match + 1
		return true
	}
	if pr.next-1 != rejected {
		return false // stale: not the probe we sent
	}
	pr.next = max(min(rejected, matchHint+1), pr.match+1)
	pr.msgAppProbesPaused = false
	return true
}

// isPaused reports whether the leader should hold back MsgApps to the member.
func (pr *progress) isPaused() bool {
	switch pr.state {
	case ProgressProbe:
		return pr.msgAppProbesPaused
	case ProgressReplicate:
		return pr.inflights.full()
	case ProgressSnapshot:
		return true
	}
	panic("raft: unexpected progress state")
}

func (pr *progress) export() Progress {
	return Progress{
		Match: pr.match, Next: pr.next, State: pr.state, PendingSnapshot: pr.pendingSnapshot,
		RecentActive: pr.recentActive, IsLearner: pr.isLearner,
		Inflight: pr.inflights.count(), InflightBytes: pr.inflights.bytes, Paused: pr.isPaused(),
	}
}

// tracker holds the membership and the leader's progress for each member.
//
// Invariant: an ID is in at most one of voters and learners; every member
// has a progress entry.
type tracker struct {
	voters   []uint64 // sorted
	learners []uint64 // sorted
	progress map[uint64]*progress
	votes    map[uint64]bool

	maxInflight      int
	maxInflightBytes uint64
}

func newTracker(maxInflight int, maxInflightBytes uint64) tracker {
	return tracker{
		progress:         map[uint64]*progress{},
		votes:            map[uint64]bool{},
		maxInflight:      maxInflight,
		maxInflightBytes: maxInflightBytes,
	}
}

func (t *tracker) confState() ConfState {
	return ConfState{Voters: slices.Clone(t.voters), Learners: slices.Clone(t.learners)}
}

func (t *tracker) isVoter(id uint64) bool {
	_, ok := slices.BinarySearch(t.voters, id)
	return ok
}

func (t *tracker) isLearner(id uint64) bool {
	_, ok := slices.BinarySearch(t.learners, id)
	return ok
}

// members returns voters and learners in ID order.
func (t *tracker) members() []uint64 {
	ids := make([]uint64, 0, len(t.voters)+len(t.learners))
	ids = append(append(ids, t.voters...), t.learners...)
	slices.Sort(ids)
	return ids
}

func (t *tracker) initProgress(id, match, next uint64, learner bool) {
	t.progress[id] = &progress{
		match: match, next: next, isLearner: learner,
		inflights: newInflights(t.maxInflight, t.maxInflightBytes),
	}
}

func (t *tracker) committed() uint64 {
	return committedIndex(t.voters, func(id uint64) uint64 {
		if pr, ok := t.progress[id]; ok {
			return pr.match
		}
		return 0
	})
}

func (t *tracker) resetVotes() { clear(t.votes) }

func (t *tracker) recordVote(id uint64, granted bool) {
	if _, ok := t.votes[id]; !ok {
		t.votes[id] = granted
	}
}

func (t *tracker) tallyVotes() (granted, rejected int, result voteResult) {
	return tallyVotes(t.voters, t.votes)
}

// quorumActive reports whether a quorum of voters was recently active.
func (t *tracker) quorumActive() bool {
	n := 0
	for _, id := range t.voters {
		if pr, ok := t.progress[id]; ok && pr.recentActive {
			n++
		}
	}
	return n >= quorumSize(len(t.voters))
}
