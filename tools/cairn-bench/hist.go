package main

import (
	"math"
	"math/bits"
	"time"
)

// Histogram geometry. Values (nanoseconds) below 2^(subBits+1) get one exact
// bucket each; above that every power-of-two range is split into 2^subBits
// equal buckets, so a recorded value is known to within 1/2^subBits (0.8%) of
// itself. Values of 2^maxShift+subBits+1 ns (about 78 hours) and more are
// clamped into the top bucket; the exact maximum is kept separately.
const (
	subBits    = 7
	subCount   = 1 << subBits
	maxShift   = 40
	numBuckets = (maxShift + 2) * subCount
)

// Histogram is a log-linear (HDR-style) latency histogram with bounded
// relative error and fixed memory (about 43 KiB). The zero value is ready to
// use. A Histogram is not safe for concurrent use: give each goroutine its
// own and Merge them at the end.
type Histogram struct {
	counts [numBuckets]uint64
	// Invariant: n == sum(counts); if n > 0, min <= every recorded value <= max.
	n   uint64
	sum float64 // nanoseconds, float to survive long runs without overflow
	min int64
	max int64
}

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	u := uint64(v)
	shift := bits.Len64(u) - (subBits + 1)
	if shift <= 0 {
		return int(u)
	}
	if shift > maxShift {
		return numBuckets - 1
	}
	return shift*subCount + int(u>>uint(shift))
}

// bucketRange returns the smallest and largest values that map to bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < 2*subCount {
		return int64(i), int64(i)
	}
	shift := i/subCount - 1
	mant := int64(i - shift*subCount)
	lo = mant << uint(shift)
	return lo, lo + (int64(1) << uint(shift)) - 1
}

// Record adds one observation. Negative durations are recorded as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
	h.counts[bucketOf(v)]++
}

// Merge adds all observations of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Min returns the smallest observation, or 0 if there is none.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest observation, or 0 if there is none.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the arithmetic mean, or 0 if there is no observation.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the q-quantile (0 <= q <= 1) by the nearest-rank method:
// the highest value equivalent to the bucket holding the ceil(q*n)-th
// smallest observation, clamped to [Min, Max]. It returns 0 for an empty
// histogram. Quantile(0) is Min and Quantile(1) is Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return time.Duration(min(max(hi, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
