package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"cairn/raft"
)

const tmpfsMagic = 0x01021994

// benchDir returns a directory on a real disk: t.TempDir unless that is a
// tmpfs (where fdatasync is free), else a directory under the package
// directory (on the repository's file system), removed afterwards.
func benchDir(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil && st.Type != tmpfsMagic {
		return dir
	}
	dir, err := os.MkdirTemp(".", "bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	abs, _ := filepath.Abs(dir)
	return abs
}

// BenchmarkFdatasyncRaw measures the disk's raw rate of "write 256 bytes,
// fdatasync": appending to a growing file, and writing into a preallocated
// one (what the WAL does). Compare BenchmarkSave/entries=1 with it.
func BenchmarkFdatasyncRaw(b *testing.B) {
	for _, prealloc := range []bool{false, true} {
		name := "append"
		if prealloc {
			name = "prealloc"
		}
		b.Run(name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(benchDir(b), "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if prealloc {
				if err := preallocate(&benchOps, f, 64<<20); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			buf := make([]byte, 256)
			for i := range buf {
				buf[i] = byte(i)
			}
			b.SetBytes(256)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := f.WriteAt(buf, int64(i%(1<<18))*256); err != nil {
					b.Fatal(err)
				}
				if err := fdatasync(f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "syncs/s")
		})
	}
}

// BenchmarkSave measures WAL batches per second for batches of 1, 16 and 256
// entries of 256 bytes, each with a changed hard state (a random-looking
// 64-bit vote, a growing commit), and the write amplification: bytes passed
// to write calls (segment headers included, preallocation not) per byte of
// entry payload.
func BenchmarkSave(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			var written int64
			ops := defaultOps()
			inner := ops.writeAt
			ops.writeAt = func(f *os.File, p []byte, off int64) (int, error) {
				written += int64(len(p))
				return inner(f, p, off)
			}
			w, err := Create(filepath.Join(benchDir(b), "wal"), Metadata{MemberID: 0x8f3ac1d2e5b79a01, ClusterID: 2}, &Options{ops: ops})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			ents := make([]raft.Entry, n)
			for i := range ents {
				ents[i].Term = 1
				ents[i].Data = make([]byte, 256)
			}
			written = 0
			b.SetBytes(int64(256 * n))
			b.ResetTimer()
			start := time.Now()
			index := uint64(1)
			for i := 0; i < b.N; i++ {
				for j := range ents {
					ents[j].Index = index + uint64(j)
				}
				index += uint64(n)
				hs := raft.HardState{Term: 1, Vote: 0x8f3ac1d2e5b79a01, Commit: index - 1}
				if _, err := w.Save(hs, ents); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "batches/s")
			b.ReportMetric(float64(written)/float64(256*n*b.N), "wamp")
		})
	}
}

// BenchmarkSaveVsRaw interleaves one raw "write 256 bytes + fdatasync" into
// a preallocated file with one WAL Save of a single 256-byte entry (plus a
// changed hard state), timing each separately, so that both see the same
// disk load (the machine is shared). It reports both rates and their ratio.
func BenchmarkSaveVsRaw(b *testing.B) {
	dir := benchDir(b)
	f, err := os.Create(filepath.Join(dir, "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := preallocate(&benchOps, f, 64<<20); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	w, err := Create(filepath.Join(dir, "wal"), Metadata{MemberID: 0x8f3ac1d2e5b79a01, ClusterID: 2}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	buf := make([]byte, 256)
	ents := []raft.Entry{{Term: 1, Data: make([]byte, 256)}}
	var raw, wal time.Duration
	b.ResetTimer()
	rawOnce := func(i int) {
		t0 := time.Now()
		if _, err := f.WriteAt(buf, int64(i%(1<<18))*256); err != nil {
			b.Fatal(err)
		}
		if err := fdatasync(f); err != nil {
			b.Fatal(err)
		}
		raw += time.Since(t0)
	}
	walOnce := func(i int) {
		t0 := time.Now()
		ents[0].Index = uint64(i + 1)
		if _, err := w.Save(raft.HardState{Term: 1, Vote: 0x8f3ac1d2e5b79a01, Commit: uint64(i)}, ents); err != nil {
			b.Fatal(err)
		}
		wal += time.Since(t0)
	}
	for i := 0; i < b.N; i++ {
		// Alternate the order so that neither always follows the other.
		if i%2 == 0 {
			rawOnce(i)
			walOnce(i)
		} else {
			walOnce(i)
			rawOnce(i)
		}
	}
	b.ReportMetric(float64(b.N)/raw.Seconds(), "raw_syncs/s")
	b.ReportMetric(float64(b.N)/wal.Seconds(), "wal_batches/s")
	b.ReportMetric(raw.Seconds()/wal.Seconds(), "wal/raw")
}

var benchOps = defaultOps()
