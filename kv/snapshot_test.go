package kv

import (
	"bytes"
	"errors"
	"testing"
)

func saveBytes(t testing.TB, s *Store) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := s.Save(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func applyAll(s *Store, reqs []Request) {
	for _, r := range reqs {
		s.Apply(r) //nolint: failed requests are part of the log
	}
}

// TestDeterminism: two stores fed the same requests (expiries included)
// write byte-identical snapshots, and snapshot + restore + rest of the log
// equals the whole log, for every split point tried.
func TestDeterminism(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 8
	}
	for _, cfg := range []Config{{}, {HistoryEvents: 50}, {HistoryBytes: 8 << 10}} {
		for seed := range seeds {
			log := genLog(uint64(1000+seed), 400)
			a, b := newTestStore(t, cfg), newTestStore(t, cfg)
			applyAll(a, log)
			applyAll(b, log)
			want := saveBytes(t, a)
			if got := saveBytes(t, b); !bytes.Equal(got, want) {
				t.Fatalf("cfg %+v seed %d: snapshots of identical logs differ", cfg, seed)
			}
			for _, k := range []int{0, 1, 137, 399, 400} {
				p := newTestStore(t, cfg)
				applyAll(p, log[:k])
				snap := saveBytes(t, p)
				c := newTestStore(t, cfg)
				if err := c.Restore(bytes.NewReader(snap)); err != nil {
					t.Fatalf("restore: %v", err)
				}
				if got := saveBytes(t, c); !bytes.Equal(got, snap) {
					t.Fatalf("cfg %+v seed %d k %d: save(restore(x)) != x", cfg, seed, k)
				}
				applyAll(c, log[k:])
				if got := saveBytes(t, c); !bytes.Equal(got, want) {
					t.Fatalf("cfg %+v seed %d k %d: restore + rest of log differs from whole log", cfg, seed, k)
				}
				if dumpStore(c) != dumpStore(a) || replicatedStats(c) != replicatedStats(a) {
					t.Fatalf("seed %d k %d: state or counters differ", seed, k)
				}
				if na, oka := a.NextExpiry(); true {
					if nc, okc := c.NextExpiry(); na != nc || oka != okc {
						t.Fatalf("seed %d k %d: NextExpiry %d/%v vs %d/%v", seed, k, na, oka, nc, okc)
					}
				}
			}
		}
	}
}

// TestSaveDuringApplies writes snapshots in tiny chunks while requests are
// applied between chunks; each must equal the snapshot of a store that
// stopped at the index where Save began.
func TestSaveDuringApplies(t *testing.T) {
	old := saveChunk
	t.Cleanup(func() { saveChunk = old })
	seeds := 30
	if testing.Short() {
		seeds = 8
	}
	for run := range seeds * 3 {
		seed := run / 3
		saveChunk = []int{1, 3, 17}[run%3]
		log := genLog(uint64(2000+seed), 600)
		split := 300
		ref := newTestStore(t, Config{})
		applyAll(ref, log[:split])
		want := saveBytes(t, ref)

		s := newTestStore(t, Config{HistoryEvents: 40})
		applyAll(s, log[:split])
		rest := log[split:]
		s.afterSaveChunk = func() {
			for range 5 {
				if len(rest) > 0 {
					s.Apply(rest[0]) //nolint: part of the log
					rest = rest[1:]
				}
			}
		}
		// The reference keeps a 40-event window too, for equal bytes.
		ref2 := newTestStore(t, Config{HistoryEvents: 40})
		applyAll(ref2, log[:split])
		want = saveBytes(t, ref2)
		got := saveBytes(t, s)
		if !bytes.Equal(got, want) {
			t.Fatalf("seed %d: snapshot taken during applies differs from the state at its start", seed)
		}
		if saveChunk == 1 && len(rest) == len(log[split:]) {
			t.Fatalf("seed %d: no applies happened during Save", seed)
		}
		_ = ref
	}
}

func TestRestoreRejectsGarbage(t *testing.T) {
	s := newTestStore(t, Config{})
	applyAll(s, genLog(7, 200))
	good := saveBytes(t, s)
	before := dumpStore(s)
	for _, bad := range [][]byte{nil, []byte("CKVS"), good[:len(good)-1], append(append([]byte{}, good...), 0), []byte("XXXX\x01")} {
		if err := s.Restore(bytes.NewReader(bad)); !errors.Is(err, ErrDecode) {
			t.Errorf("Restore(%d bytes) = %v, want ErrDecode", len(bad), err)
		}
	}
	// Flip bytes: must never panic, and the store stays unchanged on error.
	for i := 5; i < len(good); i += 7 {
		b := append([]byte{}, good...)
		b[i] ^= 0x5a
		if err := s.Restore(bytes.NewReader(b)); err != nil && dumpStore(s) != before {
			t.Fatalf("failed Restore changed the store")
		} else if err == nil {
			// Accepted mutation: put the good state back.
			if err := s.Restore(bytes.NewReader(good)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestRestoreEndsWatchers(t *testing.T) {
	s := newTestStore(t, Config{})
	mustApply(t, s, put("/a", "1"))
	snap := saveBytes(t, s)
	w, err := s.Watch("/a", false, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-w.Events(); ok || !errors.Is(w.Err(), ErrStoreReset) {
		t.Errorf("watcher after Restore: err %v", w.Err())
	}
}

// replicatedStats drops the local (get and watcher) counters.
func replicatedStats(s *Store) Stats {
	st := s.Stats()
	st.GetsSuccess, st.GetsFail, st.Watchers = 0, 0, 0
	return st
}

// FuzzRestore: Restore never panics on hostile input, and whatever it
// accepts saves back to the same bytes and stays usable.
func FuzzRestore(f *testing.F) {
	for _, n := range []int{0, 30, 120} {
		s := newTestStore(f, Config{})
		applyAll(s, genLog(uint64(n), n))
		var b bytes.Buffer
		if err := s.Save(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newTestStore(t, Config{})
		if err := s.Restore(bytes.NewReader(data)); err != nil {
			return
		}
		applyAll(s, genLog(5, 30))
		var b bytes.Buffer
		if err := s.Save(&b); err != nil {
			t.Fatal(err)
		}
		for _, p := range candidatePaths()[:10] {
			s.GetAt(p, s.Index()-min(s.Index(), 10), true, true, t0) //nolint: any result
		}
	})
}
