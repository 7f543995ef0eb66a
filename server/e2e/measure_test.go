package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Default etcd timing, used by the measurements.
const (
	defaultHeartbeatMS = 100
	defaultElectionMS  = 1000
)

// summary formats durations as median / p90 / worst.
func summary(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return "no samples"
	}
	p := func(q float64) time.Duration { return s[int(q*float64(len(s)-1)+0.5)] }
	return fmt.Sprintf("n=%d min=%v median=%v p90=%v worst=%v",
		len(s), s[0].Round(time.Millisecond), p(0.5).Round(time.Millisecond),
		p(0.9).Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

// firstWrite writes to every member in ps concurrently, each retrying with
// a short per-request timeout, and returns when the first write is
// acknowledged, bounded by limit.
func firstWrite(ps []*Proc, key string, limit time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	won := make(chan time.Time, len(ps))
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func(p *Proc) {
			defer wg.Done()
			cl := NewClient(p.ClientURL, 200*time.Millisecond, nil)
			defer cl.CloseIdle()
			for i := 0; i < 100000 && ctx.Err() == nil; i++ {
				if _, err := cl.Set(ctx, key, strconv.Itoa(i), SetOptions{}); err == nil {
					won <- time.Now()
					cancel()
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Millisecond):
				}
			}
		}(p)
	}
	wg.Wait()
	select {
	case t := <-won:
		return t, nil
	default:
		return time.Time{}, fmt.Errorf("e2e: no write acknowledged within %v", limit)
	}
}

