package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr error
		check   func(*config) bool
	}{
		{"workload first", []string{"put", "--clients", "32", "--duration=3s"}, nil,
			func(c *config) bool {
				return c.workload == "put" && c.clients == 32 && c.conns == 32 && c.duration == 3*time.Second
			}},
		{"flags first", []string{"-clients=4", "-conns", "2", "get"}, nil,
			func(c *config) bool { return c.workload == "get" && c.clients == 4 && c.conns == 2 }},
		{"endpoints", []string{"qget", "--endpoints", "http://a:1, http://b:2,"}, nil,
			func(c *config) bool { return len(c.endpoints) == 2 && c.endpoints[1] == "http://b:2" }},
		{"prefix cleaned", []string{"cas", "--prefix", "x/y/"}, nil,
			func(c *config) bool { return c.prefix == "/x/y" }},
		{"defaults", []string{"watch"}, nil,
			func(c *config) bool { return c.valueSize == 256 && c.keys == 10000 && c.watchers == 100 && !c.jsonOut }},
		{"report", []string{"report", "a", "b"}, nil,
			func(c *config) bool { return len(c.args) == 2 && c.args[0] == "a" }},
		{"no workload", []string{"--clients", "2"}, errUsage, nil},
		{"unknown workload", []string{"burn"}, errWorkload, nil},
		{"bad flag", []string{"put", "--nope"}, errUsage, nil},
		{"help", []string{"-h"}, flag.ErrHelp, nil},
		{"conns above clients", []string{"put", "--clients", "2", "--conns", "3"}, errUsage, nil},
		{"zero clients", []string{"put", "--clients", "0"}, errUsage, nil},
		{"https endpoint", []string{"put", "--endpoints", "https://x:1"}, errBadEndpoint, nil},
		{"no duration", []string{"put", "--duration", "0"}, errUsage, nil},
		{"report needs files", []string{"report", "a"}, errUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseArgs(tt.args, io.Discard)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !tt.check(cfg) {
				t.Errorf("unexpected config %+v", cfg)
			}
		})
	}
}

func TestModifiedIndex(t *testing.T) {
	tests := []struct {
		body string
		want uint64
	}{
		{`{"action":"get","node":{"key":"/a","value":"x","modifiedIndex":42,"createdIndex":7}}`, 42},
		{`{"action":"set","node":{"key":"/a","modifiedIndex":9,"createdIndex":9},"prevNode":{"modifiedIndex":3}}`, 9},
		{`{"errorCode":100}`, 0},
	}
	for _, tt := range tests {
		if got := modifiedIndex([]byte(tt.body)); got != tt.want {
			t.Errorf("modifiedIndex(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
}

// TestHTTPConn runs the raw client against net/http's server with fixed
// length, chunked, empty and connection-closing responses.
func TestHTTPConn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/len":
			r.ParseForm()
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, r.Form.Get("value")[:5])
		case "/chunked":
			for i := 0; i < 3; i++ {
				io.WriteString(w, strings.Repeat("c", 3000))
				w.(http.Flusher).Flush()
			}
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(srv.Close)
	addr, err := endpointAddr(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := newHTTPConn(addr, 5*time.Second)
	t.Cleanup(c.Close)
	tests := []struct {
		method, path string
		form         []byte
		status       int
		body         string
	}{
		{"PUT", "/len", []byte("value=hello+world"), 200, "hello"},
		{"GET", "/chunked", nil, 200, strings.Repeat("c", 9000)},
		{"GET", "/empty", nil, 204, ""},
		{"GET", "/close", nil, 200, "bye"},
		{"GET", "/len?value=again", nil, 200, "again"}, // redials after the close
	}
	for _, tt := range tests {
		st, body, err := c.do(tt.method, []byte(tt.path), tt.form)
		if err != nil || st != tt.status || string(body) != tt.body {
			t.Errorf("%s %s = %d %.20q %v, want %d %.20q", tt.method, tt.path, st, body, err, tt.status, tt.body)
		}
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jsonl")
	b := filepath.Join(dir, "b.jsonl")
	os.WriteFile(a, []byte(`{"label":"put32","workload":"put","ops_per_sec":1000,"errors":0,"latency_ms":{"p50":2,"p99":10}}
{"label":"put32","workload":"put","ops_per_sec":3000,"errors":0,"latency_ms":{"p50":4,"p99":30}}
# comment
{"label":"rss_idle","value":40000,"unit":"KiB"}
`), 0o644)
	os.WriteFile(b, []byte(`{"label":"put32","workload":"put","ops_per_sec":4000,"errors":0,"latency_ms":{"p50":1,"p99":5}}
{"label":"rss_idle","value":10000,"unit":"KiB"}
`), 0o644)
	var out bytes.Buffer
	if err := report(&out, a, b); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"put32 ops/s  2000  4000  2.00  2/1", "put32 p99 ms  20  5  0.25", "rss_idle (KiB)  40000  10000  0.25"} {
		if !strings.Contains(strings.Join(strings.Fields(got), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if err := report(io.Discard, a, filepath.Join(dir, "missing")); !errors.Is(err, errReport) {
		t.Errorf("missing file: err = %v, want errReport", err)
	}
}

// TestRunProbes runs the two calibration probes briefly.
func TestRunProbes(t *testing.T) {
	tests := []struct {
		args []string
		ops  int64
	}{
		{[]string{"rtt", "--total", "200", "--json"}, 200},
		{[]string{"fsync", "--total", "5", "--dir", t.TempDir(), "--json"}, 5},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tt.args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", tt.args, code, errOut.String())
		}
		var res result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Ops != tt.ops || res.Latency.Max <= 0 {
			t.Errorf("%v: %s (%v)", tt.args, out.String(), err)
		}
	}
}

func TestEventSeq(t *testing.T) {
	for _, c := range []struct {
		event string
		seq   int64
		ok    bool
	}{
		{`{"action":"set","node":{"key":"/w","value":"17.xxxx","modifiedIndex":9},"prevNode":{"key":"/w","value":"16.xxxx"}}` + "\n", 17, true},
		{`{"action":"set","node":{"key":"/w","value":"0.","modifiedIndex":9}}`, 0, true},
		{`{"action":"delete","node":{"key":"/w"},"prevNode":{"value":"3.x"}}`, 0, false}, // only prevNode has one
		{`{"action":"set","node":{"key":"/w","value":"xyz"}}`, 0, false},
		{`{"action":"set","node":{"key":"/w","value":".5"}}`, 0, false},
		{`{"action":"set","node":{"key":"/w","value":"99999999999999999999.x"}}`, 0, false},
		{`{"action":"expire"}`, 0, false},
	} {
		seq, ok := eventSeq([]byte(c.event))
		if seq != c.seq || ok != c.ok {
			t.Errorf("eventSeq(%s) = %d, %v; want %d, %v", c.event, seq, ok, c.seq, c.ok)
		}
	}
}
