package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"cairn/raft"
)

// recycledLog is a WAL whose tail segment was written into a recycled file,
// with the tail's bytes before and after each of its last writes.
type recycledLog struct {
	dir    string
	opts   *Options
	marker SnapshotMarker // Open from here
	tail   string         // the tail segment's name
	tag    uint16
	// For write k of the recorded phase: the tail's bytes before and after
	// it, the state after it, and whether it was synced.
	pre, post [][]byte
	states    []prefixState // states[0]: before the first recorded write
	synced    []bool
}

// buildRecycled writes a log with snapshots and releases until a cut has
// written the tail into the spare, then records a few writes into it.
func buildRecycled(t *testing.T, direct bool) *recycledLog {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wal")
	opts := &Options{SegmentSize: 2048, DirectIO: direct, zeroMode: zeroOff}
	w, err := Create(dir, Metadata{MemberID: 3, ClusterID: 4}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var m model
	save := func(hs raft.HardState, ents []raft.Entry) {
		t.Helper()
		if _, err := w.Save(hs, ents); err != nil {
			t.Fatal(err)
		}
		m.save(hs, ents)
	}
	var marker SnapshotMarker
	spareSeen := false
	for i := 0; w.tag == 0 || w.off > 600; i++ {
		if i == 2000 {
			t.Fatalf("no recycled tail after %d batches (segments %v)", i, w.segs)
		}
		last := m.lastIndex()
		save(raft.HardState{Term: 1, Vote: 1, Commit: last}, mkEnts(last+1, 1+i%3, 1, 40+i%50))
		if i%4 == 3 {
			save(raft.HardState{Term: 1, Vote: 1, Commit: m.lastIndex()}, nil) // commit only: kept lazily
		}
		if len(w.segs) >= 3 {
			marker = SnapshotMarker{Index: m.lastIndex(), Term: 1}
			if err := w.SaveSnapshot(marker); err != nil {
				t.Fatal(err)
			}
			m.snapshot(marker)
			if err := w.ReleaseBefore(marker.Index); err != nil {
				t.Fatal(err)
			}
			if len(listSpares(dir)) > 0 {
				spareSeen = true
			}
		}
	}
	if !spareSeen {
		t.Fatal("ReleaseBefore never kept a spare")
	}
	b := &recycledLog{dir: dir, opts: opts, marker: marker, tail: w.segs[len(w.segs)-1].name, tag: w.tag}
	path := filepath.Join(dir, b.tail)
	read := func() []byte {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() < w.off+512 {
		t.Fatalf("recycled tail holds no old contents past the log: %v %v", fi, err)
	}
	state := func() prefixState { return prefixState{m.hs, slices.Clone(m.after(marker.Index))} }
	b.states = append(b.states, state())
	b.synced = append(b.synced, true)
	segs := len(w.segs)
	for k := 0; k < 6; k++ {
		before := read()
		last := m.lastIndex()
		switch k {
		case 2: // commit only, written with the next batch
			save(raft.HardState{Term: 1, Vote: 1, Commit: last}, nil)
		case 4: // a new term overwriting the last entry
			save(raft.HardState{Term: 2, Vote: 2, Commit: last - 1}, mkEnts(last, 2, 2, 70))
		default:
			save(raft.HardState{Term: m.hs.Term, Vote: m.hs.Vote, Commit: last}, mkEnts(last+1, 1+k, m.hs.Term, 30+20*k))
		}
		b.pre = append(b.pre, before)
		b.post = append(b.post, read())
		b.states = append(b.states, state())
		b.synced = append(b.synced, k != 2)
	}
	if len(w.segs) != segs || w.tag != b.tag {
		t.Fatal("the recorded writes cut the tail; make them smaller")
	}
	return b
}

// replayFrom replays dir from marker without changing it.
func replayFrom(dir string, marker SnapshotMarker) (outcomeKind, prefixState, error) {
	r, err := readDir(dir, marker, false)
	if err == nil {
		var ents []raft.Entry
		if ents, err = r.result(); err == nil {
			kind := clean
			if r.torn != nil {
				kind = torn
			}
			return kind, prefixState{r.hs, ents}, nil
		}
	}
	return corrupt, prefixState{}, err
}

func (b *recycledLog) stateIndex(st prefixState) int { return stateIndex(b.states, st) }

// reopenAndAppend runs the real recovery on dir, checks it gives want, and
// that the log then takes a batch and replays clean with it.
func (b *recycledLog) reopenAndAppend(t *testing.T, desc string, want prefixState) {
	t.Helper()
	w, err := Open(b.dir, b.marker, b.opts)
	if err != nil {
		t.Fatalf("%s: Open: %v", desc, err)
	}
	defer w.Close()
	_, hs, ents, err := w.ReadAll()
	if err != nil || hs != want.hs || equalEnts(ents, want.ents) != nil {
		t.Fatalf("%s: ReadAll: %v, or a state other than the read-only replay's", desc, err)
	}
	last := b.marker.Index + uint64(len(ents))
	next := mkEnts(last+1, 2, 7, 33)
	if _, err := w.Save(raft.HardState{Term: 7, Vote: 1, Commit: hs.Commit}, next); err != nil {
		t.Fatalf("%s: Save after recovery: %v", desc, err)
	}
	w.Close()
	kind, st, err := replayFrom(b.dir, b.marker)
	if kind != clean || err != nil || equalEnts(st.ents, append(slices.Clone(ents), next...)) != nil {
		t.Fatalf("%s: replay after recovery and a new batch: %v %v", desc, kind, err)
	}
}

// restore puts the tail back to data and removes any .broken copy.
func (b *recycledLog) restore(t *testing.T, data []byte) {
	t.Helper()
	os.Remove(filepath.Join(b.dir, b.tail+brokenExt))
	writeInPlace(t, filepath.Join(b.dir, b.tail), data)
}

// TestRecycleReusesSpare: a released segment becomes the spare, the next
// cut writes into that same file, and the log written there replays exactly
// (the old contents after it are ignored), before and after a reopen.
func TestRecycleReusesSpare(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			b := buildRecycled(t, direct)
			if b.tag != tagFor(mustParseName(t, b.tail).seq) {
				t.Fatalf("tail tag %#x, want %#x", b.tag, tagFor(mustParseName(t, b.tail).seq))
			}
			want := b.states[len(b.states)-1]
			kind, st, err := replayFrom(b.dir, b.marker)
			if kind != clean || err != nil || st.hs != want.hs || equalEnts(st.ents, want.ents) != nil {
				t.Fatalf("replay: %v %v", kind, err)
			}
			if err := Verify(b.dir); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			b.reopenAndAppend(t, "clean", want)
			if _, err := os.Stat(filepath.Join(b.dir, b.tail+brokenExt)); err == nil {
				t.Fatal("a clean recycled tail was repaired as torn")
			}
		})
	}
}

