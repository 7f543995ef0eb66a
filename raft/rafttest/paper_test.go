package rafttest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"cairn/raft"
)

// Scenario tests of the Raft paper's safety and timing arguments (Ongaro &
// Ousterhout, "In Search of an Understandable Consensus Algorithm", 2014),
// each naming the section it checks. Besides their own assertions, every
// network runs the checker (checker.go), verified in t.Cleanup.

func testConfig() raft.Config {
	return raft.Config{
		ElectionTick:    10,
		HeartbeatTick:   1,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
	}
}

// newNet bootstraps a cluster of members 1..size and fails t on any safety
// violation at the end.
func newNet(t *testing.T, seed uint64, size int, mod func(*raft.Config)) *Network {
	t.Helper()
	cfg := testConfig()
	if mod != nil {
		mod(&cfg)
	}
	nw := New(seed, cfg)
	if err := nw.Bootstrap(ids(size)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Err(); err != nil {
			t.Errorf("checker: %v", err)
		}
	})
	return nw
}

func ids(n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	return s
}

func noErr(t *testing.T, nw *Network) {
	t.Helper()
	if err := nw.Err(); err != nil {
		t.Fatal(err)
	}
}

// elect makes id campaign and settles; it fails t unless id wins.
func elect(t *testing.T, nw *Network, id uint64) uint64 {
	t.Helper()
	if err := nw.Campaign(id); err != nil {
		t.Fatalf("Campaign(%d): %v", id, err)
	}
	nw.Settle()
	noErr(t, nw)
	if got := nw.Leader(); got != id {
		t.Fatalf("leader after %d campaigned = %d, want %d\n%s", id, got, id, describe(nw))
	}
	return nw.Member(id).HardState().Term
}

func propose(t *testing.T, nw *Network, id uint64, data string) {
	t.Helper()
	if err := nw.Propose(id, []byte(data)); err != nil {
		t.Fatalf("Propose(%d, %q): %v", id, data, err)
	}
}

// durableLog returns member id's persisted log from its first index.
func durableLog(t *testing.T, nw *Network, id uint64) []raft.Entry {
	t.Helper()
	st := nw.Member(id).Storage
	first, _ := st.FirstIndex()
	last, _ := st.LastIndex()
	ents, err := st.Entries(first, last+1, 1<<62)
	if err != nil {
		t.Fatalf("member %d: Entries(%d, %d): %v", id, first, last+1, err)
	}
	return ents
}

func lastIndex(nw *Network, id uint64) uint64 {
	last, _ := nw.Member(id).Storage.LastIndex()
	return last
}

func sameEntries(a, b []raft.Entry) bool {
	return slices.EqualFunc(a, b, func(x, y raft.Entry) bool {
		return x.Index == y.Index && x.Term == y.Term && x.Type == y.Type && string(x.Data) == string(y.Data)
	})
}

// §5.2: a candidate wins with votes from a majority of the full cluster,
// and only then.
func TestElectionNeedsMajority(t *testing.T) {
	tests := []struct {
		size int
		down []uint64
		want bool
	}{
		{size: 1, want: true},
		{size: 3, want: true},
		{size: 3, down: []uint64{3}, want: true},
		{size: 3, down: []uint64{2, 3}, want: false},
		{size: 5, down: []uint64{4, 5}, want: true},
		{size: 5, down: []uint64{3, 4, 5}, want: false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("size=%d/down=%v", tt.size, tt.down), func(t *testing.T) {
			nw := newNet(t, 1, tt.size, nil)
			for _, id := range tt.down {
				if err := nw.Crash(id); err != nil {
					t.Fatal(err)
				}
			}
			if err := nw.Campaign(1); err != nil {
				t.Fatal(err)
			}
			nw.Settle()
			noErr(t, nw)
			if got := nw.Leader() == 1; got != tt.want {
				t.Errorf("member 1 leads = %v, want %v\n%s", got, tt.want, describe(nw))
			}
		})
	}
}

