package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/quick"
	"time"
)

func TestBucketRoundTrip(t *testing.T) {
	tests := []int64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 1e6, 123456789, 1 << 40, 1 << 47}
	for _, v := range tests {
		i := bucketOf(v)
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Errorf("bucketOf(%d) = %d with range [%d, %d]", v, i, lo, hi)
		}
		if v >= 256 && float64(hi-lo+1)/float64(lo) > 1.0/subCount+1e-12 {
			t.Errorf("bucket of %d is [%d, %d]: wider than 1/%d", v, lo, hi, subCount)
		}
	}
	// Consecutive buckets tile the value range without gaps or overlap.
	prevHi := int64(-1)
	for i := 0; i < numBuckets; i++ {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d, %d], previous ended at %d", i, lo, hi, prevHi)
		}
		prevHi = hi
	}
	if got := bucketOf(1 << 62); got != numBuckets-1 {
		t.Errorf("huge value: bucket %d, want clamp to %d", got, numBuckets-1)
	}
}

// TestQuantileOracle checks Quantile against sorting (nearest rank) within
// the histogram's relative error.
func TestQuantileOracle(t *testing.T) {
	f := func(seed uint64, n uint16) bool {
		rng := rand.New(rand.NewPCG(seed, 1))
		var h Histogram
		vals := make([]int64, int(n)+1)
		for i := range vals {
			vals[i] = int64(rng.ExpFloat64() * 1e6)
			h.Record(time.Duration(vals[i]))
		}
		slices.Sort(vals)
		for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
			rank := int(float64(len(vals))*q + 0.999999999)
			want := vals[max(rank, 1)-1]
			got := int64(h.Quantile(q))
			if got < want || float64(got-want) > float64(want)/subCount+1 {
				t.Logf("q=%v n=%d: got %d want %d", q, len(vals), got, want)
				return false
			}
		}
		return h.Quantile(0) == time.Duration(vals[0]) && h.Quantile(1) == time.Duration(vals[len(vals)-1])
	}
	n := 200
	if testing.Short() {
		n = 50
	}
	if err := quick.Check(f, &quick.Config{MaxCount: n}); err != nil {
		t.Fatal(err)
	}
}

func TestHistogramStats(t *testing.T) {
	tests := []struct {
		name           string
		vals           []time.Duration
		min, max, mean time.Duration
		p50            time.Duration
	}{
		{"empty", nil, 0, 0, 0, 0},
		{"one", []time.Duration{5 * time.Millisecond}, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond},
		{"small exact", []time.Duration{1, 2, 3, 4, 100}, 1, 100, 22, 3},
		{"negative is zero", []time.Duration{-5, 10}, 0, 10, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tt.vals {
				h.Record(v)
			}
			if got := h.Count(); got != uint64(len(tt.vals)) {
				t.Errorf("Count = %d, want %d", got, len(tt.vals))
			}
			if h.Min() != tt.min || h.Max() != tt.max || h.Mean() != tt.mean || h.Quantile(0.5) != tt.p50 {
				t.Errorf("min/max/mean/p50 = %v/%v/%v/%v, want %v/%v/%v/%v",
					h.Min(), h.Max(), h.Mean(), h.Quantile(0.5), tt.min, tt.max, tt.mean, tt.p50)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var empty Histogram
	a.Merge(&empty)
	a.Merge(&b)
	if a != all {
		t.Errorf("merged histogram differs: count %d min %v max %v, want %d %v %v",
			a.Count(), a.Min(), a.Max(), all.Count(), all.Min(), all.Max())
	}
}

func ExampleHistogram() {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	fmt.Println(h.Count(), h.Min(), h.Max(), h.Mean())
	fmt.Println(h.Quantile(0.5).Round(time.Millisecond), h.Quantile(0.99).Round(time.Millisecond))
	// Output:
	// 100 1ms 100ms 50.5ms
	// 50ms 99ms
}
