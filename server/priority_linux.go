package server

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// backgroundNice is how much nicer than the rest of the process the
// snapshot goroutine's thread runs once the store has captured its state.
const backgroundNice = 10

// lowerThreadPriority makes the calling goroutine's OS thread backgroundNice
// nicer (at most 19), for work nobody waits on. On a small box the three
// members of a cluster, or a member and its neighbours, share a few cores;
// a snapshot (tens of milliseconds of CPU, on every member at the same
// index) then delays the requests in flight, and is most of the 32-client
// write p99 (see docs/performance.md). The goroutine stays locked to the
// thread and must not unlock it: when the goroutine ends, the runtime ends
// the thread with it, so no other goroutine ever runs at the lower priority.
// A failure leaves the priority as it was; it is only an optimisation.
func lowerThreadPriority() {
	if runtime.GOMAXPROCS(0) == 1 {
		// The thread would hold the only P at a lower priority than
		// the threads waiting for it.
		return
	}
	runtime.LockOSThread()
	tid := unix.Gettid()
	// Linux returns 20 - nice from getpriority(2).
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return
	}
	nice := 20 - raw
	_ = unix.Setpriority(unix.PRIO_PROCESS, tid, min(nice+backgroundNice, 19))
}