func mustParseName(t *testing.T, name string) segmentFile {
	t.Helper()
	s, ok := parseSegmentName(name)
	if !ok {
		t.Fatalf("bad segment name %q", name)
	}
	return s
}

// TestRecycledTornWrites tears each recorded write into the recycled tail
// at every byte: the first x bytes of the new contents landed, the file's
// earlier bytes (the old segment's frames) remain after them. Recovery must
// give a state that was written, no older than the last synced one before
// the torn write, and never report corruption.
func TestRecycledTornWrites(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			b := buildRecycled(t, direct)
			n := 0
			for k := range b.pre {
				pre, post := b.pre[k], b.post[k]
				lo := 0
				for lo < len(pre) && pre[lo] == post[lo] {
					lo++
				}
				hi := len(post)
				for hi > lo && hi <= len(pre) && pre[hi-1] == post[hi-1] {
					hi--
				}
				minOK := k // the state before write k
				for minOK > 0 && !b.synced[minOK] {
					minOK--
				}
				for x := lo; x <= hi; x++ {
					data := slices.Clone(pre)
					copy(data, post[:x])
					b.restore(t, data)
					desc := fmt.Sprintf("write %d torn after %d of bytes [%d,%d)", k, x-lo, lo, hi)
					kind, st, err := replayFrom(b.dir, b.marker)
					if kind == corrupt {
						t.Fatalf("%s: %v", desc, err)
					}
					got := b.stateIndex(st)
					if got < minOK || got > k+1 {
						t.Fatalf("%s: %v state %d, want one of %d..%d", desc, kind, got, minOK, k+1)
					}
					if n%13 == 0 || x == lo || x == hi {
						b.reopenAndAppend(t, desc, st)
					}
					n++
				}
				b.restore(t, b.post[len(b.post)-1])
			}
		})
	}
}

