// Package server is the cairn member: it wires the Raft core (raft), the
// write-ahead log (wal), snapshots (snapshot), the v2 store (kv), the peer
// transport (server/transport) and the client API (httpapi) into one
// running cluster member.
//
// # Use
//
//	cfg, err := config.Parse(os.Args[1:], os.Environ())
//	m, err := server.New(cfg, logger) // binds the listeners
//	err = m.Start(ctx)                // bootstraps or restarts, then serves
//	<-ctx.Done()                      // or m.Removed(), m.Failed()
//	m.Stop()                          // idempotent, waits for every goroutine
//
// Tunables (CatchUpEntries, RequestTimeout, BootstrapWait, Clock,
// UnsafeNoFsync, AdaptiveProcs) are fields set between New and Start.
// Timing comes from --heartbeat-interval (one Raft tick) and
// --election-timeout (in ticks).
//
// # Peer listener
//
//	/raft/stream, /raft/snapshot  the transport (server/transport)
//	GET /cairn/id                 {"id","name"}: bootstrap ID exchange
//	GET /cairn/members            {"clusterID","members":[...]}: for joining members
//	/cairn/client/...             the client API, for writes forwarded by followers
//
// # Data directory
//
//	<data-dir>/member/id     this member's ID (hex), written before the WAL exists
//	<data-dir>/member/wal/   the WAL (package wal); its metadata holds member and cluster ID
//	<data-dir>/member/snap/  snapshots (package snapshot)
//
// # Identity and bootstrap
//
// Member IDs are random non-zero 64-bit numbers, never derived from names or
// addresses. A member of a new cluster (--initial-cluster-state new) first
// generates its ID and persists it in member/id (tmp file, fsync, rename,
// fsync of the directory), starts its peer listener, and asks every other
// member of --initial-cluster for its ID with GET <peerURL>/cairn/id
// ({"id":"<hex>","name":"<name>"}), retrying every 200 ms until all answer
// or BootstrapWait (5 min) passes. The cluster ID is the first 8 bytes of
// SHA-256 over the sorted member IDs (8 bytes big-endian each) followed by
// --initial-cluster-token, so every member computes the same one. The
// member then writes the initial membership to its WAL as committed conf
// change entries (term 1, one AddVoter per member in ID order, Context
// {"name","peerURLs"}), exactly as if it were restarting.
//
// A member added at runtime (POST /v2/members, then started with
// --initial-cluster-state existing and an --initial-cluster listing at
// least one running member) asks the running members for GET
// <peerURL>/cairn/members ({"clusterID","members":[{"id","peerURLs"}]}),
// finds the member whose peer URLs match its --initial-advertise-peer-urls,
// and takes that ID and the cluster ID. It starts with an empty log and is
// caught up by the leader: from the log, or by a snapshot when the leader
// has compacted it.
//
// # Store layout
//
// As in etcd, so the store index matches etcd's: cluster state under /0,
// user keys under /1 (the keys API maps /v2/keys/x to /1/x).
//
//	/0/members/<hexid>/raftAttributes  {"peerURLs":[...]} (+ "isLearner":true), written when
//	                                   the membership change is applied
//	/0/members/<hexid>/attributes      {"name":...,"clientURLs":[...]}, proposed by the member
//	                                   itself once it has caught up, only if it changed
//	/0/removed_members/<hexid>         "" for every removed member; their peers are refused
//	/0/version                         "3.4.0", set once by the leader
//
// On a fresh single-member cluster indexes 1-3 are these writes and the
// first user write gets store index 4, as in etcd.
//
// # The Ready loop
//
// One goroutine (run) owns the RawNode. Everything else reaches it by
// queueing a function on a channel; the loop runs every queued function
// before it asks for the next Ready, so proposals from many clients land in
// the same Ready and share one WAL write and one fdatasync. Messages from
// peers are queued without waiting for the loop (a stream decodes its next
// frame meanwhile, and acknowledgements that arrive together are stepped
// together) until 4 MiB of entries are queued; past that the stream waits.
// For each Ready:
//
//  1. Messages (leader appends, heartbeats, vote requests) go to the
//     transport last, after steps 3 and 4, so that the stream goroutine
//     they wake runs as soon as the loop waits, ahead of the writer; a
//     MsgSnap is sent by streaming the newest snapshot file through the
//     transport's snapshot stream.
//  2. A Ready that carries a snapshot from the leader is handled whole on
//     the loop, after the disk writer has drained: kv.Restore from the file
//     that ReceiveSnapshot stored (snapshot.Receive), the WAL snapshot
//     marker, MemoryStorage.ApplySnapshot, then steps 3-5 synchronously.
//  3. Committed entries are applied to the store in order; waiting
//     requests are answered; ReadIndex reads are released once applied.
//     Applying never blocks on watchers (kv drops slow stream watchers).
//     On a follower raft hands out only entries that are durable here
//     already; on a leader (raft.Config.LeaderAppliesUnpersisted) entries
//     that a quorum has made durable, possibly without the leader's own
//     disk (Raft thesis §10.2.1). Either way answers do not wait for this
//     Ready's fdatasync.
//  4. RawNode.AdvanceHandled, and the Ready goes to the disk writer
//     (writer.go), a goroutine of its own. It saves the HardState and
//     Entries of every Ready queued since its last Save with one
//     wal.Save (one fdatasync, none when only the commit index moved):
//     group commit, so the loop never waits for the disk and a batch grows
//     with the disk's latency. A Ready that only moves the commit index,
//     with nothing queued at the writer, skips it: its hard state goes
//     with the next Ready that is handed over (like the WAL's own unsynced
//     batches, a commit index lost in a crash is learned again). Under
//     load, the writer of a leader with three or more voters lingers: it
//     gathers Readies for up to 2 ms before one save, since the followers
//     commit without it (writer.go says when it saves at once). The
//     leader's own log then trails what it applied by up to that much.
//  5. Only then the writer sends the Readies' MessagesAfterPersist
//     (MsgAppResp, vote responses): no acknowledgement leaves before it is
//     durable (a test checks this). It reports the Readies back to the
//     loop, which appends their entries to the MemoryStorage and calls
//     RawNode.Persisted for each, in order: the leader's own
//     acknowledgement and a member's own vote count only from here.
//
// The loop itself writes to the WAL (snapshot markers) only after the
// writer has drained (flushWriter, which also ends a lingering writer's
// wait), so a snapshot never covers entries the WAL does not hold.
//
// Entry payload: an 8-byte little-endian request ID (0 when nobody waits),
// the proposer's member ID (8 bytes little-endian), then kv.AppendRequest.
// Conf change contexts are JSON {"proposer","name","peerURLs","isLearner"}.
// Only the proposer answers the waiting request.
//
// # Time and expiry
//
// The member that proposes a write stamps kv.Request.Time; writes that
// arrive at a follower are forwarded by httpapi to the leader's peer
// listener (waiting for a leader during an election), so the leader stamps
// them. The exception: a forwarded write that reaches a member that has
// just lost leadership is proposed there, stamped with its clock, and
// reaches the new leader through raft's own proposal forwarding. On each tick the leader checks
// kv.NextExpiry and proposes an OpExpire only when something is due: an
// idle cluster writes nothing. Every member applies the same expiry at the
// same log position, so expiry is deterministic across members.
//
// # Processors
//
// With AdaptiveProcs (the daemon's default) the loop also sets GOMAXPROCS
// on each tick from the load (procs.go): one P while the client writes and
// quorum reads waiting on the member average fewer than procsUp over
// procsWindow ticks, the GOMAXPROCS the process started with from then
// until they fall to procsDown, and always while a snapshot is written. A
// write hands off between a dozen goroutines on each member, and with an
// idle P each hand-off wakes another thread; one P saves those wake-ups.
//
// # Snapshots and restart
//
// After --snapshot-count applied entries the loop starts a snapshot of the
// store at the applied index. The first snapshot after a start waits for
// a further count/n times the member's rank among the n voters
// (snapshotStagger), so the members of a cluster snapshot at indexes
// count/n apart rather than all at the same one. A goroutine calls kv.Store.Save into a
// snapshot.Writer; the loop waits only until Save has captured its state
// (its first write), so writes continue while the snapshot is compressed
// and fsynced. From then on the goroutine runs on a thread of its own, 10
// nicer than the process (lowerThreadPriority), so requests in flight go
// first. When it is committed the loop records the WAL marker,
// MemoryStorage.CreateSnapshot (metadata only, no payload in memory),
// compacts the in-memory log keeping CatchUpEntries (default 5000) for slow
// followers, and releases WAL segments before the snapshot.
//
// On restart the newest snapshot the WAL has a marker for is restored
// (kv.Restore, MemoryStorage.ApplySnapshot), then the WAL after it is
// replayed into the MemoryStorage and raft hands the committed entries out
// again to be applied.
//
// # Membership
//
// Through the members API (see httpapi): add (voter or learner), remove
// (the leader too), update peer URLs, promote a learner once its match index
// is at least 90% of the leader's. Like etcd's strict reconfiguration check,
// adding or removing a voter is refused (httpapi.ErrUnhealthy) when the
// started voters (those that published their attributes) would no longer be
// a quorum, except when growing a one-member cluster to two. Changes take
// effect when applied; one at a time. A member that applies its own removal closes Removed() and the
// daemon exits. Peers whose IDs are under /0/removed_members are refused by
// the transport (410 Gone); a member that missed its own removal (it was
// down) notices that refusal within about a second and stops as well.
// Proposals wait while the known leader is a removed member, so a write
// right after the leader removed itself goes to the next leader.
//
// # Start-up
//
// Start returns once the Raft loop runs. Client listeners serve only after
// the member has applied the log as of its start and published its
// attributes (and, on the leader of a fresh cluster, the cluster version):
// ReadyNotify is closed then, and the daemon sends READY=1. A member that is
// the only voter campaigns at once instead of waiting an election timeout.
// Listeners are bound in New, so a busy port fails early.
//
// # Errors and timeouts
//
// A write or quorum read that is not done within RequestTimeout (default
// 5 s), including while there is no leader, fails with
// httpapi.ErrTimeout (error 300, "etcdserver: request timed out"). A WAL or
// snapshot-install failure is fatal: Failed() is closed and the process
// must exit and recover from disk.
//
// # Caveats
//
//   - Entries are applied on the Raft loop goroutine: a very large apply
//     (a recursive delete of a huge directory) delays ticks and heartbeats
//     for its duration.
//   - A write that timed out (error 300) may still be applied later, as in
//     etcd.
//   - The peer listener has no authentication (forwarded client writes
//     included): keep it on a trusted network.
//
// # Concurrency
//
// Member methods are safe for concurrent use. Start may be called once;
// Stop may be called any number of times, from any goroutine except the
// member's own callbacks.
package server
