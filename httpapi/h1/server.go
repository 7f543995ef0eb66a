package h1

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits of the fast path. A request beyond them is handed to net/http,
// which serves it as it would any other.
const (
	// bufSize is the read buffer of a connection: a request head (request
	// line and headers) must fit in it.
	bufSize = 4 << 10
	// maxBody is the largest request body read into memory.
	maxBody = 64 << 10
	// streamAfter is how much response body is buffered before the
	// response goes out chunked.
	streamAfter = 64 << 10
	// bodyTimeout bounds the wait for the rest of a request body.
	bodyTimeout = 30 * time.Second
)

// Options configure a Server.
type Options struct {
	// ReadHeaderTimeout bounds the time from a request's first byte to
	// the end of its head, as http.Server's field does (0: no limit).
	ReadHeaderTimeout time.Duration
	// ErrorLog receives panics in the handler and accept errors; nil
	// means standard error.
	ErrorLog *log.Logger
	// Long picks the requests that may wait long for their answer
	// (cairn's watches). While their handler runs, the server reads the
	// connection, and cancels the request's context if the client goes
	// away. Other requests get a context that is never cancelled.
	Long func(*http.Request) bool
}

// Server serves HTTP/1.1 with a handler. Create it with New.
type Server struct {
	handler http.Handler
	opts    Options

	fallback   *http.Server
	fallbackLn *chanListener
	startFB    sync.Once

	shutting atomic.Bool

	// Counts of requests served on the lean path and of connections handed
	// to net/http, for tests.
	nLean, nHandedOff atomic.Int64

	mu    sync.Mutex
	lns   map[net.Listener]struct{}
	conns map[*conn]struct{}
}

// New returns a server for h.
func New(h http.Handler, opts Options) *Server {
	if opts.ErrorLog == nil {
		opts.ErrorLog = log.New(os.Stderr, "", log.LstdFlags)
	}
	s := &Server{
		handler: h,
		opts:    opts,
		lns:     map[net.Listener]struct{}{},
		conns:   map[*conn]struct{}{},
	}
	s.fallbackLn = newChanListener()
	s.fallback = &http.Server{Handler: h, ReadHeaderTimeout: opts.ReadHeaderTimeout, ErrorLog: opts.ErrorLog}
	return s
}

// Serve accepts connections on ln and serves them until ln fails or the
// server shuts down; then it returns http.ErrServerClosed or the error.
// Serve closes ln.
func (s *Server) Serve(ln net.Listener) error {
	defer ln.Close()
	s.startFB.Do(func() { go s.fallback.Serve(s.fallbackLn) })
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return http.ErrServerClosed
			}
			if isTemporaryAccept(err) {
				// Out of file descriptors or the like: wait and retry,
				// as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.opts.ErrorLog.Printf("h1: accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := &conn{s: s, nc: nc, buf: make([]byte, bufSize)}
		s.mu.Lock()
		if s.shutting.Load() {
			s.mu.Unlock()
			nc.Close()
			return http.ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.serve()
	}
}

// Shutdown stops the server gracefully, like http.Server.Shutdown: it
// closes the listeners and the idle connections, then waits for the
// requests in flight to finish (and their connections to close) or for
// ctx to end, whichever comes first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting.Store(true)
	for ln := range s.lns {
		ln.Close()
	}
	s.mu.Unlock()
	fbErr := make(chan error, 1)
	go func() { fbErr <- s.fallback.Shutdown(ctx) }()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var err error
	for {
		if s.closeIdle() == 0 {
			break
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
			continue
		}
		break
	}
	if e := <-fbErr; err == nil {
		err = e
	}
	return err
}

// Close stops the server at once: listeners and every connection are
// closed, requests in flight or not.
func (s *Server) Close() error {
	s.mu.Lock()
	s.shutting.Store(true)
	for ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.state.Store(stateClosed)
		c.nc.Close()
	}
	s.mu.Unlock()
	return s.fallback.Close()
}

// closeIdle closes the idle connections and returns how many remain.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.nc.Close()
		}
	}
	return len(s.conns)
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// handOff passes c, with the bytes read but not yet served, to net/http.
func (s *Server) handOff(c *conn) {
	pc := &prefixConn{Conn: c.nc}
	if c.r < c.w {
		pc.pre = append([]byte(nil), c.buf[c.r:c.w]...)
	}
	s.forget(c)
	s.nHandedOff.Add(1)
	if !s.fallbackLn.put(pc) {
		c.nc.Close()
	}
}

