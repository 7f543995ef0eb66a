package rafttest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"cairn/raft"
)

// Errors returned by Network methods.
var (
	// ErrUnknownMember is returned for an ID the network has no member for.
	ErrUnknownMember = errors.New("rafttest: unknown member")
	// ErrMemberDown is returned when an operation needs a running member.
	ErrMemberDown = errors.New("rafttest: member is down")
	// ErrMemberExists is returned when adding an ID the network already has.
	ErrMemberExists = errors.New("rafttest: member already exists")
	// ErrViolation wraps every safety violation the network's checker finds.
	ErrViolation = errors.New("rafttest: safety violation")
)

// CrashPoint names where inside its next Ready loop a member crashes.
type CrashPoint uint8

const (
	// CrashBeforePersist crashes after Ready.Messages were sent and before
	// anything was persisted: the Ready's entries, HardState and snapshot are
	// lost, and so are its MessagesAfterPersist.
	CrashBeforePersist CrashPoint = iota + 1
	// CrashAfterPersist crashes after the Ready was persisted and before
	// MessagesAfterPersist were sent or committed entries applied.
	CrashAfterPersist
)

func (p CrashPoint) String() string {
	switch p {
	case CrashBeforePersist:
		return "CrashBeforePersist"
	case CrashAfterPersist:
		return "CrashAfterPersist"
	}
	return fmt.Sprintf("CrashPoint(%d)", uint8(p))
}

// Faults configures random message faults. The zero value is a perfect
// network. Probabilities are in [0, 1]; every random choice is drawn from the
// network's seeded generator, so a seed replays the same faults.
type Faults struct {
	// DropRate is the probability that any message is lost.
	DropRate float64
	// DupRate is the probability that a message is delivered twice (the copy
	// gets its own delay). MsgProp is never duplicated: a duplicated proposal
	// is a new proposal (Raft does not deduplicate), which would blur the
	// at-most-once check of the randomized test.
	DupRate float64
	// DelayRate is the probability that a message is held back for 1 to
	// MaxDelay extra ticks (uniformly).
	DelayRate float64
	MaxDelay  int
	// Reorder makes each delivery pick a random due message instead of the
	// oldest one.
	Reorder bool
	// Drop, if set, drops the messages for which it returns true.
	Drop func(m raft.Message) bool
}

type link struct{ from, to uint64 }

type envelope struct {
	m   raft.Message
	at  uint64 // tick at or after which the message may be delivered
	seq uint64 // send order, for FIFO delivery among due messages
}

// Network is a synchronous simulated cluster of raft.RawNodes. Nothing runs
// in the background: time moves only in Tick, messages move only in Tick,
// Settle and Deliver, and every random choice comes from one seeded
// generator. See the package documentation for the model.
//
// A Network is not safe for concurrent use.
type Network struct {
	rand     *rand.Rand
	template raft.Config
	now      uint64
	seq      uint64
	members  map[uint64]*Member
	ids      []uint64 // sorted member IDs, for deterministic iteration
	queue    []envelope
	cut      map[link]bool
	linkDrop map[link]float64

	// Faults are the random message faults currently in force.
	Faults Faults
	// Latency returns the delivery delay in ticks of a message (nil: 0,
	// messages are delivered within the same Settle). A Latency that
	// returns N for the messages a predicate selects holds those for N
	// ticks.
	Latency func(m raft.Message) uint64
	// MsgHook sees every message as it is sent; returning false drops it.
	MsgHook func(m raft.Message) bool
	// OnReady, if set, is called with every Ready a member takes, before the
	// network handles it.
	OnReady func(id uint64, rd *raft.Ready)
	// OnApply, if set, is called for every committed entry a member applies.
	OnApply func(id uint64, e raft.Entry)
	// SnapshotOnAdd makes a member whose log is compacted take a fresh
	// snapshot right after applying a conf change that adds a member, so
	// that the snapshot a leader sends to the newcomer lists it. Without it
	// the newcomer may get a snapshot that predates its membership, which
	// the core must accept (see TestFindingNewMemberStaleSnapshot).
	SnapshotOnAdd bool
	// ReportLoss makes the network report every lost MsgApp or MsgAppResp
	// and every crash to the leader's end (ReportUnreachable), as a
	// transport that notices a broken stream would. Without it only MsgApps
	// lost on cut links or to crashed members are reported, and the core
	// must recover from silent loss by itself.
	ReportLoss bool
	// UnsafeForgetVote makes a restarted member forget the vote in its
	// persisted HardState, as a disk that acknowledged an fsync it did not
	// do might. It breaks Raft on purpose: a negative control showing that
	// the checker notices (two leaders in one term).
	UnsafeForgetVote bool
	// UnsafeEarlyAcks sends Ready.MessagesAfterPersist together with
	// Ready.Messages, before persisting, so a crash can lose what was
	// acknowledged. Another negative control; the early-ack check is
	// skipped for these so that the damage shows up downstream.
	UnsafeEarlyAcks bool
	// AsyncPersist makes members persist like an application with a separate
	// disk writer: a Ready is handed back with AdvanceHandled right after its
	// Messages are sent and its CommittedEntries applied, and its Snapshot,
	// Entries and HardState reach storage later (a random number of the
	// oldest waiting Readies at a time, all of them on each tick), followed
	// by its MessagesAfterPersist and Persisted. A crash loses what waits.
	// Readies carrying a snapshot are handled whole, after the waiting ones.
	AsyncPersist bool

	reports  []report // transport feedback waiting for its sender's Ready to end
	flushing bool

	check   checker
	stats   Stats
	maxStep int // bound on deliveries per Settle; exceeding it is a livelock
}

