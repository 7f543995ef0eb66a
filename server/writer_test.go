package server

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/raft"
	"cairn/server/config"
)

func ents(first, last, term uint64) []raft.Entry {
	var es []raft.Entry
	for i := first; i <= last; i++ {
		es = append(es, raft.Entry{Index: i, Term: term})
	}
	return es
}

// TestMergeReadies: merged entries are what a log holds after appending
// each Ready's in turn, the newest hard state wins, and raft's own slices
// are never written to.
func TestMergeReadies(t *testing.T) {
	first := ents(5, 7, 1)
	orig := append([]raft.Entry(nil), first...)
	rds := []raft.Ready{
		{HardState: raft.HardState{Term: 1, Commit: 4}, Entries: first[:2:3]},
		{},
		{HardState: raft.HardState{Term: 2, Commit: 5}, Entries: ents(6, 8, 2)}, // replaces 6
		{Entries: ents(9, 9, 2)},
	}
	hs, got := mergeReadies(rds)
	if hs != (raft.HardState{Term: 2, Commit: 5}) {
		t.Fatalf("hard state %+v", hs)
	}
	want := []raft.Entry{{Index: 5, Term: 1}, {Index: 6, Term: 2}, {Index: 7, Term: 2}, {Index: 8, Term: 2}, {Index: 9, Term: 2}}
	if len(got) != len(want) {
		t.Fatalf("entries %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Index != want[i].Index || got[i].Term != want[i].Term {
			t.Fatalf("entries %+v, want %+v", got, want)
		}
	}
	for i := range first {
		if first[i].Index != orig[i].Index || first[i].Term != orig[i].Term {
			t.Fatalf("raft's slice was written: %+v", first)
		}
	}
	if _, got := mergeReadies(rds[:1]); &got[0] != &first[0] {
		t.Fatal("a single Ready's entries were copied")
	}
	if _, got := mergeReadies([]raft.Ready{{Entries: ents(5, 7, 1)}, {Entries: ents(3, 4, 3)}}); len(got) != 2 || got[0].Index != 3 {
		t.Fatalf("a Ready below the others must replace them all: %+v", got)
	}
}

// writerHarness runs the disk writer alone, with a save that records what
// it saves and a send that records acknowledgements.
type writerHarness struct {
	m     *Member
	saves chan []raft.Entry
	sent  chan raft.Message
}

func newWriterHarness(t *testing.T) *writerHarness {
	h := &writerHarness{saves: make(chan []raft.Entry, 64), sent: make(chan raft.Message, 64)}
	m := &Member{
		walIn:    make(chan raft.Ready, maxWriterQueue),
		walOut:   make(chan []raft.Ready, 1),
		walFlush: make(chan struct{}, 1),
		stopc:    make(chan struct{}),
		failc:    make(chan struct{}),
		logger:   testLogger(t),
	}
	m.save = func(hs raft.HardState, es []raft.Entry) error {
		h.saves <- slices.Clone(es)
		return nil
	}
	m.send = func(msgs []raft.Message) {
		for _, msg := range msgs {
			h.sent <- msg
		}
	}
	h.m = m
	return h
}

// report waits for the writer's next report.
func (h *writerHarness) report(t *testing.T) []raft.Ready {
	t.Helper()
	select {
	case done := <-h.m.walOut:
		return done
	case <-time.After(10 * time.Second):
		t.Fatal("the writer reported nothing")
		return nil
	}
}

// saved waits for the next save and returns the indexes it held.
func (h *writerHarness) saved(t *testing.T) []uint64 {
	t.Helper()
	select {
	case es := <-h.saves:
		var idx []uint64
		for _, e := range es {
			idx = append(idx, e.Index)
		}
		return idx
	case <-time.After(10 * time.Second):
		t.Fatal("the writer saved nothing")
		return nil
	}
}

// noSave checks that the writer has not saved anything yet.
func (h *writerHarness) noSave(t *testing.T, why string) {
	t.Helper()
	time.Sleep(20 * time.Millisecond)
	select {
	case es := <-h.saves:
		t.Fatalf("%s: saved %d entries, want the writer to linger", why, len(es))
	default:
	}
}

func entryReady(i uint64) raft.Ready {
	return raft.Ready{Entries: ents(i, i, 1), HardState: raft.HardState{Term: 1, Vote: 1, Commit: i - 1}}
}

