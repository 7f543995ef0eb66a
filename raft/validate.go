package raft

import "fmt"

// isLocalMsg reports whether t is only ever produced locally and so must not
// arrive from the network.
func isLocalMsg(t MessageType) bool {
	switch t {
	case MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus, MsgCheckQuorum:
		return true
	}
	return false
}

func isResponseMsg(t MessageType) bool {
	switch t {
	case MsgAppResp, MsgVoteResp, MsgHeartbeatResp, MsgUnreachable, MsgPreVoteResp:
		return true
	}
	return false
}

// valid checks a message that arrived from the network, so that a buggy or
// hostile peer cannot drive the state machine into a broken invariant.
func (m *Message) valid() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s from %x: %s", ErrInvalidMessage, m.Type, m.From, fmt.Sprintf(format, args...))
	}
	if m.Type >= msgTypeCount {
		return bad("unknown type")
	}
	if isLocalMsg(m.Type) {
		return bad("local message type")
	}
	if m.From == None {
		return bad("zero sender")
	}
	if m.To == None {
		return bad("zero recipient")
	}
	if m.To == m.From {
		return bad("message to self")
	}
	switch m.Type {
	case MsgProp, MsgReadIndex:
		if m.Term != 0 {
			return bad("term must be zero, got %d", m.Term)
		}
	default:
		if m.Term == 0 {
			return bad("term must be non-zero")
		}
	}
	if m.Type != MsgApp && m.Type != MsgProp && len(m.Entries) > 0 {
		return bad("unexpected entries")
	}
	if m.Type != MsgSnap && m.Snapshot != nil {
		return bad("unexpected snapshot")
	}
	switch m.Type {
	case MsgProp:
		if len(m.Entries) == 0 {
			return bad("no entries")
		}
		for i := range m.Entries {
			if m.Entries[i].Type > EntryConfChange {
				return bad("entry %d has unknown type", i)
			}
		}
	case MsgApp:
		if m.LogTerm > m.Term {
			return bad("log term %d above message term %d", m.LogTerm, m.Term)
		}
		prevTerm := m.LogTerm
		for i := range m.Entries {
			e := &m.Entries[i]
			if e.Index != m.Index+1+uint64(i) {
				return bad("entries not contiguous: entry %d has index %d after %d", i, e.Index, m.Index)
			}
			if e.Term == 0 || e.Term < prevTerm || e.Term > m.Term {
				return bad("entry %d term %d out of order (previous %d, message term %d)", i, e.Term, prevTerm, m.Term)
			}
			if e.Type > EntryConfChange {
				return bad("entry %d has unknown type", i)
			}
			prevTerm = e.Term
		}
		if m.Index+uint64(len(m.Entries)) < m.Index {
			return bad("index overflow")
		}
	case MsgSnap:
		if m.Snapshot == nil || m.Snapshot.Meta.Index == 0 || m.Snapshot.Meta.Term == 0 {
			return bad("missing or empty snapshot")
		}
		if m.Snapshot.Meta.Term > m.Term {
			return bad("snapshot term %d above message term %d", m.Snapshot.Meta.Term, m.Term)
		}
		if err := validConfState(m.Snapshot.Meta.ConfState); err != nil {
			return bad("snapshot: %v", err)
		}
	case MsgVote, MsgPreVote:
		if m.LogTerm > m.Term {
			return bad("log term %d above vote term %d", m.LogTerm, m.Term)
		}
	}
	return nil
}
