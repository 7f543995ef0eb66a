package server

// The procs governor sets GOMAXPROCS from the member's load
// (Member.AdaptiveProcs, which the daemon turns on unless the GOMAXPROCS
// environment variable is set).
//
// With several Ps, each hand-off between goroutines that finds a P idle
// (a client's request to the Ready loop, the loop to the disk writer and
// the streams, an acknowledgement back, the answer to the client) wakes
// another OS thread, which spins looking for work before it sleeps again.
// A write crosses a dozen such hand-offs on each member. On a small box,
// and more so in a virtual machine where waking a sleeping vCPU is an
// interrupt through the hypervisor, that costs more than the work: with
// one client, one P per member took the members' CPU per write from
// 730-800 to 530-580 us and the write p50 from 0.53-0.59 to 0.44-0.47 ms
// (docs/performance.md, seventh pass). Up to 16 concurrent writers one P
// served as many writes per second or more. At 32 the leader needs more
// than one core's worth of P time: with one P its p99 rose from about 5
// to 6-7 ms.
//
// So the governor runs the member on one P while few requests wait on it,
// and on all of them (the GOMAXPROCS the process started with) while many
// do. The load is the number of client writes and quorum reads waiting on
// this member, sampled on every Raft tick and averaged over procsWindow
// ticks; it switches up at procsUp and back down at procsDown, so a load
// between the two keeps the current setting. Local reads and watches do
// not wait and do not count. While a snapshot is written the member runs
// on all Ps whatever its load: the snapshot is tens of milliseconds of CPU
// on a thread of lower priority (lowerThreadPriority), which must not hold
// the only P.
//
// The thresholds come from a 2-vCPU box running three members and the load
// generator; on bigger boxes more Ps may pay off earlier. The most Ps is the
// GOMAXPROCS at Start (Go derives it from the CPUs and the cgroup's CPU
// limit); once the governor has set GOMAXPROCS the runtime no longer
// follows later changes of that limit.

// Thresholds of the governor, in requests waiting on the member (averaged
// over procsWindow ticks).
const (
	procsUp     = 24
	procsDown   = 12
	procsWindow = 10
)

// procsGovernor is the governor's state; only the Ready loop uses it. Its
// methods do nothing on a nil *procsGovernor (the governor is off).
type procsGovernor struct {
	max  int           // the GOMAXPROCS the process started with (> 1)
	high bool          // the load asks for max Ps
	snap bool          // a snapshot is being written
	set  func(int) int // runtime.GOMAXPROCS (tests record the calls)
	// Samples of the current window. Invariant: n < procsWindow between
	// calls of sample.
	sum int64
	n   int
	// cur is the GOMAXPROCS the governor last set. Invariant: cur is max
	// if high or snap, 1 otherwise.
	cur int
}

// newProcsGovernor starts a governor for up to most Ps (the current
// GOMAXPROCS): it sets one P at once. It returns nil if most is 1 or less,
// since there is nothing to choose.
func newProcsGovernor(most int, set func(int) int) *procsGovernor {
	if most <= 1 {
		return nil
	}
	g := &procsGovernor{max: most, set: set, cur: most}
	g.apply()
	return g
}

// sample records the number of requests waiting on the member, once per
// tick, and reconsiders the setting at the end of each window.
func (g *procsGovernor) sample(waiting int64) {
	if g == nil {
		return
	}
	g.sum += max(waiting, 0)
	if g.n++; g.n < procsWindow {
		return
	}
	avg := g.sum / int64(g.n)
	g.sum, g.n = 0, 0
	switch {
	case !g.high && avg >= procsUp:
		g.high = true
	case g.high && avg <= procsDown:
		g.high = false
	}
	g.apply()
}

// snapshotting records that a snapshot started (true) or ended (false).
func (g *procsGovernor) snapshotting(on bool) {
	if g == nil {
		return
	}
	g.snap = on
	g.apply()
}

// restore sets GOMAXPROCS back to what the process started with.
func (g *procsGovernor) restore() {
	if g == nil {
		return
	}
	g.set(g.max)
}

// apply sets GOMAXPROCS if the wanted number of Ps changed.
func (g *procsGovernor) apply() {
	want := 1
	if g.high || g.snap {
		want = g.max
	}
	if want != g.cur {
		g.set(want)
		g.cur = want
	}
}
