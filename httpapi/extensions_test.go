package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestExtensions covers atIndex=N and waitApplied=N (cairn extensions)
// and their misuse.
func TestExtensions(t *testing.T) {
	f := newFake()
	f.applied = 42
	h := New(f, Options{Timeout: 50 * time.Millisecond})
	steps := []step{
		{name: "v1", method: "PUT", target: "/v2/keys/a", form: url.Values{"value": {"v1"}}, code: 201},
		{name: "v2", method: "PUT", target: "/v2/keys/a", form: url.Values{"value": {"v2"}}, code: 200},
		{name: "at index 1", method: "GET", target: "/v2/keys/a?atIndex=1", code: 200,
			want:    `{"action":"get","node":{"key":"/a","value":"v1","modifiedIndex":1,"createdIndex":1}}` + "\n",
			headers: map[string]string{"X-Etcd-Index": "1"}},
		{name: "at the current index", method: "GET", target: "/v2/keys/a?atIndex=2", code: 200,
			want: `{"action":"get","node":{"key":"/a","value":"v2","modifiedIndex":2,"createdIndex":2}}` + "\n"},
		{name: "at a future index", method: "GET", target: "/v2/keys/a?atIndex=9", code: 400},
		{name: "atIndex not a number", method: "GET", target: "/v2/keys/a?atIndex=x", code: 400,
			want: `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"atIndex\"","index":0}` + "\n"},
		{name: "atIndex on PUT", method: "PUT", target: "/v2/keys/a?atIndex=1", form: url.Values{"value": {"x"}}, code: 400,
			want: `{"errorCode":209,"message":"Invalid field","cause":"\"atIndex\" and \"waitApplied\" can only be used with GET or HEAD requests without wait or quorum","index":0}` + "\n"},
		{name: "atIndex with wait", method: "GET", target: "/v2/keys/a?atIndex=1&wait=true", code: 400},
		{name: "waitApplied reached", method: "GET", target: "/v2/keys/a?waitApplied=40", code: 200,
			want: `{"action":"get","node":{"key":"/a","value":"v2","modifiedIndex":2,"createdIndex":2}}` + "\n"},
		{name: "waitApplied times out", method: "GET", target: "/v2/keys/a?waitApplied=99", code: 500,
			want: `{"errorCode":300,"message":"Raft Internal Error","cause":"cairn: raft index not applied in time: this member has not applied raft index 99 within 50ms","index":0}` + "\n"},
		{name: "waitApplied with quorum", method: "GET", target: "/v2/keys/a?waitApplied=1&quorum=true", code: 400},
	}
	for _, s := range steps {
		run(t, h, s)
	}
}

// TestLimits: oversized bodies, values and keys get a clear etcd-style
// error and change nothing.
func TestLimits(t *testing.T) {
	f := newFake()
	h := New(f, Options{MaxRequestBytes: 1024, MaxValueBytes: 100, MaxKeyBytes: 20})
	steps := []step{
		{name: "value at the limit", method: "PUT", target: "/v2/keys/v", form: url.Values{"value": {strings.Repeat("x", 100)}}, code: 201},
		{name: "value over the limit", method: "PUT", target: "/v2/keys/v", form: url.Values{"value": {strings.Repeat("x", 101)}}, code: 400,
			want: `{"errorCode":209,"message":"Invalid field","cause":"value is longer than 100 bytes","index":0}` + "\n"},
		{name: "key over the limit", method: "PUT", target: "/v2/keys/" + strings.Repeat("k", 20), form: url.Values{"value": {"x"}}, code: 400,
			want: `{"errorCode":209,"message":"Invalid field","cause":"key is longer than 20 bytes","index":0}` + "\n"},
		{name: "body over the limit", method: "PUT", target: "/v2/keys/b", ctype: "application/x-www-form-urlencoded",
			body: "value=" + strings.Repeat("y", 2000), code: 400,
			want: `{"errorCode":210,"message":"Invalid POST form","cause":"http: request body too large","index":0}` + "\n"},
		{name: "nothing else changed", method: "GET", target: "/v2/keys/?recursive=true", code: 200,
			want: `{"action":"get","node":{"dir":true,"nodes":[{"key":"/v","value":"` + strings.Repeat("x", 100) + `","modifiedIndex":1,"createdIndex":1}]}}` + "\n"},
	}
	for _, s := range steps {
		run(t, h, s)
	}
}

