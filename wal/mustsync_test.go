package wal

import (
	"os"
	"testing"

	"cairn/raft"
)

// TestCommitOnlyBatchNotSynced: a batch that only moves the commit index is
// written without an fdatasync (etcd's MustSync rule); entries, a new term
// or a new vote are synced. Replay returns the commit either way.
func TestCommitOnlyBatchNotSynced(t *testing.T) {
	dir := newDir(t)
	syncs := 0
	opts := &Options{ops: fileOps{fdatasync: func(f *os.File) error {
		syncs++
		return fdatasync(f)
	}}}
	w := mustCreate(t, dir, opts)
	steps := []struct {
		name string
		hs   raft.HardState
		ents []raft.Entry
		sync bool
	}{
		{"entries", raft.HardState{Term: 1, Vote: 1, Commit: 0}, mkEnts(1, 3, 1, 16), true},
		{"commit only", raft.HardState{Term: 1, Vote: 1, Commit: 2}, nil, false},
		{"commit again", raft.HardState{Term: 1, Vote: 1, Commit: 3}, nil, false},
		{"new term", raft.HardState{Term: 2, Vote: 0, Commit: 3}, nil, true},
		{"new vote", raft.HardState{Term: 2, Vote: 2, Commit: 3}, nil, true},
		{"entries and commit", raft.HardState{Term: 2, Vote: 2, Commit: 4}, mkEnts(4, 1, 2, 16), true},
	}
	for _, s := range steps {
		before := syncs
		res, err := w.Save(s.hs, s.ents)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := syncs > before; got != s.sync || res.Synced != s.sync {
			t.Fatalf("%s: synced %v (Synced %v), want %v", s.name, got, res.Synced, s.sync)
		}
	}
	w.Close()
	_, hs, ents := reopen(t, dir, SnapshotMarker{}, nil)
	if want := (raft.HardState{Term: 2, Vote: 2, Commit: 4}); hs != want || len(ents) != 4 {
		t.Fatalf("replay: %+v, %d entries; want %+v, 4", hs, len(ents), want)
	}
}
