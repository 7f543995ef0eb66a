package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"cairn/raft"
)

// replay is the result of reading the segments of a WAL directory.
type replay struct {
	logState
	md   Metadata
	from SnapshotMarker
	// found reports whether the marker from was seen (always true for the
	// zero marker).
	found bool
	// ents are the entries read, contiguous, ending at lastIndex.
	ents []raft.Entry
	// crc is the running CRC after the last valid record; chained reports
	// whether it is known (false before the first record).
	crc     uint32
	chained bool
	segs    []segmentFile // the segments read, in order
	// tailOff is the end of the last valid record in the last segment;
	// tailTag is that segment's tag (0 unless it was written into a
	// recycled file).
	tailOff int64
	tailTag uint16
	// tailDirty reports that bytes after tailOff in the last segment are not
	// all zero (a torn tail, or garbage in the preallocated space).
	tailDirty bool
	// torn is the torn-tail error (io.ErrUnexpectedEOF family) when the last
	// segment ended in a damaged record that recovery truncates, else nil.
	torn error
}

// corruptf returns ErrCorrupt wrapped with the file and offset.
func corruptf(name string, off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, name, off, fmt.Sprintf(format, args...))
}

// readDir reads the segments of dir needed to replay the log from the
// marker from (all segments if all is set) without modifying anything.
// A torn tail is reported in r.torn; any other damage is ErrCorrupt.
func readDir(dir string, from SnapshotMarker, all bool) (*replay, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, dir)
	}
	start := 0
	if !all {
		start = -1
		target := max(from.Index, 1)
		for i, s := range segs {
			if s.first <= target {
				start = i
			}
		}
		if start < 0 {
			return nil, fmt.Errorf("%w: %+v: the oldest segment %s starts later", ErrSnapshotNotFound, from, segs[0].name)
		}
	}
	segs = segs[start:]
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, corruptf(segs[i].name, 0, "segment sequence jumps from %d to %d", segs[i-1].seq, segs[i].seq)
		}
	}
	r := &replay{from: from, found: from == SnapshotMarker{} || all, segs: segs}
	for i, s := range segs {
		data, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			return nil, err
		}
		if err := r.readSegment(s, data, i == len(segs)-1); err != nil {
			return nil, err
		}
	}
	if !r.found {
		return nil, fmt.Errorf("%w: %+v", ErrSnapshotNotFound, from)
	}
	return r, nil
}

var (
	errChain   = errors.New("wal: frame does not continue the CRC chain")
	errForeign = errors.New("wal: frame with another segment's tag (left from a recycled file's earlier use)")
)

// readSegment decodes one segment file and applies its records.
func (r *replay) readSegment(s segmentFile, data []byte, last bool) error {
	off := 0
	n := 0 // records read from this segment
	var tag uint16
	for off < len(data) {
		f, err := parseFrame(data[off:])
		if err == nil && n == 0 {
			// The segment record sets the tag of the whole segment.
			tag = f.tag
			if f.typ != typeSegment {
				err = corruptf(s.name, int64(off), "segment does not start with a segment record")
			} else if tag != 0 && tag != tagFor(s.seq) {
				err = corruptf(s.name, int64(off), "segment record tag %#x, want 0 or %#x", tag, tagFor(s.seq))
			}
		}
		if err == nil && f.tag != tag {
			err = errForeign
		}
		if err == nil && r.chained && f.prevCRC != r.crc {
			err = errChain
		}
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				return err
			}
			return r.damaged(s, data, off, n, tag, last, err)
		}
		if err := r.apply(s, n, &f); err != nil {
			return corruptf(s.name, int64(off), "%v", err)
		}
		r.crc, r.chained = f.crc, true
		off += f.size
		n++
	}
	if n < 2 {
		return corruptf(s.name, int64(off), "segment ends before its segment and metadata records")
	}
	if last {
		r.tailOff, r.tailTag = int64(off), tag
	}
	return nil
}