// TestRecycledDamage flips bits and zeroes 64-byte chunks of the recycled
// tail. Damage to a record that an intact record of the segment follows
// is corruption; damage to the last record is a torn tail without it;
// damage to the end marker or to the old contents after it leaves the
// whole log.
func TestRecycledDamage(t *testing.T) {
	b := buildRecycled(t, false)
	clean := b.post[len(b.post)-1]
	full := len(b.states) - 1
	// The tail's records: parse from the start.
	var starts []int
	off := 0
	for {
		f, err := parseFrame(clean[off:])
		if err != nil || f.tag != b.tag {
			break
		}
		starts = append(starts, off)
		off += f.size
	}
	end := off
	if binary.LittleEndian.Uint64(clean[end:]) != 0 {
		t.Fatalf("no end marker at %d", end)
	}
	lastStart := starts[len(starts)-1]
	check := func(desc string, lo, hi int, kind outcomeKind, st prefixState, err error) {
		t.Helper()
		lastDamaged := -1
		for i, start := range starts {
			if start < hi {
				lastDamaged = i
			}
		}
		switch {
		case lo >= end:
			if kind == corrupt || b.stateIndex(st) != full {
				t.Fatalf("%s (after the log): %v state %d %v, want the whole log", desc, kind, b.stateIndex(st), err)
			}
		case lo >= lastStart:
			if kind != torn || b.stateIndex(st) != full-1 {
				t.Fatalf("%s (in the last record): %v state %d %v, want torn without the last write", desc, kind, b.stateIndex(st), err)
			}
		case lastDamaged == len(starts)-1:
			// Damage that reaches the last record with no intact record
			// after it: a torn tail (package caveat), or corruption.
			if kind != corrupt && b.stateIndex(st) < 0 {
				t.Fatalf("%s (up to the last record): %v gave a state never written", desc, kind)
			}
		default:
			if kind != corrupt || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s (before the last record): %v %v, want ErrCorrupt", desc, kind, err)
			}
		}
	}
	limit := min(len(clean), end+1024)
	for bit := 0; bit < limit*8; bit += 3 {
		pos := bit / 8
		data := slices.Clone(clean)
		data[pos] ^= 1 << (bit % 8)
		b.restore(t, data)
		kind, st, err := replayFrom(b.dir, b.marker)
		check(fmt.Sprintf("flip bit %d", bit), pos, pos+1, kind, st, err)
		if bit%97 == 0 && kind != corrupt {
			b.reopenAndAppend(t, fmt.Sprintf("flip bit %d", bit), st)
		}
	}
	for lo := 0; lo < limit; lo += 64 {
		hi := min(lo+64, limit)
		data := slices.Clone(clean)
		if bytes.Equal(data[lo:hi], make([]byte, hi-lo)) {
			continue
		}
		clear(data[lo:hi])
		b.restore(t, data)
		kind, st, err := replayFrom(b.dir, b.marker)
		// Zeroes that start inside the last record and reach the end
		// marker cut the log there: a torn tail or a clean end.
		if lo >= lastStart && lo < end {
			if kind == corrupt || b.stateIndex(st) != full-1 {
				t.Fatalf("zero [%d,%d): %v state %d %v, want the log without its last write", lo, hi, kind, b.stateIndex(st), err)
			}
			continue
		}
		check(fmt.Sprintf("zero [%d,%d)", lo, hi), lo, hi, kind, st, err)
	}
	b.restore(t, clean)
}

// TestRecycleSkipsSameTag: a spare whose frames carry the tag the new
// segment would get is not reused (the new segment starts in fresh space),
// and a spare that is not a regular file is left alone.
func TestRecycleSkipsSameTag(t *testing.T) {
	dir := newDir(t)
	w := mustCreate(t, dir, &Options{SegmentSize: 512, zeroMode: zeroOff})
	spare := filepath.Join(dir, spareName(1))
	old, _ := appendFrame(nil, typeSegment, tagFor(2), 0, segmentRecord{2, 1, 0}.append(nil))
	old = append(old, bytes.Repeat([]byte{0xa5}, 2048)...)
	if err := os.WriteFile(spare, old, 0o600); err != nil {
		t.Fatal(err)
	}
	var ents []raft.Entry
	for i := uint64(1); len(w.segs) < 2; i++ {
		ents = append(ents, mkEnts(i, 1, 1, 100)...)
		if _, err := w.Save(raft.HardState{Term: 1, Commit: i - 1}, ents[len(ents)-1:]); err != nil {
			t.Fatal(err)
		}
		if i > 100 {
			t.Fatal("no cut")
		}
	}
	if w.tag != 0 {
		t.Fatalf("segment 2 written into a spare with its own tag (tag %#x)", w.tag)
	}
	if _, err := os.Stat(spare); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unusable spare not removed: %v", err)
	}
	w.Close()
	if _, _, got := reopen(t, dir, SnapshotMarker{}, nil); equalEnts(got, ents) != nil {
		t.Fatal(equalEnts(got, ents))
	}
}

