package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func testConfig(id uint64, s Storage) *Config {
	return &Config{
		ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: s,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		Rand: rand.New(rand.NewPCG(id, 99)),
	}
}

// newTestEnv returns an interaction environment with n voters whose output
// is discarded.
func newTestEnv(t *testing.T, n int, opts string) *interactionEnv {
	t.Helper()
	env := newInteractionEnv(t)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint(i + 1)
	}
	env.mustRun(fmt.Sprintf("add-nodes %d voters=(%s) index=2 %s", n, strings.Join(ids, ","), opts))
	return env
}

func (env *interactionEnv) mustRun(line string) string {
	env.t.Helper()
	out := env.run(line)
	if strings.Contains(out, "error:") {
		env.t.Fatalf("%s: %s", line, out)
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	s := NewMemoryStorage()
	good := func() *Config { return testConfig(1, s) }
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"ok", func(c *Config) {}, ""},
		{"zero id", func(c *Config) { c.ID = 0 }, "ID must be non-zero"},
		{"heartbeat", func(c *Config) { c.HeartbeatTick = 0 }, "HeartbeatTick"},
		{"election", func(c *Config) { c.ElectionTick = 1 }, "ElectionTick"},
		{"storage", func(c *Config) { c.Storage = nil }, "Storage"},
		{"inflight", func(c *Config) { c.MaxInflightMsgs = 0 }, "MaxInflightMsgs"},
		{"inflight bytes", func(c *Config) { c.MaxInflightBytes = 10 }, "MaxInflightBytes"},
		{"lease", func(c *Config) { c.ReadOnlyOption = ReadOnlyLeaseBased }, "CheckQuorum"},
		{"lease ok", func(c *Config) { c.ReadOnlyOption = ReadOnlyLeaseBased; c.CheckQuorum = true }, ""},
		{"read only", func(c *Config) { c.ReadOnlyOption = 9 }, "ReadOnlyOption"},
		{"rand", func(c *Config) { c.Rand = nil }, "Rand"},
	}
	for _, tt := range tests {
		c := good()
		tt.mutate(c)
		err := c.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: unexpected error %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig mentioning %q", tt.name, err, tt.want)
		}
		if _, err := NewRawNode(c); err == nil {
			t.Errorf("%s: NewRawNode accepted a bad config", tt.name)
		}
	}
}

func TestRandomizedElectionTimeout(t *testing.T) {
	r, err := newRaft(testConfig(1, NewMemoryStorage()))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for range 1000 {
		r.resetRandomizedElectionTimeout()
		et := r.randomizedElectionTimeout
		if et < r.electionTimeout || et >= 2*r.electionTimeout {
			t.Fatalf("timeout %d outside [%d, %d)", et, r.electionTimeout, 2*r.electionTimeout)
		}
		seen[et] = true
	}
	if len(seen) != r.electionTimeout {
		t.Errorf("saw %d distinct timeouts, want %d", len(seen), r.electionTimeout)
	}
}

