// Package kv is cairn's etcd v2 store: the replicated state machine behind
// the v2 keys API. Every member applies the same committed Requests in log
// order and ends in the same state, byte for byte.
//
// # Using it
//
//	s, _ := kv.New(kv.Config{})
//	ev, err := s.Apply(kv.Request{Op: kv.OpPut, Path: "/1/foo", Value: "bar", Time: now})
//	ev, err = s.Get("/1/foo", false, false, time.Now().UnixNano()) // local read
//	w, err := s.Watch("/1/foo", false, false, 0)                    // long poll
//	ev = <-w.Events()
//
// The HTTP layer maps /v2/keys/x to store path /1/x and strips "/1" from
// keys and causes; "/0" holds cluster state. "/", "/0" and "/1" are read
// only (107). Store errors are *Error values (match with errors.As) whose
// Code, Message, Cause and Index follow etcd v2.3.8 exactly (spec 1.6).
//
// # Determinism
//
// Apply reads no clock, uses no randomness and never depends on map order:
// time arrives inside the request (Request.Time, stamped by the leader).
// TTLs count from it, and an OpExpire request deletes every node whose
// expiration is <= its Time, earliest first and ties in tree order, one
// expire event and one store index each. NextExpiry tells the leader when
// to propose one, so an idle store causes no log writes. Directory
// children are kept sorted by name, so listings are always sorted (the
// sorted flag is accepted and has nothing left to do).
//
// Every change consumes the next store index (X-Etcd-Index, distinct from
// the raft index); failed operations consume none.
//
// # Semantics worth knowing
//
//   - Request.Op is the HTTP method as etcd logs it; Apply chooses set,
//     create, update, compareAndSwap, delete or compareAndDelete from
//     PrevExist, PrevValue and PrevIndex as etcd's applyRequest does
//     (spec 1.3). OpPost is the in-order create (key "%020d" of the new
//     index).
//   - A request without HasTTL makes the node permanent, which is how
//     `ttl=` with prevExist=true removes a TTL.
//   - Error 100's cause is the first missing path component (etcd's code,
//     which the spec says wins over the docs).
//   - Updating a directory changes its TTL; the event shows the new
//     modifiedIndex but the stored one does not change (spec 1.4 quirk).
//   - Refresh keeps the value, consumes an index, is recorded in history
//     and is never delivered to watchers.
//
// # Watches and history
//
// The history keeps the most recent events, bounded by Config.HistoryEvents
// AND Config.HistoryBytes (default 10,000 events / 16 MiB, versus etcd's
// fixed 1000; the daemon's --watch-history sets the events). The history
// is part of every snapshot, so a larger one costs memory, snapshot CPU
// and disk. A watch from an index still retained is answered from the
// history at once; an older index gets 401 with cause "the requested
// history has been cleared [<start>/<asked>]".
//
// Watchers are indexed in a trie of watched paths: an apply walks only the
// event key's ancestors (plus, for a directory delete or expire, the
// watched paths below it), so idle watchers elsewhere cost nothing per
// apply. Delivery never blocks: a non-stream watcher has a one-slot buffer
// and ends after its event; a stream watcher has Config.WatcherBuffer
// slots and is dropped (channel closed, Err() == ErrWatcherOverflow) when
// they are full. Matching follows spec 1.7: the key itself, the subtree
// for recursive watches, delete/expire of an ancestor directory (rule c),
// hidden segments below the watched path skipped. Live delivery and
// history scans differ exactly as etcd 3.4's do (checked by
// httpapi/conformance): live, rule c reaches only watchers on nodes of the
// removed subtree; a scan applies rule c by string prefix (a delete of /ab
// matches a watch on /abc, or on a path under /ab that never existed) and
// does not skip hidden keys.
//
// # Reads at an index
//
// GetAt(path, N, ...) returns exactly what a get returned right after
// index N was applied, on any member, as long as the events after N are
// retained. It undoes the newer events over a copy of the live subtree:
// events carry the previous node, and directory removals keep the detached
// subtree. An index that is no longer (or not yet) available returns
// *Error code 460 (EcodeIndexCompacted), cairn's own code outside etcd's
// table, so it cannot be confused with a watch's 401.
//
// # Snapshots
//
// Save writes a deterministic stream (format in snapshot.go) of the state
// at the moment it was called: nodes, TTLs, the history window that the
// limits select, the index and the replicated counters. It does not hold
// the lock throughout: it copies the live tree a chunk at a time and, for
// each chunk's key range, undoes the events applied since it started, so
// applies continue meanwhile (the history they produce is pinned until
// Save returns). Restore replaces everything and ends all watchers with
// ErrStoreReset. Restoring a snapshot and applying the rest of the log
// gives the same state, and the same Save bytes, as applying the whole log
// (with equal Config on every member).
//
// # Memory
//
// A node is 64 bytes (name, value, children pointer, two indexes, expiry)
// plus its name and value strings and one slot in its parent's child list.
// Children live in sorted chunks of at most 128, so large directories need
// neither a map nor O(n) inserts. Paths are never stored in nodes.
//
// Costs are measured by the benchmarks in bench_test.go: BenchmarkApply
// (sets/s with and without 1000 idle watchers), BenchmarkMemory1M (heap
// bytes per key beyond key and value bytes, and per retained event),
// BenchmarkSave1M (Save time and size, applies during Save, the longest
// read-lock hold) and BenchmarkWatcherMemory. An idle long-poll watcher
// costs a few hundred bytes; a stream watcher adds its channel buffer
// (8 bytes per slot).
//
// While a Save runs, every event applied meanwhile stays in the history
// (pinned) until it returns, so a very long Save under heavy writes holds
// that much more memory.
//
// # Concurrency
//
// Apply and Restore must be called from one goroutine at a time (the
// member's apply loop); they take the store's write lock. Get, GetAt,
// NextExpiry and Index take the read lock and may run concurrently from
// many goroutines; GetAt copies what it needs under the read lock and
// undoes history outside it. Watch and Watcher methods take only the watcher hub's
// mutex. Save may run concurrently with Apply and reads; it takes the read
// lock once per chunk. The statistics counters are atomics: the write
// counters are replicated (and saved), the get counters and the watcher
// count are local. Events returned by any method are shared and must be
// treated as read-only.
package kv
