package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"cairn/kv"
)

// EtcdWatchWindow is etcd's fixed watcher-hub history: etcd answers a
// waitIndex older than the current index minus EtcdWatchWindow-1 with error
// 401. Setting Options.WatchWindow to it reproduces that exactly.
const EtcdWatchWindow = 1000

// keyRequest is a parsed /v2/keys request.
type keyRequest struct {
	method    string
	path      string // store path, "/1/..."
	value     string
	prevValue string
	prevIndex uint64
	waitIndex uint64
	prevExist kv.PrevExist
	hasTTL    bool
	ttl       uint64
	recursive bool
	sorted    bool
	wait      bool
	quorum    bool
	stream    bool
	dir       bool
	refresh   bool
	// noValue (noValueOnSuccess, etcd 3.1+): a successful write answers
	// with the action only.
	noValue bool
	// cairn extensions: atIndex reads the key as it was right after that
	// store index; waitApplied first waits until this member has applied
	// that raft index.
	atIndex     uint64
	waitApplied uint64
}

// reqErr is a request parsing error: code and cause.
type reqErr struct {
	code  int
	cause string
}

func getBool(p *keyParams, i int) (bool, *reqErr) {
	s, ok := p.get(i)
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, &reqErr{ecodeInvalidField, `invalid value for "` + paramNames[i] + `"`}
	}
	return b, nil
}

func getUint(p *keyParams, i int, code int) (uint64, *reqErr) {
	s, ok := p.get(i)
	if !ok {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, &reqErr{code, `invalid value for "` + paramNames[i] + `"`}
	}
	return v, nil
}

// parseKeyRequest follows etcd v2.3.8's parseKeyRequest (spec 1.2), in the
// same order, so the first bad parameter reported is the same.
func parseKeyRequest(r *http.Request, key string) (*keyRequest, *reqErr) {
	kr := &keyRequest{method: r.Method, path: storePath(key)}
	var p keyParams
	if e := readKeyParams(r, &p); e != nil {
		return nil, e
	}
	var e *reqErr
	if kr.prevIndex, e = getUint(&p, pPrevIndex, ecodeIndexNaN); e != nil {
		return nil, e
	}
	if kr.waitIndex, e = getUint(&p, pWaitIndex, ecodeIndexNaN); e != nil {
		return nil, e
	}
	if kr.atIndex, e = getUint(&p, pAtIndex, ecodeIndexNaN); e != nil {
		return nil, e
	}
	if kr.waitApplied, e = getUint(&p, pWaitApplied, ecodeIndexNaN); e != nil {
		return nil, e
	}
	for _, b := range [...]struct {
		param int
		dst   *bool
	}{
		{pRecursive, &kr.recursive}, {pSorted, &kr.sorted}, {pWait, &kr.wait},
		{pDir, &kr.dir}, {pQuorum, &kr.quorum}, {pStream, &kr.stream},
	} {
		if *b.dst, e = getBool(&p, b.param); e != nil {
			return nil, e
		}
	}
	if kr.wait && r.Method != http.MethodGet {
		return nil, &reqErr{ecodeInvalidField, `"wait" can only be used with GET requests`}
	}
	pv, hasPV := p.get(pPrevValue)
	if hasPV && pv == "" {
		return nil, &reqErr{ecodePrevValueRequired, `"prevValue" cannot be empty`}
	}
	kr.prevValue = pv
	if kr.noValue, e = getBool(&p, pNoValue); e != nil {
		return nil, e
	}
	if s, _ := p.get(pTTL); s != "" {
		if kr.ttl, e = getUint(&p, pTTL, ecodeTTLNaN); e != nil {
			return nil, e
		}
		if kr.ttl > 1<<32 {
			return nil, &reqErr{ecodeTTLNaN, `invalid value for "ttl"`}
		}
		kr.hasTTL = true
	}
	if _, ok := p.get(pPrevExist); ok {
		b, e := getBool(&p, pPrevExist)
		if e != nil {
			// etcd words this cause without quotes.
			return nil, &reqErr{ecodeInvalidField, "invalid value for prevExist"}
		}
		kr.prevExist = kv.PrevExistFalse
		if b {
			kr.prevExist = kv.PrevExistTrue
		}
	}
	if _, ok := p.get(pRefresh); ok {
		if kr.refresh, e = getBool(&p, pRefresh); e != nil {
			return nil, &reqErr{ecodeInvalidField, "invalid value for refresh"}
		}
	}
	kr.value, _ = p.get(pValue)
	if (kr.atIndex != 0 || kr.waitApplied != 0) && (kr.method != http.MethodGet && kr.method != http.MethodHead || kr.wait || kr.quorum) {
		return nil, &reqErr{ecodeInvalidField, `"atIndex" and "waitApplied" can only be used with GET or HEAD requests without wait or quorum`}
	}
	if kr.refresh {
		if kr.value != "" {
			return nil, &reqErr{ecodeRefreshValue, "A value was provided on a refresh"}
		}
		if !kr.hasTTL {
			return nil, &reqErr{ecodeRefreshTTLMissing, "No TTL value set"}
		}
	}
	return kr, nil
}