// §5.2 Election Safety: when every member campaigns in the same round, at
// most one wins each term (the checker asserts it on every Ready), and the
// cluster still settles on one leader.
func TestElectionSafetyConcurrentCandidates(t *testing.T) {
	for _, size := range []int{3, 5} {
		for seed := uint64(1); seed <= 20; seed++ {
			t.Run(fmt.Sprintf("size=%d/seed=%d", size, seed), func(t *testing.T) {
				nw := newNet(t, seed, size, nil)
				nw.Faults.Reorder = true
				for _, id := range ids(size) {
					if err := nw.Campaign(id); err != nil {
						t.Fatal(err)
					}
				}
				nw.Settle()
				noErr(t, nw)
				for range 50 * 10 {
					if nw.Leader() != raft.None {
						break
					}
					nw.Tick()
				}
				noErr(t, nw)
				if nw.Leader() == raft.None {
					t.Fatalf("no leader after 50 election timeouts\n%s", describe(nw))
				}
			})
		}
	}
}

// §5.2: a member grants at most one vote per term, first come first served,
// and the vote survives a crash (Figure 2: votedFor is persistent).
func TestOneVotePerTermAcrossCrash(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			nw := newNet(t, 1, 3, nil)
			var grants []raft.Message
			nw.MsgHook = func(m raft.Message) bool {
				if m.Type == raft.MsgVoteResp && m.From == 3 {
					grants = append(grants, m)
				}
				return true
			}
			hs := nw.Member(3).HardState()
			last := lastIndex(nw, 3)
			lastTerm, _ := nw.Member(3).Storage.Term(last)
			vote := func(from uint64) {
				nw.Inject(raft.Message{Type: raft.MsgVote, From: from, To: 3, Term: hs.Term + 1, Index: last, LogTerm: lastTerm})
				nw.Deliver()
			}
			vote(1)
			if crash {
				if err := nw.Crash(3); err != nil {
					t.Fatal(err)
				}
				if err := nw.Restart(3); err != nil {
					t.Fatal(err)
				}
			}
			vote(2)
			noErr(t, nw)
			if len(grants) != 2 {
				t.Fatalf("member 3 answered %d vote requests, want 2: %+v", len(grants), grants)
			}
			if grants[0].Reject || grants[0].To != 1 {
				t.Errorf("first request (from 1): got %+v, want a grant to 1", grants[0])
			}
			if !grants[1].Reject {
				t.Errorf("second request in the same term (from 2) was granted: %+v", grants[1])
			}
			if got := nw.Member(3).HardState().Vote; got != 1 {
				t.Errorf("persisted vote = %d, want 1", got)
			}
		})
	}
}

// §5.3 Log Matching and the leader's repair of follower logs: a deposed
// leader's uncommitted entries are overwritten by the new leader's log, and
// in the end every log is identical.
func TestLogReplicationRepairsDivergentFollower(t *testing.T) {
	nw := newNet(t, 1, 3, nil)
	elect(t, nw, 1)
	propose(t, nw, 1, "a")
	nw.Settle()

	// Member 1 leads on alone: its entries stay uncommitted.
	nw.Isolate(1)
	for i := range 3 {
		propose(t, nw, 1, fmt.Sprintf("stale-%d", i))
	}
	nw.Settle()
	staleLast := lastIndex(nw, 1)
	stale := durableLog(t, nw, 1)

	nw.Heal()
	nw.Isolate(1)
	nw.Mend(2, 3)
	elect(t, nw, 2)
	for i := range 5 {
		propose(t, nw, 2, fmt.Sprintf("new-%d", i))
	}
	nw.Settle()
	nw.Heal()
	nw.Ticks(3 * 10) // heartbeats reach 1, which steps down and is repaired
	noErr(t, nw)

	want := durableLog(t, nw, 2)
	for _, id := range []uint64{1, 3} {
		if got := durableLog(t, nw, id); !sameEntries(got, want) {
			t.Errorf("member %d log differs from leader 2's:\n got %v\nwant %v", id, got, want)
		}
	}
	for _, e := range stale {
		if e.Index > staleLast || !strings.HasPrefix(string(e.Data), "stale-") {
			continue
		}
		for _, w := range want {
			if w.Index == e.Index && w.Term == e.Term {
				t.Errorf("stale uncommitted entry %d/%d survived", e.Index, e.Term)
			}
		}
	}
	if c := nw.Member(1).HardState().Commit; c != lastIndex(nw, 2) {
		t.Errorf("member 1 commit = %d, want %d", c, lastIndex(nw, 2))
	}
}

