package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	lifecycle "cairn/init"
	"cairn/kv"
	"cairn/raft"
	"cairn/server/transport"
	"cairn/wal"
)

// run is the Ready loop (see doc.go): the only goroutine touching m.rn.
func (m *Member) run() {
	ticker := time.NewTicker(m.tickEvery)
	defer ticker.Stop()
	defer m.procs.restore() // leave the process as it started
	checkEvery := max(1, int(time.Second/m.tickEvery))
	ticks := 0
	for {
		// After a fatal error nothing more is done; the process exits.
		select {
		case <-m.failc:
			<-m.stopc
			return
		default:
		}
		select {
		case <-m.stopc:
			return
		case <-m.failc:
			<-m.stopc
			return
		case <-ticker.C:
			m.rn.Tick()
			m.updateLinger()
			m.maybeExpire()
			m.procs.sample(m.stats.proposalsPending.Load() + m.readsWaiting.Load())
			if ticks++; ticks%checkEvery == 0 {
				m.checkRemovedByPeers()
			}
		case f := <-m.actc:
			f(m.rn)
			// Batch: everything already queued goes into the same Ready,
			// so concurrent proposals share one WAL write and fsync.
		drain:
			for range 4096 {
				select {
				case f := <-m.actc:
					f(m.rn)
				default:
					break drain
				}
			}
		case res := <-m.snapc:
			m.snapshotDone(res)
		case done := <-m.walOut:
			if err := m.persisted(done); err != nil {
				m.fail(err)
			}
		}
		m.lastLoop.Store(time.Now().UnixNano())
		for m.rn.HasReady() {
			if err := m.handleReady(); err != nil {
				m.fail(err)
				break
			}
		}
	}
}

// handleReady carries out one Ready in the order doc.go lists.
func (m *Member) handleReady() error {
	rd := m.rn.Ready()
	prevHS := m.lastHS
	if !rd.HardState.IsEmpty() {
		m.lastHS = rd.HardState
		// Known committed now (a leader may apply it before its own disk
		// has the hard state).
		m.stats.commit.Store(rd.HardState.Commit)
	}
	if rd.SoftState != nil {
		m.softStateChanged(*rd.SoftState)
	}
	// 1. A snapshot from the leader replaces the state before anything
	// after it is applied. It is installed on the loop, after the writer
	// has made everything before it durable.
	if !rd.Snapshot.IsEmpty() {
		m.sendMessages(rd.Messages)
		return m.handleSnapshotReady(rd)
	}
	// 2. Apply, answer waiting requests and reads. CommittedEntries are
	// durable on a quorum already: on a follower raft hands out only
	// entries the writer has reported, on a leader those a quorum has
	// (raft.Config.LeaderAppliesUnpersisted). Clients get their answers
	// before this Ready's fdatasync.
	if err := m.applyAndRead(&rd); err != nil {
		return err
	}
	m.rn.AdvanceHandled(rd)
	// 3-4. The writer saves hard state and entries (one fdatasync, shared
	// with whatever else is queued), then sends the acknowledgements of
	// durable state, then the loop appends the entries to the
	// MemoryStorage and tells raft (persisted). A Ready with nothing to
	// persist or acknowledge skips the writer when nothing waits there.
	switch {
	case len(rd.Entries) == 0 && len(rd.MessagesAfterPersist) == 0 && m.walQueued == 0 && commitOnly(prevHS, rd.HardState):
		// Nothing to sync: at most the commit index moved. Like the WAL's
		// own unsynced batches, it is written with the next hand-off,
		// without a trip through the writer now.
		if !rd.HardState.IsEmpty() {
			m.lazyHS = rd.HardState
			if err := m.recordDurable(&rd); err != nil {
				return err
			}
		}
		m.rn.Persisted(rd)
	default:
		if rd.HardState.IsEmpty() {
			rd.HardState = m.lazyHS
		}
		m.lazyHS = raft.HardState{}
		if err := m.handOff(rd); err != nil {
			return err
		}
	}
	// 5. Messages that acknowledge nothing (they may leave before the
	// writer has persisted anything) go last. Sending one wakes the
	// goroutine of its peer's stream, and Go runs the goroutine woken last
	// on this thread as soon as the loop waits: the leader's appends go on
	// the wire first, and the writer, woken before them, is left to the
	// other thread. Sent before the hand-off, they waited behind the
	// writer (1-client write p50 0.618 -> 0.590 ms, 32-client p99 7.98 ->
	// 6.57 ms, medians of 5 and 4 A/B pairs).
	m.sendMessages(rd.Messages)
	m.maybeSnapshot()
	m.maybeCampaignAlone()
	return nil
}

