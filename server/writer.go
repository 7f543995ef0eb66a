package server

import (
	"fmt"
	"slices"

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

// runWriter is the disk writer goroutine.
func (m *Member) runWriter() {
	for {
		var batch []raft.Ready
		select {
		case rd := <-m.walIn:
			batch = append(batch, rd)
		case <-m.stopc:
			return
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
		hs, ents := mergeReadies(batch)
		if !hs.IsEmpty() || len(ents) > 0 {
			if err := m.save(hs, ents); err != nil {
				m.fail(fmt.Errorf("%w: %w", ErrFatal, err))
				return
			}
		}
		for i := range batch {
			m.sendMessages(batch[i].MessagesAfterPersist)
		}
		select {
		case m.walOut <- batch: // the loop owns batch from here on
		case <-m.stopc:
			return
		}
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
		if err := m.awaitWriter(); err != nil {
			return err
		}
	}
	return nil
}
