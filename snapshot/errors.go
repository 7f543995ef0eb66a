package snapshot

import "errors"

// Errors returned (wrapped, match with errors.Is) by this package, grouped by
// the phase that produces them.
var (
	// Setup.

	// ErrInvalidOptions is returned by New for options it cannot honor.
	ErrInvalidOptions = errors.New("snapshot: invalid options")

	// Writing.

	// ErrInvalidMeta is returned by Create for metadata that no snapshot may
	// carry (index or term 0, member ID 0, duplicate members).
	ErrInvalidMeta = errors.New("snapshot: invalid metadata")
	// ErrFinished is returned by a Writer after Commit or Abort.
	ErrFinished = errors.New("snapshot: writer already committed or aborted")

	// Reading and receiving.

	// ErrNoSnapshot means the directory holds no usable snapshot (for
	// Newest), or none with the requested metadata (for Open and OpenRaw).
	ErrNoSnapshot = errors.New("snapshot: no usable snapshot")
	// ErrCorrupt means the bytes of a snapshot file or stream fail
	// verification: bad magic, checksum mismatch, truncation, invalid
	// metadata, undecodable payload.
	ErrCorrupt = errors.New("snapshot: corrupt snapshot")
	// ErrTooLarge is returned by Receive for a stream longer than
	// Options.MaxReceiveSize.
	ErrTooLarge = errors.New("snapshot: stream exceeds the size limit")
)