// Stats counts what the network did.
type Stats struct {
	Sent, Delivered, Dropped, Duplicated, Delayed uint64
	Readies, Crashes, Restarts                    uint64
}

// Member is one simulated cluster member: a RawNode (nil while down), the
// MemoryStorage that stands for its durable state, and the application state
// machine (a digest over the applied entries).
type Member struct {
	ID uint64
	// Storage is the member's durable state; it survives crashes.
	Storage *raft.MemoryStorage

	node    *raft.RawNode
	removed bool
	crashAt CrashPoint
	rate    float64 // ticks per network tick (0 means 1); a drifting clock
	acc     float64 // fractional ticks owed, for rate != 1

	// Volatile view, rebuilt on restart.
	state   raft.StateType
	lead    uint64
	hs      raft.HardState // last persisted
	waiting []raft.Ready   // AsyncPersist: handed back, not yet durable
	commit  uint64         // AsyncPersist: the newest commit index handed out
	applied uint64
	digest  uint64 // state machine: hash chain over applied entries
	conf    raft.ConfState
}

// Node returns the member's RawNode, or nil while it is down.
func (m *Member) Node() *raft.RawNode { return m.node }

// Up reports whether the member is running.
func (m *Member) Up() bool { return m.node != nil }

// Removed reports whether the member's removal from the cluster was applied.
func (m *Member) Removed() bool { return m.removed }

// State returns the member's role as of its last Ready.
func (m *Member) State() raft.StateType { return m.state }

// Lead returns the leader the member knows of as of its last Ready.
func (m *Member) Lead() uint64 { return m.lead }

// HardState returns the member's persisted HardState.
func (m *Member) HardState() raft.HardState { return m.hs }

// Applied returns the index of the last entry the member applied.
func (m *Member) Applied() uint64 { return m.applied }

// Digest returns the state machine's digest (a hash chain over the applied
// entries) as of Applied.
func (m *Member) Digest() uint64 { return m.digest }

// ConfState returns the membership as of Applied.
func (m *Member) ConfState() raft.ConfState { return m.conf }

// New returns an empty network. template is the raft.Config every member
// starts with; the network fills in ID, Storage, Applied and Rand (seeded from
// seed and the member ID, so the whole run is a function of seed).
func New(seed uint64, template raft.Config) *Network {
	return &Network{
		rand:     rand.New(rand.NewPCG(seed, 0x7261667474657374)),
		template: template,
		members:  map[uint64]*Member{},
		cut:      map[link]bool{},
		linkDrop: map[link]float64{},
		check:    newChecker(),
		maxStep:  1 << 17,
	}
}

// Rand returns the network's generator, for tests that want their random
// choices to be part of the same replayable run.
func (nw *Network) Rand() *rand.Rand { return nw.rand }

// Now returns the number of Ticks so far.
func (nw *Network) Now() uint64 { return nw.now }

// Stats returns the counters.
func (nw *Network) Stats() Stats { return nw.stats }

// Err returns the first safety violation found, or nil. Once set it stays set.
func (nw *Network) Err() error { return nw.check.err }

// IDs returns the IDs of all members ever added, sorted.
func (nw *Network) IDs() []uint64 { return slices.Clone(nw.ids) }

// Member returns the member with the given ID, or nil.
func (nw *Network) Member(id uint64) *Member { return nw.members[id] }

// Node returns the RawNode of member id; it panics if the member is unknown
// or down (a test bug).
func (nw *Network) Node(id uint64) *raft.RawNode {
	m := nw.members[id]
	if m == nil || m.node == nil {
		panic(fmt.Sprintf("rafttest: member %d unknown or down", id))
	}
	return m.node
}

// Bootstrap creates one member per ID, with empty storage, and bootstraps
// each of them with ids as the initial voters (raft.RawNode.Bootstrap).
func (nw *Network) Bootstrap(ids ...uint64) error {
	for _, id := range ids {
		if err := nw.AddMember(id); err != nil {
			return err
		}
	}
	for _, id := range ids {
		if err := nw.members[id].node.Bootstrap(ids); err != nil {
			return fmt.Errorf("rafttest: bootstrap member %d: %w", id, err)
		}
	}
	for _, id := range ids {
		nw.process(nw.members[id])
	}
	return nil
}

