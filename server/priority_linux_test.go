package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

func threadNice(t *testing.T) int {
	t.Helper()
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - raw
}

// TestLowerThreadPriority: only the calling goroutine's thread gets nicer,
// and the thread goes away with the goroutine.
func TestLowerThreadPriority(t *testing.T) {
	type result struct{ before, after, tid int }
	ch := make(chan result)
	go func() {
		before := func() int {
			raw, _ := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
			return 20 - raw
		}()
		lowerThreadPriority()
		raw, _ := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
		ch <- result{before, 20 - raw, unix.Gettid()}
	}()
	r := <-ch
	if want := min(r.before+backgroundNice, 19); r.after != want {
		t.Fatalf("thread nice %d -> %d, want %d", r.before, r.after, want)
	}
	// Other threads keep the process's niceness; this goroutine's thread
	// is not the lowered one (that one ends with its goroutine).
	if tid := unix.Gettid(); tid != r.tid {
		if n := threadNice(t); n != r.before {
			t.Errorf("test goroutine's thread nice %d, want %d", n, r.before)
		}
	}
	proc, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	if 20-proc != r.before {
		t.Errorf("main thread nice %d, want %d", 20-proc, r.before)
	}
}
