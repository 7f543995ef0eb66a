package kv

import (
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Store. The zero value selects the defaults.
type Config struct {
	// HistoryEvents and HistoryBytes bound the retained event history
	// (for watches from a past index and for GetAt); the oldest events are
	// dropped when either is exceeded. Defaults: 10,000 events, 16 MiB.
	// All members must use the same limits for their snapshots to be
	// byte-identical.
	HistoryEvents int
	HistoryBytes  int64
	// WatcherBuffer is the per-watcher buffer of a stream watcher
	// (default 100, as etcd). A watcher whose buffer is full when an event
	// arrives is dropped with ErrWatcherOverflow.
	WatcherBuffer int
	// Namespaces are directories created at index 0 and read only like
	// "/" (default "/0" and "/1", etcd's cluster and user key spaces).
	Namespaces []string
}

// Defaults of Config.
const (
	DefaultHistoryEvents = 10_000
	DefaultHistoryBytes  = 16 << 20
	DefaultWatcherBuffer = 100
)

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.HistoryEvents == 0 {
		out.HistoryEvents = DefaultHistoryEvents
	}
	if out.HistoryBytes == 0 {
		out.HistoryBytes = DefaultHistoryBytes
	}
	if out.WatcherBuffer == 0 {
		out.WatcherBuffer = DefaultWatcherBuffer
	}
	if out.Namespaces == nil {
		out.Namespaces = []string{"/0", "/1"}
	}
	if out.HistoryEvents < 0 || out.HistoryBytes < 0 || out.WatcherBuffer < 0 {
		return out, fmt.Errorf("%w: negative limit in config", ErrInvalidConfig)
	}
	for _, ns := range out.Namespaces {
		if ns != cleanPath(ns) || ns == "/" || depth(ns) != 1 {
			return out, fmt.Errorf("%w: namespace %q is not a clean top-level path", ErrInvalidConfig, ns)
		}
	}
	return out, nil
}

// Store is the etcd v2 key/value store: the replicated state machine.
// See the package documentation for the concurrency rules.
type Store struct {
	cfg      Config
	readonly []string

	// mu guards everything below except the stats counters. Apply and
	// Restore hold it for writing; Get, GetAt and NextExpiry for reading.
	mu   sync.RWMutex
	root *node
	// index is the store index of the last change.
	// Invariant: index == hist.last() whenever hist is non-empty.
	index    uint64
	ttl      ttlHeap
	ttlValid int
	// hist is written only with both mu and hub.mu held, so holding
	// either is enough to read it.
	hist history
	hub  hub
	// gen counts Restores, so a running Save notices one.
	gen uint64

	stats counters

	// afterSaveChunk, if set, runs between Save's chunks with no lock
	// held: a test seam for applying while a snapshot is written.
	afterSaveChunk func()
}

// ErrInvalidConfig is returned by New for a bad Config.
var ErrInvalidConfig = errors.New("kv: invalid config")

// New returns an empty store at index 0 holding the namespace directories.
func New(cfg Config) (*Store, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: c}
	s.readonly = append([]string{"/"}, c.Namespaces...)
	s.hist = history{maxEvents: c.HistoryEvents, maxBytes: c.HistoryBytes, first: 1}
	s.hub.bufSize = c.WatcherBuffer
	s.root = s.freshRoot()
	return s, nil
}

func (s *Store) freshRoot() *node {
	root := &node{kids: newDirKids()}
	for _, ns := range s.cfg.Namespaces {
		if root.kids.get(ns[1:]) == nil {
			root.kids.insert(&node{name: ns[1:], kids: newDirKids()})
		}
	}
	return root
}

// Index returns the current store index (X-Etcd-Index).
func (s *Store) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index
}

func (s *Store) isReadonly(p string) bool { return slices.Contains(s.readonly, p) }

// walkGet finds the node at clean path p and its parent (nil for the
// root), with etcd's errors: 104 naming the file met on the way, 100
// naming the first missing path. Caller holds mu.
func (s *Store) walkGet(p string) (parent, n *node, err *Error) {
	n = s.root
	if p == "/" {
		return nil, n, nil
	}
	start := 1
	for start <= len(p) {
		end := start
		for end < len(p) && p[end] != '/' {
			end++
		}
		if !n.isDir() {
			return nil, nil, newError(EcodeNotDir, p[:start-1], s.index)
		}
		c := n.kids.get(p[start:end])
		if c == nil {
			return nil, nil, newError(EcodeKeyNotFound, p[:end], s.index)
		}
		parent, n = n, c
		start = end + 1
	}
	return parent, n, nil
}