// TestWriterLingers: a leader's writer under load gathers Readies until it
// is asked to save, or a Ready needs saving at once; without load, or when
// the loop does not allow it, it saves each batch as it comes; at stop it
// saves what it holds.
func TestWriterLingers(t *testing.T) {
	defer func(d time.Duration) { lingerMax = d }(lingerMax)
	lingerMax = time.Hour // only flushes and forced saves end a linger here
	h := newWriterHarness(t)
	m := h.m
	m.lingerOK.Store(true)
	// The first batch: term and vote are new, so it is saved at once; its
	// entries from two Readies mark the writer loaded.
	m.walIn <- entryReady(1)
	m.walIn <- entryReady(2)
	done := make(chan struct{})
	go func() { defer close(done); m.runWriter() }()
	if got := h.saved(t); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("first save %v, want [1 2]", got)
	}
	h.report(t)

	// Loaded: the next Readies wait for a flush, and are saved together.
	m.walIn <- entryReady(3)
	m.walIn <- entryReady(4)
	h.noSave(t, "loaded leader")
	m.walFlush <- struct{}{}
	if got := h.saved(t); !slices.Equal(got, []uint64{3, 4}) {
		t.Fatalf("flushed save %v, want [3 4]", got)
	}
	h.report(t)

	// A Ready with acknowledgements ends the linger at once.
	m.walIn <- entryReady(5)
	h.noSave(t, "entries only")
	ack := entryReady(6)
	ack.MessagesAfterPersist = []raft.Message{{Type: raft.MsgAppResp, To: 2, Index: 6}}
	m.walIn <- ack
	if got := h.saved(t); !slices.Equal(got, []uint64{5, 6}) {
		t.Fatalf("save with an acknowledgement %v, want [5 6]", got)
	}
	if msg := <-h.sent; msg.Type != raft.MsgAppResp || msg.Index != 6 {
		t.Fatalf("sent %v, want the acknowledgement of 6", msg)
	}
	h.report(t)

	// So does a new term.
	m.walIn <- entryReady(7)
	h.noSave(t, "entries only")
	newTerm := entryReady(8)
	newTerm.HardState.Term = 2
	m.walIn <- newTerm
	if got := h.saved(t); !slices.Equal(got, []uint64{7, 8}) {
		t.Fatalf("save with a new term %v, want [7 8]", got)
	}
	h.report(t)

	// Stopped while lingering: what it holds is saved.
	last := entryReady(9)
	last.HardState.Term = 2
	m.walIn <- last
	h.noSave(t, "loaded leader")
	close(m.stopc)
	if got := h.saved(t); !slices.Equal(got, []uint64{9}) {
		t.Fatalf("save at stop %v, want [9]", got)
	}
	<-done

	// When the loop does not allow lingering, a batch is saved at once;
	// without load (one Ready per save) too.
	h = newWriterHarness(t)
	m = h.m
	m.walIn <- entryReady(1)
	m.walIn <- entryReady(2)
	done = make(chan struct{})
	go func() { defer close(done); m.runWriter() }()
	if got := h.saved(t); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("first save %v, want [1 2]", got)
	}
	h.report(t)
	m.walIn <- entryReady(3)
	if got := h.saved(t); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("save without lingering %v, want [3]", got)
	}
	h.report(t)
	m.lingerOK.Store(true)
	m.walIn <- entryReady(4)
	if got := h.saved(t); !slices.Equal(got, []uint64{4}) {
		t.Fatalf("unloaded save %v, want [4]", got)
	}
	h.report(t)
	close(m.stopc)
	<-done
}

// TestLeaderAnswersBeforeItsOwnSave: with the leader's disk writer stuck,
// a write is still answered once both followers have it durable, and the
// leader holds it after its writer catches up and it restarts.
func TestLeaderAnswersBeforeItsOwnSave(t *testing.T) {
	var stuck atomic.Bool
	gate := make(chan struct{})
	var release sync.Once
	open := func() { release.Do(func() { close(gate) }) }
	nodes := newCluster(t, 3, func(m *Member) {
		m.wrapIO = func(m *Member) {
			save := m.save
			m.save = func(hs raft.HardState, es []raft.Entry) error {
				if len(es) > 0 && m.isLeader.Load() && stuck.Load() {
					<-gate
				}
				return save(hs, es)
			}
		}
	})
	// Registered after the members' Stops, so it runs before them: a
	// failing test does not leave the leader's writer stuck.
	t.Cleanup(open)
	leader := leaderOf(t, nodes)
	put(t, leader, "/warm", "up")
	stuck.Store(true)
	if r := put(t, leader, "/k", "v"); !strings.Contains(r.body, `"value":"v"`) {
		t.Fatalf("answer %s", r.body)
	}
	if r := do(t, http.MethodGet, leader.clientURL+"/v2/keys/k", nil); r.code != http.StatusOK {
		t.Fatalf("the leader does not show its write: %d %s", r.code, r.body)
	}
	stuck.Store(false)
	open()
	// Alone, with the followers down, the restarted leader can only know
	// the write from its own WAL.
	for _, n := range nodes {
		n.m.Stop()
	}
	leader.create(t, nodes, config.StateExisting, nil)
	if err := leader.m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var r response
	for range 100 {
		if r = do(t, http.MethodGet, leader.clientURL+"/v2/keys/k", nil); r.code == http.StatusOK {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("restarted alone, the leader lost the write: %d %s", r.code, r.body)
}
