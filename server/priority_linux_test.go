package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

// niceOf is the niceness of thread tid (0: the calling thread, which is how
// Linux reads PRIO_PROCESS); getpriority(2) returns 20 - nice.
func niceOf(tid int) (int, error) {
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	return 20 - raw, err
}

// TestLowerThreadPriority: only the calling goroutine's thread gets nicer,
// and the thread goes away with the goroutine.
func TestLowerThreadPriority(t *testing.T) {
	type result struct{ before, after, tid int }
	ch := make(chan result)
	go func() {
		before, _ := niceOf(unix.Gettid())
		lowerThreadPriority()
		after, _ := niceOf(unix.Gettid())
		ch <- result{before, after, unix.Gettid()}
	}()
	r := <-ch
	if want := min(r.before+backgroundNice, 19); r.after != want {
		t.Fatalf("thread nice %d -> %d, want %d", r.before, r.after, want)
	}
	// Other threads keep the process's niceness; this goroutine's thread
	// is not the lowered one (that one ends with its goroutine).
	if tid := unix.Gettid(); tid != r.tid {
		n, err := niceOf(tid)
		if err != nil {
			t.Fatal(err)
		}
		if n != r.before {
			t.Errorf("test goroutine's thread nice %d, want %d", n, r.before)
		}
	}
	proc, err := niceOf(0)
	if err != nil {
		t.Fatal(err)
	}
	if proc != r.before {
		t.Errorf("calling thread nice %d, want %d", proc, r.before)
	}
}