// walkCreate returns the directory at clean path p, creating missing
// directories (permanent, indexed idx). It fails with 104 only before
// creating anything. Caller holds mu for writing.
func (s *Store) walkCreate(p string, idx uint64) (d *node, created int, err *Error) {
	d = s.root
	if p == "/" {
		return d, 0, nil
	}
	start := 1
	for start <= len(p) {
		end := start
		for end < len(p) && p[end] != '/' {
			end++
		}
		name := p[start:end]
		c := d.kids.get(name)
		switch {
		case c == nil:
			c = &node{name: strings.Clone(name), kids: newDirKids(), created: idx, modified: idx}
			d.kids.insert(c)
			created++
		case !c.isDir():
			return nil, 0, newError(EcodeNotDir, p[:end], s.index)
		}
		d = c
		start = end + 1
	}
	return d, created, nil
}

func expireAt(r *Request) int64 {
	if !r.HasTTL {
		return 0
	}
	e := r.Time + r.TTL*int64(time.Second)
	if e == 0 {
		e = 1 // 0 means permanent
	}
	return e
}

// Apply applies one committed request and returns its event. Every member
// must apply the same requests in the same order; the result depends only
// on the store state and req (req.Time stands in for the clock).
//
// Store errors are a *Error (codes 100-108 with etcd's causes, Index = the
// current index) and consume no index. A request that fails Validate
// returns an error wrapping ErrInvalidRequest. OpExpire returns the last
// expire event (nil if nothing was due); every expired node gets its own
// event, index and watcher notification.
func (s *Store) Apply(req Request) (*Event, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, serr := s.apply(&req)
	s.tidyTTL()
	if serr != nil {
		return nil, serr
	}
	return ev, nil
}

func (s *Store) apply(r *Request) (*Event, *Error) {
	p := cleanPath(r.Path)
	exp := expireAt(r)
	switch r.Op {
	case OpPut:
		switch {
		case r.PrevExist == PrevExistTrue && r.PrevIndex == 0 && r.PrevValue == "":
			return s.update(p, r.Value, exp, r)
		case r.PrevExist == PrevExistTrue:
			return s.compareAndSwap(p, r.PrevValue, r.PrevIndex, r.Value, exp, r)
		case r.PrevExist == PrevExistFalse:
			return s.create(p, r.Dir, r.Value, false, exp, r)
		case r.PrevIndex > 0 || r.PrevValue != "":
			return s.compareAndSwap(p, r.PrevValue, r.PrevIndex, r.Value, exp, r)
		default:
			return s.set(p, r.Dir, r.Value, exp, r)
		}
	case OpPost:
		return s.create(p, r.Dir, r.Value, true, exp, r)
	case OpDelete:
		if r.PrevIndex > 0 || r.PrevValue != "" {
			return s.compareAndDelete(p, r.PrevValue, r.PrevIndex, r)
		}
		return s.delete(p, r.Dir, r.Recursive, r)
	case OpGet:
		return s.get(p, r.Recursive, r.Time)
	case OpExpire:
		return s.expire(r.Time), nil
	}
	panic("kv: unreachable op " + r.Op.String())
}

// commit records ev (already numbered index+1) and notifies watchers.
func (s *Store) commit(rec *record) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.index = rec.ev.Index
	s.hub.index = s.index
	s.hist.append(rec)
	s.hub.notify(rec)
}

func (s *Store) set(p string, dir bool, value string, exp int64, r *Request) (ev *Event, err *Error) {
	defer func() { s.stats.count(&s.stats.setsSuccess, &s.stats.setsFail, err) }()
	_, cur, gerr := s.walkGet(p)
	if gerr != nil && gerr.Code != EcodeKeyNotFound {
		return nil, gerr
	}
	if r.Refresh {
		if gerr != nil {
			return nil, gerr
		}
		value = cur.value
	}
	return s.internalCreate(p, dir, value, false, true, exp, ActionSet, r)
}

