package raft

import (
	"errors"
	"reflect"
	"testing"
)

func memWith(ents ...Entry) *MemoryStorage {
	ms := NewMemoryStorage()
	ms.ents = append([]Entry(nil), ents...)
	return ms
}

func TestMemoryStorageAppend(t *testing.T) {
	base := []Entry{{Index: 3, Term: 3}, {Index: 4, Term: 4}, {Index: 5, Term: 5}}
	tests := []struct {
		name    string
		entries []Entry
		want    []Entry
		wantErr error
	}{
		{"same", []Entry{{Index: 4, Term: 4}, {Index: 5, Term: 5}}, base, nil},
		{"overwrite suffix", []Entry{{Index: 4, Term: 6}, {Index: 5, Term: 6}},
			[]Entry{{Index: 3, Term: 3}, {Index: 4, Term: 6}, {Index: 5, Term: 6}}, nil},
		{"extend", []Entry{{Index: 6, Term: 5}},
			[]Entry{{Index: 3, Term: 3}, {Index: 4, Term: 4}, {Index: 5, Term: 5}, {Index: 6, Term: 5}}, nil},
		{"truncate compacted prefix", []Entry{{Index: 2, Term: 3}, {Index: 3, Term: 3}, {Index: 4, Term: 5}},
			[]Entry{{Index: 3, Term: 3}, {Index: 4, Term: 5}}, nil},
		{"gap", []Entry{{Index: 7, Term: 5}}, base, ErrUnavailable},
		{"not contiguous", []Entry{{Index: 4, Term: 4}, {Index: 6, Term: 4}}, base, ErrUnavailable},
	}
	for _, tt := range tests {
		ms := memWith(base...)
		err := ms.Append(tt.entries)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
		}
		if !reflect.DeepEqual(ms.ents, tt.want) {
			t.Errorf("%s: ents = %v, want %v", tt.name, ms.ents, tt.want)
		}
	}
}

func TestMemoryStorageTermEntries(t *testing.T) {
	ms := memWith(Entry{Index: 3, Term: 3}, Entry{Index: 4, Term: 4, Data: []byte("aa")},
		Entry{Index: 5, Term: 5, Data: []byte("bb")}, Entry{Index: 6, Term: 6, Data: []byte("cc")})
	for _, tt := range []struct {
		i       uint64
		want    uint64
		wantErr error
	}{{2, 0, ErrCompacted}, {3, 3, nil}, {6, 6, nil}, {7, 0, ErrUnavailable}} {
		got, err := ms.Term(tt.i)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("Term(%d) = %d, %v; want %d, %v", tt.i, got, err, tt.want, tt.wantErr)
		}
	}
	for _, tt := range []struct {
		lo, hi, max uint64
		wantN       int
		wantErr     error
	}{
		{3, 5, ^uint64(0), 0, ErrCompacted},
		{4, 7, ^uint64(0), 3, nil},
		{4, 7, 0, 1, nil},
		{4, 7, 4, 2, nil},
		{4, 7, 1, 1, nil},
		{4, 8, ^uint64(0), 0, ErrUnavailable},
	} {
		got, err := ms.Entries(tt.lo, tt.hi, tt.max)
		if len(got) != tt.wantN || !errors.Is(err, tt.wantErr) {
			t.Errorf("Entries(%d,%d,%d) = %d entries, %v; want %d, %v", tt.lo, tt.hi, tt.max, len(got), err, tt.wantN, tt.wantErr)
		}
	}
	if fi, _ := ms.FirstIndex(); fi != 4 {
		t.Errorf("FirstIndex = %d, want 4", fi)
	}
	if li, _ := ms.LastIndex(); li != 6 {
		t.Errorf("LastIndex = %d, want 6", li)
	}
}

