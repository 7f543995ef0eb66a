package raft

import (
	"errors"
	"fmt"
	"sync"
)

// Storage errors.
var (
	// ErrCompacted: the requested index is older than the storage's first
	// index (it was compacted into a snapshot).
	ErrCompacted = errors.New("raft: requested index is unavailable due to compaction")
	// ErrSnapOutOfDate: the snapshot given is older than the one held.
	ErrSnapOutOfDate = errors.New("raft: requested index is older than the existing snapshot")
	// ErrUnavailable: the requested index is beyond the last index.
	ErrUnavailable = errors.New("raft: requested entry at index is unavailable")
	// ErrSnapshotTemporarilyUnavailable: the snapshot is being produced; raft
	// retries later.
	ErrSnapshotTemporarilyUnavailable = errors.New("raft: snapshot is temporarily unavailable")
)

// Storage is raft's read-only view of the durable log, implemented by the
// application. Raft never writes to it: the application persists what Ready
// hands out and then calls Advance.
//
// Errors: ErrCompacted and ErrUnavailable as documented per method; any other
// error is fatal to the member (raft panics through Config.Logger).
// Returned slices are owned by the caller only for reading: raft does not
// modify them, and the implementation must not modify them afterwards.
type Storage interface {
	// InitialState returns the saved HardState and the ConfState as of the
	// last applied configuration change (or snapshot).
	InitialState() (HardState, ConfState, error)
	// Entries returns the entries in [lo, hi), limited to maxSize bytes of
	// Data but at least one entry if any are in range. ErrCompacted if lo is
	// not above the snapshot index, ErrUnavailable if hi is past LastIndex+1.
	Entries(lo, hi, maxSize uint64) ([]Entry, error)
	// Term returns the term of entry i, which must be in
	// [FirstIndex()-1, LastIndex()]; the term at FirstIndex()-1 (the
	// snapshot's) is kept for log matching.
	Term(i uint64) (uint64, error)
	// FirstIndex is the index of the first entry possibly available through
	// Entries (older ones were compacted into the snapshot).
	FirstIndex() (uint64, error)
	// LastIndex is the index of the last entry in the log.
	LastIndex() (uint64, error)
	// Snapshot returns the most recent snapshot, or
	// ErrSnapshotTemporarilyUnavailable.
	Snapshot() (Snapshot, error)
}

// MemoryStorage is a Storage held in memory. Tests use it as the durable log;
// a member uses it as the cache of its WAL (append to the WAL, fsync, then
// Append here). It is safe for concurrent use.
//
// Compaction is the application's job: after CreateSnapshot(i, ...) it calls
// Compact(j) with j <= i, keeping i-j entries so that slow followers can still
// catch up from the log instead of needing the whole snapshot (etcd keeps 5000).
type MemoryStorage struct {
	mu        sync.Mutex
	hardState HardState
	snapshot  Snapshot
	// ents[0] is a dummy entry holding the index and term of the snapshot
	// (or 0/0); real entries follow.
	// Invariant: ents[i].Index == ents[0].Index + i.
	ents []Entry
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{ents: make([]Entry, 1)}
}

// InitialState implements Storage.
func (ms *MemoryStorage) InitialState() (HardState, ConfState, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.hardState, ms.snapshot.Meta.ConfState, nil
}

// SetHardState saves hs.
func (ms *MemoryStorage) SetHardState(hs HardState) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.hardState = hs
	return nil
}

// Entries implements Storage.
func (ms *MemoryStorage) Entries(lo, hi, maxSize uint64) ([]Entry, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if lo <= offset {
		return nil, ErrCompacted
	}
	if hi > ms.lastIndex()+1 {
		return nil, fmt.Errorf("%w: entries [%d, %d) past last index %d", ErrUnavailable, lo, hi, ms.lastIndex())
	}
	if lo >= hi {
		return nil, nil
	}
	ents := ms.ents[lo-offset : hi-offset : hi-offset]
	return limitSize(ents, maxSize), nil
}

// Term implements Storage.
func (ms *MemoryStorage) Term(i uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if i < offset {
		return 0, ErrCompacted
	}
	if i-offset >= uint64(len(ms.ents)) {
		return 0, ErrUnavailable
	}
	return ms.ents[i-offset].Term, nil
}

// LastIndex implements Storage.
func (ms *MemoryStorage) LastIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.lastIndex(), nil
}

func (ms *MemoryStorage) lastIndex() uint64 { return ms.ents[0].Index + uint64(len(ms.ents)) - 1 }

