package rafttest

import (
	"errors"
	"fmt"

	"cairn/raft"
)

// checker holds the global knowledge needed to check Raft's safety
// properties (Raft paper Figure 3) as the network runs. It looks only at
// what the members persist, send and apply, never at raft's internals.
type checker struct {
	err error

	// leaderOf maps a term to the member that led in it (§5.2).
	leaderOf map[uint64]uint64
	// logAt maps a log position (index, term) to the entry's content hash
	// and the term of the entry before it. Log Matching (§5.3) holds iff no
	// position ever maps to two different values: by induction on the index,
	// equal (index, term) then implies identical prefixes.
	logAt map[pos]posInfo
	// committed maps an index to the term of the entry committed there and
	// the lowest term in which any member learned it was committed.
	committed    map[uint64]commitInfo
	maxCommitted uint64
	// appliedAt maps an index to the hash of the entry applied there (§5.4.3
	// State Machine Safety); digestAt maps an applied index to the state
	// machine digest there.
	appliedAt map[uint64]uint64
	digestAt  map[uint64]uint64
}

type pos struct{ index, term uint64 }

type posInfo struct {
	prevTerm uint64 // unknownTerm when the predecessor was compacted away
	hash     uint64
}

type commitInfo struct{ term, inTerm uint64 }

const unknownTerm = ^uint64(0)

func newChecker() checker {
	return checker{
		leaderOf:  map[uint64]uint64{},
		logAt:     map[pos]posInfo{},
		committed: map[uint64]commitInfo{},
		appliedAt: map[uint64]uint64{},
		digestAt:  map[uint64]uint64{},
	}
}

func (c *checker) failf(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%w: %s", ErrViolation, fmt.Sprintf(format, args...))
	}
}

// wire checks that a message a member sends is well-formed for the wire.
func (c *checker) wire(id uint64, m raft.Message) {
	switch {
	case m.From != id:
		c.failf("member %d sends %v with From=%d", id, m.Type, m.From)
	case m.To == raft.None || m.To == id:
		c.failf("member %d sends %v to %d", id, m.Type, m.To)
	}
	switch m.Type {
	case raft.MsgHup, raft.MsgBeat, raft.MsgUnreachable, raft.MsgSnapStatus, raft.MsgCheckQuorum:
		c.failf("member %d sends local message %v to %d", id, m.Type, m.To)
	}
}

// early checks a message from Ready.Messages, which may leave before the
// Ready is persisted: it must not acknowledge anything the Ready has yet to
// make durable (Raft §5.1 Figure 2 "persistent state ... updated on stable
// storage before responding to RPCs"; thesis §3.8).
func (c *checker) early(id uint64, m raft.Message, rd raft.Ready, old raft.HardState, lastPersisted uint64) {
	switch m.Type {
	case raft.MsgVoteResp:
		hs := rd.HardState
		if !m.Reject && !hs.IsEmpty() && hs.Vote == m.To && hs.Term == m.Term && (old.Vote != m.To || old.Term != m.Term) {
			c.failf("member %d grants its vote to %d in term %d before persisting it", id, m.To, m.Term)
		}
	case raft.MsgAppResp:
		if m.Reject {
			return
		}
		if m.Index > lastPersisted ||
			(len(rd.Entries) > 0 && m.Index >= rd.Entries[0].Index) ||
			(!rd.Snapshot.IsEmpty() && m.Index >= rd.Snapshot.Meta.Index) {
			c.failf("member %d acknowledges index %d to %d before persisting it", id, m.Index, m.To)
		}
	}
}

// leader checks Election Safety (§5.2) and Leader Completeness (§5.4.3)
// when member id reports that it leads in term. Its log (in st) must hold
// every entry committed in an earlier term.
func (c *checker) leader(id, term, lead uint64, st *raft.MemoryStorage) {
	if lead != id {
		c.failf("member %d is leader in term %d but names %d as leader", id, term, lead)
	}
	if prev, ok := c.leaderOf[term]; ok && prev != id {
		c.failf("§5.2 election safety: members %d and %d both lead term %d", prev, id, term)
		return
	}
	c.leaderOf[term] = id
	first, err := st.FirstIndex()
	if err != nil {
		c.failf("member %d: FirstIndex: %v", id, err)
		return
	}
	for i := first - 1; i <= c.maxCommitted; i++ {
		ci, ok := c.committed[i]
		if !ok || ci.inTerm >= term || i == 0 {
			continue
		}
		t, err := st.Term(i)
		if err != nil || t != ci.term {
			c.failf("§5.4.3 leader completeness: leader %d of term %d lacks entry %d/%d committed in term %d (has term %d, err %v)",
				id, term, i, ci.term, ci.inTerm, t, err)
			return
		}
	}
}

