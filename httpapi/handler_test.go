package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

type step struct {
	name    string
	method  string
	target  string
	form    url.Values // body for PUT/POST
	ctype   string     // overrides the form content type
	body    string     // raw body (with ctype)
	code    int
	want    string            // exact body
	headers map[string]string // exact header values ("" = must be absent)
}

func run(t *testing.T, h http.Handler, s step) {
	t.Helper()
	var body io.Reader
	ctype := ""
	if s.form != nil {
		body = strings.NewReader(s.form.Encode())
		ctype = "application/x-www-form-urlencoded"
	}
	if s.body != "" {
		body = strings.NewReader(s.body)
	}
	if s.ctype != "" {
		ctype = s.ctype
	}
	req := httptest.NewRequest(s.method, s.target, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Code; got != s.code {
		t.Errorf("%s: status %d, want %d (body %s)", s.name, got, s.code, rec.Body.String())
	}
	if s.want != "" || s.code == http.StatusNoContent {
		if got := rec.Body.String(); got != s.want {
			t.Errorf("%s: body\n got %q\nwant %q", s.name, got, s.want)
		}
	}
	for k, v := range s.headers {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s: header %s = %q, want %q", s.name, k, got, v)
		}
	}
}

func TestKeys(t *testing.T) {
	f := newFake()
	h := New(f, Options{})
	ok := map[string]string{"Content-Type": "application/json", "X-Raft-Index": "42", "X-Raft-Term": "7", "X-Etcd-Cluster-Id": "c0ffee"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for a, b := range m {
			out[a] = b
		}
		out[k] = v
		return out
	}
	errH := func(idx string) map[string]string {
		return map[string]string{"Content-Type": "application/json", "X-Etcd-Index": idx, "X-Raft-Index": "", "X-Raft-Term": "", "X-Etcd-Cluster-Id": "c0ffee"}
	}
	steps := []step{
		{name: "set creates", method: "PUT", target: "/v2/keys/foo", form: url.Values{"value": {"bar"}}, code: 201,
			want: `{"action":"set","node":{"key":"/foo","value":"bar","modifiedIndex":1,"createdIndex":1}}` + "\n", headers: with(ok, "X-Etcd-Index", "1")},
		{name: "set replaces", method: "PUT", target: "/v2/keys/foo", form: url.Values{"value": {"baz"}}, code: 200,
			want: `{"action":"set","node":{"key":"/foo","value":"baz","modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/foo","value":"bar","modifiedIndex":1,"createdIndex":1}}` + "\n"},
		{name: "get", method: "GET", target: "/v2/keys/foo", code: 200,
			want: `{"action":"get","node":{"key":"/foo","value":"baz","modifiedIndex":2,"createdIndex":2}}` + "\n", headers: with(ok, "X-Etcd-Index", "2")},
		{name: "head", method: "HEAD", target: "/v2/keys/foo", code: 200, headers: with(ok, "X-Etcd-Index", "2")},
		{name: "missing", method: "GET", target: "/v2/keys/nope", code: 404,
			want: `{"errorCode":100,"message":"Key not found","cause":"/nope","index":2}` + "\n", headers: errH("2")},
		{name: "create exists", method: "PUT", target: "/v2/keys/foo", form: url.Values{"value": {"x"}, "prevExist": {"false"}}, code: 412,
			want: `{"errorCode":105,"message":"Key already exists","cause":"/foo","index":2}` + "\n"},
		{name: "cas", method: "PUT", target: "/v2/keys/foo?prevIndex=2", form: url.Values{"value": {"c"}}, code: 200,
			want: `{"action":"compareAndSwap","node":{"key":"/foo","value":"c","modifiedIndex":3,"createdIndex":2},"prevNode":{"key":"/foo","value":"baz","modifiedIndex":2,"createdIndex":2}}` + "\n"},
		{name: "cas fails", method: "PUT", target: "/v2/keys/foo", form: url.Values{"value": {"c"}, "prevValue": {"x"}, "prevIndex": {"9"}}, code: 412,
			want: `{"errorCode":101,"message":"Compare failed","cause":"[x != c] [9 != 3]","index":3}` + "\n"},
		{name: "ttl", method: "PUT", target: "/v2/keys/t", form: url.Values{"value": {"v"}, "ttl": {"60"}}, code: 201,
			want: `{"action":"set","node":{"key":"/t","value":"v","expiration":"2026-01-01T00:01:00Z","ttl":60,"modifiedIndex":4,"createdIndex":4}}` + "\n"},
		{name: "in-order create", method: "POST", target: "/v2/keys/q", form: url.Values{"value": {"job"}}, code: 201,
			want: `{"action":"create","node":{"key":"/q/00000000000000000005","value":"job","modifiedIndex":5,"createdIndex":5}}` + "\n"},
		{name: "delete", method: "DELETE", target: "/v2/keys/t", code: 200,
			want: `{"action":"delete","node":{"key":"/t","modifiedIndex":6,"createdIndex":4},"prevNode":{"key":"/t","value":"v","expiration":"2026-01-01T00:01:00Z","ttl":60,"modifiedIndex":4,"createdIndex":4}}` + "\n"},
		{name: "delete dir needs dir", method: "DELETE", target: "/v2/keys/q", code: 403,
			want: `{"errorCode":102,"message":"Not a file","cause":"/q","index":6}` + "\n"},
		{name: "root", method: "GET", target: "/v2/keys/", code: 200,
			want: `{"action":"get","node":{"dir":true,"nodes":[{"key":"/foo","value":"c","modifiedIndex":3,"createdIndex":2},{"key":"/q","dir":true,"modifiedIndex":5,"createdIndex":5}]}}` + "\n"},
		{name: "root read only", method: "PUT", target: "/v2/keys/", form: url.Values{"value": {"x"}}, code: 400,
			want: `{"errorCode":107,"message":"Root is read only","cause":"/","index":6}` + "\n"},
		{name: "no value on success", method: "PUT", target: "/v2/keys/nv?noValueOnSuccess=true", form: url.Values{"value": {"x"}}, code: 201,
			want: `{"action":"set"}` + "\n", headers: with(ok, "X-Etcd-Index", "7")},
		{name: "bad ttl", method: "PUT", target: "/v2/keys/x", form: url.Values{"ttl": {"abc"}}, code: 400,
			want: `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}` + "\n", headers: errH("0")},
		{name: "bad prevIndex", method: "PUT", target: "/v2/keys/x?prevIndex=z", code: 400,
			want: `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"prevIndex\"","index":0}` + "\n"},
		{name: "bad bool", method: "GET", target: "/v2/keys/x?recursive=maybe", code: 400,
			want: `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"recursive\"","index":0}` + "\n"},
		{name: "wait on put", method: "PUT", target: "/v2/keys/x?wait=true", code: 400,
			want: `{"errorCode":209,"message":"Invalid field","cause":"\"wait\" can only be used with GET requests","index":0}` + "\n"},
		{name: "empty prevValue", method: "PUT", target: "/v2/keys/x?prevValue=", code: 400,
			want: `{"errorCode":201,"message":"PrevValue is Required in POST form","cause":"\"prevValue\" cannot be empty","index":0}` + "\n"},
		{name: "refresh without ttl", method: "PUT", target: "/v2/keys/x?refresh=true", code: 400,
			want: `{"errorCode":212,"message":"A TTL must be provided on refresh","cause":"No TTL value set","index":0}` + "\n"},
		{name: "refresh with value", method: "PUT", target: "/v2/keys/x?refresh=true&ttl=5&value=v", code: 400,
			want: `{"errorCode":211,"message":"Value provided on refresh","cause":"A value was provided on a refresh","index":0}` + "\n"},
		{name: "method", method: "PATCH", target: "/v2/keys/x", code: 405,
			want: "Method Not Allowed\n", headers: map[string]string{"Allow": "HEAD,GET,PUT,POST,DELETE"}},
	}
	for _, s := range steps {
		run(t, h, s)
	}
}

