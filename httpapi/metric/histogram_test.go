package metric

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	bounds := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}
	tests := []struct {
		name string
		obs  []time.Duration
		want []uint64
	}{
		{"empty", nil, []uint64{0, 0, 0, 0}},
		{"bound is inclusive", []time.Duration{time.Millisecond}, []uint64{1, 0, 0, 0}},
		{"just above", []time.Duration{time.Millisecond + 1}, []uint64{0, 1, 0, 0}},
		{"overflow", []time.Duration{time.Second}, []uint64{0, 0, 0, 1}},
		{"negative is zero", []time.Duration{-time.Second}, []uint64{1, 0, 0, 0}},
		{"mixed", []time.Duration{0, 3 * time.Millisecond, 4 * time.Millisecond, 5 * time.Millisecond}, []uint64{1, 0, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistogram(bounds)
			var sum time.Duration
			for _, d := range tt.obs {
				h.Observe(d)
				sum += max(d, 0)
			}
			s := h.Snapshot()
			for i := range tt.want {
				if s.Counts[i] != tt.want[i] {
					t.Fatalf("counts = %v, want %v", s.Counts, tt.want)
				}
			}
			if got, want := s.Count, uint64(len(tt.obs)); got != want {
				t.Errorf("count = %d, want %d", got, want)
			}
			if s.Sum != sum {
				t.Errorf("sum = %v, want %v", s.Sum, sum)
			}
		})
	}
}

func TestNewHistogramPanicsOnBadBounds(t *testing.T) {
	for _, b := range [][]time.Duration{{0}, {2, 1}, {1, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHistogram(%v) did not panic", b)
				}
			}()
			NewHistogram(b)
		}()
	}
}

func TestExpBucketsMatchEtcd(t *testing.T) {
	b := ExpBuckets(time.Millisecond, 2, 14)
	if len(b) != 14 || b[0] != time.Millisecond || b[13] != 8192*time.Millisecond {
		t.Fatalf("ExpBuckets = %v", b)
	}
}

func TestObserveConcurrent(t *testing.T) {
	h := NewHistogram(ExpBuckets(time.Millisecond, 2, 4))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				h.Observe(time.Duration(g*i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	s := h.Snapshot()
	var total uint64
	for _, c := range s.Counts {
		total += c
	}
	if total != 4000 || s.Count != 4000 {
		t.Fatalf("buckets sum to %d, count %d, want 4000", total, s.Count)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	h := NewHistogram(ExpBuckets(time.Millisecond, 2, 14))
	if n := testing.AllocsPerRun(100, func() { h.Observe(3 * time.Millisecond) }); n != 0 {
		t.Fatalf("Observe allocates %v times", n)
	}
}

func TestWriteHistogram(t *testing.T) {
	h := NewHistogram([]time.Duration{time.Millisecond, 500 * time.Millisecond})
	h.Observe(time.Millisecond)
	h.Observe(250 * time.Millisecond)
	h.Observe(2 * time.Second)
	var b strings.Builder
	if err := WriteHistogram(&b, "x_seconds", "X.", h.Snapshot()); err != nil {
		t.Fatal(err)
	}
	want := `# HELP x_seconds X.
# TYPE x_seconds histogram
x_seconds_bucket{le="0.001"} 1
x_seconds_bucket{le="0.5"} 2
x_seconds_bucket{le="+Inf"} 3
x_seconds_sum 2.251
x_seconds_count 3
`
	if got := b.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func ExampleWriteHistogram() {
	fsync := NewHistogram(ExpBuckets(time.Millisecond, 2, 3))
	fsync.Observe(1500 * time.Microsecond)
	fsync.Observe(3 * time.Millisecond)
	WriteHistogram(os.Stdout, "etcd_disk_wal_fsync_duration_seconds",
		"The latency distributions of fsync called by WAL.", fsync.Snapshot())
	// Output:
	// # HELP etcd_disk_wal_fsync_duration_seconds The latency distributions of fsync called by WAL.
	// # TYPE etcd_disk_wal_fsync_duration_seconds histogram
	// etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 0
	// etcd_disk_wal_fsync_duration_seconds_bucket{le="0.002"} 1
	// etcd_disk_wal_fsync_duration_seconds_bucket{le="0.004"} 2
	// etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 2
	// etcd_disk_wal_fsync_duration_seconds_sum 0.0045
	// etcd_disk_wal_fsync_duration_seconds_count 2
}

func TestWriteHistogramSamplesLabels(t *testing.T) {
	h := NewHistogram([]time.Duration{time.Millisecond})
	h.Observe(2 * time.Millisecond)
	var b strings.Builder
	if err := WriteHistogramSamples(&b, "rtt_seconds", `To="2"`, h.Snapshot()); err != nil {
		t.Fatal(err)
	}
	want := `rtt_seconds_bucket{To="2",le="0.001"} 0
rtt_seconds_bucket{To="2",le="+Inf"} 1
rtt_seconds_sum{To="2"} 0.002
rtt_seconds_count{To="2"} 1
`
	if got := b.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
