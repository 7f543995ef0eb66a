package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"cairn/httpapi"
	"cairn/kv"
	"cairn/raft"
	"cairn/server/transport"
)

var (
	errStopped        = httpapi.ErrStopped
	errMemberNotFound = httpapi.ErrMemberNotFound
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func parseHex(s string) (uint64, error) { return strconv.ParseUint(s, 16, 64) }

func readID(ctx []byte) uint64 {
	if len(ctx) != 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(ctx)
}

// nextID returns a request ID unique among this member's requests, also
// across restarts (the counter starts from the clock); 0 is never used.
func (m *Member) nextID() uint64 {
	for {
		if id := m.reqSeq.Add(1); id != 0 {
			return id
		}
	}
}

// RaftStatus returns the applied index and the current term.
func (m *Member) RaftStatus() (uint64, uint64) { return m.applied.Load(), m.term.Load() }

// Leader returns the known leader's ID, 0 if none.
func (m *Member) Leader() uint64 { return m.lead.Load() }

// waitLeader blocks until a leader is known.
func (m *Member) waitLeader(ctx context.Context) error {
	for {
		m.mu.Lock()
		ch := m.leaderCh
		m.mu.Unlock()
		select {
		case <-ch:
			lead := m.lead.Load()
			if lead != raft.None && !m.cluster.isRemoved(lead) {
				return nil
			}
			if lead != raft.None {
				// The leader applied its own removal: wait for the next.
				if err := m.pause(ctx, m.tickEvery); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return httpapi.ErrTimeout
		case <-m.stopc:
			return errStopped
		}
	}
}

// pause waits d, or less if ctx or the member ends.
func (m *Member) pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return httpapi.ErrTimeout
	case <-m.stopc:
		return errStopped
	}
}

// propose replicates data (made by mk from a fresh request ID) and waits
// for it to be applied. A dropped proposal (no leader yet, leadership
// transfer, a conf change pending) is retried until ctx ends.
func (m *Member) propose(ctx context.Context, conf bool, mk func(id uint64) ([]byte, raft.ConfChange)) (result, error) {
	m.stats.proposalsPending.Add(1)
	defer m.stats.proposalsPending.Add(-1)
	for {
		if err := m.waitLeader(ctx); err != nil {
			m.stats.proposalsFailed.Add(1)
			return result{}, err
		}
		id := m.nextID()
		ch := make(chan result, 1)
		m.mu.Lock()
		m.waiters[id] = ch
		m.mu.Unlock()
		data, cc := mk(id)
		// The proposal is queued for the loop without waiting for it to
		// run: the caller wakes up once, for the answer (a refused
		// proposal answers ch at once, with dropped set).
		propose := func(rn *raft.RawNode) {
			var err error
			if conf {
				err = rn.ProposeConfChange(cc)
			} else {
				err = rn.Propose(data)
			}
			if err != nil {
				ch <- result{dropped: true}
			}
		}
		err := m.queue(ctx, propose)
		if err == nil {
			select {
			case r := <-ch:
				if !r.dropped {
					return r, nil
				}
			case <-ctx.Done():
				err = ctx.Err()
			case <-m.stopc:
				err = errStopped
			}
		}
		m.mu.Lock()
		delete(m.waiters, id)
		m.mu.Unlock()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				err = httpapi.ErrTimeout
			}
			m.stats.proposalsFailed.Add(1)
			return result{}, err
		}
		// Dropped: retry shortly.
		if err := m.pause(ctx, m.tickEvery); err != nil {
			m.stats.proposalsFailed.Add(1)
			return result{}, err
		}
	}
}

// Propose replicates a client write; the leader stamps its time (a
// follower gets writes forwarded to the leader by httpapi, and stamps only
// those it must propose itself).
func (m *Member) Propose(ctx context.Context, req kv.Request) (*kv.Event, error) {
	req.Time = m.now().UnixNano()
	if err := req.Validate(); err != nil {
		return nil, err
	}
	r, err := m.propose(ctx, false, func(id uint64) ([]byte, raft.ConfChange) {
		return encodeEntry(id, m.id, &req), raft.ConfChange{}
	})
	if err != nil {
		return nil, err
	}
	return r.ev, r.err
}

