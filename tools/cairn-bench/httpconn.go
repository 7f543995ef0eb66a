package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"
)

// Sentinel errors of the load generator's HTTP client.
var (
	errBadEndpoint = errors.New("cairn-bench: bad endpoint")
	errBadResponse = errors.New("cairn-bench: malformed HTTP response")
)

// httpConn is a minimal HTTP/1.1 client over one keep-alive TCP connection:
// one request at a time, no allocation per request in the steady state. It
// redials after any error. It is not safe for concurrent use.
type httpConn struct {
	addr    string // host:port
	host    string // Host header
	timeout time.Duration

	c    net.Conn // nil until dialed, and after an error
	br   *bufio.Reader
	bw   *bufio.Writer
	req  []byte // request scratch buffer
	body []byte // last response body; reused, valid until the next request
}

// endpointAddr turns an endpoint URL (http://host:port) into host:port.
func endpointAddr(ep string) (string, error) {
	u, err := url.Parse(ep)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", errBadEndpoint, ep, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return "", fmt.Errorf("%w: %q: want http://host:port", errBadEndpoint, ep)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	return host, nil
}

func newHTTPConn(addr string, timeout time.Duration) *httpConn {
	return &httpConn{addr: addr, host: addr, timeout: timeout}
}

func (h *httpConn) dial() error {
	c, err := net.DialTimeout("tcp", h.addr, h.timeout)
	if err != nil {
		return err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	h.c = c
	if h.br == nil {
		h.br = bufio.NewReaderSize(c, 16<<10)
		h.bw = bufio.NewWriterSize(c, 4<<10)
	} else {
		h.br.Reset(c)
		h.bw.Reset(c)
	}
	return nil
}

// Close closes the connection, if any.
func (h *httpConn) Close() {
	if h.c != nil {
		h.c.Close()
		h.c = nil
	}
}

// do sends one request and reads the whole response. path must already be
// escaped. body, if not nil, is sent as an urlencoded form. The returned body
// aliases an internal buffer valid until the next call.
func (h *httpConn) do(method string, path, form []byte) (status int, body []byte, err error) {
	status, body, err = h.roundTrip(method, path, form)
	if err != nil {
		h.Close()
	}
	return status, body, err
}

func (h *httpConn) roundTrip(method string, path, form []byte) (int, []byte, error) {
	if err := h.writeRequest(method, path, form); err != nil {
		return 0, nil, err
	}
	return h.readResponse(method == "HEAD")
}

// writeRequest dials if needed, sets the deadline and sends one request.
func (h *httpConn) writeRequest(method string, path, form []byte) error {
	if h.c == nil {
		if err := h.dial(); err != nil {
			return err
		}
	}
	if h.timeout > 0 {
		h.c.SetDeadline(time.Now().Add(h.timeout))
	}
	r := h.req[:0]
	r = append(r, method...)
	r = append(r, ' ')
	r = append(r, path...)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, h.host...)
	r = append(r, "\r\n"...)
	if form != nil {
		r = append(r, "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "...)
		r = strconv.AppendInt(r, int64(len(form)), 10)
		r = append(r, "\r\n"...)
	}
	r = append(r, "\r\n"...)
	h.req = r
	if _, err := h.bw.Write(r); err != nil {
		return err
	}
	if form != nil {
		if _, err := h.bw.Write(form); err != nil {
			return err
		}
	}
	return h.bw.Flush()
}

// stream sends a GET for path and reads the answer's head. A 200 with a
// chunked body (a v2 stream watch) gives the decoded body, read with no
// deadline from then on; anything else is an error, and the connection is
// closed.
func (h *httpConn) stream(path []byte) (io.Reader, error) {
	err := h.writeRequest("GET", path, nil)
	var hd respHead
	if err == nil {
		hd, err = h.readHead()
	}
	switch {
	case err != nil:
	case hd.status != 200:
		err = fmt.Errorf("%w: %d", errStatus, hd.status)
	case !hd.chunked:
		err = fmt.Errorf("%w: a watch stream that is not chunked", errBadResponse)
	default:
		h.c.SetDeadline(time.Time{})
		return httputil.NewChunkedReader(h.br), nil
	}
	h.Close()
	return nil, err
}

// respHead is what readHead reads of a response.
type respHead struct {
	status              int
	length              int64 // Content-Length, -1 if none
	chunked, closeAfter bool
}

// readHead parses a status line and the headers.
func (h *httpConn) readHead() (respHead, error) {
	hd := respHead{length: -1}
	line, err := h.br.ReadSlice('\n')
	if err != nil {
		return hd, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return hd, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	if hd.status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return hd, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	for {
		line, err = h.br.ReadSlice('\n')
		if err != nil {
			return hd, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return hd, nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return hd, fmt.Errorf("%w: header %q", errBadResponse, line)
		}
		name, val := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			hd.length, err = strconv.ParseInt(string(val), 10, 64)
			if err != nil || hd.length < 0 {
				return hd, fmt.Errorf("%w: Content-Length %q", errBadResponse, val)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			hd.chunked = bytes.EqualFold(val, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			hd.closeAfter = bytes.EqualFold(val, []byte("close"))
		}
	}
}

// readResponse reads a response: the head, then the body (by
// Content-Length, chunked, or until EOF).
func (h *httpConn) readResponse(head bool) (int, []byte, error) {
	hd, err := h.readHead()
	if err != nil {
		return 0, nil, err
	}
	status, length, chunked, closeAfter := hd.status, hd.length, hd.chunked, hd.closeAfter
	var line []byte
	h.body = h.body[:0]
	switch {
	case head || status == 204 || status == 304 || status/100 == 1:
	case chunked:
		h.body, err = appendAll(h.body, httputil.NewChunkedReader(h.br))
		if err != nil {
			return 0, nil, err
		}
		// Trailer section: lines up to an empty one.
		for {
			line, err = h.br.ReadSlice('\n')
			if err != nil {
				return 0, nil, err
			}
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				break
			}
		}
	case length >= 0:
		if int64(cap(h.body)) < length {
			h.body = make([]byte, length)
		}
		h.body = h.body[:length]
		if _, err = io.ReadFull(h.br, h.body); err != nil {
			return 0, nil, err
		}
	default:
		closeAfter = true
		h.body, err = appendAll(h.body, h.br)
		if err != nil {
			return 0, nil, err
		}
	}
	if closeAfter {
		h.Close()
	}
	return status, h.body, nil
}

// appendAll reads r to EOF, appending to b.
func appendAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// modifiedIndex extracts node.modifiedIndex from a v2 key response body
// without a full JSON decode. It returns 0 if there is none.
func modifiedIndex(body []byte) uint64 {
	const tag = `"modifiedIndex":`
	i := bytes.Index(body, []byte(tag))
	if i < 0 {
		return 0
	}
	var v uint64
	for _, c := range body[i+len(tag):] {
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + uint64(c-'0')
	}
	return v
}
