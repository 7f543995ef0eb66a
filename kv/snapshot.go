package kv

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Snapshot stream format (all integers varints as in AppendRequest):
//
//	"CKVS" version(1)
//	index
//	13 replicated counters (sets, deletes, updates, creates, CAS, CAD
//	  success/fail pairs, then expireCount)
//	nodes, depth-first in name order, the root first:
//	  tag 1, depth, name, flags (1 = dir), created, modified,
//	  expire (signed), value (files only)
//	tag 0
//	history: first index, count, then per record:
//	  action, flags (1 refresh, 2 prevNode, 4 removed subtree),
//	  node, [prevNode], created dirs, [subtree: nodes as above with
//	  depth relative to the removed directory, then tag 0]
//	  where a node is key, flags (1 dir, 2 value), [value],
//	  expiration, ttl (signed), modifiedIndex, createdIndex
//	"CKVE"
//
// The stream is deterministic: two stores that applied the same requests
// with the same Config write identical bytes.
const (
	snapMagic   = "CKVS"
	snapTrailer = "CKVE"
	snapVersion = 1
	// maxSnapString bounds any one string in a snapshot.
	maxSnapString = 64 << 20
)

// saveChunk is how many live nodes Save copies per read-lock hold (a
// variable so tests can force many small chunks).
var saveChunk = 1024

