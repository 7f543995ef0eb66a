package rafttest

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"cairn/raft"
)

// benchCluster is a bare 3-member cluster for measuring the core's own
// overhead: MemoryStorage, instant delivery, no checker, no faults, the
// Ready loop reduced to its steps.
type benchCluster struct {
	nodes   map[uint64]*raft.RawNode
	stores  map[uint64]*raft.MemoryStorage
	applied map[uint64]uint64
	ids     []uint64
	queue   []raft.Message
	sent    int // messages delivered
}

func newBenchCluster(b *testing.B) *benchCluster {
	b.Helper()
	c := &benchCluster{
		nodes:   map[uint64]*raft.RawNode{},
		stores:  map[uint64]*raft.MemoryStorage{},
		applied: map[uint64]uint64{},
		ids:     []uint64{1, 2, 3},
	}
	for _, id := range c.ids {
		st := raft.NewMemoryStorage()
		n, err := raft.NewRawNode(&raft.Config{
			ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
			MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
			Rand: rand.New(rand.NewPCG(1, id)),
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Bootstrap(c.ids); err != nil {
			b.Fatal(err)
		}
		c.nodes[id], c.stores[id] = n, st
	}
	c.settle(b)
	if err := c.nodes[1].Campaign(); err != nil {
		b.Fatal(err)
	}
	c.settle(b)
	return c
}

// settle runs every Ready loop and delivers every message until quiet.
func (c *benchCluster) settle(b *testing.B) {
	for {
		busy := false
		for _, id := range c.ids {
			n := c.nodes[id]
			for n.HasReady() {
				busy = true
				rd := n.Ready()
				c.queue = append(c.queue, rd.Messages...)
				st := c.stores[id]
				if !rd.Snapshot.IsEmpty() {
					if err := st.ApplySnapshot(rd.Snapshot); err != nil {
						b.Fatal(err)
					}
				}
				if err := st.Append(rd.Entries); err != nil {
					b.Fatal(err)
				}
				if !rd.HardState.IsEmpty() {
					if err := st.SetHardState(rd.HardState); err != nil {
						b.Fatal(err)
					}
				}
				c.queue = append(c.queue, rd.MessagesAfterPersist...)
				for _, e := range rd.CommittedEntries {
					if e.Type == raft.EntryConfChange {
						cc, err := raft.UnmarshalConfChange(e.Data)
						if err != nil {
							b.Fatal(err)
						}
						n.ApplyConfChange(cc)
					}
					c.applied[id] = e.Index
				}
				n.Advance(rd)
			}
		}
		if len(c.queue) > 0 {
			busy = true
			q := c.queue
			c.queue = nil
			c.sent += len(q)
			for _, m := range q {
				if err := c.nodes[m.To].Step(m); err != nil {
					b.Fatal(err)
				}
			}
		}
		if !busy {
			return
		}
	}
}

// compact bounds memory in long runs, as a daemon's snapshots would.
func (c *benchCluster) compact(b *testing.B) {
	for _, id := range c.ids {
		a := c.applied[id]
		if _, err := c.stores[id].CreateSnapshot(a, nil, nil); err != nil {
			b.Fatal(err)
		}
		if err := c.stores[id].Compact(a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommit measures proposals committed and applied on all three
// members per second, for batches of 1 and 64 proposals per round (a round
// is: propose the batch at the leader, settle the cluster). It reports
// entries/s, allocs/entry and msgs/entry (messages delivered per committed
// entry) next to the usual allocs/op.
func BenchmarkCommit(b *testing.B) {
	data := make([]byte, 64)
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			c := newBenchCluster(b)
			lead := c.nodes[1]
			if st := lead.Status(); st.RaftState != raft.StateLeader {
				b.Fatalf("member 1 is %v", st.RaftState)
			}
			start, sent := c.applied[1], c.sent
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mallocs := ms.Mallocs
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for range batch {
					if err := lead.Propose(data); err != nil {
						b.Fatal(err)
					}
				}
				c.settle(b)
				if (i+1)%(1+8192/batch) == 0 {
					c.compact(b)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms)
			entries := float64(b.N * batch)
			for _, id := range c.ids {
				if got := c.applied[id] - start; got != uint64(b.N*batch) {
					b.Fatalf("member %d applied %d entries, want %d", id, got, b.N*batch)
				}
			}
			b.ReportMetric(entries/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64(ms.Mallocs-mallocs)/entries, "allocs/entry")
			b.ReportMetric(float64(c.sent-sent)/entries, "msgs/entry")
		})
	}
}
