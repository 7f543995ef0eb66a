// Package raft is cairn's Raft consensus core: a deterministic state machine
// that implements leader election (with PreVote and CheckQuorum), log
// replication with batching, pipelining and flow control, snapshots,
// linearizable ReadIndex reads, single-server membership changes (voters and
// learners) and leadership transfer. It follows the Raft paper (Ongaro &
// Ousterhout 2014) and Ongaro's thesis; its interface is modeled on
// etcd-io/raft's RawNode.
//
// # API notes (additions to the agreed API)
//
// The agreed API is implemented as specified. Added, all compile-compatible:
// ErrInvalidConfig (wrapped by Validate), ErrInvalidMessage (Step on a
// malformed message), ErrBootstrap; Status.Config (current membership);
// the Progress and ProgressState types (Status.Progress holds copies of the
// leader's view of each member, including inflight counts and whether
// sending is paused); NewMemberID; and DescribeEntry, DescribeMessage,
// DescribeConfChange, DescribeConfState and DescribeReady for logs and
// tests. Ready must be followed by Advance before the next Ready (a second
// Ready panics: a broken caller invariant). ReadIndex contexts must be
// non-empty and unique among pending requests. types.go and encoding.go are
// unchanged.
//
// # What raft does not do
//
// raft performs no I/O, starts no goroutines, reads no clock and uses no
// global randomness: it imports neither net, os nor time. Its inputs are
// RawNode.Step (messages from peers), RawNode.Tick (a logical clock) and the
// Propose/ReadIndex/... calls; its output is Ready. Randomness (the election
// timeout, uniform in [ElectionTick, 2*ElectionTick)) comes only from
// Config.Rand. Persisting the log (the wal package), sending messages (the
// peer transport) and applying entries (the kv store) are the application's
// job.
//
// # Usage
//
//	storage := raft.NewMemoryStorage() // or one loaded from the WAL
//	rn, err := raft.NewRawNode(&raft.Config{
//		ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: storage,
//		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
//		CheckQuorum: true, PreVote: true, Rand: rand.New(src),
//	})
//	if fresh { err = rn.Bootstrap([]uint64{id1, id2, id3}) }
//
// Member IDs are random non-zero numbers (NewMemberID), never derived from
// names or addresses, which may be reused by a different member later.
//
// Then one goroutine runs the loop: call Tick at a fixed interval, Step for
// each message received, Propose/ProposeConfChange/ReadIndex/TransferLeader
// on request, and whenever HasReady reports true, handle a Ready.
//
// # The Ready loop contract
//
// For each Ready rd, in this order:
//
//  1. Take rd := rn.Ready(). Do not call Ready again before Advance.
//  2. Send rd.Messages. They may leave right away, in parallel with step 3:
//     they acknowledge nothing that is not yet durable (the leader's MsgApp,
//     heartbeats, vote requests, forwarded proposals, read-index traffic).
//     A leader may thus write its own log in parallel with its followers
//     (Raft thesis §10.2.1). Proposals made since the previous Ready leave
//     here as one batched MsgApp per follower (within MaxSizePerMsg and the
//     inflight window).
//  3. Persist: if rd.Snapshot is not empty, install it; append rd.Entries
//     (replacing any conflicting suffix); save rd.HardState if not empty. If
//     rd.MustSync, fsync once, after all three.
//  4. Send rd.MessagesAfterPersist, only now. They acknowledge durable state:
//     MsgAppResp (entries or a snapshot are stored), MsgVoteResp and
//     MsgPreVoteResp (the vote is recorded). Sending them earlier lets a
//     crash lose an acknowledged entry or a vote, which breaks safety
//     (Raft thesis §3.8).
//  5. Apply rd.CommittedEntries in order. They are already durable on this
//     member. For an EntryConfChange entry, decode it with
//     UnmarshalConfChange and call rn.ApplyConfChange (a leader removed by
//     the change steps down there). Serve rd.ReadStates once the applied
//     index reaches their Index. Because these entries are durable
//     already (a Ready never hands out entries of its own rd.Entries), step
//     5 may also run before step 3, so that answering clients does not
//     wait for this Ready's fsync.
//  6. Call rn.Advance(rd).
//
// A member's own vote and a leader's own acknowledgement of its entries are
// counted only at Advance, that is, once they are durable: a leader counts
// itself towards a commit quorum only for entries it has persisted.
//
// # Persisting on another goroutine
//
// Advance is AdvanceHandled followed by Persisted. An application whose disk
// writer runs on its own goroutine splits them: after steps 2 and 5 it calls
// rn.AdvanceHandled(rd) and hands rd to the writer, and may take the next
// Ready at once (its Entries continue where rd's end). The writer persists
// the Readies in order (it may merge several into one fsync), then sends
// each one's MessagesAfterPersist, and the owner of the RawNode calls
// rn.Persisted(rd) for each, in order, after appending its Entries to
// Storage. Until then raft counts neither the member's own vote nor the
// leader's own acknowledgement of those entries, and hands none of them out
// as CommittedEntries, so nothing is applied or acknowledged that is not
// durable here or on a quorum. With Config.LeaderAppliesUnpersisted a
// leader hands out what it knows committed even before its own copy is
// durable: its commit index counts its own log only once persisted, so
// those entries are durable on a quorum of others (Raft thesis §10.2.1).
// The application must then make its log durable up to an applied index
// before it persists state at that index (a snapshot). rafttest's
// AsyncPersist mode runs the randomized safety test this way, a quarter of
// the seeds with LeaderAppliesUnpersisted, and checks that a leader applies
// an entry it has not persisted only when a quorum has.
//
// A member that restarts rebuilds its state from Storage (HardState,
// ConfState, the log) and Config.Applied. The ConfState must be the
// membership as of Config.Applied: either restart with Applied at the
// snapshot index (MemoryStorage's ConfState is the snapshot's, and the
// committed entries after it are handed out and applied again), or persist
// the membership together with the applied index.
//
// # Features and caveats
//
//   - Election: randomized timeouts; with PreVote a member first checks that
//     it could win, without raising its term, so a member rejoining from a
//     partition does not disrupt a healthy leader. With CheckQuorum a leader
//     that has not heard from a quorum within an election timeout steps down,
//     and a follower that heard from a leader within the election timeout
//     ignores vote requests (leader stickiness).
//   - Replication: MsgApps carry up to MaxSizePerMsg bytes of entry data. A
//     follower's progress is Probe (one MsgApp per heartbeat until the match
//     point is found), Replicate (pipelined, bounded by MaxInflightMsgs and
//     MaxInflightBytes) or Snapshot (waiting for ReportSnapshot or a
//     response). Rejections carry a hint (index and term of the follower's
//     last entry not above the probe's term) so the leader skips a whole
//     conflicting term at once. Entries are committed only by counting
//     replicas of an entry of the leader's current term (Raft §5.4.2); a new
//     leader appends an empty entry.
//   - Proposals: refused with ErrProposalDropped when there is no leader,
//     forwarding is disabled (DisableProposalForwarding), the uncommitted
//     log exceeds MaxUncommittedEntriesSize, or a conf change is pending;
//     refused with ErrTransferInProgress during a leadership transfer.
//     Otherwise followers forward them to the leader. An accepted proposal
//     may still be lost in a leader change: callers match applied entries to
//     their requests and time out.
//   - ReadIndex: ReadOnlySafe (default) confirms leadership with a heartbeat
//     round carrying the request context; a new leader defers reads until it
//     has committed an entry of its term. Followers forward reads to the
//     leader. ReadOnlyLeaseBased skips the heartbeat round while the lease
//     holds; Validate refuses it without CheckQuorum. The leader stamps
//     heartbeats with its tick count and followers echo the stamp; a
//     follower that acknowledged a stamp refuses votes for ElectionTick of
//     its ticks, so the lease holds while a quorum acknowledged a stamp less
//     than ElectionTick-1 ticks old. It ends for the rest of the term once
//     the leader sends MsgTimeoutNow, and a restarted member honours a
//     possible lease for one election timeout. Without a valid lease reads
//     fall back to the heartbeat round. Correctness assumes the members'
//     tick rates do not drift apart (a bounded clock drift assumption).
//   - Snapshots: the application snapshots its state with
//     MemoryStorage.CreateSnapshot and drops old entries with
//     MemoryStorage.Compact. Keeping some entries after the snapshot (etcd
//     keeps 5000) lets slow followers catch up from the log; a follower that
//     needs compacted entries gets a MsgSnap and sees it as Ready.Snapshot.
//     The transport must report the outcome with ReportSnapshot
//     (SnapshotFailure when a MsgSnap is dropped): until then the leader
//     sends that follower nothing else.
//   - Membership: one change at a time (single-server changes, Raft thesis
//     §4.1): a change takes effect when applied, and the leader refuses a new
//     one while one is proposed but not applied. AddVoter adds a voter or
//     promotes a learner; AddLearner adds a non-voting member that receives
//     the log, never campaigns and is not counted in quorums; Remove removes
//     either (the leader may remove itself and steps down once the change
//     is applied). Demoting a voter to learner is not supported. A member
//     does not campaign while committed conf changes are not yet applied.
//     Shrinking two voters to one is fragile, as with every single-server
//     scheme: if the removed member was the leader and the message telling
//     the survivor that the removal committed is lost with it, the survivor
//     still counts the departed voter and can never reach a quorum. Keep
//     three or more voters, or remove the follower rather than the leader;
//     the randomized test (raft/rafttest) proposes removals only at the
//     leader for this reason.
//   - Leadership transfer: the leader catches the target up, then sends
//     MsgTimeoutNow so it campaigns at once (skipping PreVote and the
//     followers' leader stickiness). The transfer is abandoned after an
//     election timeout.
//   - Messages from the network are validated (Message.valid) before they
//     reach the state machine, so a buggy peer gets ErrInvalidMessage
//     instead of crashing the member. Storage errors other than
//     ErrCompacted/ErrUnavailable are fatal (Logger.Panicf).
//
// # Concurrency
//
// RawNode is not safe for concurrent use: one goroutine owns it and makes
// every call. MemoryStorage is safe for concurrent use (the application may
// append to it while raft reads). Slices in a Ready (entries, message
// entries) alias raft's memory: read them, do not modify them, and do not
// keep them past Advance without copying.
package raft
