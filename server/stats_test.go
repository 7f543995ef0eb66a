package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"cairn/raft"
	"cairn/server/config"
)

func TestFollowerTableRoundTrips(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Millisecond))) }
	type step struct {
		op string // "sent", "acked", "failed"
		at time.Time
	}
	tests := []struct {
		name                   string
		steps                  []step
		success, fail          uint64
		current, minimum, maxi float64
		average, stddev        float64
	}{
		{name: "sent only", steps: []step{{"sent", ms(0)}},
			minimum: 1 << 63},
		{name: "one round trip", steps: []step{{"sent", ms(0)}, {"acked", ms(2)}},
			success: 1, current: 2, minimum: 2, maxi: 2, average: 2},
		{name: "two round trips", steps: []step{{"sent", ms(0)}, {"acked", ms(1)}, {"sent", ms(10)}, {"acked", ms(13)}},
			success: 2, current: 3, minimum: 1, maxi: 3, average: 2, stddev: 1},
		{name: "a second heartbeat does not restart the clock", steps: []step{{"sent", ms(0)}, {"sent", ms(5)}, {"acked", ms(7)}},
			success: 1, current: 7, minimum: 7, maxi: 7, average: 7},
		{name: "an answer without a heartbeat is ignored", steps: []step{{"sent", ms(0)}, {"acked", ms(1)}, {"acked", ms(9)}},
			success: 1, current: 1, minimum: 1, maxi: 1, average: 1},
		{name: "an unanswered heartbeat goes stale", steps: []step{{"sent", ms(0)}, {"sent", ms(6000)}, {"acked", ms(6002)}},
			success: 1, fail: 1, current: 2, minimum: 2, maxi: 2, average: 2},
		{name: "a failed send forgets the heartbeat", steps: []step{{"sent", ms(0)}, {"failed", ms(1)}, {"acked", ms(9)}},
			fail: 1, minimum: 1 << 63},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ft followerTable
			for _, s := range tt.steps {
				switch s.op {
				case "sent":
					ft.heartbeatSent(2, s.at)
				case "acked":
					ft.heartbeatAcked(2, s.at)
				case "failed":
					ft.failed(2)
				}
			}
			got, ok := ft.snapshot()[2]
			if !ok {
				t.Fatal("follower 2 missing")
			}
			near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
			if got.Success != tt.success || got.Fail != tt.fail || !near(got.Current, tt.current) ||
				!near(got.Minimum, tt.minimum) || !near(got.Maximum, tt.maxi) || !near(got.Average, tt.average) ||
				!near(got.StandardDeviation, tt.stddev) {
				t.Fatalf("got %+v, want success %d fail %d current %v min %v max %v avg %v sd %v",
					got, tt.success, tt.fail, tt.current, tt.minimum, tt.maxi, tt.average, tt.stddev)
			}
		})
	}
}

func TestFollowerTableReset(t *testing.T) {
	var s serverStats
	s.followers.heartbeatSent(2, time.Unix(1, 0))
	s.leaderChanged(3, 1) // another leader: kept
	if len(s.followers.snapshot()) != 1 {
		t.Fatal("table cleared when another member became leader")
	}
	s.leaderChanged(1, 1) // this member leads again: start afresh
	if n := len(s.followers.snapshot()); n != 0 {
		t.Fatalf("%d followers after becoming leader, want 0", n)
	}
	s.leaderChanged(raft.None, 1)
	if got := s.leaderChanges.Load(); got != 2 {
		t.Fatalf("leader changes = %d, want 2 (no leader is not a change)", got)
	}
}

func TestRateWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name       string
		n          int           // samples, 100 bytes each, every 10 ms
		now        time.Duration // after t0
		pkgs, byts float64
	}{
		{"empty", 0, 0, 0, 0},
		{"one sample has no span", 1, 0, 0, 0},
		{"eleven samples over 100ms", 11, 100 * time.Millisecond, 110, 11000},
		{"window keeps the last 200", 500, 5 * time.Second, 200 / 1.99, 20000 / 1.99},
		{"stale after a second", 11, 1101 * time.Millisecond, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q rateWindow
			for i := range tt.n {
				q.add(t0.Add(time.Duration(i)*10*time.Millisecond), 100)
			}
			pkgs, byts := q.rate(t0.Add(tt.now))
			if math.Abs(pkgs-tt.pkgs) > 1e-6 || math.Abs(byts-tt.byts) > 1e-6 {
				t.Fatalf("rate = %v pkg/s %v B/s, want %v, %v", pkgs, byts, tt.pkgs, tt.byts)
			}
		})
	}
}

func TestServerStatsZeroValue(t *testing.T) {
	var m Member
	m.stats.snapshotDone(nil)
	m.stats.snapshotDone(errors.New("disk full"))
	m.stats.walSaved(time.Now(), 100, true)
	got := m.Metrics()
	if got.SnapshotsTaken != 1 || got.SnapshotsFailed != 1 || got.WALBytes != 100 || got.WALFsync.Count != 1 {
		t.Fatalf("metrics = %+v", got)
	}
}