// FirstIndex implements Storage.
func (ms *MemoryStorage) FirstIndex() (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.ents[0].Index + 1, nil
}

// Snapshot implements Storage.
func (ms *MemoryStorage) Snapshot() (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.snapshot, nil
}

// ApplySnapshot replaces the storage's contents with snapshot s (received
// from a leader). ErrSnapOutOfDate if s is older than the held snapshot.
func (ms *MemoryStorage) ApplySnapshot(s Snapshot) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if s.Meta.Index <= ms.snapshot.Meta.Index {
		return ErrSnapOutOfDate
	}
	ms.snapshot = s
	ms.ents = []Entry{{Term: s.Meta.Term, Index: s.Meta.Index}}
	return nil
}

// CreateSnapshot records a snapshot of the application state as of applied
// index i (cs is the membership at i, if non-nil) and returns it. It does not
// compact the log; call Compact for that. ErrSnapOutOfDate if i is not newer
// than the held snapshot.
func (ms *MemoryStorage) CreateSnapshot(i uint64, cs *ConfState, data []byte) (Snapshot, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if i <= ms.snapshot.Meta.Index {
		return Snapshot{}, ErrSnapOutOfDate
	}
	offset := ms.ents[0].Index
	if i > ms.lastIndex() {
		return Snapshot{}, fmt.Errorf("%w: snapshot index %d past last index %d", ErrUnavailable, i, ms.lastIndex())
	}
	ms.snapshot.Meta.Index = i
	ms.snapshot.Meta.Term = ms.ents[i-offset].Term
	if cs != nil {
		ms.snapshot.Meta.ConfState = ConfState{
			Voters:   append([]uint64(nil), cs.Voters...),
			Learners: append([]uint64(nil), cs.Learners...),
		}
	}
	ms.snapshot.Data = data
	return ms.snapshot, nil
}

// Compact discards the entries before compactIndex, which must not be past
// the last index. The entry at compactIndex becomes the dummy entry whose
// term is kept for log matching. ErrCompacted if already compacted.
func (ms *MemoryStorage) Compact(compactIndex uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	offset := ms.ents[0].Index
	if compactIndex <= offset {
		return ErrCompacted
	}
	if compactIndex > ms.lastIndex() {
		return fmt.Errorf("%w: compact %d past last index %d", ErrUnavailable, compactIndex, ms.lastIndex())
	}
	i := compactIndex - offset
	ents := make([]Entry, 1, uint64(len(ms.ents))-i)
	ents[0] = Entry{Index: ms.ents[i].Index, Term: ms.ents[i].Term}
	ents = append(ents, ms.ents[i+1:]...)
	ms.ents = ents
	return nil
}

// Append adds entries to the log. They must be contiguous; entries already
// compacted are skipped, and an existing suffix from the first new index on
// is replaced (a leader overwrote a conflicting tail).
func (ms *MemoryStorage) Append(entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for i := 1; i < len(entries); i++ {
		if entries[i].Index != entries[i-1].Index+1 {
			return fmt.Errorf("%w: entries not contiguous at %d", ErrUnavailable, entries[i].Index)
		}
	}
	first := ms.ents[0].Index + 1
	last := entries[0].Index + uint64(len(entries)) - 1
	if last < first {
		return nil // all compacted
	}
	if first > entries[0].Index {
		entries = entries[first-entries[0].Index:]
	}
	offset := entries[0].Index - ms.ents[0].Index
	switch {
	case uint64(len(ms.ents)) > offset:
		ms.ents = append(ms.ents[:offset:offset], entries...)
	case uint64(len(ms.ents)) == offset:
		ms.ents = append(ms.ents, entries...)
	default:
		return fmt.Errorf("%w: missing log entries [last: %d, append at: %d]", ErrUnavailable, ms.lastIndex(), entries[0].Index)
	}
	return nil
}

// entsSize is the total Data size of ents.
func entsSize(ents []Entry) uint64 {
	var n uint64
	for i := range ents {
		n += uint64(len(ents[i].Data))
	}
	return n
}

// limitSize returns the longest prefix of ents whose data size is within
// maxSize, but at least one entry. maxSize 0 means one entry.
func limitSize(ents []Entry, maxSize uint64) []Entry {
	if len(ents) == 0 {
		return ents
	}
	size := uint64(len(ents[0].Data))
	n := 1
	for ; n < len(ents) && maxSize > 0; n++ {
		size += uint64(len(ents[n].Data))
		if size > maxSize {
			break
		}
	}
	return ents[:n]
}
