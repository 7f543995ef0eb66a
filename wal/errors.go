package wal

import "errors"

// Errors returned (wrapped, match with errors.Is) by this package, grouped by
// the phase in which they occur.
var (
	// Create and Open.

	// ErrExist is returned by Create when the directory already holds a WAL.
	ErrExist = errors.New("wal: directory already holds a WAL")
	// ErrNotExist is returned by Open when the directory holds no WAL segment.
	ErrNotExist = errors.New("wal: no WAL in directory")
	// ErrLocked is returned by Open and Create when another WAL value (in this
	// or another process) has the directory open.
	ErrLocked = errors.New("wal: directory is locked by another user")
	// ErrOptions is returned for invalid Options.
	ErrOptions = errors.New("wal: invalid options")

	// ReadAll (replay).

	// ErrCorrupt means the log is damaged somewhere other than a torn tail:
	// a CRC mismatch followed by valid data, a bad record in a segment that is
	// not the last one, a broken CRC chain, a missing segment, or a record that
	// fails validation. The wrapping error names the file and offset. The WAL
	// refuses to open; the operator must restore the member from a peer.
	ErrCorrupt = errors.New("wal: log is corrupt")
	// ErrSnapshotNotFound means the snapshot marker passed to Open is not in
	// the log, or the segments that would hold it were released.
	ErrSnapshotNotFound = errors.New("wal: snapshot marker not found in log")
	// ErrSnapshotStale means the log was replaced, after the marker passed to
	// Open, by a later snapshot: open at the newer snapshot instead.
	ErrSnapshotStale = errors.New("wal: a later snapshot replaced the log after the marker")

	// Appending.

	// ErrNotReady is returned by Save, SaveSnapshot and ReleaseBefore on a WAL
	// returned by Open before ReadAll succeeded, and by ReadAll when called
	// twice or on a WAL returned by Create.
	ErrNotReady = errors.New("wal: wrong mode for this call (ReadAll not done, or already done)")
	// ErrInvalid is returned for a Save or SaveSnapshot whose arguments break
	// the Raft log rules (a gap, a decreasing term, an overwrite of entries
	// covered by a snapshot, ...). Nothing is written and the WAL stays usable.
	ErrInvalid = errors.New("wal: invalid append")
	// ErrFatal wraps the first I/O error of a write, fdatasync or fsync. The
	// WAL is then unusable for good: every later call returns the same error.
	// The process must exit and recover by opening the log again; an fsync is
	// never retried, because after a failed writeback the kernel may report a
	// later fsync as successful although data was lost ("fsyncgate").
	ErrFatal = errors.New("wal: fatal I/O error, the process must restart and recover")
	// ErrClosed is returned by calls on a closed WAL.
	ErrClosed = errors.New("wal: closed")
)