// §5.3: AppendEntries' consistency check. A follower rejects an append
// whose preceding (index, term) it does not hold, and accepting one makes its
// log identical to the leader's up to the new entries.
func TestAppendConsistencyCheck(t *testing.T) {
	nw := newNet(t, 1, 3, nil)
	term := elect(t, nw, 1)
	propose(t, nw, 1, "x")
	nw.Settle()
	last := lastIndex(nw, 3)
	var resp []raft.Message
	nw.MsgHook = func(m raft.Message) bool {
		if m.Type == raft.MsgAppResp && m.From == 3 {
			resp = append(resp, m)
		}
		return true
	}
	real := durableLog(t, nw, 1)
	lastEnt := real[len(real)-1]
	prevTerm, _ := nw.Member(1).Storage.Term(lastEnt.Index - 1)
	fake := raft.Entry{Index: last + 6, Term: term, Data: []byte("never sent")}
	tests := []struct {
		name         string
		index, lterm uint64
		ent          raft.Entry
		wantReject   bool
	}{
		{"prev beyond the log", last + 5, term, fake, true},
		{"prev term mismatch", last, term - 1, raft.Entry{Index: last + 1, Term: term}, true},
		{"prev matches (a duplicate of the last append)", lastEnt.Index - 1, prevTerm, lastEnt, false},
	}
	for _, tt := range tests {
		resp = nil
		nw.Inject(raft.Message{Type: raft.MsgApp, From: 1, To: 3, Term: term, Index: tt.index, LogTerm: tt.lterm,
			Entries: []raft.Entry{tt.ent}, Commit: nw.Member(1).HardState().Commit})
		nw.Deliver()
		if len(resp) == 0 {
			t.Fatalf("%s: no MsgAppResp from 3", tt.name)
		}
		if got := resp[0].Reject; got != tt.wantReject {
			t.Errorf("%s: reject = %v, want %v (%+v)", tt.name, got, tt.wantReject, resp[0])
		}
		if got := durableLog(t, nw, 3); !sameEntries(got, real) {
			t.Errorf("%s: follower log changed:\n got %v\nwant %v", tt.name, got, real)
		}
	}
	noErr(t, nw)
}

// §5.4.1 Election restriction: a voter denies its vote to a candidate whose
// log is less up-to-date than its own, so a member that missed committed
// entries cannot become leader.
func TestElectionRestriction(t *testing.T) {
	for _, preVote := range []bool{false, true} {
		t.Run(fmt.Sprintf("PreVote=%v", preVote), func(t *testing.T) {
			nw := newNet(t, 1, 3, func(c *raft.Config) { c.PreVote = preVote })
			elect(t, nw, 1)
			nw.Isolate(3)
			for i := range 3 {
				propose(t, nw, 1, fmt.Sprintf("c%d", i))
			}
			nw.Settle()
			committed := nw.Member(1).HardState().Commit
			if lastIndex(nw, 3) >= committed {
				t.Fatalf("member 3 was not left behind")
			}
			// The leader goes away; 3 comes back and campaigns first.
			if err := nw.Crash(1); err != nil {
				t.Fatal(err)
			}
			nw.Heal()
			for range 5 {
				if err := nw.Campaign(3); err != nil {
					t.Fatal(err)
				}
				nw.Settle()
				if nw.Leader() == 3 {
					t.Fatalf("member 3, missing committed entries, won an election\n%s", describe(nw))
				}
			}
			for range 50 * 10 {
				if nw.Leader() != raft.None {
					break
				}
				nw.Tick()
			}
			if got := nw.Leader(); got != 2 {
				t.Fatalf("leader = %d, want 2 (the only up-to-date live member)\n%s", got, describe(nw))
			}
			noErr(t, nw)
		})
	}
}

