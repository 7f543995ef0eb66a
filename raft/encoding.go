package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Binary encodings of the types in types.go, used by the peer transport
// (Message) and by the log (ConfChange inside EntryConfChange entries).
//
// Integers are unsigned varints (encoding/binary Uvarint); byte strings are a
// varint length followed by the bytes. Decoding checks every length against
// the bytes that remain, so hostile input can neither crash the decoder nor
// make it allocate more than the input's size. Decoded byte slices alias the
// input buffer: the caller must not modify the buffer while they are in use.

// ErrDecode is returned (wrapped) when bytes do not decode to a valid value.
var ErrDecode = errors.New("raft: malformed encoding")

const (
	msgFlagReject   = 1 << 0
	msgFlagSnapshot = 1 << 1
)

// AppendMessage appends the encoding of m to buf and returns the result.
func AppendMessage(buf []byte, m *Message) []byte {
	var flags byte
	if m.Reject {
		flags |= msgFlagReject
	}
	if m.Snapshot != nil {
		flags |= msgFlagSnapshot
	}
	buf = append(buf, byte(m.Type), flags)
	buf = binary.AppendUvarint(buf, m.To)
	buf = binary.AppendUvarint(buf, m.From)
	buf = binary.AppendUvarint(buf, m.Term)
	buf = binary.AppendUvarint(buf, m.LogTerm)
	buf = binary.AppendUvarint(buf, m.Index)
	buf = binary.AppendUvarint(buf, m.Commit)
	buf = binary.AppendUvarint(buf, m.RejectHint)
	buf = appendBytes(buf, m.Context)
	buf = binary.AppendUvarint(buf, uint64(len(m.Entries)))
	for i := range m.Entries {
		buf = AppendEntry(buf, &m.Entries[i])
	}
	if m.Snapshot != nil {
		buf = appendSnapshotMeta(buf, &m.Snapshot.Meta)
		buf = appendBytes(buf, m.Snapshot.Data)
	}
	return buf
}

// UnmarshalMessage decodes a message encoded by AppendMessage. The whole of
// buf must be consumed.
func UnmarshalMessage(buf []byte) (Message, error) {
	d := decoder{buf: buf}
	var m Message
	m.Type = MessageType(d.byte())
	flags := d.byte()
	m.Reject = flags&msgFlagReject != 0
	m.To = d.uvarint()
	m.From = d.uvarint()
	m.Term = d.uvarint()
	m.LogTerm = d.uvarint()
	m.Index = d.uvarint()
	m.Commit = d.uvarint()
	m.RejectHint = d.uvarint()
	m.Context = d.bytes()
	n := d.count(minEntrySize)
	if n > 0 {
		m.Entries = make([]Entry, n)
		for i := range m.Entries {
			m.Entries[i] = d.entry()
		}
	}
	if flags&msgFlagSnapshot != 0 {
		s := &Snapshot{}
		s.Meta = d.snapshotMeta()
		s.Data = d.bytes()
		m.Snapshot = s
	}
	if flags&^(msgFlagReject|msgFlagSnapshot) != 0 {
		d.fail("unknown message flags %#x", flags)
	}
	if d.err == nil && m.Type >= msgTypeCount {
		d.fail("unknown message type %d", m.Type)
	}
	if err := d.finish(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// minEntrySize is the smallest encoding of an Entry: term, index, type, data length.
const minEntrySize = 4

// AppendEntry appends the encoding of e to buf.
func AppendEntry(buf []byte, e *Entry) []byte {
	buf = binary.AppendUvarint(buf, e.Term)
	buf = binary.AppendUvarint(buf, e.Index)
	buf = append(buf, byte(e.Type))
	return appendBytes(buf, e.Data)
}

// AppendConfChange appends the encoding of cc to buf.
func AppendConfChange(buf []byte, cc *ConfChange) []byte {
	buf = binary.AppendUvarint(buf, cc.ID)
	buf = append(buf, byte(cc.Type))
	buf = binary.AppendUvarint(buf, cc.NodeID)
	return appendBytes(buf, cc.Context)
}

// UnmarshalConfChange decodes a ConfChange encoded by AppendConfChange.
func UnmarshalConfChange(buf []byte) (ConfChange, error) {
	d := decoder{buf: buf}
	var cc ConfChange
	cc.ID = d.uvarint()
	cc.Type = ConfChangeType(d.byte())
	cc.NodeID = d.uvarint()
	cc.Context = d.bytes()
	if d.err == nil && cc.Type > ConfChangeUpdate {
		d.fail("unknown conf change type %d", cc.Type)
	}
	if err := d.finish(); err != nil {
		return ConfChange{}, err
	}
	return cc, nil
}

// AppendConfState appends the encoding of cs to buf.
func AppendConfState(buf []byte, cs *ConfState) []byte {
	buf = appendIDs(buf, cs.Voters)
	return appendIDs(buf, cs.Learners)
}

// UnmarshalConfState decodes a ConfState encoded by AppendConfState.
func UnmarshalConfState(buf []byte) (ConfState, error) {
	d := decoder{buf: buf}
	cs := d.confState()
	if err := d.finish(); err != nil {
		return ConfState{}, err
	}
	return cs, nil
}

func appendSnapshotMeta(buf []byte, m *SnapshotMeta) []byte {
	buf = binary.AppendUvarint(buf, m.Index)
	buf = binary.AppendUvarint(buf, m.Term)
	return AppendConfState(buf, &m.ConfState)
}

func appendIDs(buf []byte, ids []uint64) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(ids)))
	for _, id := range ids {
		buf = binary.AppendUvarint(buf, id)
	}
	return buf
}

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

// decoder reads from buf, remembering the first error; after an error every
// read returns a zero value.
type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at offset %d: %s", ErrDecode, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.buf) {
		d.fail("unexpected end of input")
		return 0
	}
	b := d.buf[d.off]
	d.off++
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

// count reads an element count and checks that that many elements of at
// least minSize bytes each can fit in the remaining input.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(len(d.buf)-d.off)/uint64(minSize) {
		d.fail("count %d exceeds remaining input", n)
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)-d.off) {
		d.fail("length %d exceeds remaining input", n)
		return nil
	}
	if n == 0 {
		return nil
	}
	b := d.buf[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	return b
}

func (d *decoder) entry() Entry {
	var e Entry
	e.Term = d.uvarint()
	e.Index = d.uvarint()
	e.Type = EntryType(d.byte())
	e.Data = d.bytes()
	if d.err == nil && e.Type > EntryConfChange {
		d.fail("unknown entry type %d", e.Type)
	}
	return e
}

func (d *decoder) ids() []uint64 {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = d.uvarint()
	}
	return ids
}

func (d *decoder) confState() ConfState {
	var cs ConfState
	cs.Voters = d.ids()
	cs.Learners = d.ids()
	return cs
}

func (d *decoder) snapshotMeta() SnapshotMeta {
	var m SnapshotMeta
	m.Index = d.uvarint()
	m.Term = d.uvarint()
	m.ConfState = d.confState()
	return m
}

func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.buf) {
		d.fail("%d trailing bytes", len(d.buf)-d.off)
	}
	return d.err
}