// TestSparePool: a release of many segments keeps the newest maxSpareCount of
// them as spares and removes the rest, and the next maxSpareCount cuts write
// into them (then fresh files again), with a log that replays.
func TestSparePool(t *testing.T) {
	dir := newDir(t)
	opts := &Options{SegmentSize: 512, zeroMode: zeroOff}
	w := mustCreate(t, dir, opts)
	var m model
	last := uint64(0)
	saveUntil := func(segs int) {
		t.Helper()
		for i := 0; len(w.segs) < segs; i++ {
			if i > 1000 {
				t.Fatal("no cut")
			}
			ents := mkEnts(last+1, 1, 1, 150)
			if _, err := w.Save(raft.HardState{Term: 1, Commit: last}, ents); err != nil {
				t.Fatal(err)
			}
			m.save(raft.HardState{Term: 1, Commit: last}, ents)
			last++
		}
	}
	maxSpares := maxSpareCount // 512-byte segments: the count is the limit
	saveUntil(maxSpares + 4)
	released := w.segs[:len(w.segs)-1]
	marker := SnapshotMarker{Index: last, Term: 1}
	if err := w.SaveSnapshot(marker); err != nil {
		t.Fatal(err)
	}
	m.snapshot(marker)
	if err := w.ReleaseBefore(marker.Index); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range released[len(released)-maxSpares:] {
		want = append(want, spareName(s.seq))
	}
	if got := listSpares(dir); !slices.Equal(got, want) {
		t.Fatalf("spares %v, want %v", got, want)
	}
	if segs, _ := listSegments(dir); len(segs) != 1 {
		t.Fatalf("segments after the release: %v", segs)
	}
	for k := 0; k < maxSpares+1; k++ {
		saveUntil(len(w.segs) + 1)
		tail := w.segs[len(w.segs)-1]
		if recycled := w.tag != 0; recycled != (k < maxSpares) {
			t.Fatalf("cut %d (segment %d): tag %#x", k, tail.seq, w.tag)
		}
		if k < maxSpares && w.tag != tagFor(tail.seq) {
			t.Fatalf("segment %d tag %#x, want %#x", tail.seq, w.tag, tagFor(tail.seq))
		}
	}
	if n := len(listSpares(dir)); n != 0 {
		t.Fatalf("%d spares left after %d cuts", n, maxSpares+1)
	}
	w.Close()
	_, hs, ents := reopen(t, dir, marker, opts)
	if hs != m.hs || equalEnts(ents, m.after(marker.Index)) != nil {
		t.Fatalf("replay: %v", equalEnts(ents, m.after(marker.Index)))
	}
	if err := Verify(dir); err != nil {
		t.Fatal(err)
	}
}

// TestSpareBudget: spares stay within spareBudget bytes by their actual
// sizes, but one is kept whatever its size.
func TestSpareBudget(t *testing.T) {
	dir := newDir(t)
	w := mustCreate(t, dir, &Options{SegmentSize: 512, zeroMode: zeroOff})
	big := int64(spareBudget/3 + 1)
	// sparse files: their sizes count, not their blocks
	mkFile := func(name string, size int64) {
		t.Helper()
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
	}
	var released []segmentFile
	for seq := uint64(1); seq <= 3; seq++ {
		s := segmentFile{seq: seq, first: seq, name: fmt.Sprintf("released-%d", seq)}
		mkFile(s.name, big)
		released = append(released, s)
	}
	if got := w.spareFrom(released); got != 1 {
		t.Fatalf("spareFrom with three segments of %d bytes = %d, want 1 (two kept)", big, got)
	}
	// With a spare of its budget already there, one more is never kept...
	mkFile(spareName(9), spareBudget)
	if got := w.spareFrom(released); got != 3 {
		t.Fatalf("spareFrom with a full budget = %d, want 3 (none kept)", got)
	}
	// ...but the first spare may be as large as it is.
	os.Remove(filepath.Join(dir, spareName(9)))
	huge := segmentFile{seq: 5, first: 5, name: "huge"}
	mkFile(huge.name, 4*spareBudget)
	if got := w.spareFrom([]segmentFile{huge}); got != 0 {
		t.Fatalf("spareFrom with one large segment = %d, want 0 (kept)", got)
	}
}

// TestRecycledSeedDecodes: the fuzz corpus's recycled segment replays as
// the one batch written into it, cleanly, whatever older frames follow.
func TestRecycledSeedDecodes(t *testing.T) {
	seeds := fuzzSeeds(t)
	seed := seeds[len(seeds)-1]
	r, ents, err := decodeSegmentBytes(seed)
	if err != nil || r.torn != nil || r.tailTag != tagFor(1) {
		t.Fatalf("replay: %v, torn %v, tag %#x", err, r.torn, r.tailTag)
	}
	if equalEnts(ents, mkEnts(1, 1, 3, 7)) != nil || r.hs.Term != 3 {
		t.Fatalf("replay gave %+v and %d entries", r.hs, len(ents))
	}
	if int(r.tailOff)+endMarkerSize >= len(seed) {
		t.Fatalf("no old frames after the log (%d of %d bytes)", r.tailOff, len(seed))
	}
}