// Save writes the whole store (nodes, TTLs, history, index and replicated
// counters) as it was at the moment Save was called. It holds the store
// lock only briefly, once per chunk of saveChunk nodes, so applies go on
// while a large store is written: each chunk is read live and the events
// applied since are undone for that chunk's key range.
func (s *Store) Save(w io.Writer) error {
	s.mu.RLock()
	n := s.index
	gen := s.gen
	var ctr []uint64
	for _, c := range s.stats.replicated() {
		ctr = append(ctr, c.Load())
	}
	var hist []*record
	first := s.hist.window(n)
	for i := first; i <= n && s.hist.has(i); i++ {
		hist = append(hist, s.hist.at(i))
	}
	s.hub.mu.Lock()
	s.hist.pin(n)
	s.hub.mu.Unlock()
	s.mu.RUnlock()
	defer func() {
		s.mu.Lock()
		s.hub.mu.Lock()
		s.hist.unpin(n)
		s.hub.mu.Unlock()
		s.mu.Unlock()
	}()

	bw := bufio.NewWriterSize(w, 64<<10)
	buf := append([]byte(snapMagic), snapVersion)
	buf = binary.AppendUvarint(buf, n)
	for _, c := range ctr {
		buf = binary.AppendUvarint(buf, c)
	}
	if _, err := bw.Write(buf); err != nil {
		return err
	}

	// Nodes, chunk by chunk. Records applied since n wait in pending,
	// ordered by the first path they can affect; a chunk undoes only the
	// records whose span meets its range, so the work stays proportional
	// to the applies, not to applies times chunks.
	lo := ""
	next := n + 1 // next record index to pick up
	var pending spanHeap
	var active []*span
	chunk := &liveChunk{}
	for {
		s.mu.RLock()
		if s.gen != gen {
			s.mu.RUnlock()
			return ErrStoreReset
		}
		chunk.reset()
		done := s.collectAfter(lo, saveChunk, chunk)
		newRecs := make([]*record, 0, s.index+1-next)
		for ; next <= s.index; next++ {
			newRecs = append(newRecs, s.hist.at(next))
		}
		s.mu.RUnlock()
		chunk.paths()
		live := chunk.states
		for _, r := range newRecs {
			heap.Push(&pending, newSpan(r))
		}
		hi := ""
		if !done {
			hi = live[len(live)-1].path
		}
		for len(pending) > 0 && (hi == "" || cmpPath(pending[0].first, hi) <= 0) {
			sp := heap.Pop(&pending).(*span)
			if !sp.before(lo) {
				active = append(active, sp)
			}
		}
		slices.SortFunc(active, func(a, b *span) int { return cmp.Compare(b.rec.ev.Index, a.rec.ev.Index) })
		// Undo into a small overlay, then merge it with the (sorted) live
		// states: the overlay wins, nil entries drop the path.
		reg := rangeRegion{lo: lo, hi: hi}
		m := overlay{}
		for _, sp := range active {
			m.undo(sp.rec, reg)
		}
		touched := make([]string, 0, len(m))
		for p := range m {
			touched = append(touched, p)
		}
		slices.SortFunc(touched, cmpPath)
		buf = buf[:0]
		emit := func(st *nodeState) {
			_, name := splitPath(st.path)
			if st.path == "/" {
				name = ""
			}
			buf = appendSnapNode(buf, depth(st.path), name, st)
		}
		for i := 0; i < len(live) || len(touched) > 0; {
			var c int
			switch {
			case len(touched) == 0:
				c = -1
			case i == len(live):
				c = 1
			default:
				c = cmpPath(live[i].path, touched[0])
			}
			if c < 0 {
				emit(&live[i])
				i++
				continue
			}
			if st := m[touched[0]]; st != nil {
				emit(st)
			}
			touched = touched[1:]
			if c == 0 {
				i++
			}
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
		if done {
			break
		}
		// Records wholly at or before hi cannot touch later chunks.
		kept := active[:0]
		for _, sp := range active {
			if !sp.before(hi) {
				kept = append(kept, sp)
			}
		}
		clear(active[len(kept):])
		active = kept
		lo = hi
		if s.afterSaveChunk != nil {
			s.afterSaveChunk()
		}
	}

	// History.
	buf = append(buf[:0], 0)
	start := n + 1
	if len(hist) > 0 {
		start = hist[0].ev.Index
	}
	buf = binary.AppendUvarint(buf, start)
	buf = binary.AppendUvarint(buf, uint64(len(hist)))
	for _, r := range hist {
		buf = appendRecord(buf, r)
		if len(buf) > 64<<10 {
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, snapTrailer...)
	if _, err := bw.Write(buf); err != nil {
		return err
	}
	return bw.Flush()
}

// span is the stretch of tree order a record can change: from the highest
// directory it created (or its key) to its key, or to the end of its key's
// subtree when it removed a directory.
type span struct {
	rec     *record
	first   string
	subtree bool
}

func newSpan(r *record) *span {
	k := r.ev.Node.Key
	sp := &span{rec: r, first: k, subtree: r.removed != nil}
	if r.created > 0 {
		sp.first = ancestorAt(k, depth(k)-r.created)
	}
	return sp
}

// before reports whether the whole span lies at or before path p.
func (sp *span) before(p string) bool {
	if p == "" {
		return false
	}
	k := sp.rec.ev.Node.Key
	if cmpPath(k, p) > 0 {
		return false
	}
	return !sp.subtree || !(k == p || isUnder(p, k))
}

// spanHeap orders spans by their first path.
type spanHeap []*span

func (h spanHeap) Len() int           { return len(h) }
func (h spanHeap) Less(i, j int) bool { return cmpPath(h[i].first, h[j].first) < 0 }
func (h spanHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *spanHeap) Push(x any)        { *h = append(*h, x.(*span)) }
func (h *spanHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

// rangeRegion is the paths p with lo < p <= hi in tree order ("" for lo is
// before everything, "" for hi after everything).
type rangeRegion struct{ lo, hi string }

func (r rangeRegion) has(p string) bool {
	return (r.lo == "" || cmpPath(p, r.lo) > 0) && (r.hi == "" || cmpPath(p, r.hi) <= 0)
}

func (r rangeRegion) enter(d string) bool {
	if r.hi != "" && cmpPath(d, r.hi) >= 0 {
		return false
	}
	// The subtree of d directly follows d; it lies wholly before lo when
	// lo comes after d without being inside it.
	return r.lo == "" || cmpPath(r.lo, d) <= 0 || isUnder(r.lo, d)
}

// liveChunk is what Save copies under the read lock: node states whose
// path field holds only the name, and the index of their directory's
// path in dirs. Full paths are built after the lock is released, so the
// lock is held for copying, not for allocating a million path strings.
type liveChunk struct {
	states []nodeState
	dirOf  []int32 // -1 for the root
	dirs   []string
}

func (c *liveChunk) reset() {
	c.states, c.dirOf, c.dirs = c.states[:0], c.dirOf[:0], c.dirs[:0]
}

// paths turns names into full paths. Call it without the lock.
func (c *liveChunk) paths() {
	for i := range c.states {
		if d := c.dirOf[i]; d >= 0 {
			c.states[i].path = joinPath(c.dirs[d], c.states[i].path)
		}
	}
}

// collectAfter appends to c up to limit live node states that follow lo
// in tree order ("" = from the root). done reports that the walk reached
// the end. Caller holds mu.
func (s *Store) collectAfter(lo string, limit int, c *liveChunk) (done bool) {
	emit := func(dir int32, name string, n *node) bool {
		c.states = append(c.states, n.state(name))
		c.dirOf = append(c.dirOf, dir)
		return len(c.states) < limit
	}
	dirIndex := func(p string) int32 {
		c.dirs = append(c.dirs, p)
		return int32(len(c.dirs) - 1)
	}
	var dfs func(p string, di int32, n *node) bool
	visit := func(p string, di int32, k *node) bool {
		if !emit(di, k.name, k) {
			return false
		}
		if !k.isDir() || k.kids.n == 0 {
			return true
		}
		cp := joinPath(p, k.name)
		return dfs(cp, dirIndex(cp), k)
	}
	dfs = func(p string, di int32, n *node) bool {
		return n.kids.each(func(k *node) bool { return visit(p, di, k) })
	}
	if lo == "" {
		if !emit(-1, "/", s.root) {
			return false
		}
		return dfs("/", dirIndex("/"), s.root)
	}
	type frame struct {
		p    string
		n    *node
		next string
	}
	var frames []frame
	n, cur := s.root, "/"
	for i := 1; n != nil && i <= len(lo); {
		j := i
		for j < len(lo) && lo[j] != '/' {
			j++
		}
		if !n.isDir() {
			n = nil
			break
		}
		seg := lo[i:j]
		frames = append(frames, frame{cur, n, seg})
		n = n.kids.get(seg)
		cur = lo[:j]
		i = j + 1
	}
	if n != nil && cur == lo && n.isDir() && !dfs(lo, dirIndex(lo), n) {
		return false
	}
	for i := len(frames) - 1; i >= 0; i-- {
		f := frames[i]
		di := dirIndex(f.p)
		ok := f.n.kids.eachFrom(f.next, func(k *node) bool {
			return k.name == f.next || visit(f.p, di, k)
		})
		if !ok {
			return false
		}
	}
	return true
}

func appendSnapNode(buf []byte, d int, name string, st *nodeState) []byte {
	buf = append(buf, 1)
	buf = binary.AppendUvarint(buf, uint64(d))
	buf = appendString(buf, name)
	var flags byte
	if st.dir {
		flags = 1
	}
	buf = append(buf, flags)
	buf = binary.AppendUvarint(buf, st.created)
	buf = binary.AppendUvarint(buf, st.modified)
	buf = binary.AppendVarint(buf, st.expire)
	if !st.dir {
		buf = appendString(buf, st.value)
	}
	return buf
}

func appendExtern(buf []byte, n *Node) []byte {
	buf = appendString(buf, n.Key)
	var flags byte
	if n.Dir {
		flags |= 1
	}
	if n.Value != nil {
		flags |= 2
	}
	buf = append(buf, flags)
	if n.Value != nil {
		buf = appendString(buf, *n.Value)
	}
	buf = binary.AppendVarint(buf, n.Expiration)
	buf = binary.AppendVarint(buf, n.TTL)
	buf = binary.AppendUvarint(buf, n.ModifiedIndex)
	return binary.AppendUvarint(buf, n.CreatedIndex)
}

func appendRecord(buf []byte, r *record) []byte {
	ev := r.ev
	buf = appendString(buf, ev.Action)
	var flags byte
	if ev.Refresh {
		flags |= 1
	}
	if ev.PrevNode != nil {
		flags |= 2
	}
	if r.removed != nil {
		flags |= 4
	}
	buf = append(buf, flags)
	buf = appendExtern(buf, ev.Node)
	if ev.PrevNode != nil {
		buf = appendExtern(buf, ev.PrevNode)
	}
	buf = binary.AppendUvarint(buf, uint64(r.created))
	if r.removed != nil {
		var walk func(p string, n *node, d int)
		walk = func(p string, n *node, d int) {
			n.kids.each(func(c *node) bool {
				cp := joinPath(p, c.name)
				st := c.state(cp)
				buf = appendSnapNode(buf, d, c.name, &st)
				if c.isDir() {
					walk(cp, c, d+1)
				}
				return true
			})
		}
		walk(ev.Node.Key, r.removed, 1)
		buf = append(buf, 0)
	}
	return buf
}

// snapReader decodes a snapshot stream; the first error sticks.
type snapReader struct {
	r   *bufio.Reader
	err error
}

func (d *snapReader) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: snapshot: %s", ErrDecode, fmt.Sprintf(format, args...))
	}
}

func (d *snapReader) ioErr(err error) {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	d.fail("%v", err)
}

func (d *snapReader) byte() byte {
	if d.err != nil {
		return 0
	}
	b, err := d.r.ReadByte()
	if err != nil {
		d.ioErr(err)
	}
	return b
}

func (d *snapReader) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	if err != nil {
		d.ioErr(err)
	}
	return v
}

