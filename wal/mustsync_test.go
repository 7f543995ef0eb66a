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

// TestCommitOnlyBatchWrittenLater: a commit-only batch costs no system call
// of its own; it is written with the next batch, or by Close. (The zeros
// zeroAhead writes are not counted.)
func TestCommitOnlyBatchWrittenLater(t *testing.T) {
	dir := newDir(t)
	writes := 0
	opts := &Options{ops: fileOps{writeAt: func(f *os.File, b []byte, off int64) (int, error) {
		if !allZero(b) {
			writes++
		}
		return f.WriteAt(b, off)
	}}}
	w := mustCreate(t, dir, opts)
	save := func(hs raft.HardState, ents []raft.Entry, wantWrites int) {
		t.Helper()
		before := writes
		if _, err := w.Save(hs, ents); err != nil {
			t.Fatal(err)
		}
		if got := writes - before; got != wantWrites {
			t.Fatalf("Save(commit %d, %d entries): %d writes, want %d", hs.Commit, len(ents), got, wantWrites)
		}
	}
	save(raft.HardState{Term: 1, Vote: 1, Commit: 0}, mkEnts(1, 3, 1, 16), 1)
	save(raft.HardState{Term: 1, Vote: 1, Commit: 2}, nil, 0)
	save(raft.HardState{Term: 1, Vote: 1, Commit: 3}, nil, 0)
	save(raft.HardState{Term: 1, Vote: 1, Commit: 3}, mkEnts(4, 1, 1, 16), 1)
	save(raft.HardState{Term: 1, Vote: 1, Commit: 4}, nil, 0)
	before := writes
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if writes != before+1 {
		t.Fatalf("Close wrote %d times, want 1", writes-before)
	}
	_, hs, ents := reopen(t, dir, SnapshotMarker{}, nil)
	if hs.Commit != 4 || len(ents) != 4 {
		t.Fatalf("replay: %+v, %d entries; want commit 4, 4 entries", hs, len(ents))
	}
}
