package server

import (
	"fmt"
	"slices"
	"time"

	"cairn/raft"
)

// The disk writer persists Readies on its own goroutine (raft doc.go,
// "Persisting on another goroutine"), so that the Ready loop keeps stepping
// messages, proposing, applying and answering clients while an fdatasync is
// under way. Everything that reaches the writer while it syncs goes into
// its next Save: one WAL record and one fdatasync for all of it (group
// commit). Only after that Save returns does it send the Readies'
// MessagesAfterPersist, and only then does the loop append their entries
// to the MemoryStorage and call RawNode.Persisted, in order.

// maxWriterQueue bounds the Readies handed to the writer and not yet
// reported durable; past it the loop waits for the disk.
const maxWriterQueue = 1024

// A leader's writer lingers. Raft applies a leader's committed entries
// without waiting for its own copy (raft.Config.LeaderAppliesUnpersisted):
// a leader counts its own log towards the commit index only once it is
// durable, so what it knows committed is durable on a quorum. With three or
// more voters, a quorum of followers commits without the leader's disk, and
// under load (the previous save held the entries of several Readies) the
// leader's writer gathers Readies for up to lingerMax before one save,
// instead of saving each as it comes. Each save is a write and an
// fdatasync, and on a small box those two I/Os cost more CPU than anything
// else a write does (docs/performance.md). It saves at once when it is
// asked to (flushWriter, before a snapshot marker), when a Ready carries
// acknowledgements, a snapshot or a new term or vote, when the loop says a
// quorum of followers may not keep up (lingerOK false: not leader, fewer
// than three voters, or too few followers replicating), and when
// maxLingerSize Readies wait. The leader's own log then trails its applied
// state by up to lingerMax; a crash loses at most that from its disk, never
// from the quorum that committed it.

// maxLingerSize is the most Readies a lingering writer gathers.
const maxLingerSize = maxWriterQueue / 2

// lingerMax is how long a leader's writer gathers Readies (a variable for
// tests).
var lingerMax = 2 * time.Millisecond

// runWriter is the disk writer goroutine.
func (m *Member) runWriter() {
	var (
		batch  []raft.Ready
		loaded bool           // the last save had entries of several Readies
		saved  raft.HardState // the newest hard state saved
		timer  *time.Timer
		timerC <-chan time.Time
	)
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
		}
		timerC = nil
	}
	for {
		if len(batch) == 0 {
			select {
			case rd := <-m.walIn:
				batch = append(batch, rd)
			case <-m.stopc:
				m.saveAtStop(batch)
				return
			}
		}
	more:
		for len(batch) < maxWriterQueue {
			select {
			case rd := <-m.walIn:
				batch = append(batch, rd)
			default:
				break more
			}
		}
		if loaded && m.mayLinger(batch, saved) {
			if timerC == nil {
				if timer == nil {
					timer = time.NewTimer(lingerMax)
				} else {
					timer.Reset(lingerMax)
				}
				timerC = timer.C
			}
			select {
			case rd := <-m.walIn:
				batch = append(batch, rd)
				continue
			case <-m.walFlush:
			case <-timerC:
				timerC = nil
			case <-m.stopc:
				m.saveAtStop(batch)
				return
			}
		}
		stopTimer()
		hs, ents := mergeReadies(batch)
		if !hs.IsEmpty() || len(ents) > 0 {
			if err := m.save(hs, ents); err != nil {
				m.fail(fmt.Errorf("%w: %w", ErrFatal, err))
				return
			}
			if !hs.IsEmpty() {
				saved = hs
			}
		}
		loaded = withEntries(batch) >= 2
		for i := range batch {
			m.sendMessages(batch[i].MessagesAfterPersist)
		}
		select {
		case m.walOut <- batch: // the loop owns batch from here on
			batch = nil
		case <-m.stopc:
			m.saveAtStop(nil)
			return
		}
	}
}

// mayLinger reports whether the writer may wait for more Readies before
// saving batch (see lingerMax); saved is the newest hard state saved.
func (m *Member) mayLinger(batch []raft.Ready, saved raft.HardState) bool {
	if len(batch) >= maxLingerSize || !m.lingerOK.Load() {
		return false
	}
	for i := range batch {
		rd := &batch[i]
		hs := rd.HardState
		if len(rd.MessagesAfterPersist) > 0 || !rd.Snapshot.IsEmpty() ||
			!hs.IsEmpty() && (hs.Term != saved.Term || hs.Vote != saved.Vote) {
			return false
		}
	}
	return true
}

