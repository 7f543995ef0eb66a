package wal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cairn/raft"
)

// The crash matrix (spec §4.7 C): damage a small, real, multi-segment log in
// every way a crash or a bad disk can, and check that recovery ends in either
// a prefix of what was written (a torn tail, repaired) or ErrCorrupt, and
// never in data that was not written.

type prefixState struct {
	hs   raft.HardState
	ents []raft.Entry
}

// span is one record on disk.
type span struct {
	file       string
	start, end int
}

type builtLog struct {
	dir    string
	opts   *Options
	files  map[string][]byte // clean contents
	names  []string          // segment names, in order
	states []prefixState     // states[k]: the log after the first k writes
	ends   []span            // ends[k-1]: the record of write k
	spans  []span            // every record, in log order
}

// buildLog writes a small log with cuts, overwrites, hard states and a
// snapshot marker, and records the expected state after every write.
func buildLog(t *testing.T) *builtLog {
	t.Helper()
	return buildLogScaled(t, 1)
}

// buildLogScaled is buildLog with entry data and segment size scaled by k.
func buildLogScaled(t *testing.T, k int) *builtLog {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wal")
	opts := &Options{SegmentSize: 320 + 80*int64(k-1)}
	w, err := Create(dir, Metadata{MemberID: 7, ClusterID: 9}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b := &builtLog{dir: dir, opts: opts, states: []prefixState{{}}}
	var m model
	record := func() {
		last := w.segs[len(w.segs)-1]
		b.ends = append(b.ends, span{file: last.name, end: int(w.off)})
		b.states = append(b.states, prefixState{hs: m.hs, ents: slices.Clone(m.ents)})
	}
	writes := []struct {
		hs   raft.HardState
		ents []raft.Entry
		snap *SnapshotMarker
	}{
		{hs: raft.HardState{Term: 1, Vote: 1}, ents: mkEnts(1, 2, 1, 24*k)},
		{hs: raft.HardState{Term: 1, Vote: 1, Commit: 2}, ents: mkEnts(3, 1, 1, 40*k)},
		{ents: mkEnts(4, 3, 1, 16*k)},
		{hs: raft.HardState{Term: 2, Vote: 2, Commit: 3}, ents: mkEnts(5, 2, 2, 30*k)},
		{snap: &SnapshotMarker{Index: 3, Term: 1}},
		{hs: raft.HardState{Term: 2, Vote: 2, Commit: 5}},
		{ents: mkEnts(7, 2, 2, 50*k)},
		{hs: raft.HardState{Term: 3, Vote: 3, Commit: 6}, ents: mkEnts(8, 1, 3, 20*k)},
		{ents: mkEnts(9, 2, 3, 33*k)},
	}
	for _, op := range writes {
		if op.snap != nil {
			if err := w.SaveSnapshot(*op.snap); err != nil {
				t.Fatal(err)
			}
			m.snapshot(*op.snap)
		} else {
			if _, err := w.Save(op.hs, op.ents); err != nil {
				t.Fatal(err)
			}
			m.save(op.hs, op.ents)
		}
		record()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := listSegments(dir)
	if err != nil || len(segs) < 3 {
		t.Fatalf("want at least 3 segments, got %d (%v)", len(segs), err)
	}
	b.files = map[string][]byte{}
	for _, s := range segs {
		data, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			t.Fatal(err)
		}
		b.files[s.name] = data
		b.names = append(b.names, s.name)
		for off := 0; off < len(data); {
			f, err := parseFrame(data[off:])
			if err != nil {
				break
			}
			b.spans = append(b.spans, span{s.name, off, off + f.size})
			off += f.size
		}
	}
	for i := range b.ends {
		for _, sp := range b.spans {
			if sp.file == b.ends[i].file && sp.end == b.ends[i].end {
				b.ends[i].start = sp.start
			}
		}
	}
	return b
}

func (b *builtLog) lastName() string { return b.names[len(b.names)-1] }

// restore rewrites the clean files that changed and removes anything else.
// It writes in place rather than with O_TRUNC: ext4 flushes a file replaced
// by truncation on close (auto_da_alloc), which would make the matrix slow.
func (b *builtLog) restore(t *testing.T) {
	t.Helper()
	des, _ := os.ReadDir(b.dir)
	for _, de := range des {
		if _, ok := b.files[de.Name()]; !ok {
			os.Remove(filepath.Join(b.dir, de.Name()))
		}
	}
	for name, data := range b.files {
		path := filepath.Join(b.dir, name)
		if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
			continue
		}
		writeInPlace(t, path, data)
	}
}

