package raft

// readIndexStatus is one ReadIndex request waiting for a quorum of
// heartbeat acknowledgements.
type readIndexStatus struct {
	req   Message
	index uint64
	acks  map[uint64]bool
}

// readOnly tracks the leader's pending ReadIndex requests, keyed by request
// context, in arrival order.
//
// Invariant: every key of pending is in queue exactly once and vice versa.
type readOnly struct {
	option  ReadOnlyOption
	pending map[string]*readIndexStatus
	queue   []string
}

func newReadOnly(option ReadOnlyOption) *readOnly {
	return &readOnly{option: option, pending: map[string]*readIndexStatus{}}
}

// addRequest records a request that reads at index; duplicates of a pending
// context are ignored.
func (ro *readOnly) addRequest(index uint64, m Message) {
	ctx := string(m.Context)
	if _, ok := ro.pending[ctx]; ok {
		return
	}
	ro.pending[ctx] = &readIndexStatus{req: m, index: index, acks: map[uint64]bool{}}
	ro.queue = append(ro.queue, ctx)
}

// recvAck records that id acknowledged the heartbeat carrying ctx and
// returns the acknowledgements so far (nil if ctx is unknown).
func (ro *readOnly) recvAck(id uint64, ctx []byte) map[uint64]bool {
	rs, ok := ro.pending[string(ctx)]
	if !ok {
		return nil
	}
	rs.acks[id] = true
	return rs.acks
}

// advance removes and returns the requests up to and including ctx: a
// quorum acknowledging a later heartbeat confirms earlier requests too.
func (ro *readOnly) advance(ctx []byte) []*readIndexStatus {
	key := string(ctx)
	for i, k := range ro.queue {
		if k != key {
			continue
		}
		done := make([]*readIndexStatus, 0, i+1)
		for _, k := range ro.queue[:i+1] {
			done = append(done, ro.pending[k])
			delete(ro.pending, k)
		}
		ro.queue = append([]string(nil), ro.queue[i+1:]...)
		return done
	}
	return nil
}

// lastPendingRequestCtx is the context of the newest pending request, sent
// with heartbeats so that any heartbeat round can confirm it.
func (ro *readOnly) lastPendingRequestCtx() []byte {
	if len(ro.queue) == 0 {
		return nil
	}
	return []byte(ro.queue[len(ro.queue)-1])
}
