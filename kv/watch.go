package kv

import (
	"fmt"
	"strings"
	"sync"
)

// Watcher receives the events matching one watch (spec 1.7). Read them
// from Events until the channel is closed, then Err says why it ended.
type Watcher struct {
	// StartIndex is the store index when the watch was registered
	// (X-Etcd-Index of a watch response).
	StartIndex uint64

	ch        chan *Event
	hub       *hub
	path      string
	recursive bool
	stream    bool
	since     uint64 // deliver only events with Index >= since
	wn        *wnode // where it is registered; nil once ended

	// err is set, under hub.mu, when ch is closed.
	err error
}

// Events returns the channel of events. It is closed when the watcher
// ends: after its one event (non-stream), on Remove, on overflow, or on
// Restore.
func (w *Watcher) Events() <-chan *Event { return w.ch }

// Err returns why the watcher ended (ErrWatcherDone, ErrWatcherRemoved,
// ErrWatcherOverflow, ErrStoreReset), or nil while it is live.
func (w *Watcher) Err() error {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	return w.err
}

// Remove ends the watcher and closes its channel. It is idempotent.
func (w *Watcher) Remove() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	w.hub.end(w, ErrWatcherRemoved)
}

// wnode is a node of the trie of watched paths. Only paths with watchers
// (and their ancestors) have wnodes, so idle watchers cost one small
// struct each and an apply visits only the event key's ancestors.
//
// Watchers are split by kind so an apply never scans non-recursive
// watchers on an ancestor, which cannot match.
type wnode struct {
	parent *wnode
	name   string
	kids   map[string]*wnode
	rec    []*Watcher // recursive watchers on this path
	exact  []*Watcher // non-recursive watchers on this path
}

func (x *wnode) list(recursive bool) *[]*Watcher {
	if recursive {
		return &x.rec
	}
	return &x.exact
}

// hub indexes watchers by path and delivers events. Its mutex also guards
// the history for readers that do not hold the store lock (Watch).
type hub struct {
	mu      sync.Mutex
	root    wnode
	count   int
	bufSize int
	index   uint64 // store index as of the last applied event, under mu
}

func (h *hub) lookup(p string, create bool) *wnode {
	n := &h.root
	if p == "/" {
		return n
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		c := n.kids[seg]
		if c == nil {
			if !create {
				return nil
			}
			if n.kids == nil {
				n.kids = make(map[string]*wnode)
			}
			c = &wnode{parent: n, name: seg}
			n.kids[seg] = c
		}
		n = c
	}
	return n
}

func (h *hub) register(w *Watcher) {
	wn := h.lookup(w.path, true)
	l := wn.list(w.recursive)
	*l = append(*l, w)
	w.wn = wn
	h.count++
}

// end unregisters w, closes its channel and records why. Caller holds mu.
func (h *hub) end(w *Watcher, why error) {
	if w.err != nil {
		return
	}
	w.err = why
	close(w.ch)
	wn := w.wn
	if wn == nil {
		return
	}
	w.wn = nil
	h.count--
	l := wn.list(w.recursive)
	for i, x := range *l {
		if x == w {
			last := len(*l) - 1
			(*l)[i] = (*l)[last]
			(*l)[last] = nil
			*l = (*l)[:last]
			break
		}
	}
	if len(*l) == 0 {
		*l = nil
	}
	// Prune empty trie branches.
	for wn.parent != nil && len(wn.rec) == 0 && len(wn.exact) == 0 && len(wn.kids) == 0 {
		delete(wn.parent.kids, wn.name)
		wn = wn.parent
	}
}

// deliver sends ev to w without blocking. A full buffer ends the watcher
// with ErrWatcherOverflow; a non-stream watcher ends after one event.
// Caller holds mu.
func (h *hub) deliver(w *Watcher, ev *Event) {
	select {
	case w.ch <- ev:
		if !w.stream {
			h.end(w, ErrWatcherDone)
		}
	default:
		h.end(w, ErrWatcherOverflow)
	}
}

// isHiddenBelow reports whether key has a hidden segment below watchPath
// (etcd's isHidden). watchPath is an ancestor of (or equal to) key.
func isHiddenBelow(watchPath, key string) bool {
	if len(watchPath) > len(key) {
		return false
	}
	rest := key[len(watchPath):]
	if watchPath == "/" {
		rest = key
	}
	return strings.Contains(rest, "/_")
}