// AddMember starts a member with empty storage and no configuration, as a
// new member joining an existing cluster does: it waits for a leader to
// replicate the log (or a snapshot) to it once a conf change adds it.
func (nw *Network) AddMember(id uint64) error {
	if id == raft.None {
		return fmt.Errorf("%w: ID 0", ErrUnknownMember)
	}
	if nw.members[id] != nil {
		return fmt.Errorf("%w: %d", ErrMemberExists, id)
	}
	m := &Member{ID: id, Storage: raft.NewMemoryStorage()}
	nw.members[id] = m
	nw.ids = append(nw.ids, id)
	slices.Sort(nw.ids)
	return nw.start(m)
}

// start creates m's RawNode from its storage, as a restart after a crash.
func (nw *Network) start(m *Member) error {
	hs, cs, err := m.Storage.InitialState()
	if err != nil {
		return fmt.Errorf("rafttest: member %d: initial state: %w", m.ID, err)
	}
	snap, err := m.Storage.Snapshot()
	if err != nil {
		return fmt.Errorf("rafttest: member %d: snapshot: %w", m.ID, err)
	}
	// The state machine is volatile and is rebuilt from the snapshot; raft
	// hands out the committed entries after it again.
	m.applied = snap.Meta.Index
	m.digest = decodeDigest(snap.Data)
	m.conf = cloneConf(cs)
	if hs.Commit < snap.Meta.Index {
		// AsyncPersist: the application snapshots what it applied, which
		// may be beyond the commit index its disk writer saved last. A
		// snapshot covers committed entries only, so its index is committed
		// (the server does the same on restart: hardStateAfterSnapshot).
		hs.Commit = snap.Meta.Index
		if err := m.Storage.SetHardState(hs); err != nil {
			return fmt.Errorf("rafttest: member %d: %w", m.ID, err)
		}
	}
	m.hs = hs
	m.state = raft.StateFollower
	m.lead = raft.None
	m.crashAt = 0
	c := nw.template
	c.ID = m.ID
	c.Storage = m.Storage
	c.Applied = m.applied
	c.Rand = rand.New(rand.NewPCG(nw.rand.Uint64(), m.ID))
	n, err := raft.NewRawNode(&c)
	if err != nil {
		return fmt.Errorf("rafttest: member %d: %w", m.ID, err)
	}
	m.node = n
	return nil
}

// Crash stops member id at once. Its RawNode and everything volatile are
// lost; its storage (the durable state) and the messages it already sent
// survive. Messages addressed to it are dropped while it is down.
func (nw *Network) Crash(id uint64) error {
	m := nw.members[id]
	if m == nil {
		return fmt.Errorf("%w: %d", ErrUnknownMember, id)
	}
	if m.node != nil {
		m.node = nil
		m.waiting = nil
		m.commit = 0
		nw.stats.Crashes++
		if nw.ReportLoss {
			for _, o := range nw.ids {
				if o != id {
					nw.reports = append(nw.reports, report{from: o, to: id})
				}
			}
		}
	}
	return nil
}

// CrashDuringNextReady makes member id crash at point p while handling its
// next Ready (its next Ready that has anything to persist, for
// CrashBeforePersist and CrashAfterPersist).
func (nw *Network) CrashDuringNextReady(id uint64, p CrashPoint) error {
	m := nw.members[id]
	if m == nil {
		return fmt.Errorf("%w: %d", ErrUnknownMember, id)
	}
	if m.node == nil {
		return fmt.Errorf("%w: %d", ErrMemberDown, id)
	}
	m.crashAt = p
	return nil
}

// Restart starts a crashed member again from its storage. On a running
// member it only cancels a pending CrashDuringNextReady; on a removed member
// it does nothing.
func (nw *Network) Restart(id uint64) error {
	m := nw.members[id]
	if m == nil {
		return fmt.Errorf("%w: %d", ErrUnknownMember, id)
	}
	m.crashAt = 0
	if m.node != nil || m.removed {
		return nil
	}
	nw.stats.Restarts++
	if nw.UnsafeForgetVote {
		hs, _, err := m.Storage.InitialState()
		if err != nil {
			return fmt.Errorf("rafttest: member %d: %w", id, err)
		}
		hs.Vote = raft.None
		if err := m.Storage.SetHardState(hs); err != nil {
			return fmt.Errorf("rafttest: member %d: %w", id, err)
		}
	}
	if err := nw.start(m); err != nil {
		return err
	}
	nw.process(m)
	return nil
}

// Cut drops all messages between a and b, both ways, until Mend or Heal.
func (nw *Network) Cut(a, b uint64) {
	nw.cut[link{a, b}] = true
	nw.cut[link{b, a}] = true
}

