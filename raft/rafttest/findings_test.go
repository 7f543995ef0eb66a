package rafttest

import (
	"fmt"
	"slices"
	"testing"

	"cairn/raft"
)

// Problems this package found in the core, each reduced to a small
// deterministic scenario. All four were fixed in the core (findings 1 and 2
// in commit 5c11525, 3 in e137f28, 4 in df4b466); these tests keep them
// fixed.

// Finding 1 (liveness, §5.5 "if followers crash or run slowly, or if network
// packets are lost, the leader retries AppendEntries RPCs indefinitely").
//
// A follower in ProgressReplicate whose in-flight MsgApp is lost while the
// inflight window is full is never sent anything again: isPaused() is true
// as long as the window is full, the window only drains on MsgAppResp, and
// MsgHeartbeatResp calls sendAppend, which is paused too. The follower stays
// behind forever (and with it any proposal needing its ack). A transport
// that reports the loss (ReportUnreachable) hides the problem; silent loss
// is part of Raft's fault model.
func TestFindingLostAppendWithFullWindow(t *testing.T) {
	tests := []struct {
		inflight int
		lose     raft.MessageType // the first `inflight` of these to/from 3 are lost
	}{
		{1, raft.MsgApp},
		{4, raft.MsgApp},
		{1, raft.MsgAppResp},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("MaxInflightMsgs=%d/lose=%v", tt.inflight, tt.lose), func(t *testing.T) {
			nw := newNet(t, 1, 3, func(c *raft.Config) { c.MaxInflightMsgs = tt.inflight })
			elect(t, nw, 1)
			nw.Ticks(2) // 3 is in ProgressReplicate
			dropped := 0
			nw.Faults.Drop = func(m raft.Message) bool {
				hit := (tt.lose == raft.MsgApp && m.Type == raft.MsgApp && m.To == 3 && len(m.Entries) > 0) ||
					(tt.lose == raft.MsgAppResp && m.Type == raft.MsgAppResp && m.From == 3)
				if hit && dropped < tt.inflight {
					dropped++
					return true
				}
				return false
			}
			for i := range tt.inflight {
				propose(t, nw, 1, fmt.Sprintf("lost-%d", i))
			}
			nw.Settle()
			nw.Faults = Faults{}
			nw.Ticks(100) // 100 heartbeat intervals, 10 election timeouts
			noErr(t, nw)
			pr := nw.Node(1).Status().Progress[3]
			if want := lastIndex(nw, 1); pr.Match != want || lastIndex(nw, 3) != want {
				t.Fatalf("after 100 heartbeats member 3 holds up to %d, the leader's progress says match %d, leader at %d: %+v",
					lastIndex(nw, 3), pr.Match, want, pr)
			}
		})
	}
}

// Finding 2 (liveness): a member added after the leader's last snapshot,
// once the leader's log is compacted, can only be brought up by that
// snapshot, whose ConfState predates the member. The core used to ignore a
// snapshot that does not list the recipient (as etcd does); the follower
// acked index 0 and the leader resent the same snapshot forever: the new
// member never joined. The core now accepts such a snapshot (the entry that
// adds the member follows it and is replicated next). With SnapshotOnAdd
// the application sidesteps the question by re-snapshotting; both must
// converge.
func TestFindingNewMemberStaleSnapshot(t *testing.T) {
	for _, resnap := range []bool{true, false} {
		t.Run(fmt.Sprintf("SnapshotOnAdd=%v", resnap), func(t *testing.T) {
			nw := newNet(t, 1, 3, nil)
			nw.SnapshotOnAdd = resnap
			elect(t, nw, 1)
			for i := range 5 {
				propose(t, nw, 1, fmt.Sprintf("e%d", i))
			}
			nw.Settle()
			// A resend loop would spin within one tick at zero latency.
			nw.Latency = func(raft.Message) uint64 { return 1 }
			if err := nw.Compact(1, 0); err != nil {
				t.Fatal(err)
			}
			if err := nw.AddMember(4); err != nil {
				t.Fatal(err)
			}
			if err := nw.ProposeConfChange(1, raft.ConfChange{ID: 1, Type: raft.ConfChangeAddLearner, NodeID: 4}); err != nil {
				t.Fatal(err)
			}
			nw.Settle()
			nw.Ticks(50)
			noErr(t, nw)
			if got, want := nw.Member(4).Applied(), nw.Member(1).Applied(); got != want {
				t.Fatalf("new member applied %d, leader %d; leader's progress for it: %+v",
					got, want, nw.Node(1).Status().Progress[4])
			}
			if cs := nw.Member(4).ConfState(); !slices.Contains(cs.Learners, 4) {
				t.Errorf("new member's configuration %+v does not list it", cs)
			}
		})
	}
}

