package kv

import (
	"errors"
	"testing"
)

// candidatePaths lists every path of genRequest's key space up to depth 3,
// plus the read-only ones.
func candidatePaths() []string {
	names := []string{"a", "b", "_h", "c"}
	out := []string{"/", "/0", "/1"}
	var rec func(p string, d int)
	rec = func(p string, d int) {
		if d == 0 {
			return
		}
		for _, n := range names {
			q := joinPath(p, n)
			out = append(out, q)
			rec(q, d-1)
		}
	}
	rec("/", 3)
	return out
}

func getString(ev *Event, err error) string {
	if err != nil {
		return "error " + errString(err)
	}
	return eventString(ev)
}

// TestGetAtAgainstRecordedReads records, after every applied index, what
// Get returns for every path (recursive and not): a full model of the
// store at each index. GetAt must return exactly that for every index the
// history still holds, and error 460 for the others.
func TestGetAtAgainstRecordedReads(t *testing.T) {
	seeds, steps := 5, 250
	if testing.Short() {
		seeds = 2
	}
	paths := candidatePaths()
	for _, cfg := range []Config{{}, {HistoryEvents: 60}} {
		for seed := range seeds {
			s := newTestStore(t, cfg)
			type key struct {
				idx       uint64
				p         string
				recursive bool
			}
			recorded := map[key]string{}
			record := func() {
				for _, p := range paths {
					for _, rec := range []bool{false, true} {
						recorded[key{s.Index(), p, rec}] = getString(s.Get(p, rec, true, t0))
					}
				}
			}
			record()
			for _, r := range genLog(uint64(3000+seed), steps) {
				before := s.Index()
				s.Apply(r) //nolint: failures are part of the log
				if s.Index() != before {
					record()
				}
			}
			checked := 0
			for k, want := range recorded {
				got := getString(s.GetAt(k.p, k.idx, k.recursive, true, t0))
				if k.idx+1 < s.hist.first && k.idx != s.Index() {
					var e *Error
					if _, err := s.GetAt(k.p, k.idx, k.recursive, true, t0); !errors.As(err, &e) || e.Code != EcodeIndexCompacted {
						t.Fatalf("GetAt(%s, %d) before history start %d = %v, want 460", k.p, k.idx, s.hist.first, err)
					}
					continue
				}
				checked++
				if got != want {
					t.Fatalf("cfg %+v seed %d: GetAt(%q, %d, recursive=%v):\n got %s\nwant %s", cfg, seed, k.p, k.idx, k.recursive, got, want)
				}
			}
			if checked == 0 {
				t.Fatal("nothing checked")
			}
		}
	}
}

func TestGetAtFutureIndex(t *testing.T) {
	s := newTestStore(t, Config{})
	mustApply(t, s, put("/a", "1"))
	_, err := s.GetAt("/a", 2, false, false, t0)
	var e *Error
	if !errors.As(err, &e) || e.Code != EcodeIndexCompacted || e.Index != 1 {
		t.Fatalf("GetAt future = %v", err)
	}
}