// commitOnly reports whether hs changes nothing but the commit index
// against prev (an empty hs changes nothing).
func commitOnly(prev, hs raft.HardState) bool {
	return hs.IsEmpty() || hs.Term == prev.Term && hs.Vote == prev.Vote
}

// handleSnapshotReady handles a Ready that carries a snapshot from the
// leader, synchronously: install, persist, acknowledge, apply, Advance.
func (m *Member) handleSnapshotReady(rd raft.Ready) error {
	m.lazyHS = raft.HardState{} // rd's own hard state is newer
	if err := m.flushWriter(); err != nil {
		return err
	}
	if err := m.installSnapshot(rd.Snapshot); err != nil {
		return err
	}
	if err := m.applyAndRead(&rd); err != nil {
		return err
	}
	if !rd.HardState.IsEmpty() || len(rd.Entries) > 0 {
		if err := m.save(rd.HardState, rd.Entries); err != nil {
			return fmt.Errorf("%w: %w", ErrFatal, err)
		}
		if err := m.recordDurable(&rd); err != nil {
			return err
		}
	}
	m.sendMessages(rd.MessagesAfterPersist)
	m.rn.Advance(rd)
	m.maybeSnapshot()
	m.maybeCampaignAlone()
	return nil
}

// applyAndRead applies rd's committed entries and serves the reads that
// became possible.
func (m *Member) applyAndRead(rd *raft.Ready) error {
	if err := m.applyEntries(rd.CommittedEntries); err != nil {
		return err
	}
	if len(rd.ReadStates) > 0 {
		m.mu.Lock()
		m.pendingRead = append(m.pendingRead, rd.ReadStates...)
		m.mu.Unlock()
	}
	m.serveReads()
	return nil
}

// recordDurable appends the entries of rd, now durable, to the
// MemoryStorage and publishes its hard state.
func (m *Member) recordDurable(rd *raft.Ready) error {
	if !rd.HardState.IsEmpty() {
		m.ms.SetHardState(rd.HardState)
		m.term.Store(rd.HardState.Term)
	}
	if err := m.ms.Append(rd.Entries); err != nil {
		return fmt.Errorf("%w: %w", ErrFatal, err)
	}
	return nil
}

func (m *Member) softStateChanged(ss raft.SoftState) {
	prev := m.lead.Swap(ss.Lead)
	if ss.Lead != prev {
		m.leaderSince.Store(time.Now().UnixNano())
		m.stats.leaderChanged(ss.Lead, m.id)
	}
	wasLeader := m.isLeader.Swap(ss.RaftState == raft.StateLeader)
	isLeader := ss.RaftState == raft.StateLeader
	m.updateLinger()
	m.mu.Lock()
	select {
	case <-m.leaderCh:
		if ss.Lead == raft.None {
			m.leaderCh = make(chan struct{})
		}
	default:
		if ss.Lead != raft.None {
			close(m.leaderCh)
		}
	}
	m.mu.Unlock()
	switch {
	case isLeader && !wasLeader:
		m.logger.Info("elected leader", "id", hexID(m.id), "term", m.rn.Status().Term)
	case prev != raft.None && ss.Lead == raft.None:
		m.logger.Info("lost leader", "id", hexID(m.id), "previous", hexID(prev))
	case ss.Lead != raft.None && ss.Lead != prev:
		m.logger.Info("new leader", "id", hexID(m.id), "leader", hexID(ss.Lead))
	}
	lifecycle.Status(m.Status())
}

