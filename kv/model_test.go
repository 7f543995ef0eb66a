package kv

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// model is a naive oracle for the store: a flat map from path to node with
// the rules of spec 1.3-1.8 written out directly, no tree, no history.
type model struct {
	nodes map[string]*mnode
	index uint64
}

type mnode struct {
	value             string
	dir               bool
	created, modified uint64
	expire            int64
}

func newModel() *model {
	m := &model{nodes: map[string]*mnode{"/": {dir: true}}}
	m.nodes["/0"] = &mnode{dir: true}
	m.nodes["/1"] = &mnode{dir: true}
	return m
}

func (m *model) err(code int, cause string) *Error { return newError(code, cause, m.index) }

func (m *model) lookup(p string) (*mnode, *Error) {
	for d := 1; d <= depth(p); d++ {
		if par := m.nodes[ancestorAt(p, d-1)]; !par.dir {
			return nil, m.err(EcodeNotDir, ancestorAt(p, d-1))
		}
		if m.nodes[ancestorAt(p, d)] == nil {
			return nil, m.err(EcodeKeyNotFound, ancestorAt(p, d))
		}
	}
	return m.nodes[p], nil
}

func (m *model) ext(p string, n *mnode, now int64) *Node {
	st := nodeState{path: p, value: n.value, dir: n.dir, created: n.created, modified: n.modified, expire: n.expire}
	return st.extern(now)
}

func (m *model) children(p string) []string {
	var out []string
	for q := range m.nodes {
		if q != "/" && isUnder(q, p) && depth(q) == depth(p)+1 {
			out = append(out, q)
		}
	}
	slices.Sort(out)
	return out
}

func (m *model) removeTree(p string) {
	for q := range m.nodes {
		if q == p || isUnder(q, p) {
			delete(m.nodes, q)
		}
	}
}

func readOnly(p string) bool { return p == "/" || p == "/0" || p == "/1" }

func (m *model) apply(r Request) (*Event, *Error) {
	p := cleanPath(r.Path)
	var exp int64
	if r.HasTTL {
		exp = r.Time + r.TTL*sec
	}
	switch r.Op {
	case OpPut:
		switch {
		case r.PrevExist == PrevExistTrue && r.PrevIndex == 0 && r.PrevValue == "":
			return m.modify(ActionUpdate, p, r, exp)
		case r.PrevExist == PrevExistTrue || (r.PrevExist == PrevExistUnset && (r.PrevIndex > 0 || r.PrevValue != "")):
			return m.modify(ActionCompareAndSwap, p, r, exp)
		case r.PrevExist == PrevExistFalse:
			return m.create(ActionCreate, p, r, exp, false)
		}
		value := r.Value
		cur, err := m.lookup(p)
		if err != nil && (err.Code != EcodeKeyNotFound || r.Refresh) {
			return nil, err
		}
		if r.Refresh {
			value = cur.value
		}
		r.Value = value
		return m.create(ActionSet, p, r, exp, true)
	case OpPost:
		return m.create(ActionCreate, fmt.Sprintf("%s/%020d", strings.TrimSuffix(p, "/"), m.index+1), r, exp, false)
	case OpDelete:
		return m.remove(p, r)
	case OpGet:
		n, err := m.lookup(p)
		if err != nil {
			return nil, err
		}
		return &Event{Action: ActionGet, Node: m.render(p, n, r.Recursive, true, r.Time), Index: m.index}, nil
	case OpExpire:
		return m.expire(r.Time), nil
	}
	panic("bad op")
}

func (m *model) render(p string, n *mnode, recursive, top bool, now int64) *Node {
	x := m.ext(p, n, now)
	if n.dir && (top || recursive) {
		for _, c := range m.children(p) {
			if _, name := splitPath(c); strings.HasPrefix(name, "_") {
				continue
			}
			x.Nodes = append(x.Nodes, m.render(c, m.nodes[c], recursive, false, now))
		}
	}
	return x
}

func (m *model) create(action, p string, r Request, exp int64, replace bool) (*Event, *Error) {
	if readOnly(p) {
		return nil, m.err(EcodeRootROnly, "/")
	}
	next := m.index + 1
	// Every existing ancestor must be a directory.
	for d := 1; d < depth(p); d++ {
		a := ancestorAt(p, d)
		if n := m.nodes[a]; n != nil && !n.dir {
			return nil, m.err(EcodeNotDir, a)
		}
	}
	var prev *Node
	if old := m.nodes[p]; old != nil {
		if !replace {
			return nil, m.err(EcodeNodeExist, p)
		}
		if old.dir {
			return nil, m.err(EcodeNotFile, p)
		}
		prev = m.ext(p, old, r.Time)
	}
	for d := 1; d < depth(p); d++ {
		if a := ancestorAt(p, d); m.nodes[a] == nil {
			m.nodes[a] = &mnode{dir: true, created: next, modified: next}
		}
	}
	n := &mnode{dir: r.Dir, created: next, modified: next, expire: exp}
	if !r.Dir {
		n.value = r.Value
	}
	m.nodes[p] = n
	m.index = next
	return &Event{Action: action, Node: m.ext(p, n, r.Time), PrevNode: prev, Index: next, Refresh: r.Refresh}, nil
}

