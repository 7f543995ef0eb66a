package kv

import "container/heap"

// ttlEntry schedules the expiry of node n at path.
type ttlEntry struct {
	expire int64
	path   string
	n      *node
}

// ttlHeap orders entries by (expire, path in tree order). Entries go
// stale when their node is removed or its TTL changes; they are skipped
// (lazy deletion) and dropped from the top after every apply, and the heap
// is rebuilt when stale entries dominate.
//
// Invariant: every live node with expire != 0 has a valid entry.
type ttlHeap []ttlEntry

func (h ttlHeap) Len() int { return len(h) }
func (h ttlHeap) Less(i, j int) bool {
	if h[i].expire != h[j].expire {
		return h[i].expire < h[j].expire
	}
	return cmpPath(h[i].path, h[j].path) < 0
}
func (h ttlHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *ttlHeap) Push(x any)   { *h = append(*h, x.(ttlEntry)) }
func (h *ttlHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = ttlEntry{}
	*h = old[:len(old)-1]
	return e
}

func (s *Store) schedule(p string, n *node) {
	if n.expire != 0 {
		heap.Push(&s.ttl, ttlEntry{expire: n.expire, path: p, n: n})
	}
}

// valid reports whether e still describes a live node's expiry.
func (s *Store) valid(e ttlEntry) bool {
	if e.n.expire != e.expire {
		return false
	}
	_, n, err := s.walkGet(e.path)
	return err == nil && n == e.n
}

// tidyTTL drops stale entries from the top, and rebuilds the heap when it
// holds many more entries than it did valid ones after the last rebuild.
func (s *Store) tidyTTL() {
	for len(s.ttl) > 0 && !s.valid(s.ttl[0]) {
		heap.Pop(&s.ttl)
	}
	if len(s.ttl) > 2*s.ttlValid+1024 {
		kept := s.ttl[:0]
		for _, e := range s.ttl {
			if s.valid(e) {
				kept = append(kept, e)
			}
		}
		clear(s.ttl[len(kept):])
		s.ttl = kept
		heap.Init(&s.ttl)
		s.ttlValid = len(kept)
	}
}

// NextExpiry returns the earliest expiration time (unix nanoseconds) of
// any node, and false if no node has a TTL. The leader proposes an Expire
// request only when this time has come, so an idle store writes nothing.
func (s *Store) NextExpiry() (unixNano int64, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.ttl) == 0 {
		return 0, false
	}
	return s.ttl[0].expire, true
}