// TestPersistBeforeSend drives a 3-member cluster in which every Ready's
// MessagesAfterPersist are held back until the Ready's state is saved, and
// checks that acknowledgements of durable state (vote grants, MsgAppResp)
// never appear among the messages that may leave early (Raft thesis §3.8).
func TestPersistBeforeSend(t *testing.T) {
	type member struct {
		rn *RawNode
		s  *MemoryStorage
	}
	ms := map[uint64]*member{}
	for id := uint64(1); id <= 3; id++ {
		s := NewMemoryStorage()
		if err := s.ApplySnapshot(Snapshot{Meta: SnapshotMeta{Index: 1, Term: 1, ConfState: ConfState{Voters: []uint64{1, 2, 3}}}}); err != nil {
			t.Fatal(err)
		}
		c := testConfig(id, s)
		c.PreVote = true
		rn, err := NewRawNode(c)
		if err != nil {
			t.Fatal(err)
		}
		ms[id] = &member{rn, s}
	}
	var inflight []Message
	seenAfter := map[MessageType]int{}
	step := func() bool {
		progress := false
		for id := uint64(1); id <= 3; id++ {
			m := ms[id]
			if !m.rn.HasReady() {
				continue
			}
			progress = true
			rd := m.rn.Ready()
			for _, msg := range rd.Messages {
				switch msg.Type {
				case MsgAppResp, MsgVoteResp, MsgPreVoteResp:
					t.Fatalf("%s in Ready.Messages: it must wait for persistence", DescribeMessage(msg))
				}
			}
			inflight = append(inflight, rd.Messages...)
			// The acknowledgements are held back while we persist and are
			// checked against the storage contents before they go out.
			held := rd.MessagesAfterPersist
			if !rd.Snapshot.IsEmpty() {
				if err := m.s.ApplySnapshot(rd.Snapshot); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.s.Append(rd.Entries); err != nil {
				t.Fatal(err)
			}
			if !rd.HardState.IsEmpty() {
				if err := m.s.SetHardState(rd.HardState); err != nil {
					t.Fatal(err)
				}
			}
			hs, _, _ := m.s.InitialState()
			last, _ := m.s.LastIndex()
			for _, msg := range held {
				seenAfter[msg.Type]++
				switch msg.Type {
				case MsgVoteResp:
					if !msg.Reject && (hs.Term != msg.Term || hs.Vote != msg.To) {
						t.Fatalf("vote %s sent before the vote was durable (hard state %+v)", DescribeMessage(msg), hs)
					}
				case MsgAppResp:
					if !msg.Reject && msg.Index > last {
						t.Fatalf("%s acknowledges index beyond durable last index %d", DescribeMessage(msg), last)
					}
				}
			}
			inflight = append(inflight, held...)
			for _, e := range rd.CommittedEntries {
				if e.Type == EntryConfChange {
					cc, err := UnmarshalConfChange(e.Data)
					if err != nil {
						t.Fatal(err)
					}
					m.rn.ApplyConfChange(cc)
				}
			}
			m.rn.Advance(rd)
		}
		msgs := inflight
		inflight = nil
		for _, msg := range msgs {
			progress = true
			if err := ms[msg.To].rn.Step(msg); err != nil && !errors.Is(err, ErrProposalDropped) {
				t.Fatalf("step %s: %v", DescribeMessage(msg), err)
			}
		}
		return progress
	}
	stabilize := func() {
		for i := 0; step(); i++ {
			if i > 1000 {
				t.Fatal("no convergence")
			}
		}
	}
	if err := ms[1].rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	stabilize()
	for i := range 20 {
		proposer := ms[uint64(i%3+1)]
		if err := proposer.rn.Propose([]byte(fmt.Sprintf("p%d", i))); err != nil {
			t.Fatal(err)
		}
		stabilize()
	}
	// A second election through PreVote, then more proposals.
	for range 30 {
		ms[2].rn.Tick()
	}
	stabilize()
	if err := ms[2].rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	stabilize()
	for i := range 5 {
		if err := ms[3].rn.Propose([]byte(fmt.Sprintf("q%d", i))); err != nil {
			t.Fatal(err)
		}
		stabilize()
	}
	for _, typ := range []MessageType{MsgAppResp, MsgVoteResp, MsgPreVoteResp} {
		if seenAfter[typ] == 0 {
			t.Errorf("no %s was exercised", typ)
		}
	}
	var commits []uint64
	for id := uint64(1); id <= 3; id++ {
		commits = append(commits, ms[id].rn.Status().Commit)
	}
	if commits[0] != commits[1] || commits[1] != commits[2] || commits[0] < 27 {
		t.Errorf("commit indexes %v, want equal and >= 27", commits)
	}
}

func TestMessageValid(t *testing.T) {
	base := func(typ MessageType) Message { return Message{Type: typ, To: 1, From: 2, Term: 3} }
	tests := []struct {
		name string
		m    Message
		ok   bool
	}{
		{"heartbeat", base(MsgHeartbeat), true},
		{"zero from", Message{Type: MsgHeartbeat, To: 1, Term: 3}, false},
		{"zero to", Message{Type: MsgHeartbeat, From: 2, Term: 3}, false},
		{"zero term", Message{Type: MsgApp, To: 1, From: 2}, false},
		{"local", base(MsgHup), false},
		{"unknown type", base(msgTypeCount), false},
		{"prop", Message{Type: MsgProp, To: 1, From: 2, Entries: []Entry{{Data: []byte("x")}}}, true},
		{"prop with term", Message{Type: MsgProp, To: 1, From: 2, Term: 1, Entries: []Entry{{}}}, false},
		{"empty prop", Message{Type: MsgProp, To: 1, From: 2}, false},
		{"app contiguous", Message{Type: MsgApp, To: 1, From: 2, Term: 3, Index: 5, LogTerm: 2,
			Entries: []Entry{{Term: 2, Index: 6}, {Term: 3, Index: 7}}}, true},
		{"app gap", Message{Type: MsgApp, To: 1, From: 2, Term: 3, Index: 5,
			Entries: []Entry{{Term: 3, Index: 6}, {Term: 3, Index: 8}}}, false},
		{"app wrong start", Message{Type: MsgApp, To: 1, From: 2, Term: 3, Index: 5,
			Entries: []Entry{{Term: 3, Index: 5}}}, false},
		{"app term decreasing", Message{Type: MsgApp, To: 1, From: 2, Term: 3, Index: 5,
			Entries: []Entry{{Term: 3, Index: 6}, {Term: 2, Index: 7}}}, false},
		{"app entry term above message", Message{Type: MsgApp, To: 1, From: 2, Term: 3, Index: 5,
			Entries: []Entry{{Term: 4, Index: 6}}}, false},
		{"app logterm above term", Message{Type: MsgApp, To: 1, From: 2, Term: 3, Index: 5, LogTerm: 4}, false},
		{"entries on heartbeat", Message{Type: MsgHeartbeat, To: 1, From: 2, Term: 3, Entries: []Entry{{Term: 3, Index: 1}}}, false},
		{"snap", Message{Type: MsgSnap, To: 1, From: 2, Term: 3,
			Snapshot: &Snapshot{Meta: SnapshotMeta{Index: 5, Term: 2, ConfState: ConfState{Voters: []uint64{1, 2}}}}}, true},
		{"snap missing", base(MsgSnap), false},
		{"snap empty", Message{Type: MsgSnap, To: 1, From: 2, Term: 3, Snapshot: &Snapshot{}}, false},
		{"snap dup member", Message{Type: MsgSnap, To: 1, From: 2, Term: 3,
			Snapshot: &Snapshot{Meta: SnapshotMeta{Index: 5, Term: 2, ConfState: ConfState{Voters: []uint64{1, 1}}}}}, false},
		{"snapshot on app", Message{Type: MsgApp, To: 1, From: 2, Term: 3, Snapshot: &Snapshot{}}, false},
	}
	for _, tt := range tests {
		err := tt.m.valid()
		if (err == nil) != tt.ok {
			t.Errorf("%s: valid() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%s: error %v does not wrap ErrInvalidMessage", tt.name, err)
		}
	}
}

func TestStepRefusesLocalAndUnknown(t *testing.T) {
	env := newTestEnv(t, 3, "")
	rn := env.nodes[1].rn
	for _, typ := range []MessageType{MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus, MsgCheckQuorum} {
		if err := rn.Step(Message{Type: typ, To: 1, From: 2, Term: 1}); !errors.Is(err, ErrStepLocalMsg) {
			t.Errorf("%s: err = %v, want ErrStepLocalMsg", typ, err)
		}
	}
	if err := rn.Step(Message{Type: MsgAppResp, To: 1, From: 9, Term: 1}); !errors.Is(err, ErrStepPeerNotFound) {
		t.Errorf("response from unknown peer: err = %v", err)
	}
	if err := rn.Step(Message{Type: MsgHeartbeat, To: 2, From: 3, Term: 1}); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("misaddressed: err = %v", err)
	}
}

