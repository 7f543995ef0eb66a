package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"cairn/raft"
)

// checkOnCleanup registers the storage consistency check (STYLE habit 12):
// when the test ends, the WAL in dir must verify clean (no corruption, no
// torn tail) and replay from the zero marker, if it is still present, must
// agree with Verify.
func checkOnCleanup(t *testing.T, dir string) {
	t.Helper()
	t.Cleanup(func() {
		if !Exist(dir) {
			return
		}
		if err := Verify(dir); err != nil {
			t.Errorf("consistency check of %s: %v", dir, err)
		}
	})
}

// newDir returns a fresh directory path (not created) for a WAL, with the
// consistency check registered.
func newDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wal")
	checkOnCleanup(t, dir)
	return dir
}

func mustCreate(t *testing.T, dir string, opts *Options) *WAL {
	t.Helper()
	w, err := Create(dir, Metadata{MemberID: 0x1111, ClusterID: 0x2222}, opts)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// reopen opens dir at from and replays it.
func reopen(t *testing.T, dir string, from SnapshotMarker, opts *Options) (*WAL, raft.HardState, []raft.Entry) {
	t.Helper()
	w, err := Open(dir, from, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	_, hs, ents, err := w.ReadAll()
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	return w, hs, ents
}

// ents makes n entries from index first with term, each with size bytes of
// data derived from the index and term.
func mkEnts(first uint64, n int, term uint64, size int) []raft.Entry {
	out := make([]raft.Entry, n)
	for i := range out {
		idx := first + uint64(i)
		out[i] = raft.Entry{Index: idx, Term: term, Data: entryData(idx, term, size)}
		if idx%7 == 3 {
			out[i].Type = raft.EntryConfChange
		}
	}
	return out
}

func entryData(idx, term uint64, size int) []byte {
	if size == 0 {
		return nil
	}
	b := []byte(fmt.Sprintf("i%d-t%d;", idx, term))
	for len(b) < size {
		b = append(b, byte('a'+(idx+uint64(len(b)))%26))
	}
	return b[:size]
}

// model is the oracle: the log as Raft wrote it, kept naively.
type model struct {
	ents []raft.Entry // every entry from index 1 (or after a snapshot reset)
	base uint64       // index before ents[0]
	hs   raft.HardState
	snap SnapshotMarker
}

func (m *model) save(hs raft.HardState, ents []raft.Entry) {
	if !hs.IsEmpty() {
		m.hs = hs
	}
	if len(ents) == 0 {
		return
	}
	keep := int(ents[0].Index - m.base - 1)
	m.ents = append(m.ents[:keep:keep], ents...)
}

func (m *model) lastIndex() uint64 { return m.base + uint64(len(m.ents)) }

func (m *model) term(i uint64) uint64 {
	if i == m.base {
		return m.snap.Term
	}
	return m.ents[i-m.base-1].Term
}

func (m *model) snapshot(s SnapshotMarker) {
	keep := s.Index <= m.lastIndex() && s.Index >= m.base && m.term(s.Index) == s.Term
	m.snap = s
	if !keep {
		m.base, m.ents = s.Index, nil
	}
}

func (m *model) after(i uint64) []raft.Entry {
	if i < m.base {
		panic("model: after below base")
	}
	return m.ents[i-m.base:]
}

func equalEnts(a, b []raft.Entry) error {
	if len(a) != len(b) {
		return fmt.Errorf("got %d entries, want %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Index != b[i].Index || a[i].Term != b[i].Term || a[i].Type != b[i].Type || !bytes.Equal(a[i].Data, b[i].Data) {
			return fmt.Errorf("entry %d: got {%d %d %v %q}, want {%d %d %v %q}", i,
				a[i].Index, a[i].Term, a[i].Type, a[i].Data, b[i].Index, b[i].Term, b[i].Type, b[i].Data)
		}
	}
	return nil
}

// faultOps returns fileOps that fail the n-th call (counting from 1) of the
// named operation with err, and otherwise use the real calls.
func faultOps(op string, n int, err error) fileOps {
	d := defaultOps()
	calls := 0
	hit := func(name string) bool {
		if name != op {
			return false
		}
		calls++
		return calls == n
	}
	return fileOps{
		writeAt: func(f *os.File, b []byte, off int64) (int, error) {
			if hit("writeAt") {
				return 0, err
			}
			return d.writeAt(f, b, off)
		},
		fdatasync: func(f *os.File) error {
			if hit("fdatasync") {
				return err
			}
			return d.fdatasync(f)
		},
		fsync: func(f *os.File) error {
			if hit("fsync") {
				return err
			}
			return d.fsync(f)
		},
		fallocate: d.fallocate,
	}
}

func isTorn(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }

// copyDir copies the regular files of src into a new directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "wal")
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	des, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(src, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, de.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
