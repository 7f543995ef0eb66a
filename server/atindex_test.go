package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"cairn/httpapi"
)

var _ httpapi.AtIndexReader = (*Member)(nil)

// TestGetAtIndexOnEveryMember: a read at a past store index gives the same
// answer on every member, the value as it was then.
func TestGetAtIndexOnEveryMember(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	l := leaderOf(t, nodes)
	first := put(t, l, "/cfg", "one")
	put(t, l, "/cfg", "two")
	idx := first.header.Get("X-Etcd-Index")
	for _, n := range nodes {
		quorumGet(t, n, "/cfg") // n has applied both writes
		r := do(t, http.MethodGet, n.clientURL+"/v2/keys/cfg", url.Values{"atIndex": {idx}})
		if r.code != http.StatusOK || !strings.Contains(r.body, `"value":"one"`) {
			t.Errorf("%s: GET atIndex=%s = %d %s, want the first value", n.name, idx, r.code, r.body)
		}
		now := do(t, http.MethodGet, n.clientURL+"/v2/keys/cfg", nil)
		if !strings.Contains(now.body, `"value":"two"`) {
			t.Errorf("%s: plain GET = %s, want the second value", n.name, now.body)
		}
	}
}
