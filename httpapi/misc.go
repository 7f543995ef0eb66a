package httpapi

import (
	"context"
	"io"
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
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET,HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
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