// firstLeader polls /v2/members/leader on every member in ps every 10 ms
// and returns when one reports a leader other than old, bounded by limit;
// it returns the zero time if none does.
func firstLeader(ps []*Proc, old string, limit time.Duration) time.Time {
	deadline := time.Now().Add(limit)
	cls := make([]*Client, len(ps))
	for i, p := range ps {
		cls[i] = NewClient(p.ClientURL, 100*time.Millisecond, nil)
		defer cls[i].CloseIdle()
	}
	for i := 0; i < int(limit/(10*time.Millisecond))+1 && time.Now().Before(deadline); i++ {
		for _, cl := range cls {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			m, err := cl.Leader(ctx)
			cancel()
			if err == nil && m.ID != old {
				return time.Now()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Time{}
}

// TestMeasureFailover measures, with etcd's default timing (heartbeat
// 100 ms, election 1000 ms), the time from SIGKILL of the leader of a
// 3-member cluster to the first acknowledged write, over -measure.trials
// trials. Goal: worst case below twice the election timeout.
func TestMeasureFailover(t *testing.T) {
	needMeasure(t)
	eachFlavor(t, func(t *testing.T, f Flavor) {
		c := NewCluster(t, Config{Flavor: f, Size: 3, HeartbeatMS: defaultHeartbeatMS, ElectionMS: defaultElectionMS})
		var ds, es []time.Duration
		for trial := 0; trial < *flagTrials; trial++ {
			l, err := c.Leader(30 * time.Second)
			if err != nil {
				t.Fatalf("trial %d: %v", trial, err)
			}
			survivors := c.Followers(l)
			// A write before the kill proves the cluster is serving.
			if _, err := firstWrite(survivors, "/measure/warm", 10*time.Second); err != nil {
				t.Fatalf("trial %d: before the kill: %v", trial, err)
			}
			t0 := time.Now()
			if err := l.Kill(); err != nil {
				t.Fatalf("%v", err)
			}
			elected := make(chan time.Time, 1)
			go func() { elected <- firstLeader(survivors, l.ID, 30*time.Second) }()
			t1, err := firstWrite(survivors, "/measure/t"+strconv.Itoa(trial), 30*time.Second)
			if err != nil {
				t.Fatalf("trial %d: %v", trial, err)
			}
			ds = append(ds, t1.Sub(t0))
			if te := <-elected; !te.IsZero() {
				es = append(es, te.Sub(t0))
			}
			if err := l.Start(); err != nil {
				t.Fatalf("%v", err)
			}
			if err := c.WaitReady(c.Members()...); err != nil {
				t.Fatalf("trial %d: restart: %v", trial, err)
			}
		}
		worst := ds[0]
		for _, d := range ds {
			worst = max(worst, d)
		}
		goal := 2 * defaultElectionMS * time.Millisecond
		sorted := append([]time.Duration(nil), ds...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		for i := range sorted {
			sorted[i] = sorted[i].Round(time.Millisecond)
		}
		t.Logf("RESULT %s failover samples: %v", f.Name, sorted)
		t.Logf("RESULT %s SIGKILL leader -> a survivor reports a new leader (/v2/members/leader, polled every 10 ms): %s", f.Name, summary(es))
		t.Logf("RESULT %s failover (SIGKILL leader -> first acknowledged write), heartbeat %d ms, election %d ms: %s; goal worst < %v: %v",
			f.Name, defaultHeartbeatMS, defaultElectionMS, summary(ds), goal, worst < goal)
	})
}

// dirSize returns the total size of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// TestMeasureRestart measures the restart of a single member holding
// -measure.keys keys, with default timing and the daemon's default
// --snapshot-count: from process start to /health true and to the first
// successful quorum get, after SIGTERM and after SIGKILL.
func TestMeasureRestart(t *testing.T) {
	needMeasure(t)
	eachFlavor(t, func(t *testing.T, f Flavor) {
		c := NewCluster(t, Config{Flavor: f, Size: 1, HeartbeatMS: defaultHeartbeatMS, ElectionMS: defaultElectionMS, ReadyTimeout: 5 * time.Minute})
		p := c.Members()[0]
		const workers = 32
		start := time.Now()
		load := StartLoad([]string{p.ClientURL}, LoadConfig{
			Prefix: "/m", Workers: workers, MaxWrites: (*flagKeys + workers - 1) / workers,
			MaxTime: 10 * time.Minute, Timeout: 10 * time.Second,
		})
		load.Wait()
		ok, failed := load.Counts()
		fill := time.Since(start)
		t.Logf("wrote %d keys (%d failed) in %v (%.0f writes/s with %d clients)", ok, failed, fill.Round(time.Millisecond), float64(ok)/fill.Seconds(), workers)
		if ok < int64(*flagKeys)*99/100 {
			t.Fatalf("only %d of %d keys written", ok, *flagKeys)
		}
		for _, how := range []string{"SIGTERM", "SIGKILL"} {
			stopAt := time.Now()
			var err error
			if how == "SIGTERM" {
				err = p.Stop()
			} else {
				err = p.Kill()
			}
			if err != nil {
				t.Fatalf("%v", err)
			}
			stopped := time.Since(stopAt)
			size := dirSize(p.DataDir)
			if err := p.Start(); err != nil {
				t.Fatalf("%v", err)
			}
			t0 := p.Started()
			cl := p.Client(nil)
			var health, get time.Duration
			deadline := t0.Add(5 * time.Minute)
			for i := 0; i < 1000000 && time.Now().Before(deadline); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				if health == 0 && cl.Healthy(ctx) {
					health = time.Since(t0)
				}
				if health != 0 {
					if _, err := cl.Get(ctx, "/m/w0-0", true); err == nil {
						get = time.Since(t0)
					}
				}
				cancel()
				if get != 0 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			cl.CloseIdle()
			if get == 0 {
				t.Fatalf("%s: member not serving within 5 minutes of its restart", how)
			}
			t.Logf("RESULT %s restart with %d keys after %s (stop took %v, data dir %.1f MiB): /health true after %v, first quorum get after %v",
				f.Name, ok, how, stopped.Round(time.Millisecond), float64(size)/(1<<20), health.Round(time.Millisecond), get.Round(time.Millisecond))
		}
	})
}
