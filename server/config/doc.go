// Package config parses the cairn member's start-up settings: etcd's
// command-line flags, with etcd's names and defaults, and the same settings
// from ETCD_* and CAIRN_* environment variables.
//
// # Usage
//
// The main passes its arguments and environment; Parse never reads os.Args
// or the process environment itself, so it is a pure function:
//
//	cfg, err := config.Parse(os.Args[1:], os.Environ())
//	if errors.Is(err, config.ErrHelp) {
//		fmt.Print(config.Usage)
//		os.Exit(0)
//	}
//	if err != nil {
//		fmt.Fprintln(os.Stderr, err)
//		os.Exit(1)
//	}
//	for _, w := range cfg.Warnings {
//		log.Print(w)
//	}
//
// With no flags and no environment the result is a single-member cluster
// named "default", serving clients on 127.0.0.1:2379 and peers on
// 127.0.0.1:2380, with its data in ./default.etcd.
//
// # Flags
//
// Flags take one or two dashes and either --flag=value or --flag value
// (Go's flag package). Boolean flags need the = form to be set false
// (--enable-v2=false). Usage holds the full list in etcd's help style.
//
// # Environment and precedence
//
// Every flag --some-flag can also be set as ETCD_SOME_FLAG or
// CAIRN_SOME_FLAG (upper case, dashes to underscores). Precedence, highest
// first:
//
//  1. the command line;
//  2. CAIRN_SOME_FLAG;
//  3. ETCD_SOME_FLAG;
//  4. the default (some defaults derive from other settings: --data-dir
//     from --name, --initial-cluster from --name and
//     --initial-advertise-peer-urls).
//
// As in etcd 2 (etcd 3.0 to 3.3 too), a variable for a flag that is also
// given on the command line is ignored with a warning (it is "shadowed").
// etcd 3.4 and later refuse to start instead (etcd-io/etcd#8380, PR #9382);
// cairn keeps the etcd 2 behaviour, the API generation it speaks, so a unit
// that adds a flag on top of an environment file still boots, and says so in
// the log. An ETCD_* or CAIRN_* variable
// that names no flag is ignored with a warning ("unrecognized environment
// variable"), so a typo in /etc/cairn/cairn.env is visible in the log but
// does not keep the box from booting. A variable that names a flag but holds a
// bad value is an error, like the flag would be. Warnings are returned in
// Config.Warnings for the caller to log. --version cannot come from the
// environment: container images often set ETCD_VERSION to the image's etcd
// version, which is silently ignored (as is ETCD_UNSUPPORTED_ARCH).
//
// # Validation
//
// Parse calls Config.Validate, which refuses (with ErrInvalid and a message
// naming the setting) bad or inconsistent settings: malformed URLs, https
// (cairn has no TLS yet), URLs with paths, listen URLs whose host is not an
// IP address or "localhost", advertise URLs on 0.0.0.0/::, duplicate URLs,
// client and peer URLs on the same socket, a malformed --initial-cluster, a
// --name missing from --initial-cluster,
// --initial-advertise-peer-urls that differ from this member's
// --initial-cluster entry, a peer URL claimed by two members, an unknown
// --initial-cluster-state or --log-level, and timing that cannot work:
// like etcd 3, --election-timeout must be at least 5 times
// --heartbeat-interval and at most 50000 ms. Parse also refuses, like
// etcd, an explicit --listen-client-urls without --advertise-client-urls:
// the localhost default would be advertised to clients, which replace their
// endpoint list with it. Bad values are reported as errors, never fixed up.
// The main turns any of these errors into exit status 1.
//
// # Choices that differ from etcd
//
//   - --snapshot-count defaults to 10000 (etcd 2 and etcd's own
//     DefaultSnapshotCount; etcd 3.4's flag default is 100000): a small box
//     keeps fewer entries in memory and replays fewer on start-up.
//   - The listen defaults are 127.0.0.1 rather than localhost, so the
//     member never ends up bound to ::1 only.
//   - --enable-v2 is accepted and ignored (cairn only speaks v2); setting it
//     to false draws a warning.
//   - Only http URLs: https (TLS), discovery and proxy flags do not exist.
//   - Unlike etcd, member IDs are not derived from peer URLs: the member
//     generates a random ID when it is created (see package server).
//   - --max-wal-segment-size, --watch-history, --wal-direct-io and
//     --log-level are cairn's own. --watch-history (default 10000 events, capped at 16 MiB) is how
//     far back a watch with waitIndex can start; etcd keeps 1000 events.
//
// # Concurrency
//
// Parse is safe for concurrent use. A Config is a plain value; do not modify
// it while other goroutines read it.
package config