func TestMemoryStorageSnapshotCompact(t *testing.T) {
	ms := memWith(Entry{Index: 3, Term: 3}, Entry{Index: 4, Term: 4}, Entry{Index: 5, Term: 5}, Entry{Index: 6, Term: 6})
	cs := &ConfState{Voters: []uint64{1, 2}}
	snap, err := ms.CreateSnapshot(5, cs, []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Meta.Index != 5 || snap.Meta.Term != 5 || !snap.Meta.ConfState.Equal(*cs) {
		t.Errorf("snapshot meta %+v", snap.Meta)
	}
	if _, err := ms.CreateSnapshot(4, cs, nil); !errors.Is(err, ErrSnapOutOfDate) {
		t.Errorf("older snapshot: %v", err)
	}
	if _, err := ms.CreateSnapshot(9, cs, nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("snapshot past last index: %v", err)
	}
	// Keep one entry after the snapshot index... compact to 4.
	if err := ms.Compact(4); err != nil {
		t.Fatal(err)
	}
	if fi, _ := ms.FirstIndex(); fi != 5 {
		t.Errorf("FirstIndex after compact = %d, want 5", fi)
	}
	if term, err := ms.Term(4); err != nil || term != 4 {
		t.Errorf("Term(4) after compact = %d, %v (kept for log matching)", term, err)
	}
	if err := ms.Compact(3); !errors.Is(err, ErrCompacted) {
		t.Errorf("compact again: %v", err)
	}
	if err := ms.Compact(9); !errors.Is(err, ErrUnavailable) {
		t.Errorf("compact past last: %v", err)
	}
	// ApplySnapshot replaces everything; older snapshots are refused.
	if err := ms.ApplySnapshot(Snapshot{Meta: SnapshotMeta{Index: 3, Term: 3}}); !errors.Is(err, ErrSnapOutOfDate) {
		t.Errorf("older ApplySnapshot: %v", err)
	}
	if err := ms.ApplySnapshot(Snapshot{Meta: SnapshotMeta{Index: 10, Term: 7, ConfState: *cs}}); err != nil {
		t.Fatal(err)
	}
	if li, _ := ms.LastIndex(); li != 10 {
		t.Errorf("LastIndex after ApplySnapshot = %d, want 10", li)
	}
	_, gotCS, _ := ms.InitialState()
	if !gotCS.Equal(*cs) {
		t.Errorf("InitialState conf = %+v", gotCS)
	}
}

func TestInflights(t *testing.T) {
	in := newInflights(3, 25)
	in.add(1, 10)
	in.add(2, 10)
	if in.full() {
		t.Fatal("full after 2 of 3 (20 of 25 bytes)")
	}
	in.add(3, 10)
	if !in.full() || in.count() != 3 || in.bytes != 30 {
		t.Fatalf("count %d bytes %d full %v", in.count(), in.bytes, in.full())
	}
	in.freeLE(2)
	if in.count() != 1 || in.bytes != 10 || in.full() {
		t.Fatalf("after freeLE(2): count %d bytes %d", in.count(), in.bytes)
	}
	for i := uint64(4); i < 100; i++ {
		in.add(i, 1)
		in.freeLE(i - 1)
		if in.count() != 1 {
			t.Fatalf("ring did not keep one element at %d", i)
		}
	}
	in.reset()
	if in.count() != 0 || in.bytes != 0 {
		t.Fatal("reset")
	}
	// Byte limit alone.
	in = newInflights(100, 25)
	in.add(1, 30)
	if !in.full() {
		t.Error("one oversized message fills the byte window")
	}
}

// TestLogStableTo: entries replaced between Ready and Advance stay unstable.
func TestLogStableTo(t *testing.T) {
	u := unstable{offset: 5, entries: []Entry{{Index: 5, Term: 1}, {Index: 6, Term: 1}}}
	u.stableTo(6, 2) // term mismatch: replaced meanwhile
	if u.offset != 5 || len(u.entries) != 2 {
		t.Fatalf("stableTo with wrong term changed the log: %+v", u)
	}
	u.stableTo(5, 1)
	if u.offset != 6 || len(u.entries) != 1 {
		t.Fatalf("stableTo(5,1): %+v", u)
	}
	u.truncateAndAppend([]Entry{{Index: 4, Term: 2}})
	if u.offset != 4 || len(u.entries) != 1 {
		t.Fatalf("truncate below offset: %+v", u)
	}
}
