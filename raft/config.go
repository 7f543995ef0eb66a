package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Errors returned by Config.Validate, all wrapping ErrInvalidConfig.
var ErrInvalidConfig = errors.New("raft: invalid config")

// Errors returned by RawNode methods.
var (
	// ErrProposalDropped is returned when a proposal cannot be accepted: there
	// is no known leader, forwarding is disabled, the uncommitted log is over
	// MaxUncommittedEntriesSize, the member is not in the configuration, or a
	// membership change is already pending.
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrStepLocalMsg is returned by RawNode.Step for message types that are
	// local inputs (MsgHup, MsgBeat, MsgUnreachable, MsgSnapStatus,
	// MsgCheckQuorum) and so must not arrive from the network.
	ErrStepLocalMsg = errors.New("raft: cannot step a local message")
	// ErrStepPeerNotFound is returned by RawNode.Step for a response from a
	// member that is not in the configuration.
	ErrStepPeerNotFound = errors.New("raft: cannot step a response from an unknown peer")
	// ErrTransferInProgress is returned for proposals made while the leader is
	// transferring leadership; the caller should retry on the new leader.
	ErrTransferInProgress = errors.New("raft: leadership transfer in progress")
	// ErrInvalidMessage is returned (wrapped) by RawNode.Step for a message
	// from the network that fails validation.
	ErrInvalidMessage = errors.New("raft: invalid message")
	// ErrBootstrap is returned by RawNode.Bootstrap when the storage is not
	// empty or the peer list is unusable.
	ErrBootstrap = errors.New("raft: cannot bootstrap")
)

// ReadOnlyOption selects how ReadIndex requests are served.
type ReadOnlyOption uint8

const (
	// ReadOnlySafe (the default) confirms leadership with a round of
	// heartbeats carrying the request context before answering a ReadIndex
	// request. It is linearizable regardless of clocks.
	ReadOnlySafe ReadOnlyOption = 0
	// ReadOnlyLeaseBased answers from the leader's lease without a heartbeat
	// round while the lease holds (see the package documentation). It relies
	// on CheckQuorum (followers that heard from the leader within an election
	// timeout refuse votes) AND on the members' tick rates not drifting
	// apart: if a follower's clock runs fast enough to end its promise early
	// and help elect a new leader while the old leader still counts its
	// lease as valid, reads can be stale.
	ReadOnlyLeaseBased ReadOnlyOption = 1
)

func (o ReadOnlyOption) String() string {
	switch o {
	case ReadOnlySafe:
		return "ReadOnlySafe"
	case ReadOnlyLeaseBased:
		return "ReadOnlyLeaseBased"
	}
	return "ReadOnlyOption(" + itoa(uint64(o)) + ")"
}

// Logger receives the core's diagnostics. Panicf must panic.
type Logger interface {
	Debugf(format string, args ...any)
	Infof(format string, args ...any)
	Warningf(format string, args ...any)
	Errorf(format string, args ...any)
	Panicf(format string, args ...any)
}

// discardLogger drops everything except panics.
type discardLogger struct{}

