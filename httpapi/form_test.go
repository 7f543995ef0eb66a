package httpapi

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// formRequest builds the request both parsers see; the body sits behind a
// MaxBytesReader as ServeHTTP puts it, or with limit < 0 it is sent
// chunked (no Content-Length) and not limited.
func formRequest(method, query, ctype, body string, limit int64) *http.Request {
	r := httptest.NewRequest(method, "/v2/keys/k", strings.NewReader(body))
	r.URL.RawQuery = query
	if ctype != "-" {
		r.Header.Set("Content-Type", ctype)
	}
	if limit < 0 {
		r.ContentLength = -1
		return r
	}
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
	return r
}

// checkSameParams fails unless readKeyParams gives what ParseForm gives:
// the same first values, the same absent parameters, the same error.
func checkSameParams(t *testing.T, method, query, ctype, body string, limit int64) {
	t.Helper()
	var lean, want keyParams
	leanErr := readKeyParams(formRequest(method, query, ctype, body, limit), &lean)
	wantErr := formParams(formRequest(method, query, ctype, body, limit), &want)
	if (leanErr == nil) != (wantErr == nil) || leanErr != nil && *leanErr != *wantErr {
		t.Fatalf("%s ?%q %q body %q: error %v, ParseForm's %v", method, query, ctype, body, leanErr, wantErr)
	}
	if leanErr == nil && lean != want {
		t.Fatalf("%s ?%q %q body %q:\n got  %+v\n want %+v", method, query, ctype, body, lean, want)
	}
}

func TestKeyParamsMatchParseForm(t *testing.T) {
	cases := []struct{ method, query, ctype, body string }{
		{"GET", "", "-", ""},
		{"GET", "recursive=true&sorted=true", "-", ""},
		{"GET", "wait=true&waitIndex=7&wait=false", "-", ""},
		{"PUT", "", "application/x-www-form-urlencoded", "value=hello"},
		{"PUT", "value=query", "application/x-www-form-urlencoded", "value=body"},
		{"PUT", "prevExist=false", "application/x-www-form-urlencoded", "value=a+b%20c&ttl=5"},
		{"PUT", "value=x", "-", "value=ignored"},
		{"PUT", "value=x", "text/plain", "value=ignored"},
		{"PUT", "value=x", "application/x-www-form-urlencoded; charset=utf-8", "value=y"},
		{"PUT", "value=x", "multipart/form-data; boundary=zz", "value=y"},
		{"PUT", "value=x", "bad/;;", "value=y"},
		{"POST", "a=1;b=2", "application/x-www-form-urlencoded", "value=y"},
		{"POST", "", "application/x-www-form-urlencoded", "value=%zz"},
		{"POST", "value=%4", "application/x-www-form-urlencoded", "ttl=1"},
		{"DELETE", "prevValue=&recursive=true", "-", ""},
		{"DELETE", "%76alue=1&v%61lue=2", "application/x-www-form-urlencoded", "value=3"},
		{"PATCH", "", "application/x-www-form-urlencoded", "prevIndex=1&&&=&=x&value"},
		{"PUT", "", "application/x-www-form-urlencoded", strings.Repeat("a=1&", 100) + "value=v"},
		{"PUT", strings.Repeat("&", 200) + "value=q", "application/x-www-form-urlencoded", ""},
		{"PUT", "", "application/x-www-form-urlencoded", "value=" + strings.Repeat("x", 300)},
	}
	for _, c := range cases {
		checkSameParams(t, c.method, c.query, c.ctype, c.body, 1<<20)
	}
	// A body over the limit: the read fails the same way.
	checkSameParams(t, "PUT", "", "application/x-www-form-urlencoded", "value="+strings.Repeat("x", 100), 64)
	// A chunked body, and one past ParseForm's own limit.
	checkSameParams(t, "PUT", "prevExist=true", "application/x-www-form-urlencoded", "value=a&ttl=3", -1)
	checkSameParams(t, "PUT", "", "application/x-www-form-urlencoded", "value="+strings.Repeat("x", maxLeanBody), 1<<30)
}

// TestKeyParamsRandom compares the parsers on random forms built from the
// parameter names, escapes and separators; a failure prints the seed.
func TestKeyParamsRandom(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 7))
	defer func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
		}
	}()
	pieces := []string{"=", "&", ";", "%", "%2", "%41", "%zz", "+", "%26", "%3D", "true", "1", "x", ""}
	form := func() string {
		var b strings.Builder
		for range rng.IntN(8) {
			if rng.IntN(3) > 0 {
				b.WriteString(paramNames[rng.IntN(numParams)])
			}
			for range rng.IntN(3) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
			}
			if rng.IntN(4) > 0 {
				b.WriteByte('&')
			}
		}
		return b.String()
	}
	ctypes := []string{"-", "application/x-www-form-urlencoded", "text/plain", "application/x-www-form-urlencoded;charset=x"}
	for range 20000 {
		checkSameParams(t, fuzzMethods[rng.IntN(len(fuzzMethods))], form(), ctypes[rng.IntN(len(ctypes))], form(), 1<<20)
		if t.Failed() {
			return
		}
	}
}

func FuzzKeyParams(f *testing.F) {
	f.Add(uint8(2), "prevExist=false&value=%41", "value=a+b")
	f.Add(uint8(3), "a;b", "ttl=5&ttl=6")
	f.Fuzz(func(t *testing.T, m uint8, query, body string) {
		checkSameParams(t, fuzzMethods[int(m)%len(fuzzMethods)], query, "application/x-www-form-urlencoded", body, 1<<20)
	})
}
