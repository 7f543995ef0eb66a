package httpapi

import (
	"context"
	"io"
	"math"
	"net/http"
	"strings"
	"time"
)

func contextTimeout(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}

// serveHealth answers 200 {"health":"true"} while a leader is known and
// 503 {"health":"false"} otherwise (etcd 3.4's shape).
func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	// etcd 3.4 sets no Content-Type here; Go sniffs text/plain.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if h.b.Leader() == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"health":"false"}`)
		return
	}
	io.WriteString(w, `{"health":"true"}`)
}

func (h *Handler) serveVersion(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"etcdserver":"`+ServerVersion+`","etcdcluster":"`+ClusterVersion+`"}`)
}

// serveMachines lists every member's client URLs, joined with ", ", as
// text (etcd's /v2/machines).
func (h *Handler) serveMachines(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET,HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	io.WriteString(w, strings.Join(h.b.ClientURLs(), ", "))
}

// selfStatsJSON is etcd's ServerStats, in its field order.
type selfStatsJSON struct {
	Name                 string         `json:"name"`
	ID                   string         `json:"id"`
	State                string         `json:"state"`
	StartTime            time.Time      `json:"startTime"`
	LeaderInfo           leaderInfoJSON `json:"leaderInfo"`
	RecvAppendRequestCnt uint64         `json:"recvAppendRequestCnt"`
	RecvPkgRate          float64        `json:"recvPkgRate,omitempty"`
	RecvBandwidthRate    float64        `json:"recvBandwidthRate,omitempty"`
	SendAppendRequestCnt uint64         `json:"sendAppendRequestCnt"`
	SendPkgRate          float64        `json:"sendPkgRate,omitempty"`
	SendBandwidthRate    float64        `json:"sendBandwidthRate,omitempty"`
}

type leaderInfoJSON struct {
	Leader    string    `json:"leader"`
	Uptime    string    `json:"uptime"`
	StartTime time.Time `json:"startTime"`
}

func (h *Handler) serveSelfStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	st := h.b.SelfStats()
	out := selfStatsJSON{Name: st.Name, ID: hexID(st.ID), State: "StateFollower", StartTime: st.StartTime,
		RecvAppendRequestCnt: st.RecvAppend, SendAppendRequestCnt: st.SendAppend,
		RecvPkgRate: finite(st.RecvPkgRate), RecvBandwidthRate: finite(st.RecvBandwidthRate),
		SendPkgRate: finite(st.SendPkgRate), SendBandwidthRate: finite(st.SendBandwidthRate)}
	if st.IsLeader {
		out.State = "StateLeader"
	}
	if st.Leader != 0 {
		out.LeaderInfo = leaderInfoJSON{Leader: hexID(st.Leader), Uptime: time.Since(st.LeaderSince).String(), StartTime: st.LeaderSince}
	}
	writeJSON(w, http.StatusOK, out)
}

// storeStatsJSON is etcd's store Stats, in its field order.
type storeStatsJSON struct {
	GetsSuccess             uint64 `json:"getsSuccess"`
	GetsFail                uint64 `json:"getsFail"`
	SetsSuccess             uint64 `json:"setsSuccess"`
	SetsFail                uint64 `json:"setsFail"`
	DeleteSuccess           uint64 `json:"deleteSuccess"`
	DeleteFail              uint64 `json:"deleteFail"`
	UpdateSuccess           uint64 `json:"updateSuccess"`
	UpdateFail              uint64 `json:"updateFail"`
	CreateSuccess           uint64 `json:"createSuccess"`
	CreateFail              uint64 `json:"createFail"`
	CompareAndSwapSuccess   uint64 `json:"compareAndSwapSuccess"`
	CompareAndSwapFail      uint64 `json:"compareAndSwapFail"`
	CompareAndDeleteSuccess uint64 `json:"compareAndDeleteSuccess"`
	CompareAndDeleteFail    uint64 `json:"compareAndDeleteFail"`
	ExpireCount             uint64 `json:"expireCount"`
	Watchers                uint64 `json:"watchers"`
}

func (h *Handler) serveStoreStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	writeJSON(w, http.StatusOK, storeStatsJSON(h.b.StoreStats()))
}

// finite maps NaN and ±Inf, which encoding/json refuses, to 0 (omitted).
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
