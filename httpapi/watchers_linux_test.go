//go:build linux

package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cairn/httpapi/h1"
)

// Idle watcher budget: bytes of Go heap plus goroutine stacks per open
// long-poll watch (one HTTP/1.1 connection each), measured on the serving
// side. Measured on linux/amd64, Go 1.26: about 27 KiB, 17 KiB heap and
// 10 KiB stacks, so 10,000 idle watches hold about 270 MB. Nearly all of
// it is net/http's per connection (the serving goroutine's 8 KiB stack and
// its background reader's 2 KiB, 4 KiB read, 4 KiB write and 2 KiB
// chunking buffers, conn/request/response); a watch adds no goroutine or
// timer of its own, and its kv watcher is a few hundred bytes.
const idleWatcherBudget = 32 << 10

// memInUse is the heap and stack memory in use after a full GC.
func memInUse() uint64 {
	heap, stack := memSplit()
	return heap + stack
}

func memSplit() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

// TestIdleWatchersMemory opens 10,000 (1,000 with -short) concurrent idle
// long-poll watches, each on its own connection from a child process (so
// the client side costs this process no memory or file descriptors),
// checks the serving side's memory per watch against idleWatcherBudget,
// then closes the connections and checks that the watchers, goroutines and
// memory are released.
func TestIdleWatchersMemory(t *testing.T) {
	t.Run("net/http", func(t *testing.T) {
		testIdleWatchersMemory(t, func(h http.Handler) (string, func()) {
			srv := httptest.NewServer(h)
			return srv.Listener.Addr().String(), srv.Close
		})
	})
	// The member's client listener.
	t.Run("h1", func(t *testing.T) {
		testIdleWatchersMemory(t, func(h http.Handler) (string, func()) {
			srv := h1.New(h, h1.Options{Long: MayWait})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			return ln.Addr().String(), func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil {
					t.Errorf("shutdown: %v", err)
				}
			}
		})
	})
}

// testIdleWatchersMemory runs TestIdleWatchersMemory on the server that
// serve starts; its close function returns once every request has ended.
func testIdleWatchersMemory(t *testing.T, serve func(http.Handler) (addr string, close func())) {
	if raceEnabled {
		t.Skip("memory budget test: the race detector inflates stacks and heap")
	}
	n := 10000
	if testing.Short() {
		n = 1000
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < uint64(n)+200 {
		t.Skipf("needs %d file descriptors, have %d", n+200, rl.Cur)
	}
	f := newFake()
	h := New(f, Options{})
	addr, closeSrv := serve(h)
	closed := false
	t.Cleanup(func() {
		if !closed {
			h.Close()
			closeSrv()
		}
	})
	baseGoroutines := runtime.NumGoroutine()
	baseHeap, baseStack := memSplit()
	base := baseHeap + baseStack

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestWatchClientHelper$")
	cmd.Env = append(os.Environ(), "CAIRN_WATCH_CLIENT="+addr+","+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("watch client: %q %v", line, err)
	}
	opened := time.Since(start)
	if got := f.store.Stats().Watchers; got != uint64(n) {
		t.Errorf("store watchers = %d, want %d", got, n)
	}
	if got := h.metrics.watchesOpen.Load(); got != int64(n) {
		t.Errorf("open watches = %d, want %d", got, n)
	}
	heldHeap, heldStack := memSplit()
	held := heldHeap + heldStack
	per := (int64(held) - int64(base)) / int64(n)
	t.Logf("%d idle watches opened in %v: %d bytes in use per watch (%d heap + %d stacks, serving side), %d goroutines; budget %d",
		n, opened.Round(time.Millisecond), per, (int64(heldHeap)-int64(baseHeap))/int64(n), (int64(heldStack)-int64(baseStack))/int64(n),
		runtime.NumGoroutine()-baseGoroutines, idleWatcherBudget)
	if per > idleWatcherBudget {
		t.Errorf("%d bytes per idle watch, budget %d", per, idleWatcherBudget)
	}

	// Closing the client connections ends every watch: Close waits for
	// all outstanding requests, so it returns only once they have.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch client: %v", err)
	}
	closeSrv()
	closed = true
	if got := f.store.Stats().Watchers; got != 0 {
		t.Errorf("store watchers after close = %d, want 0", got)
	}
	if got := h.metrics.watchesOpen.Load(); got != 0 {
		t.Errorf("open watches after close = %d, want 0", got)
	}
	if len(h.connWatches) != 0 {
		t.Errorf("per-connection counts not released: %d", len(h.connWatches))
	}
	after := memInUse()
	t.Logf("after closing: %d bytes above the baseline (was %d)", int64(after)-int64(base), int64(held)-int64(base))
	if rest := int64(after) - int64(base); rest > int64(n)*idleWatcherBudget/4 {
		t.Errorf("%d bytes still in use after closing the watches", rest)
	}
}

// TestWatchClientHelper is the child process of TestIdleWatchersMemory: it
// opens N connections to ADDR, starts a long-poll watch on each, waits for
// every response header, prints "ready" and holds them until stdin closes.
func TestWatchClientHelper(t *testing.T) {
	spec := os.Getenv("CAIRN_WATCH_CLIENT")
	if spec == "" {
		t.Skip("helper process for TestIdleWatchersMemory")
	}
	addr, ns, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(ns)
	if err != nil {
		t.Fatal(err)
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 30*time.Second)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			c.SetDeadline(time.Now().Add(60 * time.Second))
			fmt.Fprintf(c, "GET /v2/keys/w/%d?wait=true HTTP/1.1\r\nHost: x\r\n\r\n", i)
			br := bufio.NewReader(c)
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					errs <- err
					return
				}
				if l == "\r\n" {
					break
				}
			}
			c.SetDeadline(time.Time{})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("watch client: %v", err)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
