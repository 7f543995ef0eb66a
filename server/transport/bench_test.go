package transport

import (
	"context"
	"io"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cairn/raft"
)

// countingRaft counts processed messages and wakes the sender whenever a
// quarter window has arrived, or the target count is reached.
type countingRaft struct {
	n      atomic.Int64
	target atomic.Int64
	window int64
	mu     sync.Mutex
	cond   *sync.Cond
}

func newCountingRaft(window int64) *countingRaft {
	c := &countingRaft{window: window}
	c.cond = sync.NewCond(&c.mu)
	c.target.Store(-1)
	return c
}

func (c *countingRaft) Process(ctx context.Context, m raft.Message) error {
	if n := c.n.Add(1); n%(c.window/4) == 0 || n == c.target.Load() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	}
	return nil
}
func (c *countingRaft) IsRemoved(uint64) bool                                          { return false }
func (c *countingRaft) ReportUnreachable(uint64)                                       {}
func (c *countingRaft) ReportSnapshot(uint64, raft.SnapshotStatus)                     {}
func (c *countingRaft) ReceiveSnapshot(context.Context, raft.Message, io.Reader) error { return nil }

// waitBelow blocks until fewer than window of sent messages are in flight.
func (c *countingRaft) waitBelow(sent int64) {
	c.mu.Lock()
	for sent-c.n.Load() >= c.window {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// waitAll blocks until all sent messages have been processed.
func (c *countingRaft) waitAll(sent int64) {
	c.mu.Lock()
	c.target.Store(sent)
	for c.n.Load() < sent {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// BenchmarkStreamMsgApp measures messages/s and bytes/s of small MsgApp
// messages (one 64-byte entry, as a config-store write) over a loopback
// stream, keeping at most half a queue in flight so nothing is dropped.
func BenchmarkStreamMsgApp(b *testing.B) {
	for _, entries := range []int{1, 8} {
		b.Run(map[int]string{1: "1x64B", 8: "8x64B"}[entries], func(b *testing.B) {
			recv := newCountingRaft(DefaultQueueSize / 2)
			m2 := New(Config{LocalID: 2, ClusterID: 1, Raft: recv})
			srv := httptest.NewServer(m2.Handler())
			m1 := New(Config{LocalID: 1, ClusterID: 1, Raft: newCountingRaft(4)})
			b.Cleanup(func() {
				m1.Close()
				m2.Close()
				srv.Close()
			})
			if err := m1.AddPeer(2, []string{srv.URL}); err != nil {
				b.Fatal(err)
			}
			m := raft.Message{Type: raft.MsgApp, From: 1, To: 2, Term: 5, LogTerm: 5, Index: 1 << 20, Commit: 1 << 20}
			for i := range entries {
				m.Entries = append(m.Entries, raft.Entry{Term: 5, Index: 1<<20 + uint64(i) + 1, Data: make([]byte, 64)})
			}
			frameBytes := int64(len(appendFrame(nil, &m)))
			batch := make([]raft.Message, 64)
			for i := range batch {
				batch[i] = m
			}
			b.SetBytes(frameBytes)
			b.ReportAllocs()
			start := time.Now()
			b.ResetTimer()
			var sent int64
			for sent < int64(b.N) {
				k := min(int64(len(batch)), int64(b.N)-sent)
				recv.waitBelow(sent + k)
				m1.Send(batch[:k])
				sent += k
			}
			recv.waitAll(sent)
			b.StopTimer()
			elapsed := time.Since(start)
			if got := recv.n.Load(); got != sent {
				b.Fatalf("delivered %d of %d", got, sent)
			}
			st := m1.Status()[0]
			if st.Dropped != 0 {
				b.Fatalf("dropped %d", st.Dropped)
			}
			b.ReportMetric(float64(sent)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(float64(sent)/float64(st.Batches), "msgs/write")
		})
	}
}
