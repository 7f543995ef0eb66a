package kv

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// t0 is the time every test request is stamped with unless it says
// otherwise.
const t0 = int64(1_700_000_000) * int64(time.Second)

func newTestStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustApply(t testing.TB, s *Store, r Request) *Event {
	t.Helper()
	if r.Time == 0 {
		r.Time = t0
	}
	ev, err := s.Apply(r)
	if err != nil {
		t.Fatalf("Apply(%+v): %v", r, err)
	}
	return ev
}

func put(p, v string) Request { return Request{Op: OpPut, Path: p, Value: v} }

func str(s string) *string { return &s }

// nodeString renders a node compactly for comparisons.
func nodeString(n *Node) string {
	if n == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s", n.Key)
	if n.Value != nil {
		fmt.Fprintf(&b, "=%q", *n.Value)
	}
	if n.Dir {
		b.WriteString(" dir")
	}
	if n.Expiration != 0 {
		fmt.Fprintf(&b, " exp=%d ttl=%d", n.Expiration-t0, n.TTL)
	}
	fmt.Fprintf(&b, " m%d c%d", n.ModifiedIndex, n.CreatedIndex)
	if len(n.Nodes) > 0 {
		b.WriteString(" [")
		for i, c := range n.Nodes {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(nodeString(c))
		}
		b.WriteString("]")
	}
	return b.String()
}

func eventString(ev *Event) string {
	if ev == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("%s %s | prev %s | i%d", ev.Action, nodeString(ev.Node), nodeString(ev.PrevNode), ev.Index)
	if ev.Refresh {
		s += " refresh"
	}
	return s
}

