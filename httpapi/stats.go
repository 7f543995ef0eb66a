package httpapi

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"cairn/httpapi/metric"
)

// leaderStatsJSON is etcd's LeaderStats: the leader and, per other member,
// round-trip latency and send counts (LeaderStatsSource).
type leaderStatsJSON struct {
	Leader    string                       `json:"leader"`
	Followers map[string]followerStatsJSON `json:"followers"`
}

type followerStatsJSON struct {
	Latency struct {
		Current           float64 `json:"current"`
		Average           float64 `json:"average"`
		StandardDeviation float64 `json:"standardDeviation"`
		Minimum           float64 `json:"minimum"`
		Maximum           float64 `json:"maximum"`
	} `json:"latency"`
	Counts struct {
		Fail    uint64 `json:"fail"`
		Success uint64 `json:"success"`
	} `json:"counts"`
}

// serveLeaderStats answers /v2/stats/leader on the leader, and 403
// {"message":"not current leader"} elsewhere (etcd's answer).
func (h *Handler) serveLeaderStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	id := h.b.ID()
	if lead := h.b.Leader(); lead == 0 || lead != id {
		writeMessage(w, http.StatusForbidden, "not current leader")
		return
	}
	var measured map[uint64]FollowerStats
	if src, ok := h.b.(LeaderStatsSource); ok {
		measured = src.FollowerStats()
	}
	out := leaderStatsJSON{Leader: hexID(id), Followers: map[string]followerStatsJSON{}}
	for _, m := range h.b.Members() {
		if m.ID == id {
			continue
		}
		fs, ok := measured[m.ID]
		if !ok {
			fs = NewFollowerStats()
		}
		var j followerStatsJSON
		j.Latency.Current, j.Latency.Average, j.Latency.StandardDeviation = fs.Current, fs.Average, fs.StandardDeviation
		j.Latency.Minimum, j.Latency.Maximum = fs.Minimum, fs.Maximum
		j.Counts.Fail, j.Counts.Success = fs.Fail, fs.Success
		out.Followers[hexID(m.ID)] = j
	}
	writeJSON(w, http.StatusOK, out)
}

// metrics are the handler's own counters for /metrics. Every field is
// updated atomically; the request counters are keyed by method and status.
type metrics struct {
	watchesOpen atomic.Int64 // watch requests being served
	watchesSeen atomic.Uint64

	mu       sync.Mutex
	requests map[reqKey]uint64 // Invariant: keys use methodLabel's bounded set
}

type reqKey struct {
	method string
	code   int
}

// methodLabel bounds the method label to known methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