// storeRequest turns a write into a kv.Request.
func (kr *keyRequest) storeRequest() kv.Request {
	req := kv.Request{
		Path:      kr.path,
		Value:     kr.value,
		Dir:       kr.dir,
		PrevValue: kr.prevValue,
		PrevIndex: kr.prevIndex,
		PrevExist: kr.prevExist,
		HasTTL:    kr.hasTTL,
		TTL:       int64(kr.ttl),
		Refresh:   kr.refresh,
		Recursive: kr.recursive,
		Sorted:    kr.sorted,
	}
	switch kr.method {
	case http.MethodPut:
		req.Op = kv.OpPut
	case http.MethodPost:
		req.Op = kv.OpPost
	case http.MethodDelete:
		req.Op = kv.OpDelete
		if kr.recursive {
			req.Dir = true
		}
	}
	return req
}

func (h *Handler) serveKeys(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete:
	default:
		w.Header().Set("Allow", "HEAD,GET,PUT,POST,DELETE")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	// Like etcd, after the method check: a 405 carries no cluster ID.
	w.Header()["X-Etcd-Cluster-Id"] = h.clusterIDHeader()
	if r.Method != http.MethodGet && r.Method != http.MethodHead && h.forward(w, r) {
		return
	}
	kr, perr := parseKeyRequest(r, keyPath(r.URL.Path))
	if perr == nil {
		perr = h.checkLimits(kr)
	}
	if perr != nil {
		requestError(w, perr.code, perr.cause)
		return
	}
	switch {
	case kr.wait && !kr.quorum:
		// etcd turns a quorum GET into a raft read before it looks at
		// wait, so wait=true&quorum=true is a plain quorum read.
		h.serveWatch(w, r, kr)
		return
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		var ev *kv.Event
		var err error
		if kr.waitApplied != 0 {
			ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
			err := h.b.WaitApplied(ctx, kr.waitApplied)
			cancel()
			if err != nil {
				if errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
					err = fmt.Errorf("%w: this member has not applied raft index %d within %v", ErrNotApplied, kr.waitApplied, h.timeout)
				}
				h.writeKeyError(w, err)
				return
			}
		}
		if kr.atIndex != 0 {
			ar, ok := h.b.(AtIndexReader)
			if !ok {
				h.writeKeyError(w, ErrAtIndexUnsupported)
				return
			}
			ev, err = ar.GetAt(kr.path, kr.atIndex, kr.recursive, kr.sorted)
			h.writeResult(w, r, ev, err)
			return
		}
		if kr.quorum {
			ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
			ev, err = h.b.QuorumGet(ctx, kr.path, kr.recursive, kr.sorted)
			cancel()
		} else {
			ev, err = h.b.Get(kr.path, kr.recursive, kr.sorted)
		}
		h.writeResult(w, r, ev, err)
	default:
		ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
		ev, err := h.b.Propose(ctx, kr.storeRequest())
		cancel()
		if err == nil && kr.noValue {
			switch ev.Action {
			case kv.ActionSet, kv.ActionCreate, kv.ActionUpdate, kv.ActionCompareAndSwap:
				h.writeActionOnly(w, ev)
				return
			}
		}
		h.writeResult(w, r, ev, err)
	}
}

func (h *Handler) writeResult(w http.ResponseWriter, r *http.Request, ev *kv.Event, err error) {
	if err != nil {
		h.writeKeyError(w, err)
		return
	}
	h.successHeaders(w.Header(), ev.Index)
	code := http.StatusOK
	if ev.IsCreated() {
		code = http.StatusCreated
	}
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	h.encode(w, ev)
}

