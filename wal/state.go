package wal

import (
	"fmt"

	"cairn/raft"
)

// termRun says that entries from index on (up to the next run or the last
// index) have the given term.
type termRun struct{ index, term uint64 }

// logState is the shape of the log that Raft last wrote: enough to check a
// new batch, snapshot marker or hard state against the rules of the Raft log
// without holding the entries. Save checks its arguments with it before
// writing, and replay checks every record read from disk with the same code,
// so what the WAL accepts and what it reads back follow one set of rules.
type logState struct {
	// lastIndex is the index of the last entry (or of the snapshot that
	// replaced the log).
	lastIndex uint64
	// known is the lowest index whose term is known. Replay that starts in a
	// later segment does not see the terms of earlier entries.
	// Invariant: known >= 1 and known <= lastIndex+1.
	known uint64
	// runs maps indexes in [known, lastIndex] to terms.
	// Invariant: runs[i].index and runs[i].term strictly increase, and every
	// runs[i].index is in [known, lastIndex].
	runs []termRun
	// snap is the latest snapshot marker. Invariant: snap.Index <= lastIndex.
	snap SnapshotMarker
	// hs is the latest hard state (zero if none was written).
	hs raft.HardState
	// batch is the number of the last batch written.
	batch uint64
}

// term returns the term of the entry at index i, if known.
func (s *logState) term(i uint64) (uint64, bool) {
	if i == 0 {
		return 0, true
	}
	if i < s.known || i > s.lastIndex {
		return 0, false
	}
	for k := len(s.runs) - 1; k >= 0; k-- {
		if s.runs[k].index <= i {
			return s.runs[k].term, true
		}
	}
	return 0, false
}

// checkState reports whether hs may follow the current hard state: the term
// never decreases, a vote is not changed within a term, and the commit index
// never decreases (Raft §5.1, Figure 2).
func (s *logState) checkState(hs raft.HardState) error {
	old := s.hs
	switch {
	case hs.Term < old.Term:
		return fmt.Errorf("hard state term %d is below the saved term %d", hs.Term, old.Term)
	case hs.Term == old.Term && old.Vote != raft.None && hs.Vote != old.Vote:
		return fmt.Errorf("hard state changes the vote in term %d from %d to %d", hs.Term, old.Vote, hs.Vote)
	case hs.Commit < old.Commit:
		return fmt.Errorf("hard state commit %d is below the saved commit %d", hs.Commit, old.Commit)
	}
	return nil
}

// checkEntries reports whether ents (already checked by validEntries) may be
// appended: they start at most one past the last index (an earlier start
// overwrites the suffix, Raft §5.3), not at or below the latest snapshot,
// and their first term is not below the term of the entry they follow.
func (s *logState) checkEntries(ents []raft.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	f := ents[0].Index
	if f > s.lastIndex+1 {
		return fmt.Errorf("entries start at index %d, leaving a gap after the last index %d", f, s.lastIndex)
	}
	if f <= s.snap.Index {
		return fmt.Errorf("entries start at index %d, overwriting the snapshot at index %d", f, s.snap.Index)
	}
	if t, ok := s.term(f - 1); ok && ents[0].Term < t {
		return fmt.Errorf("entry %d has term %d below the term %d of entry %d", f, ents[0].Term, t, f-1)
	}
	return nil
}

// appendEntries records ents, dropping any suffix they overwrite.
func (s *logState) appendEntries(ents []raft.Entry) {
	if len(ents) == 0 {
		return
	}
	f := ents[0].Index
	k := len(s.runs)
	for k > 0 && s.runs[k-1].index >= f {
		k--
	}
	s.runs = s.runs[:k]
	if f < s.known {
		s.known = f
	}
	for i := range ents {
		if n := len(s.runs); n == 0 || s.runs[n-1].term != ents[i].Term {
			s.runs = append(s.runs, termRun{ents[i].Index, ents[i].Term})
		}
	}
	s.lastIndex = ents[len(ents)-1].Index
}

// checkSnapshot reports whether m may be recorded: markers never move back.
func (s *logState) checkSnapshot(m SnapshotMarker) error {
	if err := m.valid(); err != nil {
		return err
	}
	if m.Index < s.snap.Index || (m.Index == s.snap.Index && m.Term != s.snap.Term) {
		return fmt.Errorf("snapshot marker %+v goes back from %+v", m, s.snap)
	}
	return nil
}

// setSnapshot records m. If the log holds the entry m.Index with term m.Term,
// the entries stay; otherwise the snapshot replaces the whole log (as Raft
// does when it restores a snapshot that does not match its log) and setSnapshot
// returns true.
func (s *logState) setSnapshot(m SnapshotMarker) (reset bool) {
	s.snap = m
	if t, ok := s.term(m.Index); m.Index <= s.lastIndex && (!ok || t == m.Term) {
		return false
	}
	s.lastIndex = m.Index
	s.known = m.Index
	s.runs = append(s.runs[:0], termRun{m.Index, m.Term})
	return true
}

// checkBatch checks a whole batch against s.
func (s *logState) checkBatch(r *batchRecord) error {
	if err := r.valid(); err != nil {
		return err
	}
	if r.Batch != s.batch+1 {
		return fmt.Errorf("batch number %d does not follow %d", r.Batch, s.batch)
	}
	if r.HasState {
		if err := s.checkState(r.State); err != nil {
			return err
		}
	}
	return s.checkEntries(r.Entries)
}

// applyBatch records a batch that checkBatch accepted.
func (s *logState) applyBatch(r *batchRecord) {
	s.batch = r.Batch
	if r.HasState {
		s.hs = r.State
	}
	s.appendEntries(r.Entries)
}
