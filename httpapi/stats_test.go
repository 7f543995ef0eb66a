package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"cairn/httpapi/metric"
)

// measuredFake adds the optional stats sources to the fake backend.
type measuredFake struct {
	*fakeBackend
	followers map[uint64]FollowerStats
	metrics   Metrics
	self      SelfStats
}

func (m *measuredFake) FollowerStats() map[uint64]FollowerStats { return m.followers }
func (m *measuredFake) Metrics() Metrics                        { return m.metrics }
func (m *measuredFake) SelfStats() SelfStats                    { return m.self }

func TestFollowerStatsSucceed(t *testing.T) {
	tests := []struct {
		name string
		rtts []time.Duration
		want FollowerStats
	}{
		{"none", nil, FollowerStats{Minimum: 1 << 63}},
		{"one", []time.Duration{1500 * time.Microsecond}, FollowerStats{Current: 1.5, Average: 1.5, Minimum: 1.5, Maximum: 1.5, Success: 1}},
		{"two", []time.Duration{2 * time.Millisecond, 4 * time.Millisecond},
			FollowerStats{Current: 4, Average: 3, StandardDeviation: 1, Minimum: 2, Maximum: 4, Success: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewFollowerStats()
			for _, d := range tt.rtts {
				got.Succeed(d)
			}
			got.avgSquare = 0
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestLeaderStatsMeasured: measured followers are shown as etcd shows
// them; a member the Backend has not measured gets etcd's initial entry.
func TestLeaderStatsMeasured(t *testing.T) {
	f := newFake()
	f.members = append(f.members, Member{ID: 3, Name: "c"})
	fs := NewFollowerStats()
	fs.Succeed(2 * time.Millisecond)
	fs.Succeed(4 * time.Millisecond)
	fs.Failed()
	h := New(&measuredFake{fakeBackend: f, followers: map[uint64]FollowerStats{2: fs}}, Options{})
	run(t, h, step{name: "leader", method: "GET", target: "/v2/stats/leader", code: 200,
		want: `{"leader":"1","followers":{` +
			`"2":{"latency":{"current":4,"average":3,"standardDeviation":1,"minimum":2,"maximum":4},"counts":{"fail":1,"success":2}},` +
			`"3":{"latency":{"current":0,"average":0,"standardDeviation":0,"minimum":9223372036854776000,"maximum":0},"counts":{"fail":0,"success":0}}}}` + "\n"})
}

// TestSelfStatsRates: etcd's rate fields appear in its order and only when
// not zero.
func TestSelfStatsRates(t *testing.T) {
	start := time.Unix(0, fakeNow).UTC()
	base := SelfStats{Name: "a", ID: 1, IsLeader: true, StartTime: start, Leader: 1, LeaderSince: start}
	tests := []struct {
		name string
		mod  func(*SelfStats)
		want string
	}{
		{"idle", func(*SelfStats) {},
			`"recvAppendRequestCnt":0,"sendAppendRequestCnt":0}`},
		{"leader sending", func(s *SelfStats) { s.SendAppend, s.SendPkgRate, s.SendBandwidthRate = 15, 0.5, 56.25 },
			`"recvAppendRequestCnt":0,"sendAppendRequestCnt":15,"sendPkgRate":0.5,"sendBandwidthRate":56.25}`},
		{"follower receiving", func(s *SelfStats) { s.RecvAppend, s.RecvPkgRate, s.RecvBandwidthRate = 7, 0.25, 27.5 },
			`"recvAppendRequestCnt":7,"recvPkgRate":0.25,"recvBandwidthRate":27.5,"sendAppendRequestCnt":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := base
			tt.mod(&st)
			h := New(&measuredFake{fakeBackend: newFake(), self: st}, Options{})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/stats/self", nil))
			if got := rec.Body.String(); !strings.HasSuffix(got, tt.want+"\n") {
				t.Fatalf("got %s, want it to end with %s", got, tt.want)
			}
		})
	}
}

func TestMetricsFromSource(t *testing.T) {
	fsync := metric.NewHistogram(metric.ExpBuckets(time.Millisecond, 2, 14))
	fsync.Observe(1500 * time.Microsecond)
	empty := metric.NewHistogram(metric.ExpBuckets(time.Millisecond, 2, 14)).Snapshot()
	src := &measuredFake{fakeBackend: newFake(), metrics: Metrics{
		CommittedIndex: 44, LeaderChanges: 3, ProposalsPending: 2, ProposalsFailed: 1,
		WALFsync: fsync.Snapshot(), WALBytes: 4096, SnapshotsTaken: 5, SnapshotsReceived: 1, SnapshotsInstalled: 1,
		SnapshotSave: empty, SnapshotInstall: empty,
		Peers: []PeerMetrics{
			{ID: 2, Active: true, SentBytes: 100, SentFailures: 1, RoundTrip: fsync.Snapshot()},
			{ID: 3, SentBytes: 7},
		},
	}}
	h := New(src, Options{})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, line := range []string{
		"etcd_server_proposals_committed_total 44\n",
		"etcd_server_proposals_applied_total 42\n",
		"cairn_raft_committed_index 44\n",
		"etcd_server_proposals_pending 2\n",
		"etcd_server_proposals_failed_total 1\n",
		"# TYPE etcd_server_leader_changes_seen_total counter\netcd_server_leader_changes_seen_total 3\n",
		"# TYPE etcd_disk_wal_fsync_duration_seconds histogram\n",
		`etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 0` + "\n",
		`etcd_disk_wal_fsync_duration_seconds_bucket{le="0.002"} 1` + "\n",
		`etcd_disk_wal_fsync_duration_seconds_bucket{le="8.192"} 1` + "\n",
		`etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 1` + "\n",
		"etcd_disk_wal_fsync_duration_seconds_sum 0.0015\n",
		"etcd_disk_wal_fsync_duration_seconds_count 1\n",
		"etcd_disk_wal_write_bytes_total 4096\n",
		"cairn_snapshot_taken_total 5\n",
		"etcd_debugging_snap_save_total_duration_seconds_count 0\n",
		"cairn_snapshot_received_total 1\n",
		"cairn_snapshot_installed_total 1\n",
		"cairn_snapshot_install_duration_seconds_count 0\n",
		"# TYPE etcd_network_active_peers gauge\n" + `etcd_network_active_peers{Local="1",Remote="2"} 1` + "\n# HELP",
		`etcd_network_peer_sent_bytes_total{To="2"} 100` + "\n" + `etcd_network_peer_sent_bytes_total{To="3"} 7` + "\n",
		`etcd_network_peer_sent_failures_total{To="2"} 1` + "\n",
		"# TYPE etcd_network_peer_round_trip_time_seconds histogram\n" +
			`etcd_network_peer_round_trip_time_seconds_bucket{To="2",le="0.001"} 0` + "\n",
		`etcd_network_peer_round_trip_time_seconds_count{To="2"} 1` + "\n",
	} {
		if !strings.Contains(body, "\n"+line) {
			t.Errorf("metrics lack %q", line)
		}
	}
	seen := map[string]bool{}
	for i, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if name, ok := strings.CutPrefix(l, "# TYPE "); ok {
			name, _, _ = strings.Cut(name, " ")
			if seen[name] {
				t.Errorf("line %d: family %s declared twice", i+1, name)
			}
			seen[name] = true
			continue
		}
		if strings.HasPrefix(l, "# HELP ") {
			continue
		}
		if f := strings.Fields(l); len(f) != 2 {
			t.Errorf("line %d not 'name value': %q", i+1, l)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

// BenchmarkMetrics: one /metrics scrape.
func BenchmarkMetrics(b *testing.B) {
	src := &measuredFake{fakeBackend: newFake()}
	h := New(src, Options{})
	req := httptest.NewRequest("GET", "/metrics", nil)
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