// §5.4.2 Committing entries from previous terms, the Figure 8 scenario: a
// leader must not count replicas of an entry from an earlier term to commit
// it. Here member 1 (term c) re-replicates its term-a entry to a majority,
// yet it must not be committed, because member 5, with a later-term entry at
// the same index, can still be elected and overwrite it (Figure 8 d).
func TestFigure8PreviousTermEntryNotCommittedByCount(t *testing.T) {
	nw := newNet(t, 1, 5, func(c *raft.Config) { c.MaxSizePerMsg = 0 })
	// (a) 1 leads term a and replicates an entry at index k to 2 only.
	elect(t, nw, 1)
	nw.Partition([]uint64{1, 2}, []uint64{3}, []uint64{4}, []uint64{5})
	propose(t, nw, 1, "term-a")
	nw.Settle()
	k := lastIndex(nw, 1)
	termA, _ := nw.Member(1).Storage.Term(k)
	if t2, _ := nw.Member(2).Storage.Term(k); t2 != termA {
		t.Fatalf("setup: entry %d not on member 2", k)
	}

	// (b) 1 crashes; 5 is elected by 3, 4 and itself, and appends its own
	// entry at k (its empty term entry), which reaches no one.
	if err := nw.Crash(1); err != nil {
		t.Fatal(err)
	}
	nw.Heal()
	nw.Partition([]uint64{3, 4, 5}, []uint64{1}, []uint64{2})
	nw.Faults.Drop = func(m raft.Message) bool { return m.From == 5 && m.Type == raft.MsgApp }
	elect(t, nw, 5)
	if t5, _ := nw.Member(5).Storage.Term(k); t5 == termA || lastIndex(nw, 5) != k {
		t.Fatalf("setup: member 5 should hold its own entry at %d (last %d)", k, lastIndex(nw, 5))
	}

	// (c) 5 crashes; 1 restarts and is elected by 2, 3; it brings 3 up to
	// the term-a entry but its own current-term entry reaches nobody.
	if err := nw.Crash(5); err != nil {
		t.Fatal(err)
	}
	if err := nw.Restart(1); err != nil {
		t.Fatal(err)
	}
	nw.Heal()
	nw.Partition([]uint64{1, 2, 3}, []uint64{4}, []uint64{5})
	// Drop every append of 1's current-term entries that the recipient could
	// accept; probes it must reject still go through, so 1 finds where 3's
	// log ends and sends it entry k alone (MaxSizePerMsg 0: one entry each).
	nw.Faults.Drop = func(m raft.Message) bool {
		if m.From != 1 || m.Type != raft.MsgApp || lastIndex(nw, m.To) < m.Index {
			return false
		}
		for _, e := range m.Entries {
			if e.Term > termA {
				return true
			}
		}
		return false
	}
	for range 5 {
		if err := nw.Campaign(1); err != nil {
			t.Fatal(err)
		}
		nw.Settle()
		if nw.Leader() == 1 {
			break
		}
	}
	if nw.Leader() != 1 {
		t.Fatalf("setup: member 1 not re-elected\n%s", describe(nw))
	}
	termC := nw.Member(1).HardState().Term
	nw.Ticks(3) // heartbeats and retries: 3 gets entry k
	if t3, _ := nw.Member(3).Storage.Term(k); t3 != termA {
		t.Fatalf("setup: member 3 did not receive the term-a entry at %d\n%s", k, describe(nw))
	}
	for _, id := range []uint64{1, 2, 3} {
		if c := nw.Member(id).HardState().Commit; c >= k {
			t.Fatalf("member %d committed %d >= %d: a term-%d entry was committed by counting replicas in term %d", id, c, k, termA, termC)
		}
	}
	if _, ok := nw.Committed(k); ok {
		t.Fatalf("entry %d reported committed", k)
	}

	// (d) 1 crashes before its term-c entry spreads; 5 can win again and
	// overwrites index k. Had (k, term a) been committed, the checker would
	// now report a changed committed entry.
	if err := nw.Crash(1); err != nil {
		t.Fatal(err)
	}
	if err := nw.Restart(5); err != nil {
		t.Fatal(err)
	}
	nw.Heal()
	for range 10 {
		if err := nw.Campaign(5); err != nil {
			t.Fatal(err)
		}
		nw.Settle()
		if nw.Leader() == 5 {
			break
		}
	}
	if nw.Leader() != 5 {
		t.Fatalf("member 5 (last log term b > a) should be electable\n%s", describe(nw))
	}
	propose(t, nw, 5, "term-e")
	nw.Settle()
	noErr(t, nw)
	got, ok := nw.Committed(k)
	if !ok || got == termA {
		t.Fatalf("index %d: committed term %d (known %v), want member 5's term", k, got, ok)
	}
}

