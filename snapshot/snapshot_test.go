package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/quick"
	"time"

	"github.com/klauspost/compress/zstd"

	"cairn/raft"
)

// snapCase is a random snapshot for property tests.
type snapCase struct {
	Meta    raft.SnapshotMeta
	Payload []byte
}

// Generate implements quick.Generator: valid metadata (unique non-zero
// members) and payloads of random size and compressibility, from empty to
// several zstd blocks.
func (snapCase) Generate(r *rand.Rand, size int) reflect.Value {
	var c snapCase
	c.Meta.Index = 1 + uint64(r.Int63())
	c.Meta.Term = 1 + uint64(r.Int63n(1<<40))
	if r.Intn(4) == 0 {
		c.Meta.Index = 1 + uint64(r.Intn(10))
		c.Meta.Term = ^uint64(0) - uint64(r.Intn(3))
	}
	n := r.Intn(13)
	nv := r.Intn(n + 1)
	seen := map[uint64]bool{}
	for i := 0; i < n; i++ {
		id := uint64(r.Int63n(1<<uint(1+r.Intn(62)))) + 1
		if seen[id] {
			continue
		}
		seen[id] = true
		if i < nv {
			c.Meta.ConfState.Voters = append(c.Meta.ConfState.Voters, id)
		} else {
			c.Meta.ConfState.Learners = append(c.Meta.ConfState.Learners, id)
		}
	}
	switch r.Intn(4) {
	case 0:
		n = r.Intn(16)
	case 1:
		n = r.Intn(4 << 10)
	case 2:
		n = r.Intn(300 << 10)
	case 3:
		n = r.Intn(3 << 20)
	}
	c.Payload = make([]byte, n)
	if r.Intn(2) == 0 {
		r.Read(c.Payload) // incompressible
	} else {
		for i := range c.Payload {
			c.Payload[i] = "abcd/registry/\x00\n"[r.Intn(16)]
		}
	}
	return reflect.ValueOf(c)
}

// GoString keeps quick's failure reports readable.
func (c snapCase) GoString() string {
	return fmt.Sprintf("snapCase{Meta: %+v, Payload: %d bytes}", c.Meta, len(c.Payload))
}

func quickConfig(t *testing.T, n, short int) *quick.Config {
	t.Helper()
	if testing.Short() {
		n = short
	}
	seed := time.Now().UnixNano()
	t.Logf("quick seed %d", seed)
	return &quick.Config{MaxCount: n, Rand: rand.New(rand.NewSource(seed))}
}

