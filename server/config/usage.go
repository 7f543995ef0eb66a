package config

// Usage is the --help text, in etcd's style.
const Usage = `Usage:

  cairn [flags]
    Start a cairn member (an etcd v2 API compatible replicated config store).

  cairn --version
    Show the version of cairn.

  cairn -h | --help
    Show this help.

Every flag can be given as --flag=value or --flag value, with one or two
dashes, or from the environment as CAIRN_FLAG_NAME or ETCD_FLAG_NAME
(upper case, dashes to underscores). The command line wins over CAIRN_*,
which wins over ETCD_*; shadowed or unrecognized variables are ignored with
a warning.

Member:
  --name 'default'
    Human-readable name for this member.
  --data-dir '${name}.etcd'
    Path to the data directory.
  --snapshot-count '10000'
    Number of committed entries that trigger a snapshot to disk (the
    members of a cluster take theirs at indexes count/members apart).
  --heartbeat-interval '100'
    Time (in milliseconds) of a heartbeat interval.
  --election-timeout '1000'
    Time (in milliseconds) for an election to timeout; at least 5 times
    --heartbeat-interval, at most 50000.
  --listen-peer-urls 'http://127.0.0.1:2380'
    List of URLs to listen on for peer traffic (IP addresses or localhost).
  --listen-client-urls 'http://127.0.0.1:2379'
    List of URLs to listen on for client traffic (IP addresses or localhost).
  --max-wal-segment-size '4194304'
    Size in bytes at which the write-ahead log starts a new segment file.
  --watch-history '10000'
    Number of past events kept for watches from an index (etcd: 1000).
  --wal-direct-io 'true'
    Write the WAL with O_DIRECT where the file system supports it: each sync
    writes the batch rounded to the disk's alignment (often 512 bytes)
    instead of whole 4 KiB pages. false writes through the page cache.

Clustering:
  --initial-advertise-peer-urls 'http://localhost:2380'
    List of this member's peer URLs to advertise to the rest of the cluster.
  --initial-cluster '${name}=${initial-advertise-peer-urls}'
    Initial cluster configuration for bootstrapping: name=URL pairs,
    comma-separated; repeat a name to give it several URLs.
  --initial-cluster-state 'new'
    Initial cluster state ('new' or 'existing').
  --initial-cluster-token 'etcd-cluster'
    Initial cluster token for the cluster during bootstrap; distinct
    clusters get distinct member and cluster IDs from distinct tokens.
  --advertise-client-urls 'http://localhost:2379'
    List of this member's client URLs to advertise to the rest of the
    cluster; required when --listen-client-urls is set.

Logging:
  --log-level 'info'
    Log level: debug, info, warn or error.

Compatibility:
  --enable-v2 'true'
    Accepted and ignored: cairn always serves the v2 API.

Unsupported:
  TLS (https URLs), discovery, proxy mode and the v3 API.

Environment:
  GOMAXPROCS
    Unset, the member runs on one processor while few requests wait on it
    and on all of them under load or while it writes a snapshot; set, it
    fixes the number, as for any Go program.
  CAIRNPROFILE
    A file for a CPU profile of the whole run (complete after a clean exit).
`