// Get reads the local replica.
func (m *Member) Get(path string, recursive, sorted bool) (*kv.Event, error) {
	return m.store.Get(path, recursive, sorted, m.now().UnixNano())
}

// QuorumGet reads after confirming, with a ReadIndex round, that the local
// replica has applied every write acknowledged before the call.
func (m *Member) QuorumGet(ctx context.Context, path string, recursive, sorted bool) (*kv.Event, error) {
	m.readsWaiting.Add(1)
	defer m.readsWaiting.Add(-1)
	idx, err := m.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	if err := m.waitApplied(ctx, idx); err != nil {
		return nil, err
	}
	return m.Get(path, recursive, sorted)
}

func (m *Member) readIndex(ctx context.Context) (uint64, error) {
	for {
		if err := m.waitLeader(ctx); err != nil {
			return 0, err
		}
		id := m.nextID()
		ch := make(chan uint64, 1)
		m.mu.Lock()
		m.readWaiters[id] = ch
		m.mu.Unlock()
		rctx := binary.LittleEndian.AppendUint64(nil, id)
		err := m.do(ctx, func(rn *raft.RawNode) { rn.ReadIndex(rctx) })
		if err == nil {
			t := time.NewTimer(m.electionDur)
			select {
			case idx := <-ch:
				t.Stop()
				return idx, nil
			case <-t.C:
				// Lost (leader change, dropped message): ask again.
			case <-ctx.Done():
				err = httpapi.ErrTimeout
			case <-m.stopc:
				err = errStopped
			}
			t.Stop()
		}
		m.mu.Lock()
		delete(m.readWaiters, id)
		m.mu.Unlock()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				err = httpapi.ErrTimeout
			}
			return 0, err
		}
	}
}

func (m *Member) waitApplied(ctx context.Context, idx uint64) error {
	for {
		m.mu.Lock()
		ch := m.appliedCh
		m.mu.Unlock()
		if m.applied.Load() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return httpapi.ErrTimeout
		case <-m.stopc:
			return errStopped
		}
	}
}

// Watch registers a watcher on the local replica.
func (m *Member) Watch(path string, recursive, stream bool, since uint64) (*kv.Watcher, error) {
	return m.store.Watch(path, recursive, stream, since)
}

// Members lists the members sorted by ID.
func (m *Member) Members() []httpapi.Member {
	var out []httpapi.Member
	for _, mem := range m.cluster.list() {
		out = append(out, mem.api())
	}
	return out
}

// ClientURLs lists every member's client URLs.
func (m *Member) ClientURLs() []string {
	var out []string
	for _, mem := range m.cluster.list() {
		out = append(out, mem.ClientURLs...)
	}
	return out
}

// ForwardURL is the leader's forwarding endpoint.
func (m *Member) ForwardURL() (string, bool) {
	lead := m.lead.Load()
	if lead == raft.None || lead == m.id || m.isLeader.Load() {
		return "", false
	}
	mem, ok := m.cluster.get(lead)
	if !ok || len(mem.PeerURLs) == 0 || m.cluster.isRemoved(lead) {
		return "", false
	}
	return mem.PeerURLs[0] + httpapi.ForwardPrefix, true
}

func (m *Member) proposeConf(ctx context.Context, cc raft.ConfChange) error {
	r, err := m.propose(ctx, true, func(id uint64) ([]byte, raft.ConfChange) {
		cc.ID = id
		return nil, cc
	})
	if err != nil {
		return err
	}
	return r.err
}

