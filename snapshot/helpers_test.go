package snapshot

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn/raft"
)

// newTestSnapshotter opens a Snapshotter in a fresh directory (or dir, if
// non-empty) and registers a consistency check of the directory for the end
// of the test.
func newTestSnapshotter(t *testing.T, dir string, opts *Options) *Snapshotter {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := New(dir, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { checkDir(t, s) })
	return s
}

// checkDir is the storage consistency check run at the end of every test
// that uses a Snapshotter: no temporary files are left, every visible
// snapshot passes full verification under its own name, and retention
// bounds hold.
func checkDir(t *testing.T, s *Snapshotter) {
	t.Helper()
	names, err := s.readDir()
	if err != nil {
		t.Errorf("consistency: %v", err)
		return
	}
	snaps, broken := 0, 0
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, tmpPrefix) && strings.HasSuffix(n, tmpSuffix):
			t.Errorf("consistency: temporary file %s left behind", n)
		case strings.HasSuffix(n, brokenSuffix):
			broken++
		default:
			term, index, ok := parseName(n)
			if !ok {
				continue // not ours (tests may plant such files)
			}
			snaps++
			b, err := os.ReadFile(filepath.Join(s.dir, n))
			if err != nil {
				t.Errorf("consistency: %v", err)
				continue
			}
			fi, err := verify(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				// Tests that damage files on purpose set them aside
				// before the end; anything else is a bug.
				t.Errorf("consistency: visible snapshot %s fails verification: %v", n, err)
				continue
			}
			if fi.meta.Term != term || fi.meta.Index != index {
				t.Errorf("consistency: %s holds term %d index %d", n, fi.meta.Term, fi.meta.Index)
			}
		}
	}
	if snaps > s.keep+1 {
		t.Errorf("consistency: %d snapshots visible, keep is %d", snaps, s.keep)
	}
	if broken > s.keepBroken {
		t.Errorf("consistency: %d broken files kept, limit %d", broken, s.keepBroken)
	}
}

func testMeta(term, index uint64) raft.SnapshotMeta {
	return raft.SnapshotMeta{Index: index, Term: term, ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{9}}}
}

func writeSnap(t *testing.T, s *Snapshotter, meta raft.SnapshotMeta, payload []byte) {
	t.Helper()
	w, err := s.Create(meta)
	if err != nil {
		t.Fatalf("Create(%+v): %v", meta, err)
	}
	defer w.Abort()
	if _, err := w.Write(payload); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// readPayload reads r to io.EOF and closes it.
func readPayload(t *testing.T, r *Reader) []byte {
	t.Helper()
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading payload of %+v: %v", r.Meta(), err)
	}
	return b
}

// encodeSnapshot returns the bytes of a snapshot file as Writer produces
// them, without touching the disk.
func encodeSnapshot(t testing.TB, meta raft.SnapshotMeta, payload []byte) []byte {
	t.Helper()
	var body bytes.Buffer
	enc, err := newEncoder(&body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buildFile(t, meta, body.Bytes(), uint64(len(payload)), crc32.Checksum(payload, castagnoli))
}

// buildFile wraps an arbitrary body in a well-formed envelope with the
// given payload length and CRC, so tests can craft files whose envelope is
// valid but whose contents lie.
func buildFile(t testing.TB, meta raft.SnapshotMeta, body []byte, payloadLen uint64, payloadCRC uint32) []byte {
	t.Helper()
	b, err := appendHeader(nil, &meta)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, body...)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return appendTrailer(b, int64(len(body)), payloadLen, payloadCRC, crc32.Checksum(b, castagnoli))
}

// decodeBytes verifies and fully reads a snapshot held in memory, the way
// Open and Receive do for files.
func decodeBytes(data []byte) (raft.SnapshotMeta, []byte, error) {
	fi, err := verify(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return raft.SnapshotMeta{}, nil, err
	}
	r := newReader(bytes.NewReader(data), fi, nil)
	defer r.Close()
	// Cap what a hostile input can make us buffer in a test.
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(r, 64<<20))
	if err != nil {
		return raft.SnapshotMeta{}, nil, err
	}
	if n == 64<<20 {
		return raft.SnapshotMeta{}, nil, errors.New("test cap reached")
	}
	return fi.meta, out.Bytes(), nil
}