// CutOneWay drops messages from `from` to `to` only.
func (nw *Network) CutOneWay(from, to uint64) { nw.cut[link{from, to}] = true }

// Mend restores the links between a and b.
func (nw *Network) Mend(a, b uint64) {
	delete(nw.cut, link{a, b})
	delete(nw.cut, link{b, a})
}

// Isolate cuts id off from every other member (including members added later
// only if Isolate is called again).
func (nw *Network) Isolate(id uint64) {
	for _, o := range nw.ids {
		if o != id {
			nw.Cut(id, o)
		}
	}
}

// Partition cuts every link between members of different groups. Members in
// no group are cut off from everyone.
func (nw *Network) Partition(groups ...[]uint64) {
	group := map[uint64]int{}
	for g, ids := range groups {
		for _, id := range ids {
			group[id] = g + 1
		}
	}
	for _, a := range nw.ids {
		for _, b := range nw.ids {
			if a != b && (group[a] == 0 || group[a] != group[b]) {
				nw.cut[link{a, b}] = true
			}
		}
	}
}

// SetLinkDrop sets the loss probability of the link from -> to (0 removes it).
func (nw *Network) SetLinkDrop(from, to uint64, p float64) {
	if p == 0 {
		delete(nw.linkDrop, link{from, to})
		return
	}
	nw.linkDrop[link{from, to}] = p
}

// Heal removes every cut, every link drop rate and every random fault. It
// leaves crashed members down, Latency, MsgHook and the messages in flight
// alone.
func (nw *Network) Heal() {
	clear(nw.cut)
	clear(nw.linkDrop)
	nw.Faults = Faults{}
}

// Tick advances time by one tick: every running member ticks (in ID order;
// a member with a tick rate other than 1 ticks as often as its clock says),
// then Settle runs.
func (nw *Network) Tick() {
	nw.now++
	for _, id := range nw.ids {
		m := nw.members[id]
		if m.node == nil {
			continue
		}
		n := 1
		if m.rate != 0 && m.rate != 1 {
			m.acc += m.rate
			n = int(m.acc)
			m.acc -= float64(n)
		}
		for range n {
			if m.node == nil {
				break
			}
			m.node.Tick()
			nw.persistWaiting(m, len(m.waiting))
			nw.process(m)
		}
	}
	nw.Settle()
}

// SetTickRate makes member id's clock run at rate ticks per network tick
// (1 is the default; 1.1 is a clock 10% fast). Raft's safety must not depend
// on it; lease reads assume rates stay close.
func (nw *Network) SetTickRate(id uint64, rate float64) error {
	m := nw.members[id]
	if m == nil {
		return fmt.Errorf("%w: %d", ErrUnknownMember, id)
	}
	if !(rate > 0) {
		return fmt.Errorf("rafttest: tick rate %v must be positive", rate)
	}
	m.rate, m.acc = rate, 0
	return nil
}

// Ticks calls Tick n times.
func (nw *Network) Ticks(n int) {
	for range n {
		nw.Tick()
	}
}

// Settle handles every pending Ready and delivers every due message, one at
// a time (the recipient's Ready is handled right after each delivery), until
// nothing is left to do at the current time. It does not advance time.
func (nw *Network) Settle() {
	for _, id := range nw.ids {
		if m := nw.members[id]; m.node != nil {
			nw.process(m)
		}
	}
	for steps := 0; nw.deliverOne(); steps++ {
		if steps > nw.maxStep {
			// With zero latency a message ping-pong never lets time pass.
			nw.check.failf("livelock: %d deliveries without quiescence at tick %d", steps, nw.now)
			return
		}
	}
}

// Deliver delivers the messages in flight regardless of their delay, as if
// time had passed for them only, then settles.
func (nw *Network) Deliver() {
	for i := range nw.queue {
		nw.queue[i].at = nw.now
	}
	nw.Settle()
}

// Inject puts m on the wire as if its sender had sent it now (subject to
// cuts and faults), for tests that replay or forge messages.
func (nw *Network) Inject(m raft.Message) { nw.send(nw.members[m.From], m) }

// InFlight returns the number of messages in flight.
func (nw *Network) InFlight() int { return len(nw.queue) }

// Campaign makes member id start an election and handles its Ready; call
// Settle to run the election.
func (nw *Network) Campaign(id uint64) error {
	m, err := nw.running(id)
	if err != nil {
		return err
	}
	err = m.node.Campaign()
	nw.process(m)
	return err
}

// Propose proposes data at member id and handles its Ready.
func (nw *Network) Propose(id uint64, data []byte) error {
	m, err := nw.running(id)
	if err != nil {
		return err
	}
	err = m.node.Propose(data)
	nw.process(m)
	return err
}

// ProposeConfChange proposes cc at member id and handles its Ready.
func (nw *Network) ProposeConfChange(id uint64, cc raft.ConfChange) error {
	m, err := nw.running(id)
	if err != nil {
		return err
	}
	err = m.node.ProposeConfChange(cc)
	nw.process(m)
	return err
}

