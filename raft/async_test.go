package raft

import (
	"math/rand/v2"
	"testing"
)

// TestAsyncPersist checks the split Advance on a single-member leader: a
// Ready handed back with AdvanceHandled is not handed out again, its entries
// are neither the leader's own acknowledgement nor applied until Persisted,
// and later Readies may be taken meanwhile.
func TestAsyncPersist(t *testing.T) {
	st := NewMemoryStorage()
	rn, err := NewRawNode(&Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	if err := rn.Bootstrap([]uint64{1}); err != nil {
		t.Fatal(err)
	}
	var waiting []Ready
	persist := func() {
		for _, rd := range waiting {
			if err := st.Append(rd.Entries); err != nil {
				t.Fatal(err)
			}
			if !rd.HardState.IsEmpty() {
				st.SetHardState(rd.HardState)
			}
			rn.Persisted(rd)
		}
		waiting = nil
	}
	var applied []uint64
	take := func() {
		for rn.HasReady() {
			rd := rn.Ready()
			for _, e := range rd.CommittedEntries {
				if last, _ := st.LastIndex(); e.Index > last {
					t.Fatalf("entry %d handed out to apply, durable only up to %d", e.Index, last)
				}
				if e.Type == EntryConfChange {
					cc, _ := UnmarshalConfChange(e.Data)
					rn.ApplyConfChange(cc)
				}
				applied = append(applied, e.Index)
			}
			rn.AdvanceHandled(rd)
			waiting = append(waiting, rd)
		}
	}
	take()
	persist()
	take()
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	take()
	persist() // the self-vote counts only now
	take()
	persist()
	take()
	if rn.Status().RaftState != StateLeader {
		t.Fatalf("state %v, want leader", rn.Status().RaftState)
	}
	persist()
	take()
	commit := rn.Status().HardState.Commit

	if err := rn.Propose([]byte("a")); err != nil {
		t.Fatal(err)
	}
	take()
	if len(waiting) != 1 || len(waiting[0].Entries) != 1 {
		t.Fatalf("waiting %d Readies, want 1 with the proposal", len(waiting))
	}
	if err := rn.Propose([]byte("b")); err != nil {
		t.Fatal(err)
	}
	take()
	if len(waiting) != 2 || len(waiting[1].Entries) != 1 || waiting[1].Entries[0].Index != waiting[0].Entries[0].Index+1 {
		t.Fatalf("second Ready: %+v; want only the second proposal", waiting)
	}
	if c := rn.Status().HardState.Commit; c != commit {
		t.Fatalf("commit %d before anything was persisted, want %d", c, commit)
	}
	first := waiting[0].Entries[0].Index
	second := waiting[1]
	waiting = waiting[:1]
	persist() // only the first proposal is durable
	take()
	if c := rn.Status().HardState.Commit; c != first {
		t.Fatalf("commit %d after persisting %d", c, first)
	}
	if applied[len(applied)-1] != first {
		t.Fatalf("applied %v, want up to %d", applied, first)
	}
	waiting = append([]Ready{second}, waiting...)
	persist()
	take()
	if c := rn.Status().HardState.Commit; c != first+1 {
		t.Fatalf("commit %d after persisting %d", c, first+1)
	}
	if applied[len(applied)-1] != first+1 {
		t.Fatalf("applied %v, want up to %d", applied, first+1)
	}
}
