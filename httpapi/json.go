package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cairn/kv"
)

// keysPrefix is the store directory holding user keys; /v2/keys/x is the
// store path /1/x and the prefix is stripped from keys and causes.
const keysPrefix = "/1"

// jsonNode is kv.Node in etcd's field order (spec 1.4).
type jsonNode struct {
	Key           string      `json:"key,omitempty"`
	Value         *string     `json:"value,omitempty"`
	Dir           bool        `json:"dir,omitempty"`
	Expiration    *string     `json:"expiration,omitempty"`
	TTL           int64       `json:"ttl,omitempty"`
	Nodes         []*jsonNode `json:"nodes,omitempty"`
	ModifiedIndex uint64      `json:"modifiedIndex,omitempty"`
	CreatedIndex  uint64      `json:"createdIndex,omitempty"`
}

type jsonEvent struct {
	Action   string    `json:"action"`
	Node     *jsonNode `json:"node,omitempty"`
	PrevNode *jsonNode `json:"prevNode,omitempty"`
}

type jsonError struct {
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
	Cause     string `json:"cause,omitempty"`
	Index     uint64 `json:"index"`
}

// stripKey maps a store path to the API key ("/1/a" -> "/a", "/1" -> "").
func stripKey(p string) string {
	if p == keysPrefix {
		return ""
	}
	if strings.HasPrefix(p, keysPrefix+"/") {
		return p[len(keysPrefix):]
	}
	return p
}

// toJSON copies n (shared, read-only) into its wire form.
func toJSON(n *kv.Node) *jsonNode {
	if n == nil {
		return nil
	}
	out := &jsonNode{
		Key:           stripKey(n.Key),
		Value:         n.Value,
		Dir:           n.Dir,
		TTL:           n.TTL,
		ModifiedIndex: n.ModifiedIndex,
		CreatedIndex:  n.CreatedIndex,
	}
	if t, ok := n.ExpirationTime(); ok {
		s := t.Format(time.RFC3339Nano)
		out.Expiration = &s
	}
	if len(n.Nodes) > 0 {
		out.Nodes = make([]*jsonNode, len(n.Nodes))
		for i, c := range n.Nodes {
			out.Nodes[i] = toJSON(c)
		}
	}
	return out
}

func eventJSON(ev *kv.Event) *jsonEvent {
	return &jsonEvent{Action: ev.Action, Node: toJSON(ev.Node), PrevNode: toJSON(ev.PrevNode)}
}

// Error codes produced by this package (request parsing and raft errors);
// the store's own codes are in package kv.
const (
	ecodePrevValueRequired = 201
	ecodeTTLNaN            = 202
	ecodeIndexNaN          = 203
	ecodeInvalidField      = 209
	ecodeInvalidForm       = 210
	ecodeRefreshValue      = 211
	ecodeRefreshTTLMissing = 212
	ecodeRaftInternal      = 300
	// ecodeTooManyWatches is cairn's own code (outside etcd's table, like
	// kv's 460): a connection has too many open watches. HTTP 429.
	ecodeTooManyWatches = 470
)

var errMessages = map[int]string{
	ecodePrevValueRequired: "PrevValue is Required in POST form",
	ecodeTTLNaN:            "The given TTL in POST form is not a number",
	ecodeIndexNaN:          "The given index in POST form is not a number",
	ecodeInvalidField:      "Invalid field",
	ecodeInvalidForm:       "Invalid POST form",
	ecodeRefreshValue:      "Value provided on refresh",
	ecodeRefreshTTLMissing: "A TTL must be provided on refresh",
	ecodeRaftInternal:      "Raft Internal Error",
	ecodeTooManyWatches:    "Too many watches",
}

// errStatus maps an etcd error code to its HTTP status (spec 1.6); the
// default is 400.
func errStatus(code int) int {
	switch code {
	case kv.EcodeKeyNotFound:
		return http.StatusNotFound
	case kv.EcodeTestFailed, kv.EcodeNodeExist:
		return http.StatusPreconditionFailed
	case kv.EcodeNotFile, kv.EcodeDirNotEmpty:
		return http.StatusForbidden
	case 110:
		return http.StatusUnauthorized
	case ecodeRaftInternal, 301:
		return http.StatusInternalServerError
	case ecodeTooManyWatches:
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}

// writeEtcdError writes an etcd error body; X-Etcd-Index carries index.
func writeEtcdError(w http.ResponseWriter, code int, message, cause string, index uint64) {
	if strings.HasPrefix(cause, keysPrefix+"/") || cause == keysPrefix {
		cause = stripKey(cause)
		if cause == "" {
			cause = "/"
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Etcd-Index", strconv.FormatUint(index, 10))
	w.WriteHeader(errStatus(code))
	json.NewEncoder(w).Encode(jsonError{ErrorCode: code, Message: message, Cause: cause, Index: index})
}

// requestError writes one of this package's request errors (index 0).
func requestError(w http.ResponseWriter, code int, cause string) {
	writeEtcdError(w, code, errMessages[code], cause, 0)
}

// writeJSON writes v as the JSON body with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// messageJSON is the members/stats API error shape (etcd's
// httptypes.HTTPError).
type messageJSON struct {
	Message string `json:"message"`
}

// writeMessage writes {"message":...} as etcd's HTTPError.WriteTo does:
// no trailing newline.
func writeMessage(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(messageJSON{msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func hexID(id uint64) string { return strconv.FormatUint(id, 16) }

// marshalEvent renders ev as etcd does: JSON plus a newline.
func marshalEvent(ev *kv.Event) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(eventJSON(ev)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