func errString(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return fmt.Sprintf("%d %s (%s) [%d]", e.Code, e.Message, e.Cause, e.Index)
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

const sec = int64(time.Second)

// TestApply checks every operation and every error case of spec sections
// 1.3-1.6 and 1.8 against etcd v2.3.8's store behaviour.
func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		setup   []Request
		req     Request
		want    string // eventString, if no error
		wantErr string // errString
	}{
		// 1.3 PUT without prevExist or conditions: Set.
		{name: "set new key is created", req: put("/foo", "bar"),
			want: `set /foo="bar" m1 c1 | prev <nil> | i1`},
		{name: "set replaces, createdIndex is new (1.3)", setup: []Request{put("/foo", "a")}, req: put("/foo", "b"),
			want: `set /foo="b" m2 c2 | prev /foo="a" m1 c1 | i2`},
		{name: "set empty value is present (1.4)", req: put("/foo", ""),
			want: `set /foo="" m1 c1 | prev <nil> | i1`},
		{name: "set creates intermediate directories (1.8)", req: put("/a/b/c", "x"),
			want: `set /a/b/c="x" m1 c1 | prev <nil> | i1`},
		{name: "set path is cleaned (1.1)", req: put("a//b/../c/", "x"),
			want: `set /a/c="x" m1 c1 | prev <nil> | i1`},
		{name: "set dir=true creates a directory (1.8)", req: Request{Op: OpPut, Path: "/d", Dir: true},
			want: `set /d dir m1 c1 | prev <nil> | i1`},
		{name: "set on existing directory is 102 (1.8)", setup: []Request{put("/d/x", "1")}, req: put("/d", "v"),
			wantErr: `102 Not a file (/d) [1]`},
		{name: "set dir=true over existing directory is 102 (1.6)", setup: []Request{{Op: OpPut, Path: "/d", Dir: true}},
			req: Request{Op: OpPut, Path: "/d", Dir: true}, wantErr: `102 Not a file (/d) [1]`},
		{name: "set dir=true over a file replaces it", setup: []Request{put("/f", "1")}, req: Request{Op: OpPut, Path: "/f", Dir: true},
			want: `set /f dir m2 c2 | prev /f="1" m1 c1 | i2`},
		{name: "set below a file is 104 naming the file (1.6)", setup: []Request{put("/foo", "1")}, req: put("/foo/bar/baz", "x"),
			wantErr: `104 Not a directory (/foo) [1]`},
		{name: "set root is 107 (1.3)", req: put("/", "x"), wantErr: `107 Root is read only (/) [0]`},
		{name: "set /0 is 107", req: put("/0", "x"), wantErr: `107 Root is read only (/) [0]`},
		{name: "set /1 is 107", req: put("/1/", "x"), wantErr: `107 Root is read only (/) [0]`},
		{name: "set under /1 is allowed", req: put("/1/foo", "x"), want: `set /1/foo="x" m1 c1 | prev <nil> | i1`},
		{name: "set with ttl", req: Request{Op: OpPut, Path: "/t", Value: "v", HasTTL: true, TTL: 5},
			want: `set /t="v" exp=5000000000 ttl=5 m1 c1 | prev <nil> | i1`},
		{name: "prevIndex=0 is a plain set (1.8)", setup: []Request{put("/foo", "a")}, req: Request{Op: OpPut, Path: "/foo", Value: "b", PrevIndex: 0},
			want: `set /foo="b" m2 c2 | prev /foo="a" m1 c1 | i2`},

		// Create: prevExist=false.
		{name: "create new", req: Request{Op: OpPut, Path: "/foo", Value: "x", PrevExist: PrevExistFalse},
			want: `create /foo="x" m1 c1 | prev <nil> | i1`},
		{name: "create existing is 105 (1.6)", setup: []Request{put("/foo", "a")}, req: Request{Op: OpPut, Path: "/foo", Value: "x", PrevExist: PrevExistFalse},
			wantErr: `105 Key already exists (/foo) [1]`},
		{name: "create dir (mkdir)", req: Request{Op: OpPut, Path: "/d", Dir: true, PrevExist: PrevExistFalse},
			want: `create /d dir m1 c1 | prev <nil> | i1`},
		{name: "create existing dir is 105", setup: []Request{{Op: OpPut, Path: "/d", Dir: true}}, req: Request{Op: OpPut, Path: "/d", Dir: true, PrevExist: PrevExistFalse},
			wantErr: `105 Key already exists (/d) [1]`},
		{name: "create root is 107", req: Request{Op: OpPut, Path: "/", PrevExist: PrevExistFalse}, wantErr: `107 Root is read only (/) [0]`},

		// POST: in-order create.
		{name: "post names the key by the new index (1.3)", setup: []Request{put("/x", "1"), put("/y", "2")}, req: Request{Op: OpPost, Path: "/q", Value: "job"},
			want: `create /q/00000000000000000003="job" m3 c3 | prev <nil> | i3`},
		{name: "post dir=true makes an in-order directory", req: Request{Op: OpPost, Path: "/q", Dir: true},
			want: `create /q/00000000000000000001 dir m1 c1 | prev <nil> | i1`},
		{name: "post below a file is 104", setup: []Request{put("/q", "1")}, req: Request{Op: OpPost, Path: "/q", Value: "x"},
			wantErr: `104 Not a directory (/q) [1]`},

		// Update: prevExist=true, no condition.
		{name: "update keeps createdIndex", setup: []Request{put("/foo", "a")}, req: Request{Op: OpPut, Path: "/foo", Value: "b", PrevExist: PrevExistTrue},
			want: `update /foo="b" m2 c1 | prev /foo="a" m1 c1 | i2`},
		{name: "update missing is 100", req: Request{Op: OpPut, Path: "/foo", Value: "b", PrevExist: PrevExistTrue},
			wantErr: `100 Key not found (/foo) [0]`},
		{name: "100 names the first missing component", setup: []Request{put("/a/x", "1")}, req: Request{Op: OpPut, Path: "/a/b/c", Value: "b", PrevExist: PrevExistTrue},
			wantErr: `100 Key not found (/a/b) [1]`},
		{name: "update of a directory with a value is 102 (1.6)", setup: []Request{{Op: OpPut, Path: "/d", Dir: true}}, req: Request{Op: OpPut, Path: "/d", Value: "v", PrevExist: PrevExistTrue},
			wantErr: `102 Not a file (/d) [1]`},
		{name: "directory ttl update quirk: event shows new modifiedIndex (1.4)", setup: []Request{{Op: OpPut, Path: "/d", Dir: true}},
			req:  Request{Op: OpPut, Path: "/d", Dir: true, PrevExist: PrevExistTrue, HasTTL: true, TTL: 10},
			want: `update /d dir exp=10000000000 ttl=10 m2 c1 | prev /d dir m1 c1 | i2`},
		{name: "update without ttl makes the node permanent (ttl= with prevExist)", setup: []Request{{Op: OpPut, Path: "/t", Value: "v", HasTTL: true, TTL: 5}},
			req: Request{Op: OpPut, Path: "/t", Value: "v", PrevExist: PrevExistTrue}, want: `update /t="v" m2 c1 | prev /t="v" exp=5000000000 ttl=5 m1 c1 | i2`},
		{name: "update root is 107", req: Request{Op: OpPut, Path: "/", PrevExist: PrevExistTrue}, wantErr: `107 Root is read only (/) [0]`},
		{name: "update /1 is 107", req: Request{Op: OpPut, Path: "/1", PrevExist: PrevExistTrue}, wantErr: `107 Root is read only (/) [0]`},

		// Refresh (1.8).
		{name: "refresh with prevExist keeps value, consumes an index", setup: []Request{{Op: OpPut, Path: "/t", Value: "v", HasTTL: true, TTL: 5}},
			req:  Request{Op: OpPut, Path: "/t", PrevExist: PrevExistTrue, Refresh: true, HasTTL: true, TTL: 20},
			want: `update /t="v" exp=20000000000 ttl=20 m2 c1 | prev /t="v" exp=5000000000 ttl=5 m1 c1 | i2 refresh`},
		{name: "refresh without prevExist is a set keeping the value", setup: []Request{put("/t", "v")},
			req:  Request{Op: OpPut, Path: "/t", Refresh: true, HasTTL: true, TTL: 20},
			want: `set /t="v" exp=20000000000 ttl=20 m2 c2 | prev /t="v" m1 c1 | i2 refresh`},
		{name: "refresh of a missing key is 100", req: Request{Op: OpPut, Path: "/t", Refresh: true, HasTTL: true, TTL: 20},
			wantErr: `100 Key not found (/t) [0]`},

		// CompareAndSwap.
		{name: "cas by value", setup: []Request{put("/foo", "a")}, req: Request{Op: OpPut, Path: "/foo", Value: "b", PrevValue: "a"},
			want: `compareAndSwap /foo="b" m2 c1 | prev /foo="a" m1 c1 | i2`},
		{name: "cas by index", setup: []Request{put("/foo", "a")}, req: Request{Op: OpPut, Path: "/foo", Value: "b", PrevIndex: 1},
			want: `compareAndSwap /foo="b" m2 c1 | prev /foo="a" m1 c1 | i2`},
		{name: "cas with prevExist=true and a condition", setup: []Request{put("/foo", "a")}, req: Request{Op: OpPut, Path: "/foo", Value: "b", PrevValue: "a", PrevExist: PrevExistTrue},
			want: `compareAndSwap /foo="b" m2 c1 | prev /foo="a" m1 c1 | i2`},
		{name: "cas value mismatch cause (1.6)", setup: []Request{put("/foo", "a")}, req: Request{Op: OpPut, Path: "/foo", Value: "b", PrevValue: "z"},
			wantErr: `101 Compare failed ([z != a]) [1]`},
		{name: "cas index mismatch cause", setup: []Request{put("/foo", "a")}, req: Request{Op: OpPut, Path: "/foo", Value: "b", PrevIndex: 7},
			wantErr: `101 Compare failed ([7 != 1]) [1]`},
		{name: "cas both mismatch cause", setup: []Request{put("/foo", "a")}, req: Request{Op: OpPut, Path: "/foo", Value: "b", PrevValue: "z", PrevIndex: 7},
			wantErr: `101 Compare failed ([z != a] [7 != 1]) [1]`},
		{name: "cas value ok index wrong names only the index", setup: []Request{put("/foo", "a")}, req: Request{Op: OpPut, Path: "/foo", Value: "b", PrevValue: "a", PrevIndex: 7},
			wantErr: `101 Compare failed ([7 != 1]) [1]`},
		{name: "cas on a missing key is 100 (1.8)", req: Request{Op: OpPut, Path: "/foo", Value: "b", PrevValue: "a"},
			wantErr: `100 Key not found (/foo) [0]`},
		{name: "cas on a directory is 102", setup: []Request{{Op: OpPut, Path: "/d", Dir: true}}, req: Request{Op: OpPut, Path: "/d", Value: "b", PrevIndex: 1},
			wantErr: `102 Not a file (/d) [1]`},
		{name: "cas root is 107", req: Request{Op: OpPut, Path: "/", PrevIndex: 1}, wantErr: `107 Root is read only (/) [0]`},

		// Delete.
		{name: "delete a file", setup: []Request{put("/foo", "a")}, req: Request{Op: OpDelete, Path: "/foo"},
			want: `delete /foo m2 c1 | prev /foo="a" m1 c1 | i2`},
		{name: "delete a directory without dir is 102", setup: []Request{{Op: OpPut, Path: "/d", Dir: true}}, req: Request{Op: OpDelete, Path: "/d"},
			wantErr: `102 Not a file (/d) [1]`},
		{name: "delete an empty directory with dir", setup: []Request{{Op: OpPut, Path: "/d", Dir: true}}, req: Request{Op: OpDelete, Path: "/d", Dir: true},
			want: `delete /d dir m2 c1 | prev /d dir m1 c1 | i2`},
		{name: "delete a non-empty directory is 108", setup: []Request{put("/d/x", "1")}, req: Request{Op: OpDelete, Path: "/d", Dir: true},
			wantErr: `108 Directory not empty (/d) [1]`},
		{name: "hidden children count for 108", setup: []Request{put("/d/_x", "1")}, req: Request{Op: OpDelete, Path: "/d", Dir: true},
			wantErr: `108 Directory not empty (/d) [1]`},
		{name: "recursive delete implies dir", setup: []Request{put("/d/x/y", "1")}, req: Request{Op: OpDelete, Path: "/d", Recursive: true},
			want: `delete /d dir m2 c1 | prev /d dir m1 c1 | i2`},
		{name: "delete missing is 100", req: Request{Op: OpDelete, Path: "/foo"}, wantErr: `100 Key not found (/foo) [0]`},
		{name: "delete root is 107", req: Request{Op: OpDelete, Path: "/", Recursive: true}, wantErr: `107 Root is read only (/) [0]`},
		{name: "delete below a file is 104", setup: []Request{put("/f", "1")}, req: Request{Op: OpDelete, Path: "/f/x"},
			wantErr: `104 Not a directory (/f) [1]`},

		// CompareAndDelete.
		{name: "cad by value", setup: []Request{put("/foo", "a")}, req: Request{Op: OpDelete, Path: "/foo", PrevValue: "a"},
			want: `compareAndDelete /foo m2 c1 | prev /foo="a" m1 c1 | i2`},
		{name: "cad by index mismatch", setup: []Request{put("/foo", "a")}, req: Request{Op: OpDelete, Path: "/foo", PrevIndex: 3},
			wantErr: `101 Compare failed ([3 != 1]) [1]`},
		{name: "cad on a directory is 102", setup: []Request{{Op: OpPut, Path: "/d", Dir: true}}, req: Request{Op: OpDelete, Path: "/d", PrevIndex: 1},
			wantErr: `102 Not a file (/d) [1]`},
		{name: "cad missing is 100", req: Request{Op: OpDelete, Path: "/foo", PrevValue: "a"}, wantErr: `100 Key not found (/foo) [0]`},

		// Quorum get through the log.
		{name: "qget lists sorted, hidden left out", setup: []Request{put("/d/b", "2"), put("/d/a", "1"), put("/d/_h", "h"), put("/d/c/x", "3")},
			req: Request{Op: OpGet, Path: "/d"}, want: `get /d dir m1 c1 [/d/a="1" m2 c2, /d/b="2" m1 c1, /d/c dir m4 c4] | prev <nil> | i4`},
		{name: "qget recursive", setup: []Request{put("/d/c/x", "3")},
			req: Request{Op: OpGet, Path: "/d", Recursive: true}, want: `get /d dir m1 c1 [/d/c dir m1 c1 [/d/c/x="3" m1 c1]] | prev <nil> | i1`},
		{name: "get hidden key directly", setup: []Request{put("/_h", "h")}, req: Request{Op: OpGet, Path: "/_h"},
			want: `get /_h="h" m1 c1 | prev <nil> | i1`},
		{name: "get missing is 100", req: Request{Op: OpGet, Path: "/nope"}, wantErr: `100 Key not found (/nope) [0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t, Config{Namespaces: []string{"/0", "/1"}})
			for _, r := range tt.setup {
				mustApply(t, s, r)
			}
			before := s.Index()
			r := tt.req
			r.Time = t0
			ev, err := s.Apply(r)
			if got := errString(err); got != tt.wantErr {
				t.Fatalf("error = %q, want %q", got, tt.wantErr)
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v is not a *Error", err)
				}
				if s.Index() != before {
					t.Errorf("failed op consumed an index: %d -> %d", before, s.Index())
				}
				return
			}
			if got := eventString(ev); got != tt.want {
				t.Errorf("event:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestIsCreated checks the 201-vs-200 rule of spec 1.5.
func TestIsCreated(t *testing.T) {
	s := newTestStore(t, Config{})
	tests := []struct {
		req  Request
		want bool
	}{
		{put("/a", "1"), true},
		{put("/a", "2"), false},
		{Request{Op: OpPut, Path: "/b", PrevExist: PrevExistFalse}, true},
		{Request{Op: OpPost, Path: "/q"}, true},
		{Request{Op: OpPut, Path: "/a", PrevExist: PrevExistTrue, Value: "3"}, false},
		{Request{Op: OpDelete, Path: "/a"}, false},
	}
	for _, tt := range tests {
		if got := mustApply(t, s, tt.req).IsCreated(); got != tt.want {
			t.Errorf("%+v: IsCreated = %v, want %v", tt.req, got, tt.want)
		}
	}
}

// TestIntermediateDirs checks spec 1.8: intermediate directories are
// permanent and indexed with the new index, and read-only paths stay.
func TestIntermediateDirs(t *testing.T) {
	s := newTestStore(t, Config{})
	mustApply(t, s, put("/x", "0"))
	mustApply(t, s, Request{Op: OpPut, Path: "/a/b/c", Value: "v", HasTTL: true, TTL: 3})
	ev, err := s.Get("/", true, true, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := `get / dir m0 c0 [/0 dir m0 c0, /1 dir m0 c0, /a dir m2 c2 [/a/b dir m2 c2 [/a/b/c="v" exp=3000000000 ttl=3 m2 c2]], /x="0" m1 c1] | prev <nil> | i2`
	if got := eventString(ev); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// TTL is computed against the caller's time, rounded up.
	ev, _ = s.Get("/a/b/c", false, false, t0+1500*int64(time.Millisecond))
	if ev.Node.TTL != 2 {
		t.Errorf("TTL at t0+1.5s = %d, want 2", ev.Node.TTL)
	}
	if tm, ok := ev.Node.ExpirationTime(); !ok || tm.UnixNano() != t0+3*sec {
		t.Errorf("ExpirationTime = %v %v", tm, ok)
	}
}

// TestExpire checks deterministic expiry: order, one index per node,
// directory subtrees, NextExpiry, ttl=0 and making a node permanent.
func TestExpire(t *testing.T) {
	s := newTestStore(t, Config{})
	if _, ok := s.NextExpiry(); ok {
		t.Fatal("NextExpiry on an empty store")
	}
	mustApply(t, s, Request{Op: OpPut, Path: "/b", Value: "b", HasTTL: true, TTL: 2})     // 1
	mustApply(t, s, Request{Op: OpPut, Path: "/a", Value: "a", HasTTL: true, TTL: 2})     // 2
	mustApply(t, s, Request{Op: OpPut, Path: "/d", Dir: true, HasTTL: true, TTL: 1})      // 3
	mustApply(t, s, put("/d/x", "x"))                                                     // 4
	mustApply(t, s, Request{Op: OpPut, Path: "/p", Value: "p", HasTTL: true, TTL: 1})     // 5
	mustApply(t, s, Request{Op: OpPut, Path: "/p", Value: "p", PrevExist: PrevExistTrue}) // 6: permanent again
	mustApply(t, s, Request{Op: OpPut, Path: "/z", Value: "z", HasTTL: true, TTL: 0})     // 7: due at once
	if got, ok := s.NextExpiry(); !ok || got != t0 {
		t.Fatalf("NextExpiry = %d %v, want t0", got-t0, ok)
	}
	var evs []string
	w, err := s.Watch("/", true, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := mustApply(t, s, Request{Op: OpExpire, Time: t0 + 1*sec})
	if last == nil || last.Node.Key != "/d" {
		t.Fatalf("last expire event = %v", eventString(last))
	}
	mustApply(t, s, Request{Op: OpExpire, Time: t0 + 5*sec})
	if ev := mustApply(t, s, Request{Op: OpExpire, Time: t0 + 6*sec}); ev != nil {
		t.Errorf("expire with nothing due returned %v", eventString(ev))
	}
	w.Remove()
	for ev := range w.Events() {
		evs = append(evs, eventString(ev))
	}
	want := []string{
		`expire /z m8 c7 | prev /z="z" exp=0 ttl=-1 m7 c7 | i8`,
		`expire /d dir m9 c3 | prev /d dir exp=1000000000 ttl=0 m3 c3 | i9`,
		`expire /a m10 c2 | prev /a="a" exp=2000000000 ttl=-3 m2 c2 | i10`,
		`expire /b m11 c1 | prev /b="b" exp=2000000000 ttl=-3 m1 c1 | i11`,
	}
	if strings.Join(evs, "\n") != strings.Join(want, "\n") {
		t.Errorf("expire events:\n%s\nwant:\n%s", strings.Join(evs, "\n"), strings.Join(want, "\n"))
	}
	if _, ok := s.NextExpiry(); ok {
		t.Error("NextExpiry after everything expired")
	}
	if _, err := s.Get("/p", false, false, t0); err != nil {
		t.Errorf("permanent-again /p expired: %v", err)
	}
	if st := s.Stats(); st.ExpireCount != 4 {
		t.Errorf("ExpireCount = %d", st.ExpireCount)
	}
}

func TestStats(t *testing.T) {
	s := newTestStore(t, Config{})
	reqs := []Request{
		put("/a", "1"), put("/", "x"),
		{Op: OpPut, Path: "/a", PrevExist: PrevExistFalse}, {Op: OpPut, Path: "/b", PrevExist: PrevExistFalse},
		{Op: OpPut, Path: "/a", PrevExist: PrevExistTrue}, {Op: OpPut, Path: "/n", PrevExist: PrevExistTrue},
		{Op: OpPut, Path: "/a", PrevValue: "x"}, {Op: OpPut, Path: "/a", PrevIndex: 1, PrevValue: ""},
		{Op: OpDelete, Path: "/b", PrevValue: "q"}, {Op: OpDelete, Path: "/b", PrevValue: ""},
		{Op: OpDelete, Path: "/zz"}, {Op: OpGet, Path: "/zz"},
	}
	for _, r := range reqs {
		r.Time = t0
		s.Apply(r) //nolint: errors are the point
	}
	s.Get("/a", false, false, t0)
	got := s.Stats()
	want := Stats{GetsSuccess: 1, GetsFail: 1, SetsSuccess: 1, SetsFail: 1, CreateSuccess: 1, CreateFail: 1,
		UpdateSuccess: 1, UpdateFail: 1, CompareAndSwapSuccess: 0, CompareAndSwapFail: 2,
		CompareAndDeleteFail: 1, DeleteSuccess: 1, DeleteFail: 1}
	// The update at index 4 moved /a's modifiedIndex, so prevIndex=1 fails.
	if got != want {
		t.Errorf("Stats =\n%+v\nwant\n%+v", got, want)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{HistoryEvents: -1},
		{Namespaces: []string{"/a/b"}},
		{Namespaces: []string{"/"}},
		{Namespaces: []string{"x"}},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}

// TestStaleTTLEntriesBounded: refreshing a TTL key many times leaves stale
// heap entries, which are rebuilt away; history compaction reuses memory.
func TestStaleTTLEntriesBounded(t *testing.T) {
	s := newTestStore(t, Config{HistoryEvents: 10})
	for i := range 5000 {
		mustApply(t, s, Request{Op: OpPut, Path: "/t", Value: "v", HasTTL: true, TTL: 100 + int64(i)})
	}
	if len(s.ttl) > 2*1+1024+1 {
		t.Errorf("ttl heap holds %d entries for one TTL key", len(s.ttl))
	}
	if got, ok := s.NextExpiry(); !ok || got != t0+5099*sec {
		t.Errorf("NextExpiry = %d %v", got-t0, ok)
	}
	if s.hist.len() != 10 || len(s.hist.recs) > 2100 || s.hist.first != 4991 {
		t.Errorf("history: %d retained, %d slots, first %d", s.hist.len(), len(s.hist.recs), s.hist.first)
	}
	var e *Error
	_, err := s.Apply(Request{Op: OpPut, Path: "/", Time: t0})
	if !errors.As(err, &e) || e.Error() != "kv: 107: Root is read only (/) [5000]" {
		t.Errorf("Error() = %v", err)
	}
}