func TestStatsAllocations(t *testing.T) {
	var s serverStats
	msgs := []raft.Message{{Type: raft.MsgApp, To: 2}, {Type: raft.MsgHeartbeat, To: 2}}
	resp := raft.Message{Type: raft.MsgHeartbeatResp, From: 2}
	s.sent(msgs) // creates the follower's entry
	if n := testing.AllocsPerRun(100, func() {
		s.sent(msgs)
		s.received(&resp)
		s.walSaved(time.Now(), 10, true)
	}); n != 0 {
		t.Fatalf("stats hooks allocate %v times per round", n)
	}
}

// TestLeaderStatsAndMetrics runs a 3-member cluster: the leader has
// measured a round trip to a follower once a quorum read returned (ReadIndex
// confirms leadership with a heartbeat round), and /metrics shows etcd's
// names.
func TestLeaderStatsAndMetrics(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	lead := leaderOf(t, nodes)
	put(t, lead, "/k", "v")
	if r := quorumGet(t, lead, "/k"); r.code != http.StatusOK {
		t.Fatalf("quorum read: %d %s", r.code, r.body)
	}
	r := do(t, http.MethodGet, lead.clientURL+"/v2/stats/leader", nil)
	if r.code != http.StatusOK {
		t.Fatalf("leader stats: %d %s", r.code, r.body)
	}
	var ls struct {
		Leader    string `json:"leader"`
		Followers map[string]struct {
			Latency struct{ Current, Minimum, Maximum float64 }
			Counts  struct{ Fail, Success uint64 }
		}
	}
	if err := json.Unmarshal([]byte(r.body), &ls); err != nil {
		t.Fatal(err)
	}
	var success uint64
	for id, f := range ls.Followers {
		success += f.Counts.Success
		if f.Counts.Success > 0 && (f.Latency.Minimum > f.Latency.Maximum || f.Latency.Current <= 0) {
			t.Errorf("follower %s: implausible latency %+v", id, f.Latency)
		}
	}
	if len(ls.Followers) != 2 || success == 0 {
		t.Fatalf("leader stats %s: want 2 followers, a measured round trip", r.body)
	}

	r = do(t, http.MethodGet, lead.clientURL+"/metrics", nil)
	for _, name := range []string{
		"etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total",
		"etcd_server_proposals_pending 0", "etcd_server_proposals_failed_total 0",
		"etcd_server_leader_changes_seen_total", `etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"}`,
		"etcd_disk_wal_fsync_duration_seconds_count", "cairn_snapshot_taken_total 0",
		"etcd_debugging_snap_save_total_duration_seconds_count 0", "cairn_raft_committed_index",
		`etcd_network_active_peers{Local="`, `etcd_network_peer_sent_bytes_total{To="`,
		`etcd_network_peer_sent_failures_total{To="`, `etcd_network_peer_round_trip_time_seconds_count{To="`,
	} {
		if !strings.Contains(r.body, "\n"+name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
	got := lead.m.Metrics()
	if idx, _ := lead.m.RaftStatus(); got.CommittedIndex < idx || got.LeaderChanges == 0 || got.WALBytes == 0 {
		t.Errorf("metrics: committed %d (applied %d), leader changes %d, WAL bytes %d",
			got.CommittedIndex, idx, got.LeaderChanges, got.WALBytes)
	}
}

// TestSnapshotMetrics: the leader counts and times its snapshots; a
// follower that was down while the leader compacted its log receives and
// installs one.
func TestSnapshotMetrics(t *testing.T) {
	tune := func(m *Member) { m.CatchUpEntries = 2 }
	nodes := newCluster(t, 3, tune, "--snapshot-count", "10")
	lead := leaderOf(t, nodes)
	f := nodes[0]
	if f == lead {
		f = nodes[1]
	}
	f.m.Stop()
	keys := 40
	for i := range keys {
		put(t, lead, fmt.Sprintf("/k%d", i), "v")
	}
	f.start(t, nodes, config.StateNew, tune)
	if r := quorumGet(t, f, fmt.Sprintf("/k%d", keys-1)); r.code != http.StatusOK {
		t.Fatalf("restarted follower: %d %s", r.code, r.body)
	}
	got := f.m.Metrics()
	if got.SnapshotsReceived == 0 || got.SnapshotsInstalled == 0 || got.SnapshotInstall.Count != got.SnapshotsInstalled {
		t.Fatalf("follower: received %d, installed %d, install timings %d",
			got.SnapshotsReceived, got.SnapshotsInstalled, got.SnapshotInstall.Count)
	}
	// The leader sent a snapshot, so it had counted one taken (snapshotDone
	// counts before raft's storage learns of it).
	if got := lead.m.Metrics(); got.SnapshotsTaken == 0 || got.SnapshotSave.Count < got.SnapshotsTaken {
		t.Fatalf("leader after %d writes with --snapshot-count 10: %d snapshots taken, %d timed",
			keys, got.SnapshotsTaken, got.SnapshotSave.Count)
	}
}
