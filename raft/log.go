package raft

import (
	"errors"
	"fmt"
)

// unstable holds the entries and snapshot that raft has accepted but the
// application has not yet confirmed durable (through Advance).
//
// Invariant: if snapshot != nil then offset == snapshot.Meta.Index+1.
// Invariant: entries[i].Index == offset+i.
// Invariant: offset <= inProgress <= offset+len(entries).
type unstable struct {
	snapshot *Snapshot
	entries  []Entry
	offset   uint64
	// inProgress is the first index not yet handed out in a Ready: entries
	// below it are being persisted by the application (RawNode.AdvanceHandled
	// without RawNode.Persisted yet). snapInProgress is the same for snapshot.
	inProgress     uint64
	snapInProgress bool
}

// nextEntries returns the unstable entries not yet handed out in a Ready.
func (u *unstable) nextEntries() []Entry {
	if k := max(u.inProgress, u.offset) - u.offset; k < uint64(len(u.entries)) {
		return u.entries[k:]
	}
	return nil
}

// nextSnapshot returns the unstable snapshot if it was not handed out yet.
func (u *unstable) nextSnapshot() *Snapshot {
	if u.snapInProgress {
		return nil
	}
	return u.snapshot
}

// acceptInProgress marks everything unstable as handed out.
func (u *unstable) acceptInProgress() {
	u.inProgress = u.offset + uint64(len(u.entries))
	if u.snapshot != nil {
		u.snapInProgress = true
	}
}

// maybeFirstIndex returns the first index if there is an unstable snapshot.
func (u *unstable) maybeFirstIndex() (uint64, bool) {
	if u.snapshot != nil {
		return u.snapshot.Meta.Index + 1, true
	}
	return 0, false
}

// maybeLastIndex returns the last index held by u, if any.
func (u *unstable) maybeLastIndex() (uint64, bool) {
	if l := len(u.entries); l != 0 {
		return u.offset + uint64(l) - 1, true
	}
	if u.snapshot != nil {
		return u.snapshot.Meta.Index, true
	}
	return 0, false
}

// maybeTerm returns the term of entry i if u knows it.
func (u *unstable) maybeTerm(i uint64) (uint64, bool) {
	if i < u.offset {
		if u.snapshot != nil && u.snapshot.Meta.Index == i {
			return u.snapshot.Meta.Term, true
		}
		return 0, false
	}
	last, ok := u.maybeLastIndex()
	if !ok || i > last {
		return 0, false
	}
	return u.entries[i-u.offset].Term, true
}

// stableTo marks entries up to (i, t) durable. If the entry at i was replaced
// since the Ready was produced (its term differs) nothing happens.
func (u *unstable) stableTo(i, t uint64) {
	gt, ok := u.maybeTerm(i)
	if !ok || gt != t || i < u.offset {
		return
	}
	u.entries = u.entries[i+1-u.offset:]
	if len(u.entries) == 0 {
		u.entries = nil
	}
	u.offset = i + 1
	u.inProgress = max(u.inProgress, u.offset)
}

func (u *unstable) stableSnapTo(i uint64) {
	if u.snapshot != nil && u.snapshot.Meta.Index == i {
		u.snapshot = nil
		u.snapInProgress = false
	}
}

func (u *unstable) restore(s Snapshot) {
	u.offset = s.Meta.Index + 1
	u.inProgress = u.offset
	u.entries = nil
	u.snapshot = &s
	u.snapInProgress = false
}

// truncateAndAppend appends ents, replacing any suffix they conflict with.
func (u *unstable) truncateAndAppend(ents []Entry) {
	after := ents[0].Index
	switch {
	case after == u.offset+uint64(len(u.entries)):
		u.entries = append(u.entries, ents...)
	case after <= u.offset:
		// Replace everything unstable; storage's stale suffix from after on
		// will be overwritten when the application appends these.
		u.offset = after
		u.entries = append([]Entry(nil), ents...)
	default:
		keep := u.entries[: after-u.offset : after-u.offset]
		u.entries = append(append([]Entry(nil), keep...), ents...)
	}
	// Replaced entries must be handed out again.
	u.inProgress = max(min(u.inProgress, after), u.offset)
}

// raftLog is the member's log: durable entries in storage followed by
// unstable ones.
//
// Invariant: applied <= committed.
// Invariant: committed <= lastIndex().
type raftLog struct {
	storage   Storage
	unstable  unstable
	committed uint64
	applied   uint64
	logger    Logger
	// maxApplySize bounds the bytes of committed entries per Ready (0 =
	// unlimited).
	maxApplySize uint64
	// applyUnstable hands out committed entries that are not durable here
	// yet (set on a leader with Config.LeaderAppliesUnpersisted).
	applyUnstable bool
}