// Finding 3 (liveness, §5.1 "If a server receives a request with a stale
// term number, it rejects the request", and Figure 2: RequestVote returns
// currentTerm "for candidate to update itself").
//
// After the membership shrank from {1,2,3} to {3,4} while 3 was cut off, 3
// still believes the members are {1,2,3}: it campaigns by asking only 1 and
// 2, which are gone, so its term races ahead and 4 never hears of it. 4 (the
// only member that can win: its log is the up-to-date one) asks 3 for votes
// with a lower term, and 3 drops those requests without an answer. 4 learns
// 3's term only by chance (when its own term overtakes 3's), a random walk
// with no drift: the cluster can stay leaderless for a long time. Without
// PreVote nothing else makes 4 catch up. Answering a stale MsgVote with a
// rejection carrying the current term (as the paper's RPC does, and as the
// core already does for MsgPreVote) lets 4 adopt 3's term and win at its
// next timeout. Found by TestRandomizedSafety (seed 7587 of the version then).
func TestFindingStaleVoteRequestUnanswered(t *testing.T) {
	nw := newNet(t, 1, 3, nil)
	elect(t, nw, 1)
	nw.Isolate(3)
	if err := nw.AddMember(4); err != nil {
		t.Fatal(err)
	}
	changes := []raft.ConfChange{
		{ID: 1, Type: raft.ConfChangeAddVoter, NodeID: 4},
		{ID: 2, Type: raft.ConfChangeRemove, NodeID: 2},
		{ID: 3, Type: raft.ConfChangeRemove, NodeID: 1},
	}
	for _, cc := range changes {
		if err := nw.ProposeConfChange(1, cc); err != nil {
			t.Fatal(err)
		}
		nw.Settle()
		nw.Ticks(3)
	}
	if !nw.Member(1).Removed() || !nw.Member(2).Removed() {
		t.Fatalf("setup: members 1 and 2 not removed\n%s", describe(nw))
	}
	// 3, cut off, has campaigned a few times more than 4.
	for range 10 {
		if err := nw.Campaign(3); err != nil {
			t.Fatal(err)
		}
	}
	nw.Heal()
	for range 40 * 10 {
		if nw.Leader() != raft.None {
			break
		}
		nw.Tick()
	}
	noErr(t, nw)
	if got := nw.Leader(); got != 4 {
		t.Fatalf("no leader 40 election timeouts after healing (want 4)\n%s", describe(nw))
	}
}

// Finding 4 (safety of ReadOnlyLeaseBased reads, with no clock drift at
// all). The lease leader answers ReadIndex from its commit index as long as
// it believes it leads, and it stops believing so only at its next
// CheckQuorum, which runs every ElectionTick ticks and passes if a quorum
// was heard from at any time since the previous one. Followers may elect a
// new leader ElectionTick ticks after they last heard from the old one, so
// the old leader goes on serving reads after a new leader has committed
// writes, for up to about ElectionTick ticks (2*ElectionTick after its last
// contact). TransferLeader widens the window further: it resets
// electionElapsed, which postpones the next CheckQuorum. Here the leader is
// cut off (and in one case tries to transfer leadership, the MsgTimeoutNow
// being lost), a new leader commits a write, and the old leader answers a
// lease read with an index that misses it: a stale read. Found by
// TestRandomizedSafety (seed 601 of the version then); in a quick sweep of
// 200 seeds of the first case, 133 served a stale read. The fix: a freshness check at read
// time (serve only while a quorum acknowledged a heartbeat stamp younger
// than ElectionTick-1 ticks), revoked once a transfer sends MsgTimeoutNow.
func TestFindingLeaseReadAfterDeposition(t *testing.T) {
	tests := []struct {
		name     string
		seed     uint64
		transfer bool
	}{
		{"leader cut off", 200, false},
		{"leader cut off while transferring", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := newNet(t, tt.seed, 3, func(c *raft.Config) {
				c.CheckQuorum = true
				c.ReadOnlyOption = raft.ReadOnlyLeaseBased
			})
			elect(t, nw, 1)
			if tt.transfer {
				propose(t, nw, 1, "before")
				nw.Ticks(5)
			}
			var answered []raft.ReadState
			nw.OnReady = func(id uint64, rd *raft.Ready) {
				if id == 1 {
					answered = append(answered, rd.ReadStates...)
				}
			}
			nw.Isolate(1)
			if tt.transfer {
				if err := nw.TransferLeader(1, 2); err != nil {
					t.Fatal(err)
				}
			}
			var lead uint64
			for range 40 {
				nw.Tick()
				if l := nw.Leader(); l == 2 || l == 3 {
					lead = l
					break
				}
			}
			if lead == 0 {
				t.Fatalf("setup: no new leader on the majority side\n%s", describe(nw))
			}
			propose(t, nw, lead, "after")
			nw.Settle()
			committed := nw.MaxCommitted()
			if err := nw.ReadIndex(1, []byte("read")); err != nil {
				t.Fatal(err)
			}
			nw.Settle()
			noErr(t, nw)
			for _, rs := range answered {
				if rs.Index < committed {
					t.Fatalf("deposed leader 1 (state %v) served a lease read at index %d at tick %d, but %d was committed by leader %d before the read: stale read",
						nw.Member(1).State(), rs.Index, nw.Now(), committed, lead)
				}
			}
		})
	}
}
