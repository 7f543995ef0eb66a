package h1

import (
	"net/http"
	"strings"
	"testing"
)

// BenchmarkAppendHeaders: the head of a keys API answer (the handler's
// headers, sorted and checked, then the server's framing).
func BenchmarkAppendHeaders(b *testing.B) {
	w := &response{header: http.Header{
		"Content-Type":      {"application/json"},
		"X-Etcd-Cluster-Id": {"cdf818194e3a8c32"},
		"X-Etcd-Index":      {"1234567"},
		"X-Raft-Index":      {"1234570"},
		"X-Raft-Term":       {"7"},
	}, cl: -1}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = w.appendHeaders(buf[:0], true)
	}
}

// TestAppendHeadersAsNetHTTP: the handler's headers come out as
// http.Header.Write writes them (sorted, line breaks as spaces, blanks at
// the ends trimmed), for plain and odd values.
func TestAppendHeadersAsNetHTTP(t *testing.T) {
	hd := http.Header{
		"X-Plain":  {"application/json", "7"},
		"X-Odd":    {"  a\r\nb \t", "\tx", "y\n", "", " ", "a  b", "\r\n"},
		"X-Utf8":   {" caf\xc3\xa9 "},
		"A-First":  {"1"},
		"Z-Last":   {"z\t"},
		"X-Middle": {"m\rn"},
	}
	var want strings.Builder
	if err := hd.Write(&want); err != nil {
		t.Fatal(err)
	}
	w := &response{header: hd, cl: -1}
	if got := string(w.appendHeaders(nil, false)); got != want.String() {
		t.Fatalf("got\n%q\nwant\n%q", got, want.String())
	}
}