// TestRoundTripQuick: whatever is committed comes back byte for byte, with
// its metadata, through Open, Newest, List, and through OpenRaw+Receive into
// another directory.
func TestRoundTripQuick(t *testing.T) {
	src := newTestSnapshotter(t, "", &Options{Keep: 1000})
	dst := newTestSnapshotter(t, "", &Options{Keep: 1000})
	check := func(c snapCase) bool {
		writeSnap(t, src, c.Meta, c.Payload)
		r, err := src.Open(c.Meta)
		if err != nil {
			t.Errorf("Open: %v", err)
			return false
		}
		if got := r.Meta(); !reflect.DeepEqual(got, c.Meta) {
			t.Errorf("Meta() = %+v, want %+v", got, c.Meta)
		}
		if r.Size() != uint64(len(c.Payload)) {
			t.Errorf("Size() = %d, want %d", r.Size(), len(c.Payload))
		}
		if got := readPayload(t, r); !bytes.Equal(got, c.Payload) {
			t.Errorf("payload of %d bytes came back as %d different bytes", len(c.Payload), len(got))
			return false
		}

		raw, size, err := src.OpenRaw(c.Meta)
		if err != nil {
			t.Errorf("OpenRaw: %v", err)
			return false
		}
		defer raw.Close()
		st, err := os.Stat(filepath.Join(src.Dir(), fileName(c.Meta.Term, c.Meta.Index)))
		if err != nil || st.Size() != size {
			t.Errorf("OpenRaw size %d, file %v %v", size, st, err)
		}
		got, err := dst.Receive(raw)
		if err != nil {
			t.Errorf("Receive: %v", err)
			return false
		}
		if !reflect.DeepEqual(got, c.Meta) {
			t.Errorf("Receive meta %+v, want %+v", got, c.Meta)
		}
		r2, err := dst.Open(c.Meta)
		if err != nil {
			t.Errorf("Open received: %v", err)
			return false
		}
		return bytes.Equal(readPayload(t, r2), c.Payload)
	}
	if err := quick.Check(check, quickConfig(t, 60, 15)); err != nil {
		t.Fatal(err)
	}
	metas, err := src.List()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(metas, func(a, b raft.SnapshotMeta) int {
		if a.Term != b.Term {
			return cmpU64(b.Term, a.Term)
		}
		return cmpU64(b.Index, a.Index)
	}) {
		t.Errorf("List not newest first: %+v", metas)
	}
	r, err := src.Newest()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Meta().Term != metas[0].Term || r.Meta().Index != metas[0].Index {
		t.Errorf("Newest = %+v, List()[0] = %+v", r.Meta(), metas[0])
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestHeaderQuick: the header encoding round-trips every valid metadata.
func TestHeaderQuick(t *testing.T) {
	check := func(c snapCase) bool {
		hdr, err := appendHeader(nil, &c.Meta)
		if err != nil {
			t.Error(err)
			return false
		}
		if len(hdr)%8 != 0 {
			t.Errorf("header length %d not 8-byte aligned", len(hdr))
		}
		got, raw, err := readHeader(bytes.NewReader(hdr))
		if err != nil {
			t.Error(err)
			return false
		}
		return reflect.DeepEqual(got, c.Meta) && bytes.Equal(raw, hdr)
	}
	if err := quick.Check(check, quickConfig(t, 500, 100)); err != nil {
		t.Fatal(err)
	}
}

func TestCreateRejectsInvalidMeta(t *testing.T) {
	s := newTestSnapshotter(t, "", nil)
	tests := []struct {
		name string
		meta raft.SnapshotMeta
	}{
		{"zero index", raft.SnapshotMeta{Term: 1}},
		{"zero term", raft.SnapshotMeta{Index: 1}},
		{"zero member", raft.SnapshotMeta{Index: 1, Term: 1, ConfState: raft.ConfState{Voters: []uint64{1, 0}}}},
		{"duplicate voter", raft.SnapshotMeta{Index: 1, Term: 1, ConfState: raft.ConfState{Voters: []uint64{1, 1}}}},
		{"voter and learner", raft.SnapshotMeta{Index: 1, Term: 1, ConfState: raft.ConfState{Voters: []uint64{1}, Learners: []uint64{1}}}},
		{"membership too large", func() raft.SnapshotMeta {
			m := raft.SnapshotMeta{Index: 1, Term: 1}
			for i := range uint64(10000) {
				m.ConfState.Voters = append(m.ConfState.Voters, 1<<63|i) // 10 bytes each as varint
			}
			return m
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := s.Create(tt.meta)
			if !errors.Is(err, ErrInvalidMeta) {
				if w != nil {
					w.Abort()
				}
				t.Fatalf("Create = %v, want ErrInvalidMeta", err)
			}
		})
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		opts Options
	}{
		{"negative keep", t.TempDir(), Options{Keep: -1}},
		{"negative keep broken", t.TempDir(), Options{KeepBroken: -1}},
		{"negative max receive", t.TempDir(), Options{MaxReceiveSize: -1}},
		{"empty dir", "", Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.dir, &tt.opts); !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("New = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

func TestEmptyDirectory(t *testing.T) {
	s := newTestSnapshotter(t, "", nil)
	if _, err := s.Newest(); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("Newest = %v, want ErrNoSnapshot", err)
	}
	if _, err := s.Open(testMeta(1, 1)); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("Open = %v, want ErrNoSnapshot", err)
	}
	if _, _, err := s.OpenRaw(testMeta(1, 1)); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("OpenRaw = %v, want ErrNoSnapshot", err)
	}
	metas, err := s.List()
	if err != nil || len(metas) != 0 {
		t.Errorf("List = %v, %v; want empty", metas, err)
	}
}

func TestOpenWrongMembership(t *testing.T) {
	s := newTestSnapshotter(t, "", nil)
	writeSnap(t, s, testMeta(2, 10), []byte("x"))
	m := testMeta(2, 10)
	m.ConfState.Voters = []uint64{1, 2}
	if _, err := s.Open(m); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Open with other membership = %v, want ErrNoSnapshot", err)
	}
	// The file itself is fine and stays.
	r, err := s.Open(testMeta(2, 10))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

func TestWriterLifecycle(t *testing.T) {
	s := newTestSnapshotter(t, "", nil)
	w, err := s.Create(testMeta(1, 5))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "state"); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	w.Abort() // no-op after Commit
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrFinished) {
		t.Errorf("Write after Commit = %v, want ErrFinished", err)
	}
	if err := w.Commit(); !errors.Is(err, ErrFinished) {
		t.Errorf("second Commit = %v, want ErrFinished", err)
	}
	r, err := s.Newest()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(readPayload(t, r)); got != "state" {
		t.Errorf("payload %q", got)
	}
	if _, err := r.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// Abort leaves nothing behind.
	w, err = s.Create(testMeta(1, 6))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "discard me")
	w.Abort()
	if err := w.Commit(); !errors.Is(err, ErrFinished) {
		t.Errorf("Commit after Abort = %v, want ErrFinished", err)
	}
	if metas, _ := s.List(); len(metas) != 1 || metas[0].Index != 5 {
		t.Errorf("List after Abort = %+v", metas)
	}
}