// TransferLeader asks member id (the leader) to hand leadership to target.
func (nw *Network) TransferLeader(id, target uint64) error {
	m, err := nw.running(id)
	if err != nil {
		return err
	}
	m.node.TransferLeader(target)
	nw.process(m)
	return nil
}

// ReadIndex asks member id for a read index (raft.RawNode.ReadIndex) with
// request context ctx; the answer arrives in a later Ready's ReadStates
// (see OnReady).
func (nw *Network) ReadIndex(id uint64, ctx []byte) error {
	m, err := nw.running(id)
	if err != nil {
		return err
	}
	m.node.ReadIndex(ctx)
	nw.process(m)
	return nil
}

// Compact makes member id take a snapshot of its state machine at its
// applied index and discard its log up to keep entries before it.
func (nw *Network) Compact(id uint64, keep uint64) error {
	m, err := nw.running(id)
	if err != nil {
		return err
	}
	snap, err := m.Storage.Snapshot()
	if err != nil {
		return fmt.Errorf("rafttest: member %d: %w", id, err)
	}
	if m.applied <= snap.Meta.Index {
		return nil
	}
	if last, _ := m.Storage.LastIndex(); m.applied > last {
		// A leader with LeaderAppliesUnpersisted: like the server, make
		// the log durable up to the state before snapshotting it.
		nw.persistWaiting(m, len(m.waiting))
		if m.node == nil {
			return nil
		}
	}
	conf := cloneConf(m.conf)
	if _, err := m.Storage.CreateSnapshot(m.applied, &conf, encodeDigest(m.digest)); err != nil {
		return fmt.Errorf("rafttest: member %d: create snapshot at %d: %w", id, m.applied, err)
	}
	at := m.applied - min(keep, m.applied-1)
	if at > snap.Meta.Index {
		if err := m.Storage.Compact(at); err != nil {
			return fmt.Errorf("rafttest: member %d: compact at %d: %w", id, at, err)
		}
	}
	return nil
}

// Leader returns the running member that believes it leads in the highest
// term, or raft.None.
func (nw *Network) Leader() uint64 {
	var lead, term uint64
	for _, id := range nw.ids {
		m := nw.members[id]
		if m.node != nil && m.state == raft.StateLeader && m.hs.Term >= term {
			lead, term = id, m.hs.Term
		}
	}
	return lead
}

// durableOnQuorum reports whether e is in the durable logs (or snapshots)
// of a majority of m's voters.
func (nw *Network) durableOnQuorum(m *Member, e raft.Entry) bool {
	n := 0
	for _, id := range m.conf.Voters {
		o := nw.members[id]
		if o == nil {
			continue
		}
		if t, err := o.Storage.Term(e.Index); (err == nil && t == e.Term) || errors.Is(err, raft.ErrCompacted) {
			n++
		}
	}
	return n > len(m.conf.Voters)/2
}

func (nw *Network) running(id uint64) (*Member, error) {
	m := nw.members[id]
	if m == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownMember, id)
	}
	if m.node == nil {
		return nil, fmt.Errorf("%w: %d", ErrMemberDown, id)
	}
	return m, nil
}

// process runs m's Ready loop until it has nothing more to do.
func (nw *Network) process(m *Member) {
	for m.node != nil {
		if m.node.HasReady() {
			rd := m.node.Ready()
			if nw.AsyncPersist {
				nw.handleReadyAsync(m, rd)
			} else {
				nw.handleReady(m, rd)
			}
			continue
		}
		// AsyncPersist: the disk writer catches up at random moments.
		if len(m.waiting) == 0 || nw.rand.IntN(4) == 0 {
			break
		}
		nw.persistWaiting(m, 1+nw.rand.IntN(len(m.waiting)))
	}
	if !nw.flushing {
		nw.flushing = true
		nw.flushReports()
		nw.flushing = false
	}
}

