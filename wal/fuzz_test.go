package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"cairn/raft"
)

// fuzzSegmentName is the name the fuzz targets give their input: the first
// segment of a log.
var fuzzSegment = segmentFile{seq: 1, first: 1, name: segmentName(1, 1)}

// decodeSegmentBytes replays data as the only (so the last) segment of a
// log, without touching the disk.
func decodeSegmentBytes(data []byte) (*replay, []raft.Entry, error) {
	r := &replay{found: true, segs: []segmentFile{fuzzSegment}}
	if err := r.readSegment(fuzzSegment, data, true); err != nil {
		return nil, nil, err
	}
	ents, err := r.result()
	return r, ents, err
}

// FuzzDecodeSegment feeds arbitrary bytes to the segment decoder. It must
// never panic, fail only with ErrCorrupt, and never return an entry that was
// not written: the seeds are logs written by this package with entryData
// payloads, and forging a CRC-chained frame is out of the fuzzer's reach, so
// every returned entry must carry entryData(index, term) and the entries
// must form a valid log.
func FuzzDecodeSegment(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, ents, err := decodeSegmentBytes(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrSnapshotStale) {
				t.Fatalf("error outside the documented set: %v", err)
			}
			return
		}
		if err := validEntries(ents); err != nil {
			t.Fatalf("decoded entries are not a valid log: %v", err)
		}
		for _, e := range ents {
			if !bytes.Equal(e.Data, entryData(e.Index, e.Term, len(e.Data))) {
				t.Fatalf("entry %d term %d carries data %q that was never written", e.Index, e.Term, e.Data)
			}
		}
		if r.tailOff > int64(len(data)) || r.tailOff%8 != 0 {
			t.Fatalf("tail offset %d for %d bytes", r.tailOff, len(data))
		}
		// Replaying the repaired prefix gives the same, cleanly.
		r2, ents2, err := decodeSegmentBytes(data[:r.tailOff])
		if err != nil || r2.torn != nil || equalEnts(ents, ents2) != nil || r.hs != r2.hs {
			t.Fatalf("the repaired prefix replays differently: %v", err)
		}
	})
}

// FuzzDecodeBatch feeds arbitrary payloads to the batch record decoder. It
// must never panic, and what it accepts must re-encode to a record that
// decodes to the same value.
func FuzzDecodeBatch(f *testing.F) {
	for _, r := range batchSeeds() {
		f.Add(r.append(nil))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := decodeBatch(p)
		if err != nil {
			return
		}
		if err := r.valid(); err != nil {
			t.Fatalf("decodeBatch accepted an invalid record: %v", err)
		}
		r2, err := decodeBatch(r.append(nil))
		if err != nil || r2.Batch != r.Batch || r2.State != r.State || r2.HasState != r.HasState || equalEnts(r.Entries, r2.Entries) != nil {
			t.Fatalf("re-encoding changed the record: %v", err)
		}
	})
}

// fuzzSeeds writes a few small logs and returns their first segments.
func fuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	for k := range 3 {
		dir := filepath.Join(tb.TempDir(), "wal")
		w, err := Create(dir, Metadata{MemberID: 1, ClusterID: 2}, &Options{SegmentSize: 1 << 12, UnsafeNoFsync: true})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Save(raft.HardState{Term: 1, Vote: 1}, mkEnts(1, 3+k, 1, 10*k)); err != nil {
			tb.Fatal(err)
		}
		if k > 0 {
			if _, err := w.Save(raft.HardState{Term: 2, Commit: 2}, mkEnts(3, 2, 2, 5)); err != nil {
				tb.Fatal(err)
			}
			if err := w.SaveSnapshot(SnapshotMarker{Index: 2, Term: 1}); err != nil {
				tb.Fatal(err)
			}
		}
		w.Close()
		data, err := os.ReadFile(filepath.Join(dir, segmentName(1, 1)))
		if err != nil {
			tb.Fatal(err)
		}
		end := len(data)
		for end > 0 && data[end-1] == 0 {
			end--
		}
		seeds = append(seeds, data[:(end+7)/8*8])
	}
	return append(seeds, recycledSeed(seeds[len(seeds)-1]))
}

// recycledSeed returns a short log written as a recycled segment 1 (tag
// tagFor(1), each write ending in the end marker) over the bytes of stale,
// an earlier segment whose frames stay after the new log's end.
func recycledSeed(stale []byte) []byte {
	tag := tagFor(1)
	b, crc := appendFrame(nil, typeSegment, tag, 0, segmentRecord{1, 1, 0}.append(nil))
	b, crc = appendFrame(b, typeMetadata, tag, crc, appendMetadata(nil, Metadata{MemberID: 1, ClusterID: 2}))
	rec := batchRecord{Batch: 1, HasState: true, State: raft.HardState{Term: 3, Vote: 1}, Entries: mkEnts(1, 1, 3, 7)}
	b, _ = appendFrame(b, typeBatch, tag, crc, rec.append(nil))
	b = append(b, endMarker[:]...)
	if len(b) < len(stale) {
		b = append(b, stale[len(b):]...)
	}
	return b
}

// TestWriteFuzzCorpus regenerates the committed seed corpus under
// testdata/fuzz when WAL_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("WAL_WRITE_CORPUS") != "1" {
		t.Skip("set WAL_WRITE_CORPUS=1 to regenerate testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeSegment")
	seeds := fuzzSeeds(t)
	// Damaged variants too: torn, flipped, duplicated.
	s := seeds[len(seeds)-1]
	torn := append([]byte(nil), s[:len(s)-13]...)
	flip := append([]byte(nil), s...)
	flip[len(flip)/2] ^= 4
	dup := append(append([]byte(nil), s...), s[len(s)-48:]...)
	seeds = append(seeds, torn, flip, dup)
	writeCorpus(t, dir, seeds)
	var batches [][]byte
	for _, r := range batchSeeds() {
		batches = append(batches, r.append(nil))
	}
	writeCorpus(t, filepath.Join("testdata", "fuzz", "FuzzDecodeBatch"), batches)
}

func writeCorpus(t *testing.T, dir string, seeds [][]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range seeds {
		content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func batchSeeds() []batchRecord {
	return []batchRecord{
		{Batch: 1, HasState: true, State: raft.HardState{Term: 1, Vote: 2, Commit: 3}},
		{Batch: 7, Entries: mkEnts(5, 3, 2, 10)},
		{Batch: 1 << 40, HasState: true, State: raft.HardState{Term: 9}, Entries: mkEnts(1<<50, 1, 9, 0)},
	}
}
