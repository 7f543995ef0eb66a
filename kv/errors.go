package kv

import (
	"errors"
	"fmt"
)

// Error codes of the etcd v2 store (spec 1.6). The HTTP layer maps them to
// statuses; the store only ever returns the ones below.
const (
	EcodeKeyNotFound       = 100 // Key not found
	EcodeTestFailed        = 101 // Compare failed
	EcodeNotFile           = 102 // Not a file
	EcodeNotDir            = 104 // Not a directory
	EcodeNodeExist         = 105 // Key already exists
	EcodeRootROnly         = 107 // Root is read only
	EcodeDirNotEmpty       = 108 // Directory not empty
	EcodeEventIndexCleared = 401 // The event in requested index is outdated and cleared

	// EcodeIndexCompacted is cairn's own code, outside etcd's table: a read
	// at a past store index (GetAt) that is older than the retained history
	// or newer than the current index. etcd has no such read, so no etcd
	// client can receive it by accident.
	EcodeIndexCompacted = 460
)

var messages = map[int]string{
	EcodeKeyNotFound:       "Key not found",
	EcodeTestFailed:        "Compare failed",
	EcodeNotFile:           "Not a file",
	EcodeNotDir:            "Not a directory",
	EcodeNodeExist:         "Key already exists",
	EcodeRootROnly:         "Root is read only",
	EcodeDirNotEmpty:       "Directory not empty",
	EcodeEventIndexCleared: "The event in requested index is outdated and cleared",
	EcodeIndexCompacted:    "The requested index is not available",
}

// Error is a store error as etcd reports it: a numeric code, its fixed
// message, a cause (usually a path) and the store index current when the
// error happened. Match it with errors.As.
type Error struct {
	Code    int
	Message string
	Cause   string
	Index   uint64
}

func newError(code int, cause string, index uint64) *Error {
	return &Error{Code: code, Message: messages[code], Cause: cause, Index: index}
}

// Error implements error as "kv: <code>: <message> (<cause>) [<index>]", the
// shape etcdctl prints.
func (e *Error) Error() string {
	return fmt.Sprintf("kv: %d: %s (%s) [%d]", e.Code, e.Message, e.Cause, e.Index)
}

// Sentinel errors for things that are not store errors in etcd's sense.
var (
	// ErrDecode: a Request or snapshot stream is malformed (wrapped with
	// details).
	ErrDecode = errors.New("kv: malformed encoding")
	// ErrInvalidRequest: a decoded Request breaks an invariant (see
	// Request.Validate).
	ErrInvalidRequest = errors.New("kv: invalid request")
	// ErrWatcherOverflow ends a watcher whose buffer filled up: the reader
	// fell too far behind and must watch again from its last index + 1.
	ErrWatcherOverflow = errors.New("kv: watcher fell behind and was dropped")
	// ErrWatcherRemoved ends a watcher on which Remove was called.
	ErrWatcherRemoved = errors.New("kv: watcher removed")
	// ErrWatcherDone ends a non-stream watcher after its one event.
	ErrWatcherDone = errors.New("kv: watcher delivered its event")
	// ErrStoreReset ends every watcher when Restore replaces the store.
	ErrStoreReset = errors.New("kv: store restored from a snapshot")
)
