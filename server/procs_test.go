package server

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// procsRecorder stands in for runtime.GOMAXPROCS.
type procsRecorder struct {
	mu    sync.Mutex
	cur   int
	calls []int // every n > 0 set, in order
}

func (r *procsRecorder) set(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.cur
	if n > 0 {
		r.cur = n
		r.calls = append(r.calls, n)
	}
	return prev
}

func (r *procsRecorder) get() (int, []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur, slices.Clone(r.calls)
}

func TestProcsGovernor(t *testing.T) {
	// Each step is a window of procsWindow equal samples ("w<n>"), or a
	// snapshot starting ("s+") or ending ("s-"); want is GOMAXPROCS after
	// each step.
	tests := []struct {
		name  string
		steps []string
		want  []int
	}{
		{"light load stays on one P", []string{"w0", "w1", "w11"}, []int{1, 1, 1}},
		{"heavy load raises, light lowers", []string{"w30", "w20", "w13", "w12", "w3"}, []int{4, 4, 4, 1, 1}},
		{"between the thresholds nothing changes", []string{"w20", "w24", "w20", "w12"}, []int{1, 4, 4, 1}},
		{"a snapshot runs on all Ps", []string{"s+", "w0", "s-", "w0"}, []int{4, 4, 1, 1}},
		{"a snapshot under heavy load keeps them", []string{"w30", "s+", "s-", "w5"}, []int{4, 4, 4, 1}},
		{"light load during a snapshot lowers after it", []string{"w30", "s+", "w0", "s-"}, []int{4, 4, 4, 1}},
		{"negative samples count as zero", []string{"w-5"}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &procsRecorder{cur: 4}
			g := newProcsGovernor(r.set(0), r.set)
			if cur, _ := r.get(); cur != 1 {
				t.Fatalf("after start GOMAXPROCS = %d, want 1", cur)
			}
			for i, step := range tt.steps {
				switch step {
				case "s+":
					g.snapshotting(true)
				case "s-":
					g.snapshotting(false)
				default:
					var n int64
					if _, err := fmt.Sscanf(step, "w%d", &n); err != nil {
						t.Fatal(err)
					}
					for range procsWindow {
						g.sample(n)
					}
				}
				if cur, _ := r.get(); cur != tt.want[i] {
					t.Fatalf("after step %d (%s): GOMAXPROCS = %d, want %d", i, step, cur, tt.want[i])
				}
			}
		})
	}
}

func TestProcsGovernorDecidesPerWindow(t *testing.T) {
	r := &procsRecorder{cur: 2}
	g := newProcsGovernor(r.set(0), r.set)
	for range procsWindow - 1 {
		g.sample(100)
	}
	if cur, _ := r.get(); cur != 1 {
		t.Fatalf("GOMAXPROCS = %d before the window ended, want 1", cur)
	}
	g.sample(100)
	if cur, _ := r.get(); cur != 2 {
		t.Fatalf("GOMAXPROCS = %d after a window averaging 100, want 2", cur)
	}
	// Only changes are applied.
	for range 3 * procsWindow {
		g.sample(100)
	}
	if _, calls := r.get(); !slices.Equal(calls, []int{1, 2}) {
		t.Fatalf("GOMAXPROCS calls %v, want [1 2]", calls)
	}
}

func TestProcsGovernorNeedsSeveralProcs(t *testing.T) {
	if g := newProcsGovernor(1, func(int) int { t.Fatal("GOMAXPROCS changed"); return 0 }); g != nil {
		t.Fatal("a governor with one P to choose from")
	}
}

// TestAdaptiveProcsFollowsLoad runs a member with the governor on (its
// GOMAXPROCS calls recorded, not made): one P at start, all of them while
// many writes wait, one again once they stop, and the starting value after
// Stop.
func TestAdaptiveProcsFollowsLoad(t *testing.T) {
	r := &procsRecorder{cur: 4}
	nodes := newCluster(t, 1, func(m *Member) {
		m.AdaptiveProcs = true
		m.setProcs = r.set
	})
	n := nodes[0]
	if cur, _ := r.get(); cur != 1 {
		t.Fatalf("GOMAXPROCS = %d after start, want 1", cur)
	}
	waitProcs := func(want int, why string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			cur, calls := r.get()
			if cur == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("GOMAXPROCS = %d %s (calls %v), want %d", cur, why, calls, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// 2*procsUp clients writing in a closed loop, bounded by count and
	// time, until the governor has raised GOMAXPROCS.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	end := time.Now().Add(20 * time.Second)
	for c := range 2 * procsUp {
		wg.Go(func() {
			for i := 0; i < 20000 && time.Now().Before(end); i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := tryDo(t, "PUT", fmt.Sprintf("%s/v2/keys/load/%d", n.clientURL, c), map[string][]string{"value": {"x"}}); err != nil {
					return
				}
			}
		})
	}
	waitProcs(4, "under load")
	close(stop)
	wg.Wait()
	waitProcs(1, "after the load")
	n.m.Stop()
	if cur, _ := r.get(); cur != 4 {
		t.Fatalf("GOMAXPROCS = %d after Stop, want 4 (as it started)", cur)
	}
}
