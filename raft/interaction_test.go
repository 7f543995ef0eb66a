package raft

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The interaction tests run scripts from testdata/*.txt. Each block is
//
//	# optional comment lines
//	command arg key=value key=(1,2,3)
//	----
//	expected output
//
// separated by blank lines. `go test ./raft -run TestInteraction -rewrite`
// rewrites the expected outputs from the actual ones.

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of interaction scripts")

func TestInteraction(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no interaction scripts in testdata")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScript(t, file)
		})
	}
}

type scriptBlock struct {
	comments []string
	command  string
	expected string
}

func parseScript(t *testing.T, file string) []scriptBlock {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []scriptBlock
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); {
		var b scriptBlock
		for i < len(lines) && (strings.TrimSpace(lines[i]) == "" || strings.HasPrefix(lines[i], "#")) {
			if strings.HasPrefix(lines[i], "#") {
				b.comments = append(b.comments, lines[i])
			}
			i++
		}
		if i >= len(lines) {
			break
		}
		b.command = strings.TrimSpace(lines[i])
		i++
		if i >= len(lines) || lines[i] != "----" {
			t.Fatalf("%s:%d: expected ---- after command %q", file, i+1, b.command)
		}
		i++
		var out []string
		for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
			out = append(out, lines[i])
			i++
		}
		b.expected = strings.Join(out, "\n")
		blocks = append(blocks, b)
	}
	return blocks
}

func runScript(t *testing.T, file string) {
	blocks := parseScript(t, file)
	env := newInteractionEnv(t)
	var out strings.Builder
	for i, b := range blocks {
		got := env.run(b.command)
		if got == "" {
			got = "ok"
		}
		if !*rewrite && got != b.expected {
			t.Errorf("%s: block %d %q:\n--- got\n%s\n--- want\n%s", file, i+1, b.command, got, b.expected)
		}
		if i > 0 {
			out.WriteString("\n")
		}
		for _, c := range b.comments {
			out.WriteString(c + "\n")
		}
		out.WriteString(b.command + "\n----\n" + got + "\n")
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// node is one member in the interaction environment.
type node struct {
	rn      *RawNode
	storage *MemoryStorage
	cfg     Config
	// conf is the membership as of the last applied entry.
	conf ConfState
	// applied holds the data of applied normal entries (the state machine).
	applied []string
}

// snapshotStorage makes Snapshot return a fresh snapshot of the node's
// applied state, as a member would: a leader sending MsgSnap wants the newest
// state, including the current membership.
type snapshotStorage struct {
	*MemoryStorage
	n *node
}

func (s snapshotStorage) Snapshot() (Snapshot, error) {
	snap, err := s.MemoryStorage.Snapshot()
	if err != nil || s.n.rn == nil {
		return snap, err
	}
	applied := s.n.rn.raft.raftLog.applied
	if applied <= snap.Meta.Index {
		return snap, nil
	}
	term, err := s.MemoryStorage.Term(applied)
	if err != nil {
		return Snapshot{}, err
	}
	cs := ConfState{Voters: slices.Clone(s.n.conf.Voters), Learners: slices.Clone(s.n.conf.Learners)}
	return Snapshot{Meta: SnapshotMeta{Index: applied, Term: term, ConfState: cs}, Data: []byte(strings.Join(s.n.applied, " "))}, nil
}

// interactionEnv is a cluster driven step by step; message delivery is
// explicit, so every interleaving in a script is deterministic.
type interactionEnv struct {
	t        *testing.T
	nodes    map[uint64]*node
	queue    []Message // messages in flight, in send order
	isolated map[uint64]bool
	out      *strings.Builder
}

func newInteractionEnv(t *testing.T) *interactionEnv {
	return &interactionEnv{t: t, nodes: map[uint64]*node{}, isolated: map[uint64]bool{}}
}

type cmdArgs struct {
	pos []string
	kv  map[string]string
}

func parseCommand(line string) (string, cmdArgs) {
	fields := strings.Fields(line)
	a := cmdArgs{kv: map[string]string{}}
	if len(fields) == 0 {
		return "", a
	}
	for _, f := range fields[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			a.kv[k] = v
		} else {
			a.pos = append(a.pos, f)
		}
	}
	return fields[0], a
}

func parseIDList(s string) ([]uint64, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
	if s == "" {
		return nil, nil
	}
	var ids []uint64
	for _, p := range strings.Split(s, ",") {
		id, err := strconv.ParseUint(strings.TrimSpace(p), 10, 64)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (a cmdArgs) ids(env *interactionEnv) ([]uint64, error) {
	if len(a.pos) == 0 {
		return env.sortedIDs(), nil
	}
	var ids []uint64
	for _, p := range a.pos {
		id, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad node id %q", p)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (a cmdArgs) uint(key string, def uint64) (uint64, error) {
	v, ok := a.kv[key]
	if !ok {
		return def, nil
	}
	return strconv.ParseUint(v, 10, 64)
}

func (a cmdArgs) bool(key string) bool { return a.kv[key] == "true" }

func (env *interactionEnv) sortedIDs() []uint64 {
	ids := make([]uint64, 0, len(env.nodes))
	for id := range env.nodes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (env *interactionEnv) printf(format string, args ...any) {
	fmt.Fprintf(env.out, format, args...)
}

// run executes one command and returns its output.
func (env *interactionEnv) run(line string) string {
	var out strings.Builder
	env.out = &out
	cmd, args := parseCommand(line)
	if err := env.dispatch(cmd, args); err != nil {
		env.printf("error: %v\n", err)
	}
	return strings.TrimRight(out.String(), "\n")
}

func (env *interactionEnv) node(s string) (uint64, *node, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("bad node id %q", s)
	}
	n, ok := env.nodes[id]
	if !ok {
		return 0, nil, fmt.Errorf("no node %d", id)
	}
	return id, n, nil
}

func (env *interactionEnv) dispatch(cmd string, a cmdArgs) error {
	switch cmd {
	case "add-nodes":
		return env.addNodes(a)
	case "campaign", "propose", "propose-conf-change", "read-index", "tick-heartbeat", "tick-election", "tick",
		"status", "raft-log", "compact", "report-unreachable", "applied":
		if len(a.pos) == 0 {
			return fmt.Errorf("%s needs a node id", cmd)
		}
		id, n, err := env.node(a.pos[0])
		if err != nil {
			return err
		}
		return env.nodeCommand(cmd, id, n, a)
	case "transfer-leadership":
		from, err := a.uint("from", 0)
		if err != nil {
			return err
		}
		to, err := a.uint("to", 0)
		if err != nil {
			return err
		}
		n, ok := env.nodes[from]
		if !ok {
			return fmt.Errorf("no node %d", from)
		}
		n.rn.TransferLeader(to)
		return nil
	case "process-ready":
		ids, err := a.ids(env)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if len(ids) > 1 {
				env.printf("> %d handling Ready\n", id)
			}
			env.processReady(id)
		}
		return nil
	case "deliver-msgs":
		ids, err := a.ids(env)
		if err != nil {
			return err
		}
		for _, id := range ids {
			env.deliver(id)
		}
		return nil
	case "stabilize":
		ids, err := a.ids(env)
		if err != nil {
			return err
		}
		env.stabilize(ids)
		return nil
	case "isolate":
		ids, err := a.ids(env)
		if err != nil {
			return err
		}
		for _, id := range ids {
			env.isolated[id] = true
		}
		return nil
	case "recover":
		clear(env.isolated)
		return nil
	case "drop-msgs":
		ids, err := a.ids(env)
		if err != nil {
			return err
		}
		env.queue = slices.DeleteFunc(env.queue, func(m Message) bool {
			if slices.Contains(ids, m.To) {
				env.printf("dropped: %s\n", DescribeMessage(m))
				return true
			}
			return false
		})
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func (env *interactionEnv) addNodes(a cmdArgs) error {
	if len(a.pos) != 1 {
		return errors.New("add-nodes N [voters=(..)] [learners=(..)] [index=N] [prevote=true] [checkquorum=true]")
	}
	count, err := strconv.Atoi(a.pos[0])
	if err != nil {
		return err
	}
	voters, err := parseIDList(a.kv["voters"])
	if err != nil {
		return err
	}
	learners, err := parseIDList(a.kv["learners"])
	if err != nil {
		return err
	}
	index, err := a.uint("index", 1)
	if err != nil {
		return err
	}
	maxInflight, err := a.uint("max-inflight", 256)
	if err != nil {
		return err
	}
	maxSize, err := a.uint("max-size", 1<<20)
	if err != nil {
		return err
	}
	for range count {
		id := uint64(len(env.nodes) + 1)
		s := NewMemoryStorage()
		cs := ConfState{Voters: voters, Learners: learners}
		if len(voters) > 0 {
			// Start from a snapshot holding the initial configuration.
			snap := Snapshot{Meta: SnapshotMeta{Index: index, Term: 1, ConfState: cs}}
			if err := s.ApplySnapshot(snap); err != nil {
				return err
			}
		}
		n := &node{storage: s, conf: cs}
		cfg := Config{
			ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: snapshotStorage{s, n},
			MaxSizePerMsg: maxSize, MaxInflightMsgs: int(maxInflight),
			PreVote: a.bool("prevote"), CheckQuorum: a.bool("checkquorum"),
			Rand: rand.New(rand.NewPCG(id, 42)),
		}
		if a.kv["read-only"] == "lease" {
			cfg.ReadOnlyOption = ReadOnlyLeaseBased
		}
		rn, err := NewRawNode(&cfg)
		if err != nil {
			return err
		}
		n.rn, n.cfg = rn, cfg
		env.nodes[id] = n
		env.printf("%d: voters=%s learners=%s index=%d\n", id, describeIDs(cs.Voters), describeIDs(cs.Learners), rn.raft.raftLog.lastIndex())
	}
	return nil
}

func (env *interactionEnv) nodeCommand(cmd string, id uint64, n *node, a cmdArgs) error {
	switch cmd {
	case "campaign":
		return n.rn.Campaign()
	case "propose":
		if len(a.pos) < 2 {
			return errors.New("propose ID data")
		}
		return n.rn.Propose([]byte(a.pos[1]))
	case "propose-conf-change":
		if len(a.pos) < 2 {
			return errors.New("propose-conf-change ID v4|l4|r4|u4")
		}
		spec := a.pos[1]
		target, err := strconv.ParseUint(spec[1:], 10, 64)
		if err != nil {
			return err
		}
		cc := ConfChange{NodeID: target}
		switch spec[0] {
		case 'v':
			cc.Type = ConfChangeAddVoter
		case 'l':
			cc.Type = ConfChangeAddLearner
		case 'r':
			cc.Type = ConfChangeRemove
		case 'u':
			cc.Type = ConfChangeUpdate
		default:
			return fmt.Errorf("bad conf change %q", spec)
		}
		return n.rn.ProposeConfChange(cc)
	case "read-index":
		if len(a.pos) < 2 {
			return errors.New("read-index ID ctx")
		}
		n.rn.ReadIndex([]byte(a.pos[1]))
		return nil
	case "tick-heartbeat":
		for range n.cfg.HeartbeatTick {
			n.rn.Tick()
		}
		return nil
	case "tick-election":
		for range n.cfg.ElectionTick {
			n.rn.Tick()
		}
		return nil
	case "tick":
		if len(a.pos) < 2 {
			return errors.New("tick ID count")
		}
		k, err := strconv.Atoi(a.pos[1])
		if err != nil {
			return err
		}
		for range k {
			n.rn.Tick()
		}
		return nil
	case "status":
		env.printStatus(n)
		return nil
	case "raft-log":
		env.printLog(n)
		return nil
	case "applied":
		env.printf("%s\n", strings.Join(n.applied, " "))
		return nil
	case "compact":
		if len(a.pos) < 2 {
			return errors.New("compact ID index")
		}
		idx, err := strconv.ParseUint(a.pos[1], 10, 64)
		if err != nil {
			return err
		}
		// Snapshot at the applied index, then keep the entries after idx
		// for slow followers.
		applied := n.rn.raft.raftLog.applied
		if _, err := n.storage.CreateSnapshot(applied, &n.conf, []byte(strings.Join(n.applied, " "))); err != nil &&
			!errors.Is(err, ErrSnapOutOfDate) {
			return err
		}
		if err := n.storage.Compact(idx); err != nil {
			return err
		}
		env.printLog(n)
		return nil
	case "report-unreachable":
		if len(a.pos) < 2 {
			return errors.New("report-unreachable ID peer")
		}
		peer, err := strconv.ParseUint(a.pos[1], 10, 64)
		if err != nil {
			return err
		}
		n.rn.ReportUnreachable(peer)
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func (env *interactionEnv) printStatus(n *node) {
	st := n.rn.Status()
	env.printf("%x: %s Term:%d Lead:%x Commit:%d Applied:%d %s\n", st.ID, st.RaftState, st.Term, st.Lead,
		st.Commit, st.Applied, DescribeConfState(st.Config))
	if st.LeadTransferee != None {
		env.printf("transferring to %x\n", st.LeadTransferee)
	}
	ids := make([]uint64, 0, len(st.Progress))
	for id := range st.Progress {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		pr := st.Progress[id]
		learner := ""
		if pr.IsLearner {
			learner = " learner"
		}
		paused := ""
		if pr.Paused {
			paused = " paused"
		}
		env.printf("  %x: %s match=%d next=%d inflight=%d%s%s\n", id, pr.State, pr.Match, pr.Next, pr.Inflight, learner, paused)
	}
}

func (env *interactionEnv) printLog(n *node) {
	first, _ := n.storage.FirstIndex()
	last, _ := n.storage.LastIndex()
	snap, _ := n.storage.Snapshot()
	if !snap.IsEmpty() || first > 1 {
		env.printf("snapshot index=%d term=%d; log [%d, %d]\n", snap.Meta.Index, snap.Meta.Term, first, last)
	}
	if last < first {
		env.printf("log is empty\n")
		return
	}
	ents, err := n.storage.Entries(first, last+1, ^uint64(0))
	if err != nil {
		env.printf("error: %v\n", err)
		return
	}
	for _, e := range ents {
		env.printf("%s\n", DescribeEntry(e))
	}
}

// processReady is the reference Ready loop: persist, then send, then apply,
// then Advance.
func (env *interactionEnv) processReady(id uint64) {
	n := env.nodes[id]
	if !n.rn.HasReady() {
		env.printf("<empty Ready>\n")
		return
	}
	rd := n.rn.Ready()
	env.printf("%s\n", indent(DescribeReady(rd)))
	// 1. Messages may leave before anything is durable.
	env.send(rd.Messages)
	// 2. Persist snapshot, entries and hard state (one "fsync").
	if !rd.Snapshot.IsEmpty() {
		if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil {
			env.t.Fatalf("node %d: apply snapshot: %v", id, err)
		}
		n.conf = rd.Snapshot.Meta.ConfState
		n.applied = nil
		if len(rd.Snapshot.Data) > 0 {
			n.applied = strings.Split(string(rd.Snapshot.Data), " ")
		}
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		env.t.Fatalf("node %d: append: %v", id, err)
	}
	if !rd.HardState.IsEmpty() {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			env.t.Fatalf("node %d: hard state: %v", id, err)
		}
	}
	// 3. Now the acknowledgements may leave.
	env.send(rd.MessagesAfterPersist)
	// 4. Apply.
	for _, e := range rd.CommittedEntries {
		switch e.Type {
		case EntryConfChange:
			cc, err := UnmarshalConfChange(e.Data)
			if err != nil {
				env.t.Fatalf("node %d: conf change entry %d: %v", id, e.Index, err)
			}
			n.conf = *n.rn.ApplyConfChange(cc)
			env.printf("  applied %s: %s\n", DescribeConfChange(cc), DescribeConfState(n.conf))
		default:
			if len(e.Data) > 0 {
				n.applied = append(n.applied, string(e.Data))
			}
		}
	}
	// 5. Done.
	n.rn.Advance(rd)
}

// send queues msgs; messages from or to an isolated node are lost.
func (env *interactionEnv) send(msgs []Message) {
	for _, m := range msgs {
		if !env.isolated[m.From] && !env.isolated[m.To] {
			env.queue = append(env.queue, m)
		}
	}
}

func indent(s string) string {
	if s == "" {
		return s
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// deliver steps every queued message addressed to id, in order.
func (env *interactionEnv) deliver(id uint64) int {
	var deliver []Message
	env.queue = slices.DeleteFunc(env.queue, func(m Message) bool {
		if m.To == id {
			deliver = append(deliver, m)
			return true
		}
		return false
	})
	n := env.nodes[id]
	for _, m := range deliver {
		if env.isolated[m.From] || env.isolated[m.To] {
			env.printf("  dropped: %s\n", DescribeMessage(m))
			continue
		}
		env.printf("  %s\n", DescribeMessage(m))
		// Messages cross a real encoding to catch fields that would not
		// survive the wire.
		wire, err := UnmarshalMessage(AppendMessage(nil, &m))
		if err != nil {
			env.t.Fatalf("encoding round trip: %v", err)
		}
		if n == nil {
			continue
		}
		if err := n.rn.Step(wire); err != nil {
			env.printf("  error: %v\n", err)
		}
	}
	return len(deliver)
}

// stabilize handles Readies and delivers messages among ids until nothing
// is left to do.
func (env *interactionEnv) stabilize(ids []uint64) {
	for round := 0; ; round++ {
		if round > 1000 {
			env.t.Fatal("stabilize did not converge")
		}
		done := true
		for _, id := range ids {
			if env.nodes[id].rn.HasReady() {
				done = false
				env.printf("> %d handling Ready\n", id)
				env.processReady(id)
			}
		}
		for _, id := range ids {
			if slices.ContainsFunc(env.queue, func(m Message) bool { return m.To == id }) {
				done = false
				env.printf("> %d receiving messages\n", id)
				env.deliver(id)
			}
		}
		if done {
			return
		}
	}
}