func TestProposalsRefused(t *testing.T) {
	// No leader yet.
	env := newTestEnv(t, 3, "")
	if err := env.nodes[2].rn.Propose([]byte("x")); !errors.Is(err, ErrProposalDropped) {
		t.Errorf("no leader: err = %v, want ErrProposalDropped", err)
	}
	if err := env.nodes[2].rn.ProposeConfChange(ConfChange{Type: ConfChangeAddVoter, NodeID: 4}); !errors.Is(err, ErrProposalDropped) {
		t.Errorf("no leader conf change: err = %v", err)
	}
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	// Candidates refuse too.
	env.nodes[3].rn.raft.becomeCandidate()
	if err := env.nodes[3].rn.Propose([]byte("x")); !errors.Is(err, ErrProposalDropped) {
		t.Errorf("candidate: err = %v", err)
	}

	// Forwarding disabled.
	env2 := newTestEnv(t, 3, "")
	env2.nodes[2].rn.raft.disableProposalForwarding = true
	env2.mustRun("campaign 1")
	env2.mustRun("stabilize")
	if err := env2.nodes[2].rn.Propose([]byte("x")); !errors.Is(err, ErrProposalDropped) {
		t.Errorf("forwarding disabled: err = %v", err)
	}
	if err := env2.nodes[3].rn.Propose([]byte("x")); err != nil {
		t.Errorf("forwarding enabled: err = %v", err)
	}
	// Removing the last voter is refused.
	env3 := newTestEnv(t, 1, "")
	env3.mustRun("campaign 1")
	env3.mustRun("stabilize")
	if err := env3.nodes[1].rn.ProposeConfChange(ConfChange{Type: ConfChangeRemove, NodeID: 1}); !errors.Is(err, ErrProposalDropped) {
		t.Errorf("remove last voter: err = %v", err)
	}
}

