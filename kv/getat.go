package kv

import (
	"fmt"
	"slices"
)

// region selects the paths an undo pass reconstructs.
type region interface {
	// has reports whether path p is in the region.
	has(p string) bool
	// enter reports whether some path strictly below directory d may be
	// in the region.
	enter(d string) bool
}

// overlay maps paths to their reconstructed state; a nil entry means the
// path did not exist.
type overlay map[string]*nodeState

func (m overlay) put(st nodeState) { m[st.path] = &st }

// undo reverts the effect of rec on m, restricted to reg. Records must be
// undone newest first, starting from the live state of reg.
func (m overlay) undo(rec *record, reg region) {
	ev := rec.ev
	k := ev.Node.Key
	if ev.PrevNode == nil {
		// The operation created k, and maybe directories above it.
		if reg.has(k) {
			m[k] = nil
		}
		d := depth(k)
		for i := 0; i < rec.created; i++ {
			if a := ancestorAt(k, d-1-i); reg.has(a) {
				m[a] = nil
			}
		}
		return
	}
	if reg.has(k) {
		m.put(stateOf(ev.PrevNode))
	}
	if rec.removed != nil && reg.enter(k) {
		m.putSubtree(k, rec.removed, reg)
	}
}

// putSubtree adds the children of detached directory n at path p.
func (m overlay) putSubtree(p string, n *node, reg region) {
	n.kids.each(func(c *node) bool {
		cp := joinPath(p, c.name)
		if reg.has(cp) {
			m.put(c.state(cp))
		}
		if c.isDir() && reg.enter(cp) {
			m.putSubtree(cp, c, reg)
		}
		return true
	})
}

func stateOf(n *Node) nodeState {
	st := nodeState{path: n.Key, dir: n.Dir, created: n.CreatedIndex, modified: n.ModifiedIndex, expire: n.Expiration}
	if n.Value != nil {
		st.value = *n.Value
	}
	return st
}

// subtreeRegion is a path p, its ancestors, and its children (all
// descendants if recursive).
type subtreeRegion struct {
	p         string
	recursive bool
}

func (r subtreeRegion) has(q string) bool {
	if q == r.p || isUnder(r.p, q) {
		return true
	}
	return isUnder(q, r.p) && (r.recursive || depth(q) == depth(r.p)+1)
}

func (r subtreeRegion) enter(d string) bool {
	return d == r.p || isUnder(r.p, d) || (r.recursive && isUnder(d, r.p))
}

// GetAt returns what Get(p, recursive, sorted) returned right after store
// index atIndex was applied, on any member, with TTLs computed against
// now. It needs the history from atIndex+1 to the current index: an older
// index (or one beyond the current index) fails with a *Error of code
// EcodeIndexCompacted (460). Errors of the read itself (100, 104) carry
// Index = atIndex, and the event's Index is atIndex.
//
// It works by undoing, over a copy of the live subtree, the retained
// events newer than atIndex (events carry the previous node; directory
// removals keep the detached subtree).
func (s *Store) GetAt(p string, atIndex uint64, recursive, sorted bool, now int64) (*Event, error) {
	p = cleanPath(p)
	m, recs, err := s.getAtPrepare(p, atIndex, recursive, now)
	if m == nil {
		if err != nil {
			return nil, err
		}
		return recs[0].ev, nil // atIndex is the current index: a plain get
	}
	// Undo outside the lock: records and detached subtrees are immutable.
	reg := subtreeRegion{p: p, recursive: recursive}
	for i := len(recs) - 1; i >= 0; i-- {
		m.undo(recs[i], reg)
	}
	ev, gerr := m.get(p, recursive, now, atIndex)
	s.stats.count(&s.stats.getsSuccess, &s.stats.getsFail, gerr)
	if gerr != nil {
		return nil, gerr
	}
	return ev, nil
}

// getAtPrepare copies, under the read lock, the live state of GetAt's
// region and the records after atIndex. When atIndex is the current index
// it answers directly: a nil overlay with either an error or the event in
// a one-record slice.
func (s *Store) getAtPrepare(p string, atIndex uint64, recursive bool, now int64) (overlay, []*record, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if atIndex > s.index || (atIndex < s.index && !s.hist.has(atIndex+1)) {
		return nil, nil, newError(EcodeIndexCompacted,
			fmt.Sprintf("the requested index is not retained [%d/%d/%d]", s.hist.first, atIndex, s.index), s.index)
	}
	if atIndex == s.index {
		ev, err := s.get(p, recursive, now)
		if err != nil {
			return nil, nil, err
		}
		return nil, []*record{{ev: ev}}, nil
	}
	reg := subtreeRegion{p: p, recursive: recursive}
	m := overlay{}
	// Live state of the region: the ancestors, then the subtree.
	n := s.root
	m.put(n.state("/"))
	cur := "/"
	if p != "/" {
		for i := 1; i <= len(p); {
			j := i
			for j < len(p) && p[j] != '/' {
				j++
			}
			if !n.isDir() {
				n = nil
				break
			}
			n = n.kids.get(p[i:j])
			if n == nil {
				break
			}
			cur = p[:j]
			m.put(n.state(cur))
			i = j + 1
		}
	}
	if n != nil && cur == p && n.isDir() {
		m.putSubtree(p, n, reg)
	}
	recs := make([]*record, 0, s.index-atIndex)
	for i := atIndex + 1; i <= s.index; i++ {
		recs = append(recs, s.hist.at(i))
	}
	return m, recs, nil
}

// get is Get over a reconstructed overlay.
func (m overlay) get(p string, recursive bool, now int64, idx uint64) (*Event, *Error) {
	// Emulate walkGet over the overlay for etcd's error causes.
	for d := 1; d <= depth(p); d++ {
		parent := m[ancestorAt(p, d-1)]
		if parent != nil && !parent.dir {
			return nil, newError(EcodeNotDir, parent.path, idx)
		}
		if a := ancestorAt(p, d); m[a] == nil {
			return nil, newError(EcodeKeyNotFound, a, idx)
		}
	}
	st := m[p]
	node := st.extern(now)
	if st.dir {
		var below []*nodeState
		for q, x := range m {
			if x != nil && isUnder(q, p) {
				below = append(below, x)
			}
		}
		slices.SortFunc(below, func(a, b *nodeState) int { return cmpPath(a.path, b.path) })
		node.Nodes, _ = buildNodes(p, below, recursive, now)
	}
	return &Event{Action: ActionGet, Node: node, Index: idx}, nil
}

// buildNodes turns the sorted states below dir into its listing, leaving
// out hidden children and their subtrees; it returns the listing and the
// number of states consumed.
func buildNodes(dir string, below []*nodeState, recursive bool, now int64) ([]*Node, int) {
	var out []*Node
	i := 0
	for i < len(below) && isUnder(below[i].path, dir) {
		st := below[i]
		i++
		_, name := splitPath(st.path)
		var kids []*Node
		if st.dir {
			var used int
			kids, used = buildNodes(st.path, below[i:], recursive, now)
			i += used
		}
		if isHiddenName(name) {
			continue
		}
		x := st.extern(now)
		if recursive {
			x.Nodes = kids
		}
		out = append(out, x)
	}
	return out, i
}
