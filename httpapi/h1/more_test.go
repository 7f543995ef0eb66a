package h1

import (
	"bufio"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func startServer(t *testing.T, h http.Handler, opts Options) (*Server, string) {
	t.Helper()
	if opts.ErrorLog == nil {
		opts.ErrorLog = log.New(io.Discard, "", 0)
	}
	s := New(h, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String()
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func get(t *testing.T, c net.Conn, br *bufio.Reader, path string) string {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A long request's context ends when its client goes away.
func TestLongCancelledWhenClientCloses(t *testing.T) {
	ended := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
			ended <- r.Context().Err()
		case <-time.After(5 * time.Second):
			ended <- nil
		}
	})
	s, addr := startServer(t, h, Options{Long: func(*http.Request) bool { return true }})
	c, br := dial(t, addr)
	io.WriteString(c, "GET /w HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case err := <-ended:
		if err != context.Canceled {
			t.Fatalf("handler ended with %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the handler's context did not end when the client closed")
	}
	if s.nLean.Load() != 1 {
		t.Fatalf("lean requests %d, want 1", s.nLean.Load())
	}
}

// A request that is not long gets a context that does not end.
func TestShortContextNotCancelled(t *testing.T) {
	var done atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done.Store(r.Context().Done() != nil)
		io.WriteString(w, "ok")
	})
	_, addr := startServer(t, h, Options{})
	c, br := dial(t, addr)
	if got := get(t, c, br, "/"); got != "ok" {
		t.Fatalf("body %q", got)
	}
	if done.Load() {
		t.Fatal("the context of a short request can end")
	}
}

// A panicking handler closes its connection; the server goes on.
func TestPanicClosesConnection(t *testing.T) {
	var logged strings.Builder
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		io.WriteString(w, "fine")
	})
	_, addr := startServer(t, h, Options{ErrorLog: log.New(&lockedWriter{w: &logged}, "", 0)})
	c, br := dial(t, addr)
	io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Fatal("an answer after a panic")
	}
	c2, br2 := dial(t, addr)
	if got := get(t, c2, br2, "/"); got != "fine" {
		t.Fatalf("body %q", got)
	}
	if !strings.Contains(logged.String(), "boom") {
		t.Fatalf("panic not logged: %q", logged.String())
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A head that stops arriving is cut off after ReadHeaderTimeout.
func TestHeaderTimeout(t *testing.T) {
	_, addr := startServer(t, http.NotFoundHandler(), Options{ReadHeaderTimeout: 200 * time.Millisecond})
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHo")
	start := time.Now()
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the server answered a partial head")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cut off after %v", d)
	}
}

// An idle connection with no deadline stays open, and serves again.
func TestIdleConnectionServesAgain(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	_, addr := startServer(t, h, Options{ReadHeaderTimeout: 100 * time.Millisecond})
	c, br := dial(t, addr)
	get(t, c, br, "/1")
	time.Sleep(300 * time.Millisecond)
	if got := get(t, c, br, "/2"); got != "/2" {
		t.Fatalf("body %q", got)
	}
}

// Shutdown closes idle connections at once and lets a request in flight
// finish.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	})
	s, addr := startServer(t, h, Options{})
	idle, ibr := dial(t, addr)
	get(t, idle, ibr, "/")
	busy, bbr := dial(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if _, err := ibr.ReadByte(); err == nil {
		t.Fatal("the idle connection got data")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, err := http.ReadResponse(bbr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "done" {
		t.Fatalf("body %q", b)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("the listener still accepts")
	}
}

// Shutdown gives up when its context ends.
func TestShutdownDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	s, addr := startServer(t, h, Options{})
	c, _ := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown: %v", err)
	}
}