// TestBitFlips: every single-bit flip anywhere in a small snapshot file is
// caught by verification, before any payload is handed out.
func TestBitFlips(t *testing.T) {
	orig := encodeSnapshot(t, testMeta(3, 42), []byte("key\x00value\n/registry/a\x00b\n"))
	for bit := 0; bit < len(orig)*8; bit++ {
		b := bytes.Clone(orig)
		b[bit/8] ^= 1 << (bit % 8)
		if _, _, err := decodeBytes(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flip of bit %d (byte %d of %d): err = %v, want ErrCorrupt", bit, bit/8, len(b), err)
		}
	}
	if _, _, err := decodeBytes(orig); err != nil {
		t.Fatalf("unmodified file: %v", err)
	}
}

// TestTruncation: a file cut at any offset, or with bytes appended, is corrupt.
func TestTruncation(t *testing.T) {
	orig := encodeSnapshot(t, testMeta(3, 42), bytes.Repeat([]byte("/registry/items/0001\x00v\n"), 20))
	for n := 0; n < len(orig); n++ {
		if _, _, err := decodeBytes(orig[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d of %d bytes: err = %v, want ErrCorrupt", n, len(orig), err)
		}
	}
	for _, extra := range [][]byte{{0}, make([]byte, 8), []byte("CSNP"), orig[len(orig)-32:]} {
		if _, _, err := decodeBytes(append(bytes.Clone(orig), extra...)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("with %d bytes appended: err = %v, want ErrCorrupt", len(extra), err)
		}
	}
}

// TestLyingEnvelope: files whose envelope checksums are right but whose
// contents do not match the trailer are still refused, by the Reader at the
// end of the stream (never io.EOF) and by Receive before anything is visible.
func TestLyingEnvelope(t *testing.T) {
	payload := []byte("the real payload")
	good := encodeSnapshot(t, testMeta(1, 1), payload)
	fi, err := verify(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	body := good[fi.bodyOff : fi.bodyOff+fi.bodyLen]
	tests := []struct {
		name string
		file []byte
	}{
		{"wrong payload crc", buildFile(t, testMeta(1, 1), body, fi.payloadLen, fi.payloadCRC^1)},
		{"payload shorter than recorded", buildFile(t, testMeta(1, 1), body, fi.payloadLen+1, fi.payloadCRC)},
		{"payload longer than recorded", buildFile(t, testMeta(1, 1), body, fi.payloadLen-1, fi.payloadCRC)},
		{"garbage body", buildFile(t, testMeta(1, 1), []byte("not zstd at all, really"), 3, 0)},
		{"empty body", buildFile(t, testMeta(1, 1), nil, 0, 0)},
		{"truncated zstd", buildFile(t, testMeta(1, 1), body[:len(body)-5], fi.payloadLen, fi.payloadCRC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := verify(bytes.NewReader(tt.file), int64(len(tt.file))); err != nil && tt.name != "empty body" {
				t.Fatalf("test file's envelope is not valid: %v", err)
			}
			if _, _, err := decodeBytes(tt.file); !errors.Is(err, ErrCorrupt) {
				t.Errorf("reading: err = %v, want ErrCorrupt", err)
			}
			s := newTestSnapshotter(t, "", nil)
			if _, err := s.Receive(bytes.NewReader(tt.file)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Receive: err = %v, want ErrCorrupt", err)
			}
			if metas, _ := s.List(); len(metas) != 0 {
				t.Errorf("Receive left %+v visible", metas)
			}
		})
	}
}

// damage functions applied to a stored snapshot file.
var damages = []struct {
	name string
	fn   func(t *testing.T, path string)
}{
	{"bit flip in body", func(t *testing.T, path string) {
		b := mustRead(t, path)
		b[len(b)/2] ^= 0x10
		mustWrite(t, path, b)
	}},
	{"bit flip in header", func(t *testing.T, path string) {
		b := mustRead(t, path)
		b[20] ^= 0x01
		mustWrite(t, path, b)
	}},
	{"truncated", func(t *testing.T, path string) {
		b := mustRead(t, path)
		mustWrite(t, path, b[:len(b)-9])
	}},
	{"zero length", func(t *testing.T, path string) { mustWrite(t, path, nil) }},
	{"zeroed tail", func(t *testing.T, path string) {
		b := mustRead(t, path)
		clear(b[len(b)/2:])
		mustWrite(t, path, b)
	}},
	{"renamed", func(t *testing.T, path string) {
		// A valid file under the wrong name: holds another snapshot.
		dir := filepath.Dir(path)
		ents, _ := os.ReadDir(dir)
		var other string
		for _, e := range ents {
			if n := filepath.Join(dir, e.Name()); n != path && strings.HasSuffix(n, snapSuffix) {
				other = n
			}
		}
		mustWrite(t, path, mustRead(t, other))
	}},
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func payloadFor(index uint64) []byte {
	return bytes.Repeat(fmt.Appendf(nil, "/registry/items/%08d\x00value-%d\n", index, index), 100)
}

// TestNewestFallsBack: a damaged newest snapshot is set aside and the
// previous one is used; with every snapshot damaged, ErrNoSnapshot.
func TestNewestFallsBack(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			s := newTestSnapshotter(t, "", nil)
			for i := uint64(1); i <= 3; i++ {
				writeSnap(t, s, testMeta(2, i*10), payloadFor(i*10))
			}
			newest := filepath.Join(s.Dir(), fileName(2, 30))
			d.fn(t, newest)

			r, err := s.Newest()
			if err != nil {
				t.Fatalf("Newest: %v", err)
			}
			if got, want := r.Meta().Index, uint64(20); got != want {
				t.Errorf("Newest index %d, want %d", got, want)
			}
			if !bytes.Equal(readPayload(t, r), payloadFor(20)) {
				t.Error("fallback payload differs")
			}
			if _, err := os.Stat(newest); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("damaged file still visible: %v", err)
			}
			if _, err := os.Stat(newest + brokenSuffix); err != nil {
				t.Errorf("damaged file not set aside: %v", err)
			}

			for _, i := range []uint64{10, 20} {
				p := filepath.Join(s.Dir(), fileName(2, i))
				mustWrite(t, p, mustRead(t, p)[:100])
			}
			if _, err := s.Newest(); !errors.Is(err, ErrNoSnapshot) {
				t.Errorf("all damaged: Newest = %v, want ErrNoSnapshot", err)
			}
		})
	}
}

