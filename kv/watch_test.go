package kv

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// drain reads what is buffered on w without blocking.
func drain(w *Watcher) []string {
	var out []string
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				return append(out, "closed: "+w.Err().Error())
			}
			out = append(out, ev.Action+" "+ev.Node.Key+fmt.Sprintf(" i%d", ev.Index))
		default:
			return out
		}
	}
}

func mustWatch(t *testing.T, s *Store, p string, recursive, stream bool, since uint64) *Watcher {
	t.Helper()
	w, err := s.Watch(p, recursive, stream, since)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Remove)
	return w
}

// TestWatchMatching checks the matching rules of spec 1.7 on live events.
func TestWatchMatching(t *testing.T) {
	tests := []struct {
		name      string
		setup     []Request
		watch     string
		recursive bool
		reqs      []Request
		want      string
	}{
		{name: "rule a: the key itself", watch: "/foo", reqs: []Request{put("/bar", "1"), put("/foo", "1")},
			want: "set /foo i2|closed: kv: watcher delivered its event"},
		{name: "rule b: recursive subtree", watch: "/d", recursive: true, reqs: []Request{put("/dx", "1"), put("/d/x/y", "1")},
			want: "set /d/x/y i2|closed: kv: watcher delivered its event"},
		{name: "non-recursive watch on a directory ignores children", setup: []Request{put("/d/x", "0")}, watch: "/d",
			reqs: []Request{put("/d/x", "1"), put("/d/y", "1")}, want: ""},
		{name: "rule c: delete of an ancestor directory (obs: /wd/x/y gets delete /wd)", setup: []Request{put("/wd/x/y", "0")},
			watch: "/wd/x/y", reqs: []Request{{Op: OpDelete, Path: "/wd", Recursive: true}},
			want: "delete /wd i2|closed: kv: watcher delivered its event"},
		{name: "rule c: expire of an ancestor directory", setup: []Request{{Op: OpPut, Path: "/wd", Dir: true, HasTTL: true, TTL: 1}, put("/wd/x", "0")},
			watch: "/wd/x", reqs: []Request{{Op: OpExpire, Time: t0 + 2*sec}},
			want: "expire /wd i3|closed: kv: watcher delivered its event"},
		{name: "rule c: not for a watched path that was not a node (obs)", setup: []Request{put("/ne/x", "0")},
			watch: "/ne/ghost", reqs: []Request{{Op: OpDelete, Path: "/ne", Recursive: true}, put("/ne/ghost", "1")},
			want: "set /ne/ghost i3|closed: kv: watcher delivered its event"},
		{name: "a file delete does not fire watchers below it", setup: []Request{put("/f", "0")}, watch: "/f/x",
			reqs: []Request{{Op: OpDelete, Path: "/f"}}, want: ""},
		{name: "hidden below the watched path is skipped", watch: "/d", recursive: true,
			reqs: []Request{put("/d/_h", "1"), put("/d/x/_h", "1"), put("/d/ok", "1")},
			want: "set /d/ok i3|closed: kv: watcher delivered its event"},
		{name: "hidden watched exactly fires", watch: "/d/_h", reqs: []Request{put("/d/_h", "1")},
			want: "set /d/_h i1|closed: kv: watcher delivered its event"},
		{name: "refresh never notifies", setup: []Request{{Op: OpPut, Path: "/t", Value: "v", HasTTL: true, TTL: 5}}, watch: "/t",
			reqs: []Request{{Op: OpPut, Path: "/t", PrevExist: PrevExistTrue, Refresh: true, HasTTL: true, TTL: 9}}, want: ""},
		{name: "failed operations do not notify", watch: "/foo",
			reqs: []Request{{Op: OpPut, Path: "/foo", PrevExist: PrevExistTrue}}, want: ""},
		{name: "root recursive sees everything", watch: "/", recursive: true, reqs: []Request{put("/a/b", "1")},
			want: "set /a/b i1|closed: kv: watcher delivered its event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t, Config{})
			for _, r := range tt.setup {
				mustApply(t, s, r)
			}
			w := mustWatch(t, s, tt.watch, tt.recursive, false, 0)
			for _, r := range tt.reqs {
				if r.Time == 0 {
					r.Time = t0
				}
				s.Apply(r) //nolint: failures are part of some cases
			}
			if got := strings.Join(drain(w), "|"); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestWatchHistoryHidden: unlike live delivery, a history scan returns
// events on hidden keys below a recursive watch and applies rule c by
// string prefix, as etcd 3.4's EventHistory.scan does (observed by
// httpapi/conformance).
func TestWatchHistoryHidden(t *testing.T) {
	s := newTestStore(t, Config{})
	mustApply(t, s, put("/d/_h", "1"))
	mustApply(t, s, put("/d/ok", "1"))
	mustApply(t, s, put("/ab/x", "1"))
	mustApply(t, s, put("/abc", "1"))
	mustApply(t, s, Request{Op: OpDelete, Path: "/ab", Recursive: true, Time: t0})
	tests := []struct {
		name      string
		p         string
		recursive bool
		since     uint64
		want      string
	}{
		{"recursive from history", "/d", true, 1, "set /d/_h i1|closed: kv: watcher delivered its event"},
		{"non-recursive from history", "/d", false, 1, ""},
		{"rule c by string prefix (obs)", "/abc", false, 5, "delete /ab i5|closed: kv: watcher delivered its event"},
		{"rule c for a path that was never a node", "/ab/ghost", false, 5, "delete /ab i5|closed: kv: watcher delivered its event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := mustWatch(t, s, tt.p, tt.recursive, false, tt.since)
			if got := strings.Join(drain(w), "|"); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestWatchStreamOrderNoGaps: a stream watcher sees every matching event
// in index order, history first and then live, without gaps or repeats.
func TestWatchStreamOrderNoGaps(t *testing.T) {
	s := newTestStore(t, Config{WatcherBuffer: 1000})
	for i := range 50 {
		mustApply(t, s, put(fmt.Sprintf("/k/%d", i%7), "v"))
	}
	w := mustWatch(t, s, "/k", true, true, 10)
	for i := range 50 {
		mustApply(t, s, put(fmt.Sprintf("/k/%d", i%7), "v"))
	}
	got := drain(w)
	if len(got) != 91 {
		t.Fatalf("got %d events, want 91", len(got))
	}
	for i, g := range got {
		if !strings.HasSuffix(g, fmt.Sprintf(" i%d", 10+i)) {
			t.Fatalf("event %d = %q, want index %d", i, g, 10+i)
		}
	}
	if w.StartIndex != 50 {
		t.Errorf("StartIndex = %d, want 50", w.StartIndex)
	}
}

// TestWatchHistory checks waitIndex handling (spec 1.7): the first match
// at or after the index is answered at once; an index beyond the last
// blocks; a compacted index is 401 with etcd's cause.
func TestWatchHistory(t *testing.T) {
	s := newTestStore(t, Config{HistoryEvents: 1000})
	for range 1075 {
		mustApply(t, s, put("/foo", "v"))
	}
	// Obs: after writes up to index 1075 with 1000 kept, waitIndex=8 gives [76/8].
	_, err := s.Watch("/foo", false, false, 8)
	var e *Error
	if !errors.As(err, &e) || e.Code != EcodeEventIndexCleared || e.Cause != "the requested history has been cleared [76/8]" || e.Index != 1075 {
		t.Fatalf("Watch(8) = %v", err)
	}
	w := mustWatch(t, s, "/foo", false, false, 76)
	if got := drain(w); len(got) != 2 || got[0] != "set /foo i76" {
		t.Errorf("Watch(76) = %q", got)
	}
	w = mustWatch(t, s, "/other", false, false, 100)
	if got := drain(w); len(got) != 0 {
		t.Errorf("no match in history must wait, got %q", got)
	}
	mustApply(t, s, put("/other", "x"))
	if got := drain(w); len(got) != 2 || got[0] != "set /other i1076" {
		t.Errorf("after live event: %q", got)
	}
	w = mustWatch(t, s, "/foo", false, false, 2000)
	mustApply(t, s, put("/foo", "x"))
	if got := drain(w); len(got) != 0 {
		t.Errorf("waitIndex beyond the next index fired early: %q", got)
	}
	// Ancestor deletes are matched from history too.
	mustApply(t, s, put("/wd/x/y", "1"))
	del := mustApply(t, s, Request{Op: OpDelete, Path: "/wd", Recursive: true})
	w = mustWatch(t, s, "/wd/x/y", false, false, del.Index)
	if got := drain(w); len(got) != 2 || got[0] != fmt.Sprintf("delete /wd i%d", del.Index) {
		t.Errorf("history ancestor delete: %q", got)
	}
}

// TestWatchHistoryBytesBound: the history is bounded by bytes as well.
func TestWatchHistoryBytesBound(t *testing.T) {
	s := newTestStore(t, Config{HistoryBytes: 64 << 10})
	big := strings.Repeat("x", 1024)
	for range 200 {
		mustApply(t, s, put("/big", big))
	}
	if n := s.hist.len(); n >= 200 || n < 20 {
		t.Fatalf("history holds %d events of 1 KiB under a 64 KiB bound", n)
	}
	if s.hist.bytes > 64<<10 {
		t.Fatalf("history bytes %d over bound", s.hist.bytes)
	}
}

// TestSlowWatcherDropped: a stream watcher that never reads is dropped
// with a clear end once its buffer is full, and neither blocks applies nor
// disturbs a reading watcher.
func TestSlowWatcherDropped(t *testing.T) {
	s := newTestStore(t, Config{WatcherBuffer: 8})
	slow := mustWatch(t, s, "/k", true, true, 0)
	fast := mustWatch(t, s, "/k", true, true, 0)
	var got int
	start := time.Now()
	for i := range 1000 {
		mustApply(t, s, put(fmt.Sprintf("/k/%d", i), "v"))
		for range fast.Events() {
			got++
			break
		}
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("applies stalled")
	}
	if got != 1000 {
		t.Errorf("fast watcher got %d events, want 1000", got)
	}
	n := 0
	for range slow.Events() {
		n++
	}
	if n != 8 || !errors.Is(slow.Err(), ErrWatcherOverflow) {
		t.Errorf("slow watcher: %d events then %v, want 8 then overflow", n, slow.Err())
	}
	if st := s.Stats(); st.Watchers != 1 {
		t.Errorf("Watchers = %d, want 1", st.Watchers)
	}
}

func TestWatcherRemove(t *testing.T) {
	s := newTestStore(t, Config{})
	w := mustWatch(t, s, "/a/b/c", true, true, 0)
	if st := s.Stats(); st.Watchers != 1 {
		t.Fatalf("Watchers = %d", st.Watchers)
	}
	w.Remove()
	w.Remove()
	if _, ok := <-w.Events(); ok || !errors.Is(w.Err(), ErrWatcherRemoved) {
		t.Errorf("after Remove: %v", w.Err())
	}
	if st := s.Stats(); st.Watchers != 0 || len(s.hub.root.kids) != 0 {
		t.Errorf("watcher trie not pruned: %d watchers, %d root kids", st.Watchers, len(s.hub.root.kids))
	}
}

// liveMatches is the naive oracle of live delivery: the key itself, a
// recursive watch's subtree minus hidden keys below the watched path, and
// for a directory delete or expire, watchers on nodes of the removed
// subtree.
func liveMatches(rec *record, p string, recursive bool) bool {
	ev := rec.ev
	key := ev.Node.Key
	switch {
	case ev.Refresh:
		return false
	case key == p:
		return true
	case recursive && isUnder(key, p):
		return !isHiddenBelow(p, key)
	case isDirRemoval(ev) && isUnder(p, key):
		d := rec.removed
		for _, seg := range strings.Split(strings.TrimPrefix(p[len(key):], "/"), "/") {
			if d == nil || d.kids == nil {
				return false
			}
			d = d.kids.get(seg)
		}
		return d != nil
	}
	return false
}

// TestWatchOrderingProperty compares stream watchers on random paths with
// a naive filter of the full event log (liveMatches).
func TestWatchOrderingProperty(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 5
	}
	paths := candidatePaths()
	for seed := range seeds {
		s := newTestStore(t, Config{WatcherBuffer: 10000})
		type sub struct {
			w         *Watcher
			p         string
			recursive bool
		}
		var subs []sub
		for i, p := range paths {
			subs = append(subs, sub{mustWatch(t, s, p, i%2 == 0, true, 0), p, i%2 == 0})
		}
		var all []*record
		for _, r := range genLog(uint64(4000+seed), 300) {
			before := s.Index()
			s.Apply(r) //nolint: part of the log
			for i := before + 1; i <= s.Index(); i++ {
				all = append(all, s.hist.at(i))
			}
		}
		for _, sb := range subs {
			var want []string
			for _, rec := range all {
				if ev := rec.ev; liveMatches(rec, sb.p, sb.recursive) {
					want = append(want, ev.Action+" "+ev.Node.Key+fmt.Sprintf(" i%d", ev.Index))
				}
			}
			if got := drain(sb.w); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("seed %d watch %s rec=%v:\n got %q\nwant %q", seed, sb.p, sb.recursive, got, want)
			}
		}
	}
}
