// Package httpapi serves the etcd v2 client API of a cairn member: the keys
// API (/v2/keys), the members API (/v2/members), /v2/machines,
// /v2/stats/self, /v2/stats/leader, /v2/stats/store, /health, /version and
// /metrics, with etcd 3.4's status codes, headers and JSON bodies. The auth
// API is not implemented (404). httpapi/conformance checks the wire format
// against a real etcd 3.4.23, request by request.
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
// Like etcd 3.4, every answer carries permissive CORS headers
// (Access-Control-Allow-Origin: *) and OPTIONS is answered 200 with an
// empty body; a path that is not clean ("/v2/keys/a//b") is redirected
// with 301 to its clean form; a 405 carries Allow but no cluster ID; a
// watch may start anywhere in the store's retained history (far deeper than
// etcd's 1000 events: error 401 only for events compacted away), unless
// Options.WatchWindow asks for etcd's exact window; quorum=true turns a watch into
// a plain quorum read; members and stats errors are {"message":...}
// without a trailing newline (except cairn's own promote and
// unhealthy-cluster answers, which keep it).
//
// Bodies of the keys API are written by a hand-written encoder
// (appendEvent, appendError) rather than encoding/json: the same bytes,
// HTML escaping, \ufffd for invalid UTF-8 and the trailing newline
// included, checked against encoding/json on random events by
// TestAppendEventMatchesEncodingJSON. Headers are set by direct map
// assignment with canonical keys; constant values (Content-Type, the CORS
// headers, the cluster ID) are shared slices that nothing may modify. A
// watch encodes each event once for all the watchers it reaches (a small
// cache keyed by the store's shared *kv.Event).
//
// # Extensions
//
//	GET /v2/keys/k?atIndex=N      the answer a GET gave right after store index N
//	                              (X-Etcd-Index: N); N older than the retained
//	                              history or newer than the current index:
//	                              error 460 (kv.EcodeIndexCompacted), HTTP 400
//	GET /v2/keys/k?waitApplied=N  a local read once this member has applied raft
//	                              index N (an X-Raft-Index seen earlier); not
//	                              within Options.Timeout: error 300, cause
//	                              "cairn: raft index not applied in time: ..."
//
// Both take GET or HEAD without wait or quorum (else error 209) and a
// number (else error 203). atIndex needs a Backend that implements
// AtIndexReader (else error 300, ErrAtIndexUnsupported).
//
// # Limits
//
// Options.MaxRequestBytes (2 MiB) bounds a request body (error 210, cause
// "http: request body too large"); MaxValueBytes (1 MiB) a value and
// MaxKeyBytes (4 KiB) a key (error 209, the limit in the cause);
// MaxWatchesPerConn (1000) the open watches of one client connection
// (RemoteAddr; HTTP 429, cairn error 470 "Too many watches"). An idle
// long-poll watch costs no CPU: it is the connection's goroutine blocked on
// a channel, with no timer, plus the goroutine that reads the connection to
// notice the client leaving. The member serves its client listeners with
// httpapi/h1, where an idle watch takes about 17 KiB: the two goroutines'
// stacks, h1's 4 KiB read buffer, the request and the answer's buffered
// head; the kv watcher with its one-slot channel is a few hundred bytes.
// Under a plain http.Server (as in the example above) it takes about
// 27 KiB, most of it net/http's per-connection buffers (4 KiB read, 4 KiB
// write, 2 KiB chunking), which it has no knob for.
// TestIdleWatchersMemory enforces 32 KiB per idle watch on both.
//
// # Metrics
//
// /metrics is the Prometheus text format (version 0.0.4). Names are etcd's
// where cairn has the same quantity, so dashboards built for etcd work:
//
//	etcd_server_has_leader, etcd_server_is_leader     gauges, 0 or 1
//	etcd_server_id{server_id}, etcd_server_version{server_version}
//	etcd_server_proposals_committed_total   gauge: the committed raft index
//	etcd_server_proposals_applied_total     gauge: the applied raft index
//	etcd_server_proposals_pending           gauge: proposals waiting to apply
//	etcd_server_proposals_failed_total      counter: proposals that ended unapplied
//	                                        (timeout, no leader, stopping)
//	etcd_server_leader_changes_seen_total   counter: new leaders this member saw
//	etcd_disk_wal_fsync_duration_seconds    histogram, etcd's buckets (1 ms to
//	                                        8.192 s): each synced WAL save, which in
//	                                        cairn is the write plus the fdatasync
//	etcd_disk_wal_write_bytes_total         gauge: bytes written to the WAL
//	etcd_debugging_snap_save_total_duration_seconds  histogram: each local snapshot
//	etcd_network_active_peers{Local,Remote}          gauge: connected peer streams
//	etcd_network_peer_sent_bytes_total{To}           counter
//	etcd_network_peer_sent_failures_total{To}        counter: messages not sent
//	etcd_network_peer_round_trip_time_seconds{To}    histogram, etcd's buckets (0.1 ms
//	                                        to 3.2768 s): heartbeat round trips measured
//	                                        while this member leads
//	etcd_debugging_store_watchers, etcd_debugging_store_expires_total,
//	etcd_debugging_store_reads_total{action}, etcd_debugging_store_writes_total{action}
//
// and cairn's own:
//
//	cairn_raft_term, cairn_raft_applied_index, cairn_raft_committed_index   gauges
//	cairn_snapshot_taken_total, cairn_snapshot_failed_total                 local snapshots
//	cairn_snapshot_received_total, cairn_snapshot_installed_total           from the leader
//	cairn_snapshot_install_duration_seconds   histogram: installing a leader's snapshot
//	cairn_http_watches_open, cairn_http_watches_total
//	cairn_http_requests_total{method,code}
//
// The Raft, WAL and snapshot metrics come from a Backend that implements
// MetricsSource; histograms are package metric's (atomics, no allocation
// per observation).
//
// # Stats
//
// /v2/stats/self, /v2/stats/store and /v2/stats/leader have etcd's JSON
// shapes and field order. In /v2/stats/self the rates (recvPkgRate,
// recvBandwidthRate, sendPkgRate, sendBandwidthRate) cover the last 200
// append requests and are omitted when zero, as in etcd (no append for a
// second). /v2/stats/leader shows, per follower, what a Backend that
// implements LeaderStatsSource measured: latency in milliseconds (current,
// average, standardDeviation, minimum, maximum) and counts (success, fail);
// a follower not measured yet shows etcd's initial entry, whose minimum is
// 1<<63 (9223372036854776000). cairn's member measures the round trip of
// each heartbeat to its response since it became leader, so success
// counts answered heartbeats. etcd 3.4 times the leader's side of sending
// an append (a stream write or a pipeline POST) and counts appends: a
// healthy etcd 3.4.23 cluster shows a few microseconds there, cairn the
// network round trip plus the follower's turn-around. fail counts the sends
// the transport could not deliver (ReportUnreachable) and heartbeats left
// unanswered for 5 s.
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