// writeInPlace makes the file at path hold data, without truncating it
// first when it is at least as long.
func writeInPlace(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(len(data)) {
		if err := f.Truncate(int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
}

type outcomeKind int

const (
	clean outcomeKind = iota
	torn
	corrupt
)

func (k outcomeKind) String() string { return [...]string{"clean", "torn", "corrupt"}[k] }

// outcome replays dir without modifying it.
func outcome(dir string) (outcomeKind, prefixState, error) {
	r, err := readDir(dir, SnapshotMarker{}, false)
	if err == nil {
		var ents []raft.Entry
		ents, err = r.result()
		if err == nil {
			kind := clean
			if r.torn != nil {
				kind = torn
			}
			return kind, prefixState{r.hs, ents}, nil
		}
	}
	if errors.Is(err, ErrCorrupt) {
		return corrupt, prefixState{}, err
	}
	return corrupt, prefixState{}, fmt.Errorf("not ErrCorrupt: %w", err)
}

// prefixOf returns k such that st is states[k], or -1.
func (b *builtLog) prefixOf(st prefixState) int { return stateIndex(b.states, st) }

// stateIndex returns the last k such that st is states[k], or -1.
func stateIndex(states []prefixState, st prefixState) int {
	for k := len(states) - 1; k >= 0; k-- {
		if states[k].hs == st.hs && equalEnts(st.ents, states[k].ents) == nil {
			return k
		}
	}
	return -1
}

// checkRepair runs the real Open+ReadAll on the damaged dir, which must give
// want, leave a clean log that accepts a new batch and replays it, and keep a
// .broken copy when the tail was torn.
func (b *builtLog) checkRepair(t *testing.T, kind outcomeKind, want prefixState) {
	t.Helper()
	var logs bytes.Buffer
	opts := *b.opts
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	w, err := Open(b.dir, SnapshotMarker{}, &opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	before := snapshotDir(t, b.dir)
	_, hs, ents, err := w.ReadAll()
	if kind == corrupt && !maps.EqualFunc(before, snapshotDir(t, b.dir), bytes.Equal) {
		t.Errorf("ReadAll of a corrupt log changed the directory")
	}
	if reported := strings.Contains(logs.String(), "torn tail"); reported != (kind == torn) {
		t.Errorf("kind %v, but torn tail logged = %v: %q", kind, reported, logs.String())
	}
	if kind == corrupt {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ReadAll: %v, want ErrCorrupt", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if hs != want.hs || equalEnts(ents, want.ents) != nil {
		t.Fatalf("ReadAll differs from the read-only replay")
	}
	_, statErr := os.Stat(filepath.Join(b.dir, b.lastName()+brokenExt))
	if (kind == torn) != (statErr == nil) {
		t.Errorf("kind %v but .broken present = %v", kind, statErr == nil)
	}
	next := mkEnts(uint64(len(ents))+1, 1, 9, 12)
	if _, err := w.Save(raft.HardState{Term: 9, Commit: hs.Commit}, next); err != nil {
		t.Fatalf("Save after repair: %v", err)
	}
	w.Close()
	if err := Verify(b.dir); err != nil {
		t.Fatalf("Verify after repair and append: %v", err)
	}
	k, st, err := outcome(b.dir)
	if k != clean || err != nil || equalEnts(st.ents, append(slices.Clone(want.ents), next...)) != nil {
		t.Fatalf("replay after repair and append: %v %v", k, err)
	}
}

func TestCrashTruncate(t *testing.T) {
	b := buildLog(t)
	last := b.lastName()
	data := b.files[last]
	// From the start of the last segment's first batch (its header records
	// are never torn: segments are created complete) to its end.
	first := len(data)
	for _, e := range b.ends {
		if e.file == last && e.start < first {
			first = e.start
		}
	}
	end := b.ends[len(b.ends)-1].end
	step := 1
	if testing.Short() {
		step = 5
	}
	for x := first; x <= end; x += step {
		b.restore(t)
		if err := os.Truncate(filepath.Join(b.dir, last), int64(x)); err != nil {
			t.Fatal(err)
		}
		kind, st, err := outcome(b.dir)
		if err != nil {
			t.Fatalf("truncate at %d: %v", x, err)
		}
		want := 0
		for k, e := range b.ends {
			if e.file != last || e.end <= x {
				want = k + 1
			}
		}
		wantKind := torn
		if x == first || want > 0 && b.ends[want-1].end == x {
			wantKind = clean
		}
		if got := b.prefixOf(st); got != want || kind != wantKind {
			t.Fatalf("truncate at %d: got %v prefix %d, want %v prefix %d", x, kind, got, wantKind, want)
		}
		b.checkRepair(t, kind, st)
	}
}

// damageCase applies damage to a clean copy and checks the outcome.
func (b *builtLog) damageCase(t *testing.T, desc string, file string, lo, hi int, mutate func([]byte), repair bool) {
	t.Helper()
	b.restore(t)
	data := slices.Clone(b.files[file])
	mutate(data)
	writeInPlace(t, filepath.Join(b.dir, file), data)
	kind, st, err := outcome(b.dir)
	if kind == corrupt {
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v", desc, err)
		}
	} else if b.prefixOf(st) < 0 {
		t.Fatalf("%s: %v replay returned a state that was never written", desc, kind)
	}
	// Damage to bytes [lo, hi) of file followed in the log by an intact
	// record means the damaged bytes had been durable: it must be corruption.
	lastDamaged := -1
	for i, sp := range b.spans {
		if sp.file == file && sp.start < hi && sp.end > lo {
			lastDamaged = i
		}
	}
	if lastDamaged >= 0 && lastDamaged < len(b.spans)-1 && kind != corrupt {
		t.Fatalf("%s: damage before intact records gave %v prefix %d, want ErrCorrupt", desc, kind, b.prefixOf(st))
	}
	if repair {
		b.checkRepair(t, kind, st)
	}
}

func TestCrashBitFlips(t *testing.T) {
	b := buildLog(t)
	b.restore(t)
	stride := 1
	if testing.Short() {
		stride = 7
	}
	n := 0
	lastSpan := b.spans[len(b.spans)-1]
	for _, name := range b.names {
		size := len(b.files[name])
		for bit := 0; bit < size*8; bit += stride {
			pos := bit / 8
			desc := fmt.Sprintf("flip bit %d of %s", bit, name)
			mask := byte(1) << (bit % 8)
			path := filepath.Join(b.dir, name)
			clean := b.files[name][pos]
			writeByte(t, path, pos, clean^mask)
			kind, st, err := outcome(b.dir)
			inLast := name == lastSpan.file && pos >= lastSpan.start && pos < lastSpan.end
			inTail := name == lastSpan.file && pos >= lastSpan.end
			switch {
			case inTail:
				if kind != torn || b.prefixOf(st) != len(b.states)-1 {
					t.Fatalf("%s (after the last record): %v prefix %d %v, want torn full log", desc, kind, b.prefixOf(st), err)
				}
			case inLast:
				if kind != torn || b.prefixOf(st) != len(b.states)-2 {
					t.Fatalf("%s (in the last record): %v prefix %d %v, want torn without the last write", desc, kind, b.prefixOf(st), err)
				}
			default:
				if kind != corrupt || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s (before the last record): %v %v, want ErrCorrupt", desc, kind, err)
				}
			}
			if n%17 == 0 {
				b.checkRepair(t, kind, st)
				b.restore(t)
			} else {
				writeByte(t, path, pos, clean)
			}
			n++
		}
	}
}

func TestCrashZeroSectors(t *testing.T) {
	// A log scaled up so that segments span several 512-byte sectors; also
	// 64-byte chunks, for damage smaller than a record.
	b := buildLogScaled(t, 8)
	for _, sector := range []int{512, 64} {
		for _, name := range b.names {
			size := len(b.files[name])
			for lo := 0; lo < size; lo += sector {
				hi := min(lo+sector, size)
				desc := fmt.Sprintf("zero [%d,%d) of %s", lo, hi, name)
				b.damageCase(t, desc, name, lo, hi, func(d []byte) { clear(d[lo:hi]) }, true)
			}
		}
	}
}

func TestCrashDuplicateTail(t *testing.T) {
	b := buildLog(t)
	last := b.lastName()
	end := b.ends[len(b.ends)-1].end
	for n := 8; n <= end; n += 8 {
		desc := fmt.Sprintf("duplicate last %d bytes", n)
		b.damageCase(t, desc, last, 0, 0, func(d []byte) {}, false)
		b.restore(t)
		data := slices.Clone(b.files[last])
		tail := slices.Clone(data[end-n : end])
		data = append(data[:end], tail...)
		writeInPlace(t, filepath.Join(b.dir, last), data)
		kind, st, err := outcome(b.dir)
		if kind != corrupt && b.prefixOf(st) < 0 {
			t.Fatalf("%s: %v gave a state never written", desc, kind)
		}
		if kind == corrupt && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v", desc, err)
		}
		if n%64 == 8 {
			b.checkRepair(t, kind, st)
		}
	}
}