// notify delivers rec's event to matching watchers (spec 1.7 rules a, b,
// c, hidden paths). Caller holds mu. Refresh events are never delivered.
func (h *hub) notify(rec *record) {
	ev := rec.ev
	if ev.Refresh || h.count == 0 {
		return
	}
	key := ev.Node.Key
	var hits []*Watcher
	n := &h.root
	cur := "/" // always key itself or a prefix of it: no allocation
	for {
		orig := cur == key
		if len(n.rec) > 0 && (orig || !isHiddenBelow(cur, key)) {
			for _, w := range n.rec {
				if ev.Index >= w.since {
					hits = append(hits, w)
				}
			}
		}
		if orig {
			for _, w := range n.exact {
				if ev.Index >= w.since {
					hits = append(hits, w)
				}
			}
			break
		}
		// Next segment of key below cur.
		start := len(cur) + 1
		if cur == "/" {
			start = 1
		}
		end := start
		for end < len(key) && key[end] != '/' {
			end++
		}
		n = n.kids[key[start:end]]
		if n == nil {
			break
		}
		cur = key[:end]
	}
	// Rule c: deleting or expiring a directory notifies the watchers,
	// recursive or not, on every node of the removed subtree (etcd calls
	// them back node by node; a watcher on a path below the directory
	// that was not a node is not notified, checked against etcd 3.4).
	if n != nil && cur == key && isDirRemoval(ev) && rec.removed != nil {
		var walk func(*wnode, *node)
		walk = func(x *wnode, d *node) {
			if d.kids == nil {
				return
			}
			for name, c := range x.kids {
				child := d.kids.get(name)
				if child == nil {
					continue
				}
				for _, l := range [][]*Watcher{c.rec, c.exact} {
					for _, w := range l {
						if ev.Index >= w.since {
							hits = append(hits, w)
						}
					}
				}
				walk(c, child)
			}
		}
		walk(n, rec.removed)
	}
	for _, w := range hits {
		h.deliver(w, ev)
	}
}

func isDirRemoval(ev *Event) bool {
	return (ev.Action == ActionDelete || ev.Action == ActionExpire) && ev.PrevNode != nil && ev.PrevNode.Dir
}

// matches is the history-scan form of the rules (etcd's EventHistory.scan).
// Like etcd's
// scan, and unlike live delivery, it does not skip hidden keys: a
// recursive watch answered from history can return an event on a hidden
// key below the watched path (checked against etcd 3.4 by
// httpapi/conformance).
//
// Rule c in a scan is etcd's string-prefix test: a directory delete or
// expire of /ab matches a watch on /ab/x whether or not that node existed,
// and also a watch on /abc (etcd's quirk, kept for compatibility).
func matches(ev *Event, p string, recursive bool) bool {
	if ev.Refresh {
		return false
	}
	key := ev.Node.Key
	if key == p {
		return true
	}
	if recursive && isUnder(key, p) {
		return true
	}
	return isDirRemoval(ev) && strings.HasPrefix(p, key)
}

// Watch registers a watcher on path (cleaned). recursive includes the
// subtree; stream keeps delivering instead of ending after one event.
//
// sinceIndex 0 waits for events after the current index. Otherwise events
// with Index >= sinceIndex are delivered; those already in the history are
// answered from it at once (all of them for a stream, in order and without
// gaps before live events; the first for a non-stream watch). If
// sinceIndex is older than the retained history, Watch returns a *Error
// with code 401 and cause "the requested history has been cleared
// [<start>/<asked>]".
//
// Watch only takes the hub's mutex, never the store lock.
func (s *Store) Watch(p string, recursive, stream bool, sinceIndex uint64) (*Watcher, error) {
	p = cleanPath(p)
	h := &s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	buf := 1
	if stream {
		buf = h.bufSize
	}
	w := &Watcher{
		StartIndex: h.index,
		ch:         make(chan *Event, buf),
		hub:        h,
		path:       p,
		recursive:  recursive,
		stream:     stream,
		since:      sinceIndex,
	}
	if sinceIndex == 0 || sinceIndex > h.index {
		w.since = max(sinceIndex, h.index+1)
		h.register(w)
		return w, nil
	}
	hist := &s.hist
	if sinceIndex < hist.first {
		return nil, newError(EcodeEventIndexCleared,
			fmt.Sprintf("the requested history has been cleared [%d/%d]", hist.first, sinceIndex), h.index)
	}
	w.since = h.index + 1
	for i := sinceIndex; i <= h.index; i++ {
		ev := hist.at(i).ev
		if !matches(ev, p, recursive) {
			continue
		}
		if !stream {
			w.ch <- ev
			w.err = ErrWatcherDone
			close(w.ch)
			return w, nil
		}
		select {
		case w.ch <- ev:
		default:
			w.err = ErrWatcherOverflow
			close(w.ch)
			return w, nil
		}
	}
	h.register(w)
	return w, nil
}

// resetWatchers ends every watcher with why. Caller holds mu.
func (h *hub) resetWatchers(why error) {
	var all []*Watcher
	var walk func(*wnode)
	walk = func(x *wnode) {
		all = append(all, x.rec...)
		all = append(all, x.exact...)
		for _, c := range x.kids {
			walk(c)
		}
	}
	walk(&h.root)
	for _, w := range all {
		h.end(w, why)
	}
}
