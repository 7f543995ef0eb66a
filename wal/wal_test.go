package wal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"cairn/raft"
)

func TestCreateOpenRoundTrip(t *testing.T) {
	dir := newDir(t)
	w := mustCreate(t, dir, &Options{SegmentSize: 4096})
	want := mkEnts(1, 50, 1, 100)
	hs := raft.HardState{Term: 1, Vote: 2, Commit: 10}
	var batches []uint64
	for i := 0; i < len(want); i += 10 {
		res, err := w.Save(hs, want[i:i+10])
		if err != nil {
			t.Fatalf("Save: %v", err)
		}
		batches = append(batches, res.Batch)
		hs.Commit += 10
	}
	if got, want := batches, []uint64{1, 2, 3, 4, 5}; !equalU64(got, want) {
		t.Fatalf("batch numbers %v, want %v", got, want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := listSegments(dir); len(segs) < 2 {
		t.Fatalf("want several segments with SegmentSize 4096, got %d", len(segs))
	}
	w2, err := Open(dir, SnapshotMarker{}, &Options{SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	md, gotHS, got, err := w2.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if md != (Metadata{MemberID: 0x1111, ClusterID: 0x2222}) {
		t.Errorf("metadata %+v", md)
	}
	if want := (raft.HardState{Term: 1, Vote: 2, Commit: 50}); gotHS != want {
		t.Errorf("hard state %+v, want %+v", gotHS, want)
	}
	if err := equalEnts(got, want); err != nil {
		t.Error(err)
	}
	// The batch numbers continue after a restart.
	res, err := w2.Save(raft.HardState{}, mkEnts(51, 1, 1, 10))
	if err != nil || res.Batch != 6 {
		t.Fatalf("Save after reopen: %+v, %v; want batch 6", res, err)
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCreateErrors(t *testing.T) {
	dir := newDir(t)
	w := mustCreate(t, dir, nil)
	w.Close()
	if _, err := Create(dir, Metadata{}, nil); !errors.Is(err, ErrExist) {
		t.Errorf("Create over a WAL: %v, want ErrExist", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none"), SnapshotMarker{}, nil); !errors.Is(err, ErrNotExist) {
		t.Errorf("Open of a missing WAL: %v, want ErrNotExist", err)
	}
	if _, err := Create(filepath.Join(t.TempDir(), "x"), Metadata{}, &Options{SegmentSize: -1}); !errors.Is(err, ErrOptions) {
		t.Errorf("Create with a negative segment size: %v, want ErrOptions", err)
	}
	// An existing empty directory is replaced.
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	checkOnCleanup(t, empty)
	w2, err := Create(empty, Metadata{}, nil)
	if err != nil {
		t.Fatalf("Create in an empty directory: %v", err)
	}
	w2.Close()
	if _, err := os.Stat(empty + tmpExt); !os.IsNotExist(err) {
		t.Errorf("temporary directory left behind: %v", err)
	}
}

func TestLocking(t *testing.T) {
	dir := newDir(t)
	w := mustCreate(t, dir, nil)
	if _, err := Open(dir, SnapshotMarker{}, nil); !errors.Is(err, ErrLocked) {
		t.Errorf("Open of a WAL in use: %v, want ErrLocked", err)
	}
	w.Close()
	w2, _, _ := reopen(t, dir, SnapshotMarker{}, nil)
	w2.Close()
}

func TestModes(t *testing.T) {
	dir := newDir(t)
	w := mustCreate(t, dir, nil)
	if _, _, _, err := w.ReadAll(); !errors.Is(err, ErrNotReady) {
		t.Errorf("ReadAll after Create: %v, want ErrNotReady", err)
	}
	w.Close()
	w, err := Open(dir, SnapshotMarker{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Save(raft.HardState{Term: 1}, nil); !errors.Is(err, ErrNotReady) {
		t.Errorf("Save before ReadAll: %v, want ErrNotReady", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.Save(raft.HardState{Term: 1}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Save after Close: %v, want ErrClosed", err)
	}
}

func TestSaveValidation(t *testing.T) {
	base := func(t *testing.T) *WAL {
		w := mustCreate(t, newDir(t), nil)
		if _, err := w.Save(raft.HardState{Term: 3, Vote: 1, Commit: 2}, mkEnts(1, 5, 2, 8)); err != nil {
			t.Fatal(err)
		}
		if err := w.SaveSnapshot(SnapshotMarker{Index: 2, Term: 2}); err != nil {
			t.Fatal(err)
		}
		return w
	}
	tests := []struct {
		name string
		hs   raft.HardState
		ents []raft.Entry
		snap *SnapshotMarker
	}{
		{name: "gap", ents: mkEnts(7, 1, 3, 1)},
		{name: "term below previous entry", ents: mkEnts(6, 1, 1, 1)},
		{name: "overwrite at snapshot", ents: mkEnts(2, 1, 3, 1)},
		{name: "not contiguous", ents: append(mkEnts(6, 1, 3, 1), mkEnts(8, 1, 3, 1)...)},
		{name: "decreasing term in batch", ents: append(mkEnts(6, 1, 3, 1), mkEnts(7, 1, 2, 1)...)},
		{name: "zero term", ents: mkEnts(6, 1, 0, 1)},
		{name: "unknown type", ents: []raft.Entry{{Index: 6, Term: 3, Type: 9}}},
		{name: "hard state term goes back", hs: raft.HardState{Term: 2, Commit: 2}},
		{name: "vote changes in term", hs: raft.HardState{Term: 3, Vote: 2, Commit: 2}},
		{name: "commit goes back", hs: raft.HardState{Term: 3, Vote: 1, Commit: 1}},
		{name: "snapshot goes back", snap: &SnapshotMarker{Index: 1, Term: 2}},
		{name: "zero snapshot", snap: &SnapshotMarker{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := base(t)
			var err error
			if tt.snap != nil {
				err = w.SaveSnapshot(*tt.snap)
			} else {
				_, err = w.Save(tt.hs, tt.ents)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			// The WAL stays usable and unchanged.
			if _, err := w.Save(raft.HardState{Term: 4, Commit: 3}, mkEnts(6, 1, 4, 8)); err != nil {
				t.Fatalf("Save after a rejected call: %v", err)
			}
		})
	}
}

func TestSaveNothing(t *testing.T) {
	w := mustCreate(t, newDir(t), nil)
	hs := raft.HardState{Term: 1, Commit: 0}
	res, err := w.Save(hs, nil)
	if err != nil || res.Batch != 1 || res.Bytes == 0 {
		t.Fatalf("first Save: %+v %v", res, err)
	}
	tests := []raft.HardState{{}, hs}
	for _, h := range tests {
		res, err := w.Save(h, nil)
		if err != nil || res.Batch != 1 || res.Bytes != 0 {
			t.Errorf("Save(%+v, nil) = %+v, %v; want batch 1 and nothing written", h, res, err)
		}
	}
}

// TestOverwrite checks Raft §5.3: a batch starting at or below the last
// index replaces the suffix, and replay returns what Raft last wrote.
func TestOverwrite(t *testing.T) {
	tests := []struct {
		name    string
		segSize int64
	}{{"one segment", 1 << 20}, {"segment per batch", 64}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDir(t)
			opts := &Options{SegmentSize: tt.segSize}
			w := mustCreate(t, dir, opts)
			var m model
			steps := []struct {
				hs   raft.HardState
				ents []raft.Entry
			}{
				{raft.HardState{Term: 1, Vote: 1}, mkEnts(1, 10, 1, 20)},
				{raft.HardState{Term: 2, Vote: 2, Commit: 3}, mkEnts(5, 3, 2, 30)},
				{raft.HardState{}, mkEnts(8, 4, 2, 30)},
				{raft.HardState{Term: 3, Commit: 4}, mkEnts(6, 1, 3, 5)},
				{raft.HardState{}, mkEnts(7, 2, 3, 5)},
			}
			for _, s := range steps {
				if _, err := w.Save(s.hs, s.ents); err != nil {
					t.Fatal(err)
				}
				m.save(s.hs, s.ents)
			}
			w.Close()
			_, hs, got := reopen(t, dir, SnapshotMarker{}, opts)
			if hs != m.hs {
				t.Errorf("hard state %+v, want %+v", hs, m.hs)
			}
			if err := equalEnts(got, m.ents); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSnapshotOpenAndRelease(t *testing.T) {
	dir := newDir(t)
	opts := &Options{SegmentSize: 512}
	w := mustCreate(t, dir, opts)
	var m model
	for i := uint64(1); i <= 40; i += 4 {
		hs := raft.HardState{Term: 1, Vote: 1, Commit: i}
		e := mkEnts(i, 4, 1, 40)
		if _, err := w.Save(hs, e); err != nil {
			t.Fatal(err)
		}
		m.save(hs, e)
	}
	snap := SnapshotMarker{Index: 30, Term: 1}
	if err := w.SaveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	m.snapshot(snap)
	before, _ := listSegments(dir)
	if err := w.ReleaseBefore(31); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReleaseBefore past the snapshot: %v, want ErrInvalid", err)
	}
	if err := w.ReleaseBefore(snap.Index); err != nil {
		t.Fatal(err)
	}
	after, _ := listSegments(dir)
	if len(after) >= len(before) || after[0].first > snap.Index {
		t.Fatalf("ReleaseBefore(%d): segments %v -> %v", snap.Index, before, after)
	}
	w.Close()
	w2, hs, got := reopen(t, dir, snap, opts)
	if err := equalEnts(got, m.after(snap.Index)); err != nil {
		t.Error(err)
	}
	if hs != m.hs {
		t.Errorf("hard state %+v, want %+v (the state record of each segment keeps it)", hs, m.hs)
	}
	w2.Close()
	tests := []struct {
		name string
		from SnapshotMarker
		want error
	}{
		{"released start", SnapshotMarker{}, ErrSnapshotNotFound},
		{"never saved", SnapshotMarker{Index: 33, Term: 1}, ErrSnapshotNotFound},
	}
	for _, tt := range tests {
		w, err := Open(dir, tt.from, opts)
		if err == nil {
			_, _, _, err = w.ReadAll()
			w.Close()
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestSnapshotReplacesLog checks a snapshot past the end of the log (a
// follower installing the leader's snapshot): the next entries follow it, and
// opening at an older marker reports ErrSnapshotStale.
func TestSnapshotReplacesLog(t *testing.T) {
	dir := newDir(t)
	w := mustCreate(t, dir, nil)
	if _, err := w.Save(raft.HardState{Term: 1}, mkEnts(1, 5, 1, 8)); err != nil {
		t.Fatal(err)
	}
	old := SnapshotMarker{Index: 3, Term: 1}
	if err := w.SaveSnapshot(old); err != nil {
		t.Fatal(err)
	}
	snap := SnapshotMarker{Index: 100, Term: 4}
	if err := w.SaveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Save(raft.HardState{Term: 4}, mkEnts(6, 1, 4, 8)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Save leaving a gap after the snapshot: %v, want ErrInvalid", err)
	}
	want := mkEnts(101, 3, 4, 8)
	if _, err := w.Save(raft.HardState{Term: 4, Commit: 100}, want); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w2, _, got := reopen(t, dir, snap, nil)
	w2.Close()
	if err := equalEnts(got, want); err != nil {
		t.Error(err)
	}
	w3, err := Open(dir, old, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w3.Close()
	if _, _, _, err := w3.ReadAll(); !errors.Is(err, ErrSnapshotStale) {
		t.Errorf("ReadAll at a replaced marker: %v, want ErrSnapshotStale", err)
	}
}

// TestFailStop injects an error into each kind of I/O call and checks that
// the WAL becomes unusable for good and never retries the sync.
func TestFailStop(t *testing.T) {
	eio := syscall.EIO
	tests := []struct {
		name string
		op   string
		n    int
	}{
		{"fdatasync in Save", "fdatasync", 2},
		{"write in Save", "writeAt", 2},
		{"fsync of old segment in cut", "fsync", 1},
		{"fsync of new segment in cut", "fsync", 2},
		{"fsync of directory in cut", "fsync", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDir(t)
			w := mustCreate(t, dir, &Options{SegmentSize: 128})
			// Install the faults after Create so that call counts start at
			// the first Save.
			ops := faultOps(tt.op, tt.n, eio)
			syncs := 0
			inner := ops.fdatasync
			ops.fdatasync = func(f *os.File) error { syncs++; return inner(f) }
			w.opts.ops = ops
			var err error
			for i := uint64(1); i <= 10 && err == nil; i++ {
				_, err = w.Save(raft.HardState{Term: 1, Commit: i - 1}, mkEnts(i, 1, 1, 100))
			}
			if !errors.Is(err, ErrFatal) || !errors.Is(err, eio) {
				t.Fatalf("got %v, want ErrFatal wrapping EIO", err)
			}
			syncsAtFailure := syncs
			for range 3 {
				if _, err2 := w.Save(raft.HardState{Term: 2}, nil); !errors.Is(err2, ErrFatal) {
					t.Errorf("Save after the failure: %v, want the fatal error", err2)
				}
				if err2 := w.SaveSnapshot(SnapshotMarker{Index: 1, Term: 1}); !errors.Is(err2, ErrFatal) {
					t.Errorf("SaveSnapshot after the failure: %v, want the fatal error", err2)
				}
				if err2 := w.ReleaseBefore(0); !errors.Is(err2, ErrFatal) {
					t.Errorf("ReleaseBefore after the failure: %v, want the fatal error", err2)
				}
			}
			if syncs != syncsAtFailure {
				t.Errorf("fdatasync called %d more times after the failure", syncs-syncsAtFailure)
			}
			w.Close()
			// Recovery: what was acknowledged is there, and a segment
			// left half-created by the failed cut is removed.
			_, _, got := reopen(t, dir, SnapshotMarker{}, nil)
			if len(got) == 0 {
				t.Errorf("no entries after recovery")
			}
			if tmps, _ := filepath.Glob(filepath.Join(dir, "*"+tmpExt)); len(tmps) > 0 {
				t.Errorf("temporary files left after recovery: %v", tmps)
			}
		})
	}
}

func TestSegmentNames(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
		seq  uint64
	}{
		{"0000000000000001-0000000000000001.wal", true, 1},
		{"00000000000000ff-0000000000001000.wal", true, 255},
		{"0000000000000001-0000000000000001.wal.tmp", false, 0},
		{"0000000000000001-0000000000000001.wal.broken", false, 0},
		{"000000000000000G-0000000000000001.wal", false, 0},
		{"1-1.wal", false, 0},
		{"00000000000000FF-0000000000001000.wal", false, 0},
	}
	for _, tt := range tests {
		s, ok := parseSegmentName(tt.name)
		if ok != tt.ok || s.seq != tt.seq {
			t.Errorf("parseSegmentName(%q) = %+v, %v; want seq %d, %v", tt.name, s, ok, tt.seq, tt.ok)
		}
	}
	if got := segmentName(1, 1); !strings.HasPrefix(got, "0000000000000001-0000000000000001") {
		t.Errorf("segmentName(1, 1) = %q", got)
	}
}

// TestPreallocateFallback: where fallocate is unsupported the segments are
// extended with ftruncate, and where it fails otherwise the error is fatal.
func TestPreallocateFallback(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantErr bool
	}{
		{"EOPNOTSUPP", syscall.EOPNOTSUPP, false},
		{"ENOSYS", syscall.ENOSYS, false},
		{"ENOSPC", syscall.ENOSPC, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDir(t)
			calls := 0
			opts := &Options{SegmentSize: 1024, ops: fileOps{fallocate: func(*os.File, int64) error { calls++; return tt.err }}}
			w, err := Create(dir, Metadata{}, opts)
			if tt.wantErr {
				if !errors.Is(err, ErrFatal) || !errors.Is(err, tt.err) {
					t.Fatalf("Create: %v, want ErrFatal wrapping %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.Save(raft.HardState{Term: 1}, mkEnts(1, 20, 1, 100)); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Save(raft.HardState{}, mkEnts(21, 1, 1, 100)); err != nil {
				t.Fatal(err)
			}
			segs, _ := listSegments(dir)
			fi, err := os.Stat(filepath.Join(dir, segs[len(segs)-1].name))
			if err != nil || fi.Size() != 1024 || calls < 2 {
				t.Fatalf("tail segment size %v (%v) after %d fallocate calls, want 1024 and >= 2 calls", fi.Size(), err, calls)
			}
		})
	}
}
