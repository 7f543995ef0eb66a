// Package rafttest verifies the Raft core (package raft) from the outside,
// through its public RawNode API only.
//
// It provides Network, a synchronous, deterministic simulation of a cluster
// of raft.RawNodes, and a checker that watches everything the members
// persist, send and apply for violations of Raft's safety properties (Raft
// paper Figure 3). Its tests are a randomized chaos test over thousands of
// seeds, scenario tests that each cite the paper section they check, an
// election-timing simulation of the paper's §9.3 experiment, and
// throughput benchmarks of the core.
//
// # The model
//
// Nothing runs in the background and nothing sleeps. Time is a tick counter
// that moves only in Network.Tick, which ticks every running member and then
// settles the network: every pending Ready is handled and every message that
// is due (its latency has elapsed) is delivered, one at a time, the
// recipient's Ready being handled right after each delivery. Every random
// choice (election timeouts, latencies, faults, the order of deliveries)
// comes from generators seeded from one seed, so a seed replays exactly.
//
// Each member has a raft.MemoryStorage that stands for its durable state and
// a state machine that is a digest (a hash chain) over the applied entries.
// Its Ready loop is the reference one of the raft package:
//
//  1. take the Ready; send Ready.Messages at once (before persisting);
//  2. persist Snapshot, Entries and HardState into the MemoryStorage;
//  3. send Ready.MessagesAfterPersist;
//  4. apply CommittedEntries (ApplyConfChange for conf changes);
//  5. Advance.
//
// With Network.AsyncPersist (every odd seed of the randomized test) the loop
// is instead that of an application with its own disk writer: steps 1 and
// 4, AdvanceHandled, and the Ready waits; waiting Readies are persisted in
// order at random moments (all of them on each tick), each followed by its
// MessagesAfterPersist and Persisted. A crash loses the waiting ones.
//
// A crash (Network.Crash) drops the RawNode and the state machine; the
// storage and the messages already on the wire survive. A member can also be
// made to crash inside its next Ready loop, after step 1 or after step 2
// (Network.CrashDuringNextReady), which loses the unpersisted entries and the
// unsent acknowledgements. Restart builds a new RawNode from the same
// storage: HardState and ConfState from InitialState, Applied set to the
// storage's snapshot index, since the state machine is rebuilt from the
// snapshot and raft hands the later committed entries out again.
//
// Faults: Cut/CutOneWay/Isolate/Partition links (messages in flight on a cut
// link are lost too), per-link and global loss probabilities, a drop
// predicate, random duplication, random extra delay (held for N ticks),
// random reordering of due messages, a per-message Latency function and a
// MsgHook that sees every message. Heal removes them all. Per-member tick
// rates (SetTickRate) model clocks that drift. A lost MsgSnap is
// reported to its sender with ReportSnapshot(SnapshotFailure), a delivered
// one with SnapshotFinish, and a MsgApp lost on a cut link or to a crashed
// member with ReportUnreachable, as a real transport would. A member whose
// removal from the configuration is applied anywhere is stopped for good
// and messages to it are dropped (the ones it sent before still arrive), as
// the daemon does with removed members; member IDs are never reused.
//
// # The checker
//
// The network checks, as it runs, and records the first violation in Err:
//
//   - §5.2 Election Safety: at most one leader per term.
//   - §5.3 Log Matching: a log position (index, term) never holds two
//     different entries, nor follows two different terms, on any member at
//     any time; by induction equal positions mean identical prefixes.
//   - §5.4.3 Leader Completeness: when a member becomes leader of term T its
//     durable log holds every entry known committed in a term before T.
//   - §5.4.3 State Machine Safety: no two members apply different entries,
//     or reach different state machine digests, at the same index; a
//     committed index never changes term; entries are applied in order,
//     only once committed and durable.
//   - Persist-before-send (thesis §3.8): no vote grant and no append ack in
//     Ready.Messages acknowledges state that Ready has yet to persist, and a
//     member never votes twice in a term, even across crashes.
//   - Wire sanity: no local message types on the wire, From is the sender.
//
// # What the randomized test asserts
//
// TestRandomizedSafety runs seeded chaos scenarios on clusters of 3 or 5:
// random partitions and leader isolation, crashes (also inside the Ready
// loop, and immediate crash-restart bounces) and restarts from persisted
// state, drifting clocks (SetTickRate), message loss, duplication, delay
// and reordering, proposals at leaders and followers, ReadIndex requests,
// log compaction (so snapshots are sent), leadership transfers, and
// membership changes (add voters and learners, promote learners, remove
// voters, learners and the leader). PreVote, CheckQuorum, MaxSizePerMsg,
// MaxInflightMsgs, MaxUncommittedEntriesSize, transport loss reports and
// re-snapshotting on member addition vary by seed. Besides the checker it
// asserts that every ReadIndex answer is at least the highest index known
// committed when the request was made (linearizable reads), and, after the
// faults heal, liveness and the fate of every proposal; the test's comment
// states these assertions precisely.
//
// # Running
//
//	go test ./raft/rafttest                          # everything, well under a minute on an idle box
//	go test -short ./raft/rafttest                   # fewer seeds and trials, a few seconds
//	go test ./raft/rafttest -run 'TestRandomizedSafety$' -v -seed 42     # replay one seed, with a trace
//	go test ./raft/rafttest -run 'TestRandomizedSafety$' -seeds 20000 -firstseed 7000
//	go test ./raft/rafttest -run 'TestRandomizedSafety$' -leasereads   # also ReadOnlyLeaseBased
//	go test ./raft/rafttest -run TestElectionTiming -v                  # the timing distribution
//	go test ./raft/rafttest -run '^$' -bench .                          # core throughput, election timing
//
// The default randomized run is bounded by a seed count (10000, 1000 with
// -short) and by wall time (50 s, 15 s with -short), whichever comes first.
// Problems found in the core are kept as small deterministic tests in
// findings_test.go. TestNegativeControls breaks durability on purpose
// (Network.UnsafeForgetVote, Network.UnsafeEarlyAcks) and checks that the
// randomized test notices.
//
// # Concurrency
//
// A Network and its members belong to one goroutine. The package starts no
// goroutines and imports no testing code, so other packages' tests may use
// Network too.
package rafttest