func (d *snapReader) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	if err != nil {
		d.ioErr(err)
	}
	return v
}

func (d *snapReader) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > maxSnapString {
		d.fail("string of %d bytes", n)
		return ""
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.ioErr(err)
		return ""
	}
	return string(b)
}

func (d *snapReader) literal(want string) {
	for i := 0; i < len(want) && d.err == nil; i++ {
		if b := d.byte(); d.err == nil && b != want[i] {
			d.fail("bad magic")
		}
	}
}

// nodes reads tag-1 node records until tag 0 into the children of top
// (at depth base-1), keeping tree order. schedule is called for each node.
func (d *snapReader) nodes(top *node, topPath string, base int, visit func(p string, n *node)) {
	type frame struct {
		p string
		n *node
	}
	stack := []frame{{topPath, top}}
	for d.err == nil {
		tag := d.byte()
		if tag == 0 || d.err != nil {
			return
		}
		if tag != 1 {
			d.fail("bad node tag %d", tag)
			return
		}
		dep := d.uvarint()
		name := d.string()
		flags := d.byte()
		n := &node{name: name}
		n.created = d.uvarint()
		n.modified = d.uvarint()
		n.expire = d.varint()
		if flags&^1 != 0 {
			d.fail("bad node flags %#x", flags)
		}
		if flags&1 != 0 {
			n.kids = newDirKids()
		} else {
			n.value = d.string()
		}
		if d.err != nil {
			return
		}
		rel := int(dep) - base + 1 // 1 = child of top
		if dep < uint64(base) || rel > len(stack) {
			d.fail("node %q at depth %d out of place", name, dep)
			return
		}
		stack = stack[:rel]
		parent := stack[rel-1]
		if !parent.n.isDir() {
			d.fail("node %q below a file", name)
			return
		}
		if name == "" || indexByte(name, '/') {
			d.fail("bad node name %q", name)
			return
		}
		if ci := len(parent.n.kids.chunks); ci > 0 {
			c := parent.n.kids.chunks[ci-1]
			if c[len(c)-1].name >= name {
				d.fail("node %q out of order", name)
				return
			}
		}
		parent.n.kids.insert(n)
		p := joinPath(parent.p, name)
		if visit != nil {
			visit(p, n)
		}
		stack = append(stack, frame{p, n})
	}
}

func indexByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}

func (d *snapReader) extern() *Node {
	n := &Node{Key: d.string()}
	flags := d.byte()
	if flags&^3 != 0 {
		d.fail("bad event node flags %#x", flags)
	}
	n.Dir = flags&1 != 0
	if flags&2 != 0 {
		v := d.string()
		n.Value = &v
	}
	n.Expiration = d.varint()
	n.TTL = d.varint()
	n.ModifiedIndex = d.uvarint()
	n.CreatedIndex = d.uvarint()
	if d.err == nil && (n.Key == "" || n.Key != cleanPath(n.Key)) {
		d.fail("bad event key %q", n.Key)
	}
	return n
}

// Restore replaces the whole store with a stream written by Save. On error
// the store is unchanged. Every watcher is ended with ErrStoreReset (its
// events may no longer follow); a Save running concurrently fails with
// ErrStoreReset. Errors from the stream wrap ErrDecode.
func (s *Store) Restore(r io.Reader) error {
	d := &snapReader{r: bufio.NewReaderSize(r, 64<<10)}
	d.literal(snapMagic)
	if v := d.byte(); d.err == nil && v != snapVersion {
		d.fail("unknown version %d", v)
	}
	index := d.uvarint()
	var ctr []uint64
	for range s.stats.replicated() {
		ctr = append(ctr, d.uvarint())
	}
	// The root record comes first, at depth 0.
	if tag := d.byte(); d.err == nil && tag != 1 {
		d.fail("missing root")
	}
	if dep, name := d.uvarint(), d.string(); d.err == nil && (dep != 0 || name != "") {
		d.fail("bad root record")
	}
	root := &node{}
	flags := d.byte()
	root.created, root.modified, root.expire = d.uvarint(), d.uvarint(), d.varint()
	if d.err == nil && flags != 1 {
		d.fail("root is not a directory")
	}
	root.kids = newDirKids()
	var ttl ttlHeap
	d.nodes(root, "/", 1, func(p string, n *node) {
		if n.expire != 0 {
			ttl = append(ttl, ttlEntry{expire: n.expire, path: p, n: n})
		}
	})
	hist := history{maxEvents: s.cfg.HistoryEvents, maxBytes: s.cfg.HistoryBytes}
	hist.first = d.uvarint()
	count := d.uvarint()
	if d.err == nil && (count > index || (count > 0 && hist.first+count-1 != index) || (count == 0 && hist.first != index+1)) {
		d.fail("history [%d, +%d) does not end at index %d", hist.first, count, index)
	}
	for i := uint64(0); i < count && d.err == nil; i++ {
		rec := &record{ev: &Event{Action: d.string(), Index: hist.first + i}}
		flags := d.byte()
		if flags&^7 != 0 {
			d.fail("bad record flags %#x", flags)
		}
		rec.ev.Refresh = flags&1 != 0
		rec.ev.Node = d.extern()
		if flags&2 != 0 {
			rec.ev.PrevNode = d.extern()
		}
		created := d.uvarint()
		if d.err == nil && created > uint64(depth(rec.ev.Node.Key)) {
			d.fail("record creates %d directories above %q", created, rec.ev.Node.Key)
		}
		rec.created = int(created)
		if flags&4 != 0 && d.err == nil {
			k := rec.ev.Node.Key
			if k == "/" {
				d.fail("record removes the root")
				break
			}
			_, name := splitPath(k)
			rec.removed = &node{name: name, kids: newDirKids()}
			d.nodes(rec.removed, k, 1, nil)
		}
		if d.err != nil {
			break
		}
		rec.size = recordSize(rec)
		hist.recs = append(hist.recs, rec)
		hist.bytes += rec.size
	}
	d.literal(snapTrailer)
	if d.err == nil {
		if _, err := d.r.ReadByte(); err != io.EOF {
			d.fail("trailing bytes")
		}
	}
	if d.err != nil {
		return d.err
	}
	heap.Init(&ttl)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	hist.pins = s.hist.pins
	s.root = root
	s.index = index
	s.ttl = ttl
	s.ttlValid = len(ttl)
	s.hist = hist
	s.gen++
	for i, c := range s.stats.replicated() {
		c.Store(ctr[i])
	}
	s.hub.index = index
	s.hub.resetWatchers(ErrStoreReset)
	return nil
}
