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
	buf := fmt.Appendf(nil, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	_, err := w.Write(appendSamples(buf, name, "", s))
	return err
}

// WriteHistogramSamples writes the sample lines of s (no HELP or TYPE)
// with labels, for example `To="2"`, before le: one series of a histogram
// family whose HELP and TYPE the caller wrote.
func WriteHistogramSamples(w io.Writer, name, labels string, s HistogramSnapshot) error {
	_, err := w.Write(appendSamples(nil, name, labels, s))
	return err
}

func appendSamples(buf []byte, name, labels string, s HistogramSnapshot) []byte {
	bucket := func(le []byte, n uint64) {
		buf = append(buf, name...)
		buf = append(buf, "_bucket{"...)
		if labels != "" {
			buf = append(buf, labels...)
			buf = append(buf, ',')
		}
		buf = append(buf, `le="`...)
		buf = append(buf, le...)
		buf = append(buf, `"} `...)
		buf = strconv.AppendUint(buf, n, 10)
		buf = append(buf, '\n')
	}
	var cum uint64
	var le [32]byte
	for i, b := range s.Bounds {
		cum += s.Counts[i]
		bucket(strconv.AppendFloat(le[:0], b.Seconds(), 'g', -1, 64), cum)
	}
	if len(s.Counts) > len(s.Bounds) {
		cum += s.Counts[len(s.Bounds)]
	}
	bucket([]byte("+Inf"), cum)
	suffix := func(sfx string) {
		buf = append(buf, name...)
		buf = append(buf, sfx...)
		if labels != "" {
			buf = append(buf, '{')
			buf = append(buf, labels...)
			buf = append(buf, '}')
		}
		buf = append(buf, ' ')
	}
	suffix("_sum")
	buf = strconv.AppendFloat(buf, s.Sum.Seconds(), 'g', -1, 64)
	buf = append(buf, '\n')
	suffix("_count")
	buf = strconv.AppendUint(buf, s.Count, 10)
	return append(buf, '\n')
}
