package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// runIn runs one command line in-process with the given environment.
func runIn(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &stdio{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errb,
		getenv: func(k string) string { return env[k] },
	})
	return out.String(), errb.String(), code
}

func TestReorderArgs(t *testing.T) {
	flags := []flagDef{ttlFlag, recursiveFlag, stringFlag(func(o *opts) *string { return &o.swapValue }, "", "swap-with-value")}
	tests := []struct {
		in, want string
	}{
		{"/a b", "/a b"},
		{"/a b --ttl 5", "--ttl 5 /a b"},
		{"/a --ttl=5 b", "--ttl=5 /a b"},
		{"--ttl 5 /a b", "--ttl 5 /a b"},
		{"-- /a -v", "-- /a -v"},
		{"/a -- -v", "-- /a -v"},
		{"--swap-with-value -x /a b", "--swap-with-value -x /a b"},
		{"-r /dir", "-r /dir"},
		{"/a -unknown b", "/a -unknown b"},
		{"/k --ttl --recursive", "--ttl --recursive /k"},
	}
	for _, tt := range tests {
		got := strings.Join(reorderArgs(flags, strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("reorderArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitExecArgs(t *testing.T) {
	tests := []struct {
		in      string
		key     string
		command string
	}{
		{"echo hi /k", "/k", "echo hi"},
		{"/k -- echo hi", "/k", "echo hi"},
		{"sh /k", "/k", "sh"},
	}
	for _, tt := range tests {
		key, cmd := splitExecArgs(strings.Fields(tt.in))
		if key != tt.key || strings.Join(cmd, " ") != tt.command {
			t.Errorf("splitExecArgs(%q) = %q, %q; want %q, %q", tt.in, key, cmd, tt.key, tt.command)
		}
	}
}

func TestCanonicalPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/v2/keys", "/v2/keys"},
		{"/v2/keys/", "/v2/keys/"},
		{"/v2/keys//a/../b/", "/v2/keys/b/"},
		{"v2/keys/a", "/v2/keys/a"},
	}
	for _, tt := range tests {
		if got := canonicalPath(tt.in); got != tt.want {
			t.Errorf("canonicalPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// fakeMember is a minimal v2 server: one key, the members API, and a switch
// to answer 500 (no leader). It records the requests it got.
type fakeMember struct {
	mu         sync.Mutex
	leaderless bool
	requests   []string
	srv        *httptest.Server
	members    []member
	promoted   []string
}

func newFakeMember(t *testing.T) *fakeMember {
	t.Helper()
	f := &fakeMember{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.members = []member{{ID: "a1", Name: "m1", PeerURLs: []string{"http://p1"}, ClientURLs: []string{f.srv.URL}}}
	return f
}

func (f *fakeMember) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI()+" "+string(body))
	if f.leaderless {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintln(w, `{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request timed out","index":0}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/v2/members" && r.Method == "GET":
		json.NewEncoder(w).Encode(map[string]any{"members": f.members})
	case r.URL.Path == "/v2/members" && r.Method == "POST":
		var req struct {
			PeerURLs  []string `json:"peerURLs"`
			IsLearner bool     `json:"isLearner"`
		}
		json.Unmarshal(body, &req)
		m := member{ID: "b2", PeerURLs: req.PeerURLs, ClientURLs: []string{}, IsLearner: req.IsLearner}
		f.members = append(f.members, m)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(m)
	case r.URL.Path == "/v2/members/leader":
		json.NewEncoder(w).Encode(f.members[0])
	case strings.HasSuffix(r.URL.Path, "/promote"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/members/"), "/promote")
		if id != "b2" {
			w.WriteHeader(http.StatusPreconditionFailed)
			fmt.Fprintln(w, `{"message":"etcdserver: can only promote a learner member"}`)
			return
		}
		f.promoted = append(f.promoted, id)
		fmt.Fprintln(w, `{"id":"b2","name":"","peerURLs":["http://p2"],"clientURLs":[]}`)
	case r.URL.Path == "/v2/keys/k":
		w.Header().Set("X-Etcd-Index", "7")
		fmt.Fprintln(w, `{"action":"get","node":{"key":"/k","value":"v","modifiedIndex":7,"createdIndex":7}}`)
	case r.URL.Path == "/v2/keys/w":
		// A watch: two events from history, then the key's end.
		idx := r.URL.Query().Get("waitIndex")
		w.Header().Set("X-Etcd-Index", "9")
		switch idx {
		case "", "5":
			fmt.Fprintln(w, `{"action":"set","node":{"key":"/w","value":"one","modifiedIndex":5,"createdIndex":5}}`)
		case "6":
			fmt.Fprintln(w, `{"action":"update","node":{"key":"/w","value":"two","modifiedIndex":6,"createdIndex":5}}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintln(w, `{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [8/7]","index":9}`)
		}
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"errorCode":100,"message":"Key not found","cause":%q,"index":7}`+"\n", strings.TrimPrefix(r.URL.Path, "/v2/keys"))
	}
}

func TestFailover(t *testing.T) {
	live := newFakeMember(t)
	sick := newFakeMember(t)
	sick.leaderless = true
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	tests := []struct {
		name      string
		endpoints string
		wantOut   string
		wantErr   string
		wantCode  int
	}{
		{"dead then live", deadURL + "," + live.srv.URL, "v\n", "", 0},
		{"leaderless then live", sick.srv.URL + "," + live.srv.URL, "v\n", "", 0},
		{"all down", deadURL + "," + sick.srv.URL, "", "Error:  client: etcd cluster is unavailable or misconfigured", exitServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 4 { // the first endpoint tried is random
				out, errOut, code := runIn(t, nil, "", "--no-sync", "--endpoints", tt.endpoints, "get", "/k")
				if out != tt.wantOut || code != tt.wantCode || !strings.HasPrefix(errOut, tt.wantErr) {
					t.Fatalf("got %q, %q, exit %d; want %q, %q..., exit %d", out, errOut, code, tt.wantOut, tt.wantErr, tt.wantCode)
				}
			}
		})
	}
}

func TestWatchFollowsIndexes(t *testing.T) {
	f := newFakeMember(t)
	out, errOut, code := runIn(t, nil, "", "--no-sync", "--endpoints", f.srv.URL, "watch", "--forever", "--after-index", "4", "/w")
	// The fake ends the history with a 401, which ends the watch.
	want := "one\ntwo\n"
	if out != want || code != exitServerError || !strings.Contains(errOut, "401: The event in requested index is outdated") {
		t.Fatalf("got %q, %q, exit %d; want %q and a 401", out, errOut, code, want)
	}
	var waits []string
	for _, r := range f.requests {
		if strings.Contains(r, "wait=true") {
			waits = append(waits, strings.Fields(r)[1])
		}
	}
	wantWaits := []string{
		"/v2/keys/w?recursive=false&wait=true&waitIndex=5",
		"/v2/keys/w?recursive=false&wait=true&waitIndex=6",
		"/v2/keys/w?recursive=false&wait=true&waitIndex=7",
	}
	if !slices.Equal(waits, wantWaits) {
		t.Errorf("watch requests %q, want %q", waits, wantWaits)
	}
}

func TestExecWatchEnvironment(t *testing.T) {
	f := newFakeMember(t)
	log := filepath.Join(t.TempDir(), "log")
	script := `echo "$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE $ETCD_WATCH_MODIFIED_INDEX" >> ` + log
	_, errOut, code := runIn(t, nil, "", "--no-sync", "--endpoints", f.srv.URL, "exec-watch", "--after-index", "4", "sh", "-c", script, "/w")
	if code != exitServerError || !strings.Contains(errOut, "401") {
		t.Fatalf("exit %d, stderr %q; want the fake's closing 401", code, errOut)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	// One command per event, in order (etcdctl may interleave them).
	if got, want := string(b), "set /w one 5\nupdate /w two 6\n"; got != want {
		t.Errorf("commands saw %q, want %q", got, want)
	}
}

func TestLearner(t *testing.T) {
	f := newFakeMember(t)
	out, errOut, code := runIn(t, nil, "", "--endpoints", f.srv.URL, "member", "add", "--learner", "m2", "http://p2")
	want := "Added learner named m2 with ID b2 to cluster\n\nETCD_NAME=\"m2\"\nETCD_INITIAL_CLUSTER=\"m1=http://p1,m2=http://p2\"\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n"
	if out != want || errOut != "" || code != 0 {
		t.Fatalf("member add --learner: got %q, %q, exit %d; want %q", out, errOut, code, want)
	}
	if !slices.ContainsFunc(f.requests, func(r string) bool {
		return r == `POST /v2/members {"peerURLs":["http://p2"],"isLearner":true}`
	}) {
		t.Errorf("no learner POST among %q", f.requests)
	}
	out, _, _ = runIn(t, nil, "", "--endpoints", f.srv.URL, "member", "list")
	if want := "a1: name=m1 peerURLs=http://p1 clientURLs=" + f.srv.URL + " isLeader=true\nb2[unstarted]: peerURLs=http://p2 isLearner=true\n"; out != want {
		t.Errorf("member list: got %q, want %q", out, want)
	}
	tests := []struct {
		id       string
		wantOut  string
		wantErr  string
		wantCode int
	}{
		{"b2", "Promoted member b2 in cluster\n", "", 0},
		{"a1", "", "etcdserver: can only promote a learner member\n", exitBadArgs},
	}
	for _, tt := range tests {
		out, errOut, code := runIn(t, nil, "", "--endpoints", f.srv.URL, "member", "promote", tt.id)
		if out != tt.wantOut || errOut != tt.wantErr || code != tt.wantCode {
			t.Errorf("member promote %s: got %q, %q, exit %d; want %q, %q, exit %d", tt.id, out, errOut, code, tt.wantOut, tt.wantErr, tt.wantCode)
		}
	}
}

func TestEnvironmentEndpoints(t *testing.T) {
	f := newFakeMember(t)
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"ETCDCTL_ENDPOINTS", map[string]string{"ETCDCTL_ENDPOINTS": f.srv.URL}, nil},
		{"ETCDCTL_ENDPOINT", map[string]string{"ETCDCTL_ENDPOINT": f.srv.URL}, nil},
		{"ETCDCTL_PEERS", map[string]string{"ETCDCTL_PEERS": f.srv.URL}, nil},
		{"flag beats env", map[string]string{"ETCDCTL_ENDPOINTS": "http://127.0.0.1:1"}, []string{"--endpoints", f.srv.URL}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(slices.Clone(tt.args), "--no-sync", "get", "/k")
			out, errOut, code := runIn(t, tt.env, "", args...)
			if out != "v\n" || code != 0 {
				t.Errorf("got %q, %q, exit %d", out, errOut, code)
			}
		})
	}
}

func TestHelpHasExamples(t *testing.T) {
	var check func(cs []*command, parent []string)
	check = func(cs []*command, parent []string) {
		for _, c := range cs {
			args := append(slices.Clone(parent), c.name, "--help")
			out, errOut, code := runIn(t, nil, "", args...)
			if code != 0 || errOut != "" || !strings.Contains(out, "Example:\n  cairnctl ") && !strings.Contains(out, "Example:\n  source") {
				t.Errorf("%q: exit %d, stderr %q, no example in:\n%s", args, code, errOut, out)
			}
			check(c.subs, append(slices.Clone(parent), c.name))
		}
	}
	check(commands(), nil)
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh"} {
		out, _, code := runIn(t, nil, "", "completion", shell)
		if code != 0 || !strings.Contains(out, "complete -F _cairnctl cairnctl") || !strings.Contains(out, "exec-watch") {
			t.Errorf("completion %s: exit %d:\n%s", shell, code, out)
		}
	}
	if _, _, code := runIn(t, nil, "", "completion", "fish"); code != exitBadArgs {
		t.Errorf("completion fish: exit %d, want %d", code, exitBadArgs)
	}
}

func TestHeaderTimeout(t *testing.T) {
	// A member that never answers: the per-request --timeout moves on and
	// the command fails with the header timeout.
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) })
	_, errOut, code := runIn(t, nil, "", "--no-sync", "--timeout", "50ms", "--endpoints", srv.URL, "get", "/k")
	if code != exitServerError || !strings.Contains(errOut, "exceeded header timeout") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// Example shows the etcdctl-compatible error line of a failed command.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusPreconditionFailed)
		fmt.Fprintln(w, `{"errorCode":105,"message":"Key already exists","cause":"/a","index":12}`)
	}))
	defer srv.Close()
	code := run(context.Background(), []string{"--no-sync", "--endpoints", srv.URL, "mk", "/a", "b"}, &stdio{
		stdout: os.Stdout,
		stderr: os.Stdout, // shown here; etcdctl writes it to stderr
		getenv: func(string) string { return "" },
	})
	fmt.Println("exit", code)
	// Output:
	// Error:  105: Key already exists (/a) [12]
	// exit 4
}

func TestTLSAndBasicAuth(t *testing.T) {
	var gotUser, gotPass string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		w.Header().Set("X-Etcd-Index", "3")
		fmt.Fprintln(w, `{"action":"get","node":{"key":"/k","value":"secret","modifiedIndex":3,"createdIndex":3}}`)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBlock := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBlock, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantOut  string
		wantCode int
	}{
		{"ca flag and user", nil, []string{"--ca-file", ca, "-u", "root:pw"}, "secret\n", 0},
		{"ca and user from env", map[string]string{"ETCDCTL_CA_FILE": ca, "ETCDCTL_USERNAME": "root:pw"}, nil, "secret\n", 0},
		{"unknown CA", nil, nil, "", exitServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotUser, gotPass = "", ""
			args := append(slices.Clone(tt.args), "--no-sync", "--endpoints", srv.URL, "get", "/k")
			out, errOut, code := runIn(t, tt.env, "", args...)
			if out != tt.wantOut || code != tt.wantCode {
				t.Fatalf("got %q, %q, exit %d; want %q, exit %d", out, errOut, code, tt.wantOut, tt.wantCode)
			}
			if code == 0 && (gotUser != "root" || gotPass != "pw") {
				t.Errorf("basic auth %q:%q, want root:pw", gotUser, gotPass)
			}
		})
	}
}
