package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"cairn/raft"
)

// Record types. The numbers are part of the on-disk format: never reuse one.
const (
	typeSegment  uint8 = 1 // first record of every segment: seq, first index; prevCRC carries the chain
	typeMetadata uint8 = 2 // member ID, cluster ID
	typeBatch    uint8 = 3 // one Save: batch number, optional hard state, entries
	typeState    uint8 = 4 // a hard state alone (written at the start of each new segment)
	typeSnapshot uint8 = 5 // snapshot marker: index, term
	typeMax      uint8 = 5
)

const (
	frameHeaderSize = 16 // word0 (8) + crc (4) + prevCRC (4)
	frameMarker     = 0x80
	// maxPayload bounds one record so that frame arithmetic cannot overflow an
	// int on 32-bit ARM and a damaged length cannot make us allocate much.
	maxPayload = 1 << 30

	batchFlagState = 1 << 0
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// padFor returns the number of zero bytes that follow a payload of n bytes so
// that the frame (16-byte header + payload + pad) is a multiple of 8 bytes.
func padFor(n int) int { return (8 - n%8) % 8 }

// frameSize is the on-disk size of a frame with an n-byte payload.
func frameSize(n int) int { return frameHeaderSize + n + padFor(n) }

// tagFor returns the tag of the frames of segment seq when it is written
// into a recycled file (a segment written into fresh space has tag 0): never
// 0, and different for any two segments less than 65,535 apart, so the
// frames a recycled file kept from its previous use never carry the tag of
// its new one (recycle checks this too).
func tagFor(seq uint64) uint16 { return uint16(seq%0xffff) + 1 }

// appendFrame appends one frame carrying payload to buf, with the segment
// tag tag, chaining from prevCRC, and returns the new buffer and the
// record's CRC (the new running CRC of the log).
func appendFrame(buf []byte, typ uint8, tag uint16, prevCRC uint32, payload []byte) ([]byte, uint32) {
	if len(payload) > maxPayload {
		panic(fmt.Sprintf("wal: record of %d bytes exceeds the %d byte limit (callers must check)", len(payload), maxPayload))
	}
	pad := padFor(len(payload))
	word0 := uint64(len(payload)) | uint64(typ)<<32 | uint64(tag)<<40 | uint64(frameMarker|pad)<<56
	start := len(buf)
	buf = binary.LittleEndian.AppendUint64(buf, word0)
	crc := crc32.Update(prevCRC, castagnoli, buf[start:start+8])
	crc = crc32.Update(crc, castagnoli, payload)
	buf = binary.LittleEndian.AppendUint32(buf, crc)
	buf = binary.LittleEndian.AppendUint32(buf, prevCRC)
	buf = append(buf, payload...)
	for range pad {
		buf = append(buf, 0)
	}
	return buf, crc
}

// frame is one decoded frame. payload aliases the segment buffer.
type frame struct {
	typ     uint8
	tag     uint16 // the segment tag (tagFor), 0 in a segment not recycled
	crc     uint32
	prevCRC uint32
	payload []byte
	size    int // bytes on disk, header and padding included
}

// Frame decoding failures. They never leave this package unwrapped: the
// segment reader turns them into a torn tail or ErrCorrupt.
var (
	errShortFrame = errors.New("wal: frame runs past the end of the file")
	errZeroFrame  = errors.New("wal: zero bytes where a frame header was expected")
	errBadHeader  = errors.New("wal: malformed frame header")
	errBadCRC     = errors.New("wal: frame CRC mismatch")
	errBadPadding = errors.New("wal: non-zero frame padding")
)

// parseFrame decodes the frame at the start of b and checks its own CRC
// against the prevCRC stored in it. It does not check the chain (the caller
// compares f.prevCRC with its running CRC). It never panics.
func parseFrame(b []byte) (frame, error) {
	typ, tag, n, size, err := parseHeader(b)
	if err != nil {
		return frame{}, err
	}
	if len(b) < size {
		return frame{}, errShortFrame
	}
	f := frame{
		typ:     typ,
		tag:     tag,
		crc:     binary.LittleEndian.Uint32(b[8:]),
		prevCRC: binary.LittleEndian.Uint32(b[12:]),
		payload: b[frameHeaderSize : frameHeaderSize+n],
		size:    size,
	}
	crc := crc32.Update(f.prevCRC, castagnoli, b[:8])
	crc = crc32.Update(crc, castagnoli, f.payload)
	if crc != f.crc {
		return frame{}, errBadCRC
	}
	for _, c := range b[frameHeaderSize+n : size] {
		if c != 0 {
			return frame{}, errBadPadding
		}
	}
	return f, nil
}

// parseHeader decodes word0 at the start of b: the record type, the segment
// tag, the payload length and the frame size. It checks the marker bit, the
// type, the length limit and that the padding matches the length, but not
// that the frame fits in b, nor the tag (the segment reader does).
func parseHeader(b []byte) (typ uint8, tag uint16, n, size int, err error) {
	if len(b) < 8 {
		return 0, 0, 0, 0, errShortFrame
	}
	word0 := binary.LittleEndian.Uint64(b)
	if word0 == 0 {
		return 0, 0, 0, 0, errZeroFrame
	}
	top := uint8(word0 >> 56)
	length := word0 & math.MaxUint32
	typ = uint8(word0 >> 32)
	tag = uint16(word0 >> 40)
	if top&^0x07 != frameMarker || typ == 0 || typ > typeMax || length > maxPayload {
		return 0, 0, 0, 0, errBadHeader
	}
	n = int(length)
	if int(top&0x07) != padFor(n) {
		return 0, 0, 0, 0, errBadHeader
	}
	return typ, tag, n, frameSize(n), nil
}

// segmentRecord is the payload of typeSegment.
type segmentRecord struct {
	Seq        uint64 // segment sequence number, from 1, +1 per segment
	FirstIndex uint64 // index the next entry had when the segment was cut
	Batch      uint64 // number of the last batch written before the cut
}

func (r segmentRecord) append(b []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, r.Seq)
	b = binary.LittleEndian.AppendUint64(b, r.FirstIndex)
	return binary.LittleEndian.AppendUint64(b, r.Batch)
}