// §5.4.2, the other half: once the leader commits an entry of its own term,
// the earlier-term entries before it are committed too (Log Matching), and a
// member without them can no longer be elected.
func TestFigure8CommitThroughCurrentTerm(t *testing.T) {
	nw := newNet(t, 1, 5, nil)
	elect(t, nw, 1)
	nw.Partition([]uint64{1, 2}, []uint64{3, 4, 5})
	propose(t, nw, 1, "term-a")
	nw.Settle()
	k := lastIndex(nw, 1)
	if err := nw.Crash(1); err != nil {
		t.Fatal(err)
	}
	if err := nw.Restart(1); err != nil {
		t.Fatal(err)
	}
	nw.Heal()
	nw.Partition([]uint64{1, 2, 3}, []uint64{4, 5})
	for range 5 {
		if err := nw.Campaign(1); err != nil {
			t.Fatal(err)
		}
		nw.Settle()
		if nw.Leader() == 1 {
			break
		}
	}
	if nw.Leader() != 1 {
		t.Fatalf("member 1 not re-elected\n%s", describe(nw))
	}
	nw.Ticks(2)
	if c := nw.Member(1).HardState().Commit; c <= k {
		t.Fatalf("commit = %d, want > %d once the current-term entry is on a majority", c, k)
	}
	if err := nw.Crash(1); err != nil {
		t.Fatal(err)
	}
	nw.Heal()
	for range 5 {
		if err := nw.Campaign(4); err != nil {
			t.Fatal(err)
		}
		nw.Settle()
		if nw.Leader() == 4 {
			t.Fatalf("member 4, missing committed entry %d, was elected", k)
		}
	}
	noErr(t, nw)
}

// §5.4.3 Leader Completeness: across a chain of leader crashes, every new
// leader holds every entry committed before it was elected.
func TestLeaderCompletenessAcrossLeaderCrashes(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			nw := newNet(t, 7, size, nil)
			elect(t, nw, 1)
			for round := range 2 * size {
				lead := nw.Leader()
				for i := range 3 {
					propose(t, nw, lead, fmt.Sprintf("r%d-%d", round, i))
				}
				nw.Settle()
				committed := durableLog(t, nw, lead)
				commit := nw.Member(lead).HardState().Commit
				if err := nw.Crash(lead); err != nil {
					t.Fatal(err)
				}
				for range 100 * 10 {
					if l := nw.Leader(); l != raft.None && l != lead {
						break
					}
					nw.Tick()
				}
				next := nw.Leader()
				if next == raft.None || next == lead {
					t.Fatalf("round %d: no new leader\n%s", round, describe(nw))
				}
				got := durableLog(t, nw, next)
				for _, e := range committed {
					if e.Index > commit {
						break
					}
					i, ok := slices.BinarySearchFunc(got, e.Index, func(x raft.Entry, idx uint64) int { return int(x.Index) - int(idx) })
					if ok && (got[i].Term != e.Term || string(got[i].Data) != string(e.Data)) {
						t.Fatalf("round %d: new leader %d has %d/%d, committed was %d/%d", round, next, got[i].Index, got[i].Term, e.Index, e.Term)
					}
					if !ok && (len(got) == 0 || e.Index >= got[0].Index) {
						t.Fatalf("round %d: new leader %d lacks committed entry %d", round, next, e.Index)
					}
				}
				if err := nw.Restart(lead); err != nil {
					t.Fatal(err)
				}
				nw.Ticks(5)
				noErr(t, nw)
			}
		})
	}
}