func (s *Store) create(p string, dir bool, value string, unique bool, exp int64, r *Request) (ev *Event, err *Error) {
	defer func() { s.stats.count(&s.stats.createSuccess, &s.stats.createFail, err) }()
	return s.internalCreate(p, dir, value, unique, false, exp, ActionCreate, r)
}

// internalCreate is etcd's internalCreate: create the node at p, replacing
// an existing file if replace is set.
func (s *Store) internalCreate(p string, dir bool, value string, unique, replace bool, exp int64, action string, r *Request) (*Event, *Error) {
	next := s.index + 1
	if unique {
		p = joinPath(p, fmt.Sprintf("%020d", next))
	}
	if s.isReadonly(p) {
		return nil, newError(EcodeRootROnly, "/", s.index)
	}
	dirPath, name := splitPath(p)
	// Find the parent directory; create the missing part of it only once
	// nothing can fail any more.
	_, d, werr := s.walkGet(dirPath)
	switch {
	case werr != nil && werr.Code == EcodeNotDir:
		return nil, werr
	case werr == nil && !d.isDir():
		return nil, newError(EcodeNotDir, dirPath, s.index)
	}
	var prev *Node
	var replaced *node // the file n takes the place of
	if werr == nil {
		if old := d.kids.get(name); old != nil {
			if !replace {
				return nil, newError(EcodeNodeExist, p, s.index)
			}
			if old.isDir() {
				return nil, newError(EcodeNotFile, p, s.index)
			}
			st := old.state(p)
			prev = st.extern(r.Time)
			replaced = old
		}
	}
	created := 0
	if werr != nil {
		var cerr *Error
		d, created, cerr = s.walkCreate(dirPath, next)
		if cerr != nil {
			panic("kv: walkCreate failed after checks: " + cerr.Error())
		}
	}
	var n *node
	if replaced != nil {
		// The file becomes the new node where it stands, as update and
		// compareAndSwap change theirs: no second search of the directory,
		// and the TTL heap tells the old expiry from the new one by value.
		n = replaced
		*n = node{name: n.name}
	} else {
		// Clone the name so the node does not pin the request's whole path.
		n = &node{name: strings.Clone(name)}
		d.kids.insert(n)
	}
	n.created, n.modified, n.expire = next, next, exp
	if dir {
		n.kids = newDirKids()
	} else {
		n.value = value
	}
	s.schedule(p, n)
	st := n.state(p)
	ev := &Event{Action: action, Node: st.extern(r.Time), PrevNode: prev, Index: next, Refresh: r.Refresh}
	s.commit(&record{ev: ev, created: created})
	return ev, nil
}

func (s *Store) update(p, value string, exp int64, r *Request) (ev *Event, err *Error) {
	defer func() { s.stats.count(&s.stats.updateSuccess, &s.stats.updateFail, err) }()
	if s.isReadonly(p) {
		return nil, newError(EcodeRootROnly, "/", s.index)
	}
	_, n, gerr := s.walkGet(p)
	if gerr != nil {
		return nil, gerr
	}
	if n.isDir() && value != "" {
		return nil, newError(EcodeNotFile, p, s.index)
	}
	if r.Refresh {
		value = n.value
	}
	next := s.index + 1
	st := n.state(p)
	prev := st.extern(r.Time)
	if !n.isDir() {
		// etcd's node.Write fails silently on directories: a directory
		// update changes its TTL but not its stored modifiedIndex (1.4).
		n.value = value
		n.modified = next
	}
	n.expire = exp
	s.schedule(p, n)
	st = n.state(p)
	node := st.extern(r.Time)
	node.ModifiedIndex = next
	ev = &Event{Action: ActionUpdate, Node: node, PrevNode: prev, Index: next, Refresh: r.Refresh}
	s.commit(&record{ev: ev})
	return ev, nil
}

// compareFailCause formats etcd's 101 causes.
func compareFailCause(n *node, prevValue string, prevIndex uint64) (string, bool) {
	indexOK := prevIndex == 0 || n.modified == prevIndex
	valueOK := prevValue == "" || n.value == prevValue
	switch {
	case indexOK && valueOK:
		return "", true
	case !indexOK && valueOK:
		return fmt.Sprintf("[%d != %d]", prevIndex, n.modified), false
	case indexOK:
		return fmt.Sprintf("[%s != %s]", prevValue, n.value), false
	default:
		return fmt.Sprintf("[%s != %s] [%d != %d]", prevValue, n.value, prevIndex, n.modified), false
	}
}