func (r segmentRecord) valid() error {
	if r.Seq == 0 || r.FirstIndex == 0 {
		return fmt.Errorf("segment record seq %d first index %d: both must be > 0", r.Seq, r.FirstIndex)
	}
	return nil
}

func decodeSegment(p []byte) (segmentRecord, error) {
	if len(p) != 24 {
		return segmentRecord{}, fmt.Errorf("segment record of %d bytes, want 24", len(p))
	}
	r := segmentRecord{binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:]), binary.LittleEndian.Uint64(p[16:])}
	return r, r.valid()
}

func appendMetadata(b []byte, md Metadata) []byte {
	b = binary.LittleEndian.AppendUint64(b, md.MemberID)
	return binary.LittleEndian.AppendUint64(b, md.ClusterID)
}

func decodeMetadata(p []byte) (Metadata, error) {
	if len(p) != 16 {
		return Metadata{}, fmt.Errorf("metadata record of %d bytes, want 16", len(p))
	}
	return Metadata{binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])}, nil
}

func appendState(b []byte, hs raft.HardState) []byte {
	b = binary.LittleEndian.AppendUint64(b, hs.Term)
	b = binary.LittleEndian.AppendUint64(b, hs.Vote)
	return binary.LittleEndian.AppendUint64(b, hs.Commit)
}

func decodeState(p []byte) (raft.HardState, error) {
	if len(p) != 24 {
		return raft.HardState{}, fmt.Errorf("state record of %d bytes, want 24", len(p))
	}
	hs := raft.HardState{
		Term:   binary.LittleEndian.Uint64(p),
		Vote:   binary.LittleEndian.Uint64(p[8:]),
		Commit: binary.LittleEndian.Uint64(p[16:]),
	}
	if hs.IsEmpty() {
		return hs, errors.New("empty state record")
	}
	return hs, nil
}

func appendSnapshot(b []byte, m SnapshotMarker) []byte {
	b = binary.LittleEndian.AppendUint64(b, m.Index)
	return binary.LittleEndian.AppendUint64(b, m.Term)
}

func decodeSnapshot(p []byte) (SnapshotMarker, error) {
	if len(p) != 16 {
		return SnapshotMarker{}, fmt.Errorf("snapshot record of %d bytes, want 16", len(p))
	}
	m := SnapshotMarker{binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])}
	return m, m.valid()
}

// batchRecord is the payload of typeBatch: everything one Save wrote.
type batchRecord struct {
	Batch    uint64 // batch number, +1 per Save that wrote something
	HasState bool
	State    raft.HardState
	Entries  []raft.Entry // contiguous indexes
}

