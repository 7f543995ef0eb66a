package transport

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"cairn/raft"
)

// frameHeaderSize is the length prefix of a frame.
const frameHeaderSize = 4

// appendFrame appends a length-prefixed encoding of m to buf.
func appendFrame(buf []byte, m *raft.Message) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0)
	buf = raft.AppendMessage(buf, m)
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(buf)-start-frameHeaderSize))
	return buf
}

// frameSizeHint is at least the length of m's frame (without a snapshot),
// so that encoding it allocates once: an append of many entries otherwise
// grows its buffer several times.
func frameSizeHint(m *raft.Message) int {
	n := frameHeaderSize + maxMessageOverhead + len(m.Context)
	for i := range m.Entries {
		n += maxEntryOverhead + len(m.Entries[i].Data)
	}
	return n
}

// Upper bounds of an encoded message's fixed fields (type, flags, seven
// uvarints, the context's and the entry count's lengths) and of an
// entry's (term, index, type, the data's length).
const (
	maxMessageOverhead = 2 + 9*binary.MaxVarintLen64
	maxEntryOverhead   = 2*binary.MaxVarintLen64 + 1 + binary.MaxVarintLen64
)

// readFrame reads one frame's body. It returns (nil, nil) for a keep-alive
// (an empty frame) and io.EOF only at a clean end between frames.
func readFrame(r *bufio.Reader, maxSize int) ([]byte, error) {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, nil
	}
	if uint64(n) > uint64(maxSize) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, maxSize)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// validMessage checks a message that arrived from member from, for member
// local, on a stream (snapshot false) or as a snapshot header.
func validMessage(m *raft.Message, from, local uint64, snapshot bool) error {
	switch {
	case m.To != local:
		return fmt.Errorf("%w: message to %016x arrived at member %016x", ErrProtocol, m.To, local)
	case m.From != from:
		return fmt.Errorf("%w: message from %016x on a stream from %016x", ErrProtocol, m.From, from)
	case isLocalType(m.Type):
		return fmt.Errorf("%w: %v never crosses the network", ErrProtocol, m.Type)
	case snapshot && (m.Type != raft.MsgSnap || m.Snapshot == nil):
		return fmt.Errorf("%w: snapshot header is %v, want MsgSnap with metadata", ErrProtocol, m.Type)
	case !snapshot && m.Type == raft.MsgSnap:
		return fmt.Errorf("%w: MsgSnap must use the snapshot endpoint", ErrProtocol)
	}
	return nil
}

func isLocalType(t raft.MessageType) bool {
	switch t {
	case raft.MsgHup, raft.MsgBeat, raft.MsgUnreachable, raft.MsgSnapStatus, raft.MsgCheckQuorum:
		return true
	}
	return false
}
