// Command measure writes and reads one large snapshot through package
// snapshot and reports its compressed size, write time, read time (verify,
// then decompress) and the snapshot machinery's peak extra heap while
// writing and reading.
//
// The payload is generated on the fly, record by record, so it never sits in
// memory: records "key\x00value\n" with 64-byte keys like
// "/registry/items/000000000123/..." and 128-byte semi-random JSON-ish
// values. Use a directory on a real disk, not tmpfs:
//
//	go run ./snapshot/internal/measure -dir /work/measure-snap -pairs 1000000
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"cairn/raft"
	"cairn/snapshot"
)

const (
	keyLen   = 64
	valueLen = 128
	recLen   = keyLen + 1 + valueLen + 1
)

// records generates n records on the fly.
type records struct {
	n, i int
	rng  *rand.Rand
	rec  []byte // storage for the current record
	buf  []byte // pending bytes of the current record
}

func newRecords(n int) *records {
	return &records{n: n, rng: rand.New(rand.NewPCG(1, 2)), rec: make([]byte, 0, 2*recLen)}
}

var (
	fields = []string{"spec", "status", "labels", "owner", "config", "lease"}
	states = []string{"running", "pending", "stopped", "failed"}
	b32    = "abcdefghijklmnopqrstuvwxyz234567"
)

// record builds the next record in r.buf's storage without allocating, so
// the heap measured is the snapshot machinery's.
func (r *records) record() []byte {
	b := r.rec[:0]
	b = append(b, "/registry/items/"...)
	b = appendPadded(b, uint64(r.i), 12)
	b = append(b, '/')
	b = append(b, fields[r.i%len(fields)]...)
	b = append(b, '/')
	for len(b) < keyLen {
		b = append(b, 'x')
	}
	b = b[:keyLen]
	b = append(b, 0)
	v := len(b)
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(r.i), 10)
	b = append(b, `,"node":"node-`...)
	b = appendPadded(b, uint64(r.rng.IntN(16)), 2)
	b = append(b, `","state":"`...)
	b = append(b, states[r.rng.IntN(len(states))]...)
	b = append(b, `","rev":`...)
	b = strconv.AppendInt(b, int64(r.rng.IntN(1<<24)), 10)
	b = append(b, `,"token":"`...)
	for len(b)-v < valueLen-2 {
		b = append(b, b32[r.rng.IntN(32)])
	}
	b = append(b, '"', '}')
	b = b[:v+valueLen]
	b = append(b, '\n')
	r.rec = b
	r.i++
	return b
}

func appendPadded(b []byte, v uint64, width int) []byte {
	var d [20]byte
	s := strconv.AppendUint(d[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func (r *records) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.buf) == 0 {
			if r.i == r.n {
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
			r.buf = r.record()
		}
		c := copy(p[n:], r.buf)
		r.buf = r.buf[c:]
		n += c
	}
	return n, nil
}

// heapWatch samples the heap and remembers the peak above a baseline.
type heapWatch struct {
	base, peak uint64
	allocBase  uint64 // TotalAlloc at the start
	ms         runtime.MemStats
}

func newHeapWatch() *heapWatch {
	runtime.GC()
	h := &heapWatch{}
	runtime.ReadMemStats(&h.ms)
	h.base = h.ms.HeapAlloc
	h.allocBase = h.ms.TotalAlloc
	return h
}

func (h *heapWatch) sample() {
	runtime.ReadMemStats(&h.ms)
	if h.ms.HeapAlloc > h.peak {
		h.peak = h.ms.HeapAlloc
	}
}

func (h *heapWatch) allocated() float64 { return float64(h.ms.TotalAlloc-h.allocBase) / (1 << 20) }

func (h *heapWatch) extra() uint64 {
	if h.peak < h.base {
		return 0
	}
	return h.peak - h.base
}

// sampling copies src to dst in 64 KiB chunks, sampling the heap every 16.
func sampling(dst io.Writer, src io.Reader, h *heapWatch) (int64, error) {
	buf := make([]byte, 64<<10)
	var total int64
	for i := 0; ; i++ {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if i%16 == 0 {
			h.sample()
		}
		if errors.Is(err, io.EOF) {
			h.sample()
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func main() {
	dir := flag.String("dir", "", "directory for the snapshot (on a real disk; created, and removed afterwards)")
	pairs := flag.Int("pairs", 1_000_000, "number of key/value pairs")
	sample := flag.Int("sample", 0, "print the first n records and exit")
	flag.Parse()
	if *sample > 0 {
		r := newRecords(*sample)
		for range *sample {
			fmt.Printf("%q\n", r.record())
		}
		return
	}
	if *dir == "" {
		log.Fatal("-dir is required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		log.Fatal(err)
	}
	sdir, err := os.MkdirTemp(*dir, "measure-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(sdir)

	fmt.Printf("GOOS/GOARCH %s/%s, GOMAXPROCS %d, %s\n", runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("payload: %d pairs of %d-byte keys and %d-byte values, %d bytes (%.1f MiB)\n",
		*pairs, keyLen, valueLen, int64(*pairs)*recLen, float64(int64(*pairs)*recLen)/(1<<20))

	// Baseline: generating the payload alone, to subtract from the write time.
	start := time.Now()
	if _, err := io.Copy(io.Discard, newRecords(*pairs)); err != nil {
		log.Fatal(err)
	}
	genTime := time.Since(start)

	s, err := snapshot.New(sdir, nil)
	if err != nil {
		log.Fatal(err)
	}
	meta := raft.SnapshotMeta{Index: uint64(*pairs), Term: 3, ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}}}

	h := newHeapWatch()
	start = time.Now()
	w, err := s.Create(meta)
	if err != nil {
		log.Fatal(err)
	}
	n, err := sampling(w, newRecords(*pairs), h)
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}
	writeTime := time.Since(start)
	h.sample()
	writeHeap, writeAlloc := h.extra(), h.allocated()

	st, err := os.Stat(filepath.Join(sdir, fmt.Sprintf("%016x-%016x.snap", meta.Term, meta.Index)))
	if err != nil {
		log.Fatal(err)
	}

	h = newHeapWatch()
	start = time.Now()
	r, err := s.Newest()
	if err != nil {
		log.Fatal(err)
	}
	verifyTime := time.Since(start)
	got, err := sampling(io.Discard, r, h)
	if err != nil {
		log.Fatal(err)
	}
	r.Close()
	readTime := time.Since(start)
	h.sample()
	if got != n {
		log.Fatalf("read %d bytes, wrote %d", got, n)
	}

	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	fmt.Printf("compressed size: %d bytes (%.1f MiB), ratio %.2f\n", st.Size(), mib(st.Size()), float64(n)/float64(st.Size()))
	fmt.Printf("write (compress + fsync + rename + dir fsync): %v (%.0f MiB/s), generator alone %v\n",
		writeTime.Round(time.Millisecond), mib(n)/writeTime.Seconds(), genTime.Round(time.Millisecond))
	fmt.Printf("read total: %v (%.0f MiB/s of payload): verify %v, decompress %v\n",
		readTime.Round(time.Millisecond), mib(n)/readTime.Seconds(), verifyTime.Round(time.Millisecond), (readTime - verifyTime).Round(time.Millisecond))
	fmt.Printf("peak extra heap while writing: %.2f MiB (heap allocated in total during write: %.1f MiB)\n",
		float64(writeHeap)/(1<<20), writeAlloc)
	fmt.Printf("peak extra heap while reading: %.2f MiB (allocated in total: %.1f MiB)\n",
		float64(h.extra())/(1<<20), h.allocated())
}
