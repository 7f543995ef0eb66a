package wal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"cairn/raft"
)

// TestDirectIOSameBytes writes the same batches, snapshot markers and
// segment cuts through a WAL with DirectIO and one without, across a
// restart, and checks that both directories hold the same bytes and replay
// the same log. Sizes vary so that writes start and end at every kind of
// offset within an alignment block.
func TestDirectIOSameBytes(t *testing.T) {
	base := t.TempDir()
	run := func(name string, direct bool) (string, bool) {
		dir := filepath.Join(base, name)
		checkOnCleanup(t, dir)
		opts := &Options{SegmentSize: 16 << 10, DirectIO: direct}
		w := mustCreate(t, dir, opts)
		used := w.direct != nil
		last := uint64(0)
		save := func(w *WAL, i int) {
			n := 1 + i%5
			ents := mkEnts(last+1, n, 1, 1+(i*37)%700)
			if _, err := w.Save(raft.HardState{Term: 1, Vote: 1, Commit: last}, ents); err != nil {
				t.Fatal(err)
			}
			last += uint64(n)
			if i%7 == 3 { // a commit-only batch (not synced)
				if _, err := w.Save(raft.HardState{Term: 1, Vote: 1, Commit: last}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if i%50 == 49 {
				if err := w.SaveSnapshot(SnapshotMarker{Index: last - 2, Term: 1}); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := range 120 {
			save(w, i)
		}
		w.Close()
		w2, _, ents := reopen(t, dir, SnapshotMarker{}, opts)
		if len(ents) != int(last) {
			t.Fatalf("%s: replayed %d entries, want %d", name, len(ents), last)
		}
		for i := 120; i < 200; i++ {
			save(w2, i)
		}
		w2.Close()
		_, hs, ents := reopen(t, dir, SnapshotMarker{}, opts)
		if len(ents) != int(last) || hs.Commit == 0 {
			t.Fatalf("%s: replayed %d entries (hard state %+v), want %d", name, len(ents), hs, last)
		}
		return dir, used
	}
	bufDir, _ := run("buffered", false)
	dirDir, used := run("direct", true)
	if !used {
		t.Skipf("direct I/O unavailable in %s (file system without O_DIRECT or statx DIOALIGN); only the fallback was tested", base)
	}
	segs, err := listSegments(bufDir)
	if err != nil {
		t.Fatal(err)
	}
	dsegs, err := listSegments(dirDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != len(dsegs) || len(segs) < 3 {
		t.Fatalf("segments: %d buffered, %d direct; want the same, at least 3", len(segs), len(dsegs))
	}
	for i := range segs {
		a, err := os.ReadFile(filepath.Join(bufDir, segs[i].name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dirDir, dsegs[i].name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			n := 0
			for n < min(len(a), len(b)) && a[n] == b[n] {
				n++
			}
			t.Fatalf("segment %s differs at byte %d (sizes %d, %d)", segs[i].name, n, len(a), len(b))
		}
	}
}