func TestMaxUncommittedEntriesSize(t *testing.T) {
	env := newTestEnv(t, 3, "")
	env.nodes[1].rn.raft.maxUncommittedSize = 10
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	env.mustRun("isolate 2 3")
	rn := env.nodes[1].rn
	data := []byte("12345")
	for i := range 2 {
		if err := rn.Propose(data); err != nil {
			t.Fatalf("proposal %d: %v", i, err)
		}
	}
	if err := rn.Propose(data); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("over the limit: err = %v, want ErrProposalDropped", err)
	}
	env.mustRun("stabilize")
	env.mustRun("recover")
	env.mustRun("tick-heartbeat 1")
	env.mustRun("stabilize")
	if err := rn.Propose(data); err != nil {
		t.Fatalf("after commit and apply: %v", err)
	}
}

// TestFlowControl checks that a follower in StateReplicate has at most
// MaxInflightMsgs (and MaxInflightBytes) of MsgApps in flight and that
// MaxSizePerMsg batches entries.
func TestFlowControl(t *testing.T) {
	tests := []struct {
		name              string
		maxInflight       int
		maxBytes, maxSize uint64
		batch             bool // catch up a probing follower with 10 entries
		wantMsgs          int
		wantMaxEntries    int
	}{
		{"count window", 3, 0, 0, false, 3, 1},
		{"byte window", 100, 30, 10, false, 3, 1},
		{"batching", 100, 0, 25, true, 5, 2},
		{"one entry per message", 100, 0, 0, true, 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, 2, "")
			rn := env.nodes[1].rn
			r := rn.raft
			r.maxMsgSize = tt.maxSize
			env.mustRun("campaign 1")
			env.mustRun("stabilize")
			r.trk.progress[2].inflights = newInflights(tt.maxInflight, tt.maxBytes)
			if st := rn.Status().Progress[2].State; st != ProgressReplicate {
				t.Fatalf("follower state %s", st)
			}
			var apps []Message
			collect := func() {
				env.processReady(1)
				for _, m := range env.queue {
					if m.Type == MsgApp && m.To == 2 && len(m.Entries) > 0 {
						apps = append(apps, m)
					}
				}
				env.queue = nil
			}
			if tt.batch {
				pr := r.trk.progress[2]
				pr.becomeProbe()
				pr.msgAppProbesPaused = true
			}
			for i := range 10 {
				if err := rn.Propose([]byte(fmt.Sprintf("%010d", i))); err != nil {
					t.Fatal(err)
				}
				collect()
			}
			if tt.batch {
				if len(apps) != 0 {
					t.Fatalf("a paused probe sent %d MsgApps", len(apps))
				}
				// A heartbeat response unpauses the probe; its ack switches
				// the follower to StateReplicate and the rest streams out.
				if err := rn.Step(Message{Type: MsgHeartbeatResp, To: 1, From: 2, Term: r.Term}); err != nil {
					t.Fatal(err)
				}
				collect()
				if len(apps) != 1 {
					t.Fatalf("probe sent %d MsgApps, want 1", len(apps))
				}
				last := apps[0].Entries[len(apps[0].Entries)-1].Index
				if err := rn.Step(Message{Type: MsgAppResp, To: 1, From: 2, Term: r.Term, Index: last}); err != nil {
					t.Fatal(err)
				}
				collect()
			}
			if len(apps) != tt.wantMsgs {
				t.Errorf("sent %d MsgApps with entries, want %d", len(apps), tt.wantMsgs)
			}
			for _, m := range apps {
				if len(m.Entries) > tt.wantMaxEntries {
					t.Errorf("MsgApp carries %d entries, want <= %d", len(m.Entries), tt.wantMaxEntries)
				}
			}
			if tt.batch {
				return
			}
			pr := rn.Status().Progress[2]
			if !pr.Paused || pr.Inflight != 3 {
				t.Errorf("progress %+v should be paused with a full window of 3", pr)
			}
			// Acknowledging the first MsgApp frees one slot.
			ack := Message{Type: MsgAppResp, To: 1, From: 2, Term: r.Term, Index: apps[0].Entries[0].Index}
			if err := rn.Step(ack); err != nil {
				t.Fatal(err)
			}
			apps = nil
			collect()
			if len(apps) != 1 {
				t.Errorf("after one ack sent %d MsgApps, want 1", len(apps))
			}
		})
	}
}