// TestOpenDamaged: Open and OpenRaw refuse a damaged file and set it aside.
func TestOpenDamaged(t *testing.T) {
	s := newTestSnapshotter(t, "", nil)
	writeSnap(t, s, testMeta(1, 1), payloadFor(1))
	writeSnap(t, s, testMeta(1, 2), payloadFor(2))
	for _, i := range []uint64{1, 2} {
		p := filepath.Join(s.Dir(), fileName(1, i))
		b := mustRead(t, p)
		b[len(b)-40] ^= 0x80
		mustWrite(t, p, b)
	}
	if _, err := s.Open(testMeta(1, 1)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open = %v, want ErrCorrupt", err)
	}
	if _, _, err := s.OpenRaw(testMeta(1, 2)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("OpenRaw = %v, want ErrCorrupt", err)
	}
	if metas, _ := s.List(); len(metas) != 0 {
		t.Errorf("damaged files still listed: %+v", metas)
	}
}

// TestByteDamageOnDisk: a bit flipped in any byte of a stored file makes
// Newest fall back to the previous snapshot, never return wrong data.
func TestByteDamageOnDisk(t *testing.T) {
	s := newTestSnapshotter(t, "", &Options{KeepBroken: 1})
	writeSnap(t, s, testMeta(1, 1), payloadFor(1))
	good := encodeSnapshot(t, testMeta(1, 2), payloadFor(2))
	path := filepath.Join(s.Dir(), fileName(1, 2))
	step := 1
	if testing.Short() {
		step = 7
	}
	for off := 0; off < len(good); off += step {
		b := bytes.Clone(good)
		b[off] ^= 1 << (off % 8)
		mustWrite(t, path, b)
		r, err := s.Newest()
		if err != nil {
			t.Fatalf("offset %d: Newest: %v", off, err)
		}
		if r.Meta().Index != 1 || !bytes.Equal(readPayload(t, r), payloadFor(1)) {
			t.Fatalf("offset %d: got snapshot %d", off, r.Meta().Index)
		}
	}
}