func newLog(storage Storage, logger Logger) *raftLog {
	first, err := storage.FirstIndex()
	if err != nil {
		logger.Panicf("raft: storage FirstIndex: %v", err)
	}
	last, err := storage.LastIndex()
	if err != nil {
		logger.Panicf("raft: storage LastIndex: %v", err)
	}
	l := &raftLog{storage: storage, logger: logger}
	l.unstable.offset = last + 1
	l.unstable.inProgress = last + 1
	// The first index - 1 is the snapshot: it is committed and applied.
	l.committed = first - 1
	l.applied = first - 1
	return l
}

func (l *raftLog) String() string {
	return fmt.Sprintf("committed=%d applied=%d unstable.offset=%d len(unstable)=%d",
		l.committed, l.applied, l.unstable.offset, len(l.unstable.entries))
}

// maybeAppend handles the entries of a MsgApp whose preceding entry is
// (index, logTerm). It returns the new last index and true if the log matched.
func (l *raftLog) maybeAppend(index, logTerm, committed uint64, ents []Entry) (uint64, bool) {
	if !l.matchTerm(index, logTerm) {
		return 0, false
	}
	lastNew := index + uint64(len(ents))
	ci := l.findConflict(ents)
	switch {
	case ci == 0:
	case ci <= l.committed:
		l.logger.Panicf("raft: entry %d conflicts with committed entry (committed %d)", ci, l.committed)
	default:
		l.append(ents[ci-(index+1):]...)
	}
	l.commitTo(min(committed, lastNew))
	return lastNew, true
}

func (l *raftLog) append(ents ...Entry) uint64 {
	if len(ents) == 0 {
		return l.lastIndex()
	}
	if after := ents[0].Index - 1; after < l.committed {
		l.logger.Panicf("raft: append after %d is below committed %d", after, l.committed)
	}
	l.unstable.truncateAndAppend(ents)
	return l.lastIndex()
}

// findConflict returns the index of the first entry of ents that is not in
// the log (different term or missing), or 0 if all are present.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <= term
// (used for fast backtracking), and that entry's term.
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	for ; index > 0; index-- {
		t, err := l.term(index)
		if err != nil {
			return index, 0 // compacted or unavailable: stop here
		}
		if t <= term {
			return index, t
		}
	}
	return 0, 0
}

// nextCommittedEnts returns the committed, unapplied entries that may be
// applied: durable ones, or all of them with applyUnstable.
func (l *raftLog) nextCommittedEnts() []Entry {
	lo, hi := l.applied+1, l.maxAppliable()+1
	if l.unstable.snapshot != nil || lo >= hi {
		return nil
	}
	ents, err := l.slice(lo, hi, l.maxApplySizeOrNone())
	if err != nil {
		l.logger.Panicf("raft: committed entries [%d, %d): %v", lo, hi, err)
	}
	return ents
}

func (l *raftLog) maxApplySizeOrNone() uint64 {
	if l.maxApplySize == 0 {
		return ^uint64(0)
	}
	return l.maxApplySize
}

func (l *raftLog) hasNextCommittedEnts() bool {
	return l.unstable.snapshot == nil && l.applied < l.maxAppliable()
}

// maxAppliable is the last index that may be applied.
func (l *raftLog) maxAppliable() uint64 {
	if l.applyUnstable {
		return l.committed
	}
	return min(l.committed, l.stableLastIndex())
}

// stableLastIndex is the last index of the durable part of the log.
func (l *raftLog) stableLastIndex() uint64 {
	if l.unstable.snapshot != nil {
		return l.unstable.snapshot.Meta.Index - 1 // nothing durable is usable
	}
	return l.unstable.offset - 1
}

func (l *raftLog) snapshot() (Snapshot, error) {
	if l.unstable.snapshot != nil {
		return *l.unstable.snapshot, nil
	}
	return l.storage.Snapshot()
}

func (l *raftLog) firstIndex() uint64 {
	if i, ok := l.unstable.maybeFirstIndex(); ok {
		return i
	}
	i, err := l.storage.FirstIndex()
	if err != nil {
		l.logger.Panicf("raft: storage FirstIndex: %v", err)
	}
	return i
}