// §5.5 Follower and candidate crashes: the leader retries AppendEntries
// indefinitely, so a follower that was down catches up after restarting;
// and AppendEntries is idempotent: duplicated and replayed (stale) appends
// neither duplicate nor drop entries.
func TestFollowerCrashRetryIdempotence(t *testing.T) {
	tests := []struct {
		name  string
		crash func(nw *Network) error
	}{
		{"crash between readies", func(nw *Network) error { return nw.Crash(3) }},
		{"crash before persisting", func(nw *Network) error { return nw.CrashDuringNextReady(3, CrashBeforePersist) }},
		{"crash before acking", func(nw *Network) error { return nw.CrashDuringNextReady(3, CrashAfterPersist) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNet(t, 3, 3, nil)
			elect(t, nw, 1)
			var apps []raft.Message
			nw.MsgHook = func(m raft.Message) bool {
				if m.Type == raft.MsgApp && m.To == 3 {
					apps = append(apps, m)
				}
				return true
			}
			if err := tt.crash(nw); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				propose(t, nw, 1, fmt.Sprintf("e%d", i))
				nw.Tick()
			}
			if nw.Member(3).Up() {
				t.Fatalf("member 3 did not crash")
			}
			nw.Ticks(20)
			if err := nw.Restart(3); err != nil {
				t.Fatal(err)
			}
			nw.Ticks(20)
			want := durableLog(t, nw, 1)
			if got := durableLog(t, nw, 3); !sameEntries(got, want) {
				t.Fatalf("member 3 did not catch up:\n got %v\nwant %v", got, want)
			}
			// Replay every append 3 ever received, twice, out of order.
			nw.Faults.DupRate = 1
			nw.Faults.Reorder = true
			for i := len(apps) - 1; i >= 0; i-- {
				nw.Inject(apps[i])
			}
			nw.Deliver()
			nw.Faults = Faults{}
			nw.Ticks(5)
			if got := durableLog(t, nw, 3); !sameEntries(got, want) {
				t.Fatalf("replayed appends changed member 3's log:\n got %v\nwant %v", got, want)
			}
			if a := nw.Member(3).Applied(); a != lastIndex(nw, 1) {
				t.Errorf("member 3 applied %d, want %d", a, lastIndex(nw, 1))
			}
			noErr(t, nw)
		})
	}
}

// §5.6 Timing and availability: broadcastTime << electionTimeout keeps a
// steady leader (no elections while it lives); when messages take longer
// than the election timeout the requirement is broken and leadership churns.
func TestTimingRequirement(t *testing.T) {
	tests := []struct {
		name       string
		latency    uint64 // ticks, ElectionTick is 10 (timeouts 10-19)
		wantSteady bool
	}{
		{"broadcast 1 tick", 1, true},
		{"broadcast 3 ticks", 3, true},
		{"broadcast 30 ticks", 30, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNet(t, 5, 5, nil)
			elect(t, nw, 1)
			term := nw.Member(1).HardState().Term
			nw.Latency = func(raft.Message) uint64 { return tt.latency }
			nw.Ticks(500)
			noErr(t, nw)
			var maxTerm uint64
			for _, id := range nw.IDs() {
				maxTerm = max(maxTerm, nw.Member(id).HardState().Term)
			}
			steady := maxTerm == term && nw.Leader() == 1
			if steady != tt.wantSteady {
				t.Errorf("steady = %v (term %d -> %d, leader %d), want %v", steady, term, maxTerm, nw.Leader(), tt.wantSteady)
			}
		})
	}
}