func TestRaftErrors(t *testing.T) {
	f := newFake()
	h := New(f, Options{})
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"timeout", ErrTimeout, "etcdserver: request timed out"},
		{"wrapped timeout", fmt.Errorf("x: %w", ErrTimeout), "etcdserver: request timed out"},
		{"stopped", ErrStopped, "etcdserver: server stopped"},
	} {
		f.fail = c.err
		for _, target := range []string{"/v2/keys/k", "/v2/keys/k?quorum=true"} {
			method := "PUT"
			if strings.Contains(target, "quorum") {
				method = "GET"
			}
			run(t, h, step{name: c.name + " " + method, method: method, target: target, code: 500,
				want:    `{"errorCode":300,"message":"Raft Internal Error","cause":"` + c.want + `","index":0}` + "\n",
				headers: map[string]string{"X-Etcd-Index": "0", "X-Raft-Index": ""}})
		}
	}
}

func TestMembersAndMisc(t *testing.T) {
	f := newFake()
	h := New(f, Options{})
	steps := []step{
		{name: "list", method: "GET", target: "/v2/members", code: 200,
			want:    `{"members":[{"id":"1","name":"a","peerURLs":["http://10.0.0.1:2380"],"clientURLs":["http://10.0.0.1:2379"]},{"id":"2","name":"","peerURLs":["http://10.0.0.2:2380"],"clientURLs":[],"isLearner":true}]}` + "\n",
			headers: map[string]string{"X-Etcd-Cluster-Id": "c0ffee", "Content-Type": "application/json"}},
		{name: "leader", method: "GET", target: "/v2/members/leader", code: 200,
			want: `{"id":"1","name":"a","peerURLs":["http://10.0.0.1:2380"],"clientURLs":["http://10.0.0.1:2379"]}` + "\n"},
		{name: "add", method: "POST", target: "/v2/members", ctype: "application/json", body: `{"peerURLs":["http://10.0.0.3:2380"]}`, code: 201,
			want: `{"id":"3","name":"","peerURLs":["http://10.0.0.3:2380"],"clientURLs":[]}` + "\n"},
		{name: "add learner", method: "POST", target: "/v2/members", ctype: "application/json", body: `{"peerURLs":["http://10.0.0.3:2380"],"isLearner":true}`, code: 201,
			want: `{"id":"3","name":"","peerURLs":["http://10.0.0.3:2380"],"clientURLs":[],"isLearner":true}` + "\n"},
		{name: "add exists", method: "POST", target: "/v2/members", ctype: "application/json", body: `{"peerURLs":["http://10.0.0.1:2380"]}`, code: 409,
			want: `{"message":"etcdserver: Peer URLs already exists"}`},
		{name: "add not json", method: "POST", target: "/v2/members", form: url.Values{"a": {"b"}}, code: 415},
		{name: "add bad url", method: "POST", target: "/v2/members", ctype: "application/json", body: `{"peerURLs":["10.0.0.3"]}`, code: 400},
		{name: "remove", method: "DELETE", target: "/v2/members/2", code: 204},
		{name: "remove unknown", method: "DELETE", target: "/v2/members/99", code: 404, want: `{"message":"No such member: 99"}`},
		{name: "remove removed", method: "DELETE", target: "/v2/members/dead", code: 410, want: `{"message":"Member permanently removed: dead"}`},
		{name: "remove no id", method: "DELETE", target: "/v2/members", code: 405},
		{name: "update", method: "PUT", target: "/v2/members/1", ctype: "application/json", body: `{"peerURLs":["http://10.0.0.9:2380"]}`, code: 204},
		{name: "promote lagging", method: "POST", target: "/v2/members/2/promote", code: 412,
			want: `{"message":"etcdserver: can only promote a learner member which is in sync with leader"}` + "\n"},
		{name: "promote voter", method: "POST", target: "/v2/members/1/promote", code: 412,
			want: `{"message":"etcdserver: can only promote a learner member"}` + "\n"},
		{name: "health", method: "GET", target: "/health", code: 200, want: `{"health":"true"}`},
		{name: "self stats", method: "GET", target: "/v2/stats/self", code: 200,
			want: `{"name":"a","id":"1","state":"StateLeader","startTime":"2026-01-01T00:00:00Z","leaderInfo":{"leader":"","uptime":"","startTime":"0001-01-01T00:00:00Z"},"recvAppendRequestCnt":0,"sendAppendRequestCnt":0}` + "\n"},
		{name: "store stats", method: "GET", target: "/v2/stats/store", code: 200,
			want: `{"getsSuccess":0,"getsFail":0,"setsSuccess":0,"setsFail":0,"deleteSuccess":0,"deleteFail":0,"updateSuccess":0,"updateFail":0,"createSuccess":0,"createFail":0,"compareAndSwapSuccess":0,"compareAndSwapFail":0,"compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"watchers":0}` + "\n"},
		{name: "version", method: "GET", target: "/version", code: 200, want: `{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}`},
		{name: "machines", method: "GET", target: "/v2/machines", code: 200, want: "http://10.0.0.1:2379, http://10.0.0.3:2379"},
	}
	for _, s := range steps {
		run(t, h, s)
	}
	f.leader = 0
	run(t, h, step{name: "no leader health", method: "GET", target: "/health", code: 503, want: `{"health":"false"}`})
	run(t, h, step{name: "no leader", method: "GET", target: "/v2/members/leader", code: 503, want: `{"message":"During election"}`})
}

