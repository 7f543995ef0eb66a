package httpapi

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Versions reported by /version. cairn speaks the v2 API of etcd 3.4 and
// reports that release so version-checking clients accept it.
const (
	ServerVersion  = "3.4.23"
	ClusterVersion = "3.4.0"
)

// DefaultTimeout bounds a proposal or quorum read: after it the request
// fails with error 300 "etcdserver: request timed out".
const DefaultTimeout = 5 * time.Second

// Options tune a Handler. The zero value selects the defaults.
type Options struct {
	// Timeout bounds each proposal and quorum read (DefaultTimeout).
	Timeout time.Duration
	// Logf receives forwarding failures; nil discards them.
	Logf func(format string, args ...any)
}

// Handler serves the etcd v2 client API of one member.
type Handler struct {
	b       Backend
	timeout time.Duration
	logf    func(format string, args ...any)
	mux     *http.ServeMux
	proxy   *httputil.ReverseProxy

	done     chan struct{}
	doneOnce sync.Once
}

// New returns the handler for b.
func New(b Backend, opts Options) *Handler {
	h := &Handler{b: b, timeout: opts.Timeout, logf: opts.Logf, done: make(chan struct{})}
	if h.timeout <= 0 {
		h.timeout = DefaultTimeout
	}
	if h.logf == nil {
		h.logf = func(string, ...any) {}
	}
	h.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(forwardKey{}).(*url.URL)
			pr.SetURL(target)
			pr.Out.Header.Set(ForwardedHeader, "1")
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.logf("httpapi: forwarding %s %s to the leader: %v", r.Method, r.URL.Path, err)
			writeEtcdError(w, ecodeRaftInternal, errMessages[ecodeRaftInternal], ErrTimeout.Error(), 0)
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/keys", h.serveKeys)
	mux.HandleFunc("/v2/keys/", h.serveKeys)
	mux.HandleFunc("/v2/members", h.serveMembers)
	mux.HandleFunc("/v2/members/", h.serveMembers)
	mux.HandleFunc("/v2/machines", h.serveMachines)
	mux.HandleFunc("/health", h.serveHealth)
	mux.HandleFunc("/version", h.serveVersion)
	h.mux = mux
	return h
}

// Close ends the open watches (their responses finish); it is idempotent.
// Call it before shutting the HTTP servers down.
func (h *Handler) Close() { h.doneOnce.Do(func() { close(h.done) }) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v2/keys") || strings.HasPrefix(r.URL.Path, "/v2/members") {
		w.Header().Set("X-Etcd-Cluster-Id", hexID(h.b.ClusterID()))
	}
	h.mux.ServeHTTP(w, r)
}

type forwardKey struct{}

// forward proxies a write to the leader and reports whether it did. A
// request that was already forwarded once is handled here.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get(ForwardedHeader) != "" {
		return false
	}
	base, ok := h.b.ForwardURL()
	if !ok {
		return false
	}
	target, err := url.Parse(base)
	if err != nil {
		return false
	}
	r = r.WithContext(context.WithValue(r.Context(), forwardKey{}, target))
	w.Header().Del("X-Etcd-Cluster-Id") // the leader sets it
	h.proxy.ServeHTTP(w, r)
	return true
}