// TestWatchLimitPerConnection: the watch over the per-connection limit
// gets 429 error 470; others are unaffected.
func TestWatchLimitPerConnection(t *testing.T) {
	f := newFake()
	h := New(f, Options{MaxWatchesPerConn: 1})
	if !h.acquireWatch("1.2.3.4:5") {
		t.Fatal("first watch refused")
	}
	req := httptest.NewRequest("GET", "/v2/keys/a?wait=true", nil)
	req.RemoteAddr = "1.2.3.4:5"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	want := `{"errorCode":470,"message":"Too many watches","cause":"at most 1 open watches per connection","index":0}` + "\n"
	if rec.Code != http.StatusTooManyRequests || rec.Body.String() != want {
		t.Errorf("got %d %q, want 429 %q", rec.Code, rec.Body.String(), want)
	}
	h.releaseWatch("1.2.3.4:5")
	if len(h.connWatches) != 0 {
		t.Errorf("connWatches not released: %v", h.connWatches)
	}
}

// TestStatsLeaderAndMetrics: /v2/stats/leader on the leader and a
// follower; /metrics in the Prometheus text format.
func TestStatsLeaderAndMetrics(t *testing.T) {
	f := newFake()
	h := New(f, Options{})
	run(t, h, step{name: "leader", method: "GET", target: "/v2/stats/leader", code: 200,
		want: `{"leader":"1","followers":{"2":{"latency":{"current":0,"average":0,"standardDeviation":0,"minimum":9223372036854776000,"maximum":0},"counts":{"fail":0,"success":0}}}}` + "\n"})
	f.mu.Lock()
	f.leader = 2
	f.mu.Unlock()
	run(t, h, step{name: "follower", method: "GET", target: "/v2/stats/leader", code: 403, want: `{"message":"not current leader"}`})
	run(t, h, step{name: "metrics", method: "GET", target: "/metrics", code: 200,
		headers: map[string]string{"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, line := range []string{
		"# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n",
		"etcd_server_is_leader 0\n",
		`cairn_http_requests_total{method="GET",code="403"} 1` + "\n",
		`cairn_http_requests_total{method="GET",code="200"} 2` + "\n",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("metrics lack %q:\n%s", line, body)
		}
	}
	for i, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if strings.HasPrefix(l, "# HELP ") || strings.HasPrefix(l, "# TYPE ") {
			continue
		}
		if f := strings.Fields(l); len(f) != 2 {
			t.Errorf("line %d not 'name value': %q", i+1, l)
		}
	}
}

// TestMembersBodyLimit: a members API body over MaxRequestBytes is refused
// without being read whole.
func TestMembersBodyLimit(t *testing.T) {
	h := New(newFake(), Options{MaxRequestBytes: 64})
	run(t, h, step{name: "big member body", method: "POST", target: "/v2/members", ctype: "application/json",
		body: `{"peerURLs":["http://10.0.0.9:2380"],"pad":"` + strings.Repeat("x", 100) + `"}`, code: 400,
		want: `{"message":"http: request body too large"}`})
}

// TestWatchWindow: by default a watch may start anywhere in the store's
// retained history, well past etcd's 1000 events (issue 4); with
// Options.WatchWindow = EtcdWatchWindow the answer is etcd's exact 401.
func TestWatchWindow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window int
		s      step
	}{
		{"store history", 0, step{name: "old waitIndex answered", method: "GET", target: "/v2/keys/w?wait=true&waitIndex=1", code: 200,
			want: `{"action":"set","node":{"key":"/w","value":"first","modifiedIndex":1,"createdIndex":1}}` + "\n"}},
		{"etcd window", EtcdWatchWindow, step{name: "old waitIndex cleared", method: "GET", target: "/v2/keys/w?wait=true&waitIndex=1", code: 400,
			want: `{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [7/1]","index":1006}` + "\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			h := New(f, Options{WatchWindow: tc.window})
			run(t, h, step{name: "first", method: "PUT", target: "/v2/keys/w", form: url.Values{"value": {"first"}}, code: 201})
			for i := 0; i < 1005; i++ {
				run(t, h, step{name: "churn", method: "PUT", target: "/v2/keys/churn", form: url.Values{"value": {"x"}}, code: []int{201, 200}[min(i, 1)]})
			}
			run(t, h, tc.s)
		})
	}
}
