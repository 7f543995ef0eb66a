package kv

import (
	"cmp"
	"path"
	"sort"
	"strings"
)

// node is one file or directory of the live tree. It is kept small on
// purpose (64 bytes on 64-bit platforms): it stores its own name, not its
// path, and no parent pointer; paths are rebuilt while walking from the root.
//
// Invariant: kids == nil for files and kids != nil for directories.
// Invariant: expire == 0 means permanent; otherwise it is unix nanoseconds.
type node struct {
	name     string
	value    string
	kids     *dirKids
	created  uint64
	modified uint64
	expire   int64
}

func (n *node) isDir() bool { return n.kids != nil }

// state copies n's own attributes (not its children) at the given path.
func (n *node) state(p string) nodeState {
	return nodeState{path: p, value: n.value, dir: n.isDir(), created: n.created, modified: n.modified, expire: n.expire}
}

// nodeState is a node's attributes detached from the tree, used by the undo
// machinery of GetAt and Save and in history records.
type nodeState struct {
	path     string
	value    string
	dir      bool
	created  uint64
	modified uint64
	expire   int64
}

// maxChunk bounds each sorted chunk of a directory's children, so inserting
// into a directory of a million keys moves at most maxChunk pointers.
const maxChunk = 128

// dirKids holds a directory's children sorted by name, in chunks of at most
// maxChunk. A small directory is a single short slice, with no map; one that
// outgrows a chunk also gets a map by name, so looking a child up costs one
// hash instead of two binary searches over pointers to names.
//
// Invariant: every chunk is non-empty and sorted; chunks are in order; n is
// the total count; index is nil or holds exactly the children.
type dirKids struct {
	chunks [][]*node
	n      int
	index  map[string]*node
}

func newDirKids() *dirKids { return &dirKids{} }

// find returns the chunk and position where name is or would be inserted.
func (d *dirKids) find(name string) (ci, i int, found bool) {
	if len(d.chunks) == 0 {
		return 0, 0, false
	}
	ci = sort.Search(len(d.chunks), func(k int) bool {
		c := d.chunks[k]
		return c[len(c)-1].name >= name
	})
	if ci == len(d.chunks) {
		ci--
		return ci, len(d.chunks[ci]), false
	}
	c := d.chunks[ci]
	i = sort.Search(len(c), func(k int) bool { return c[k].name >= name })
	return ci, i, i < len(c) && c[i].name == name
}

func (d *dirKids) get(name string) *node {
	if d.index != nil {
		return d.index[name]
	}
	ci, i, ok := d.find(name)
	if !ok {
		return nil
	}
	return d.chunks[ci][i]
}

// insert adds n, which must not be present.
func (d *dirKids) insert(n *node) {
	d.insertSorted(n)
	switch {
	case d.index != nil:
		d.index[n.name] = n
	case d.n > maxChunk:
		d.index = make(map[string]*node, d.n)
		d.each(func(c *node) bool { d.index[c.name] = c; return true })
	}
}

// insertSorted is insert without the map.
func (d *dirKids) insertSorted(n *node) {
	d.n++
	if len(d.chunks) == 0 {
		d.chunks = [][]*node{{n}}
		return
	}
	ci, i, found := d.find(n.name)
	if found {
		panic("kv: insert of an existing child " + n.name)
	}
	c := d.chunks[ci]
	if len(c) < maxChunk {
		d.chunks[ci] = insertAt(c, i, n)
		return
	}
	if ci == len(d.chunks)-1 && i == len(c) {
		// Appending past the end (sequential keys): start a new chunk
		// instead of splitting, so full chunks stay full.
		d.chunks = append(d.chunks, []*node{n})
		return
	}
	half := len(c) / 2
	left := append(make([]*node, 0, maxChunk), c[:half]...)
	right := append(make([]*node, 0, maxChunk), c[half:]...)
	if i <= half {
		left = insertAt(left, i, n)
	} else {
		right = insertAt(right, i-half, n)
	}
	d.chunks[ci] = left
	d.chunks = insertAt(d.chunks, ci+1, right)
}

func insertAt[T any](s []T, i int, v T) []T {
	var zero T
	s = append(s, zero)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// remove deletes the child called name and returns it (nil if absent).
func (d *dirKids) remove(name string) *node {
	ci, i, ok := d.find(name)
	if !ok {
		return nil
	}
	c := d.chunks[ci]
	n := c[i]
	copy(c[i:], c[i+1:])
	c[len(c)-1] = nil
	c = c[:len(c)-1]
	d.n--
	if d.index != nil {
		delete(d.index, name)
		if d.n <= maxChunk/2 {
			d.index = nil // small again; the map's memory goes too
		}
	}
	if len(c) == 0 {
		copy(d.chunks[ci:], d.chunks[ci+1:])
		d.chunks[len(d.chunks)-1] = nil
		d.chunks = d.chunks[:len(d.chunks)-1]
	} else {
		d.chunks[ci] = c
	}
	return n
}

// each calls fn for every child in name order until fn returns false.
func (d *dirKids) each(fn func(*node) bool) bool {
	for _, c := range d.chunks {
		for _, n := range c {
			if !fn(n) {
				return false
			}
		}
	}
	return true
}

// eachFrom is each starting at the first child whose name is >= name.
func (d *dirKids) eachFrom(name string, fn func(*node) bool) bool {
	ci, i, _ := d.find(name)
	for ; ci < len(d.chunks); ci++ {
		c := d.chunks[ci]
		for ; i < len(c); i++ {
			if !fn(c[i]) {
				return false
			}
		}
		i = 0
	}
	return true
}

// cleanPath is path.Clean rooted at "/" (spec 1.1: keys are cleaned).
func cleanPath(p string) string {
	if len(p) > 0 && p[0] == '/' {
		return path.Clean(p)
	}
	return path.Clean("/" + p)
}

// joinPath appends a child name to a clean directory path.
func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// splitPath returns the parent directory and the last name of a clean path.
func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

// isUnder reports whether p is strictly below dir (both clean).
func isUnder(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

// depth of a clean path: "/" is 0, "/a" is 1.
func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// ancestorAt returns the ancestor of clean path p at depth d (<= depth(p)).
func ancestorAt(p string, d int) string {
	if d == 0 {
		return "/"
	}
	seen := 0
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			seen++
			if seen == d {
				return p[:i]
			}
		}
	}
	return p
}

// cmpPath orders clean paths as a depth-first, name-sorted walk of the tree
// visits them: a directory comes right before its subtree. That is byte
// order with '/' sorting below every other byte.
func cmpPath(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		return cmp.Compare(ca, cb)
	}
	return cmp.Compare(len(a), len(b))
}

// isHiddenName reports whether a node name is hidden (spec 1.4).
func isHiddenName(name string) bool { return len(name) > 0 && name[0] == '_' }