func TestTempFileCleanup(t *testing.T) {
	dir := t.TempDir()
	s1, err := New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeSnap(t, s1, testMeta(1, 1), []byte("a"))
	// A writer that never finishes, as if the process crashed mid-write.
	w, err := s1.Create(testMeta(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "half")
	leftovers := []string{"snap-123.tmp", "snap-.tmp"}
	for _, n := range leftovers {
		mustWrite(t, filepath.Join(dir, n), []byte("junk"))
	}
	foreign := []string{"README", "other.tmp", "0000000000000001-0000000000000001.snap.bak"}
	for _, n := range foreign {
		mustWrite(t, filepath.Join(dir, n), []byte("not ours"))
	}

	s2 := newTestSnapshotter(t, dir, nil) // a restart
	names, err := s2.readDir()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	want := append([]string{fileName(1, 1)}, foreign...)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("after restart: %v, want %v", names, want)
	}
	w.Abort() // the crashed writer's file is already gone; must not fail
}

func TestRetention(t *testing.T) {
	tests := []struct {
		keep, write int
	}{
		{1, 3},
		{3, 3},
		{3, 8},
		{0, 9}, // default 5
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("keep%d_write%d", tt.keep, tt.write), func(t *testing.T) {
			s := newTestSnapshotter(t, "", &Options{Keep: tt.keep})
			for i := 1; i <= tt.write; i++ {
				writeSnap(t, s, testMeta(uint64(1+i/4), uint64(i)), []byte{byte(i)})
			}
			keep := tt.keep
			if keep == 0 {
				keep = DefaultKeep
			}
			metas, err := s.List()
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, m := range metas {
				got = append(got, m.Index)
			}
			var want []uint64
			for i := tt.write; i > tt.write-keep && i > 0; i-- {
				want = append(want, uint64(i))
			}
			if !slices.Equal(got, want) {
				t.Errorf("kept %v, want %v", got, want)
			}
		})
	}
}

// TestRetentionKeepsJustStored: storing a snapshot older than all kept ones
// (a follower receiving an old one) does not delete it immediately.
func TestRetentionKeepsJustStored(t *testing.T) {
	s := newTestSnapshotter(t, "", &Options{Keep: 1})
	writeSnap(t, s, testMeta(5, 100), []byte("new"))
	writeSnap(t, s, testMeta(4, 50), []byte("old"))
	if _, err := s.Open(testMeta(4, 50)); err != nil {
		t.Fatalf("just stored snapshot: %v", err)
	}
	writeSnap(t, s, testMeta(5, 101), []byte("newer"))
	metas, _ := s.List()
	if len(metas) != 1 || metas[0].Index != 101 {
		t.Errorf("List = %+v, want only index 101", metas)
	}
}

