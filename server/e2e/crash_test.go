package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"
)

// Bounds used by the tests (heartbeat 50 ms, election 500 ms unless a test
// says otherwise).
const (
	leaderWait = 10 * time.Second // a new leader must appear within this
	checkWait  = 20 * time.Second // CheckAcks' bound
	// quorumReadBound is the client's bound on a quorum read that cannot
	// succeed: above both daemons' own request timeouts.
	quorumReadBound = 10 * time.Second
)

func endpoints(ps []*Proc) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ClientURL)
	}
	return out
}

func names(ps []*Proc) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func mustLeader(t *testing.T, c *Cluster) *Proc {
	t.Helper()
	l, err := c.Leader(leaderWait)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return l
}

// writeN writes n unique keys through p, recording them in h.
func writeN(t *testing.T, p *Proc, h *History, prefix string, n int) {
	t.Helper()
	cl := p.Client(h)
	defer cl.CloseIdle()
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cl.Set(ctx, prefix+"/k"+strconv.Itoa(i), "v"+strconv.Itoa(i), SetOptions{})
		cancel()
		if err != nil {
			t.Fatalf("write %d through %s: %v", i, p.Name, err)
		}
	}
}

func checkAcks(t *testing.T, ps []*Proc, h *History, prefix string) {
	t.Helper()
	if len(h.Acks()) == 0 {
		t.Fatalf("no acknowledged writes under %s: the test proved nothing", prefix)
	}
	if err := CheckAcks(ps, h, prefix, checkWait); err != nil {
		t.Fatalf("%v", err)
	}
	t.Logf("%d acknowledged writes readable from %v", len(h.Acks()), names(ps))
}

// failsCleanly reports whether err is an acceptable failure of a request to a
// member without quorum (see doc.go): error 300, HTTP 503 or a client
// timeout.
func failsCleanly(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode == 300 || ae.Status == 503 || ae.Status == 500
	}
	return errors.Is(err, ErrTimeout)
}

// TestClusterSizes starts 1-, 3- and 5-member clusters and checks that
// writes through every member are readable from every member.
func TestClusterSizes(t *testing.T) {
	sizes := []int{1, 3, 5}
	if testing.Short() {
		sizes = []int{3}
	}
	eachFlavor(t, func(t *testing.T, f Flavor) {
		for _, n := range sizes {
			t.Run(strconv.Itoa(n), func(t *testing.T) {
				c := NewCluster(t, Config{Flavor: f, Size: n})
				mustLeader(t, c)
				h := new(History)
				for i, p := range c.Members() {
					writeN(t, p, h, "/sizes/"+strconv.Itoa(i), 10)
				}
				checkAcks(t, c.Members(), h, "/sizes")
			})
		}
	})
}