func (m *model) modify(action, p string, r Request, exp int64) (*Event, *Error) {
	if readOnly(p) {
		return nil, m.err(EcodeRootROnly, "/")
	}
	n, err := m.lookup(p)
	if err != nil {
		return nil, err
	}
	value := r.Value
	if action == ActionUpdate && n.dir && value != "" || action == ActionCompareAndSwap && n.dir {
		return nil, m.err(EcodeNotFile, p)
	}
	if action == ActionCompareAndSwap {
		if err := m.compare(n, r); err != nil {
			return nil, err
		}
	}
	if r.Refresh {
		value = n.value
	}
	next := m.index + 1
	prev := m.ext(p, n, r.Time)
	if !n.dir {
		n.value, n.modified = value, next
	}
	n.expire = exp
	x := m.ext(p, n, r.Time)
	x.ModifiedIndex = next
	m.index = next
	return &Event{Action: action, Node: x, PrevNode: prev, Index: next, Refresh: r.Refresh}, nil
}

func (m *model) compare(n *mnode, r Request) *Error {
	vBad := r.PrevValue != "" && r.PrevValue != n.value
	iBad := r.PrevIndex != 0 && r.PrevIndex != n.modified
	switch {
	case vBad && iBad:
		return m.err(EcodeTestFailed, fmt.Sprintf("[%s != %s] [%d != %d]", r.PrevValue, n.value, r.PrevIndex, n.modified))
	case vBad:
		return m.err(EcodeTestFailed, fmt.Sprintf("[%s != %s]", r.PrevValue, n.value))
	case iBad:
		return m.err(EcodeTestFailed, fmt.Sprintf("[%d != %d]", r.PrevIndex, n.modified))
	}
	return nil
}

func (m *model) remove(p string, r Request) (*Event, *Error) {
	cad := r.PrevIndex > 0 || r.PrevValue != ""
	if !cad && readOnly(p) {
		return nil, m.err(EcodeRootROnly, "/")
	}
	n, err := m.lookup(p)
	if err != nil {
		return nil, err
	}
	action := ActionDelete
	if cad {
		action = ActionCompareAndDelete
		if n.dir {
			return nil, m.err(EcodeNotFile, p)
		}
		if err := m.compare(n, r); err != nil {
			return nil, err
		}
	} else if n.dir {
		if !r.Dir && !r.Recursive {
			return nil, m.err(EcodeNotFile, p)
		}
		if len(m.children(p)) > 0 && !r.Recursive {
			return nil, m.err(EcodeDirNotEmpty, p)
		}
	}
	return m.drop(action, p, n, r.Time), nil
}

func (m *model) drop(action, p string, n *mnode, now int64) *Event {
	next := m.index + 1
	ev := &Event{Action: action, Node: &Node{Key: p, Dir: n.dir, ModifiedIndex: next, CreatedIndex: n.created},
		PrevNode: m.ext(p, n, now), Index: next}
	m.removeTree(p)
	m.index = next
	return ev
}

func (m *model) expire(now int64) *Event {
	var due []string
	for p, n := range m.nodes {
		if n.expire != 0 && n.expire <= now {
			due = append(due, p)
		}
	}
	slices.SortFunc(due, func(a, b string) int {
		if ea, eb := m.nodes[a].expire, m.nodes[b].expire; ea != eb {
			return cmp.Compare(ea, eb)
		}
		return cmpPath(a, b)
	})
	var last *Event
	for _, p := range due {
		if n := m.nodes[p]; n != nil {
			last = m.drop(ActionExpire, p, n, now)
		}
	}
	return last
}

// dump renders every node, hidden ones included, in tree order.
func (m *model) dump() string {
	var keys []string
	for p := range m.nodes {
		keys = append(keys, p)
	}
	slices.SortFunc(keys, cmpPath)
	var b strings.Builder
	for _, p := range keys {
		b.WriteString(nodeString(m.ext(p, m.nodes[p], t0)))
		b.WriteByte('\n')
	}
	return b.String()
}

