package server

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// offsetClock is the system clock plus an offset tests move forward.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func TestThreeMembers(t *testing.T) {
	clock := &offsetClock{}
	nodes := newCluster(t, 3, func(m *Member) { m.Clock = clock })
	lead := leaderOf(t, nodes)
	var follower *testNode
	for _, n := range nodes {
		if n != lead {
			follower = n
			break
		}
	}

	// A watch on the follower sees a write made through the leader. It
	// waits from the next index on, so it sees the write even if the write
	// lands before the watch is registered.
	r := do(t, "GET", follower.clientURL+"/v2/keys/", nil)
	wc := goDo(t, "GET", follower.clientURL+"/v2/keys/w", url.Values{"wait": {"true"}, "waitIndex": {incr(r.header.Get("X-Etcd-Index"))}})
	r = put(t, lead, "/w", "on-leader")
	w := <-wc
	if w.code != 200 || !strings.Contains(w.body, `"value":"on-leader"`) {
		t.Fatalf("watch on follower: %d %s", w.code, w.body)
	}

	// A write on a follower is forwarded to the leader.
	r = put(t, follower, "/f", "on-follower")
	if r.code != http.StatusCreated || !strings.Contains(r.body, `"value":"on-follower"`) {
		t.Fatalf("write on follower: %d %s", r.code, r.body)
	}
	// Read your writes: a plain (local) read on that follower sees it.
	if r := do(t, "GET", follower.clientURL+"/v2/keys/f", nil); r.code != 200 || !strings.Contains(r.body, `"value":"on-follower"`) {
		t.Fatalf("local read after a forwarded write: %d %s", r.code, r.body)
	}
	// Quorum reads on every member see it.
	for _, n := range nodes {
		r := quorumGet(t, n, "/f")
		if r.code != 200 || !strings.Contains(r.body, `"value":"on-follower"`) {
			t.Fatalf("quorum get on %s: %d %s", n.name, r.code, r.body)
		}
	}

	// Expiry: a TTL key expires once the leader's clock passes it, at the
	// same log position and store index on every member.
	r = do(t, "PUT", follower.clientURL+"/v2/keys/ttl", url.Values{"value": {"v"}, "ttl": {"5"}})
	if r.code != http.StatusCreated || !strings.Contains(r.body, `"ttl":5`) {
		t.Fatalf("ttl write: %d %s", r.code, r.body)
	}
	setIndex := r.header.Get("X-Etcd-Index")
	watches := make([]<-chan response, len(nodes))
	for i, n := range nodes {
		watches[i] = goDo(t, "GET", n.clientURL+"/v2/keys/ttl", url.Values{"wait": {"true"}, "waitIndex": {incr(setIndex)}})
	}
	clock.advance(10 * time.Second)
	var first string
	for i, c := range watches {
		w := <-c
		if w.code != 200 || !strings.HasPrefix(w.body, `{"action":"expire","node":{"key":"/ttl",`) {
			t.Fatalf("expire watch on %s: %d %s", nodes[i].name, w.code, w.body)
		}
		if i == 0 {
			first = w.body
		} else if w.body != first {
			t.Fatalf("expire differs across members:\n%s\n%s", first, w.body)
		}
	}
	for _, n := range nodes {
		r := quorumGet(t, n, "/ttl")
		if r.code != 404 {
			t.Fatalf("expired key on %s: %d %s", n.name, r.code, r.body)
		}
	}
	idx := nodes[0].m.store.Index()
	for _, n := range nodes[1:] {
		if got := n.m.store.Index(); got != idx {
			t.Fatalf("store index on %s = %d, on %s = %d", n.name, got, nodes[0].name, idx)
		}
	}
}

func incr(s string) string {
	var n uint64
	for _, c := range s {
		n = n*10 + uint64(c-'0')
	}
	n++
	out := ""
	for n > 0 {
		out = string(rune('0'+n%10)) + out
		n /= 10
	}
	return out
}

// TestFollowerRestartCatchesUp: a follower that was down misses writes,
// restarts from its WAL and catches up from the leader's log, ending with
// the same store index.
func TestFollowerRestartCatchesUp(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	lead := leaderOf(t, nodes)
	var f *testNode
	for _, n := range nodes {
		if n != lead {
			f = n
			break
		}
	}
	put(t, f, "/before", "1")
	f.m.Stop()
	for i := range 10 {
		put(t, lead, "/missed"+incr(string(rune('0'+i))), "v")
	}
	f.start(t, nodes, "new", nil)
	r := quorumGet(t, f, "/missed10")
	if r.code != 200 {
		t.Fatalf("restarted follower: %d %s", r.code, r.body)
	}
	if a, b := f.m.store.Index(), lead.m.store.Index(); a != b {
		t.Fatalf("store index: follower %d, leader %d", a, b)
	}
}

// TestSlowWatcherDoesNotBlockApply: a stream watcher whose client never
// reads fills its buffer and is dropped; writes go on.
func TestSlowWatcherDoesNotBlockApply(t *testing.T) {
	nodes := newCluster(t, 1, nil)
	n := nodes[0]
	u, err := url.Parse(n.clientURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// Never read from conn.
	if _, err := conn.Write([]byte("GET /v2/keys/s?wait=true&stream=true&recursive=true HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	writes := 300
	if testing.Short() {
		writes = 150
	}
	big := strings.Repeat("v", 2000)
	start := time.Now()
	for i := range writes {
		put(t, n, "/s/k"+incr(string(rune('0'+i%10))), big)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("%d writes with a stuck watcher took %v", writes, d)
	}
}