// TestKill SIGKILLs members of a 3-member cluster under write load: the
// leader, a follower, a majority (writes and quorum reads must then fail
// cleanly), and all members. Afterwards the killed members restart and every
// acknowledged write must be readable from every member.
func TestKill(t *testing.T) {
	cases := []struct {
		name   string
		victim func(c *Cluster, l *Proc) []*Proc
		quorum bool // the survivors still have a quorum
	}{
		{"leader", func(c *Cluster, l *Proc) []*Proc { return []*Proc{l} }, true},
		{"follower", func(c *Cluster, l *Proc) []*Proc { return c.Followers(l)[:1] }, true},
		{"majority", func(c *Cluster, l *Proc) []*Proc { return []*Proc{l, c.Followers(l)[0]} }, false},
		{"all", func(c *Cluster, l *Proc) []*Proc { return c.Live() }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.name != "leader" {
				t.Skip("short: only the leader case")
			}
			eachFlavor(t, func(t *testing.T, f Flavor) {
				c := NewCluster(t, Config{Flavor: f, Size: 3})
				l := mustLeader(t, c)
				load := StartLoad(endpoints(c.Members()), LoadConfig{Prefix: "/kill", MaxTime: time.Minute})
				t.Cleanup(load.Stop)
				if err := load.WaitAcks(50, 10*time.Second); err != nil {
					t.Fatalf("before the kill: %v", err)
				}
				victims := tc.victim(c, l)
				for _, p := range victims {
					if err := p.Kill(); err != nil {
						t.Fatalf("%v", err)
					}
				}
				t.Logf("killed %v (leader was %s)", names(victims), l.Name)
				if tc.quorum {
					nl := mustLeader(t, c)
					if nl == l && tc.name == "leader" {
						t.Fatalf("killed leader %s still reported as leader", l.Name)
					}
					if err := load.WaitAcks(50, leaderWait); err != nil {
						t.Fatalf("after the kill: %v", err)
					}
				} else if live := c.Live(); len(live) > 0 {
					s := live[0]
					cl := s.Client(nil)
					ctx := context.Background()
					_, err := cl.Set(ctx, "/kill-noquorum", "x", SetOptions{})
					if !failsCleanly(err) {
						t.Errorf("write to %s without quorum: got %v, want error 300, 503 or a timeout", s.Name, err)
					}
					t.Logf("write without quorum: %v", err)
					// The member itself must give up: with a client bound
					// above the member's request timeout (etcd: 5 s + 2 ×
					// election; cairn: 5 s), a quorum read must end in error
					// 300 (HTTP 500), not in the client's timeout.
					patient := NewClient(s.ClientURL, quorumReadBound, nil)
					_, err = patient.Get(ctx, "/kill/w0-0", true)
					if APICode(err) != 300 {
						t.Errorf("quorum read from %s without quorum: got %v, want error 300 within %v", s.Name, err, quorumReadBound)
					}
					t.Logf("quorum read without quorum: %v", err)
					patient.CloseIdle()
					cl.CloseIdle()
				}
				for _, p := range victims {
					if err := p.Start(); err != nil {
						t.Fatalf("%v", err)
					}
				}
				if err := c.WaitReady(c.Members()...); err != nil {
					t.Fatalf("after restart: %v", err)
				}
				if err := load.WaitAcks(20, leaderWait); err != nil {
					t.Fatalf("after restart: %v", err)
				}
				load.Stop()
				ok, failed := load.Counts()
				t.Logf("load: %d acknowledged, %d failed", ok, failed)
				checkAcks(t, c.Members(), load.History, "/kill")
			})
		})
	}
}

// TestPause SIGSTOPs the leader of a 3-member cluster under load for several
// election timeouts: the others elect a leader and keep serving; after
// SIGCONT the old leader rejoins as a follower and every acknowledged write
// is readable from every member.
func TestPause(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	eachFlavor(t, func(t *testing.T, f Flavor) {
		c := NewCluster(t, Config{Flavor: f, Size: 3})
		l := mustLeader(t, c)
		load := StartLoad(endpoints(c.Followers(l)), LoadConfig{Prefix: "/pause", MaxTime: time.Minute})
		t.Cleanup(load.Stop)
		if err := load.WaitAcks(30, 10*time.Second); err != nil {
			t.Fatalf("%v", err)
		}
		if err := l.Pause(); err != nil {
			t.Fatalf("%v", err)
		}
		t.Cleanup(func() { l.Resume() })
		paused := time.Now()
		// Acks while the old leader is stopped need a new leader.
		if err := load.WaitAcks(100, leaderWait); err != nil {
			t.Fatalf("while %s is paused: %v", l.Name, err)
		}
		// Keep it paused for at least 3 election timeouts in all.
		if rest := 3*time.Duration(c.Config().ElectionMS)*time.Millisecond - time.Since(paused); rest > 0 {
			time.Sleep(rest)
		}
		if err := l.Resume(); err != nil {
			t.Fatalf("%v", err)
		}
		if err := c.WaitReady(c.Members()...); err != nil {
			t.Fatalf("after resume: %v", err)
		}
		if err := load.WaitAcks(30, leaderWait); err != nil {
			t.Fatalf("after resume: %v", err)
		}
		load.Stop()
		checkAcks(t, c.Members(), load.History, "/pause")
	})
}

