package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testHandler answers with what it saw, and has a few paths that exercise
// the response writer.
func testHandler(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch r.URL.Path {
	case "/status":
		code, _ := strconv.Atoi(q.Get("code"))
		w.Header().Set("X-Test", "1")
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d\n", code)
	case "/big":
		n, _ := strconv.Atoi(q.Get("n"))
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 64)
		for n > 0 {
			k := min(n, len(chunk))
			w.Write(chunk[:k])
			n -= k
		}
	case "/flush":
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "first\n")
		http.NewResponseController(w).Flush()
		io.WriteString(w, "second\n")
	case "/notype":
		w.Header()["Content-Type"] = nil
		io.WriteString(w, "<html>no type</html>")
	case "/sniff":
		io.WriteString(w, "<html><body>sniffed</body></html>")
	case "/cl":
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "12345")
	case "/short":
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "12345")
	case "/empty":
	case "/odd":
		// Values net/http cleans (line breaks, blanks at the ends) and a
		// name it drops.
		w.Header()["X-Odd"] = []string{"  a\r\nb \t", "\tx", "y\n", "plain", ""}
		w.Header()["Bad Name"] = []string{"v"}
		io.WriteString(w, "odd\n")
	case "/close":
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye\n")
	case "/error":
		http.Error(w, "no such thing", http.StatusNotFound)
	case "/redirect":
		http.Redirect(w, r, "/elsewhere?x=1", http.StatusMovedPermanently)
	case "/panic":
		panic("test panic")
	case "/form":
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range r.Form {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			fmt.Fprintf(w, "%s=%q\n", k, r.Form[k])
		}
	case "/wait":
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(100 * time.Millisecond):
			io.WriteString(w, "waited\n")
		}
	default:
		body, err := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %s proto=%s host=%s uri=%s\n", r.Method, r.URL.Path, r.URL.RawQuery, r.Proto, r.Host, r.RequestURI)
		fmt.Fprintf(w, "rawpath=%q cl=%d close=%v te=%v body=%q err=%v\n", r.URL.RawPath, r.ContentLength, r.Close, r.TransferEncoding, body, err)
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range r.Header {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(w, "%s: %q\n", k, r.Header[k])
		}
	}
}

func isLong(r *http.Request) bool { return r.URL.Path == "/wait" }

// pair is the same handler behind h1 and behind a plain http.Server.
type pair struct {
	h1       *Server
	h1Addr   string
	std      *http.Server
	stdAddr  string
	stdLines *bytes.Buffer
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{stdLines: &bytes.Buffer{}}
	quiet := log.New(io.Discard, "", 0)
	p.h1 = New(http.HandlerFunc(testHandler), Options{ReadHeaderTimeout: 2 * time.Second, ErrorLog: quiet, Long: isLong})
	ln1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.h1Addr = ln1.Addr().String()
	go p.h1.Serve(ln1)
	p.std = &http.Server{Handler: http.HandlerFunc(testHandler), ReadHeaderTimeout: 2 * time.Second, ErrorLog: quiet}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.stdAddr = ln2.Addr().String()
	go p.std.Serve(ln2)
	t.Cleanup(func() {
		p.h1.Close()
		p.std.Close()
	})
	return p
}

// exchange sends raw on a new connection and returns the answers read
// until the server closes the connection or n answers have arrived.
type answer struct {
	status string
	header http.Header
	body   string
	close  bool // the answer said Connection: close
	err    error
}

func exchange(t *testing.T, addr, raw string, n int, method string) ([]answer, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []answer
	for len(out) < n {
		methods := strings.Split(method, ",")
		m := methods[min(len(out), len(methods)-1)]
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				out = append(out, answer{err: err})
			}
			return out, true
		}
		body, err := io.ReadAll(resp.Body)
		h := resp.Header.Clone()
		h.Del("Date")
		if len(resp.TransferEncoding) > 0 {
			h["X-Framing"] = resp.TransferEncoding
		}
		out = append(out, answer{status: resp.Status, header: h, body: string(body), close: resp.Close, err: err})
	}
	// Is the connection still open? A closed one reads EOF at once.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = br.ReadByte()
	closed := err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	return out, closed
}

