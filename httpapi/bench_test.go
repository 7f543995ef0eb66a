package httpapi

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"cairn/kv"
)

// benchWriter is the least a handler needs: a header map, the status and
// the body, all reused between requests.
type benchWriter struct {
	hd   http.Header
	code int
	body bytes.Buffer
}

func (w *benchWriter) Header() http.Header { return w.hd }
func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(p)
}

func (w *benchWriter) reset() {
	clear(w.hd)
	w.code = 0
	w.body.Reset()
}

// benchServe serves the same request b.N times; body, if not empty, is the
// form body sent each time.
func benchServe(b *testing.B, h *Handler, method, target, body string, wantCode int) {
	b.Helper()
	u, err := url.Parse(target)
	if err != nil {
		b.Fatal(err)
	}
	r := &http.Request{Method: method, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Host: "localhost", RemoteAddr: "192.0.2.1:1234"}
	var rd strings.Reader
	if body != "" {
		r.Header["Content-Type"] = []string{"application/x-www-form-urlencoded"}
	}
	w := &benchWriter{hd: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		r.Form, r.PostForm = nil, nil
		if body != "" {
			rd.Reset(body)
			r.Body = readCloser{&rd}
			r.ContentLength = int64(len(body))
		}
		h.ServeHTTP(w, r)
		if w.code != wantCode {
			b.Fatalf("status %d, want %d: %s", w.code, wantCode, w.body.String())
		}
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func BenchmarkServeKeysPut(b *testing.B) {
	f := newFake()
	if _, err := f.Propose(b.Context(), kv.Request{Op: kv.OpPut, Path: "/1/bench/key", Value: "first"}); err != nil {
		b.Fatal(err)
	}
	benchServe(b, New(f, Options{}), http.MethodPut, "/v2/keys/bench/key", "value=some+value", http.StatusOK)
}

func BenchmarkServeKeysGet(b *testing.B) {
	f := newFake()
	if _, err := f.Propose(b.Context(), kv.Request{Op: kv.OpPut, Path: "/1/bench/key", Value: "some value"}); err != nil {
		b.Fatal(err)
	}
	benchServe(b, New(f, Options{}), http.MethodGet, "/v2/keys/bench/key", "", http.StatusOK)
}

func BenchmarkServeKeysGetDir(b *testing.B) {
	f := newFake()
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		req := kv.Request{Op: kv.OpPut, Path: "/1/bench/" + k, Value: "value " + k}
		if k == "c" {
			req.HasTTL, req.TTL = true, 100
		}
		if _, err := f.Propose(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
	benchServe(b, New(f, Options{}), http.MethodGet, "/v2/keys/bench?recursive=true", "", http.StatusOK)
}

func BenchmarkServeKeysNotFound(b *testing.B) {
	benchServe(b, New(newFake(), Options{}), http.MethodGet, "/v2/keys/bench/missing", "", http.StatusNotFound)
}

// BenchmarkAppendEvent encodes a set over a previous value with a TTL
// into a reused buffer, as encode does with its pooled one.
func BenchmarkAppendEvent(b *testing.B) {
	v, pv := "some value", "old value"
	ev := &kv.Event{Action: kv.ActionSet, Index: 9,
		Node:     &kv.Node{Key: "/1/bench/key", Value: &v, ModifiedIndex: 9, CreatedIndex: 9, Expiration: fakeNow, TTL: 5},
		PrevNode: &kv.Node{Key: "/1/bench/key", Value: &pv, ModifiedIndex: 8, CreatedIndex: 8}}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = appendEvent(buf[:0], ev)
	}
}

// BenchmarkAppendJSONString encodes a 256-byte plain value, the
// benchmark's (tools/cairn-bench) and most of a keys answer's bytes.
func BenchmarkAppendJSONString(b *testing.B) {
	s := strings.Repeat("abcdefghijklmnopqrstuvwxyz", 10)[:256]
	var buf []byte
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = appendJSONString(buf[:0], s)
	}
}
