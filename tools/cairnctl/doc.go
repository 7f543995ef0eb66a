// Command cairnctl is a drop-in replacement for etcdctl v2 (ETCDCTL_API=2):
// the same commands, flags, environment variables, output formats, error
// lines and exit codes, so operators' scripts carry over. It talks only
// HTTP (the etcd v2 keys and members API), so it works against a cairn
// member and against etcd run with --enable-v2.
//
// # Usage
//
//	cairnctl [global flags] <command> [command flags] [arguments...]
//
//	cairnctl --endpoints http://10.0.0.1:2379 set /config/mode fast
//	cairnctl -o extended get /config/mode
//	cairnctl watch --recursive --forever /config
//	cairnctl exec-watch -- sh -c 'echo $ETCD_WATCH_KEY=$ETCD_WATCH_VALUE' /config
//	cairnctl member add --learner node5 http://10.0.0.5:2380   # cairn only
//	cairnctl member promote 8e9e05c52164694d                    # cairn only
//	source <(cairnctl completion bash)
//
// Commands: get, set, mk (--in-order), mkdir, setdir, update, updatedir,
// rm, rmdir, ls, watch, exec-watch, member list|add|remove|update|promote,
// cluster-health, completion bash|zsh and help. Every command has --help
// with an example. backup, user, role and auth (data-dir and auth API) are
// not provided.
//
// # Compatibility contract
//
// What etcdctl 3.4.23 does with ETCDCTL_API=2, observed and checked by
// compare_test.go against the real binary:
//
//   - Global flags go before the command (--debug, --no-sync, -o/--output
//     simple|extended|json, --endpoints, the deprecated --endpoint and
//     --peers/-C, --cert-file, --key-file, --ca-file, -u/--username,
//     --timeout, --total-timeout); endpoints come from the first non-empty
//     of --endpoints, $ETCDCTL_ENDPOINTS, --endpoint, $ETCDCTL_ENDPOINT,
//     --peers, $ETCDCTL_PEERS, else http://127.0.0.1:2379,http://127.0.0.1:4001.
//   - A command's own flags may also follow its arguments ("set /a b --ttl
//     5"): known flags are moved in front, as etcdctl's CLI library does.
//     The first "--" stops that and is dropped, so a value starting with
//     '-' needs "set -- /k -v", and exec-watch takes its key LAST
//     ("exec-watch [flags] <command> [args...] <key>"): etcdctl 3.4's
//     "exec-watch /k -- cmd" watches the key "cmd", and so does cairnctl.
//   - Without --no-sync the endpoint list is replaced by the client URLs in
//     /v2/members (shuffled). A sync that reaches no endpoint exits 2.
//   - Requests fail over: the last endpoint that answered is tried first,
//     then the others; a connection error, a --timeout without answer
//     headers, or a 500/503 (a member without a leader) moves on. Only when
//     every endpoint failed does the command fail, printing
//     "Error:  client: etcd cluster is unavailable or misconfigured; ..."
//     with one line per endpoint.
//   - Key errors print "Error:  105: Key already exists (/a) [12]" on
//     stderr (also with -o json, as etcdctl does) and exit 4. Exit codes:
//     0 ok, 1 bad arguments (and member command failures), 2 no
//     connection, 3 unknown command, 4 server error, 5 cluster unhealthy.
//   - A usage error prints "Incorrect Usage: <why>" and the command help on
//     stdout and <why> on stderr, exit 1. The help texts are cairnctl's own.
//   - --debug prints every request as a curl command line on stderr.
//
// Deliberate differences: exec-watch runs the command for one event at a
// time (etcdctl starts them in the background, so they can overlap); the
// version line names cairnctl; --discovery-srv is refused (exit 1); a
// --username without ":password" is refused instead of prompting.
// "member list" appends " isLearner=true" for learners, which etcd's v2
// API never reports.
//
// # Learners (cairn only)
//
// "member add --learner" POSTs {"peerURLs":[url],"isLearner":true} to
// /v2/members and "member promote <id>" POSTs /v2/members/<id>/promote, the
// shape httpapi documents. etcd 3.4's v2 API has neither.
//
// # Testing
//
// compare_test.go runs about 180 scripted command lines (every command,
// flag, output format, environment variable and error case, failover over a
// dead endpoint and a member without a leader, then again with one of three
// members stopped) through the real etcdctl (ETCDCTL_API=2) and through
// cairnctl against the same three-member cluster, and compares stdout,
// stderr and exit codes after normalising indexes, TTLs, member IDs, the
// random endpoint order and each client's key prefix. The server is etcd
// ($CAIRN_REF_ETCD, else .ref/etcd from ./build.sh ref, else $PATH)
// and cairn (built from ./tools/cairn); $CAIRNCTL_TEST_SERVERS=etcd|cairn
// picks one, -short runs etcd only. Without etcdctl ($CAIRN_REF_ETCDCTL,
// same defaults) the comparison is skipped with a message. Members report
// readiness over $NOTIFY_SOCKET, so nothing polls.
//
// # Code layout and concurrency
//
// run executes one command line against injected streams and environment
// (tests call it in-process); main only wires os.Stdin/out/err and the
// interrupt signal, which ends watch --forever, exec-watch and
// cluster-health --forever with exit 0. A run uses one goroutine; the
// client is not shared.
package main
