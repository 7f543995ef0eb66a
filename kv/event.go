package kv

import "time"

// Actions of events (spec 1.5).
const (
	ActionGet              = "get"
	ActionSet              = "set"
	ActionCreate           = "create"
	ActionUpdate           = "update"
	ActionDelete           = "delete"
	ActionCompareAndSwap   = "compareAndSwap"
	ActionCompareAndDelete = "compareAndDelete"
	ActionExpire           = "expire"
)

// Node is a node as the API shows it (spec 1.4), in etcd's field order:
// key, value, dir, expiration, ttl, nodes, modifiedIndex, createdIndex.
// Every field is omitted from JSON when zero, except Value, which is present
// (possibly "") exactly when it is non-nil, i.e. for files.
type Node struct {
	Key   string
	Value *string
	Dir   bool
	// Expiration is the unix-nanosecond expiry time, 0 for a permanent
	// node; render it with ExpirationTime as RFC3339Nano UTC.
	Expiration int64
	// TTL is the remaining seconds, rounded up, computed against the time
	// the caller passed in (for applies: Request.Time). It is 0 for
	// permanent nodes and may be 0 or negative for due ones.
	TTL           int64
	Nodes         []*Node
	ModifiedIndex uint64
	CreatedIndex  uint64
}

// ExpirationTime returns the expiration as a UTC time, and false for a
// permanent node.
func (n *Node) ExpirationTime() (time.Time, bool) {
	if n.Expiration == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, n.Expiration).UTC(), true
}

// Event is the result of an operation and what watchers receive (spec 1.4).
// Events handed out by the store are shared (history, several watchers):
// callers must treat them as read-only.
type Event struct {
	Action   string
	Node     *Node
	PrevNode *Node
	// Index is the store index after the operation (X-Etcd-Index). For a
	// get it is the current index.
	Index uint64
	// Refresh marks a TTL refresh: recorded in history, never delivered to
	// watchers (spec 1.7).
	Refresh bool
}

// IsCreated reports whether the HTTP status is 201: a create, or a set
// that found no previous node (spec 1.5).
func (e *Event) IsCreated() bool {
	if e.Action == ActionCreate {
		return true
	}
	return e.Action == ActionSet && e.PrevNode == nil
}

// ttlAt returns the remaining seconds of an expiry, rounded up, as etcd
// computes them (0 for permanent).
func ttlAt(expire, now int64) int64 {
	if expire == 0 {
		return 0
	}
	d := expire - now
	t := d / int64(time.Second)
	if d%int64(time.Second) > 0 {
		t++
	}
	return t
}

// extern renders a nodeState (non-recursive) at time now.
func (s *nodeState) extern(now int64) *Node {
	n := &Node{Key: s.path, Dir: s.dir, ModifiedIndex: s.modified, CreatedIndex: s.created}
	if !s.dir {
		v := s.value
		n.Value = &v
	}
	if s.expire != 0 {
		n.Expiration = s.expire
		n.TTL = ttlAt(s.expire, now)
	}
	return n
}
