package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSingleMemberKeysAndRestart(t *testing.T) {
	nodes := newCluster(t, 1, nil)
	n := nodes[0]
	r := put(t, n, "/foo", "bar")
	if got, want := r.body, `{"action":"set","node":{"key":"/foo","value":"bar","modifiedIndex":4,"createdIndex":4}}`+"\n"; got != want {
		t.Fatalf("first write: got %q, want %q (store index 4 like etcd)", got, want)
	}
	if r.code != http.StatusCreated || r.header.Get("X-Etcd-Index") != "4" || r.header.Get("X-Raft-Index") == "" ||
		r.header.Get("X-Raft-Term") == "" || r.header.Get("X-Etcd-Cluster-Id") != hexID(n.m.ClusterID()) {
		t.Fatalf("first write: code %d headers %v", r.code, r.header)
	}
	steps := []struct {
		method string
		key    string
		form   url.Values
		code   int
		body   string
	}{
		{"PUT", "/foo", url.Values{"value": {"x"}, "prevExist": {"false"}}, 412,
			`{"errorCode":105,"message":"Key already exists","cause":"/foo","index":4}`},
		{"PUT", "/foo", url.Values{"value": {"baz"}, "prevValue": {"bar"}}, 200,
			`{"action":"compareAndSwap","node":{"key":"/foo","value":"baz","modifiedIndex":5,"createdIndex":4},"prevNode":{"key":"/foo","value":"bar","modifiedIndex":4,"createdIndex":4}}`},
		{"PUT", "/foo", url.Values{"value": {"q"}, "prevValue": {"nope"}}, 412,
			`{"errorCode":101,"message":"Compare failed","cause":"[nope != baz]","index":5}`},
		{"PUT", "/new", url.Values{"value": {"1"}, "prevExist": {"false"}}, 201,
			`{"action":"create","node":{"key":"/new","value":"1","modifiedIndex":6,"createdIndex":6}}`},
		{"DELETE", "/new", nil, 200,
			`{"action":"delete","node":{"key":"/new","modifiedIndex":7,"createdIndex":6},"prevNode":{"key":"/new","value":"1","modifiedIndex":6,"createdIndex":6}}`},
		{"GET", "/new", nil, 404, `{"errorCode":100,"message":"Key not found","cause":"/new","index":7}`},
		{"GET", "/foo", url.Values{"quorum": {"true"}}, 200,
			`{"action":"get","node":{"key":"/foo","value":"baz","modifiedIndex":5,"createdIndex":4}}`},
	}
	for _, s := range steps {
		r := do(t, s.method, n.clientURL+"/v2/keys"+s.key, s.form)
		if r.code != s.code || r.body != s.body+"\n" {
			t.Fatalf("%s %s %v: got %d %s, want %d %s", s.method, s.key, s.form, r.code, r.body, s.code, s.body)
		}
	}

	// Watch: a waiting GET gets the next change.
	wc := goDo(t, "GET", n.clientURL+"/v2/keys/foo", url.Values{"wait": {"true"}, "waitIndex": {"8"}})
	put(t, n, "/foo", "w")
	w := <-wc
	if w.code != 200 || !strings.HasPrefix(w.body, `{"action":"set","node":{"key":"/foo","value":"w","modifiedIndex":8,`) {
		t.Fatalf("watch: %d %s", w.code, w.body)
	}

	// Update the member's peer URLs through the members API.
	newPeer := "http://" + freePort(t)
	r = doJSON(t, http.MethodPut, n.clientURL+"/v2/members/"+hexID(n.m.ID()), `{"peerURLs":["`+newPeer+`"]}`)
	if r.code != http.StatusNoContent {
		t.Fatalf("update member: %d %s", r.code, r.body)
	}
	r = do(t, http.MethodGet, n.clientURL+"/v2/members", nil)
	if !strings.Contains(r.body, `"peerURLs":["`+newPeer+`"]`) {
		t.Fatalf("members after update: %s", r.body)
	}
	if r.header.Get("X-Etcd-Cluster-Id") != hexID(n.m.ClusterID()) {
		t.Fatalf("members response without cluster ID: %v", r.header)
	}

	// Restart on the same directory: data and indexes survive.
	n.m.Stop()
	n.start(t, nodes, "new", nil)
	r = quorumGet(t, n, "/foo")
	if want := `{"action":"get","node":{"key":"/foo","value":"w","modifiedIndex":8,"createdIndex":8}}` + "\n"; r.body != want {
		t.Fatalf("after restart: got %s, want %s", r.body, want)
	}
	if got := r.header.Get("X-Etcd-Index"); got != "9" {
		t.Fatalf("after restart X-Etcd-Index = %s, want 9 (the update was 9; a restart writes nothing)", got)
	}
}