func (s *Store) compareAndSwap(p, prevValue string, prevIndex uint64, value string, exp int64, r *Request) (ev *Event, err *Error) {
	defer func() { s.stats.count(&s.stats.casSuccess, &s.stats.casFail, err) }()
	if s.isReadonly(p) {
		return nil, newError(EcodeRootROnly, "/", s.index)
	}
	_, n, gerr := s.walkGet(p)
	if gerr != nil {
		return nil, gerr
	}
	if n.isDir() {
		return nil, newError(EcodeNotFile, p, s.index)
	}
	if cause, ok := compareFailCause(n, prevValue, prevIndex); !ok {
		return nil, newError(EcodeTestFailed, cause, s.index)
	}
	if r.Refresh {
		value = n.value
	}
	next := s.index + 1
	st := n.state(p)
	prev := st.extern(r.Time)
	n.value = value
	n.modified = next
	n.expire = exp
	s.schedule(p, n)
	st = n.state(p)
	ev = &Event{Action: ActionCompareAndSwap, Node: st.extern(r.Time), PrevNode: prev, Index: next, Refresh: r.Refresh}
	s.commit(&record{ev: ev})
	return ev, nil
}

func (s *Store) delete(p string, dir, recursive bool, r *Request) (ev *Event, err *Error) {
	defer func() { s.stats.count(&s.stats.deleteSuccess, &s.stats.deleteFail, err) }()
	if s.isReadonly(p) {
		return nil, newError(EcodeRootROnly, "/", s.index)
	}
	if recursive {
		dir = true
	}
	parent, n, gerr := s.walkGet(p)
	if gerr != nil {
		return nil, gerr
	}
	if n.isDir() {
		if !dir {
			return nil, newError(EcodeNotFile, p, s.index)
		}
		if n.kids.n != 0 && !recursive {
			return nil, newError(EcodeDirNotEmpty, p, s.index)
		}
	}
	return s.removeNode(ActionDelete, p, parent, n, r.Time), nil
}

func (s *Store) compareAndDelete(p, prevValue string, prevIndex uint64, r *Request) (ev *Event, err *Error) {
	defer func() { s.stats.count(&s.stats.cadSuccess, &s.stats.cadFail, err) }()
	parent, n, gerr := s.walkGet(p)
	if gerr != nil {
		return nil, gerr
	}
	if n.isDir() {
		return nil, newError(EcodeNotFile, p, s.index)
	}
	if cause, ok := compareFailCause(n, prevValue, prevIndex); !ok {
		return nil, newError(EcodeTestFailed, cause, s.index)
	}
	return s.removeNode(ActionCompareAndDelete, p, parent, n, r.Time), nil
}

// removeNode detaches n (and its subtree) from parent and records the
// delete, compareAndDelete or expire event.
func (s *Store) removeNode(action, p string, parent, n *node, now int64) *Event {
	next := s.index + 1
	st := n.state(p)
	prev := st.extern(now)
	node := &Node{Key: p, Dir: n.isDir(), ModifiedIndex: next, CreatedIndex: n.created}
	parent.kids.remove(n.name)
	rec := &record{ev: &Event{Action: action, Node: node, PrevNode: prev, Index: next}}
	if n.isDir() {
		rec.removed = n
	}
	s.commit(rec)
	return rec.ev
}

// expire removes every node due at now, earliest first (ties in tree
// order), one event and one index each. It returns the last event.
func (s *Store) expire(now int64) *Event {
	var last *Event
	for len(s.ttl) > 0 && s.ttl[0].expire <= now {
		e := heap.Pop(&s.ttl).(ttlEntry)
		if !s.valid(e) {
			continue
		}
		parent, n, _ := s.walkGet(e.path)
		last = s.removeNode(ActionExpire, e.path, parent, n, now)
		s.stats.expireCount.Add(1)
	}
	return last
}

// Get returns the node at path (cleaned) as etcd's Get does: a directory
// lists its children (all levels if recursive) sorted by name, hidden
// children left out. TTLs are computed against now (unix nanoseconds),
// which the caller supplies; the store never reads the clock. Get serves
// local (non-quorum) reads and may run concurrently with Apply.
func (s *Store) Get(p string, recursive, sorted bool, now int64) (*Event, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ev, err := s.get(cleanPath(p), recursive, now)
	if err != nil {
		return nil, err
	}
	return ev, nil
}