// TestRestart: a member rebuilt from its MemoryStorage keeps its term, vote,
// log and membership, and does not re-deliver applied entries.
func TestRestart(t *testing.T) {
	env := newTestEnv(t, 3, "")
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	env.mustRun("propose 1 a")
	env.mustRun("propose-conf-change 1 l4")
	env.mustRun("stabilize")
	n := env.nodes[2]
	before := n.rn.Status()
	c := testConfig(2, n.storage)
	c.Applied = before.Applied
	rn, err := NewRawNode(c)
	if err != nil {
		t.Fatal(err)
	}
	after := rn.Status()
	if after.HardState != before.HardState {
		t.Errorf("hard state %+v, want %+v", after.HardState, before.HardState)
	}
	if after.Applied != before.Applied {
		t.Errorf("applied %d, want %d", after.Applied, before.Applied)
	}
	if rn.HasReady() {
		rd := rn.Ready()
		if len(rd.CommittedEntries) > 0 {
			t.Errorf("applied entries re-delivered: %v", rd.CommittedEntries)
		}
	}
	// With Applied at the snapshot index, committed entries are handed out
	// again, conf changes included, and the membership is rebuilt.
	c = testConfig(2, n.storage)
	rn, err = NewRawNode(c)
	if err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	var got []string
	for _, e := range rd.CommittedEntries {
		got = append(got, DescribeEntry(e))
		if e.Type == EntryConfChange {
			cc, _ := UnmarshalConfChange(e.Data)
			rn.ApplyConfChange(cc)
		}
	}
	rn.Advance(rd)
	want := []string{"1/3 Normal", `1/4 Normal "a"`, "1/5 ConfChange l4"}
	if !slices.Equal(got, want) {
		t.Errorf("re-applied %q, want %q", got, want)
	}
	if cs := rn.Status().Config; !cs.Equal(ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}) {
		t.Errorf("config after replay %s", DescribeConfState(cs))
	}
	// Applied beyond the commit index is a configuration error.
	c = testConfig(2, n.storage)
	c.Applied = before.Commit + 1
	if _, err := NewRawNode(c); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Applied past commit: err = %v", err)
	}
}

func TestBootstrap(t *testing.T) {
	s := NewMemoryStorage()
	rn, err := NewRawNode(testConfig(1, s))
	if err != nil {
		t.Fatal(err)
	}
	if err := rn.Bootstrap(nil); !errors.Is(err, ErrBootstrap) {
		t.Errorf("no peers: %v", err)
	}
	if err := rn.Bootstrap([]uint64{1, 1}); !errors.Is(err, ErrBootstrap) {
		t.Errorf("duplicate peers: %v", err)
	}
	if err := rn.Bootstrap([]uint64{1}); err != nil {
		t.Fatal(err)
	}
	// Process until leader and a commit.
	handle := func() {
		for rn.HasReady() {
			rd := rn.Ready()
			_ = s.Append(rd.Entries)
			if !rd.HardState.IsEmpty() {
				_ = s.SetHardState(rd.HardState)
			}
			for _, e := range rd.CommittedEntries {
				if e.Type == EntryConfChange {
					cc, _ := UnmarshalConfChange(e.Data)
					rn.ApplyConfChange(cc)
				}
			}
			rn.Advance(rd)
		}
	}
	handle()
	if err := rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	handle()
	if st := rn.Status(); st.RaftState != StateLeader || st.Commit != 2 {
		t.Errorf("status %+v, want leader with commit 2", st)
	}
	rn2, err := NewRawNode(testConfig(1, s))
	if err != nil {
		t.Fatal(err)
	}
	if err := rn2.Bootstrap([]uint64{1}); !errors.Is(err, ErrBootstrap) {
		t.Errorf("bootstrap of non-empty storage: %v", err)
	}
}