// snapshotDir returns the contents of every file in dir.
func snapshotDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[de.Name()] = b
	}
	return m
}

func writeByte(t *testing.T, path string, pos int, c byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{c}, int64(pos)); err != nil {
		t.Fatal(err)
	}
}

// TestDamageTable names the classic cases and their required outcome.
func TestDamageTable(t *testing.T) {
	b := buildLog(t)
	last := b.lastName()
	lastRec := b.spans[len(b.spans)-1]
	prev := b.spans[len(b.spans)-2]
	tests := []struct {
		name   string
		file   string
		mutate func([]byte) []byte
		want   outcomeKind
		prefix int // for torn/clean
	}{
		{"clean", last, func(d []byte) []byte { return d }, clean, len(b.states) - 1},
		{"half of the last record", last, func(d []byte) []byte { return d[:lastRec.start+(lastRec.end-lastRec.start)/2] }, torn, len(b.states) - 2},
		{"last record zeroed after its header", last, func(d []byte) []byte { clear(d[lastRec.start+8 : lastRec.end]); return d }, torn, len(b.states) - 2},
		{"garbage after the last record", last, func(d []byte) []byte { return append(d[:lastRec.end], 1, 2, 3, 4, 5, 6, 7, 8, 9) }, torn, len(b.states) - 1},
		{"crc mismatch before an intact record", last, func(d []byte) []byte { d[prev.start+20] ^= 0xff; return d }, corrupt, 0},
		{"length flip before an intact record", last, func(d []byte) []byte { d[prev.start+2] ^= 0x40; return d }, corrupt, 0},
		{"bad record in an older segment", b.names[0], func(d []byte) []byte { d[len(d)-3] ^= 1; return d }, corrupt, 0},
		{"older segment truncated", b.names[1], func(d []byte) []byte { return d[:len(d)-8] }, corrupt, 0},
		{"header of last segment zeroed", last, func(d []byte) []byte { clear(d[:8]); return d }, corrupt, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.restore(t)
			data := tt.mutate(slices.Clone(b.files[tt.file]))
			writeInPlace(t, filepath.Join(b.dir, tt.file), data)
			kind, st, err := outcome(b.dir)
			if kind != tt.want {
				t.Fatalf("got %v (%v), want %v", kind, err, tt.want)
			}
			if kind == corrupt {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v does not wrap ErrCorrupt", err)
				}
				if vErr := Verify(b.dir); !errors.Is(vErr, ErrCorrupt) {
					t.Errorf("Verify: %v, want ErrCorrupt", vErr)
				}
			} else if got := b.prefixOf(st); got != tt.prefix {
				t.Fatalf("prefix %d, want %d", got, tt.prefix)
			}
			if kind == torn && !isTorn(Verify(b.dir)) {
				t.Errorf("Verify of a torn tail does not wrap io.ErrUnexpectedEOF")
			}
			b.checkRepair(t, kind, st)
		})
	}
	// Removing a middle segment breaks the sequence.
	b.restore(t)
	os.Remove(filepath.Join(b.dir, b.names[1]))
	if _, _, err := outcome(b.dir); !errors.Is(err, ErrCorrupt) {
		t.Errorf("missing middle segment: %v, want ErrCorrupt", err)
	}
}

