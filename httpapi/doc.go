// Package httpapi serves the etcd v2 client API of a cairn member: the keys
// API (/v2/keys), the members API (/v2/members), /v2/machines,
// /v2/stats/self, /v2/stats/store, /health and /version, with etcd's status
// codes, headers and JSON bodies. /v2/stats/leader and the auth API are not
// implemented (404).
//
// # Use
//
// The member implements Backend and mounts the handler on its client
// listeners:
//
//	h := httpapi.New(member, httpapi.Options{Timeout: 5 * time.Second})
//	srv := &http.Server{Handler: h}
//	...
//	h.Close() // ends open watches before the servers shut down
//
// # Wire format (spec 1.4-1.6)
//
// Events are written as etcd's json.Encoder writes them, one object and a
// newline, fields in etcd's order: event {action, node, prevNode}; node
// {key, value, dir, expiration, ttl, nodes, modifiedIndex, createdIndex},
// every field omitted when empty except a file's value. Keys and error
// causes have the store prefix "/1" stripped. Errors are
// {"errorCode":N,"message":"...","cause":"...","index":N} with etcd's
// status per code (default 400). Every /v2/keys and /v2/members response
// carries X-Etcd-Cluster-Id; key responses carry X-Etcd-Index (on errors,
// the error's index), and successes and watches X-Raft-Index and
// X-Raft-Term. Status 201 for create and for a set that created the key.
// A request that did not complete (no leader, proposal not applied within
// Options.Timeout, member stopping) is error 300 "Raft Internal Error",
// HTTP 500, with etcd's cause ("etcdserver: request timed out").
//
// # Reads, writes and forwarding
//
// A plain GET reads the local replica (sequential consistency);
// quorum=true asks the Backend for a linearizable read (ReadIndex). A
// write (PUT, POST, DELETE on keys; POST, PUT, DELETE and promote on
// members) arriving at a follower is proxied to the leader's peer listener
// under ForwardPrefix, marked with ForwardedHeader so it is never forwarded
// twice: the leader stamps the request time and proposes it. The leader's
// answer carries the raft index it had applied (X-Cairn-Applied-Index,
// removed before the answer goes on); the follower answers its client only
// once it has applied that index too, so a client reads its own write from
// the member it wrote to. If the leader cannot be reached, forwarding
// follows leader changes and retries until Options.Timeout.
//
// # Members API and the learner extension
//
//	GET    /v2/members                  {"members":[{"id","name","peerURLs","clientURLs"}]}
//	POST   /v2/members                  {"peerURLs":[...]} -> 201 member; 409 URL taken; 415 not JSON;
//	                                    500 {"message":"etcdserver: unhealthy cluster"} if unsafe
//	POST   /v2/members                  {"peerURLs":[...],"isLearner":true} adds a learner
//	POST   /v2/members/<id>/promote     200 member; 412 {"message":"etcdserver: can only promote
//	                                    a learner member which is in sync with leader"} if it lags
//	DELETE /v2/members/<id>             204; 404 unknown; 410 already removed
//	PUT    /v2/members/<id>             {"peerURLs":[...]} -> 204
//	GET    /v2/members/leader           member; 503 {"message":"During election"}
//
// Learners carry "isLearner":true in member objects (omitted for voters).
//
// # Concurrency
//
// A Handler is safe for concurrent use. A watch holds its request open until
// its event arrives (or each event, with stream=true), the client goes
// away, or Close is called; it never blocks the member (kv delivers to
// watchers without blocking).
package httpapi
