package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"cairn/raft"
	"cairn/server/config"
)

// TestHardStateAfterSnapshot: the replayed hard state is raised to the
// snapshot it restarts from, and a vote from an older term is dropped.
func TestHardStateAfterSnapshot(t *testing.T) {
	snap := raft.SnapshotMeta{Index: 50, Term: 4}
	tests := []struct {
		name string
		hs   raft.HardState
		snap raft.SnapshotMeta
		want raft.HardState
	}{
		{"no snapshot", raft.HardState{Term: 2, Vote: 1, Commit: 7}, raft.SnapshotMeta{}, raft.HardState{Term: 2, Vote: 1, Commit: 7}},
		{"already past", raft.HardState{Term: 5, Vote: 3, Commit: 60}, snap, raft.HardState{Term: 5, Vote: 3, Commit: 60}},
		{"commit behind", raft.HardState{Term: 4, Vote: 3, Commit: 20}, snap, raft.HardState{Term: 4, Vote: 3, Commit: 50}},
		{"term behind", raft.HardState{Term: 2, Vote: 3, Commit: 20}, snap, raft.HardState{Term: 4, Commit: 50}},
		{"empty", raft.HardState{}, snap, raft.HardState{Term: 4, Commit: 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hardStateAfterSnapshot(tc.hs, tc.snap); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestCrashAfterReceivedSnapshotMarker: a follower that was down is caught
// up by a snapshot and crashes after recording the snapshot's WAL marker
// but before saving the hard state of the same Ready. It must restart (its
// saved commit index is below the snapshot) and catch up.
func TestCrashAfterReceivedSnapshotMarker(t *testing.T) {
	tune := func(m *Member) { m.CatchUpEntries = 2 }
	nodes := newCluster(t, 3, tune, "--snapshot-count", "10")
	lead := leaderOf(t, nodes)
	var f *testNode
	for _, n := range nodes {
		if n != lead {
			f = n
			break
		}
	}
	put(t, f, "/before", "1")
	f.m.Stop()
	for i := range 30 {
		put(t, lead, fmt.Sprintf("/k%d", i), "v")
	}
	if lead.m.snapIndex.Load() == 0 {
		t.Fatal("leader took no snapshot")
	}
	errCrash := errors.New("simulated crash")
	f.create(t, nodes, config.StateNew, func(m *Member) {
		tune(m)
		m.wrapIO = func(m *Member) {
			save := m.save
			m.save = func(hs raft.HardState, ents []raft.Entry) error {
				if m.snapIndex.Load() > 0 {
					return errCrash // the marker is on disk, the hard state is not
				}
				return save(hs, ents)
			}
		}
	})
	if err := f.m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.m.Failed():
	case <-time.After(20 * time.Second):
		t.Fatal("follower did not install the snapshot")
	}
	f.m.Stop()
	f.start(t, nodes, config.StateNew, tune)
	if r := quorumGet(t, f, "/k29"); r.code != 200 {
		t.Fatalf("restarted follower: %d %s", r.code, r.body)
	}
	if a, b := f.m.store.Index(), lead.m.store.Index(); a != b {
		t.Fatalf("store index: follower %d, leader %d", a, b)
	}
}

// TestProcessBoundsQueuedBytes: received messages are queued for the loop
// without waiting, until maxQueuedBytes of entries are queued; then the
// stream waits for the loop (here: until its context ends).
func TestProcessBoundsQueuedBytes(t *testing.T) {
	m := &Member{actc: make(chan func(*raft.RawNode), 16), stopc: make(chan struct{}), logger: testLogger(t)}
	big := raft.Message{Type: raft.MsgApp, From: 2, To: 1, Entries: []raft.Entry{{Index: 1, Term: 1, Data: make([]byte, maxQueuedBytes*3/4)}}}
	if err := m.Process(t.Context(), big); err != nil {
		t.Fatalf("first message: %v", err)
	}
	if got, want := m.queuedBytes.Load(), int64(msgSize(&big)); got != want {
		t.Fatalf("queued bytes %d, want %d", got, want)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Process(ctx, big); !errors.Is(err, context.Canceled) {
		t.Fatalf("second message over the bound: %v, want it to wait for the loop", err)
	}
	if got, want := m.queuedBytes.Load(), int64(msgSize(&big)); got != want {
		t.Fatalf("queued bytes after the waiting message %d, want %d", got, want)
	}
}