// handleReady is the reference Ready loop (see doc.go), instrumented with
// the checker and the crash points.
func (nw *Network) handleReady(m *Member, rd raft.Ready) {
	nw.stats.Readies++
	if nw.OnReady != nil {
		nw.OnReady(m.ID, &rd)
	}
	term := m.hs.Term
	if !rd.HardState.IsEmpty() {
		term = rd.HardState.Term
	}
	if rd.SoftState != nil {
		m.state, m.lead = rd.SoftState.RaftState, rd.SoftState.Lead
	}
	persisting := !rd.HardState.IsEmpty() || len(rd.Entries) > 0 || !rd.Snapshot.IsEmpty()
	lastPersisted, _ := m.Storage.LastIndex()

	// 1. Messages may leave before anything is durable.
	nw.sendEarly(m, rd, lastPersisted)
	if m.crashAt == CrashBeforePersist && persisting {
		nw.Crash(m.ID)
		return
	}

	// 2. Persist snapshot, entries, HardState.
	if !rd.Snapshot.IsEmpty() {
		s := rd.Snapshot
		if s.Meta.Index <= m.applied {
			nw.check.failf("member %d: Ready carries snapshot at %d <= applied %d", m.ID, s.Meta.Index, m.applied)
		}
		if err := m.Storage.ApplySnapshot(s); err != nil {
			nw.check.failf("member %d: ApplySnapshot(%d): %v", m.ID, s.Meta.Index, err)
		}
		m.applied = s.Meta.Index
		m.digest = decodeDigest(s.Data)
		m.conf = cloneConf(s.Meta.ConfState)
		nw.check.snapshot(m.ID, s, term)
		nw.check.state(m.ID, m.applied, m.digest)
	}
	nw.store(m, &rd)
	if rd.SoftState != nil && rd.SoftState.RaftState == raft.StateLeader {
		// Checked after persisting: the leader's log is now in storage.
		nw.check.leader(m.ID, term, rd.SoftState.Lead, m.Storage)
	}
	if m.crashAt == CrashAfterPersist && persisting {
		nw.Crash(m.ID)
		return
	}

	// 3. Acknowledgements of durability may go now.
	if !nw.UnsafeEarlyAcks {
		for _, msg := range rd.MessagesAfterPersist {
			nw.send(m, msg)
		}
	}

	// 4. Apply.
	for _, e := range rd.CommittedEntries {
		nw.apply(m, e)
		if m.node == nil { // removed and stopped
			return
		}
	}
	m.node.Advance(rd)
}

// sendEarly sends rd.Messages, checking that none of them acknowledges
// what rd has yet to persist (lastPersisted is the last durable index).
// With UnsafeEarlyAcks (a negative control) it sends the acknowledgements
// in rd.MessagesAfterPersist too, and reports that it did.
func (nw *Network) sendEarly(m *Member, rd raft.Ready, lastPersisted uint64) bool {
	for _, msg := range rd.Messages {
		nw.check.early(m.ID, msg, rd, m.hs, lastPersisted)
		nw.send(m, msg)
	}
	if !nw.UnsafeEarlyAcks {
		return false
	}
	for _, msg := range rd.MessagesAfterPersist {
		nw.send(m, msg)
	}
	return true
}

// handleReadyAsync is the Ready loop of an application that persists on
// another goroutine (RawNode.AdvanceHandled, then RawNode.Persisted).
func (nw *Network) handleReadyAsync(m *Member, rd raft.Ready) {
	if !rd.Snapshot.IsEmpty() {
		nw.persistWaiting(m, len(m.waiting))
		if m.node != nil {
			nw.handleReady(m, rd)
		}
		return
	}
	nw.stats.Readies++
	if nw.OnReady != nil {
		nw.OnReady(m.ID, &rd)
	}
	if rd.SoftState != nil {
		m.state, m.lead = rd.SoftState.RaftState, rd.SoftState.Lead
	}
	if !rd.HardState.IsEmpty() {
		m.commit = rd.HardState.Commit
	}
	lastPersisted, _ := m.Storage.LastIndex()
	if nw.sendEarly(m, rd, lastPersisted) {
		rd.MessagesAfterPersist = nil
	}
	if m.crashAt == CrashBeforePersist && (!rd.HardState.IsEmpty() || len(rd.Entries) > 0) {
		nw.Crash(m.ID)
		return
	}
	for _, e := range rd.CommittedEntries {
		nw.apply(m, e)
		if m.node == nil {
			return
		}
	}
	m.node.AdvanceHandled(rd)
	m.waiting = append(m.waiting, rd)
}

// persistWaiting makes the oldest n waiting Readies of m durable, in order,
// sends their MessagesAfterPersist and reports them Persisted.
func (nw *Network) persistWaiting(m *Member, n int) {
	for ; n > 0 && len(m.waiting) > 0 && m.node != nil; n-- {
		rd := m.waiting[0]
		m.waiting = m.waiting[1:]
		nw.store(m, &rd)
		if m.crashAt == CrashAfterPersist && (!rd.HardState.IsEmpty() || len(rd.Entries) > 0) {
			nw.Crash(m.ID)
			return
		}
		for _, msg := range rd.MessagesAfterPersist {
			nw.send(m, msg)
		}
		m.node.Persisted(rd)
	}
}

// store writes rd's entries and hard state to m's storage (its disk), with
// the checker watching.
func (nw *Network) store(m *Member, rd *raft.Ready) {
	if len(rd.Entries) > 0 {
		if err := m.Storage.Append(rd.Entries); err != nil {
			nw.check.failf("member %d: Append [%d,%d]: %v", m.ID, rd.Entries[0].Index, rd.Entries[len(rd.Entries)-1].Index, err)
		}
		nw.check.appended(m.ID, m.Storage, rd.Entries)
	}
	if !rd.HardState.IsEmpty() {
		if err := m.Storage.SetHardState(rd.HardState); err != nil {
			nw.check.failf("member %d: SetHardState: %v", m.ID, err)
		}
		nw.check.hardState(m.ID, m.Storage, m.hs, rd.HardState)
		m.hs = rd.HardState
	}
}