// TestFullRestart stops every member with SIGTERM, restarts them with the
// same data dirs, and checks that all data and indexes survived.
func TestFullRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	eachFlavor(t, func(t *testing.T, f Flavor) {
		c := NewCluster(t, Config{Flavor: f, Size: 3, SnapshotCount: 100})
		mustLeader(t, c)
		h := new(History)
		writeN(t, c.Members()[0], h, "/restart", 250)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		before, err := c.Members()[1].Client(nil).Get(ctx, "/restart/k0", true)
		if err != nil {
			t.Fatalf("%v", err)
		}
		for _, p := range c.Members() {
			if err := p.Stop(); err != nil {
				t.Fatalf("%v", err)
			}
		}
		for _, p := range c.Members() {
			if err := p.Start(); err != nil {
				t.Fatalf("%v", err)
			}
		}
		if err := c.WaitReady(c.Members()...); err != nil {
			t.Fatalf("%v", err)
		}
		checkAcks(t, c.Members(), h, "/restart")
		for _, p := range c.Members() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			got, err := p.Client(nil).Get(ctx, "/restart/k0", false)
			cancel()
			if err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			if got.EtcdIndex < before.EtcdIndex {
				t.Errorf("%s: X-Etcd-Index %d after restart, was %d before", p.Name, got.EtcdIndex, before.EtcdIndex)
			}
		}
	})
}

// snapshotCatchUp is how many writes the tests make while a member is away
// to force a snapshot: more than the entries a leader keeps for slow
// followers after compacting (5000 in etcd and in cairn) plus the small
// --snapshot-count the tests use.
const snapshotCatchUp = 5600

// snapshotInstalled reports whether a member's log says it installed a
// snapshot from the leader (cairn: "installed snapshot from leader"; etcd
// 3.4: "applied incoming snapshot").
func snapshotInstalled(p *Proc) bool {
	b, err := os.ReadFile(p.LogPath)
	return err == nil && (bytes.Contains(b, []byte("installed snapshot from leader")) ||
		bytes.Contains(b, []byte("applied incoming snapshot")))
}

// TestWipeRejoin kills a follower, wipes its data dir, removes it from the
// cluster, writes far past a snapshot, adds it back as a new member and
// checks that it catches up, by snapshot.
func TestWipeRejoin(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	eachFlavor(t, func(t *testing.T, f Flavor) {
		c := NewCluster(t, Config{Flavor: f, Size: 3, SnapshotCount: 50})
		l := mustLeader(t, c)
		h := new(History)
		writeN(t, l, h, "/wipe/a", 100)
		victim := c.Followers(l)[0]
		if err := victim.Kill(); err != nil {
			t.Fatalf("%v", err)
		}
		if err := victim.Wipe(); err != nil {
			t.Fatalf("%v", err)
		}
		if err := c.RemoveMember(l, victim); err != nil {
			t.Fatalf("%v", err)
		}
		const workers = 8
		load := StartLoad([]string{l.ClientURL}, LoadConfig{Prefix: "/wipe/b", Workers: workers,
			MaxWrites: snapshotCatchUp / workers, MaxTime: 2 * time.Minute, Timeout: 5 * time.Second})
		load.Wait()
		if ok, failed := load.Counts(); ok < snapshotCatchUp*9/10 {
			t.Fatalf("only %d writes acknowledged (%d failed) while %s was away", ok, failed, victim.Name)
		}
		if err := c.Rejoin(l, victim); err != nil {
			t.Fatalf("%v", err)
		}
		if err := c.WaitReady(victim); err != nil {
			t.Fatalf("%v", err)
		}
		checkAcks(t, c.Members(), h, "/wipe/a")
		checkAcks(t, c.Members(), load.History, "/wipe/b")
		if !snapshotInstalled(victim) {
			t.Errorf("%s caught up without installing a snapshot: the test did not exercise snapshot catch-up", victim.Name)
		}
	})
}

// TestMeasure* need -measure; this keeps the flag check in one place.
func needMeasure(t *testing.T) {
	t.Helper()
	if !*flagMeasure {
		t.Skip("measurement: run with -measure")
	}
}