// AddMember adds a voting member or a learner with a new random ID.
func (m *Member) AddMember(ctx context.Context, peerURLs []string, learner bool) (httpapi.Member, error) {
	if _, ok := m.cluster.peerURLOwner(peerURLs, 0); ok {
		return httpapi.Member{}, httpapi.ErrMemberExists
	}
	if !learner && !m.safeToAddVoter() {
		return httpapi.Member{}, httpapi.ErrUnhealthy
	}
	m.randMu.Lock()
	id := raft.NewMemberID(m.rand)
	m.randMu.Unlock()
	typ := raft.ConfChangeAddVoter
	if learner {
		typ = raft.ConfChangeAddLearner
	}
	cc := raft.ConfChange{Type: typ, NodeID: id, Context: []byte(mustJSON(confContext{Proposer: m.id, PeerURLs: peerURLs, IsLearner: learner}))}
	if err := m.proposeConf(ctx, cc); err != nil {
		return httpapi.Member{}, err
	}
	return httpapi.Member{ID: id, PeerURLs: peerURLs, IsLearner: learner}, nil
}

func (m *Member) lookup(id uint64) (memberInfo, error) {
	mem, ok := m.cluster.get(id)
	if ok {
		return mem, nil
	}
	if m.cluster.isRemoved(id) {
		return memberInfo{}, httpapi.ErrMemberRemoved
	}
	return memberInfo{}, httpapi.ErrMemberNotFound
}

// RemoveMember removes a member (possibly the leader itself).
func (m *Member) RemoveMember(ctx context.Context, id uint64) error {
	mem, err := m.lookup(id)
	if err != nil {
		return err
	}
	if !mem.IsLearner && !m.safeToRemoveVoter(id) {
		return httpapi.ErrUnhealthy
	}
	return m.proposeConf(ctx, raft.ConfChange{Type: raft.ConfChangeRemove, NodeID: id,
		Context: []byte(mustJSON(confContext{Proposer: m.id}))})
}

// UpdateMember replaces a member's peer URLs.
func (m *Member) UpdateMember(ctx context.Context, id uint64, peerURLs []string) error {
	if _, err := m.lookup(id); err != nil {
		return err
	}
	if _, ok := m.cluster.peerURLOwner(peerURLs, id); ok {
		return httpapi.ErrMemberExists
	}
	return m.proposeConf(ctx, raft.ConfChange{Type: raft.ConfChangeUpdate, NodeID: id,
		Context: []byte(mustJSON(confContext{Proposer: m.id, PeerURLs: peerURLs}))})
}

// PromoteMember makes a learner a voter once its log has caught up: its
// match index must be at least 90% of the leader's (etcd's rule).
func (m *Member) PromoteMember(ctx context.Context, id uint64) (httpapi.Member, error) {
	mem, err := m.lookup(id)
	if err != nil {
		return httpapi.Member{}, err
	}
	if !mem.IsLearner {
		return httpapi.Member{}, httpapi.ErrNotLearner
	}
	var st raft.Status
	if err := m.do(ctx, func(rn *raft.RawNode) { st = rn.Status() }); err != nil {
		return httpapi.Member{}, httpapi.ErrTimeout
	}
	if st.RaftState != raft.StateLeader {
		return httpapi.Member{}, fmt.Errorf("%w: not the leader", httpapi.ErrTimeout)
	}
	lp, ok := st.Progress[id]
	self := st.Progress[m.id]
	if !ok || !learnerReady(lp.Match, self.Match) {
		return httpapi.Member{}, httpapi.ErrLearnerNotReady
	}
	cc := raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: id,
		Context: []byte(mustJSON(confContext{Proposer: m.id, PeerURLs: mem.PeerURLs}))}
	if err := m.proposeConf(ctx, cc); err != nil {
		return httpapi.Member{}, err
	}
	mem.IsLearner = false
	return mem.api(), nil
}

// learnerReady is etcd's readiness rule for promotion.
func learnerReady(learnerMatch, leaderMatch uint64) bool {
	return learnerMatch > 0 && float64(learnerMatch) >= float64(leaderMatch)*0.9
}

