package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	"cairn/kv"
)

// Entry payloads. A normal entry's data is the request ID (8 bytes
// little-endian, 0 for requests nobody waits for), the proposing member's
// ID (8 bytes little-endian), then kv.AppendRequest. A conf change's
// Context is a confContext in JSON; its Proposer and the ConfChange's ID
// play the same roles. Only the proposer answers a waiting request, so
// request IDs need only be unique per member.

func encodeEntry(id, proposer uint64, r *kv.Request) []byte {
	b := binary.LittleEndian.AppendUint64(nil, id)
	b = binary.LittleEndian.AppendUint64(b, proposer)
	return kv.AppendRequest(b, r)
}

func decodeEntry(data []byte) (id, proposer uint64, r kv.Request, err error) {
	if len(data) < 16 {
		return 0, 0, kv.Request{}, fmt.Errorf("%w: entry of %d bytes", ErrCorruptEntry, len(data))
	}
	r, err = kv.UnmarshalRequest(data[16:])
	if err != nil {
		return 0, 0, kv.Request{}, fmt.Errorf("%w: %w", ErrCorruptEntry, err)
	}
	return binary.LittleEndian.Uint64(data), binary.LittleEndian.Uint64(data[8:]), r, nil
}

// confContext is the Context of a membership change.
type confContext struct {
	Proposer  uint64   `json:"proposer,omitempty"`
	Name      string   `json:"name,omitempty"`
	PeerURLs  []string `json:"peerURLs"`
	IsLearner bool     `json:"isLearner,omitempty"`
}

// Store layout (etcd's): cluster state under /0, user keys under /1.
const (
	membersDir   = "/0/members"
	removedDir   = "/0/removed_members"
	versionKey   = "/0/version"
	raftAttrName = "raftAttributes"
	attrName     = "attributes"
)

func memberDir(id uint64) string { return membersDir + "/" + strconv.FormatUint(id, 16) }

// raftAttributes is the JSON value of /0/members/<id>/raftAttributes.
type raftAttributes struct {
	PeerURLs  []string `json:"peerURLs"`
	IsLearner bool     `json:"isLearner,omitempty"`
}

// attributes is the JSON value of /0/members/<id>/attributes, published by
// the member itself once it runs.
type attributes struct {
	Name       string   `json:"name,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("server: marshal " + err.Error())
	}
	return string(b)
}
