package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cairn/kv"
)

// keysPrefix is the store directory holding user keys; /v2/keys/x is the
// store path /1/x and the prefix is stripped from keys and causes.
const keysPrefix = "/1"

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
	buf := getBuf()
	defer putBuf(buf)
	b := appendError(buf.b[:0], code, message, cause, index)
	hd := w.Header()
	hd["Content-Type"] = contentTypeJSON
	setUint(hd, "X-Etcd-Index", index)
	w.WriteHeader(errStatus(code))
	w.Write(b)
	buf.b = b
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

// contentTypeJSON is the Content-Type value of every JSON answer. It is
// shared by all responses: nothing may modify its elements.
var contentTypeJSON = []string{"application/json"}

// setUint sets the header key (canonical form) to v in decimal.
func setUint(hd http.Header, key string, v uint64) {
	hd[key] = []string{strconv.FormatUint(v, 10)}
}

// A jsonBuf is a pooled buffer for encoding one response body.
type jsonBuf struct{ b []byte }

var bufPool = sync.Pool{New: func() any { return &jsonBuf{b: make([]byte, 0, 512)} }}

func getBuf() *jsonBuf { return bufPool.Get().(*jsonBuf) }

// putBuf returns buf to the pool unless it grew large (a big directory).
func putBuf(buf *jsonBuf) {
	if cap(buf.b) > 64<<10 {
		return
	}
	bufPool.Put(buf)
}

// appendEvent appends ev as etcd writes it (encoding/json's Encoder: HTML
// escaping, a trailing newline) to dst. It is byte-for-byte what
// json.NewEncoder(w).Encode of etcd's event struct writes;
// TestAppendEventMatchesEncodingJSON checks that.
func appendEvent(dst []byte, ev *kv.Event) []byte {
	dst = append(dst, `{"action":`...)
	dst = appendJSONString(dst, ev.Action)
	if ev.Node != nil {
		dst = append(dst, `,"node":`...)
		dst = appendNode(dst, ev.Node)
	}
	if ev.PrevNode != nil {
		dst = append(dst, `,"prevNode":`...)
		dst = appendNode(dst, ev.PrevNode)
	}
	return append(dst, "}\n"...)
}

// appendNode appends n in etcd's field order (spec 1.4), each field
// omitted when empty except a file's value; nil is null.
func appendNode(dst []byte, n *kv.Node) []byte {
	if n == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	start := len(dst)
	// sep starts every field but the first.
	sep := func(dst []byte) []byte {
		if len(dst) > start {
			dst = append(dst, ',')
		}
		return dst
	}
	if k := stripKey(n.Key); k != "" {
		dst = append(dst, `"key":`...)
		dst = appendJSONString(dst, k)
	}
	if n.Value != nil {
		dst = append(sep(dst), `"value":`...)
		dst = appendJSONString(dst, *n.Value)
	}
	if n.Dir {
		dst = append(sep(dst), `"dir":true`...)
	}
	if t, ok := n.ExpirationTime(); ok {
		// RFC3339Nano output is digits, '-', ':', '.', 'T', 'Z' and
		// '+' only: nothing to escape.
		dst = append(sep(dst), `"expiration":"`...)
		dst = t.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	if n.TTL != 0 {
		dst = append(sep(dst), `"ttl":`...)
		dst = strconv.AppendInt(dst, n.TTL, 10)
	}
	if len(n.Nodes) > 0 {
		dst = append(sep(dst), `"nodes":[`...)
		for i, c := range n.Nodes {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendNode(dst, c)
		}
		dst = append(dst, ']')
	}
	if n.ModifiedIndex != 0 {
		dst = append(sep(dst), `"modifiedIndex":`...)
		dst = strconv.AppendUint(dst, n.ModifiedIndex, 10)
	}
	if n.CreatedIndex != 0 {
		dst = append(sep(dst), `"createdIndex":`...)
		dst = strconv.AppendUint(dst, n.CreatedIndex, 10)
	}
	return append(dst, '}')
}

// appendError appends etcd's error body {"errorCode", "message", "cause"
// (omitted when empty), "index"} and a newline.
func appendError(dst []byte, code int, message, cause string, index uint64) []byte {
	dst = append(dst, `{"errorCode":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, message)
	if cause != "" {
		dst = append(dst, `,"cause":`...)
		dst = appendJSONString(dst, cause)
	}
	dst = append(dst, `,"index":`...)
	dst = strconv.AppendUint(dst, index, 10)
	return append(dst, "}\n"...)
}

// appendJSONString appends s quoted as encoding/json does with HTML
// escaping on: '"' and '\\' backslashed; \b \f \n \r \t short; other
// control bytes and '<', '>', '&' as \u00xx; U+2028 and U+2029 as \u202x;
// each byte of invalid UTF-8 as \ufffd. Everything else, DEL included,
// is copied.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	done := 0 // s[:done] is in dst
	for i := 0; i < len(s); {
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[done:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			done = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[done:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[done:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		done = i
	}
	dst = append(dst, s[done:]...)
	return append(dst, '"')
}

// jsonPlain marks the bytes appendJSONString copies as they are: ASCII
// from 0x20 on, except '"', '\\' and the HTML-sensitive '<', '>' and '&'
// (encoding/json escapes those too). One table lookup per byte instead of
// six comparisons: a value's bytes are most of an answer.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()
