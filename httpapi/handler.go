package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// Limits against abuse; 0 selects the default, a negative value
	// disables the limit.
	MaxRequestBytes   int64 // request body (DefaultMaxRequestBytes)
	MaxValueBytes     int   // a key's value (DefaultMaxValueBytes)
	MaxKeyBytes       int   // a key's path (DefaultMaxKeyBytes)
	MaxWatchesPerConn int   // open watches per client connection (DefaultMaxWatchesPerConn)
	// WatchWindow, if > 0, answers error 401 to a waitIndex more than
	// WatchWindow-1 events behind the current index, as etcd does with
	// EtcdWatchWindow (1000). 0, the default, allows any index the store
	// still retains (kv.Config.HistoryEvents/HistoryBytes).
	WatchWindow int
}

// Default limits.
const (
	DefaultMaxRequestBytes   = 2 << 20
	DefaultMaxValueBytes     = 1 << 20
	DefaultMaxKeyBytes       = 4 << 10
	DefaultMaxWatchesPerConn = 1000
)

func limit[T int | int64](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Handler serves the etcd v2 client API of one member.
type Handler struct {
	b       Backend
	timeout time.Duration
	logf    func(format string, args ...any)
	mux     *http.ServeMux
	client  *http.Client

	done     chan struct{}
	doneOnce sync.Once

	metrics metrics

	clusterID atomic.Pointer[clusterIDValue] // clusterIDHeader's cache
	events    eventCache                     // encoded watch events

	watchWindow int // Options.WatchWindow

	// Limits; 0 means unlimited.
	maxBody    int64
	maxValue   int
	maxKey     int
	maxWatches int

	connMu      sync.Mutex
	connWatches map[string]int // open watches by RemoteAddr (one TCP connection)
}

// New returns the handler for b.
func New(b Backend, opts Options) *Handler {
	h := &Handler{b: b, timeout: opts.Timeout, logf: opts.Logf, done: make(chan struct{}),
		maxBody:     limit(opts.MaxRequestBytes, DefaultMaxRequestBytes),
		maxValue:    limit(opts.MaxValueBytes, DefaultMaxValueBytes),
		maxKey:      limit(opts.MaxKeyBytes, DefaultMaxKeyBytes),
		maxWatches:  limit(opts.MaxWatchesPerConn, DefaultMaxWatchesPerConn),
		connWatches: map[string]int{},
		watchWindow: opts.WatchWindow,
	}
	if h.timeout <= 0 {
		h.timeout = DefaultTimeout
	}
	if h.logf == nil {
		h.logf = func(string, ...any) {}
	}
	h.client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/keys", h.serveKeys)
	mux.HandleFunc("/v2/keys/", h.serveKeys)
	mux.HandleFunc("/v2/members", h.serveMembers)
	mux.HandleFunc("/v2/members/", h.serveMembers)
	mux.HandleFunc("/v2/machines", h.serveMachines)
	mux.HandleFunc("/v2/stats/self", h.serveSelfStats)
	mux.HandleFunc("/v2/stats/store", h.serveStoreStats)
	mux.HandleFunc("/v2/stats/leader", h.serveLeaderStats)
	mux.HandleFunc("/metrics", h.serveMetrics)
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
	// etcd 3.4 answers every client request with permissive CORS headers
	// and a preflight OPTIONS with an empty 200, before anything else.
	hd := w.Header()
	hd["Access-Control-Allow-Methods"] = corsMethods
	hd["Access-Control-Allow-Origin"] = corsOrigin
	hd["Access-Control-Allow-Headers"] = corsHeaders
	if r.Method == http.MethodOptions {
		return
	}
	// Like etcd's ServeMux, a path that is not clean is redirected (301)
	// to its clean form, keeping a trailing slash and the query.
	if np := cleanPath(r.URL.Path); np != r.URL.Path && r.Method != http.MethodConnect {
		u := &url.URL{Path: np, RawQuery: r.URL.RawQuery}
		http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
		return
	}
	if h.maxBody > 0 && r.Body != nil && r.Body != http.NoBody && (r.ContentLength < 0 || r.ContentLength > h.maxBody) {
		// A body of a declared length within the limit cannot grow past
		// it: the server reads no more than Content-Length.
		r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	}
	rec := &statusRecorder{ResponseWriter: w}
	w = rec
	defer func() { h.metrics.count(r.Method, rec.code) }()
	if r.Header.Get(ForwardedHeader) != "" {
		w = &appliedWriter{ResponseWriter: w, b: h.b}
	}
	if isKeysPath(r) {
		h.serveKeys(w, r) // what the mux would pick, without its matching
		return
	}
	h.mux.ServeHTTP(w, r)
}

// isKeysPath reports whether the mux would route r to serveKeys for sure:
// /v2/keys or below, no escaped slash (RawPath empty: the mux splits the
// escaped path), not CONNECT (the mux treats it apart).
func isKeysPath(r *http.Request) bool {
	if r.Method == http.MethodConnect || r.URL.RawPath != "" {
		return false
	}
	p := r.URL.Path
	return len(p) >= len("/v2/keys") && p[:len("/v2/keys")] == "/v2/keys" && (len(p) == len("/v2/keys") || p[len("/v2/keys")] == '/')
}

// The CORS header values, shared by every response: nothing may modify
// their elements.
var (
	corsMethods = []string{"POST, GET, OPTIONS, PUT, DELETE"}
	corsOrigin  = []string{"*"}
	corsHeaders = []string{"accept, content-type, authorization"}
)

// cleanPath is p made absolute and clean, keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if isCleanAbs(p) || len(p) > 2 && p[len(p)-1] == '/' && isCleanAbs(p[:len(p)-1]) {
		return p
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// appliedWriter adds appliedHeader when the answer's header is written,
// which is after the request's write was applied.
type appliedWriter struct {
	http.ResponseWriter
	b     Backend
	wrote bool
}

func (a *appliedWriter) WriteHeader(code int) {
	if !a.wrote {
		a.wrote = true
		idx, _ := a.b.RaftStatus()
		a.Header().Set(appliedHeader, strconv.FormatUint(idx, 10))
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *appliedWriter) Write(p []byte) (int, error) {
	if !a.wrote {
		a.WriteHeader(http.StatusOK)
	}
	return a.ResponseWriter.Write(p)
}

func (a *appliedWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// maxForwardBody bounds the body of a forwarded write.
const maxForwardBody = 64 << 20

// forward sends a write to the leader and copies its answer back, and
// reports whether it did (false: handle it here). A request that was
// already forwarded once, or that reaches the leader, is handled here. While
// no leader is known, or the leader cannot be reached (it just failed or was
// removed), forward waits and retries, following leader changes, until the
// request timeout (then error 300); if this member becomes the leader
// meanwhile it handles the request itself.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get(ForwardedHeader) != "" {
		return false
	}
	if lead := h.b.Leader(); lead != 0 && lead == h.b.ID() {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxForwardBody))
	if err != nil {
		writeEtcdError(w, ecodeInvalidForm, errMessages[ecodeInvalidForm], err.Error(), 0)
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	for {
		base, ok := h.b.ForwardURL()
		if !ok {
			if lead := h.b.Leader(); lead != 0 && lead == h.b.ID() {
				return false // this member became the leader
			}
			// No usable leader yet (an election is going on): wait
			// for one, so the leader stamps the request.
		}
		var resp *http.Response
		if ok {
			resp, err = h.forwardOnce(ctx, r, base, body)
		}
		if ok && err == nil {
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, maxForwardBody))
			if err != nil {
				h.logf("httpapi: reading the leader's answer: %v", err)
				writeEtcdError(w, ecodeRaftInternal, errMessages[ecodeRaftInternal], ErrTimeout.Error(), 0)
				return true
			}
			// Answer only once this member has applied the write too,
			// so the client reads it here next.
			if idx, err := strconv.ParseUint(resp.Header.Get(appliedHeader), 10, 64); err == nil {
				h.b.WaitApplied(ctx, idx)
			}
			for k, vs := range resp.Header {
				if k == "Content-Length" || k == "Date" || k == appliedHeader {
					continue
				}
				w.Header()[k] = vs
			}
			w.WriteHeader(resp.StatusCode)
			w.Write(body)
			return true
		}
		if ok {
			h.logf("httpapi: forwarding %s %s to the leader: %v", r.Method, r.URL.Path, err)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			writeEtcdError(w, ecodeRaftInternal, errMessages[ecodeRaftInternal], ErrTimeout.Error(), 0)
			return true
		case <-t.C:
		}
	}
}

func (h *Handler) forwardOnce(ctx context.Context, r *http.Request, base string, body []byte) (*http.Response, error) {
	u := base + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		out.Header.Set("Content-Type", ct)
	}
	out.Header.Set(ForwardedHeader, "1")
	return h.client.Do(out)
}

// MayWait reports whether r may be a watch, which waits for a change and
// must notice its client going away meanwhile: it has "wait" in its query.
// The client listener's server (httpapi/h1) reads the connection while
// these run, and cancels their context when the client closes it.
func MayWait(r *http.Request) bool {
	return strings.Contains(r.URL.RawQuery, "wait")
}
