package server

import (
	"testing"

	"cairn/raft"
)

func ents(first, last, term uint64) []raft.Entry {
	var es []raft.Entry
	for i := first; i <= last; i++ {
		es = append(es, raft.Entry{Index: i, Term: term})
	}
	return es
}

// TestMergeReadies: merged entries are what a log holds after appending
// each Ready's in turn, the newest hard state wins, and raft's own slices
// are never written to.
func TestMergeReadies(t *testing.T) {
	first := ents(5, 7, 1)
	orig := append([]raft.Entry(nil), first...)
	rds := []raft.Ready{
		{HardState: raft.HardState{Term: 1, Commit: 4}, Entries: first[:2:3]},
		{},
		{HardState: raft.HardState{Term: 2, Commit: 5}, Entries: ents(6, 8, 2)}, // replaces 6
		{Entries: ents(9, 9, 2)},
	}
	hs, got := mergeReadies(rds)
	if hs != (raft.HardState{Term: 2, Commit: 5}) {
		t.Fatalf("hard state %+v", hs)
	}
	want := []raft.Entry{{Index: 5, Term: 1}, {Index: 6, Term: 2}, {Index: 7, Term: 2}, {Index: 8, Term: 2}, {Index: 9, Term: 2}}
	if len(got) != len(want) {
		t.Fatalf("entries %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Index != want[i].Index || got[i].Term != want[i].Term {
			t.Fatalf("entries %+v, want %+v", got, want)
		}
	}
	for i := range first {
		if first[i].Index != orig[i].Index || first[i].Term != orig[i].Term {
			t.Fatalf("raft's slice was written: %+v", first)
		}
	}
	if _, got := mergeReadies(rds[:1]); &got[0] != &first[0] {
		t.Fatal("a single Ready's entries were copied")
	}
	if _, got := mergeReadies([]raft.Ready{{Entries: ents(5, 7, 1)}, {Entries: ents(3, 4, 3)}}); len(got) != 2 || got[0].Index != 3 {
		t.Fatalf("a Ready below the others must replace them all: %+v", got)
	}
}
