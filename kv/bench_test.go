package kv

import (
	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchKey returns the i-th 64-byte benchmark key: 1000 directories of
// 1000 keys each.
func benchKey(i int) string {
	k := fmt.Sprintf("/bench/%04d/%052d", i%1000, i)
	if len(k) != 64 {
		panic(len(k))
	}
	return k
}

// benchValue returns a distinct n-byte value (its own allocation, as a
// decoded request's value would be).
func benchValue(i, n int) string {
	b := make([]byte, n)
	copy(b, fmt.Sprintf("value-%d-", i))
	for j := len(fmt.Sprintf("value-%d-", i)); j < n; j++ {
		b[j] = 'v'
	}
	return string(b)
}

// BenchmarkApply measures sets/s of 256-byte values over 10,000 keys,
// with no watchers, with 1000 idle watchers on other keys, and with 1000
// idle non-recursive watchers on the keys' ancestor directories ("/",
// "/bench", "/bench/NNNN": visited on every apply, never matching). The
// last case sets 100,000 keys in random order, where finding a key misses
// the CPU caches as it does in a busy member.
func BenchmarkApply(b *testing.B) {
	for _, bc := range []struct {
		name   string
		watch  func(i int) string
		keys   int
		random bool
	}{
		{name: "watchers=0"},
		{name: "watchers=1000-other-keys", watch: func(i int) string { return fmt.Sprintf("/other/%d/x", i) }},
		{name: "watchers=1000-ancestors", watch: func(i int) string {
			return []string{"/", "/bench", fmt.Sprintf("/bench/%04d", i%1000)}[i%3]
		}},
		{name: "watchers=0-100k-keys-random", keys: 100_000, random: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := newTestStore(b, Config{})
			val := strings.Repeat("v", 256)
			for i := range 1000 {
				if bc.watch == nil {
					break
				}
				w, err := s.Watch(bc.watch(i), false, false, 0)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Remove()
			}
			reqs := make([]Request, cmp.Or(bc.keys, 10_000))
			for i := range reqs {
				reqs[i] = Request{Op: OpPut, Path: benchKey(i), Value: val, Time: t0}
			}
			if bc.random {
				for _, r := range reqs { // every key exists: the timed sets replace
					if _, err := s.Apply(r); err != nil {
						b.Fatal(err)
					}
				}
				rand.New(rand.NewPCG(5, 6)).Shuffle(len(reqs), func(i, j int) { reqs[i], reqs[j] = reqs[j], reqs[i] })
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := s.Apply(reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "sets/s")
		})
	}
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// fill applies n sets of 64-byte keys with 128-byte values.
func fill(b *testing.B, s *Store, n int) {
	b.Helper()
	for i := range n {
		if _, err := s.Apply(Request{Op: OpPut, Path: benchKey(i), Value: benchValue(i, 128), Time: t0}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemory1M measures heap bytes per key beyond the key and value
// bytes (64 + 128) with 1M keys, history kept to one event so only the
// tree is measured, and the heap cost per retained history event. Run it
// with -benchtime=1x.
func BenchmarkMemory1M(b *testing.B) {
	const n = 1_000_000
	for i := 0; i < b.N; i++ {
		before := heapAlloc()
		s := newTestStore(b, Config{HistoryEvents: 1})
		fill(b, s, n)
		after := heapAlloc()
		per := float64(after-before) / n
		b.ReportMetric(per, "heap-B/key")
		b.ReportMetric(per-64-128, "overhead-B/key")
		runtime.KeepAlive(s)

		// History: the same sets with 100,000 events retained.
		const events = 100_000
		s = nil
		before = heapAlloc()
		s = newTestStore(b, Config{HistoryEvents: events, HistoryBytes: 1 << 40})
		fill(b, s, events)
		withHist := heapAlloc()
		s2 := newTestStore(b, Config{HistoryEvents: 1})
		fill(b, s2, events)
		noHist := heapAlloc() - withHist
		b.Logf("before %d withHist %d tree-only %d", before, withHist, noHist)
		b.ReportMetric((float64(withHist-before)-float64(noHist))/events, "history-B/event")
		b.ReportMetric(float64(s.hist.bytes)/events, "accounted-B/event")
		runtime.KeepAlive(s)
		runtime.KeepAlive(s2)
	}
}

// countWriter counts bytes written.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkSave1M measures Save of a 1M-key store and the applies that go
// on concurrently: their throughput and worst latency while Save runs.
// Run it with -benchtime=1x.
func BenchmarkSave1M(b *testing.B) { benchSave(b, 1_000_000) }

func BenchmarkSave100k(b *testing.B) { benchSave(b, 100_000) }

func benchSave(b *testing.B, n int) {
	s := newTestStore(b, Config{})
	fill(b, s, n)
	val := strings.Repeat("w", 256)
	for i := 0; i < b.N; i++ {
		w := &countWriter{}
		start := time.Now()
		if err := s.Save(w); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "save-quiet-ms")
		b.ReportMetric(float64(w.n)/(1<<20), "snapshot-MiB")

		// How long Save holds the read lock per chunk: one full pass of
		// collectAfter, as Save does it.
		var longest, total time.Duration
		chunks := 0
		lo := ""
		chunk := &liveChunk{}
		for {
			chunk.reset()
			t := time.Now()
			s.mu.RLock()
			done := s.collectAfter(lo, saveChunk, chunk)
			s.mu.RUnlock()
			held := time.Since(t)
			longest = max(longest, held)
			total += held
			chunks++
			if done {
				break
			}
			chunk.paths()
			lo = chunk.states[len(chunk.states)-1].path
		}
		b.ReportMetric(float64(longest.Microseconds()), "max-lock-hold-us")
		b.ReportMetric(float64(total.Microseconds())/float64(chunks), "avg-lock-hold-us")

		// Applies offered at a fixed rate (20,000/s, several times etcd
		// v2's best write rate) while Save runs.
		saveMS, rate, p99, worst := saveWithApplies(b, s, n, val, 20_000, 1<<30)
		b.ReportMetric(saveMS, "save-20k/s-ms")
		b.ReportMetric(rate, "sets/s-during-save")
		b.ReportMetric(p99, "p99-apply-us")
		b.ReportMetric(worst, "worst-apply-us")

		// As many applies as one goroutine can do, capped at 100,000.
		saveMS, rate, _, worst = saveWithApplies(b, s, n, val, 0, 100_000)
		b.ReportMetric(saveMS, "save-flat-out-ms")
		b.ReportMetric(rate, "flat-out-sets/s")
		b.ReportMetric(worst, "flat-out-worst-apply-us")
	}
}

// saveWithApplies runs Save while another goroutine applies sets at
// perSecond (0: unthrottled), at most limit of them. It returns the Save
// time, the achieved apply rate during it, and the p99 and worst apply
// latency in microseconds.
func saveWithApplies(b *testing.B, s *Store, n int, val string, perSecond, limit int) (saveMS, rate, p99, worst float64) {
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var lat []time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		begin := time.Now()
		for j := 0; j < limit; j++ {
			select {
			case <-stop:
				return
			default:
			}
			if perSecond > 0 && j%100 == 0 {
				if ahead := time.Duration(j)*time.Second/time.Duration(perSecond) - time.Since(begin); ahead > 0 {
					time.Sleep(ahead)
				}
			}
			t := time.Now()
			s.Apply(Request{Op: OpPut, Path: benchKey(j * 13 % n), Value: val, Time: t0}) //nolint: bench
			lat = append(lat, time.Since(t))
		}
	}()
	start := time.Now()
	if err := s.Save(io.Discard); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	if len(lat) > 0 {
		p99 = float64(lat[len(lat)*99/100].Microseconds())
		worst = float64(lat[len(lat)-1].Microseconds())
	}
	return float64(took.Milliseconds()), float64(len(lat)) / took.Seconds(), p99, worst
}

// BenchmarkWatcherMemory reports the heap cost of an idle long-poll
// (non-stream) watcher and of an idle stream watcher (default buffer),
// each on its own key. Run it with -benchtime=1x.
func BenchmarkWatcherMemory(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		for _, stream := range []bool{false, true} {
			s := newTestStore(b, Config{})
			before := heapAlloc()
			ws := make([]*Watcher, n)
			for j := range ws {
				w, err := s.Watch(fmt.Sprintf("/w/%06d", j), false, stream, 0)
				if err != nil {
					b.Fatal(err)
				}
				ws[j] = w
			}
			per := float64(heapAlloc()-before)/n - 8 // minus the ws slot
			if stream {
				b.ReportMetric(per, "B/stream-watcher")
			} else {
				b.ReportMetric(per, "B/longpoll-watcher")
			}
			runtime.KeepAlive(ws)
		}
	}
}
