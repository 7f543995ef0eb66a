package server

import (
	"encoding/json"
	"path"
	"slices"
	"strconv"
	"sync"

	"cairn/httpapi"
	"cairn/kv"
)

// memberInfo is one member as recorded in the store under /0/members.
type memberInfo struct {
	ID         uint64
	Name       string
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}

// clusterView is the membership as of the last applied entry, rebuilt from
// the store after every change under /0 (so it is a pure function of the
// replicated state). Readers take mu; the apply path replaces the maps.
type clusterView struct {
	mu      sync.RWMutex
	members map[uint64]*memberInfo
	removed map[uint64]bool
}

// load rebuilds the view from the store.
func (c *clusterView) load(s *kv.Store) {
	members := map[uint64]*memberInfo{}
	removed := map[uint64]bool{}
	if ev, err := s.Get(membersDir, true, false, 0); err == nil {
		for _, d := range ev.Node.Nodes {
			id, err := strconv.ParseUint(path.Base(d.Key), 16, 64)
			if err != nil || !d.Dir {
				continue
			}
			m := &memberInfo{ID: id}
			for _, f := range d.Nodes {
				if f.Value == nil {
					continue
				}
				switch path.Base(f.Key) {
				case raftAttrName:
					var ra raftAttributes
					if json.Unmarshal([]byte(*f.Value), &ra) == nil {
						m.PeerURLs, m.IsLearner = ra.PeerURLs, ra.IsLearner
					}
				case attrName:
					var a attributes
					if json.Unmarshal([]byte(*f.Value), &a) == nil {
						m.Name, m.ClientURLs = a.Name, a.ClientURLs
					}
				}
			}
			members[id] = m
		}
	}
	if ev, err := s.Get(removedDir, false, false, 0); err == nil {
		for _, f := range ev.Node.Nodes {
			if id, err := strconv.ParseUint(path.Base(f.Key), 16, 64); err == nil {
				removed[id] = true
			}
		}
	}
	c.mu.Lock()
	c.members, c.removed = members, removed
	c.mu.Unlock()
}

func (c *clusterView) get(id uint64) (memberInfo, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	m, ok := c.members[id]
	if !ok {
		return memberInfo{}, false
	}
	return *m, true
}

func (c *clusterView) isRemoved(id uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.removed[id]
}

// list returns the members sorted by ID.
func (c *clusterView) list() []memberInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]memberInfo, 0, len(c.members))
	for _, m := range c.members {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b memberInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// peerURLOwner returns the member (other than except) using any of urls.
func (c *clusterView) peerURLOwner(urls []string, except uint64) (uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for id, m := range c.members {
		if id == except {
			continue
		}
		for _, u := range m.PeerURLs {
			if slices.Contains(urls, u) {
				return id, true
			}
		}
	}
	return 0, false
}

func (m memberInfo) api() httpapi.Member {
	return httpapi.Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}
}