func (nw *Network) apply(m *Member, e raft.Entry) {
	if e.Index != m.applied+1 {
		nw.check.failf("member %d: applies entry %d after %d (not contiguous)", m.ID, e.Index, m.applied)
	}
	if e.Index > max(m.hs.Commit, m.commit) {
		nw.check.failf("member %d: applies entry %d beyond its commit index %d", m.ID, e.Index, m.hs.Commit)
	}
	if t, err := m.Storage.Term(e.Index); err == nil && t != e.Term {
		nw.check.failf("member %d: applies entry %d/%d but its durable log has term %d there", m.ID, e.Index, e.Term, t)
	} else if err != nil && !errors.Is(err, raft.ErrCompacted) {
		// Only a leader with LeaderAppliesUnpersisted applies what it has
		// not made durable itself, and only what a quorum has.
		switch {
		case !nw.template.LeaderAppliesUnpersisted || m.state != raft.StateLeader:
			nw.check.failf("member %d: applies entry %d/%d that is not durable: %v", m.ID, e.Index, e.Term, err)
		case !nw.durableOnQuorum(m, e):
			nw.check.failf("member %d (leader): applies entry %d/%d that is durable on no quorum of %v", m.ID, e.Index, e.Term, m.conf.Voters)
		}
	}
	m.applied = e.Index
	m.digest = chain(m.digest, e)
	nw.check.applied(m.ID, e)
	nw.check.state(m.ID, m.applied, m.digest)
	if nw.OnApply != nil {
		nw.OnApply(m.ID, e)
	}
	if e.Type != raft.EntryConfChange {
		return
	}
	cc, err := raft.UnmarshalConfChange(e.Data)
	if err != nil {
		nw.check.failf("member %d: entry %d: %v", m.ID, e.Index, err)
		return
	}
	if cs := m.node.ApplyConfChange(cc); cs != nil {
		m.conf = cloneConf(*cs)
	}
	if nw.SnapshotOnAdd && cc.Type != raft.ConfChangeRemove {
		// (A leader that applied past its durable log skips it: it would
		// have to persist first, in the middle of a Ready.)
		last, _ := m.Storage.LastIndex()
		if snap, err := m.Storage.Snapshot(); err == nil && !snap.IsEmpty() && snap.Meta.Index < m.applied && m.applied <= last {
			conf := cloneConf(m.conf)
			if _, err := m.Storage.CreateSnapshot(m.applied, &conf, encodeDigest(m.digest)); err != nil {
				nw.check.failf("member %d: snapshot at %d: %v", m.ID, m.applied, err)
			}
		}
	}
	if cc.Type == raft.ConfChangeRemove {
		// Like a real daemon, a member whose removal is committed is shut
		// down for good; messages to it are dropped from now on.
		if r := nw.members[cc.NodeID]; r != nil && !r.removed {
			r.removed = true
			r.node = nil
		}
	}
}

// send puts msg from m on the wire, subject to the faults.
func (nw *Network) send(m *Member, msg raft.Message) {
	nw.stats.Sent++
	if m != nil {
		nw.check.wire(m.ID, msg)
	}
	if nw.MsgHook != nil && !nw.MsgHook(msg) {
		nw.drop(msg, false)
		return
	}
	if nw.lost(msg) {
		nw.drop(msg, nw.ReportLoss || nw.unreachable(msg))
		return
	}
	nw.enqueue(msg)
	if msg.Type != raft.MsgProp && nw.Faults.DupRate > 0 && nw.rand.Float64() < nw.Faults.DupRate {
		nw.stats.Duplicated++
		nw.enqueue(msg)
	}
}

func (nw *Network) unreachable(msg raft.Message) bool {
	to := nw.members[msg.To]
	return nw.cut[link{msg.From, msg.To}] || to == nil || to.node == nil || to.removed
}

// blocked reports whether msg cannot travel now: a cut link, an unknown
// sender, or a recipient that is unknown, removed or down. Messages a
// removed member sent before it stopped still arrive (the receivers may not
// know yet that it was removed); it sends nothing after.
func (nw *Network) blocked(msg raft.Message) bool {
	return nw.unreachable(msg) || nw.members[msg.From] == nil
}

// lost decides at send time whether msg is lost, drawing random numbers
// only for faults that are configured.
func (nw *Network) lost(msg raft.Message) bool {
	if nw.blocked(msg) {
		return true
	}
	if nw.Faults.Drop != nil && nw.Faults.Drop(msg) {
		return true
	}
	if p := nw.Faults.DropRate; p > 0 && nw.rand.Float64() < p {
		return true
	}
	if p := nw.linkDrop[link{msg.From, msg.To}]; p > 0 && nw.rand.Float64() < p {
		return true
	}
	return false
}

