package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Load writes unique keys (prefix/w<worker>-<seq>) from several workers,
// each rotating over the endpoints it is given and moving to the next one
// after an error. Every write acknowledged is recorded in History. Each
// worker stops after MaxWrites writes, at Stop, or at its deadline,
// whichever comes first.
type Load struct {
	History *History

	ok, failed atomic.Int64
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// LoadConfig configures StartLoad.
type LoadConfig struct {
	Prefix    string        // key prefix, e.g. "/load"
	Workers   int           // 0 means 4
	MaxWrites int           // per worker; 0 means 100000
	MaxTime   time.Duration // 0 means 2 minutes
	Timeout   time.Duration // per request; 0 means 1 s
}

// StartLoad starts the workers against the client URLs endpoints.
func StartLoad(endpoints []string, cfg LoadConfig) *Load {
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if cfg.MaxWrites == 0 {
		cfg.MaxWrites = 100000
	}
	if cfg.MaxTime == 0 {
		cfg.MaxTime = 2 * time.Minute
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.MaxTime)
	l := &Load{History: new(History), cancel: cancel}
	for w := 0; w < cfg.Workers; w++ {
		clients := make([]*Client, len(endpoints))
		for i, e := range endpoints {
			clients[i] = NewClient(e, cfg.Timeout, l.History)
		}
		l.wg.Add(1)
		go func(w int) {
			defer l.wg.Done()
			cur := w % len(clients)
			for seq := 0; seq < cfg.MaxWrites && ctx.Err() == nil; seq++ {
				key := cfg.Prefix + "/w" + strconv.Itoa(w) + "-" + strconv.Itoa(seq)
				_, err := clients[cur].Set(ctx, key, "v"+strconv.Itoa(seq), SetOptions{})
				if err == nil {
					l.ok.Add(1)
					continue
				}
				l.failed.Add(1)
				cur = (cur + 1) % len(clients)
				// Do not spin on a dead cluster: back off one
				// heartbeat-ish period, cut short by Stop.
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
			for _, c := range clients {
				c.CloseIdle()
			}
		}(w)
	}
	return l
}

// Stop stops the workers and waits for them.
func (l *Load) Stop() {
	l.cancel()
	l.wg.Wait()
}

// Wait waits for the workers to finish on their own (count or time bound).
func (l *Load) Wait() {
	l.wg.Wait()
	l.cancel()
}

// Counts returns the number of acknowledged and failed writes so far.
func (l *Load) Counts() (ok, failed int64) { return l.ok.Load(), l.failed.Load() }

// WaitAcks waits until at least n more writes than now have been
// acknowledged, polling every 10 ms within timeout.
func (l *Load) WaitAcks(n int64, timeout time.Duration) error {
	target := l.ok.Load() + n
	deadline := time.Now().Add(timeout)
	for i := 0; i < int(timeout/(10*time.Millisecond))+1 && time.Now().Before(deadline); i++ {
		if l.ok.Load() >= target {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("e2e: load: %d acks, wanted %d within %v", l.ok.Load(), target, timeout)
}

// ErrLost means an acknowledged write is missing or different on a member.
var ErrLost = errors.New("e2e: acknowledged write lost")

// CheckAcks verifies that every write in h acknowledged at or below a barrier
// write's index is readable from every member in ps with the acknowledged
// value and index (all of h, once the load has stopped). Each member is first given time
// (within timeout) to apply up to a barrier: a quorum write through the
// first member, after which a member's local read must show the barrier.
func CheckAcks(ps []*Proc, h *History, prefix string, timeout time.Duration) error {
	if len(ps) == 0 {
		return errors.New("e2e: check: no members")
	}
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	// Barrier: one more write, retried on every member in turn.
	var barrier *Response
	var err error
	for i := 0; i < 50 && time.Now().Before(deadline); i++ {
		barrier, err = ps[i%len(ps)].Client(nil).Set(ctx, prefix+"-barrier", strconv.Itoa(i), SetOptions{})
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("e2e: check: barrier write: %w", err)
	}
	// A member that has applied the barrier has applied every write with a
	// lower store index, and nothing more is promised: writes the load
	// acknowledged after the barrier (at higher indexes) may legitimately be
	// missing from a member's local read, so only acks at or below it count.
	acks := h.Latest()
	for k, a := range acks {
		if a.Index > barrier.Node.ModifiedIndex {
			delete(acks, k)
		}
	}
	for _, p := range ps {
		c := p.Client(nil)
		var got *Response
		for i := 0; i < 1000 && time.Now().Before(deadline); i++ {
			got, err = c.Get(ctx, prefix+"-barrier", false)
			if err == nil && got.Node.ModifiedIndex >= barrier.Node.ModifiedIndex {
				break
			}
			got = nil
			time.Sleep(20 * time.Millisecond)
		}
		if got == nil {
			return fmt.Errorf("e2e: check: %s did not apply the barrier at %d: %v", p.Name, barrier.Node.ModifiedIndex, err)
		}
		tree, err := c.GetRecursive(ctx, prefix, false)
		if err != nil {
			if APICode(err) == 100 && len(acks) == 0 {
				continue
			}
			return fmt.Errorf("e2e: check: %s: %w", p.Name, err)
		}
		have := make(map[string]*Node)
		var walk func(n *Node)
		walk = func(n *Node) {
			have[n.Key] = n
			for _, k := range n.Nodes {
				walk(k)
			}
		}
		walk(tree.Node)
		var missing []string
		for k, a := range acks {
			n := have[k]
			switch {
			case n == nil:
				missing = append(missing, k+" missing")
			case n.Value == nil || *n.Value != a.Value:
				missing = append(missing, fmt.Sprintf("%s = %v, acked %q", k, n.Value, a.Value))
			case n.ModifiedIndex != a.Index:
				missing = append(missing, fmt.Sprintf("%s at index %d, acked at %d", k, n.ModifiedIndex, a.Index))
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			if len(missing) > 10 {
				missing = append(missing[:10], fmt.Sprintf("... %d more", len(missing)-10))
			}
			return fmt.Errorf("%w on %s: %d of %d: %v", ErrLost, p.Name, len(missing), len(acks), missing)
		}
		c.CloseIdle()
	}
	return nil
}