// appended records the entries member id just persisted (Log Matching, §5.3).
func (c *checker) appended(id uint64, st *raft.MemoryStorage, ents []raft.Entry) {
	prev := unknownTerm
	first := ents[0].Index
	if first == 1 {
		prev = 0
	} else if t, err := st.Term(first - 1); err == nil {
		prev = t
	} else if !errors.Is(err, raft.ErrCompacted) {
		c.failf("member %d appends at %d but has no entry %d: %v", id, first, first-1, err)
	}
	for i, e := range ents {
		if e.Index != first+uint64(i) {
			c.failf("member %d: Ready.Entries not contiguous at %d (index %d)", id, first+uint64(i), e.Index)
			return
		}
		if e.Term < prev && prev != unknownTerm {
			c.failf("member %d: log term goes down at %d (%d after %d)", id, e.Index, e.Term, prev)
		}
		p := pos{e.Index, e.Term}
		info := posInfo{prevTerm: prev, hash: entryHash(e)}
		if old, ok := c.logAt[p]; ok {
			if old.hash != info.hash {
				c.failf("§5.3 log matching: two different entries at index %d term %d (member %d)", e.Index, e.Term, id)
			}
			if old.prevTerm != info.prevTerm && old.prevTerm != unknownTerm && info.prevTerm != unknownTerm {
				c.failf("§5.3 log matching: entry %d/%d follows term %d on member %d but term %d elsewhere",
					e.Index, e.Term, info.prevTerm, id, old.prevTerm)
			}
			if old.prevTerm == unknownTerm {
				c.logAt[p] = info
			}
		} else {
			c.logAt[p] = info
		}
		prev = e.Term
	}
	if last, err := st.LastIndex(); err != nil || last != ents[len(ents)-1].Index {
		c.failf("member %d: after Append up to %d storage ends at %d (%v)", id, ents[len(ents)-1].Index, last, err)
	}
}

// hardState checks the transition old -> hs of member id's persisted state
// and records newly committed entries.
func (c *checker) hardState(id uint64, st *raft.MemoryStorage, old, hs raft.HardState) {
	switch {
	case hs.Term < old.Term:
		c.failf("member %d: term goes down from %d to %d", id, old.Term, hs.Term)
	case hs.Term == old.Term && old.Vote != raft.None && hs.Vote != old.Vote:
		c.failf("member %d: votes for %d and %d in term %d", id, old.Vote, hs.Vote, hs.Term)
	case hs.Commit < old.Commit:
		c.failf("member %d: commit index goes down from %d to %d", id, old.Commit, hs.Commit)
	}
	if last, err := st.LastIndex(); err == nil && hs.Commit > last {
		c.failf("member %d: commit index %d beyond its durable log (last %d)", id, hs.Commit, last)
	}
	for i := old.Commit + 1; i <= hs.Commit; i++ {
		t, err := st.Term(i)
		if err != nil {
			continue // compacted: covered by a snapshot, recorded there
		}
		c.commit(id, i, t, hs.Term)
	}
}

func (c *checker) commit(id, index, term, inTerm uint64) {
	ci, ok := c.committed[index]
	switch {
	case !ok:
		c.committed[index] = commitInfo{term: term, inTerm: inTerm}
		c.maxCommitted = max(c.maxCommitted, index)
	case ci.term != term:
		c.failf("committed entry %d changed: term %d, then term %d on member %d", index, ci.term, term, id)
	case inTerm < ci.inTerm:
		ci.inTerm = inTerm
		c.committed[index] = ci
	}
}

func (c *checker) snapshot(id uint64, s raft.Snapshot, term uint64) {
	c.commit(id, s.Meta.Index, s.Meta.Term, term)
}

// applied checks State Machine Safety (§5.4.3): no two members apply
// different entries at one index.
func (c *checker) applied(id uint64, e raft.Entry) {
	h := entryHash(e)
	if old, ok := c.appliedAt[e.Index]; ok && old != h {
		c.failf("§5.4.3 state machine safety: member %d applies a different entry at %d (term %d)", id, e.Index, e.Term)
	}
	c.appliedAt[e.Index] = h
	if ci, ok := c.committed[e.Index]; ok && ci.term != e.Term {
		c.failf("member %d applies %d/%d but %d/%d was committed", id, e.Index, e.Term, e.Index, ci.term)
	}
}

func (c *checker) state(id, index, digest uint64) {
	if old, ok := c.digestAt[index]; ok && old != digest {
		c.failf("§5.4.3 state machine safety: member %d's state at %d differs from another member's", id, index)
	}
	c.digestAt[index] = digest
}

// Committed returns the term of the entry known committed at index, if any.
func (nw *Network) Committed(index uint64) (term uint64, ok bool) {
	ci, ok := nw.check.committed[index]
	return ci.term, ok
}

// MaxCommitted returns the highest index any member has persisted as committed.
func (nw *Network) MaxCommitted() uint64 { return nw.check.maxCommitted }