func TestLeaseBasedRead(t *testing.T) {
	env := newTestEnv(t, 3, "checkquorum=true read-only=lease")
	for _, n := range env.nodes {
		n.rn.raft.ticks = 100
	}
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	rn := env.nodes[1].rn
	read := func(ctx string) Ready {
		t.Helper()
		rn.ReadIndex([]byte(ctx))
		rd := rn.Ready()
		env.queue = nil
		rn.Advance(rd)
		return rd
	}
	// No heartbeat round has confirmed the lease yet: a safe round is used.
	if rd := read("a"); len(rd.ReadStates) != 0 || len(rd.Messages) != 2 {
		t.Fatalf("unconfirmed lease: read states %v, %d messages; want a heartbeat round", rd.ReadStates, len(rd.Messages))
	}
	env.mustRun("tick-heartbeat 1")
	env.mustRun("stabilize")
	if rd := read("b"); len(rd.ReadStates) != 1 || rd.ReadStates[0].Index != 3 || len(rd.Messages) != 0 {
		t.Fatalf("confirmed lease: read states %v, messages %v; want an immediate answer at 3", rd.ReadStates, rd.Messages)
	}
	// Cut off from the followers, the lease runs out before any other member
	// could be elected, and reads fall back to a (here unanswered) round.
	env.mustRun("isolate 2 3")
	for range 9 { // stamp 101 was echoed; valid through tick 101+10-2
		env.mustRun("tick-heartbeat 1")
		env.mustRun("process-ready 1")
	}
	if rd := read("c"); len(rd.ReadStates) != 0 {
		t.Fatalf("expired lease answered %v", rd.ReadStates)
	}
	// A leadership transfer revokes the lease for the rest of the term.
	env.mustRun("recover")
	env2 := newTestEnv(t, 3, "checkquorum=true read-only=lease")
	for _, n := range env2.nodes {
		n.rn.raft.ticks = 100
	}
	env2.mustRun("campaign 1")
	env2.mustRun("stabilize")
	env2.mustRun("tick-heartbeat 1")
	env2.mustRun("stabilize")
	if !env2.nodes[1].rn.raft.leaseValid() {
		t.Fatal("lease not confirmed")
	}
	env2.nodes[1].rn.TransferLeader(2)
	if env2.nodes[1].rn.raft.leaseValid() {
		t.Error("lease still valid after MsgTimeoutNow was sent")
	}
}

// TestRestartLease: in lease mode a restarted member ignores vote requests
// for one election timeout (it may have been in a leader's lease quorum);
// a fresh member does not.
func TestRestartLease(t *testing.T) {
	env := newTestEnv(t, 3, "checkquorum=true read-only=lease")
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	if st := env.nodes[1].rn.Status(); st.RaftState != StateLeader {
		t.Fatalf("fresh members did not elect: %+v", st)
	}
	// Restart 3 from its storage, then let 2 campaign at once (as if the
	// leader had just vanished): 3 refuses during its restart lease.
	n3 := env.nodes[3]
	c := n3.cfg
	rn, err := NewRawNode(&c)
	if err != nil {
		t.Fatal(err)
	}
	n3.rn = rn
	env.mustRun("isolate 1")
	env.nodes[2].rn.raft.lead = None // 2 lost its leader long ago
	env.nodes[2].rn.raft.electionElapsed = 100
	env.mustRun("campaign 2")
	env.mustRun("stabilize 2 3")
	if st := env.nodes[2].rn.Status(); st.RaftState == StateLeader {
		t.Fatal("restarted member voted during its restart lease")
	}
	n3.rn.raft.ticks = 10
	env.mustRun("campaign 2")
	env.mustRun("stabilize 2 3")
	if st := env.nodes[2].rn.Status(); st.RaftState != StateLeader {
		t.Fatalf("not elected after the restart lease: %+v", st)
	}
}

// TestLearnerDoesNotCountInQuorum: with voters {1,2} down to one reachable
// voter plus a learner, nothing commits.
func TestLearnerDoesNotCountInQuorum(t *testing.T) {
	env := newInteractionEnv(t)
	env.mustRun("add-nodes 3 voters=(1,2) learners=(3) index=2")
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	env.mustRun("isolate 2")
	env.mustRun("propose 1 x")
	env.mustRun("stabilize")
	st := env.nodes[1].rn.Status()
	if st.Progress[3].Match != 4 {
		t.Fatalf("learner match %d, want 4 (it receives the log)", st.Progress[3].Match)
	}
	if st.Commit != 3 {
		t.Errorf("commit %d with only leader+learner, want 3", st.Commit)
	}
}