// TestTornRecordHoldingFrames: a torn last batch whose entry data is itself
// a copy of WAL frames is still a torn tail (the frames inside the damaged
// record's claimed extent are not chained to it), not corruption.
func TestTornRecordHoldingFrames(t *testing.T) {
	b := buildLog(t)
	inner := b.files[b.names[0]]
	dir := newDir(t)
	w := mustCreate(t, dir, nil)
	if _, err := w.Save(raft.HardState{Term: 1}, mkEnts(1, 2, 1, 50)); err != nil {
		t.Fatal(err)
	}
	start := w.off
	if _, err := w.Save(raft.HardState{}, []raft.Entry{{Index: 3, Term: 1, Data: inner}}); err != nil {
		t.Fatal(err)
	}
	name := w.segs[0].name
	w.Close()
	// Cut the file inside the big record, after the embedded frames.
	if err := os.Truncate(filepath.Join(dir, name), start+int64(len(inner))); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dir); !isTorn(err) {
		t.Fatalf("Verify: %v, want a torn tail", err)
	}
	_, _, ents := reopen(t, dir, SnapshotMarker{}, nil)
	if err := equalEnts(ents, mkEnts(1, 2, 1, 50)); err != nil {
		t.Fatal(err)
	}
}

// TestCutCrashPoints recreates the states a power loss can leave around a
// segment cut (spec §4.7 D) and checks that every acknowledged batch
// survives: a half-built temporary segment (crash before the rename), a
// renamed segment that the directory fsync never made durable (it vanishes,
// and holds no acknowledged batch because Save returns only after that
// fsync), and an old segment whose truncation was lost is impossible (it is
// fsynced before the new segment exists), so the old tail keeps its zeros.
func TestCutCrashPoints(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string, segs []segmentFile)
	}{
		{"temporary segment left", func(t *testing.T, dir string, segs []segmentFile) {
			next := segmentName(segs[len(segs)-1].seq+1, 99)
			if err := os.WriteFile(filepath.Join(dir, next+tmpExt), []byte("half"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"rename not durable", func(t *testing.T, dir string, segs []segmentFile) {
			if err := os.Remove(filepath.Join(dir, segs[len(segs)-1].name)); err != nil {
				t.Fatal(err)
			}
		}},
		{"old tail preallocated", func(t *testing.T, dir string, segs []segmentFile) {
			if err := os.Remove(filepath.Join(dir, segs[len(segs)-1].name)); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(filepath.Join(dir, segs[len(segs)-2].name), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(4096); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDir(t)
			opts := &Options{SegmentSize: 256}
			w := mustCreate(t, dir, opts)
			want := mkEnts(1, 6, 1, 60)
			for i := range want {
				if _, err := w.Save(raft.HardState{Term: 1, Commit: uint64(i)}, want[i:i+1]); err != nil {
					t.Fatal(err)
				}
			}
			// The next Save cuts; stop right after the cut, as if the
			// machine died before the batch was written.
			if err := w.cut(); err != nil {
				t.Fatal(err)
			}
			segs := slices.Clone(w.segs)
			w.Close()
			tt.damage(t, dir, segs)
			w2, hs, got := reopen(t, dir, SnapshotMarker{}, opts)
			if err := equalEnts(got, want); err != nil {
				t.Fatal(err)
			}
			if hs.Commit != 5 {
				t.Errorf("hard state %+v, want commit 5", hs)
			}
			if _, err := w2.Save(raft.HardState{}, mkEnts(7, 1, 1, 60)); err != nil {
				t.Fatalf("Save after recovery: %v", err)
			}
		})
	}
}
