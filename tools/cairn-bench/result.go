package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

var errReport = errors.New("cairn-bench: report")

// latencyMS is a latency summary in milliseconds.
type latencyMS struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func summarize(h *Histogram) latencyMS {
	return latencyMS{
		Min: ms(h.Min()), Mean: ms(h.Mean()), P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)),
		P99: ms(h.Quantile(0.99)), P999: ms(h.Quantile(0.999)), Max: ms(h.Max()),
	}
}

// result is what one run reports. With --json it is printed as one line;
// report reads such lines back. Value-only lines ({"label":..,"value":..})
// written by scripts (RSS, I/O counters) share the format.
type result struct {
	Label      string    `json:"label,omitempty"`
	Workload   string    `json:"workload,omitempty"`
	Endpoints  []string  `json:"endpoints,omitempty"`
	Clients    int       `json:"clients,omitempty"`
	Conns      int       `json:"conns,omitempty"`
	Keys       int       `json:"keys,omitempty"`
	ValueSize  int       `json:"value_size,omitempty"`
	DurationS  float64   `json:"duration_s,omitempty"`
	Ops        int64     `json:"ops,omitempty"`
	Errors     int64     `json:"errors"`
	OpsPerSec  float64   `json:"ops_per_sec,omitempty"`
	Latency    latencyMS `json:"latency_ms"`
	CASSuccess int64     `json:"cas_success,omitempty"`
	CASFailed  int64     `json:"cas_failed,omitempty"` // errorCode 101, not counted in Errors
	Watchers   int       `json:"watchers,omitempty"`
	Writes     int64     `json:"writes,omitempty"`
	Missed     int64     `json:"missed,omitempty"` // watch events not delivered within --timeout
	FirstError string    `json:"first_error,omitempty"`
	// GenCPUS is the CPU time (user+system, seconds) the load generator
	// itself used during the run, seeding included: on a shared box, what
	// it took from the servers.
	GenCPUS float64 `json:"gen_cpu_s,omitempty"`
	// Value and Unit carry a plain measurement written by a script.
	Value *float64 `json:"value,omitempty"`
	Unit  string   `json:"unit,omitempty"`
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "workload %s  clients %d  conns %d  endpoints %d  keys %d  value %dB  duration %.2fs\n",
		r.Workload, r.Clients, r.Conns, len(r.Endpoints), r.Keys, r.ValueSize, r.DurationS)
	fmt.Fprintf(w, "ops %d  errors %d  ops/s %.1f\n", r.Ops, r.Errors, r.OpsPerSec)
	if r.Workload == "cas" {
		fmt.Fprintf(w, "cas success %d  failed(101) %d\n", r.CASSuccess, r.CASFailed)
	}
	if r.Workload == "watch" {
		fmt.Fprintf(w, "watchers %d  writes %d  deliveries %d  missed %d\n", r.Watchers, r.Writes, r.Ops, r.Missed)
	}
	l := r.Latency
	fmt.Fprintf(w, "latency ms  min %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
		l.Min, l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	if r.GenCPUS > 0 {
		fmt.Fprintf(w, "load generator CPU %.2fs\n", r.GenCPUS)
	}
	if r.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", r.FirstError)
	}
}

// readResults reads one JSON result per line; blank lines and lines starting
// with # are skipped.
func readResults(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errReport, err)
	}
	defer f.Close()
	var out []result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %w", errReport, path, n, err)
		}
		if r.Label == "" {
			r.Label = r.Workload
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errReport, err)
	}
	return out, nil
}

// figure is one row of the comparison: a named number taken from results
// with the same label.
type figure struct {
	name string
	get  func(*result) float64
}

// figuresFor picks the figures shown for a label.
func figuresFor(r *result) []figure {
	if r.Value != nil {
		u := ""
		if r.Unit != "" {
			u = " (" + r.Unit + ")"
		}
		return []figure{{u, func(r *result) float64 { return *r.Value }}}
	}
	fs := []figure{
		{" ops/s", func(r *result) float64 { return r.OpsPerSec }},
		{" p50 ms", func(r *result) float64 { return r.Latency.P50 }},
		{" p99 ms", func(r *result) float64 { return r.Latency.P99 }},
		{" errors", func(r *result) float64 { return float64(r.Errors) }},
	}
	if r.GenCPUS > 0 {
		fs = append(fs, figure{" loadgen cpu s", func(r *result) float64 { return r.GenCPUS }})
	}
	switch r.Workload {
	case "cas":
		fs = append(fs, figure{" cas success/s", func(r *result) float64 {
			if r.DurationS == 0 {
				return 0
			}
			return float64(r.CASSuccess) / r.DurationS
		}})
	case "watch":
		fs = append(fs, figure{" missed", func(r *result) float64 { return float64(r.Missed) }})
	}
	return fs
}

// median returns the median of xs (the mean of the middle two for even n).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// report prints, for every label in file a (in first-seen order), the
// median of each figure over the runs in a and in b and the ratio b/a.
func report(w io.Writer, pathA, pathB string) error {
	as, err := readResults(pathA)
	if err != nil {
		return err
	}
	bs, err := readResults(pathB)
	if err != nil {
		return err
	}
	group := func(rs []result) ([]string, map[string][]*result) {
		var order []string
		m := map[string][]*result{}
		for i := range rs {
			l := rs[i].Label
			if _, ok := m[l]; !ok {
				order = append(order, l)
			}
			m[l] = append(m[l], &rs[i])
		}
		return order, m
	}
	orderA, ga := group(as)
	orderB, gb := group(bs)
	for _, l := range orderB {
		if _, ok := ga[l]; !ok {
			orderA = append(orderA, l)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "figure\tA\tB\tB/A\truns\t\n")
	for _, l := range orderA {
		ra, rb := ga[l], gb[l]
		proto := append(ra, rb...)[0]
		for _, f := range figuresFor(proto) {
			va, vb := collect(ra, f), collect(rb, f)
			ratio := "-"
			if len(va) > 0 && len(vb) > 0 && median(va) != 0 {
				ratio = fmt.Sprintf("%.2f", median(vb)/median(va))
			}
			fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%d/%d\t\n", l, f.name, num(va), num(vb), ratio, len(va), len(vb))
		}
	}
	return tw.Flush()
}

func collect(rs []*result, f figure) []float64 {
	var v []float64
	for _, r := range rs {
		v = append(v, f.get(r))
	}
	return v
}

func num(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	m := median(v)
	switch a := math.Abs(m); {
	case a >= 1000 || a == math.Trunc(a):
		return fmt.Sprintf("%.0f", m)
	case a >= 10:
		return fmt.Sprintf("%.1f", m)
	default:
		return fmt.Sprintf("%.3f", m)
	}
}
