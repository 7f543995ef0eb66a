package wal

import (
	"math/rand/v2"
	"testing"
	"testing/quick"

	"cairn/raft"
)

func quickConfig(t *testing.T, n int) *quick.Config {
	t.Helper()
	if testing.Short() {
		n = max(n/5, 5)
	}
	return &quick.Config{MaxCount: n, Rand: nil}
}

// TestQuickFrameRoundTrip: any payload framed with any type, segment tag
// and previous CRC decodes to the same, on an 8-byte boundary, and a frame
// never parses from a truncated copy of itself.
func TestQuickFrameRoundTrip(t *testing.T) {
	f := func(typ uint8, tag uint16, prev uint32, payload []byte) bool {
		typ = 1 + typ%typeMax
		b, crc := appendFrame(nil, typ, tag, prev, payload)
		if len(b)%8 != 0 || len(b) != frameSize(len(payload)) {
			return false
		}
		fr, err := parseFrame(b)
		if err != nil || fr.typ != typ || fr.tag != tag || fr.crc != crc || fr.prevCRC != prev || string(fr.payload) != string(payload) || fr.size != len(b) {
			return false
		}
		for cut := 0; cut < len(b); cut += 1 + len(b)/16 {
			if _, err := parseFrame(b[:cut]); err == nil {
				return false
			}
		}
		return true
	}
	if err := quick.Check(f, quickConfig(t, 500)); err != nil {
		t.Error(err)
	}
}

func randBatch(rnd *rand.Rand) batchRecord {
	r := batchRecord{Batch: 1 + rnd.Uint64N(1<<40)}
	if rnd.IntN(2) == 0 {
		r.HasState = true
		r.State = raft.HardState{Term: 1 + rnd.Uint64(), Vote: rnd.Uint64(), Commit: rnd.Uint64()}
	}
	n := rnd.IntN(20)
	if !r.HasState && n == 0 {
		n = 1
	}
	first := 1 + rnd.Uint64N(1<<50)
	term := 1 + rnd.Uint64N(1<<30)
	for i := range n {
		term += rnd.Uint64N(2)
		e := raft.Entry{Index: first + uint64(i), Term: term, Type: raft.EntryType(rnd.IntN(2))}
		if l := rnd.IntN(300); l > 0 {
			e.Data = make([]byte, l)
			for j := range e.Data {
				e.Data[j] = byte(rnd.Uint32())
			}
		}
		r.Entries = append(r.Entries, e)
	}
	return r
}

// TestQuickBatchRoundTrip compares decode(encode(r)) with r (the oracle is
// the value itself), and checks that every strict prefix fails to decode.
func TestQuickBatchRoundTrip(t *testing.T) {
	f := func(seed uint64) bool {
		rnd := rand.New(rand.NewPCG(seed, 1))
		r := randBatch(rnd)
		b := r.append(nil)
		if len(b) > r.size() {
			return false
		}
		got, err := decodeBatch(b)
		if err != nil || got.Batch != r.Batch || got.HasState != r.HasState || got.State != r.State || equalEnts(got.Entries, r.Entries) != nil {
			t.Logf("decode: %v", err)
			return false
		}
		for cut := 0; cut < len(b); cut += 1 + len(b)/20 {
			if _, err := decodeBatch(b[:cut]); err == nil {
				return false
			}
		}
		return true
	}
	if err := quick.Check(f, quickConfig(t, 500)); err != nil {
		t.Error(err)
	}
}

// TestQuickSaveReadAll drives the WAL with random Raft-like writes
// (overwrites, hard states, snapshots that match or replace the log,
// releases, reopens) at tiny segment sizes, and compares every replay with
// the naive model. It checks logic, not durability (the crash tests do
// that), so it runs with UnsafeNoFsync to afford more cases.
func TestQuickSaveReadAll(t *testing.T) {
	f := func(seed uint64, segSize uint16) bool {
		rnd := rand.New(rand.NewPCG(seed, 2))
		opts := &Options{SegmentSize: 64 + int64(segSize%2048), UnsafeNoFsync: true}
		dir := newDir(t)
		w, err := Create(dir, Metadata{MemberID: 1, ClusterID: 2}, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { w.Close() }()
		var m model
		var from SnapshotMarker
		term := uint64(1)
		check := func() bool {
			w.Close()
			var hs raft.HardState
			var ents []raft.Entry
			w, err = Open(dir, from, opts)
			if err == nil {
				_, hs, ents, err = w.ReadAll()
			}
			if err != nil {
				t.Logf("seed %d: reopen at %+v: %v", seed, from, err)
				return false
			}
			if hs != m.hs {
				t.Logf("seed %d: hard state %+v, want %+v", seed, hs, m.hs)
				return false
			}
			if err := equalEnts(ents, m.after(from.Index)); err != nil {
				t.Logf("seed %d: %v", seed, err)
				return false
			}
			return true
		}
		for op := 0; op < 60; op++ {
			switch k := rnd.IntN(20); {
			case k < 14: // save, sometimes overwriting
				last := m.lastIndex()
				first := last + 1
				if last > m.snap.Index && rnd.IntN(4) == 0 {
					first = m.snap.Index + 1 + rnd.Uint64N(last-m.snap.Index)
					term++
				}
				if first > 1 && first-1 >= m.base {
					term = max(term, m.term(first-1))
				}
				ents := mkEnts(first, rnd.IntN(6), term, rnd.IntN(80))
				hs := raft.HardState{}
				if rnd.IntN(2) == 0 || term > m.hs.Term {
					hs = m.hs
					if term > hs.Term {
						hs.Term, hs.Vote = term, 0
					}
					if hs.Vote == 0 && rnd.IntN(2) == 0 {
						hs.Vote = 1 + rnd.Uint64N(3)
					}
					hs.Commit = max(hs.Commit, m.snap.Index)
				}
				if hs.IsEmpty() && len(ents) == 0 {
					continue
				}
				if _, err := w.Save(hs, ents); err != nil {
					t.Logf("seed %d: Save: %v", seed, err)
					return false
				}
				m.save(hs, ents)
			case k < 16: // snapshot inside the log
				last := m.lastIndex()
				if last <= m.snap.Index || last <= m.base {
					continue
				}
				i := m.snap.Index + 1 + rnd.Uint64N(last-m.snap.Index)
				s := SnapshotMarker{Index: i, Term: m.term(i)}
				if err := w.SaveSnapshot(s); err != nil {
					t.Logf("seed %d: SaveSnapshot %+v: %v", seed, s, err)
					return false
				}
				m.snapshot(s)
				from = s
				if rnd.IntN(2) == 0 {
					if err := w.ReleaseBefore(s.Index); err != nil {
						t.Logf("seed %d: ReleaseBefore: %v", seed, err)
						return false
					}
				}
			case k < 17: // snapshot replacing the log
				term++
				s := SnapshotMarker{Index: m.lastIndex() + 1 + rnd.Uint64N(5), Term: term}
				if err := w.SaveSnapshot(s); err != nil {
					t.Logf("seed %d: SaveSnapshot %+v: %v", seed, s, err)
					return false
				}
				m.snapshot(s)
				from = s
			default:
				if !check() {
					return false
				}
			}
		}
		return check()
	}
	if err := quick.Check(f, quickConfig(t, 150)); err != nil {
		t.Error(err)
	}
}