// TestBrokenFilesBounded: damaged files are kept aside, but only the newest
// KeepBroken of them.
func TestBrokenFilesBounded(t *testing.T) {
	s := newTestSnapshotter(t, "", &Options{Keep: 10, KeepBroken: 2})
	for i := uint64(1); i <= 5; i++ {
		writeSnap(t, s, testMeta(1, i), []byte("x"))
		mustWrite(t, filepath.Join(s.Dir(), fileName(1, i)), []byte("garbage"))
	}
	writeSnap(t, s, testMeta(1, 6), []byte("x"))
	mustWrite(t, filepath.Join(s.Dir(), fileName(1, 6)), nil)
	if _, err := s.Newest(); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Newest = %v, want ErrNoSnapshot", err)
	}
	names, _ := s.readDir()
	want := []string{fileName(1, 5) + brokenSuffix, fileName(1, 6) + brokenSuffix}
	if !slices.Equal(names, want) {
		t.Errorf("directory %v, want %v", names, want)
	}
}

// TestFaultInjection: a failing fsync or rename makes Commit and Receive
// fail without leaving a visible snapshot (or, for the directory fsync,
// reports the error so the caller can stop).
func TestFaultInjection(t *testing.T) {
	errInjected := errors.New("injected")
	tests := []struct {
		name        string
		failFsyncOf string // "file", "dir" or ""
		failRename  bool
		wantVisible bool
	}{
		{name: "file fsync", failFsyncOf: "file"},
		{name: "rename", failRename: true},
		{name: "dir fsync", failFsyncOf: "dir", wantVisible: true},
	}
	for _, tt := range tests {
		for _, op := range []string{"Commit", "Receive"} {
			t.Run(tt.name+"/"+op, func(t *testing.T) {
				var armed bool
				opts := &Options{
					Fsync: func(f *os.File) error {
						st, err := f.Stat()
						if err != nil {
							return err
						}
						if armed && (st.IsDir() == (tt.failFsyncOf == "dir")) && tt.failFsyncOf != "" {
							return errInjected
						}
						return f.Sync()
					},
					Rename: func(from, to string) error {
						if armed && tt.failRename {
							return errInjected
						}
						return os.Rename(from, to)
					},
				}
				s := newTestSnapshotter(t, "", opts)
				raw := encodeSnapshot(t, testMeta(1, 7), []byte("payload"))
				armed = true
				var err error
				if op == "Commit" {
					var w *Writer
					w, err = s.Create(testMeta(1, 7))
					if err != nil {
						t.Fatal(err)
					}
					io.WriteString(w, "payload")
					err = w.Commit()
				} else {
					_, err = s.Receive(bytes.NewReader(raw))
				}
				if !errors.Is(err, errInjected) {
					t.Fatalf("%s = %v, want the injected error", op, err)
				}
				armed = false
				metas, _ := s.List()
				if got := len(metas) == 1; got != tt.wantVisible {
					t.Errorf("visible = %v, want %v (%+v)", got, tt.wantVisible, metas)
				}
			})
		}
	}
}

func TestUnsafeNoFsync(t *testing.T) {
	calls := 0
	s := newTestSnapshotter(t, "", &Options{UnsafeNoFsync: true, Fsync: func(*os.File) error { calls++; return nil }})
	writeSnap(t, s, testMeta(1, 1), []byte("x"))
	if calls != 0 {
		t.Errorf("fsync called %d times with UnsafeNoFsync", calls)
	}
}

