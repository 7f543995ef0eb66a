package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"cairn/kv"
)

// snapshotKeys lists every visible node under the user key space as
// key -> value@modifiedIndex (directories as "dir@N").
func snapshotKeys(t *testing.T, f *fakeBackend) map[string]string {
	t.Helper()
	ev, err := f.store.Get(keysPrefix, true, true, f.now)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	out := map[string]string{}
	var walk func(n *kv.Node)
	walk = func(n *kv.Node) {
		for _, c := range n.Nodes {
			v := "dir"
			if c.Value != nil {
				v = "=" + *c.Value
			}
			out[c.Key] = v + "@" + time.Duration(c.ModifiedIndex).String()
			walk(c)
		}
	}
	walk(ev.Node)
	return out
}

// related reports whether a write addressed to store path p may change
// node k: k is p, below p, or an ancestor directory of p.
func related(p, k string) bool {
	return k == p || strings.HasPrefix(k, p+"/") || strings.HasPrefix(p, k+"/")
}

var fuzzMethods = []string{"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"}

// FuzzKeysRequest sends arbitrary methods, paths, query strings and bodies
// (every parameter of spec 1.2 is reachable) to a handler over a populated
// store. No input may panic, and a request may change only the key it
// addresses, its subtree and its parent directories.
func FuzzKeysRequest(f *testing.F) {
	seeds := []struct {
		m          uint8
		p, q, body string
	}{
		{2, "/v2/keys/a", "", "value=1"},
		{2, "/v2/keys/d/x", "prevValue=2&prevIndex=2", "value=3&ttl=5"},
		{2, "/v2/keys/d", "", "dir=true&prevExist=true&ttl="},
		{3, "/v2/keys/q", "", "value=job&ttl=10"},
		{4, "/v2/keys/d", "recursive=true&dir=true", ""},
		{4, "/v2/keys/a", "prevValue=1&prevIndex=1", ""},
		{0, "/v2/keys/d", "recursive=true&sorted=true&quorum=false", ""},
		{0, "/v2/keys/a", "wait=true&waitIndex=1&stream=true", ""},
		{2, "/v2/keys/a", "refresh=true&ttl=5&prevExist=true&noValueOnSuccess=true", ""},
		{2, "/v2/keys/", "", "value=root"},
		{2, "/v2/keys/a//b/../c", "", "value=x"},
		{0, "/v2/keys/a", "atIndex=1&waitApplied=1", ""},
		{2, "/v2/keys/%zz", "%zz", "%zz"},
		{2, "/v2/keys/a", "ttl=-1&prevIndex=x&recursive=maybe", "value=1&value=2"},
		{1, "/v2/members", "", `{"peerURLs":["http://x:1"]}`},
	}
	for _, s := range seeds {
		f.Add(s.m, s.p, s.q, s.body)
	}
	f.Fuzz(func(t *testing.T, m uint8, p, q, body string) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		u := &url.URL{Scheme: "http", Host: "x", Path: p, RawQuery: q}
		req, err := http.NewRequestWithContext(context.Background(), method, u.String(), strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		fb := newFake()
		for _, r := range []kv.Request{
			{Op: kv.OpPut, Path: "/1/a", Value: "1"},
			{Op: kv.OpPut, Path: "/1/d/x", Value: "2"},
			{Op: kv.OpPut, Path: "/1/d/_h", Value: "3"},
			{Op: kv.OpPut, Path: "/1/e", Dir: true},
			{Op: kv.OpPut, Path: "/1/t", Value: "4", HasTTL: true, TTL: 100},
		} {
			r.Time = fb.now
			if _, err := fb.store.Apply(r); err != nil {
				t.Fatal(err)
			}
		}
		before := snapshotKeys(t, fb)
		h := New(fb, Options{Timeout: 10 * time.Millisecond, MaxRequestBytes: 1 << 16})
		h.Close() // watches answer their headers and end at once
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(httptest.NewRecorder(), req)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s %s?%s [%s]: no answer within 5s", method, p, q, body)
		}
		after := snapshotKeys(t, fb)

		addressed := ""
		if rp := req.URL.Path; (rp == "/v2/keys" || strings.HasPrefix(rp, "/v2/keys/")) && cleanPath(rp) == rp {
			addressed = path.Join(keysPrefix, path.Clean("/"+strings.TrimPrefix(rp, "/v2/keys")))
		}
		for k, v := range before {
			if after[k] != v && (addressed == "" || !related(addressed, k)) {
				t.Fatalf("%s %s?%s [%s] changed %s: %q -> %q (addressed %q)", method, p, q, body, k, v, after[k], addressed)
			}
		}
		for k, v := range after {
			if _, ok := before[k]; !ok && (addressed == "" || !related(addressed, k)) {
				t.Fatalf("%s %s?%s [%s] created %s=%q (addressed %q)", method, p, q, body, k, v, addressed)
			}
		}
	})
}