func TestWatch(t *testing.T) {
	f := newFake()
	h := New(f, Options{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close)
	put := func(key, value string) {
		t.Helper()
		req, _ := http.NewRequest("PUT", srv.URL+"/v2/keys"+key+"?value="+value, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	put("/a", "1") // index 1
	// From history: answered at once.
	resp, err := http.Get(srv.URL + "/v2/keys/a?wait=true&waitIndex=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"action":"set","node":{"key":"/a","value":"1","modifiedIndex":1,"createdIndex":1}}` + "\n"; string(b) != want {
		t.Fatalf("history watch: %s", b)
	}
	// Stream: headers first (X-Etcd-Index = index at the start), then one
	// event per line.
	resp, err = http.Get(srv.URL + "/v2/keys/a?wait=true&stream=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Etcd-Index") != "1" || resp.Header.Get("X-Raft-Term") != "7" {
		t.Fatalf("stream headers: %d %v", resp.StatusCode, resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	for i, v := range []string{"2", "3"} {
		put("/a", v)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(line, `{"action":"set","node":{"key":"/a","value":"`+v+`"`) {
			t.Fatalf("stream event %d: %s", i, line)
		}
	}
	// Bad waitIndex and cleared history.
	resp2, _ := http.Get(srv.URL + "/v2/keys/a?wait=true&waitIndex=x")
	resp2.Body.Close()
	if resp2.StatusCode != 400 {
		t.Fatalf("bad waitIndex: %d", resp2.StatusCode)
	}
}

func TestForwardToLeader(t *testing.T) {
	leader := newFake()
	lh := New(leader, Options{})
	mux := http.NewServeMux()
	var forwarded string
	mux.Handle(ForwardPrefix+"/", http.StripPrefix(ForwardPrefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded = r.Header.Get(ForwardedHeader)
		lh.ServeHTTP(w, r)
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	follower := newFake()
	follower.forward = srv.URL + ForwardPrefix
	follower.leader = 0x2
	fh := New(follower, Options{Timeout: 2 * time.Second})
	run(t, fh, step{name: "forwarded set", method: "PUT", target: "/v2/keys/f", form: url.Values{"value": {"x"}}, code: 201,
		want:    `{"action":"set","node":{"key":"/f","value":"x","modifiedIndex":1,"createdIndex":1}}` + "\n",
		headers: map[string]string{"X-Etcd-Index": "1", "X-Etcd-Cluster-Id": "c0ffee", appliedHeader: ""}})
	if forwarded != "1" {
		t.Fatalf("leader saw %s=%q", ForwardedHeader, forwarded)
	}
	if len(follower.waited) != 1 || follower.waited[0] != 42 {
		t.Fatalf("follower waited for applied index %v, want [42] (the leader's)", follower.waited)
	}
	if _, err := leader.store.Get("/1/f", false, false, 0); err != nil {
		t.Fatal("write did not reach the leader's store")
	}
	if _, err := follower.store.Get("/1/f", false, false, 0); err == nil {
		t.Fatal("write applied on the follower directly")
	}
}

func ExampleHandler() {
	h := New(newFake(), Options{})
	req := httptest.NewRequest("PUT", "/v2/keys/message", strings.NewReader("value=hello"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("X-Etcd-Index"))
	fmt.Print(rec.Body.String())
	// Output:
	// 201 1
	// {"action":"set","node":{"key":"/message","value":"hello","modifiedIndex":1,"createdIndex":1}}
}
