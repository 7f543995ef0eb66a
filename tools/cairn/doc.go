// Command cairn is the cairn member daemon: a replicated config store that
// speaks the etcd v2 keys API. It takes etcd's flags (see cairn --help);
// with none it runs a single-member cluster on 127.0.0.1:2379 (clients) and
// 127.0.0.1:2380 (peers) with its data in ./default.etcd.
//
// # Lifecycle
//
// The daemon builds the member (package server), starts it, sends
// READY=1 to systemd once the member serves clients, pings the watchdog
// while the member is healthy, and exits on SIGTERM or SIGINT (status 0),
// when the member was removed from the cluster (0), or after a fatal
// storage error (1), which it recovers from on the next start.
//
// # Processors
//
// Unless GOMAXPROCS is set in its environment, the daemon lets the member
// choose GOMAXPROCS from its load (server.Member.AdaptiveProcs): one P
// while few client writes and quorum reads wait on it, which saves the
// runtime's thread wake-ups between the goroutines a write passes through,
// and all of them while many do or a snapshot is written. Setting
// GOMAXPROCS fixes the number, as for any Go program.
//
// # Profiling
//
// CAIRNPROFILE=<file> writes a CPU profile of the whole run to file
// (read it with go tool pprof). It is off unless set, and the file is
// complete only after a clean exit (SIGTERM or SIGINT), not after SIGKILL.
// No profiling listener is ever opened. (The name has no CAIRN_ prefix
// because CAIRN_* variables are read as flags.)
package main
