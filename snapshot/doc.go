// Package snapshot stores Raft snapshots: the application state (the kv
// store) as of some log index, compressed with zstd inside a CRC-checked
// envelope that also carries the index, term and membership
// (raft.SnapshotMeta).
//
// # Usage
//
// Open a directory with New. To take a snapshot, Create a Writer with the
// metadata, stream the uncompressed state into it (the kv store calls its
// Save(w io.Writer)), then Commit:
//
//	w, err := s.Create(raft.SnapshotMeta{Index: applied, Term: term, ConfState: cs})
//	if err != nil { ... }
//	defer w.Abort() // no-op after a successful Commit
//	if err := store.Save(w); err != nil { ... }
//	if err := w.Commit(); err != nil { ... }
//
// At startup, Newest returns a Reader over the newest snapshot that passes
// verification (the kv store calls Restore(r io.Reader) with it); Open does
// the same for a given snapshot, List lists them. A leader sends a snapshot
// to a follower by streaming OpenRaw's raw file bytes; the follower passes
// the incoming stream to Receive, which stores and verifies it before it
// becomes visible.
//
// Neither side ever holds the whole payload in memory: compression and
// decompression are streamed with a 128 KiB zstd window (readers accept up
// to 8 MiB, so files written with the 1 MiB window of earlier versions
// read), so the machinery needs a few MiB whatever the snapshot's size.
//
// # Files
//
// The directory holds:
//
//	<term>-<index>.snap          a snapshot; term and index as %016x, so
//	                             names sort in snapshot order
//	<term>-<index>.snap.broken   a damaged snapshot set aside for inspection
//	snap-<random>.tmp            a snapshot being written or received
//
// Only complete, fsynced files are ever renamed to *.snap. New removes
// leftover temporary files; Commit and Receive keep the newest Options.Keep
// snapshots (default 5) plus the one just stored; at most
// Options.KeepBroken (default 2) damaged files are kept.
//
// # File format
//
// All integers are little-endian. Every length field is 8-byte aligned.
// CRCs are CRC32-Castagnoli (CRC32C).
//
//	Header, H bytes, H = 40 + align8(L):
//	  off  size
//	  0    8     magic "cairnsnp"
//	  8    4     format version, 1
//	  12   4     L: length of the encoded membership, at most 64 KiB
//	  16   8     Index of the last entry the snapshot covers
//	  24   8     Term of that entry
//	  32   L     membership: raft.AppendConfState (varint counts and IDs)
//	  32+L pad   zero bytes up to a multiple of 8
//	  H-8  4     CRC32C of header bytes [0, H-8)
//	  H-4  4     reserved, zero
//
//	Body, at offset H:
//	  B bytes    one or more zstd frames (with zstd's own content checksum)
//	             holding the payload; then zero bytes up to a multiple of 8
//
//	Trailer, the last 32 bytes, at offset T = H + align8(B):
//	  T+0  8     B: length of the zstd data without padding
//	  T+8  8     P: length of the uncompressed payload
//	  T+16 4     CRC32C of the uncompressed payload
//	  T+20 4     reserved, zero
//	  T+24 4     CRC32C of file bytes [0, T+24)
//	  T+28 4     end magic "CSNP"
//
// The header carries its own checksum so List can read metadata without
// reading whole files. The end magic makes a truncated file easy to tell
// apart in a hex dump; a truncated file is corrupt like any other damage
// (snapshots only become visible once complete, so truncation means the
// disk lost data).
//
// # Verification
//
// Before a Reader (or OpenRaw's stream) is handed out, the whole envelope is
// verified: header checksum, metadata validity (index and term non-zero,
// member IDs non-zero and unique), that the file name matches the metadata,
// trailer layout and zero padding, and the whole-file CRC32C, reading the
// file in 32 KiB chunks. A file failing this is renamed *.broken; Newest then
// tries the next newest. While streaming, the Reader additionally checks the
// payload's length and CRC32C at the end and returns an error wrapping
// ErrCorrupt instead of io.EOF on mismatch, so consumers must read to io.EOF.
// Receive goes further and decompresses the whole payload once before making
// the snapshot visible.
//
// Malformed input (files or network streams) never panics and never makes
// the reader allocate more than about 600 KiB for the header (64 KiB of
// encoded membership, decoded) plus the bounded zstd window and buffers.
//
// # Durability
//
// Write to snap-*.tmp, fsync it, rename it to its final name, fsync the
// directory. Any fsync error is returned and must be treated as fatal (never
// retried; see fsyncgate). Options.UnsafeNoFsync skips the fsyncs.
//
// # Errors
//
// ErrNoSnapshot, ErrCorrupt, ErrTooLarge, ErrInvalidMeta, ErrFinished and
// ErrInvalidOptions are returned wrapped; match them with errors.Is. I/O
// errors from the operating system are wrapped but are not ErrCorrupt, so a
// transient read error does not get a good file set aside.
//
// # Concurrency
//
// A Snapshotter is safe for concurrent use; directory changes are
// serialized by a mutex, and several Writers and Readers may be in use at
// once. A Writer or Reader is used by one goroutine at a time. Retention may
// remove a snapshot that a Reader still has open; on Unix the Reader keeps
// working. One Snapshotter per directory: two processes sharing a directory
// would delete each other's temporary files.
//
// # Caveats
//
// Sizes are int64/uint64 throughout, so files over 2 GiB work on 32-bit
// ARM. Only files written by this package's format version 1 are read.
package snapshot