func (discardLogger) Debugf(string, ...any)   {}
func (discardLogger) Infof(string, ...any)    {}
func (discardLogger) Warningf(string, ...any) {}
func (discardLogger) Errorf(string, ...any)   {}
func (discardLogger) Panicf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// Config holds the parameters of one member's Raft state machine.
type Config struct {
	// ID is this member's identity; non-zero. IDs must never be derived from
	// names or addresses, which get reused: use NewMemberID.
	ID uint64
	// ElectionTick is the number of Ticks without contact from a leader after
	// which a follower campaigns. The actual timeout is randomized in
	// [ElectionTick, 2*ElectionTick). Must be greater than HeartbeatTick.
	ElectionTick int
	// HeartbeatTick is the number of Ticks between leader heartbeats. > 0.
	HeartbeatTick int
	// Storage is the durable log as seen by raft. Required.
	Storage Storage
	// Applied is the last index the application applied before a restart.
	// Entries up to it are not handed out again.
	Applied uint64
	// MaxSizePerMsg limits the bytes of entry data per MsgApp; 0 means one
	// entry per message.
	MaxSizePerMsg uint64
	// MaxInflightMsgs limits the MsgApps in flight to one follower while it is
	// replicating optimistically (pipelining). > 0.
	MaxInflightMsgs int
	// MaxInflightBytes limits the entry bytes in flight to one follower; 0
	// means no limit. If set it must be at least MaxSizePerMsg.
	MaxInflightBytes uint64
	// MaxUncommittedEntriesSize limits the total data bytes of entries the
	// leader has appended but not yet committed; proposals beyond it are
	// refused with ErrProposalDropped. 0 means no limit.
	MaxUncommittedEntriesSize uint64
	// CheckQuorum makes a leader step down when it has not heard from a quorum
	// within an election timeout, and makes followers that heard from a leader
	// within the election timeout ignore vote requests (leader stickiness).
	CheckQuorum bool
	// PreVote runs a pre-election (Raft thesis §9.6) that does not change
	// terms, so a member rejoining from a partition cannot disrupt a leader.
	PreVote bool
	// ReadOnlyOption selects how ReadIndex is served; ReadOnlyLeaseBased
	// requires CheckQuorum.
	ReadOnlyOption ReadOnlyOption
	// Rand is the only source of randomness (randomized election timeouts).
	// Required; seed it in tests.
	Rand *rand.Rand
	// Logger receives diagnostics; nil discards them.
	Logger Logger
	// DisableProposalForwarding makes followers refuse proposals with
	// ErrProposalDropped instead of forwarding them to the leader.
	DisableProposalForwarding bool
	// LeaderAppliesUnpersisted lets a leader hand out committed entries as
	// CommittedEntries before its own copy of them is durable. A leader
	// counts its own log towards the commit index only once it is durable,
	// so every entry it knows committed is durable on a quorum already:
	// applying it is safe, and answers need not wait for the leader's own
	// disk. Its disk writer may then batch more (see server/writer.go).
	// Followers, and leaders without it, apply only what they have made
	// durable themselves. An application that persists applied state
	// outside the raft log (a snapshot) must first make the log durable up
	// to that state's index.
	LeaderAppliesUnpersisted bool
}

// Validate reports the first bad setting in c, wrapped in ErrInvalidConfig.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c == nil:
		return bad("nil config")
	case c.ID == None:
		return bad("ID must be non-zero")
	case c.HeartbeatTick <= 0:
		return bad("HeartbeatTick must be > 0, got %d", c.HeartbeatTick)
	case c.ElectionTick <= c.HeartbeatTick:
		return bad("ElectionTick (%d) must be greater than HeartbeatTick (%d)", c.ElectionTick, c.HeartbeatTick)
	case c.Storage == nil:
		return bad("Storage is required")
	case c.MaxInflightMsgs <= 0:
		return bad("MaxInflightMsgs must be > 0, got %d", c.MaxInflightMsgs)
	case c.MaxInflightBytes != 0 && c.MaxInflightBytes < c.MaxSizePerMsg:
		return bad("MaxInflightBytes (%d) must be 0 or >= MaxSizePerMsg (%d)", c.MaxInflightBytes, c.MaxSizePerMsg)
	case c.ReadOnlyOption > ReadOnlyLeaseBased:
		return bad("unknown ReadOnlyOption %d", c.ReadOnlyOption)
	case c.ReadOnlyOption == ReadOnlyLeaseBased && !c.CheckQuorum:
		return bad("ReadOnlyLeaseBased requires CheckQuorum")
	case c.Rand == nil:
		return bad("Rand is required (seed it in tests)")
	}
	return nil
}

// NewMemberID returns a random non-zero member ID drawn from r. Member IDs
// are never derived from names or addresses, which may be reused by a
// different member later.
func NewMemberID(r *rand.Rand) uint64 {
	for {
		if id := r.Uint64(); id != None {
			return id
		}
	}
}