// successHeaders sets the headers of a key answer or watch: Content-Type,
// X-Etcd-Index (etcdIndex), X-Raft-Index and X-Raft-Term. The three
// numbers share one string and one backing array.
func (h *Handler) successHeaders(hd http.Header, etcdIndex uint64) {
	idx, term := h.b.RaftStatus()
	var a [3 * 20]byte
	b := strconv.AppendUint(a[:0], etcdIndex, 10)
	i := len(b)
	b = strconv.AppendUint(b, idx, 10)
	j := len(b)
	b = strconv.AppendUint(b, term, 10)
	s := string(b)
	// Full slice expressions: an Add to one header must not overwrite the
	// next one's value.
	vs := []string{s[:i], s[i:j], s[j:]}
	hd["Content-Type"] = contentTypeJSON
	hd["X-Etcd-Index"] = vs[0:1:1]
	hd["X-Raft-Index"] = vs[1:2:2]
	hd["X-Raft-Term"] = vs[2:3:3]
}

// clusterIDHeader is the X-Etcd-Cluster-Id value, formatted once per
// cluster ID. The slice is shared: nothing may modify its element.
func (h *Handler) clusterIDHeader() []string {
	id := h.b.ClusterID()
	if c := h.clusterID.Load(); c != nil && c.id == id {
		return c.v
	}
	c := &clusterIDValue{id: id, v: []string{hexID(id)}}
	h.clusterID.Store(c)
	return c.v
}

type clusterIDValue struct {
	id uint64
	v  []string
}

// keyPath is the key of a /v2/keys URL path: absolute and clean, without
// a trailing slash ("/" for the root). ServeHTTP has redirected unclean
// paths, so the common case needs no path.Clean.
func keyPath(urlPath string) string {
	rest := strings.TrimPrefix(urlPath, "/v2/keys")
	if len(rest) > 1 && rest[len(rest)-1] == '/' {
		if k := rest[:len(rest)-1]; isCleanAbs(k) {
			return k
		}
	} else if isCleanAbs(rest) {
		return rest
	}
	return path.Clean("/" + rest)
}

// storePath is path.Join(keysPrefix, key) for a clean absolute key.
func storePath(key string) string {
	if key == "/" {
		return keysPrefix
	}
	return keysPrefix + key
}

// isCleanAbs reports whether p == path.Clean(p) and p starts with "/":
// no empty, "." or ".." element and no trailing slash except for "/".
func isCleanAbs(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	if p == "/" {
		return true
	}
	start := 1 // the current element is p[start:i]
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		switch p[start:i] {
		case "", ".", "..":
			return false
		}
		start = i + 1
	}
	return true
}

// encode writes ev as one Write from a pooled buffer.
func (h *Handler) encode(w http.ResponseWriter, ev *kv.Event) error {
	buf := getBuf()
	defer putBuf(buf)
	buf.b = appendEvent(buf.b[:0], ev)
	_, err := w.Write(buf.b)
	return err
}

// writeKeyError renders a store error as is and anything else as error
// 300 (Raft Internal Error, HTTP 500, index 0) with the error as cause.
func (h *Handler) writeKeyError(w http.ResponseWriter, err error) {
	var ke *kv.Error
	if errors.As(err, &ke) {
		writeEtcdError(w, ke.Code, ke.Message, ke.Cause, ke.Index)
		return
	}
	cause := err.Error()
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		cause = ErrTimeout.Error()
	case errors.Is(err, ErrStopped):
		cause = ErrStopped.Error()
	}
	writeEtcdError(w, ecodeRaftInternal, errMessages[ecodeRaftInternal], cause, 0)
}

