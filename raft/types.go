package raft

// This file holds the data types that cross package boundaries: the WAL
// persists Entry and HardState, the snapshot package carries SnapshotMeta, and
// the peer transport carries Message. Their binary encoding is in encoding.go.

// None is the placeholder node ID meaning "no node" (no vote, no leader).
// Real member IDs are random non-zero 64-bit numbers.
const None uint64 = 0

// EntryType tells the application how to interpret Entry.Data.
type EntryType uint8

const (
	// EntryNormal carries an application command (or nothing: the empty
	// entry a new leader appends in its term).
	EntryNormal EntryType = 0
	// EntryConfChange carries an encoded ConfChange.
	EntryConfChange EntryType = 1
)

func (t EntryType) String() string {
	switch t {
	case EntryNormal:
		return "Normal"
	case EntryConfChange:
		return "ConfChange"
	}
	return "EntryType(" + itoa(uint64(t)) + ")"
}

// Entry is one record of the replicated log.
//
// Invariant: Index > 0 and Term > 0 for every entry stored in a log.
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// HardState is the state that must be durable before a member sends any
// message depending on it (Raft §5.1 / Figure 2 "persistent state").
//
// Invariant: Commit never decreases; Vote is None or a member ID voted for in Term.
type HardState struct {
	Term   uint64
	Vote   uint64
	Commit uint64
}

// IsEmpty reports whether h is the zero HardState.
func (h HardState) IsEmpty() bool { return h == HardState{} }

// ConfState is the membership as of some log index: the voting members and
// the learners (non-voting members that receive the log).
//
// Invariant: an ID appears at most once across Voters and Learners.
type ConfState struct {
	Voters   []uint64
	Learners []uint64
}

// Equal reports whether c and o list the same members in the same order.
func (c ConfState) Equal(o ConfState) bool {
	return equalIDs(c.Voters, o.Voters) && equalIDs(c.Learners, o.Learners)
}

func equalIDs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// SnapshotMeta identifies a snapshot: the last log index and term it covers
// and the membership at that index.
type SnapshotMeta struct {
	Index     uint64
	Term      uint64
	ConfState ConfState
}

// Snapshot is the application state as of Meta.Index. Data is opaque to raft.
type Snapshot struct {
	Meta SnapshotMeta
	Data []byte
}

// IsEmpty reports whether s carries no snapshot.
func (s Snapshot) IsEmpty() bool { return s.Meta.Index == 0 }

// ConfChangeType is the kind of a single membership change.
type ConfChangeType uint8

const (
	// ConfChangeAddVoter adds a voting member, or promotes an existing learner.
	ConfChangeAddVoter ConfChangeType = 0
	// ConfChangeRemove removes a voter or a learner (possibly the leader itself).
	ConfChangeRemove ConfChangeType = 1
	// ConfChangeAddLearner adds a non-voting member.
	ConfChangeAddLearner ConfChangeType = 2
	// ConfChangeUpdate changes nothing in raft; the application uses Context
	// (for example new peer URLs).
	ConfChangeUpdate ConfChangeType = 3
)

func (t ConfChangeType) String() string {
	switch t {
	case ConfChangeAddVoter:
		return "AddVoter"
	case ConfChangeRemove:
		return "Remove"
	case ConfChangeAddLearner:
		return "AddLearner"
	case ConfChangeUpdate:
		return "Update"
	}
	return "ConfChangeType(" + itoa(uint64(t)) + ")"
}

// ConfChange is one membership change, proposed through the log as an entry
// of type EntryConfChange. ID lets the proposer match the applied change to its
// request; Context is opaque to raft (member name and URLs).
type ConfChange struct {
	ID      uint64
	Type    ConfChangeType
	NodeID  uint64
	Context []byte
}

// MessageType is the kind of a Message.
type MessageType uint8

// Message types. Local ones (never sent over the network) are marked so.
const (
	MsgHup            MessageType = 0  // local: start an election
	MsgBeat           MessageType = 1  // local: leader sends heartbeats
	MsgProp           MessageType = 2  // proposal (local, or follower to leader)
	MsgApp            MessageType = 3  // append entries
	MsgAppResp        MessageType = 4  // append entries response
	MsgVote           MessageType = 5  // request vote
	MsgVoteResp       MessageType = 6  // vote response
	MsgSnap           MessageType = 7  // install snapshot
	MsgHeartbeat      MessageType = 8  // leader heartbeat
	MsgHeartbeatResp  MessageType = 9  // heartbeat response
	MsgUnreachable    MessageType = 10 // local: transport reports a peer unreachable
	MsgSnapStatus     MessageType = 11 // local: transport reports a snapshot send result
	MsgCheckQuorum    MessageType = 12 // local: leader checks it still has a quorum
	MsgTransferLeader MessageType = 13 // leadership transfer request
	MsgTimeoutNow     MessageType = 14 // leader tells the transfer target to campaign now
	MsgReadIndex      MessageType = 15 // read index request
	MsgReadIndexResp  MessageType = 16 // read index response
	MsgPreVote        MessageType = 17 // pre-vote request
	MsgPreVoteResp    MessageType = 18 // pre-vote response
	msgTypeCount      MessageType = 19
)

var msgTypeNames = [...]string{
	"MsgHup", "MsgBeat", "MsgProp", "MsgApp", "MsgAppResp", "MsgVote", "MsgVoteResp",
	"MsgSnap", "MsgHeartbeat", "MsgHeartbeatResp", "MsgUnreachable", "MsgSnapStatus",
	"MsgCheckQuorum", "MsgTransferLeader", "MsgTimeoutNow", "MsgReadIndex", "MsgReadIndexResp",
	"MsgPreVote", "MsgPreVoteResp",
}

func (t MessageType) String() string {
	if t < msgTypeCount {
		return msgTypeNames[t]
	}
	return "MessageType(" + itoa(uint64(t)) + ")"
}

// Message is the unit of communication between members, and the form of
// local inputs to Step.
//
// Field use by type follows etcd-io/raft: Index/LogTerm name the entry
// preceding Entries in MsgApp (or the rejected index in MsgAppResp, with
// RejectHint and LogTerm as conflict hints), Commit carries the leader's
// commit index, Context carries read-index request contexts and campaign
// kinds.
type Message struct {
	Type       MessageType
	To         uint64
	From       uint64
	Term       uint64
	LogTerm    uint64
	Index      uint64
	Entries    []Entry
	Commit     uint64
	Snapshot   *Snapshot
	Reject     bool
	RejectHint uint64
	Context    []byte
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}