// appendBatch encodes r. Layout: uvarint batch, flags byte, [uvarint term,
// vote, commit if flags&1], uvarint entry count, [uvarint first index if
// count > 0], then per entry: uvarint term, type byte, uvarint data length,
// data. Entry indexes are implicit: first, first+1, ...
func (r *batchRecord) append(b []byte) []byte {
	b = binary.AppendUvarint(b, r.Batch)
	var flags byte
	if r.HasState {
		flags |= batchFlagState
	}
	b = append(b, flags)
	if r.HasState {
		b = binary.AppendUvarint(b, r.State.Term)
		b = binary.AppendUvarint(b, r.State.Vote)
		b = binary.AppendUvarint(b, r.State.Commit)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Entries)))
	if len(r.Entries) > 0 {
		b = binary.AppendUvarint(b, r.Entries[0].Index)
	}
	for i := range r.Entries {
		e := &r.Entries[i]
		b = binary.AppendUvarint(b, e.Term)
		b = append(b, byte(e.Type))
		b = binary.AppendUvarint(b, uint64(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b
}

// batchSize is an upper bound of the encoded size of r.
func (r *batchRecord) size() int {
	n := 2*binary.MaxVarintLen64 + 1 + 3*binary.MaxVarintLen64 + binary.MaxVarintLen64
	for i := range r.Entries {
		n += 2*binary.MaxVarintLen64 + 1 + len(r.Entries[i].Data)
	}
	return n
}

// valid checks what a batch record must satisfy on its own (Raft log
// invariants across records are checked by logState).
func (r *batchRecord) valid() error {
	if r.Batch == 0 {
		return errors.New("batch number 0")
	}
	if r.HasState && r.State.IsEmpty() {
		return errors.New("batch carries an empty hard state")
	}
	if !r.HasState && len(r.Entries) == 0 {
		return errors.New("batch carries nothing")
	}
	return validEntries(r.Entries)
}

// validEntries checks that ents are contiguous, with non-zero, non-decreasing
// terms and known types.
func validEntries(ents []raft.Entry) error {
	for i := range ents {
		e := &ents[i]
		if e.Index == 0 || e.Term == 0 {
			return fmt.Errorf("entry %d has index %d term %d: both must be > 0", i, e.Index, e.Term)
		}
		if e.Type != raft.EntryNormal && e.Type != raft.EntryConfChange {
			return fmt.Errorf("entry %d has unknown type %d", e.Index, e.Type)
		}
		if i > 0 {
			if e.Index != ents[i-1].Index+1 {
				return fmt.Errorf("entry index %d follows %d: not contiguous", e.Index, ents[i-1].Index)
			}
			if e.Term < ents[i-1].Term {
				return fmt.Errorf("entry %d has term %d below the previous entry's %d", e.Index, e.Term, ents[i-1].Term)
			}
		}
	}
	return nil
}

// decodeBatch decodes a typeBatch payload. Entry data is copied, so the
// result does not alias p.
func decodeBatch(p []byte) (batchRecord, error) {
	d := byteReader{b: p}
	var r batchRecord
	r.Batch = d.uvarint()
	flags := d.byte()
	if flags&^batchFlagState != 0 {
		return r, fmt.Errorf("batch record has unknown flags %#x", flags)
	}
	if flags&batchFlagState != 0 {
		r.HasState = true
		r.State.Term = d.uvarint()
		r.State.Vote = d.uvarint()
		r.State.Commit = d.uvarint()
	}
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b))/3 { // an entry takes at least 3 bytes
		return r, fmt.Errorf("batch record claims %d entries in %d bytes", n, len(d.b))
	}
	if n > 0 {
		first := d.uvarint()
		if first > math.MaxUint64-n {
			return r, fmt.Errorf("batch record first index %d + %d entries overflows", first, n)
		}
		r.Entries = make([]raft.Entry, n)
		for i := range r.Entries {
			e := &r.Entries[i]
			e.Index = first + uint64(i)
			e.Term = d.uvarint()
			e.Type = raft.EntryType(d.byte())
			if l := d.uvarint(); l > 0 {
				e.Data = append([]byte(nil), d.bytes(l)...)
			}
		}
	}
	if d.err != nil {
		return r, d.err
	}
	if len(d.b) != 0 {
		return r, fmt.Errorf("batch record has %d trailing bytes", len(d.b))
	}
	return r, r.valid()
}

// byteReader decodes varints and bytes, remembering the first error.
type byteReader struct {
	b   []byte
	err error
}

var errTruncatedRecord = errors.New("record payload ends early")

func (d *byteReader) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errTruncatedRecord
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *byteReader) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errTruncatedRecord
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *byteReader) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errTruncatedRecord
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
