package rafttest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"cairn/raft"
)

// The Raft paper's election-timing experiment (§9.3, Figure 16), simulated:
// 5 members, 1 tick = 1 ms, ElectionTick 150 so randomized timeouts are
// uniform in [150, 300) ms, heartbeats every 75 ms (half the minimum
// timeout, as in the paper), one-way message latency uniform in [3, 8) ms
// (a request/response round trip of 6-14 ms, close to the paper's 15 ms
// broadcast time). Before each crash the leader's heartbeats are
// synchronized (the crash comes at a uniform point of the interval after a
// heartbeat broadcast); the leader has a few entries the others may not yet
// hold when it crashes, so logs differ in length. Downtime is measured from
// the crash to the first member that becomes leader; a split vote is a term
// in which no leader was elected.
const (
	timingElectionTick  = 150
	timingHeartbeatTick = 75
	paperWorstCaseMs    = 513 // §9.3: worst of 1000 trials with 50 ms of randomness
)

type timingResult struct {
	downtime   []int // ms per trial, sorted
	splitVotes int   // terms without a leader, over all trials
	splitTrial int   // trials with at least one split vote
	maxClean   int   // worst downtime of the trials without a split vote
}

func (r timingResult) pct(p float64) int {
	i := int(p * float64(len(r.downtime)-1))
	return r.downtime[i]
}

func (r timingResult) mean() float64 {
	var s int
	for _, d := range r.downtime {
		s += d
	}
	return float64(s) / float64(len(r.downtime))
}

func (r timingResult) String() string {
	return fmt.Sprintf("min %3d  p50 %3d  p90 %3d  p99 %3d  max %3d  mean %5.1f ms; split votes %d (in %d trials); max without split %d ms",
		r.downtime[0], r.pct(0.5), r.pct(0.9), r.pct(0.99), r.downtime[len(r.downtime)-1], r.mean(), r.splitVotes, r.splitTrial, r.maxClean)
}

// runElectionTrials crashes the leader of one 5-member cluster trials times
// (restarting it after each new election) and measures the downtimes.
func runElectionTrials(seed uint64, trials int, preVote bool) (timingResult, error) {
	var res timingResult
	cfg := raft.Config{
		ElectionTick:    timingElectionTick,
		HeartbeatTick:   timingHeartbeatTick,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		PreVote:         preVote,
	}
	nw := New(seed, cfg)
	r := rand.New(rand.NewPCG(seed, 0x7469))
	nw.Latency = func(raft.Message) uint64 { return 3 + uint64(r.IntN(5)) }
	var watch uint64
	heartbeat := false
	nw.MsgHook = func(m raft.Message) bool {
		if m.Type == raft.MsgHeartbeat && m.From == watch {
			heartbeat = true
		}
		return true
	}
	if err := nw.Bootstrap(ids(5)...); err != nil {
		return res, err
	}
	waitLeader := func() (uint64, error) {
		for range 100 * timingElectionTick {
			if l := nw.Leader(); l != raft.None {
				return l, nil
			}
			nw.Tick()
		}
		return 0, fmt.Errorf("no leader within 100 election timeouts at %d ms:\n%s", nw.Now(), describe(nw))
	}
	if _, err := waitLeader(); err != nil {
		return res, err
	}
	for range trials {
		nw.Ticks(2*timingHeartbeatTick + r.IntN(timingHeartbeatTick)) // everyone caught up
		lead := nw.Leader()
		if lead == raft.None {
			return res, fmt.Errorf("leader lost while stable at %d ms", nw.Now())
		}
		watch, heartbeat = lead, false
		for range 2 * timingHeartbeatTick {
			if heartbeat {
				break
			}
			nw.Tick()
		}
		if !heartbeat {
			return res, fmt.Errorf("leader %d sent no heartbeat for %d ms", lead, 2*timingHeartbeatTick)
		}
		// Logs of different lengths: the leader appends a few entries that
		// are still in flight when it crashes.
		for i := range r.IntN(3) {
			if err := nw.Propose(lead, fmt.Appendf(nil, "t%d-%d", nw.Now(), i)); err != nil {
				return res, err
			}
		}
		nw.Ticks(r.IntN(timingHeartbeatTick))
		oldTerm := nw.Member(lead).HardState().Term
		if err := nw.Crash(lead); err != nil {
			return res, err
		}
		start := nw.Now()
		next, err := waitLeader()
		if err != nil {
			return res, err
		}
		d := int(nw.Now() - start)
		res.downtime = append(res.downtime, d)
		if split := int(nw.Member(next).HardState().Term - oldTerm - 1); split > 0 {
			res.splitVotes += split
			res.splitTrial++
		} else {
			res.maxClean = max(res.maxClean, d)
		}
		if err := nw.Restart(lead); err != nil {
			return res, err
		}
		if err := nw.Err(); err != nil {
			return res, err
		}
	}
	slices.Sort(res.downtime)
	return res, nil
}

// §5.6 / §9.3: leader-crash downtime with 150-300 ms randomized timeouts,
// PreVote off and on. Prints the distribution with -v.
//
// What is asserted: a trial without a split vote ends within one maximal
// timeout after the last heartbeat plus the vote round trips:
// 7 + 299 + 2*14 ms (PreVote adds a round) < 340 ms, well inside the
// paper's 513 ms. A split vote costs a whole new randomized timeout (every
// member that sees the higher term restarts its timer), so with timeouts up
// to 300 ms one split can reach ~620 ms: the paper's 513 ms worst case
// (measured with timeouts of at most 200 ms) is reported, not asserted, for
// trials with split votes.
func TestElectionTiming(t *testing.T) {
	trials := 1000
	if testing.Short() {
		trials = 200
	}
	const cleanBound = 340
	var b strings.Builder
	fmt.Fprintf(&b, "election downtime after a leader crash, %d trials, 5 members, timeouts [150,300) ms, latency 3-7 ms:", trials)
	for _, preVote := range []bool{false, true} {
		res, err := runElectionTrials(1, trials, preVote)
		if err != nil {
			t.Fatalf("PreVote=%v: %v", preVote, err)
		}
		worst := res.downtime[len(res.downtime)-1]
		verdict := "within"
		if worst > paperWorstCaseMs {
			verdict = "WORSE than"
		}
		over := len(res.downtime) - sort.SearchInts(res.downtime, paperWorstCaseMs+1)
		fmt.Fprintf(&b, "\n  PreVote=%-5v %v; worst is %s the paper's %d ms (%d trials above it)", preVote, res, verdict, paperWorstCaseMs, over)
		if res.maxClean > cleanBound {
			t.Errorf("PreVote=%v: a trial without split votes took %d ms > %d ms", preVote, res.maxClean, cleanBound)
		}
	}
	t.Log(b.String())
}

// BenchmarkElectionTiming reports the same distribution as metrics, one
// leader crash per iteration: go test -run '^$' -bench ElectionTiming -benchtime 1000x
func BenchmarkElectionTiming(b *testing.B) {
	for _, preVote := range []bool{false, true} {
		b.Run(fmt.Sprintf("PreVote=%v", preVote), func(b *testing.B) {
			res, err := runElectionTrials(1, b.N, preVote)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.pct(0.5)), "p50-ms")
			b.ReportMetric(float64(res.pct(0.99)), "p99-ms")
			b.ReportMetric(float64(res.downtime[len(res.downtime)-1]), "max-ms")
			b.ReportMetric(float64(res.splitVotes)/float64(b.N), "splitvotes/op")
		})
	}
}
