package server

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/raft"
)

// durability tracks what one member's WAL has made durable, and checks
// every outgoing acknowledgement against it (Raft thesis §3.8: a member
// must not acknowledge entries or a vote before they are on disk).
type durability struct {
	mu       sync.Mutex
	last     uint64 // index of the last durable entry
	hs       raft.HardState
	checked  atomic.Int64
	violated atomic.Int64
	first    atomic.Value // string: the first violation
}

func (d *durability) wrap(m *Member) {
	last, _ := m.ms.LastIndex()
	hs, _, _ := m.ms.InitialState()
	d.last, d.hs = last, hs
	save, send := m.save, m.send
	m.save = func(hs raft.HardState, ents []raft.Entry) error {
		err := save(hs, ents)
		if err == nil {
			d.mu.Lock()
			if len(ents) > 0 {
				d.last = ents[len(ents)-1].Index
			}
			if !hs.IsEmpty() {
				d.hs = hs
			}
			d.mu.Unlock()
		}
		return err
	}
	m.send = func(msgs []raft.Message) {
		d.mu.Lock()
		for _, msg := range msgs {
			bad := ""
			switch {
			case msg.Type == raft.MsgAppResp && !msg.Reject:
				d.checked.Add(1)
				if msg.Index > d.last {
					bad = fmt.Sprintf("MsgAppResp for index %d sent with only %d durable", msg.Index, d.last)
				}
			case msg.Type == raft.MsgVoteResp && !msg.Reject:
				d.checked.Add(1)
				if d.hs.Vote != msg.To || d.hs.Term < msg.Term {
					bad = fmt.Sprintf("vote for %x in term %d sent with durable hard state %+v", msg.To, msg.Term, d.hs)
				}
			}
			if bad != "" {
				d.violated.Add(1)
				d.first.CompareAndSwap(nil, bad)
			}
		}
		d.mu.Unlock()
		send(msgs)
	}
}

// TestNoAckBeforeFsync fails if any acknowledgement (MsgAppResp, a granted
// vote) leaves a member before the WAL Save holding what it acknowledges
// has returned.
func TestNoAckBeforeFsync(t *testing.T) {
	var ds []*durability
	var mu sync.Mutex
	nodes := newCluster(t, 3, func(m *Member) {
		d := &durability{}
		mu.Lock()
		ds = append(ds, d)
		mu.Unlock()
		m.wrapIO = d.wrap
	})
	writes := 60
	if testing.Short() {
		writes = 20
	}
	var wg sync.WaitGroup
	for i := range writes {
		wg.Go(func() { put(t, nodes[i%3], fmt.Sprintf("/k%d", i), "v") })
	}
	wg.Wait()
	var checked int64
	for _, d := range ds {
		checked += d.checked.Load()
		if d.violated.Load() > 0 {
			t.Fatalf("%d acknowledgements sent before durable; first: %s", d.violated.Load(), d.first.Load())
		}
	}
	if checked < 10 {
		t.Fatalf("only %d acknowledgements checked", checked)
	}
}

// TestProposalsBatched checks that concurrent client writes share WAL
// writes: fewer Saves (each one fdatasync) than writes.
func TestProposalsBatched(t *testing.T) {
	// Count the saves that append entries (each costs an fdatasync; saves
	// that only move the commit index do not sync), on a disk made slow
	// enough that writes arriving during a save must queue behind it, so
	// the test does not depend on how fast this machine schedules clients.
	var saves atomic.Int64
	nodes := newCluster(t, 1, func(m *Member) {
		m.wrapIO = func(m *Member) {
			save := m.save
			m.save = func(hs raft.HardState, ents []raft.Entry) error {
				if len(ents) > 0 {
					saves.Add(1)
					time.Sleep(2 * time.Millisecond) // a slow SD card's fdatasync
				}
				return save(hs, ents)
			}
		}
	})
	writes := 200
	if testing.Short() {
		writes = 50
	}
	before := saves.Load()
	var wg sync.WaitGroup
	for i := range writes {
		wg.Go(func() { put(t, nodes[0], fmt.Sprintf("/b%d", i), "v") })
	}
	wg.Wait()
	n := saves.Load() - before
	t.Logf("%d concurrent writes took %d WAL saves with entries", writes, n)
	if n > int64(writes)/4 {
		t.Fatalf("%d writes took %d WAL saves with entries: proposals are not batched", writes, n)
	}
}

// TestSaveFailureIsFatal: a WAL error stops the member (Failed, Err wraps
// ErrFatal) and the client gets error 300, not a success.
func TestSaveFailureIsFatal(t *testing.T) {
	var broken atomic.Bool
	nodes := newCluster(t, 1, func(m *Member) {
		m.RequestTimeout = time.Second
		m.wrapIO = func(m *Member) {
			save := m.save
			m.save = func(hs raft.HardState, ents []raft.Entry) error {
				if broken.Load() {
					return errors.New("disk on fire")
				}
				return save(hs, ents)
			}
		}
	})
	n := nodes[0]
	broken.Store(true)
	r := do(t, "PUT", n.clientURL+"/v2/keys/x", url.Values{"value": {"v"}})
	if r.code != 500 || !strings.Contains(r.body, `"errorCode":300`) {
		t.Fatalf("write with a broken WAL: %d %s", r.code, r.body)
	}
	select {
	case <-n.m.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("member did not fail")
	}
	if err := n.m.Err(); !errors.Is(err, ErrFatal) {
		t.Fatalf("Err() = %v, want ErrFatal", err)
	}
	if n.m.Healthy() == nil {
		t.Fatal("a failed member reports healthy")
	}
}
