package metric

import (
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"
)

// Histogram counts durations in fixed buckets. The zero value is not
// usable; create one with NewHistogram.
type Histogram struct {
	bounds []time.Duration // Invariant: strictly increasing, positive
	counts []atomic.Uint64 // len(bounds)+1; the last is the +Inf bucket
	sum    atomic.Uint64   // nanoseconds
	count  atomic.Uint64
}

// NewHistogram returns a histogram with the given bucket upper bounds
// (inclusive, as Prometheus' le). It panics if bounds are not positive and
// strictly increasing: a programming error.
func NewHistogram(bounds []time.Duration) *Histogram {
	for i, b := range bounds {
		if b <= 0 || (i > 0 && b <= bounds[i-1]) {
			panic(fmt.Sprintf("metric: bucket bounds must be positive and increasing: %v", bounds))
		}
	}
	return &Histogram{
		bounds: append([]time.Duration(nil), bounds...),
		counts: make([]atomic.Uint64, len(bounds)+1),
	}
}

// ExpBuckets returns n bounds starting at start, each factor times the
// previous (Prometheus' ExponentialBuckets, in durations).
func ExpBuckets(start time.Duration, factor float64, n int) []time.Duration {
	out := make([]time.Duration, n)
	v := float64(start)
	for i := range out {
		out[i] = time.Duration(v)
		v *= factor
	}
	return out
}

// Observe records one duration; negative durations count as zero.
func (h *Histogram) Observe(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := 0
	for i < len(h.bounds) && d > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(uint64(d))
	h.count.Add(1)
}

// HistogramSnapshot is a histogram's state at one moment.
type HistogramSnapshot struct {
	// Bounds are the bucket upper bounds; Counts[i] counts observations
	// in (Bounds[i-1], Bounds[i]] (not cumulative), and Counts[len(Bounds)]
	// those above the last bound.
	Bounds []time.Duration
	Counts []uint64
	Sum    time.Duration
	Count  uint64
}

// Snapshot copies the histogram's counters.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Sum = time.Duration(h.sum.Load())
	s.Count = h.count.Load()
	return s
}

// WriteHistogram writes s as the Prometheus histogram name, in seconds,
// with its HELP and TYPE lines.
func WriteHistogram(w io.Writer, name, help string, s HistogramSnapshot) error {
	buf := make([]byte, 0, 64*(len(s.Bounds)+4))
	buf = fmt.Appendf(buf, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, b := range s.Bounds {
		cum += s.Counts[i]
		buf = append(buf, name...)
		buf = append(buf, `_bucket{le="`...)
		buf = strconv.AppendFloat(buf, b.Seconds(), 'g', -1, 64)
		buf = append(buf, `"} `...)
		buf = strconv.AppendUint(buf, cum, 10)
		buf = append(buf, '\n')
	}
	if len(s.Counts) > len(s.Bounds) {
		cum += s.Counts[len(s.Bounds)]
	}
	buf = append(buf, name...)
	buf = append(buf, `_bucket{le="+Inf"} `...)
	buf = strconv.AppendUint(buf, cum, 10)
	buf = append(buf, '\n')
	buf = append(buf, name...)
	buf = append(buf, "_sum "...)
	buf = strconv.AppendFloat(buf, s.Sum.Seconds(), 'g', -1, 64)
	buf = append(buf, '\n')
	buf = append(buf, name...)
	buf = append(buf, "_count "...)
	buf = strconv.AppendUint(buf, s.Count, 10)
	buf = append(buf, '\n')
	_, err := w.Write(buf)
	return err
}