func dumpStore(s *Store) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b strings.Builder
	var walk func(p string, n *node)
	walk = func(p string, n *node) {
		st := n.state(p)
		b.WriteString(nodeString(st.extern(t0)))
		b.WriteByte('\n')
		if n.isDir() {
			n.kids.each(func(c *node) bool {
				walk(joinPath(p, c.name), c)
				return true
			})
		}
	}
	walk("/", s.root)
	return b.String()
}

// genRequest draws a random request over a small key space so that
// operations collide often. now is advanced by the caller.
func genRequest(rng *rand.Rand, now int64) Request {
	names := []string{"a", "b", "_h", "c"}
	var p strings.Builder
	for d := 1 + rng.IntN(3); d > 0; d-- {
		p.WriteString("/" + names[rng.IntN(len(names))])
	}
	if rng.IntN(20) == 0 {
		p.Reset()
		p.WriteString([]string{"/", "/0", "/1"}[rng.IntN(3)])
	}
	values := []string{"", "x", "y"}
	r := Request{Path: p.String(), Value: values[rng.IntN(3)], Time: now}
	if rng.IntN(4) == 0 {
		r.HasTTL, r.TTL = true, int64(rng.IntN(4))
	}
	switch k := rng.IntN(14); {
	case k < 4:
		r.Op = OpPut
		r.Dir = rng.IntN(5) == 0
		if r.HasTTL && rng.IntN(4) == 0 {
			r.Refresh, r.Value, r.Dir = true, "", false
		}
	case k < 5:
		r.Op, r.PrevExist = OpPut, PrevExistFalse
		r.Dir = rng.IntN(4) == 0
	case k < 6:
		r.Op, r.PrevExist = OpPut, PrevExistTrue
		r.Refresh = rng.IntN(3) == 0 && r.HasTTL
		if r.Refresh {
			r.Value = ""
		}
	case k < 8:
		r.Op = OpPut
		r.PrevExist = []PrevExist{PrevExistUnset, PrevExistTrue}[rng.IntN(2)]
		r.PrevValue = values[1+rng.IntN(2)]
		if rng.IntN(2) == 0 {
			r.PrevValue = ""
			r.PrevIndex = uint64(1 + rng.IntN(30))
		}
	case k < 9:
		r.Op = OpPost
	case k < 11:
		r.Op = OpDelete
		r.Dir = rng.IntN(2) == 0
		r.Recursive = rng.IntN(3) == 0
		r.HasTTL, r.TTL = false, 0
	case k < 12:
		r.Op = OpDelete
		r.PrevValue = values[1+rng.IntN(2)]
		r.HasTTL, r.TTL = false, 0
	case k < 13:
		r.Op = OpGet
		r.Recursive = rng.IntN(2) == 0
		r.HasTTL, r.TTL = false, 0
	default:
		return Request{Op: OpExpire, Time: now}
	}
	return r
}

// genLog draws n requests with time advancing by 0-1.5 s per request.
func genLog(seed uint64, n int) []Request {
	rng := rand.New(rand.NewPCG(seed, 42))
	now := t0
	reqs := make([]Request, n)
	for i := range reqs {
		now += int64(rng.IntN(1500)) * int64(time.Millisecond)
		reqs[i] = genRequest(rng, now)
	}
	return reqs
}

// TestStoreAgainstModel runs random request sequences through the store
// and the naive model and compares every result, every error and the final
// state (STYLE habit 9).
func TestStoreAgainstModel(t *testing.T) {
	seeds, steps := 200, 300
	if testing.Short() {
		seeds = 40
	}
	deadline := time.Now().Add(20 * time.Second)
	for seed := range seeds {
		if time.Now().After(deadline) {
			t.Logf("stopped after %d seeds (time bound)", seed)
			break
		}
		s := newTestStore(t, Config{})
		m := newModel()
		for i, r := range genLog(uint64(seed), steps) {
			ev, err := s.Apply(r)
			mev, mderr := m.apply(r)
			var merr error
			if mderr != nil {
				merr = mderr
			}
			if got, want := errString(err), errString(merr); got != want {
				t.Fatalf("seed %d step %d %+v:\nerror %q\nmodel %q", seed, i, r, got, want)
			}
			if got, want := eventString(ev), eventString(mev); err == nil && got != want {
				t.Fatalf("seed %d step %d %+v:\nevent %s\nmodel %s", seed, i, r, got, want)
			}
			if s.Index() != m.index {
				t.Fatalf("seed %d step %d: index %d, model %d", seed, i, s.Index(), m.index)
			}
		}
		if got, want := dumpStore(s), m.dump(); got != want {
			t.Fatalf("seed %d final state:\n%s\nmodel:\n%s", seed, got, want)
		}
	}
}