// withEntries counts the Readies of batch that carry entries.
func withEntries(batch []raft.Ready) int {
	n := 0
	for i := range batch {
		if len(batch[i].Entries) > 0 {
			n++
		}
	}
	return n
}

// saveAtStop saves what the writer holds when the member stops, so that a
// clean stop keeps everything a lingering leader applied. Nothing is
// reported: the loop has stopped.
func (m *Member) saveAtStop(batch []raft.Ready) {
drain:
	for {
		select {
		case rd := <-m.walIn:
			batch = append(batch, rd)
		default:
			break drain
		}
	}
	hs, ents := mergeReadies(batch)
	if hs.IsEmpty() && len(ents) == 0 {
		return
	}
	if err := m.save(hs, ents); err != nil {
		m.logger.Warn("cannot save the last entries at stop", "err", err)
	}
}

// mergeReadies folds the HardStates and Entries of consecutive Readies into
// one: the newest HardState, and the entries as a log would hold them after
// appending each Ready's in turn (a later Ready's entries replace any
// suffix they overlap, as after a follower's conflict).
func mergeReadies(rds []raft.Ready) (raft.HardState, []raft.Entry) {
	var hs raft.HardState
	var ents []raft.Entry
	owned := false // ents is a copy, not raft's own slice
	for i := range rds {
		rd := &rds[i]
		if !rd.HardState.IsEmpty() {
			hs = rd.HardState
		}
		if len(rd.Entries) == 0 {
			continue
		}
		if ents == nil {
			ents = rd.Entries // no copy while only one Ready has entries
			continue
		}
		if !owned {
			ents, owned = slices.Clone(ents), true
		}
		// Entries from first on are replaced (ents is never empty here).
		first := rd.Entries[0].Index
		keep := min(max(first, ents[0].Index)-ents[0].Index, uint64(len(ents)))
		ents = append(ents[:keep], rd.Entries...)
	}
	return hs, ents
}

// handOff gives rd to the writer; while the writer's queue is full it
// takes the writer's reports instead, so neither side waits on the other.
func (m *Member) handOff(rd raft.Ready) error {
	for {
		if m.walQueued < maxWriterQueue {
			select {
			case m.walIn <- rd:
				m.walQueued++
				return nil
			default:
			}
		}
		if err := m.awaitWriter(); err != nil {
			return err
		}
	}
}

// awaitWriter waits for the writer's next report and records it.
func (m *Member) awaitWriter() error {
	select {
	case done := <-m.walOut:
		return m.persisted(done)
	case <-m.failc:
		return ErrFatal
	case <-m.stopc:
		return errStopped
	}
}

// persisted records Readies the writer made durable: their entries join
// the MemoryStorage and raft hears they are durable, in order.
func (m *Member) persisted(done []raft.Ready) error {
	for i := range done {
		if err := m.recordDurable(&done[i]); err != nil {
			return err
		}
		m.rn.Persisted(done[i])
	}
	m.walQueued -= len(done)
	return nil
}

// flushWriter waits until everything handed to the writer is durable and
// reported (before the loop itself writes to the WAL: snapshot markers, a
// received snapshot).
func (m *Member) flushWriter() error {
	for m.walQueued > 0 {
		select {
		case m.walFlush <- struct{}{}: // a lingering writer saves now
		default:
		}
		if err := m.awaitWriter(); err != nil {
			return err
		}
	}
	return nil
}

// updateLinger tells the writer whether it may linger (see lingerMax): only
// on a leader of three or more voters, of which enough followers replicate
// to commit without it. The loop calls it on every tick and when the role
// changes.
func (m *Member) updateLinger() {
	ok := false
	if m.isLeader.Load() {
		st := m.rn.Status()
		if voters := st.Config.Voters; len(voters) >= 3 {
			n := 0
			for _, id := range voters {
				if pr, found := st.Progress[id]; found && id != m.id && pr.State == raft.ProgressReplicate {
					n++
				}
			}
			ok = n >= len(voters)/2+1
		}
	}
	m.lingerOK.Store(ok)
}