func (nw *Network) enqueue(msg raft.Message) {
	at := nw.now
	if nw.Latency != nil {
		at += nw.Latency(msg)
	}
	if f := nw.Faults; f.DelayRate > 0 && f.MaxDelay > 0 && nw.rand.Float64() < f.DelayRate {
		nw.stats.Delayed++
		at += 1 + uint64(nw.rand.IntN(f.MaxDelay))
	}
	nw.seq++
	nw.queue = append(nw.queue, envelope{m: msg, at: at, seq: nw.seq})
}

// drop accounts for a lost message and queues what a real transport would
// tell the sender: a snapshot that did not arrive failed, and a peer behind
// a cut link is unreachable. Reports are handed over after the sender's
// current Ready is done (flushReports), never in the middle of it.
func (nw *Network) drop(msg raft.Message, unreachable bool) {
	nw.stats.Dropped++
	switch {
	case msg.Type == raft.MsgSnap:
		nw.reports = append(nw.reports, report{from: msg.From, to: msg.To, snap: true, status: raft.SnapshotFailure})
	case unreachable && msg.Type == raft.MsgApp:
		nw.reports = append(nw.reports, report{from: msg.From, to: msg.To})
	case unreachable && msg.Type == raft.MsgAppResp && nw.ReportLoss:
		// The leader's end of the broken stream notices too.
		nw.reports = append(nw.reports, report{from: msg.To, to: msg.From})
	}
}

// report is a transport's feedback to a sender.
type report struct {
	from, to uint64
	snap     bool // ReportSnapshot(status), else ReportUnreachable
	status   raft.SnapshotStatus
}

func (nw *Network) flushReports() {
	for len(nw.reports) > 0 {
		r := nw.reports[0]
		nw.reports = nw.reports[1:]
		from := nw.members[r.from]
		if from == nil || from.node == nil {
			continue
		}
		if r.snap {
			from.node.ReportSnapshot(r.to, r.status)
		} else {
			from.node.ReportUnreachable(r.to)
		}
		nw.process(from)
	}
}

// deliverOne delivers one due message (the oldest, or a random one with
// Faults.Reorder) and handles the recipient's Ready. It reports whether
// there was one.
func (nw *Network) deliverOne() bool {
	due := -1
	n := 0
	for i := range nw.queue {
		e := &nw.queue[i]
		if e.at > nw.now {
			continue
		}
		n++
		switch {
		case due < 0:
			due = i
		case nw.Faults.Reorder:
			if nw.rand.IntN(n) == 0 { // reservoir sampling: uniform among due
				due = i
			}
		case e.seq < nw.queue[due].seq:
			due = i
		}
	}
	if due < 0 {
		return false
	}
	env := nw.queue[due]
	nw.queue = slices.Delete(nw.queue, due, due+1)
	msg := env.m
	if nw.blocked(msg) {
		// Cut, crashed or removed while in flight; random loss was
		// decided at send.
		nw.drop(msg, true)
		return true
	}
	to := nw.members[msg.To]
	nw.stats.Delivered++
	if err := to.node.Step(msg); err != nil &&
		!errors.Is(err, raft.ErrStepPeerNotFound) &&
		!errors.Is(err, raft.ErrProposalDropped) &&
		!errors.Is(err, raft.ErrTransferInProgress) {
		nw.check.failf("member %d: Step(%v from %d): %v", msg.To, msg.Type, msg.From, err)
	}
	if msg.Type == raft.MsgSnap {
		nw.reports = append(nw.reports, report{from: msg.From, to: msg.To, snap: true, status: raft.SnapshotFinish})
	}
	nw.process(to)
	nw.flushReports()
	return true
}

// State-machine digest: FNV-1a over the previous digest and the entry.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvUint(h, v uint64) uint64 {
	for range 8 {
		h ^= v & 0xff
		h *= fnvPrime
		v >>= 8
	}
	return h
}

// entryHash identifies an entry's full content.
func entryHash(e raft.Entry) uint64 {
	h := fnvUint(fnvOffset, e.Term)
	h = fnvUint(h, e.Index)
	h = fnvUint(h, uint64(e.Type))
	for _, b := range e.Data {
		h ^= uint64(b)
		h *= fnvPrime
	}
	return h
}

func chain(d uint64, e raft.Entry) uint64 { return fnvUint(fnvUint(fnvOffset, d), entryHash(e)) }

func encodeDigest(d uint64) []byte { return binary.LittleEndian.AppendUint64(nil, d) }

func decodeDigest(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func cloneConf(cs raft.ConfState) raft.ConfState {
	return raft.ConfState{Voters: slices.Clone(cs.Voters), Learners: slices.Clone(cs.Learners)}
}