// sendMessages hands messages to the transport; MsgSnap goes through the
// snapshot stream with the newest snapshot file as payload.
func (m *Member) sendMessages(msgs []raft.Message) {
	if len(msgs) == 0 {
		return
	}
	plain := msgs[:0:0]
	for _, msg := range msgs {
		if msg.Type == raft.MsgApp {
			m.sendApp.Add(1)
		}
		if msg.Type != raft.MsgSnap {
			plain = append(plain, msg)
			continue
		}
		rc, size, err := m.snapper.OpenRaw(msg.Snapshot.Meta)
		if err != nil {
			m.logger.Warn("cannot open snapshot to send", "to", hexID(msg.To), "index", msg.Snapshot.Meta.Index, "err", err)
			to := msg.To
			m.enqueue(func(rn *raft.RawNode) { rn.ReportSnapshot(to, raft.SnapshotFailure) })
			continue
		}
		m.logger.Info("sending snapshot", "to", hexID(msg.To), "index", msg.Snapshot.Meta.Index, "bytes", size)
		if sender, ok := m.snapSender(); ok {
			sender(msg, rc, size)
		} else {
			rc.Close()
		}
	}
	if len(plain) > 0 {
		m.stats.sent(plain)
		m.send(plain)
	}
}

func (m *Member) snapSender() (func(raft.Message, io.ReadCloser, int64), bool) {
	if m.tr == nil {
		return nil, false
	}
	return m.tr.SendSnapshot, true
}

// enqueue runs f on the loop without blocking the caller (dropped if the
// loop's queue is full: raft retries what matters).
func (m *Member) enqueue(f func(*raft.RawNode)) {
	select {
	case m.actc <- f:
	default:
	}
}

// queue hands f to the loop without waiting for it to run; it waits only
// while the loop's queue is full.
func (m *Member) queue(ctx context.Context, f func(*raft.RawNode)) error {
	select {
	case m.actc <- f:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.stopc:
		return errStopped
	}
}

// do runs f on the loop and waits for it to have run.
func (m *Member) do(ctx context.Context, f func(*raft.RawNode)) error {
	done := make(chan struct{})
	if err := m.queue(ctx, func(rn *raft.RawNode) { f(rn); close(done) }); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.stopc:
		return errStopped
	}
}

// installSnapshot makes a snapshot received from the leader (already stored
// by ReceiveSnapshot) the member's state.
func (m *Member) installSnapshot(s raft.Snapshot) error {
	defer m.stats.snapshotInstalled(time.Now())
	r, err := m.snapper.Open(s.Meta)
	if err != nil {
		return fmt.Errorf("%w: open received snapshot: %w", ErrFatal, err)
	}
	err = m.store.Restore(r)
	r.Close()
	if err != nil {
		return fmt.Errorf("%w: restore snapshot: %w", ErrFatal, err)
	}
	if err := m.wal.SaveSnapshot(wal.SnapshotMarker{Index: s.Meta.Index, Term: s.Meta.Term}); err != nil {
		return fmt.Errorf("%w: %w", ErrFatal, err)
	}
	if err := m.ms.ApplySnapshot(s); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
		return fmt.Errorf("%w: %w", ErrFatal, err)
	}
	m.confState = s.Meta.ConfState
	m.applied.Store(s.Meta.Index)
	m.appliedTerm = s.Meta.Term
	m.snapIndex.Store(s.Meta.Index)
	m.cluster.load(m.store)
	m.syncPeers()
	m.notifyApplied()
	m.logger.Info("installed snapshot from leader", "index", s.Meta.Index, "store-index", m.store.Index())
	return nil
}