// TestReceiveRejectsBadStreams: a truncated or damaged stream leaves
// nothing visible and no temporary file.
func TestReceiveRejectsBadStreams(t *testing.T) {
	good := encodeSnapshot(t, testMeta(2, 9), payloadFor(9))
	s := newTestSnapshotter(t, "", nil)
	step := 1
	if testing.Short() {
		step = 13
	}
	for n := 0; n < len(good); n += step {
		if _, err := s.Receive(bytes.NewReader(good[:n])); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("stream truncated to %d of %d bytes: %v, want ErrCorrupt", n, len(good), err)
		}
	}
	for off := 0; off < len(good); off += step {
		b := bytes.Clone(good)
		b[off] ^= 0x04
		if _, err := s.Receive(bytes.NewReader(b)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("stream damaged at %d: %v, want ErrCorrupt", off, err)
		}
	}
	errConn := errors.New("connection reset")
	if _, err := s.Receive(io.MultiReader(bytes.NewReader(good[:200]), errReader{errConn})); !errors.Is(err, errConn) {
		t.Errorf("broken connection: %v, want the connection error", err)
	}
	if metas, _ := s.List(); len(metas) != 0 {
		t.Fatalf("bad streams left %+v visible", metas)
	}
	if _, err := s.Receive(bytes.NewReader(good)); err != nil {
		t.Fatalf("good stream: %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestReceiveSizeLimit(t *testing.T) {
	good := encodeSnapshot(t, testMeta(2, 9), payloadFor(9))
	tests := []struct {
		limit int64
		want  error
	}{
		{int64(len(good)) - 1, ErrTooLarge},
		{int64(len(good)), nil},
		{0, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			s := newTestSnapshotter(t, "", &Options{MaxReceiveSize: tt.limit})
			_, err := s.Receive(bytes.NewReader(good))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Receive = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestConcurrentUse: writers, readers and receivers at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	s := newTestSnapshotter(t, "", &Options{Keep: 3})
	writeSnap(t, s, testMeta(1, 1), payloadFor(1))
	n := 8
	if testing.Short() {
		n = 3
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range n {
		wg.Go(func() {
			idx := uint64(10 + i)
			w, err := s.Create(testMeta(1, idx))
			if err != nil {
				errs <- err
				return
			}
			defer w.Abort()
			w.Write(payloadFor(idx))
			errs <- w.Commit()
		})
		wg.Go(func() {
			r, err := s.Newest()
			if err != nil {
				errs <- err
				return
			}
			defer r.Close()
			b, err := io.ReadAll(r)
			if err == nil && !bytes.Equal(b, payloadFor(r.Meta().Index)) {
				err = fmt.Errorf("snapshot %d has the wrong payload", r.Meta().Index)
			}
			errs <- err
		})
		wg.Go(func() {
			idx := uint64(100 + i)
			_, err := s.Receive(bytes.NewReader(encodeSnapshot(t, testMeta(1, idx), payloadFor(idx))))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		name        string
		term, index uint64
		ok          bool
	}{
		{fileName(1, 2), 1, 2, true},
		{fileName(^uint64(0), ^uint64(0)), ^uint64(0), ^uint64(0), true},
		{"0000000000000001-0000000000000002.snap.broken", 0, 0, false},
		{"000000000000001-00000000000000002.snap", 0, 0, false},
		{"000000000000000g-0000000000000002.snap", 0, 0, false},
		{"0000000000000001_0000000000000002.snap", 0, 0, false},
		{"snap-1.tmp", 0, 0, false},
	}
	for _, tt := range tests {
		term, index, ok := parseName(tt.name)
		if term != tt.term || index != tt.index || ok != tt.ok {
			t.Errorf("parseName(%q) = %d, %d, %v; want %d, %d, %v", tt.name, term, index, ok, tt.term, tt.index, tt.ok)
		}
	}
	if fileName(1, 0xff) >= fileName(2, 1) || fileName(2, 1) >= fileName(2, 0x10) {
		t.Error("file names do not sort by term, then index")
	}
}

// TestTrailerExtremes: length fields near the limits of uint64 are rejected
// without overflow (this matters on 32-bit ARM too, where int is 32 bits).
func TestTrailerExtremes(t *testing.T) {
	good := encodeSnapshot(t, testMeta(1, 1), []byte("payload"))
	tests := []struct {
		name  string
		off   int // offset in the trailer
		value uint64
	}{
		{"body length max", 0, ^uint64(0)},
		{"body length 2^63", 0, 1 << 63},
		{"body length 2^32", 0, 1 << 32},
		{"body length 2^31", 0, 1 << 31},
		{"body length one more", 0, 0}, // patched below to the real length + 1
		{"payload length max", 8, ^uint64(0)},
		{"payload length 2^62+1", 8, 1<<62 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(good)
			tr := b[len(b)-trailerSize:]
			v := tt.value
			if tt.name == "body length one more" {
				v = binary.LittleEndian.Uint64(tr) + 1
			}
			binary.LittleEndian.PutUint64(tr[tt.off:], v)
			b = fixChecksums(b)
			if _, _, err := decodeBytes(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestDecoderWindowLimit: a stream that declares a zstd window larger than
// the reader allows is refused instead of making the reader allocate it.
func TestDecoderWindowLimit(t *testing.T) {
	tests := []struct {
		window  int
		wantErr bool
	}{
		{encoderWindow, false},
		{maxDecoderWindow, false},
		{4 * maxDecoderWindow, true},
		{zstd.MaxWindowSize, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.window), func(t *testing.T) {
			// More than one block, so the encoder writes the frame header (with
			// its window size) before it knows the content size.
			payload := bytes.Repeat([]byte("0123456789abcdef"), 32<<10)
			var body bytes.Buffer
			enc, err := zstd.NewWriter(&body, zstd.WithWindowSize(tt.window), zstd.WithEncoderConcurrency(1))
			if err != nil {
				t.Fatal(err)
			}
			enc.Write(payload)
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			file := buildFile(t, testMeta(1, 1), body.Bytes(), uint64(len(payload)), crc32.Checksum(payload, castagnoli))
			_, got, err := decodeBytes(file)
			if tt.wantErr {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("err = %v, payload equal %v", err, bytes.Equal(got, payload))
			}
		})
	}
}

// allocated returns the bytes allocated on the heap while fn runs.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestBoundedMemory: hostile headers and huge payloads are handled in
// bounded memory. The payload is streamed, never held: reading a snapshot
// of hundreds of MiB allocates a few MiB.
func TestBoundedMemory(t *testing.T) {
	// A header with the largest allowed membership, all one ID.
	cs := binary.AppendUvarint(nil, maxConfStateSize-3)
	for len(cs) < maxConfStateSize {
		cs = append(cs, 1)
	}
	hdr := []byte(fileMagic)
	hdr = binary.LittleEndian.AppendUint32(hdr, formatVersion)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(cs)))
	hdr = binary.LittleEndian.AppendUint64(hdr, 1)
	hdr = binary.LittleEndian.AppendUint64(hdr, 1)
	hdr = append(hdr, cs...)
	hdr = binary.LittleEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
	hdr = binary.LittleEndian.AppendUint32(hdr, 0)
	hostile := fixChecksums(append(hdr, make([]byte, 64)...))
	var err error
	if n := allocated(func() { _, _, err = decodeBytes(hostile) }); n > 2<<20 {
		t.Errorf("hostile header: %d bytes allocated", n)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("hostile header: err = %v, want ErrCorrupt", err)
	}

	// A payload far larger than what the reader may allocate.
	size := 512 << 20
	if testing.Short() {
		size = 32 << 20
	}
	var body bytes.Buffer
	enc, err := newEncoder(&body)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	crc := uint32(0)
	for range size / len(chunk) {
		enc.Write(chunk)
		crc = crc32.Update(crc, castagnoli, chunk)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	file := buildFile(t, testMeta(1, 1), body.Bytes(), uint64(size), crc)
	var n int64
	alloc := allocated(func() {
		fi, verr := verify(bytes.NewReader(file), int64(len(file)))
		if verr != nil {
			err = verr
			return
		}
		r := newReader(bytes.NewReader(file), fi, nil)
		n, err = io.Copy(io.Discard, r)
		r.Close()
	})
	if err != nil || n != int64(size) {
		t.Fatalf("read %d of %d bytes: %v", n, size, err)
	}
	if alloc > 16<<20 {
		t.Errorf("reading a %d MiB payload allocated %d MiB", size>>20, alloc>>20)
	}
	t.Logf("%d MiB payload, %d KiB compressed, read with %d KiB allocated", size>>20, len(file)>>10, alloc>>10)
}

// failingReaderAt fails every read at or beyond off with err.
type failingReaderAt struct {
	r   io.ReaderAt
	off int64
	err error
}

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.off {
		return 0, f.err
	}
	return f.r.ReadAt(p, off)
}

// TestReaderIOErrorIsNotCorruption: a disk error while streaming the
// payload is reported as such, not as ErrCorrupt (which would get a good
// file set aside).
func TestReaderIOErrorIsNotCorruption(t *testing.T) {
	file := encodeSnapshot(t, testMeta(1, 1), bytes.Repeat([]byte("0123456789"), 100<<10))
	fi, err := verify(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	errDisk := errors.New("input/output error")
	r := newReader(failingReaderAt{bytes.NewReader(file), fi.bodyOff + fi.bodyLen/2, errDisk}, fi, nil)
	defer r.Close()
	_, err = io.Copy(io.Discard, r)
	if !errors.Is(err, errDisk) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want the disk error and not ErrCorrupt", err)
	}
}