func (l *raftLog) lastIndex() uint64 {
	if i, ok := l.unstable.maybeLastIndex(); ok {
		return i
	}
	i, err := l.storage.LastIndex()
	if err != nil {
		l.logger.Panicf("raft: storage LastIndex: %v", err)
	}
	return i
}

func (l *raftLog) commitTo(tocommit uint64) {
	if l.committed < tocommit {
		if l.lastIndex() < tocommit {
			l.logger.Panicf("raft: commit %d is out of range [lastIndex %d]", tocommit, l.lastIndex())
		}
		l.committed = tocommit
	}
}

func (l *raftLog) appliedTo(i uint64) {
	if i == 0 {
		return
	}
	if l.committed < i || i < l.applied {
		l.logger.Panicf("raft: applied %d out of range [applied %d, committed %d]", i, l.applied, l.committed)
	}
	l.applied = i
}

func (l *raftLog) lastTerm() uint64 {
	t, err := l.term(l.lastIndex())
	if err != nil {
		l.logger.Panicf("raft: term of last index: %v", err)
	}
	return t
}

func (l *raftLog) term(i uint64) (uint64, error) {
	if t, ok := l.unstable.maybeTerm(i); ok {
		return t, nil
	}
	if i+1 < l.firstIndex() {
		return 0, ErrCompacted
	}
	if i > l.lastIndex() {
		return 0, ErrUnavailable
	}
	t, err := l.storage.Term(i)
	if err == nil {
		return t, nil
	}
	if errors.Is(err, ErrCompacted) || errors.Is(err, ErrUnavailable) {
		return 0, err
	}
	l.logger.Panicf("raft: storage Term(%d): %v", i, err)
	return 0, err
}

// zeroTermOnOutOfBounds maps compaction/unavailability to term 0.
func (l *raftLog) zeroTermOnOutOfBounds(t uint64, err error) uint64 {
	if err == nil {
		return t
	}
	return 0
}

func (l *raftLog) entries(i, maxSize uint64) ([]Entry, error) {
	if i > l.lastIndex() {
		return nil, nil
	}
	return l.slice(i, l.lastIndex()+1, maxSize)
}

// isUpToDate reports whether a log ending at (lasti, term) is at least as
// up to date as ours (Raft §5.4.1).
func (l *raftLog) isUpToDate(lasti, term uint64) bool {
	lt := l.lastTerm()
	return term > lt || (term == lt && lasti >= l.lastIndex())
}

func (l *raftLog) matchTerm(i, term uint64) bool {
	t, err := l.term(i)
	if err != nil {
		return false
	}
	return t == term
}

// maybeCommit commits up to maxIndex if that entry is from term (§5.4.2:
// only entries of the leader's current term are committed by counting).
func (l *raftLog) maybeCommit(maxIndex, term uint64) bool {
	if maxIndex > l.committed && l.zeroTermOnOutOfBounds(l.term(maxIndex)) == term {
		l.commitTo(maxIndex)
		return true
	}
	return false
}

func (l *raftLog) restore(s Snapshot) {
	l.committed = s.Meta.Index
	l.unstable.restore(s)
}

// slice returns entries in [lo, hi) limited to maxSize (at least one).
func (l *raftLog) slice(lo, hi, maxSize uint64) ([]Entry, error) {
	if lo > hi {
		l.logger.Panicf("raft: invalid slice %d > %d", lo, hi)
	}
	fi := l.firstIndex()
	if lo < fi {
		return nil, ErrCompacted
	}
	if hi > l.lastIndex()+1 {
		l.logger.Panicf("raft: slice [%d,%d) out of bound [%d,%d]", lo, hi, fi, l.lastIndex())
	}
	if lo == hi {
		return nil, nil
	}
	var ents []Entry
	if lo < l.unstable.offset {
		stored, err := l.storage.Entries(lo, min(hi, l.unstable.offset), maxSize)
		if err != nil {
			if errors.Is(err, ErrCompacted) {
				return nil, err
			}
			l.logger.Panicf("raft: storage Entries[%d,%d): %v", lo, min(hi, l.unstable.offset), err)
		}
		if uint64(len(stored)) < min(hi, l.unstable.offset)-lo {
			return stored, nil // size-limited
		}
		ents = stored
	}
	if hi > l.unstable.offset {
		from := max(lo, l.unstable.offset)
		un := l.unstable.entries[from-l.unstable.offset : hi-l.unstable.offset]
		if len(ents) > 0 {
			combined := make([]Entry, 0, len(ents)+len(un))
			ents = append(append(combined, ents...), un...)
		} else {
			ents = un
		}
	}
	return limitSize(ents, maxSize), nil
}