// applyEntries applies committed entries in order and answers waiters.
func (m *Member) applyEntries(ents []raft.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	for _, e := range ents {
		if e.Index <= m.applied.Load() {
			continue
		}
		switch e.Type {
		case raft.EntryNormal:
			if len(e.Data) > 0 {
				if err := m.applyRequest(e); err != nil {
					return err
				}
			}
		case raft.EntryConfChange:
			cc, err := raft.UnmarshalConfChange(e.Data)
			if err != nil {
				return fmt.Errorf("%w: index %d: %w", ErrCorruptEntry, e.Index, err)
			}
			m.applyConfChange(cc)
		}
		m.applied.Store(e.Index)
		m.appliedTerm = e.Term
	}
	m.notifyApplied()
	return nil
}

func (m *Member) notifyApplied() {
	m.mu.Lock()
	close(m.appliedCh)
	m.appliedCh = make(chan struct{})
	m.mu.Unlock()
}

func (m *Member) applyRequest(e raft.Entry) error {
	id, proposer, req, err := decodeEntry(e.Data)
	if err != nil {
		return fmt.Errorf("index %d: %w", e.Index, err)
	}
	ev, err := m.store.Apply(req)
	if req.Op == kv.OpExpire {
		m.expirePending = time.Time{}
	}
	if err == nil && (strings.HasPrefix(req.Path, "/0/") || req.Op == kv.OpExpire) {
		m.cluster.load(m.store)
	}
	if proposer == m.id {
		m.trigger(id, result{ev: ev, err: err})
	}
	return nil
}

func (m *Member) trigger(id uint64, r result) {
	if id == 0 {
		return
	}
	m.mu.Lock()
	ch, ok := m.waiters[id]
	delete(m.waiters, id)
	m.mu.Unlock()
	if ok {
		ch <- r // buffered
	}
}

// applyConfChange records a membership change in the store (etcd's layout)
// and in raft.
func (m *Member) applyConfChange(cc raft.ConfChange) {
	var ctx confContext
	if len(cc.Context) > 0 {
		if err := jsonUnmarshal(cc.Context, &ctx); err != nil {
			m.logger.Warn("conf change with bad context", "err", err)
		}
	}
	dir := memberDir(cc.NodeID)
	put := func(key, value string) {
		if _, err := m.store.Apply(kv.Request{Op: kv.OpPut, Path: key, Value: value}); err != nil {
			m.logger.Error("recording membership", "key", key, "err", err)
		}
	}
	// Changes replayed at start-up were logged when they happened.
	logMember := m.logger.Info
	if m.applied.Load() < m.startCommit {
		logMember = m.logger.Debug
	}
	var err error
	old, exists := m.cluster.get(cc.NodeID)
	switch cc.Type {
	case raft.ConfChangeAddVoter, raft.ConfChangeAddLearner:
		urls := ctx.PeerURLs
		if len(urls) == 0 && exists {
			urls = old.PeerURLs
		}
		put(dir+"/"+raftAttrName, mustJSON(raftAttributes{PeerURLs: urls, IsLearner: cc.Type == raft.ConfChangeAddLearner}))
		switch {
		case exists && old.IsLearner && cc.Type == raft.ConfChangeAddVoter:
			logMember("learner promoted", "member", hexID(cc.NodeID))
		case cc.Type == raft.ConfChangeAddLearner:
			logMember("learner added", "member", hexID(cc.NodeID), "peer-urls", urls)
		default:
			logMember("member added", "member", hexID(cc.NodeID), "peer-urls", urls)
		}
	case raft.ConfChangeRemove:
		if exists {
			if _, err := m.store.Apply(kv.Request{Op: kv.OpDelete, Path: dir, Dir: true, Recursive: true}); err != nil {
				m.logger.Error("recording removal", "err", err)
			}
		}
		put(removedDir+"/"+hexID(cc.NodeID), "")
		logMember("member removed", "member", hexID(cc.NodeID))
	case raft.ConfChangeUpdate:
		if exists {
			put(dir+"/"+raftAttrName, mustJSON(raftAttributes{PeerURLs: ctx.PeerURLs, IsLearner: old.IsLearner}))
			logMember("member updated", "member", hexID(cc.NodeID), "peer-urls", ctx.PeerURLs)
		} else {
			err = errMemberNotFound
		}
	}
	cs := m.rn.ApplyConfChange(cc)
	if cs != nil {
		m.confState = *cs
	}
	m.cluster.load(m.store)
	m.syncPeers()
	if ctx.Proposer == m.id {
		m.trigger(cc.ID, result{err: err})
	}
	if cc.Type == raft.ConfChangeRemove && cc.NodeID == m.id {
		m.markRemoved("applied its own removal")
	}
}