// damaged decides what a record that fails to decode at off means.
//
//   - In a segment that is not the last: corruption, even if only zeros
//     follow (a cut truncates the old segment to its records first).
//   - Only zero bytes from off to the end: the clean end of the log (the
//     rest is preallocated space). In a segment written into a recycled
//     file (tag != 0) the rest holds the file's earlier contents, so there
//     a zero word at off is the end: the WAL writes one after its last
//     frame with every write (recycle.go).
//   - Before the segment's own header records, or a frame whose own CRC is
//     right but which does not continue the chain: corruption (a crash
//     cannot produce either).
//   - Otherwise, if an intact frame (one whose CRC matches its stored
//     previous CRC, with the segment's tag) starts after the extent the
//     damaged header claims, or
//     anywhere after it while chained to the damaged record's stored CRC,
//     data written after the damaged record was complete, so the damaged
//     record was durable once: corruption. A crash cannot do this, because
//     Save writes one record per batch and the next batch starts only after
//     fdatasync returned.
//   - Else the damage is a torn tail: the last batch was being written when
//     the machine stopped. It is truncated.
func (r *replay) damaged(s segmentFile, data []byte, off, n int, tag uint16, last bool, cause error) error {
	rest := data[off:]
	if !last {
		// A cut truncates a segment to its records before the next one is
		// created, so even zeros here mean lost records.
		return corruptf(s.name, int64(off), "damaged record in a segment that is not the last: %v", cause)
	}
	if tag != 0 && n >= 2 && (len(rest) < 8 && allZero(rest) || len(rest) >= 8 && binary.LittleEndian.Uint64(rest) == 0) {
		// The end marker of a recycled segment; what follows is the file's
		// earlier contents, unless a frame of this segment is there.
		if p, ok := intactAfter(data, off+8, tag, nil); ok {
			return corruptf(s.name, int64(off), "end of the log followed by an intact record at offset %d", p)
		}
		r.tailOff, r.tailTag = int64(off), tag
		return nil
	}
	if allZero(rest) {
		if n < 2 {
			return corruptf(s.name, int64(off), "segment ends before its segment and metadata records")
		}
		r.tailOff, r.tailTag = int64(off), tag
		return nil
	}
	if n < 2 {
		return corruptf(s.name, int64(off), "damaged segment header: %v", cause)
	}
	if errors.Is(cause, errChain) {
		return corruptf(s.name, int64(off), "intact record does not continue the CRC chain")
	}
	// Search for an intact frame after the damaged one. Inside the extent the
	// damaged header claims (its payload may hold any bytes, even a copy of
	// a frame) only a frame chained to the damaged record's stored CRC
	// counts; that catches a damaged length that hides its successor.
	claimedEnd := off + 8
	if size, ok := headerSize(rest); ok {
		claimedEnd = off + size // capped at the end of the file
	}
	var storedCRC uint32
	hasCRC := len(rest) >= 12
	if hasCRC {
		storedCRC = binary.LittleEndian.Uint32(rest[8:])
	}
	if p, ok := intactAfter(data, off+8, tag, func(p int, f *frame) bool {
		return p >= claimedEnd || hasCRC && f.prevCRC == storedCRC
	}); ok {
		return corruptf(s.name, int64(off), "damaged record (%v) followed by an intact record at offset %d", cause, p)
	}
	r.tailOff, r.tailTag = int64(off), tag
	r.tailDirty = true
	r.torn = fmt.Errorf("wal: torn tail in %s at offset %d (%v): %w", s.name, off, cause, io.ErrUnexpectedEOF)
	return nil
}

// intactAfter returns the offset of the first intact frame with tag tag at
// or after from (a multiple of 8) that counts (every one if counts is nil),
// if there is one.
func intactAfter(data []byte, from int, tag uint16, counts func(p int, f *frame) bool) (int, bool) {
	for p := from; p+frameHeaderSize <= len(data); p += 8 {
		w := binary.LittleEndian.Uint64(data[p:])
		if w == 0 || uint16(w>>40) != tag {
			continue
		}
		if f, err := parseFrame(data[p:]); err == nil && (counts == nil || counts(p, &f)) {
			return p, true
		}
	}
	return 0, false
}

