// Package conformance is the differential wire test of cairn's etcd v2 API
// against a real etcd 3.4 (issue 6, spec etcd-v2-api.md section 1).
//
// The test (go test ./httpapi/conformance) builds ./tools/cairn, starts a
// fresh single-member etcd (--enable-v2=true) and a fresh single-member
// cairn on free loopback ports with identical flags, sends every script in
// testdata/*.txt to both, and compares, step by step, the status, selected
// headers and the body after normalisation. TestEtcdSelfConsistent runs the
// same scripts against two etcds to prove the scripts and the normalisation
// are deterministic.
//
// # Reference etcd
//
// $CAIRN_REF_ETCD, else .ref/etcd (./build.sh ref), else etcd on
// $PATH; without one the tests skip. Debian's package works unpacked:
//
//	apt-get download etcd-server && dpkg -x etcd-server_*.deb DIR
//	CAIRN_REF_ETCD=DIR/usr/bin/etcd go test ./httpapi/conformance
//
// If cairn does not build or does not come up, the cairn side is skipped
// with the reason.
//
// # Script format
//
// One entry per line (see Parse):
//
//	# comment
//	PUT /v2/keys/a value=1&ttl=5        a request; the rest of the line is the form body
//	watch w GET /v2/keys/a?wait=true    start a request; compare its status and headers
//	await w [N]                         read N lines (default: to the end) of w, compare
//	+header Content-Type: application/json   applies to the next entry
//	+mode shape                         compare JSON with numbers/times blanked (stats)
//	+mode status                        compare status and Content-Type only
//	+repeat N                           send the next request N times, compare the last
//	+expect-diff REASON                 cairn is known to differ here: log, don't fail
//
// There are no sleeps: a watch is registered once its headers arrived, so
// the write that follows it is seen; an expiry is observed by awaiting the
// expire event on a watch (bounded by AwaitTimeout).
//
// # What is compared
//
// Status; the values of Content-Type, X-Etcd-Index and Allow; the
// presence of X-Etcd-Cluster-Id, X-Raft-Index and X-Raft-Term (the raft
// index depends on internal proposals such as etcd's TTL sync, the cluster
// ID on random IDs); the body byte for byte after normalisation: client
// and peer URLs, the member and cluster IDs and "expiration" times are
// replaced by placeholders. Date, Content-Length and etcd's
// Access-Control-* headers are not compared.
//
// -conformance.report=FILE writes the differences as markdown.
//
// # Caveats
//
// Start-up readiness is found by polling /health and /v2/members with
// backoff (bounded), the only signal both daemons share. Ports are picked
// free by the kernel and released before the daemons bind them, so a rare
// collision with another process is possible; the run then fails at start.
// The runner is sequential per server; the two servers run concurrently.
package conformance