// syncPeers makes the transport's peers match the membership.
func (m *Member) syncPeers() {
	if m.tr == nil {
		return
	}
	want := map[uint64][]string{}
	for _, p := range m.joinPeers {
		if id, err := parseHex(p.ID); err == nil {
			want[id] = p.PeerURLs
		}
	}
	for _, mem := range m.cluster.list() {
		want[mem.ID] = mem.PeerURLs
	}
	for id, urls := range want {
		if id == m.id || m.cluster.isRemoved(id) || len(urls) == 0 {
			continue
		}
		if err := m.tr.AddPeer(id, urls); errors.Is(err, transport.ErrPeerExists) {
			m.tr.UpdatePeer(id, urls)
		}
	}
	m.cluster.mu.RLock()
	removed := make([]uint64, 0, len(m.cluster.removed))
	for id := range m.cluster.removed {
		removed = append(removed, id)
	}
	m.cluster.mu.RUnlock()
	for _, id := range removed {
		m.tr.RemovePeer(id)
	}
}

// maybeCampaignAlone starts an election at once, instead of after an
// election timeout, when this member is the only voter (a single-member
// cluster starting or restarting): nobody else could be leader.
func (m *Member) maybeCampaignAlone() {
	cs := m.confState
	if m.campaigned || m.lead.Load() != raft.None || len(cs.Voters) != 1 || cs.Voters[0] != m.id {
		return
	}
	m.campaigned = true
	if err := m.rn.Campaign(); err != nil {
		m.logger.Debug("campaign", "err", err)
	}
}

// checkRemovedByPeers notices a removal this member missed (it was down or
// partitioned when the removal was committed): its peers refuse its
// streams with 410 Gone.
func (m *Member) checkRemovedByPeers() {
	if m.tr == nil {
		return
	}
	for _, ps := range m.tr.Status() {
		if errors.Is(ps.Err, transport.ErrRemoved) && !ps.Active {
			m.markRemoved(fmt.Sprintf("peer %x refuses this member as removed", ps.ID))
			return
		}
	}
}

func (m *Member) markRemoved(why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.removedc:
	default:
		m.logger.Warn("this member was removed from the cluster; stopping", "why", why)
		close(m.removedc)
	}
}

// maybeExpire proposes an expiry when the leader's clock passed the
// earliest TTL; an idle store (nothing due) writes nothing.
func (m *Member) maybeExpire() {
	if !m.isLeader.Load() {
		return
	}
	next, ok := m.store.NextExpiry()
	now := m.now()
	if !ok || next > now.UnixNano() {
		return
	}
	if !m.expirePending.IsZero() && now.Sub(m.expirePending) < m.electionDur {
		return
	}
	req := kv.Request{Op: kv.OpExpire, Time: now.UnixNano()}
	if err := m.rn.Propose(encodeEntry(0, m.id, &req)); err == nil {
		m.expirePending = now
	}
}

