package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"cairn/server/config"
)

type memberOut struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner"`
}

func addMember(t *testing.T, via *testNode, peerURL string, learner bool) memberOut {
	t.Helper()
	body := fmt.Sprintf(`{"peerURLs":[%q]}`, peerURL)
	if learner {
		body = fmt.Sprintf(`{"peerURLs":[%q],"isLearner":true}`, peerURL)
	}
	r := doJSON(t, http.MethodPost, via.clientURL+"/v2/members", body)
	if r.code != http.StatusCreated {
		t.Fatalf("add member: %d %s", r.code, r.body)
	}
	var m memberOut
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatal(err)
	}
	if m.ID == "" || m.Name != "" || len(m.ClientURLs) != 0 || m.IsLearner != learner {
		t.Fatalf("add member answer: %s", r.body)
	}
	return m
}

func TestMemberJoinsBySnapshot(t *testing.T) {
	nodes := newCluster(t, 1, func(m *Member) { m.CatchUpEntries = 2 }, "--snapshot-count", "10")
	for i := range 30 {
		put(t, nodes[0], fmt.Sprintf("/k%d", i), "v")
	}
	nn := newTestNode(t, "joiner", "--snapshot-count", "10")
	added := addMember(t, nodes[0], nn.peerURL, false)
	// The duplicate is refused.
	if r := doJSON(t, http.MethodPost, nodes[0].clientURL+"/v2/members", fmt.Sprintf(`{"peerURLs":[%q]}`, nn.peerURL)); r.code != http.StatusConflict {
		t.Fatalf("duplicate add: %d %s", r.code, r.body)
	}
	all := append(nodes, nn)
	nn.start(t, all, config.StateExisting, nil)
	if got := hexID(nn.m.ID()); got != added.ID {
		t.Fatalf("joiner ID %s, added as %s", got, added.ID)
	}
	r := quorumGet(t, nn, "/k29")
	if r.code != 200 {
		t.Fatalf("joiner read: %d %s", r.code, r.body)
	}
	if nn.m.snapIndex.Load() == 0 {
		t.Fatal("joiner caught up without a snapshot")
	}
	// Both are voters now: writes need both, and work through either.
	put(t, nn, "/after", "join")
	// A third voter that never starts would leave 2 started of 3: fine.
	// A fourth would not (2 started < quorum 3): refused.
	addMember(t, nodes[0], "http://127.0.0.1:1", false)
	r = doJSON(t, http.MethodPost, nodes[0].clientURL+"/v2/members", `{"peerURLs":["http://127.0.0.1:2"]}`)
	if want := `{"message":"etcdserver: unhealthy cluster"}` + "\n"; r.code != http.StatusInternalServerError || r.body != want {
		t.Fatalf("unsafe add: %d %s", r.code, r.body)
	}
	r = do(t, http.MethodGet, nodes[0].clientURL+"/v2/members", nil)
	var list struct{ Members []memberOut }
	json.Unmarshal([]byte(r.body), &list)
	if len(list.Members) != 3 {
		t.Fatalf("members: %s", r.body)
	}
	for _, m := range list.Members {
		if m.ID == added.ID && (m.Name != "joiner" || len(m.ClientURLs) != 1) {
			t.Fatalf("joiner not published: %s", r.body)
		}
	}
}

func TestLearnerPromote(t *testing.T) {
	nodes := newCluster(t, 1, nil)
	for i := range 5 {
		put(t, nodes[0], fmt.Sprintf("/k%d", i), "v")
	}
	nl := newTestNode(t, "learner")
	added := addMember(t, nodes[0], nl.peerURL, true)
	// Not started: it has not caught up, promotion is refused.
	r := do(t, http.MethodPost, nodes[0].clientURL+"/v2/members/"+added.ID+"/promote", nil)
	if want := `{"message":"etcdserver: can only promote a learner member which is in sync with leader"}` + "\n"; r.code != http.StatusPreconditionFailed || r.body != want {
		t.Fatalf("early promote: %d %s", r.code, r.body)
	}
	// A learner does not count for quorum: writes still work.
	put(t, nodes[0], "/while-learner", "v")
	nl.start(t, append(nodes, nl), config.StateExisting, nil)
	if r := quorumGet(t, nl, "/while-learner"); r.code != 200 {
		t.Fatalf("learner read: %d %s", r.code, r.body)
	}
	r = do(t, http.MethodPost, nodes[0].clientURL+"/v2/members/"+added.ID+"/promote", nil)
	if r.code != http.StatusOK || strings.Contains(r.body, "isLearner") {
		t.Fatalf("promote: %d %s", r.code, r.body)
	}
	// Promoting a voter is refused.
	r = do(t, http.MethodPost, nodes[0].clientURL+"/v2/members/"+added.ID+"/promote", nil)
	if r.code != http.StatusPreconditionFailed {
		t.Fatalf("second promote: %d %s", r.code, r.body)
	}
	put(t, nl, "/after", "promote")
}

func waitRemoved(t *testing.T, n *testNode) {
	t.Helper()
	select {
	case <-n.m.Removed():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not notice its removal", n.name)
	}
}

func TestRemoveMembers(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	lead := leaderOf(t, nodes)
	var rest []*testNode
	for _, n := range nodes {
		if n != lead {
			rest = append(rest, n)
		}
	}
	down, other := rest[0], rest[1]
	// Remove a member while it is down: when it comes back its peers
	// refuse it (410) and it stops itself.
	down.m.Stop()
	r := do(t, http.MethodDelete, other.clientURL+"/v2/members/"+hexID(down.m.ID()), nil)
	if r.code != http.StatusNoContent {
		t.Fatalf("remove stopped follower: %d %s", r.code, r.body)
	}
	down.create(t, nodes, config.StateNew, nil)
	if err := down.m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitRemoved(t, down)
	down.m.Stop()
	// Removing it again: 410.
	r = do(t, http.MethodDelete, lead.clientURL+"/v2/members/"+hexID(down.m.ID()), nil)
	if r.code != http.StatusGone {
		t.Fatalf("remove again: %d %s", r.code, r.body)
	}
	if !other.m.IsRemoved(down.m.ID()) {
		t.Fatal("removed member not remembered")
	}
	// Remove the leader, through the follower (forwarded to the leader).
	r = do(t, http.MethodDelete, other.clientURL+"/v2/members/"+hexID(lead.m.ID()), nil)
	if r.code != http.StatusNoContent {
		t.Fatalf("remove leader: %d %s", r.code, r.body)
	}
	waitRemoved(t, lead)
	lead.m.Stop()
	// The last member goes on alone.
	put(t, other, "/alone", "v")
	if r := do(t, http.MethodDelete, other.clientURL+"/v2/members/ffff", nil); r.code != http.StatusNotFound {
		t.Fatalf("remove unknown: %d %s", r.code, r.body)
	}
	r = do(t, http.MethodGet, other.clientURL+"/v2/members", nil)
	if strings.Count(r.body, `"id"`) != 1 {
		t.Fatalf("members after removals: %s", r.body)
	}
}