func TestDifferential(t *testing.T) {
	p := newPair(t)
	long := strings.Repeat("v", 100<<10)
	cases := []struct {
		name   string
		raw    string
		n      int    // answers expected
		method string // of the requests (comma-separated, the last repeats), for reading HEAD answers
		lean   bool   // served on the lean path from the start
	}{
		{"get", "GET /a/b?x=1&y=%20z HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\n\r\n", 1, "GET", true},
		{"put form", "PUT /form?q=1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 21\r\n\r\nvalue=hello&ttl=5&q=2", 1, "PUT", true},
		{"post body", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd", 1, "POST", true},
		{"delete", "DELETE /x?recursive=true HTTP/1.1\r\nHost: h\r\n\r\n", 1, "DELETE", true},
		{"pipelined", strings.Repeat("GET /p HTTP/1.1\r\nHost: h\r\n\r\n", 3), 3, "GET", true},
		{"pipelined bodies", strings.Repeat("PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", 4), 4, "PUT", true},
		{"lower-case names", "GET /c HTTP/1.1\r\nhost: h\r\ncontent-type: text/x\r\nx-my-HEADER: A\r\nx-my-header: b\r\n\r\n", 1, "GET", true},
		{"value spaces and obs-text", "GET /c HTTP/1.1\r\nHost: h\r\nX-A:   spaced \t \r\nX-B: caf\xc3\xa9\r\nX-C:\r\n\r\n", 1, "GET", true},
		{"escaped path", "GET /a%2Fb/c%20d HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", true},
		{"connection close", "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: h\r\n\r\n", 2, "GET", true},
		{"connection keep-alive, close", "GET /a HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n", 1, "GET", true},
		{"handler closes", "GET /close HTTP/1.1\r\nHost: h\r\n\r\nGET /never HTTP/1.1\r\nHost: h\r\n\r\n", 2, "GET", true},
		{"status 204", "GET /status?code=204 HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", true},
		{"status 304", "GET /status?code=304 HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", true},
		{"status 404", "GET /status?code=404 HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", true},
		{"status 599", "GET /status?code=599 HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", true},
		{"big answer", "GET /big?n=300000 HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n", 2, "GET", true},
		{"medium answer", "GET /big?n=5000 HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", true},
		{"flush", "GET /flush HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n", 2, "GET", true},
		{"no type", "GET /notype HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", true},
		{"sniff", "GET /sniff HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", true},
		{"content-length set", "GET /cl HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n", 2, "GET", true},
		{"empty", "GET /empty HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", true},
		{"odd header values", "GET /odd HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n", 2, "GET", true},
		{"http.Error", "GET /error HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", true},
		{"redirect", "GET /redirect HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", true},
		{"long", "GET /wait HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n", 2, "GET", true},
		{"host with port", "GET /a HTTP/1.1\r\nHost: 127.0.0.1:2379\r\n\r\n", 1, "GET", true},
		{"ipv6 host", "GET /a HTTP/1.1\r\nHost: [::1]:2379\r\n\r\n", 1, "GET", true},
		// Handed to net/http.
		{"head", "HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n", 1, "HEAD", false},
		{"options", "OPTIONS /a HTTP/1.1\r\nHost: h\r\n\r\n", 1, "OPTIONS", false},
		{"patch", "PATCH /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx", 1, "PATCH", false},
		{"http/1.0", "GET /a HTTP/1.0\r\n\r\n", 1, "GET", false},
		{"http/1.0 keep-alive", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n", 2, "GET", false},
		{"expect", "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", 1, "PUT", false},
		{"chunked body", "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 1, "PUT", false},
		{"no host", "GET /a HTTP/1.1\r\n\r\n", 1, "GET", false},
		{"two hosts", "GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 1, "GET", false},
		{"bad host", "GET /a HTTP/1.1\r\nHost: a b\r\n\r\n", 1, "GET", false},
		{"bad header name", "GET /a HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", 1, "GET", false},
		{"control in value", "GET /a HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", 1, "GET", false},
		{"two content-lengths", "PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", 1, "PUT", false},
		{"bad content-length", "PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\nx", 1, "PUT", false},
		{"big body", "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: " + strconv.Itoa(len(long)) + "\r\n\r\n" + long, 1, "PUT", false},
		{"bare LF", "GET /a HTTP/1.1\nHost: h\n\n", 1, "GET", false},
		{"absolute form", "GET http://h/a HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", false},
		{"asterisk", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 1, "GET", false},
		{"folded header", "GET /a HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 1, "GET", false},
		{"garbage", "hello\r\n\r\n", 1, "GET", false},
		{"big head", "GET /a HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", 5000) + "\r\n\r\n", 1, "GET", false},
		{"pragma", "GET /a HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n", 1, "GET", false},
		{"upgrade", "GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 1, "GET", false},
		// Lean first, then net/http for the rest of the connection.
		{"lean then head", "GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\n", 2, "GET,HEAD", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lean0, off0 := p.h1.nLean.Load(), p.h1.nHandedOff.Load()
			want, wantClosed := exchange(t, p.stdAddr, tc.raw, tc.n, tc.method)
			got, gotClosed := exchange(t, p.h1Addr, tc.raw, tc.n, tc.method)
			lean, off := p.h1.nLean.Load()-lean0, p.h1.nHandedOff.Load()-off0
			if tc.lean && lean == 0 || !tc.lean && (lean != 0 || off != 1) {
				t.Errorf("lean requests %d, handed-off connections %d; want lean=%v", lean, off, tc.lean)
			}
			if len(got) != len(want) {
				t.Fatalf("%d answers, net/http gave %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
			}
			for i := range want {
				g, w := got[i], want[i]
				if (g.err == nil) != (w.err == nil) || g.status != w.status || g.body != w.body || g.close != w.close || !sameHeader(g.header, w.header) {
					t.Errorf("answer %d:\n got %q %v %q err=%v\nwant %q %v %q err=%v", i, g.status, g.header, g.body, g.err, w.status, w.header, w.body, w.err)
				}
			}
			if gotClosed != wantClosed {
				t.Errorf("connection closed after: %v, net/http: %v", gotClosed, wantClosed)
			}
		})
	}
}

// sameHeader compares answers' headers apart from the framing net/http
// picks differently (it goes chunked past 2 KiB unannounced; h1 past
// 64 KiB).
func sameHeader(a, b http.Header) bool {
	norm := func(h http.Header) http.Header {
		h = h.Clone()
		h.Del("Content-Length")
		h.Del("X-Framing")
		return h
	}
	a, b = norm(a), norm(b)
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
