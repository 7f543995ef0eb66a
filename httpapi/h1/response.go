package h1

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// response is the http.ResponseWriter of the fast path. A connection
// reuses one for all its requests. The answer is buffered and sent with one
// write when the handler returns; a flush, or a body larger than
// streamAfter, sends what there is and streams the rest chunked.
type response struct {
	c      *conn
	req    *http.Request
	header http.Header

	wroteHeader bool
	code        int
	head        []byte // status line and the handler's headers, from WriteHeader
	haveType    bool   // the handler set Content-Type (possibly to nothing)
	haveDate    bool
	cl          int64 // the handler's Content-Length, or -1
	closeAfter  bool

	sent    bool // the head has gone out: streaming
	chunked bool
	body    []byte // body not yet sent
	written int64
	out     []byte
	err     error // the connection failed
	keys    []string
}

func (w *response) reset(req *http.Request) {
	w.req = req
	clear(w.header)
	w.wroteHeader, w.sent, w.chunked = false, false, false
	w.haveType, w.haveDate = false, false
	w.cl = -1
	w.closeAfter = req.Close
	w.head, w.body = w.head[:0], w.body[:0]
	w.written = 0
	w.err = nil
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.wroteHeader {
		w.c.s.opts.ErrorLog.Printf("h1: superfluous response.WriteHeader call (status %d after %d)", code, w.code)
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// An informational answer goes out at once, as net/http sends it.
		w.out = appendStatus(w.out[:0], code)
		w.out = w.appendHeaders(w.out, false)
		w.out = append(w.out, "\r\n"...)
		w.send(w.out)
		return
	}
	w.wroteHeader = true
	w.code = code
	w.head = appendStatus(w.head[:0], code)
	w.head = w.appendHeaders(w.head, true)
}

// appendHeaders appends the handler's headers, sorted by name, as net/http
// writes them: lines with an invalid name are skipped, line breaks in values
// become spaces. With note set it also records the headers the framing
// depends on.
func (w *response) appendHeaders(b []byte, note bool) []byte {
	w.keys = w.keys[:0]
	for k := range w.header {
		w.keys = append(w.keys, k)
	}
	slices.Sort(w.keys)
	for _, k := range w.keys {
		if !validName(k) {
			continue
		}
		vs := w.header[k]
		if note {
			switch k {
			case "Content-Type":
				w.haveType = true
			case "Date":
				w.haveDate = true
			case "Content-Length":
				if len(vs) == 0 {
					continue
				}
				n, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
				if err != nil || n < 0 {
					w.c.s.opts.ErrorLog.Printf("h1: invalid Content-Length of %q", vs[0])
					continue
				}
				w.cl = n
			case "Transfer-Encoding":
				continue // framing is the server's
			case "Connection":
				for _, v := range vs {
					if hasToken(v, "close") {
						w.closeAfter = true
					}
				}
			}
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.code) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	w.body = append(w.body, p...)
	if len(w.body) > streamAfter {
		w.flush()
	}
	return len(p), w.err
}

func (w *response) WriteString(s string) (int, error) {
	// Through Write; a string body is rare here.
	return w.Write([]byte(s))
}

// Flush sends what the handler has written so far.
func (w *response) Flush() { w.FlushError() }

// FlushError is Flush, with the connection's error.
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.flush()
	return w.err
}

// flush sends the head if it has not gone yet, then the buffered body (as
// a chunk once streaming).
func (w *response) flush() {
	if w.err != nil {
		return
	}
	out := w.out[:0]
	if !w.sent {
		w.sent = true
		out = append(out, w.head...)
		w.chunked = bodyAllowed(w.code) && w.cl < 0
		out = w.appendFraming(out, w.chunked, false)
	}
	out = w.appendBody(out)
	w.out = out
	w.send(out)
}

func (w *response) appendBody(out []byte) []byte {
	if len(w.body) > 0 {
		if w.chunked {
			out = strconv.AppendInt(out, int64(len(w.body)), 16)
			out = append(out, "\r\n"...)
			out = append(out, w.body...)
			out = append(out, "\r\n"...)
		} else {
			out = append(out, w.body...)
		}
		w.body = w.body[:0]
	}
	return out
}

// appendFraming appends the headers the server adds, in net/http's order,
// and the empty line that ends the head.
func (w *response) appendFraming(out []byte, chunked, done bool) []byte {
	bodyOK := bodyAllowed(w.code)
	if !w.haveType && bodyOK && len(w.body) > 0 {
		out = append(out, "Content-Type: "...)
		out = append(out, http.DetectContentType(w.body)...)
		out = append(out, "\r\n"...)
	}
	if w.closeAfter && !hasToken(w.header.Get("Connection"), "close") {
		out = append(out, "Connection: close\r\n"...)
	}
	if chunked {
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	}
	if !w.haveDate {
		out = append(out, "Date: "...)
		out = appendDate(out)
		out = append(out, "\r\n"...)
	}
	if done && bodyOK && w.cl < 0 {
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, int64(len(w.body)), 10)
		out = append(out, "\r\n"...)
	}
	return append(out, "\r\n"...)
}

func (w *response) send(b []byte) {
	if w.err != nil || len(b) == 0 {
		return
	}
	if _, err := w.c.nc.Write(b); err != nil {
		w.err = err
	}
}

// finish sends the rest of the answer once the handler has returned, and
// reports whether the connection may serve another request.
func (w *response) finish() bool {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return false
	}
	out := w.out[:0]
	if !w.sent {
		out = append(out, w.head...)
		out = w.appendFraming(out, false, true)
		out = append(out, w.body...)
		w.body = w.body[:0]
	} else {
		out = w.appendBody(out)
		if w.chunked {
			out = append(out, "0\r\n\r\n"...)
		}
	}
	w.out = out
	w.send(out)
	// A connection keeps its buffers between requests, but not the large
	// ones a big answer left.
	if cap(w.out) > keepBuf {
		w.out = nil
	}
	if cap(w.body) > keepBuf {
		w.body = nil
	}
	if w.cl >= 0 && w.written != w.cl && bodyAllowed(w.code) {
		// The handler declared more than it wrote: the client cannot
		// find the next answer's start.
		return false
	}
	return w.err == nil && !w.closeAfter
}

// keepBuf is the largest response buffer a connection keeps for its next
// request.
const keepBuf = 16 << 10

// bodyAllowed reports whether a response with this status may have a
// body (RFC 9110: not 1xx, 204 or 304).
func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

func appendStatus(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if t := http.StatusText(code); t != "" {
		b = append(b, t...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}

// appendValue appends v as net/http writes a header value: line breaks
// become spaces, and spaces and tabs at either end are trimmed. The usual
// value needs neither and is appended as it is.
func appendValue(b []byte, v string) []byte {
	plain := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' {
			plain = false
			break
		}
	}
	if !plain {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	if v != "" && (isBlank(v[0]) || isBlank(v[len(v)-1])) {
		v = strings.Trim(v, " \t")
	}
	return append(b, v...)
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// validName reports whether k is a valid header name.
func validName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !tokenChars[k[i]] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds tok, ignoring
// case.
func hasToken(v, tok string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}

// date is the Date header's value, formatted once a second.
type date struct {
	sec int64
	b   []byte
}

var dateCache atomic.Pointer[date]

func appendDate(b []byte) []byte {
	now := time.Now()
	d := dateCache.Load()
	if d == nil || d.sec != now.Unix() {
		d = &date{sec: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
		dateCache.Store(d)
	}
	return append(b, d.b...)
}
