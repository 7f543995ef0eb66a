// Package wal is cairn's write-ahead log: the durable record of what Raft
// wrote (entries, hard state, snapshot markers), replayed after a restart.
//
// # Use
//
// A new member creates its log once:
//
//	w, err := wal.Create(dir, wal.Metadata{MemberID: id, ClusterID: cid}, nil)
//
// A restarting member opens it at the snapshot it loaded (the zero marker if
// it has none), replays it, then appends:
//
//	w, err := wal.Open(dir, wal.SnapshotMarker{Index: snap.Index, Term: snap.Term}, nil)
//	md, hs, ents, err := w.ReadAll() // entries after the marker
//	...
//	res, err := w.Save(rd.HardState, rd.Entries) // durable when it returns
//	// send messages that depend on the batch only now (persist before send)
//
// After saving a snapshot file, record it and free old segments:
//
//	err = w.SaveSnapshot(wal.SnapshotMarker{Index: i, Term: t})
//	err = w.ReleaseBefore(i)
//
// # Durability and group commit
//
// Save writes one batch (the hard state, if it changed, and the entries) as
// a single record with a single write and makes it durable with exactly one
// fdatasync: one batch, one sync, whatever the number of entries. The
// returned SaveResult.Batch numbers batches (continuing across restarts);
// when Save returns, that batch and all earlier ones are on disk. The one
// exception (etcd's MustSync rule): a batch without entries whose hard state
// differs from the saved one only in Commit is not synced
// (SaveResult.Synced is false), and not even written at once: its frame is
// kept in memory and written with the next batch, at the next segment cut or
// by Close. Raft never needs a durable commit index (a
// restarted member learns it from the leader), and it becomes durable with
// the next synced batch; a crash may lose it, and replay then returns the
// older hard state. Segments are preallocated, so an fdatasync on the
// append path has no file size to flush. Released segments are recycled
// (see Files): a segment written into one has no unwritten blocks, so each
// save there costs its data write and one cache flush. In a fresh segment,
// on ext4 with a journal and on xfs the WAL also writes zeros over the
// preallocated space, 256 KiB at a time ahead of the log (zero.go): a
// batch then never lands in a block the file system still marks unwritten,
// whose conversion the batch's fdatasync would have to commit to the
// journal too, with one more cache flush. Not elsewhere: on ext4 without a
// journal a conversion costs about as many bytes as the zeros. Entries whose first index is at or below the last
// saved index replace the log from that index on (Raft §5.3); replay
// returns the log as Raft last wrote it.
//
// With Options.DirectIO the tail segment is written through a second
// descriptor opened O_DIRECT (where statx reports direct I/O alignments),
// as whole alignment blocks: the partial block the log ends in is kept in
// memory and rewritten with the next frames, padded with zeros, then
// fdatasync as always. The bytes on disk are the same as without it. It writes the
// batch rounded to the disk's alignment per sync instead of whole page cache
// pages: on the benchmark box 400 instead of 700-840 bytes per 256-byte
// write, at the same throughput and CPU (docs/performance.md). Off in the
// zero Options; the daemon turns it on (--wal-direct-io).
//
// Any error of a write, fdatasync or fsync is fatal (ErrFatal): the WAL
// refuses every later call with the same error and never retries the sync,
// because on Linux a failed writeback can be reported once and then
// forgotten, so a retried fsync may "succeed" with data lost. The process
// must exit and recover by opening the log again. Options.UnsafeNoFsync
// turns every sync off: unsafe, for tests and benchmarks only.
//
// # Files
//
// A WAL directory holds segment files named
// "%016x-%016x.wal" (sequence number, then the index the next entry had when
// the segment was started), e.g. 0000000000000001-0000000000000001.wal.
// Sequence numbers start at 1 and grow by one. A segment is preallocated to
// Options.SegmentSize (default 4 MiB, fallocate with a ftruncate fallback)
// and, once its records reach that size, the next Save or SaveSnapshot cuts
// a new one: the old segment is truncated to its records and fsynced, the new
// one is written as "<name>.tmp", fsynced, renamed, and the directory is
// fsynced. Create builds the directory as "<dir>.tmp" and renames it into
// place, then fsyncs the parent. A "<segment>.broken" file is a copy of a
// segment whose torn tail was repaired. The directory is locked (flock)
// while a WAL has it open.
//
// ReleaseBefore keeps the newest segments it frees as spares ("%016x.spare"
// of the segment's sequence number), up to 32 MiB of them but at most eight
// and at least one,
// instead of removing them, and the next cut renames a spare to the new
// segment's temporary name and writes the new segment into it from offset
// 0 (recycle.go). The file's blocks are
// written already, so the saves into it need no extent conversion: on ext4
// without a journal one device request fewer per save, on ext4 with a
// journal or xfs no zeros ahead of the log. The old segment's frames stay
// after the new log's end until overwritten; the segment tag and the end
// marker below keep replay from reading them. A WAL dir so holds up to 32
// MiB of spares (or one segment, if larger); etcd keeps a preallocated
// 64 MiB segment ahead and up to five old ones.
//
// # Record format
//
// A segment is a sequence of frames, each starting at an offset that is a
// multiple of 8. All integers are little-endian. A frame is:
//
//	offset  size  field
//	0       8     word0: bits 0-31 payload length N (at most 1 GiB),
//	              bits 32-39 record type, bits 40-55 the segment tag,
//	              bits 56-63 0x80 | P, where P = (8 - N%8) % 8 is the padding
//	8       4     CRC: CRC32-Castagnoli, seeded with the previous CRC, over
//	              the 8 bytes of word0 and then the N payload bytes
//	12      4     previous CRC: the CRC of the record before this one in the
//	              log (0 for the first record of the log)
//	16      N     payload
//	16+N    P     zero padding
//
// The length word is one aligned 8-byte unit and every frame is a multiple
// of 8 bytes, so a length is never split across sectors. The CRC is chained:
// each record's previous-CRC field must equal the CRC of the record before
// it, across segment boundaries too (the first record of a segment carries
// the last CRC of the previous segment). An all-zero word0 never starts a
// frame: it is preallocated space.
//
// The segment tag is 0 in a segment written into fresh (preallocated)
// space and seq%65535 + 1 in one written into a recycled file; every frame
// of a segment carries the tag of its segment record, and a frame with
// another tag is not part of the segment. In a recycled segment every write
// also puts 8 zero bytes after the last frame (the end marker; the next
// write starts on it). Versions before recycling wrote only tag 0 and
// reject other tags, so they cannot open a WAL once it has recycled a
// segment.
//
// Record types and payloads:
//
//	1 segment   seq uint64, first index uint64 (both must match the file
//	            name), number of the last batch before the cut uint64;
//	            always the first record of a segment
//	2 metadata  member ID uint64, cluster ID uint64; always the second record,
//	            the same in every segment
//	3 batch     what one Save wrote: uvarint batch number; flags byte
//	            (bit 0: a hard state follows); if bit 0: uvarint term, vote,
//	            commit; uvarint entry count n; if n > 0: uvarint first index,
//	            then per entry uvarint term, type byte, uvarint data length,
//	            data. Entry i has index first+i.
//	4 state     hard state term, vote, commit, uint64 each; written after the
//	            metadata of each new segment so that releasing older segments
//	            never loses the hard state
//	5 snapshot  snapshot marker index uint64, term uint64
//
// So the entry and hard-state records of a batch live inside one frame: a
// batch is replayed whole or not at all, and a torn batch can only be the
// last frame of the log.
//
// # Recovery
//
// Open picks the last segment whose first index is at or below the marker's
// index and ReadAll replays from it. Every record is checked: the frame (CRC,
// chain, header, padding), the payload (valid() on each decoded type), and
// the Raft log rules across records (no index gap, terms never decrease
// along the log, overwrites never reach below a snapshot marker, hard state
// term, vote and commit never go back, batch numbers increase, segment
// headers match names and follow on). A record that passes its CRC but breaks
// these rules is corruption.
//
// A frame that fails to decode is classified:
//
//   - in a segment that is not the last: ErrCorrupt, even if only zeros
//     follow (a cut truncates a segment to its records and fsyncs it before
//     the next segment exists, so nothing there was ever unsynced);
//   - only zero bytes from there to the end of the file: the end of the log;
//     in a recycled segment, a zero word there (the end marker), unless an
//     intact frame with the segment's tag follows (then ErrCorrupt);
//   - otherwise, if no intact frame (own CRC matching its stored previous
//     CRC, with the segment's tag) starts after the damaged one (inside the extent a readable damaged
//     header claims, only a frame chained to the damaged record's stored
//     CRC counts, since the payload may hold any bytes): a torn tail, the
//     batch a crash interrupted. ReadAll copies the segment to "<name>.broken", truncates
//     the damage, preallocates again (so the rest reads as zeros), fsyncs,
//     and logs a warning; Verify returns it as an error wrapping
//     io.ErrUnexpectedEOF.
//   - if an intact frame follows, the damaged record had been durable before
//     a later batch was written, which no crash can undo: ErrCorrupt, naming
//     the file and offset. So is damage in a segment's header records, a frame that breaks the chain, or a
//     missing segment. ReadAll then changes nothing on disk and the member
//     must be rebuilt from its peers.
//
// # Caveats
//
// A bit flip inside the very last record cannot be told apart from a torn
// write and is repaired like one (logged, kept in .broken): that record, if
// it had been acknowledged, is lost. The same holds for any damage that
// reaches the last record with no intact record after it (for example a
// zeroed sector holding the end of one batch and all of the next). If a batch's first bytes are lost in a
// crash and its entry data happens to contain a byte-exact intact frame,
// recovery reports ErrCorrupt rather than repairing (the safe direction).
// ReadAll reads each segment whole into memory (up to SegmentSize plus one
// batch). The log assumes powersafe overwrites: rewriting the tail of a
// partly filled sector does not damage the bytes already in it.
//
// fdatasync, fallocate and flock come from golang.org/x/sys/unix on Linux;
// elsewhere the log falls back to fsync and takes no lock.
//
// # Concurrency
//
// A WAL may be used from several goroutines: every method takes one mutex,
// so calls are serialized and at most one fdatasync is in flight. Group
// commit is the caller's job (pass all the entries of a Raft Ready to one
// Save). Only one WAL value, in one process, may have a directory open at a
// time (enforced with flock on Linux). Save does not retain ents or their
// Data after it returns.
package wal