// maybeSnapshot starts a snapshot once --snapshot-count entries were
// applied since the last one. The store is saved on another goroutine; the
// loop only waits until the store has captured its state.
func (m *Member) maybeSnapshot() {
	applied := m.applied.Load()
	// After a failed attempt, wait for another --snapshot-count entries.
	since := max(m.snapIndex.Load(), m.snapFailedAt)
	if !m.staggered && len(m.confState.Voters) > 0 {
		m.staggered = true
		m.snapStagger = snapshotStagger(m.id, m.confState.Voters, m.cfg.SnapshotCount)
	}
	if m.snapshotting || applied-since < m.cfg.SnapshotCount+m.snapStagger || m.appliedTerm == 0 {
		return
	}
	m.snapStagger = 0
	meta := raft.SnapshotMeta{Index: applied, Term: m.appliedTerm, ConfState: raft.ConfState{
		Voters:   append([]uint64(nil), m.confState.Voters...),
		Learners: append([]uint64(nil), m.confState.Learners...),
	}}
	m.snapshotting = true
	m.procs.snapshotting(true)
	captured := make(chan struct{})
	var once sync.Once
	// Once the store has captured its state, nothing waits for the rest
	// of the snapshot: it runs at a lower priority (on its own thread,
	// which ends with the goroutine).
	capture := func() {
		once.Do(func() {
			close(captured)
			lowerThreadPriority()
		})
	}
	m.goFunc(func() {
		err := m.writeSnapshot(meta, capture)
		capture()
		select {
		case m.snapc <- snapResult{meta, err}:
		case <-m.stopc:
		}
	})
	select {
	case <-captured:
	case <-m.stopc:
	}
}

// snapshotStagger is how far past --snapshot-count (count) member id takes
// its first snapshot: count/n times its rank among the n voters. Members
// that started together then snapshot at indexes count/n apart instead of
// all at once, so a commit, which needs the leader and one follower, does
// not wait for every follower's snapshot at the same moment, and members
// that share a box do not all take their CPU for it together. A learner or
// a lone member has none.
func snapshotStagger(id uint64, voters []uint64, count uint64) uint64 {
	rank := 0
	found := false
	for _, v := range voters {
		switch {
		case v == id:
			found = true
		case v < id:
			rank++
		}
	}
	if !found {
		return 0
	}
	return count / uint64(len(voters)) * uint64(rank)
}

func (m *Member) writeSnapshot(meta raft.SnapshotMeta, captured func()) error {
	defer m.stats.snapshotSaved(time.Now())
	w, err := m.snapper.Create(meta)
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := m.store.Save(&captureWriter{w: w, first: captured}); err != nil {
		return err
	}
	return w.Commit()
}

// captureWriter reports its first Write: kv.Store.Save has captured its
// state by then, so the loop may apply again.
type captureWriter struct {
	w     io.Writer
	first func()
}

func (c *captureWriter) Write(p []byte) (int, error) {
	c.first()
	return c.w.Write(p)
}

func (m *Member) snapshotDone(res snapResult) {
	m.snapshotting = false
	m.procs.snapshotting(false)
	if err := m.flushWriter(); err != nil {
		m.fail(err)
		return
	}
	m.stats.snapshotDone(res.err)
	if res.err != nil {
		m.logger.Error("snapshot failed", "index", res.meta.Index, "err", res.err)
		m.snapFailedAt = res.meta.Index
		return
	}
	if err := m.wal.SaveSnapshot(wal.SnapshotMarker{Index: res.meta.Index, Term: res.meta.Term}); err != nil {
		m.fail(fmt.Errorf("%w: %w", ErrFatal, err))
		return
	}
	if _, err := m.ms.CreateSnapshot(res.meta.Index, &res.meta.ConfState, nil); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
		m.logger.Error("snapshot not recorded in raft storage", "err", err)
		return
	}
	m.snapIndex.Store(max(m.snapIndex.Load(), res.meta.Index))
	if res.meta.Index > m.CatchUpEntries {
		if err := m.ms.Compact(res.meta.Index - m.CatchUpEntries); err != nil && !errors.Is(err, raft.ErrCompacted) {
			m.logger.Warn("compacting the in-memory log", "err", err)
		}
	}
	if err := m.wal.ReleaseBefore(res.meta.Index); err != nil {
		m.logger.Warn("releasing old WAL segments", "err", err)
	}
	m.logger.Info("snapshot taken", "index", res.meta.Index, "term", res.meta.Term, "store-index", m.store.Index())
}