// isTemporaryAccept reports accept errors worth retrying: running out of
// file descriptors or buffers, or an aborted connection.
func isTemporaryAccept(err error) bool {
	for _, e := range temporaryErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Connection states, for Shutdown.
const (
	stateActive int32 = iota // reading or serving a request
	stateIdle                // waiting for a request's first byte
	stateClosed              // closed by the server
)

// conn is one client connection on the fast path.
type conn struct {
	s     *Server
	nc    net.Conn
	state atomic.Int32

	buf  []byte // read buffer; unread bytes are buf[r:w]
	r, w int

	remote string
	body   []byte     // the current request's body when it did not fit in buf
	br     bodyReader // the current request's Body
	resp   response
}

func (c *conn) serve() {
	defer func() {
		if e := recover(); e != nil && e != http.ErrAbortHandler {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.s.opts.ErrorLog.Printf("h1: panic serving %v: %v\n%s", c.nc.RemoteAddr(), e, buf)
		}
		if c.state.Load() != stateHandedOff {
			c.nc.Close()
			c.s.forget(c)
		}
	}()
	c.remote = c.nc.RemoteAddr().String()
	c.resp.c = c
	c.resp.header = http.Header{}
	for {
		if c.s.shutting.Load() {
			return
		}
		req, ok := c.readRequest()
		if !ok {
			return
		}
		if req == nil {
			c.state.Store(stateHandedOff)
			c.s.handOff(c)
			return
		}
		if !c.serveRequest(req) {
			return
		}
	}
}

// stateHandedOff marks a connection that now belongs to net/http.
const stateHandedOff int32 = 3

// fill reads more bytes into the buffer, compacting it first. It returns
// false on a read error, or when the server closed the connection.
func (c *conn) fill() bool {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	if c.w == len(c.buf) {
		return true // full: the caller hands the connection off
	}
	n, err := c.nc.Read(c.buf[c.w:])
	c.w += n
	if err != nil && n == 0 {
		return false
	}
	return true
}

// readRequest reads and parses the next request head, and its body. It
// returns (nil, true) when the request is for net/http, and (nil, false)
// when the connection is done.
func (c *conn) readRequest() (*http.Request, bool) {
	if c.r == c.w {
		c.r, c.w = 0, 0
		if !c.state.CompareAndSwap(stateActive, stateIdle) {
			return nil, false
		}
		ok := c.fill()
		if !c.state.CompareAndSwap(stateIdle, stateActive) || !ok {
			return nil, false
		}
	}
	deadline := false
	end := headEnd(c.buf[c.r:c.w])
	for end < 0 {
		if c.w-c.r == len(c.buf) {
			c.clearDeadline(deadline)
			return nil, true // the head does not fit: net/http's problem
		}
		if !deadline && c.s.opts.ReadHeaderTimeout > 0 {
			c.nc.SetReadDeadline(time.Now().Add(c.s.opts.ReadHeaderTimeout))
			deadline = true
		}
		if !c.fill() {
			return nil, false
		}
		end = headEnd(c.buf[c.r:c.w])
	}
	c.clearDeadline(deadline)
	h, ok := parseHead(c.buf[c.r : c.r+end])
	if !ok || h.contentLength > maxBody {
		return nil, true
	}
	req := h.request(c.remote)
	if req == nil {
		return nil, true
	}
	c.r += end
	switch n := int(h.contentLength); {
	case n == 0:
		req.Body = http.NoBody
	case c.w-c.r >= n:
		c.br.Reset(c.buf[c.r : c.r+n])
		c.r += n
		req.Body = &c.br
	default:
		if cap(c.body) < n {
			c.body = make([]byte, n)
		}
		b := c.body[:n]
		got := copy(b, c.buf[c.r:c.w])
		c.r, c.w = 0, 0
		c.nc.SetReadDeadline(time.Now().Add(bodyTimeout))
		_, err := io.ReadFull(c.nc, b[got:])
		c.nc.SetReadDeadline(time.Time{})
		if err != nil {
			return nil, false
		}
		c.br.Reset(b)
		req.Body = &c.br
		if cap(c.body) > keepBuf {
			c.body = nil // req.Body still holds it
		}
	}
	return req, true
}

func (c *conn) clearDeadline(set bool) {
	if set {
		c.nc.SetReadDeadline(time.Time{})
	}
}

// headEnd returns the length of the request head at the start of b (up to
// and including the empty line that ends it), or -1 if b holds no whole
// head. A bare LF ends a line too.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
}

// serveRequest runs the handler and sends the answer. It reports whether
// the connection stays open for another request.
func (c *conn) serveRequest(req *http.Request) (keep bool) {
	c.s.nLean.Add(1)
	if c.s.opts.Long != nil && c.s.opts.Long(req) {
		return c.serveLong(req)
	}
	w := &c.resp
	w.reset(req)
	c.s.handler.ServeHTTP(w, req)
	return w.finish()
}

// serveLong serves a request that may wait long: a goroutine reads the
// connection meanwhile, and the request's context ends if the client
// closes it. Bytes that arrive (a pipelined request) stay for the next
// round, as with net/http's background read.
func (c *conn) serveLong(req *http.Request) bool {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req = req.WithContext(ctx)
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	var (
		got  int
		rerr error
		done chan struct{}
	)
	if c.w < len(c.buf) {
		done = make(chan struct{})
		go func() {
			defer close(done)
			got, rerr = c.nc.Read(c.buf[c.w:])
			if rerr != nil {
				cancel()
			}
		}()
	}
	w := &c.resp
	w.reset(req)
	c.s.handler.ServeHTTP(w, req)
	keep := w.finish()
	if done != nil {
		c.nc.SetReadDeadline(aLongTimeAgo)
		<-done
		c.nc.SetReadDeadline(time.Time{})
		c.w += got
		if rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
			return false
		}
	}
	return keep
}

// aLongTimeAgo is a deadline that has passed: it ends a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// bodyReader is a request body held in memory.
type bodyReader struct{ bytes.Reader }

func (*bodyReader) Close() error { return nil }

// prefixConn is a connection handed to net/http: Read returns the bytes
// the fast path had read first.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// chanListener is the listener net/http serves: Accept returns the
// connections handed off.
type chanListener struct {
	ch     chan net.Conn
	mu     sync.Mutex
	closed chan struct{}
	once   sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

// put hands c to Accept; false if the listener is closed.
func (l *chanListener) put(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return chanAddr{} }

type chanAddr struct{}

func (chanAddr) Network() string { return "h1" }
func (chanAddr) String() string  { return "h1-fallback" }

// temporaryErrnos are the accept errors worth retrying: out of file
// descriptors or memory, or a connection aborted before it was accepted.
var temporaryErrnos = []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED}