// headerSize returns the frame size recorded in a well-formed header at the
// start of b, capped at len(b).
func headerSize(b []byte) (int, bool) {
	_, _, _, size, err := parseHeader(b)
	if err != nil {
		return 0, false
	}
	return min(size, len(b)), true
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// apply checks the n-th record of segment s against the log and records it.
func (r *replay) apply(s segmentFile, n int, f *frame) error {
	switch {
	case n == 0 && f.typ != typeSegment, n == 1 && f.typ != typeMetadata:
		return fmt.Errorf("record %d of a segment has type %d", n, f.typ)
	case n >= 2 && (f.typ == typeSegment || f.typ == typeMetadata):
		return fmt.Errorf("record %d of a segment has header type %d", n, f.typ)
	}
	switch f.typ {
	case typeSegment:
		rec, err := decodeSegment(f.payload)
		if err != nil {
			return err
		}
		if rec.Seq != s.seq || rec.FirstIndex != s.first {
			return fmt.Errorf("segment record (seq %d, first index %d) does not match the file name", rec.Seq, rec.FirstIndex)
		}
		if !r.chained {
			// The first segment read: the log before it is not known.
			r.lastIndex = rec.FirstIndex - 1
			r.known = rec.FirstIndex
			r.batch = rec.Batch
		} else if rec.FirstIndex != r.lastIndex+1 || rec.Batch != r.batch {
			return fmt.Errorf("segment starts at index %d after batch %d but the log ends at index %d, batch %d",
				rec.FirstIndex, rec.Batch, r.lastIndex, r.batch)
		}
	case typeMetadata:
		md, err := decodeMetadata(f.payload)
		if err != nil {
			return err
		}
		if s.seq != r.segs[0].seq && md != r.md {
			return fmt.Errorf("metadata %+v differs from %+v in an earlier segment", md, r.md)
		}
		r.md = md
	case typeState:
		hs, err := decodeState(f.payload)
		if err != nil {
			return err
		}
		if err := r.checkState(hs); err != nil {
			return err
		}
		r.hs = hs
	case typeSnapshot:
		m, err := decodeSnapshot(f.payload)
		if err != nil {
			return err
		}
		if err := r.checkSnapshot(m); err != nil {
			return err
		}
		if r.setSnapshot(m) {
			r.ents = r.ents[:0]
		}
		if m == r.from {
			r.found = true
		}
	case typeBatch:
		b, err := decodeBatch(f.payload)
		if err != nil {
			return err
		}
		if err := r.checkBatch(&b); err != nil {
			return err
		}
		r.applyBatch(&b)
		r.appendEnts(b.Entries)
	}
	return nil
}

// appendEnts mirrors logState.appendEntries on the entries slice.
func (r *replay) appendEnts(ents []raft.Entry) {
	if len(ents) == 0 {
		return
	}
	f := ents[0].Index
	switch {
	case len(r.ents) == 0:
	case f <= r.ents[0].Index:
		r.ents = r.ents[:0]
	default:
		r.ents = r.ents[:f-r.ents[0].Index]
	}
	r.ents = append(r.ents, ents...)
}

// result returns the entries after r.from, checking that they follow it.
func (r *replay) result() ([]raft.Entry, error) {
	if r.lastIndex <= r.from.Index {
		return nil, nil
	}
	if len(r.ents) == 0 || r.ents[0].Index > r.from.Index+1 {
		return nil, fmt.Errorf("%w: marker %+v, log now ends at %d", ErrSnapshotStale, r.from, r.lastIndex)
	}
	return r.ents[r.from.Index+1-r.ents[0].Index:], nil
}