// TestStepGarbageNoPanic steps random, validated messages into every role
// of a live cluster: a buggy peer must not crash a member.
func TestStepGarbageNoPanic(t *testing.T) {
	iters := 3000
	if testing.Short() {
		iters = 500
	}
	r := rand.New(rand.NewPCG(5, 6))
	env := newTestEnv(t, 3, "prevote=true checkquorum=true")
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	env.mustRun("propose 1 a")
	env.mustRun("stabilize")
	accepted := 0
	for i := range iters {
		m := randMessage(r)
		m.To = uint64(r.IntN(3) + 1)
		m.From = uint64(r.IntN(4) + 1)
		m.Term = r.Uint64N(4)
		m.Index = r.Uint64N(8)
		m.LogTerm = r.Uint64N(4)
		m.Commit = r.Uint64N(8)
		for j := range m.Entries {
			m.Entries[j].Index = m.Index + 1 + uint64(j)
			m.Entries[j].Term = max(m.LogTerm, m.Term)
		}
		if m.Snapshot != nil {
			m.Snapshot.Meta.Index = r.Uint64N(8)
			m.Snapshot.Meta.Term = r.Uint64N(4)
			m.Snapshot.Meta.ConfState = ConfState{Voters: []uint64{1, 2, 3}}
		}
		n := env.nodes[m.To]
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("iteration %d: %s panicked: %v", i, DescribeMessage(m), p)
				}
			}()
			if err := n.rn.Step(m); err == nil {
				accepted++
			}
			for _, id := range env.sortedIDs() {
				if env.nodes[id].rn.HasReady() {
					env.processReady(id)
				}
			}
			env.queue = nil
		}()
		if i%50 == 0 {
			env.mustRun("tick-heartbeat 1")
		}
	}
	if accepted == 0 {
		t.Error("no message was accepted; the test exercises nothing")
	}
}

func TestNewMemberID(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	seen := map[uint64]bool{}
	for range 100 {
		id := NewMemberID(r)
		if id == None || seen[id] {
			t.Fatalf("bad or repeated id %d", id)
		}
		seen[id] = true
	}
}

// TestLostAppendWithFullWindowRecovers: Raft §5.5 says the leader retries
// indefinitely. A MsgApp lost while the inflight window is full must not
// stall the follower: the heartbeat response frees a slot.
func TestLostAppendWithFullWindowRecovers(t *testing.T) {
	env := newTestEnv(t, 3, "max-inflight=1")
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	env.mustRun("propose 1 a")
	env.mustRun("process-ready 1")
	env.mustRun("drop-msgs 3") // the MsgApp to 3 is lost
	env.mustRun("stabilize")
	if pr := env.nodes[1].rn.Status().Progress[3]; !pr.Paused {
		t.Fatalf("progress %+v: expected a full, paused window", pr)
	}
	for range 3 {
		env.mustRun("tick-heartbeat 1")
		env.mustRun("stabilize")
	}
	st := env.nodes[1].rn.Status()
	if pr := st.Progress[3]; pr.Match != st.Commit {
		t.Errorf("follower 3 match %d, leader commit %d: not recovered", pr.Match, st.Commit)
	}
}

// TestSnapshotForNewMember: a member added after the leader's snapshot was
// taken accepts that snapshot (whose configuration predates it) and then
// receives the entry that added it.
func TestSnapshotForNewMember(t *testing.T) {
	env := newTestEnv(t, 3, "")
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	env.mustRun("propose 1 a")
	env.mustRun("stabilize")
	env.mustRun("compact 1 4") // snapshot at 4 without member 4
	env.mustRun("add-nodes 1")
	// Serve the stored (stale) snapshot, not a fresh one.
	env.nodes[1].rn.raft.raftLog.storage = env.nodes[1].storage
	env.mustRun("propose-conf-change 1 l4")
	env.mustRun("stabilize")
	env.mustRun("tick-heartbeat 1")
	env.mustRun("stabilize")
	if got := env.nodes[4].rn.Status(); got.Commit != env.nodes[1].rn.Status().Commit || !slices.Equal(got.Config.Learners, []uint64{4}) {
		t.Errorf("new member status %+v", got)
	}
}

