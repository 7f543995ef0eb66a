package e2e

import (
	"context"
	"testing"
	"time"
)

// TestPartition cuts members off through the peer proxies and checks that
// the minority side cannot accept writes while the majority side can; after
// healing, every acknowledged write is readable everywhere. The write
// refused by the minority must not be visible on the majority while the
// partition lasts.
func TestPartition(t *testing.T) {
	cases := []struct {
		name  string
		state LinkState
		delay time.Duration
		// leader: isolate the leader (else a follower).
		leader bool
	}{
		{"drop leader", Drop, 0, true},
		{"blackhole follower", Blackhole, 0, false},
		// A delay of many election timeouts partitions as surely as a
		// cut, but the connections stay up and keep carrying bytes.
		{"delay follower", Delay, 3 * time.Second, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.name != "drop leader" {
				t.Skip("short: only the first case")
			}
			eachFlavor(t, func(t *testing.T, f Flavor) {
				c := NewCluster(t, Config{Flavor: f, Size: 3})
				l := mustLeader(t, c)
				minority := l
				if !tc.leader {
					minority = c.Followers(l)[0]
				}
				var majority []*Proc
				for _, p := range c.Members() {
					if p != minority {
						majority = append(majority, p)
					}
				}
				h := new(History)
				writeN(t, majority[0], h, "/part/before", 20)
				for _, p := range majority {
					c.Net.SetLink(minority.Name, p.Name, tc.state, tc.delay)
				}
				// The majority elects a leader among itself (if needed) and
				// serves writes.
				load := StartLoad(endpoints(majority), LoadConfig{Prefix: "/part/load", Workers: 2, MaxTime: time.Minute})
				t.Cleanup(load.Stop)
				if err := load.WaitAcks(30, leaderWait); err != nil {
					t.Fatalf("majority %v: %v", names(majority), err)
				}
				// The minority must refuse, or never answer.
				mc := minority.Client(nil)
				ctx := context.Background()
				_, err := mc.Set(ctx, "/part/minority", "x", SetOptions{})
				if !failsCleanly(err) {
					t.Errorf("write to the minority %s: got %v, want error 300, 503 or a timeout", minority.Name, err)
				}
				t.Logf("write to the minority %s: %v", minority.Name, err)
				if _, err := mc.Get(ctx, "/part/before/k0", true); !failsCleanly(err) {
					t.Errorf("quorum read from the minority %s: got %v, want error 300, 503 or a timeout", minority.Name, err)
				}
				mc.CloseIdle()
				// While the partition lasts, the majority must not see the
				// refused write. (With Delay, the minority may still forward
				// it to the leader late; after healing a blocked proposal may
				// commit too, as etcd's does: its outcome is unknown, like
				// any timed-out write.)
				if tc.state != Delay {
					ctxq, cancel := context.WithTimeout(ctx, 5*time.Second)
					_, err := majority[0].Client(nil).Get(ctxq, "/part/minority", true)
					cancel()
					if APICode(err) != 100 {
						t.Errorf("quorum read of /part/minority from the majority during the partition: got %v, want error 100", err)
					}
				}
				if err := load.WaitAcks(30, leaderWait); err != nil {
					t.Fatalf("majority after the minority write: %v", err)
				}
				c.Net.Heal()
				if err := c.WaitReady(c.Members()...); err != nil {
					t.Fatalf("after healing: %v", err)
				}
				load.Stop()
				if err := CheckAcks(c.Members(), load.History, "/part/load", checkWait); err != nil {
					t.Fatalf("%v", err)
				}
				checkAcks(t, c.Members(), h, "/part/before")
			})
		})
	}
}

// TestPeerSilentClose restarts a killed leader while its proxy closes
// connections silently (like a plain TCP proxy or a peer that dies between
// accept and answer): the restarted member must rejoin.
func TestPeerSilentClose(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	eachFlavor(t, func(t *testing.T, f Flavor) {
		c := NewCluster(t, Config{Flavor: f, Size: 3})
		c.Net.SilentClose = true
		l := mustLeader(t, c)
		h := new(History)
		writeN(t, l, h, "/silent/a", 10)
		if err := l.Kill(); err != nil {
			t.Fatalf("%v", err)
		}
		nl := mustLeader(t, c)
		writeN(t, nl, h, "/silent/b", 10)
		if err := l.Start(); err != nil {
			t.Fatalf("%v", err)
		}
		if err := c.WaitReady(l); err != nil {
			t.Fatalf("%v", err)
		}
		checkAcks(t, c.Members(), h, "/silent")
	})
}
