package server

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/server/config"
	"cairn/tools/testport"
)

// testNode is one in-process member with its flags, so it can be stopped
// and started again on the same data directory and ports.
type testNode struct {
	name       string
	dir        string
	clientURL  string
	peerURL    string
	m          *Member
	extraFlags []string
}

// freePort returns a loopback address for a member to listen on; see
// package testport for why not port 0.
func freePort(t testing.TB) string {
	t.Helper()
	addr, err := testport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func newTestNode(t testing.TB, name string, extra ...string) *testNode {
	t.Helper()
	return &testNode{
		name:       name,
		dir:        filepath.Join(t.TempDir(), name+".etcd"),
		clientURL:  "http://" + freePort(t),
		peerURL:    "http://" + freePort(t),
		extraFlags: extra,
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() && os.Getenv("CAIRN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("t", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// flags returns the etcd flags of n in a cluster of nodes.
func (n *testNode) flags(cluster []*testNode, state string) []string {
	var ic []string
	for _, c := range cluster {
		ic = append(ic, c.name+"="+c.peerURL)
	}
	f := []string{
		"--name", n.name, "--data-dir", n.dir,
		"--listen-client-urls", n.clientURL, "--advertise-client-urls", n.clientURL,
		"--listen-peer-urls", n.peerURL, "--initial-advertise-peer-urls", n.peerURL,
		"--initial-cluster", strings.Join(ic, ","), "--initial-cluster-state", state,
		"--heartbeat-interval", "30", "--election-timeout", "300",
	}
	return append(f, n.extraFlags...)
}

// create builds the member (binding its listeners) without starting it.
func (n *testNode) create(t testing.TB, cluster []*testNode, state string, tune func(*Member)) {
	t.Helper()
	cfg, err := config.Parse(n.flags(cluster, state), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cfg, testLogger(t).With("member", n.name))
	if err != nil {
		t.Fatal(err)
	}
	m.BootstrapWait = 20 * time.Second
	if tune != nil {
		tune(m)
	}
	n.m = m
	t.Cleanup(m.Stop)
}

func (n *testNode) start(t testing.TB, cluster []*testNode, state string, tune func(*Member)) {
	t.Helper()
	n.create(t, cluster, state, tune)
	if err := n.m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	n.waitReady(t)
}

// startCluster starts all nodes of a new cluster concurrently (each waits
// for the others' IDs).
func startCluster(t testing.TB, nodes []*testNode, tune func(*Member)) {
	t.Helper()
	for _, n := range nodes {
		n.create(t, nodes, config.StateNew, tune)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.m.Start(t.Context()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		n.waitReady(t)
	}
}

// waitReady waits until n serves clients (it has a leader and published
// its attributes).
func (n *testNode) waitReady(t testing.TB) {
	t.Helper()
	select {
	case <-n.m.ReadyNotify():
	case <-time.After(20 * time.Second):
		t.Fatalf("%s not ready after 20s", n.name)
	}
}

func newCluster(t testing.TB, size int, tune func(*Member), extra ...string) []*testNode {
	t.Helper()
	var nodes []*testNode
	for i := range size {
		nodes = append(nodes, newTestNode(t, fmt.Sprintf("m%d", i), extra...))
	}
	startCluster(t, nodes, tune)
	return nodes
}

type response struct {
	code   int
	header http.Header
	body   string
}

var testClient = &http.Client{Timeout: 15 * time.Second}

func do(t testing.TB, method, u string, form url.Values) response {
	t.Helper()
	r, err := tryDo(t, method, u, form)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// goDo runs a request on its own goroutine (a watch, say). It never calls
// t.Fatal there, which would end that goroutine and leave the test waiting
// forever: a failed request answers code 0 with the error as the body.
func goDo(t testing.TB, method, u string, form url.Values) <-chan response {
	c := make(chan response, 1)
	go func() {
		r, err := tryDo(t, method, u, form)
		if err != nil {
			r = response{body: err.Error()}
		}
		c <- r
	}()
	return c
}

func tryDo(t testing.TB, method, u string, form url.Values) (response, error) {
	var body io.Reader
	if form != nil && (method == http.MethodPut || method == http.MethodPost) {
		body = strings.NewReader(form.Encode())
	} else if form != nil {
		u += "?" + form.Encode()
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := testClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{resp.StatusCode, resp.Header, string(b)}, nil
}

func doJSON(t testing.TB, method, u, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func put(t testing.TB, n *testNode, key, value string) response {
	t.Helper()
	r := do(t, http.MethodPut, n.clientURL+"/v2/keys"+key, url.Values{"value": {value}})
	if r.code != http.StatusOK && r.code != http.StatusCreated {
		t.Fatalf("PUT %s on %s: %d %s", key, n.name, r.code, r.body)
	}
	return r
}

// quorumGet reads key linearizably through n: once it returns, n has
// applied every write acknowledged before the call.
func quorumGet(t testing.TB, n *testNode, key string) response {
	t.Helper()
	return do(t, http.MethodGet, n.clientURL+"/v2/keys"+key, url.Values{"quorum": {"true"}})
}

func leaderOf(t testing.TB, nodes []*testNode) *testNode {
	t.Helper()
	for _, n := range nodes {
		if n.m.isLeader.Load() {
			return n
		}
	}
	t.Fatal("no leader")
	return nil
}
