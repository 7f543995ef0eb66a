// Package e2e runs cairn members as separate processes on loopback and tests
// the cluster from the outside, through the etcd v2 HTTP API, while killing,
// restarting, wiping and partitioning members. The same tests run against a
// real etcd 3.4 (with --enable-v2=true) to validate the harness itself.
//
// # Running
//
//	go test -count=1 ./server/e2e                 # cairn, plus etcd if a reference etcd is found
//	go test -count=1 -short ./server/e2e          # smoke subset
//	go test -count=1 ./server/e2e -e2e.flavors=etcd
//	go test -count=1 ./server/e2e -run TestMeasure -measure -v -timeout 30m
//
// The measurements (TestMeasureFailover, TestMeasureRestart) run only with
// -measure and print lines starting with RESULT; -measure.trials and
// -measure.keys change their size.
//
// TestMain builds ./tools/cairn once into a temporary directory. If it does
// not build, every cairn run is skipped with the build error. The reference
// etcd is found by package tools/refbin: $CAIRN_REF_ETCD, else .ref/etcd as
// unpacked by `./build.sh ref` (Debian's etcd-server 3.4.23), else $PATH;
// without one the etcd runs are skipped with a message.
//
// # Harness
//
// NewCluster starts N members (named m1, m2, ...) as child processes, each
// with its own client port, peer port and data dir under t.TempDir(), and
// waits for GET /health on each (polled every 20 ms, bounded by
// Config.ReadyTimeout). A member's output goes to a log file; the last lines
// of every log are printed if the test fails. Every process is SIGKILLed in a
// t.Cleanup, by the pid the harness started, and also gets SIGKILL from the
// kernel if the test binary dies (Pdeathsig). Proc offers Kill (SIGKILL),
// Stop (SIGTERM), Start (same flags, same data dir) and Wipe; Cluster offers
// AddMember, RemoveMember and Rejoin through /v2/members, Leader and
// LearnIDs.
//
// Each member's advertised peer URL is a TCP proxy (Network) in front of its
// real peer listener, so all traffic to a member's peer port passes the
// proxy: Raft streams, snapshots, and the client requests a follower
// forwards to the leader. The proxy attributes each connection to the
// member process that opened it (the socket's owner, found through
// /proc/net/tcp and /proc/<pid>/fd; failing that, the X-Cairn-From or
// X-Server-From header) and applies per-pair rules: Drop (close the pair's
// connections, refuse new ones), Blackhole (stall open connections, refuse
// new ones) or Delay (forward each chunk after a delay). See Network for
// how refused connections are answered.
//
// Client is a minimal v2 client with a bound on every request. It records
// every acknowledged write (key, value, index) into a History; CheckAcks
// later proves that each is readable, with the same value and modifiedIndex,
// from every member. Load runs writers of unique keys bounded by count and
// time.
//
// # Failure semantics the tests accept
//
// When a member cannot reach a quorum, a write or a quorum=true read sent to
// it must fail "cleanly": an etcd error 300 (Raft Internal Error, HTTP 500),
// HTTP 503, or no answer within the client's bound (Config.ClientTimeout,
// 2 s by default; the client then reports ErrTimeout). It must never succeed.
// TestKill/majority is stricter for the quorum read: with a client bound of
// 10 s, above both daemons' own request timeouts (etcd: 5 s + 2 × election
// timeout; cairn: 5 s), the member itself must answer error 300. A write
// whose outcome is unknown (timeout) may or may not be present later; an
// acknowledged write must always be present.
//
// # Caveats
//
// Free ports are found by binding port 0 and holding the bound (not
// listening) socket until just before the member starts; another process may still take one in that
// moment, and the member then fails to start and the test fails with its
// log ("address already in use"). Only loopback addresses are used. The
// tests are wall-clock tests of real processes: they poll HTTP endpoints
// with bounded loops rather than sleeping for fixed times, but a heavily
// loaded machine can still make elections slower than the bounds assume.
//
// Pdeathsig is tied to the OS thread that started the child; the Go runtime
// does not end threads of goroutines that did not lock one, so this holds in
// practice, but a member killed for no visible reason would be the first
// thing to suspect.
//
// Set CAIRN_E2E_LOGDIR to a directory to keep every member's full log
// there, and (cairn only) CAIRN_E2E_DEBUG=1 to start members with
// --log-level=debug.
//
// # Concurrency
//
// A Cluster is driven by one test goroutine; Client, History, Network and
// Load are safe for concurrent use.
package e2e