// TestStaleCandidateLearnsTerm (Raft §5.1): a vote request with a stale term
// is rejected with the current term, so the candidate catches up instead of
// campaigning below everyone else's term forever.
func TestStaleCandidateLearnsTerm(t *testing.T) {
	env := newTestEnv(t, 3, "")
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	env.mustRun("campaign 2")
	env.mustRun("stabilize")
	rn := env.nodes[2].rn
	term := rn.Status().Term
	if err := rn.Step(Message{Type: MsgVote, To: 2, From: 3, Term: term - 1, Index: 99, LogTerm: term - 1}); err != nil {
		t.Fatal(err)
	}
	rd := rn.Ready()
	rn.Advance(rd)
	if len(rd.MessagesAfterPersist) != 1 {
		t.Fatalf("responses %v, want one rejection", rd.MessagesAfterPersist)
	}
	m := rd.MessagesAfterPersist[0]
	if m.Type != MsgVoteResp || !m.Reject || m.Term != term || m.To != 3 {
		t.Errorf("response %s, want a MsgVoteResp rejection at term %d", DescribeMessage(m), term)
	}
	if st := rn.Status(); st.RaftState != StateLeader || st.Term != term {
		t.Errorf("leader disturbed: %+v", st)
	}
}

// TestProposalsBatchedPerReady: proposals made between two Readies leave as
// one MsgApp per follower.
func TestProposalsBatchedPerReady(t *testing.T) {
	env := newTestEnv(t, 3, "")
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	rn := env.nodes[1].rn
	for i := range 5 {
		if err := rn.Propose([]byte{byte('a' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	rd := rn.Ready()
	rn.Advance(rd)
	per := map[uint64]int{}
	for _, m := range rd.Messages {
		if m.Type == MsgApp {
			per[m.To]++
			if len(m.Entries) != 5 {
				t.Errorf("%s: want all 5 entries", DescribeMessage(m))
			}
		}
	}
	if per[2] != 1 || per[3] != 1 {
		t.Errorf("MsgApps per follower %v, want one each", per)
	}
}

// TestLeaderCountsOnlyPersistedEntries: the leader's own vote towards a
// commit quorum counts only once its entries are durable (at Advance).
func TestLeaderCountsOnlyPersistedEntries(t *testing.T) {
	env := newTestEnv(t, 3, "")
	env.mustRun("campaign 1")
	env.mustRun("stabilize")
	env.mustRun("isolate 3")
	leader := env.nodes[1]
	if err := leader.rn.Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rd := leader.rn.Ready() // the leader has not persisted the entry yet
	var app Message
	for _, m := range rd.Messages {
		if m.Type == MsgApp && m.To == 2 {
			app = m
		}
	}
	if err := env.nodes[2].rn.Step(app); err != nil {
		t.Fatal(err)
	}
	env.queue = nil
	env.processReady(2)
	var ack Message
	for _, m := range env.queue {
		if m.Type == MsgAppResp && m.To == 1 {
			ack = m
		}
	}
	env.queue = nil
	if err := leader.rn.Step(ack); err != nil {
		t.Fatal(err)
	}
	index := app.Entries[0].Index
	if c := leader.rn.Status().Commit; c >= index {
		t.Fatalf("committed %d with only one of three members holding %d durably", c, index)
	}
	// Persist, then Advance: now two of three have it.
	if err := leader.storage.Append(rd.Entries); err != nil {
		t.Fatal(err)
	}
	leader.rn.Advance(rd)
	if c := leader.rn.Status().Commit; c != index {
		t.Fatalf("commit %d after the leader persisted, want %d", c, index)
	}
}

// TestReportSnapshotAndUnreachable: transport feedback moves a follower's
// progress out of StateSnapshot and StateReplicate.
func TestReportSnapshotAndUnreachable(t *testing.T) {
	tests := []struct {
		name      string
		report    func(rn *RawNode)
		fromSnap  bool
		wantState ProgressState
		wantNext  uint64
	}{
		{"snapshot finished", func(rn *RawNode) { rn.ReportSnapshot(3, SnapshotFinish) }, true, ProgressProbe, 11},
		{"snapshot failed", func(rn *RawNode) { rn.ReportSnapshot(3, SnapshotFailure) }, true, ProgressProbe, 4},
		{"unreachable", func(rn *RawNode) { rn.ReportUnreachable(3) }, false, ProgressProbe, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, 3, "")
			env.mustRun("campaign 1")
			env.mustRun("stabilize")
			rn := env.nodes[1].rn
			pr := rn.raft.trk.progress[3]
			if tt.fromSnap {
				pr.becomeSnapshot(10)
			}
			tt.report(rn)
			got := rn.Status().Progress[3]
			if got.State != tt.wantState || got.Next != tt.wantNext || got.PendingSnapshot != 0 {
				t.Errorf("progress %+v, want %s next=%d", got, tt.wantState, tt.wantNext)
			}
			if tt.fromSnap && !got.Paused {
				t.Errorf("after a snapshot report the probe waits for a heartbeat response: %+v", got)
			}
		})
	}
}