func (s *Store) get(p string, recursive bool, now int64) (ev *Event, err *Error) {
	defer func() { s.stats.count(&s.stats.getsSuccess, &s.stats.getsFail, err) }()
	_, n, gerr := s.walkGet(p)
	if gerr != nil {
		return nil, gerr
	}
	node := s.extern(p, n, now)
	if n.isDir() {
		node.Nodes = s.listChildren(p, n, recursive, now)
	}
	return &Event{Action: ActionGet, Node: node, Index: s.index}, nil
}

func (s *Store) extern(p string, n *node, now int64) *Node {
	st := n.state(p)
	return st.extern(now)
}

func (s *Store) listChildren(p string, n *node, recursive bool, now int64) []*Node {
	var out []*Node
	n.kids.each(func(c *node) bool {
		if isHiddenName(c.name) {
			return true
		}
		cp := joinPath(p, c.name)
		x := s.extern(cp, c, now)
		if recursive && c.isDir() {
			x.Nodes = s.listChildren(cp, c, true, now)
		}
		out = append(out, x)
		return true
	})
	return out
}

// counters are the /v2/stats/store numbers. The write counters are bumped
// by Apply and saved in snapshots (identical on every member); the get
// counters are local and bumped concurrently by readers.
type counters struct {
	getsSuccess, getsFail     atomic.Uint64
	setsSuccess, setsFail     atomic.Uint64
	deleteSuccess, deleteFail atomic.Uint64
	updateSuccess, updateFail atomic.Uint64
	createSuccess, createFail atomic.Uint64
	casSuccess, casFail       atomic.Uint64
	cadSuccess, cadFail       atomic.Uint64
	expireCount               atomic.Uint64
}

func (c *counters) count(ok, fail *atomic.Uint64, err *Error) {
	if err == nil {
		ok.Add(1)
	} else {
		fail.Add(1)
	}
}

// replicated lists the counters that are part of the replicated state, in
// snapshot order.
func (c *counters) replicated() []*atomic.Uint64 {
	return []*atomic.Uint64{
		&c.setsSuccess, &c.setsFail, &c.deleteSuccess, &c.deleteFail,
		&c.updateSuccess, &c.updateFail, &c.createSuccess, &c.createFail,
		&c.casSuccess, &c.casFail, &c.cadSuccess, &c.cadFail, &c.expireCount,
	}
}

// Stats is the /v2/stats/store counter set (spec 1.1).
type Stats struct {
	GetsSuccess             uint64
	GetsFail                uint64
	SetsSuccess             uint64
	SetsFail                uint64
	DeleteSuccess           uint64
	DeleteFail              uint64
	UpdateSuccess           uint64
	UpdateFail              uint64
	CreateSuccess           uint64
	CreateFail              uint64
	CompareAndSwapSuccess   uint64
	CompareAndSwapFail      uint64
	CompareAndDeleteSuccess uint64
	CompareAndDeleteFail    uint64
	ExpireCount             uint64
	Watchers                uint64
}

// Stats returns the current counters. Safe to call at any time.
func (s *Store) Stats() Stats {
	c := &s.stats
	s.hub.mu.Lock()
	watchers := uint64(s.hub.count)
	s.hub.mu.Unlock()
	return Stats{
		GetsSuccess: c.getsSuccess.Load(), GetsFail: c.getsFail.Load(),
		SetsSuccess: c.setsSuccess.Load(), SetsFail: c.setsFail.Load(),
		DeleteSuccess: c.deleteSuccess.Load(), DeleteFail: c.deleteFail.Load(),
		UpdateSuccess: c.updateSuccess.Load(), UpdateFail: c.updateFail.Load(),
		CreateSuccess: c.createSuccess.Load(), CreateFail: c.createFail.Load(),
		CompareAndSwapSuccess: c.casSuccess.Load(), CompareAndSwapFail: c.casFail.Load(),
		CompareAndDeleteSuccess: c.cadSuccess.Load(), CompareAndDeleteFail: c.cadFail.Load(),
		ExpireCount: c.expireCount.Load(),
		Watchers:    watchers,
	}
}