// serveReads answers ReadIndex requests whose index has been applied.
func (m *Member) serveReads() {
	applied := m.applied.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	kept := m.pendingRead[:0]
	for _, rs := range m.pendingRead {
		if rs.Index > applied {
			kept = append(kept, rs)
			continue
		}
		id := readID(rs.RequestCtx)
		if ch, ok := m.readWaiters[id]; ok {
			delete(m.readWaiters, id)
			ch <- rs.Index
		}
	}
	m.pendingRead = kept
}

// Transport callbacks (transport.Raft).

// Process steps a message received from a peer.
func (m *Member) Process(ctx context.Context, msg raft.Message) error {
	if msg.Type == raft.MsgApp {
		m.recvApp.Add(1)
	}
	m.stats.received(&msg)
	step := func(rn *raft.RawNode) {
		if err := rn.Step(msg); err != nil {
			m.logger.Debug("step", "type", msg.Type.String(), "from", hexID(msg.From), "err", err)
		}
	}
	size := int64(msgSize(&msg))
	if msg.Type == raft.MsgSnap || m.queuedBytes.Load()+size > maxQueuedBytes {
		// The transport reports a snapshot applied once this returns; and
		// when much is queued already, the stream waits (back-pressure).
		return m.do(ctx, step)
	}
	// Queue without waiting for the loop: the stream reads and decodes the
	// next frame while the loop works. The queue is FIFO, so a stream's
	// messages stay in order; queued payload is bounded by maxQueuedBytes
	// (a catching-up follower would otherwise buffer the leader's whole
	// inflight window of MaxSizePerMsg appends).
	m.queuedBytes.Add(size)
	select {
	case m.actc <- func(rn *raft.RawNode) { m.queuedBytes.Add(-size); step(rn) }:
		return nil
	case <-ctx.Done():
		m.queuedBytes.Add(-size)
		return ctx.Err()
	case <-m.stopc:
		m.queuedBytes.Add(-size)
		return errStopped
	}
}

// maxQueuedBytes bounds the payload of received messages waiting for the
// loop without their stream waiting too.
const maxQueuedBytes = 4 << 20

// msgSize approximates the memory a queued message holds: its entries.
func msgSize(msg *raft.Message) int {
	n := 0
	for i := range msg.Entries {
		n += len(msg.Entries[i].Data) + 32
	}
	return n
}

// IsRemoved reports whether id was removed from the cluster.
func (m *Member) IsRemoved(id uint64) bool { return m.cluster.isRemoved(id) }

// ReportUnreachable tells raft a peer could not be reached.
func (m *Member) ReportUnreachable(id uint64) {
	if m.isLeader.Load() {
		m.stats.followers.failed(id)
	}
	m.enqueue(func(rn *raft.RawNode) { rn.ReportUnreachable(id) })
}

// ReportSnapshot tells raft how a snapshot send ended.
func (m *Member) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	select {
	case m.actc <- func(rn *raft.RawNode) { rn.ReportSnapshot(id, status) }:
	case <-m.stopc:
	}
}

// ReceiveSnapshot stores a snapshot streamed by the leader.
func (m *Member) ReceiveSnapshot(ctx context.Context, msg raft.Message, payload io.Reader) error {
	meta, err := m.snapper.Receive(payload)
	if err != nil {
		return err
	}
	if msg.Snapshot == nil || meta.Index != msg.Snapshot.Meta.Index || meta.Term != msg.Snapshot.Meta.Term {
		return fmt.Errorf("server: received snapshot %d/%d does not match its MsgSnap", meta.Index, meta.Term)
	}
	m.stats.snapReceived.Add(1)
	m.logger.Info("received snapshot", "from", hexID(msg.From), "index", meta.Index)
	return nil
}