func (h *Handler) serveWatch(w http.ResponseWriter, r *http.Request, kr *keyRequest) {
	if !h.acquireWatch(r.RemoteAddr) {
		writeEtcdError(w, ecodeTooManyWatches, errMessages[ecodeTooManyWatches],
			fmt.Sprintf("at most %d open watches per connection", h.maxWatches), 0)
		return
	}
	defer h.releaseWatch(r.RemoteAddr)
	wt, err := h.b.Watch(kr.path, kr.recursive, kr.stream, kr.waitIndex)
	if err != nil {
		h.writeKeyError(w, err)
		return
	}
	defer wt.Remove()
	h.metrics.watchesSeen.Add(1)
	h.metrics.watchesOpen.Add(1)
	defer h.metrics.watchesOpen.Add(-1)
	// By default a watch may start anywhere in the store's retained history
	// (far deeper than etcd's 1000 events, so clients rarely meet 401 and
	// its full resynchronisation); Options.WatchWindow narrows it to
	// etcd's window for clients that depend on the exact points.
	if win := uint64(h.watchWindow); win > 0 && kr.waitIndex != 0 && kr.waitIndex+win <= wt.StartIndex {
		start := wt.StartIndex - win + 1
		writeEtcdError(w, kv.EcodeEventIndexCleared, "The event in requested index is outdated and cleared",
			fmt.Sprintf("the requested history has been cleared [%d/%d]", start, kr.waitIndex), wt.StartIndex)
		return
	}
	h.successHeaders(w.Header(), wt.StartIndex)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		case ev, ok := <-wt.Events():
			if !ok {
				return
			}
			if ev.Refresh {
				continue
			}
			if _, err := w.Write(h.events.encoded(ev)); err != nil {
				return
			}
			rc.Flush()
			if !kr.stream {
				return
			}
		}
	}
}

// writeActionOnly answers a write made with noValueOnSuccess=true:
// {"action":...} alone, with the usual headers and status.
func (h *Handler) writeActionOnly(w http.ResponseWriter, ev *kv.Event) {
	h.successHeaders(w.Header(), ev.Index)
	code := http.StatusOK
	if ev.IsCreated() {
		code = http.StatusCreated
	}
	w.WriteHeader(code)
	h.encode(w, &kv.Event{Action: ev.Action, Index: ev.Index})
}

// checkLimits refuses keys and values over the configured sizes (error
// 209, with the limit in the cause).
func (h *Handler) checkLimits(kr *keyRequest) *reqErr {
	if h.maxKey > 0 && len(kr.path)-len(keysPrefix) > h.maxKey {
		return &reqErr{ecodeInvalidField, fmt.Sprintf("key is longer than %d bytes", h.maxKey)}
	}
	if h.maxValue > 0 && len(kr.value) > h.maxValue {
		return &reqErr{ecodeInvalidField, fmt.Sprintf("value is longer than %d bytes", h.maxValue)}
	}
	return nil
}

// acquireWatch counts an open watch on the connection from addr and
// reports false if that would exceed the limit.
func (h *Handler) acquireWatch(addr string) bool {
	if h.maxWatches <= 0 {
		return true
	}
	h.connMu.Lock()
	defer h.connMu.Unlock()
	if h.connWatches[addr] >= h.maxWatches {
		return false
	}
	h.connWatches[addr]++
	return true
}

func (h *Handler) releaseWatch(addr string) {
	if h.maxWatches <= 0 {
		return
	}
	h.connMu.Lock()
	defer h.connMu.Unlock()
	if h.connWatches[addr]--; h.connWatches[addr] <= 0 {
		delete(h.connWatches, addr)
	}
}

// eventCache holds the encodings of the last events written to watches.
// The store hands the same *kv.Event to every watcher it concerns, and its
// encoding does not depend on the watcher, so a burst of watchers of one
// key encodes each event once. An entry keeps its event alive, so a
// pointer cannot be reused for another event while it is cached; events
// are read-only (kv.Event), so the bytes stay right.
type eventCache struct {
	mu   sync.Mutex
	next int // the entry to replace next
	ents [eventCacheSize]struct {
		ev *kv.Event
		b  []byte // read-only once stored
	}
}

// The cache holds at most eventCacheSize events, each encoded in at most
// maxCachedEvent bytes (larger ones, big values, are encoded per watch), so
// it pins little memory.
const (
	eventCacheSize = 16
	maxCachedEvent = 8 << 10
)

// encoded returns ev's encoding. The caller must not modify it.
func (c *eventCache) encoded(ev *kv.Event) []byte {
	c.mu.Lock()
	for _, e := range c.ents {
		if e.ev == ev {
			c.mu.Unlock()
			return e.b
		}
	}
	c.mu.Unlock()
	b := appendEvent(nil, ev)
	if len(b) > maxCachedEvent {
		return b
	}
	c.mu.Lock()
	c.ents[c.next].ev, c.ents[c.next].b = ev, b
	c.next = (c.next + 1) % eventCacheSize
	c.mu.Unlock()
	return b
}