// publish records this member's name and client URLs in the store once it
// has caught up (so a restart with unchanged flags writes nothing), then,
// while it is the leader, sets the cluster version if it is missing.
func (m *Member) publish() {
	want := mustJSON(attributes{Name: m.cfg.Name, ClientURLs: urlStrings(m.cfg.AdvertiseClientURLs)})
	key := memberDir(m.id) + "/" + attrName
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.goFunc(func() {
		select {
		case <-m.stopc:
		case <-ctx.Done():
		}
		cancel()
	})
	if err := m.waitApplied(ctx, m.startCommit); err != nil {
		return
	}
	for {
		if ev, err := m.store.Get(key, false, false, 0); err == nil && ev.Node.Value != nil && *ev.Node.Value == want {
			break
		}
		if m.cluster.isRemoved(m.id) {
			return
		}
		rctx, rcancel := context.WithTimeout(ctx, m.RequestTimeout)
		_, err := m.Propose(rctx, kv.Request{Op: kv.OpPut, Path: key, Value: want})
		rcancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.logger.Debug("publishing attributes", "err", err)
			continue
		}
		m.logger.Info("published member attributes", "name", m.cfg.Name, "client-urls", urlsString(m.cfg.AdvertiseClientURLs))
	}
	ready := func() { m.readyOnce.Do(func() { close(m.readyc) }) }
	defer ready()
	for {
		if _, err := m.store.Get(versionKey, false, false, 0); err == nil {
			return
		}
		if !m.isLeader.Load() {
			ready()
		}
		if m.isLeader.Load() {
			rctx, rcancel := context.WithTimeout(ctx, m.RequestTimeout)
			_, err := m.Propose(rctx, kv.Request{Op: kv.OpPut, Path: versionKey, Value: httpapi.ClusterVersion})
			rcancel()
			if err == nil {
				m.logger.Info("set cluster version", "version", httpapi.ClusterVersion)
				return
			}
		}
		if err := m.pause(ctx, m.electionDur); err != nil {
			return
		}
	}
}

// Compile-time checks of the interfaces the member implements.
var (
	_ httpapi.Backend = (*Member)(nil)
	_ transport.Raft  = (*Member)(nil)
)

// SelfStats describes this member for /v2/stats/self.
func (m *Member) SelfStats() httpapi.SelfStats {
	return m.stats.withRates(httpapi.SelfStats{
		Name: m.cfg.Name, ID: m.id, IsLeader: m.isLeader.Load(), StartTime: m.startTime,
		Leader: m.lead.Load(), LeaderSince: time.Unix(0, m.leaderSince.Load()).UTC(),
		RecvAppend: m.recvApp.Load(), SendAppend: m.sendApp.Load(),
	})
}

// StoreStats returns the store counters.
func (m *Member) StoreStats() kv.Stats { return m.store.Stats() }

// safeToAddVoter is etcd's strict reconfiguration check for adding a
// voter: the started voters (those that published their attributes) must
// still be a quorum of the grown cluster, except when growing a
// single-member cluster to two.
func (m *Member) safeToAddVoter() bool {
	members, started := 1, 0
	for _, mem := range m.cluster.list() {
		if mem.IsLearner {
			continue
		}
		members++
		if mem.Name != "" {
			started++
		}
	}
	if started == 1 && members == 2 {
		return true
	}
	return started >= members/2+1
}

// safeToRemoveVoter: the started voters that remain must be a quorum of
// the remaining voters.
func (m *Member) safeToRemoveVoter(id uint64) bool {
	members, started := 0, 0
	for _, mem := range m.cluster.list() {
		if mem.IsLearner || mem.ID == id {
			continue
		}
		members++
		if mem.Name != "" {
			started++
		}
	}
	return started >= members/2+1
}

// WaitApplied waits until raft index i is applied here.
func (m *Member) WaitApplied(ctx context.Context, i uint64) error { return m.waitApplied(ctx, i) }