func (m *metrics) count(method string, code int) {
	if code < 100 || code > 599 {
		code = 0
	}
	m.mu.Lock()
	if m.requests == nil {
		m.requests = map[reqKey]uint64{}
	}
	m.requests[reqKey{methodLabel(method), code}]++
	m.mu.Unlock()
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// serveMetrics writes the Prometheus text exposition format (version
// 0.0.4). Metric names follow etcd's where etcd has the same quantity.
func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET,HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	var b strings.Builder
	emit := func(name, typ, help string, samples ...string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, s := range samples {
			b.WriteString(name + s + "\n")
		}
	}
	u := func(v uint64) string { return " " + strconv.FormatUint(v, 10) }
	b01 := func(v bool) string {
		if v {
			return " 1"
		}
		return " 0"
	}
	id, lead := h.b.ID(), h.b.Leader()
	idx, term := h.b.RaftStatus()
	st := h.b.StoreStats()
	emit("etcd_server_has_leader", "gauge", "Whether or not a leader exists. 1 is existence, 0 is not.", b01(lead != 0))
	emit("etcd_server_is_leader", "gauge", "Whether or not this member is a leader. 1 if is, 0 otherwise.", b01(lead != 0 && lead == id))
	emit("etcd_server_id", "gauge", "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
		fmt.Sprintf(`{server_id="%s"} 1`, hexID(id)))
	emit("etcd_server_version", "gauge", "Which version is running. 1 for 'server_version' label with current version.",
		fmt.Sprintf(`{server_version="%s"} 1`, ServerVersion))
	emit("cairn_raft_applied_index", "gauge", "The raft index this member has applied.", u(idx))
	emit("cairn_raft_term", "gauge", "The raft term this member is in.", u(term))
	emit("etcd_server_proposals_applied_total", "gauge", "The total number of consensus proposals applied.", u(idx))
	src, hasMetrics := h.b.(MetricsSource)
	if hasMetrics {
		m := src.Metrics()
		emit("cairn_raft_committed_index", "gauge", "The raft index this member knows to be committed.", u(m.CommittedIndex))
		emit("etcd_server_proposals_committed_total", "gauge", "The total number of consensus proposals committed.", u(m.CommittedIndex))
		emit("etcd_server_proposals_pending", "gauge", "The current number of pending proposals to commit.",
			" "+strconv.FormatInt(m.ProposalsPending, 10))
		emit("etcd_server_proposals_failed_total", "counter", "The total number of failed proposals seen.", u(m.ProposalsFailed))
		emit("etcd_server_leader_changes_seen_total", "counter", "The number of leader changes seen.", u(m.LeaderChanges))
		metric.WriteHistogram(&b, "etcd_disk_wal_fsync_duration_seconds",
			"The latency distributions of fsync called by WAL (cairn: the whole synced WAL save, write and fdatasync).", m.WALFsync)
		emit("etcd_disk_wal_write_bytes_total", "gauge", "Total number of bytes written in WAL.", u(m.WALBytes))
		emit("cairn_snapshot_taken_total", "counter", "Snapshots this member took of its store.", u(m.SnapshotsTaken))
		emit("cairn_snapshot_failed_total", "counter", "Snapshots of the store that failed.", u(m.SnapshotsFailed))
		metric.WriteHistogram(&b, "etcd_debugging_snap_save_total_duration_seconds",
			"The total latency distributions of save called by snapshot.", m.SnapshotSave)
		emit("cairn_snapshot_received_total", "counter", "Snapshots received from the leader.", u(m.SnapshotsReceived))
		emit("cairn_snapshot_installed_total", "counter", "Snapshots from the leader installed as this member's state.", u(m.SnapshotsInstalled))
		metric.WriteHistogram(&b, "cairn_snapshot_install_duration_seconds",
			"The latency distributions of installing a snapshot received from the leader.", m.SnapshotInstall)
		writePeerMetrics(&b, id, m.Peers)
	}
	emit("etcd_debugging_store_watchers", "gauge", "Count of currently active watchers.", u(st.Watchers))
	emit("etcd_debugging_store_expires_total", "counter", "Total number of expired keys.", u(st.ExpireCount))
	emit("etcd_debugging_store_reads_total", "counter", "Total number of reads action by (get/getRecursive), local to this member.",
		`{action="get"}`+u(st.GetsSuccess+st.GetsFail))
	emit("etcd_debugging_store_writes_total", "counter", "Total number of writes (e.g. set/compareAndDelete) seen by this member.",
		`{action="set"}`+u(st.SetsSuccess+st.SetsFail),
		`{action="update"}`+u(st.UpdateSuccess+st.UpdateFail),
		`{action="create"}`+u(st.CreateSuccess+st.CreateFail),
		`{action="delete"}`+u(st.DeleteSuccess+st.DeleteFail),
		`{action="compareAndSwap"}`+u(st.CompareAndSwapSuccess+st.CompareAndSwapFail),
		`{action="compareAndDelete"}`+u(st.CompareAndDeleteSuccess+st.CompareAndDeleteFail))
	emit("cairn_http_watches_open", "gauge", "Watch requests (wait=true) being served.",
		" "+strconv.FormatInt(h.metrics.watchesOpen.Load(), 10))
	emit("cairn_http_watches_total", "counter", "Watch requests (wait=true) served.", u(h.metrics.watchesSeen.Load()))
	h.metrics.mu.Lock()
	keys := make([]reqKey, 0, len(h.metrics.requests))
	for k := range h.metrics.requests {
		keys = append(keys, k)
	}
	counts := make([]string, 0, len(keys))
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].method != keys[j].method {
			return keys[i].method < keys[j].method
		}
		return keys[i].code < keys[j].code
	})
	for _, k := range keys {
		counts = append(counts, fmt.Sprintf(`{method="%s",code="%d"}`, k.method, k.code)+u(h.metrics.requests[k]))
	}
	h.metrics.mu.Unlock()
	emit("cairn_http_requests_total", "counter", "Client API requests answered, by method and HTTP status.", counts...)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte(b.String()))
	}
}

// writePeerMetrics writes etcd's per-peer network metrics, labelled as
// etcd labels them (To, Local, Remote: member IDs in hex).
func writePeerMetrics(b *strings.Builder, self uint64, peers []PeerMetrics) {
	if len(peers) == 0 {
		return
	}
	family := func(name, typ, help string, sample func(p PeerMetrics) string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, p := range peers {
			if s := sample(p); s != "" {
				b.WriteString(name + s + "\n")
			}
		}
	}
	family("etcd_network_active_peers", "gauge", "The current number of active peer connections.", func(p PeerMetrics) string {
		if !p.Active {
			return ""
		}
		return fmt.Sprintf(`{Local="%s",Remote="%s"} 1`, hexID(self), hexID(p.ID))
	})
	family("etcd_network_peer_sent_bytes_total", "counter", "The total number of bytes sent to peers.", func(p PeerMetrics) string {
		return fmt.Sprintf(`{To="%s"} %d`, hexID(p.ID), p.SentBytes)
	})
	family("etcd_network_peer_sent_failures_total", "counter", "The total number of send failures from peers.", func(p PeerMetrics) string {
		return fmt.Sprintf(`{To="%s"} %d`, hexID(p.ID), p.SentFailures)
	})
	first := true
	for _, p := range peers {
		if p.RoundTrip.Count == 0 {
			continue
		}
		name := "etcd_network_peer_round_trip_time_seconds"
		if first {
			fmt.Fprintf(b, "# HELP %s Round-Trip-Time histogram between peers (cairn: heartbeat round trips measured by the leader).\n# TYPE %s histogram\n", name, name)
			first = false
		}
		metric.WriteHistogramSamples(b, name, `To="`+hexID(p.ID)+`"`, p.RoundTrip)
	}
}
