package wal

import (
	"errors"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"cairn/raft"
)

// fiemap and fiemapExtent are the kernel's struct fiemap and struct
// fiemap_extent (linux/fiemap.h), which x/sys/unix does not define.
type fiemap struct {
	start, length                        uint64
	flags, mapped, extentCount, reserved uint32
}

type fiemapExtent struct {
	logical, physical, length uint64
	reserved64                [2]uint64
	flags                     uint32
	reserved                  [3]uint32
}

const (
	fsIocFiemap      = 0xC020660B // _IOWR('f', 11, struct fiemap)
	fiemapFlagSync   = 0x1
	fiemapExtentLast = 0x1
	fiemapUnwritten  = 0x800
)

// unwritten returns the byte ranges of f that the file system reports as
// allocated but unwritten (FIEMAP_EXTENT_UNWRITTEN).
func unwritten(t *testing.T, f *os.File) ([][2]int64, error) {
	t.Helper()
	const batch = 64
	var out [][2]int64
	start := uint64(0)
	for {
		buf := make([]byte, unsafe.Sizeof(fiemap{})+batch*unsafe.Sizeof(fiemapExtent{}))
		hdr := (*fiemap)(unsafe.Pointer(&buf[0]))
		*hdr = fiemap{start: start, length: ^uint64(0) - start, flags: fiemapFlagSync, extentCount: batch}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
			return nil, e
		}
		exts := unsafe.Slice((*fiemapExtent)(unsafe.Pointer(&buf[unsafe.Sizeof(fiemap{})])), batch)[:hdr.mapped]
		for _, e := range exts {
			if e.flags&fiemapUnwritten != 0 {
				out = append(out, [2]int64{int64(e.logical), int64(e.logical + e.length)})
			}
			start = e.logical + e.length
			if e.flags&fiemapExtentLast != 0 {
				return out, nil
			}
		}
		if hdr.mapped == 0 {
			return out, nil
		}
	}
}

// TestZeroAheadKeepsBatchesOutOfUnwrittenExtents: where the file system
// preallocates segments as unwritten extents (ext4, xfs), no batch lands
// in one, so that no fdatasync has to write the extent conversion: after
// every Save the log and at least half a zeroChunk after it (or the rest
// of the segment) are written, and the segment never grows past its
// preallocated size (except by a batch that ends past it). The zeros are
// forced on, whatever this file system would get (zeroModeFor). Both with
// DirectIO and without; a segment small enough that the zeros reach its
// end, and a cut.
func TestZeroAheadKeepsBatchesOutOfUnwrittenExtents(t *testing.T) {
	for _, direct := range []bool{false, true} {
		name := map[bool]string{false: "buffered", true: "direct"}[direct]
		t.Run(name, func(t *testing.T) {
			dir := newDir(t)
			const segSize = 1 << 20
			w := mustCreate(t, dir, &Options{SegmentSize: segSize, DirectIO: direct, zeroMode: zeroOn})
			defer w.Close()
			if direct && w.direct == nil {
				t.Skip("the file system here refuses O_DIRECT")
			}
			// Unwritten extents right after Create, beyond the zeroed part,
			// show that this file system has them; otherwise there is
			// nothing to check.
			rs, err := unwritten(t, w.tail)
			if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) {
				t.Skipf("FIEMAP not supported here: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) == 0 {
				t.Skip("this file system does not preallocate as unwritten extents (tmpfs?)")
			}
			last, cuts := uint64(0), 0
			for i := 0; i < 1000 && cuts < 2; i++ {
				seq := w.segs[len(w.segs)-1].seq
				n := 1 + i%7
				ents := mkEnts(last+1, n, 1, 200+(i*131)%900)
				if _, err := w.Save(raft.HardState{Term: 1, Vote: 1, Commit: last}, ents); err != nil {
					t.Fatal(err)
				}
				last += uint64(n)
				if w.segs[len(w.segs)-1].seq != seq {
					cuts++
				}
				fi, err := w.tail.Stat()
				if err != nil {
					t.Fatal(err)
				}
				// A batch may end past the preallocated size (it is not
				// split); the zeros never do.
				if limit := max(segSize, w.off+zeroAlign-1); fi.Size() < segSize || fi.Size() > limit {
					t.Fatalf("save %d: tail segment is %d bytes; preallocated %d, the log ends at %d", i, fi.Size(), segSize, w.off)
				}
				want := min(w.off+zeroChunk/2, segSize)
				rs, err := unwritten(t, w.tail)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					if r[0] < want {
						t.Fatalf("save %d: bytes %d-%d of the tail are unwritten; the log ends at %d, want written up to %d",
							i, r[0], r[1], w.off, want)
					}
				}
			}
			if cuts < 2 {
				t.Fatalf("only %d cuts; the test did not reach the end of a segment", cuts)
			}
		})
	}
}

// TestZeroModeOff: with the zeros off (ext4 without a journal, tmpfs), the
// WAL writes nothing but its frames; with them on, it writes zeros too.
func TestZeroModeOff(t *testing.T) {
	for _, mode := range []zeroMode{zeroOff, zeroOn} {
		zeros := 0
		opts := &Options{SegmentSize: 1 << 20, zeroMode: mode, ops: fileOps{writeAt: func(f *os.File, b []byte, off int64) (int, error) {
			if allZero(b) {
				zeros++
			}
			return f.WriteAt(b, off)
		}}}
		w := mustCreate(t, newDir(t), opts)
		last := uint64(0)
		for i := 0; i < 50; i++ {
			if _, err := w.Save(raft.HardState{Term: 1, Vote: 1, Commit: last}, mkEnts(last+1, 2, 1, 300)); err != nil {
				t.Fatal(err)
			}
			last += 2
		}
		if got := zeros > 0; got != (mode == zeroOn) {
			t.Errorf("mode %d: %d writes of zeros", mode, zeros)
		}
	}
}

func TestDevNameAndJournal(t *testing.T) {
	if got := devName([]byte("MAJOR=179\nMINOR=2\nDEVNAME=mmcblk0p2\nDEVTYPE=partition\n")); got != "mmcblk0p2" {
		t.Errorf("devName = %q", got)
	}
	if got := devName([]byte("MAJOR=7\n")); got != "" {
		t.Errorf("devName without DEVNAME = %q", got)
	}
	entries := []string{"sda1-8", "dm-0-8", "loop0-8"}
	for dev, want := range map[string]bool{"sda1": true, "dm-0": true, "loop0": true, "sda": false, "dm": false, "vda": false, "loop": false} {
		if got := hasJournal(entries, dev); got != want {
			t.Errorf("hasJournal(%q) = %v, want %v", dev, got, want)
		}
	}
	// The check itself runs on this machine's temporary directory, whatever
	// it decides.
	mode := zeroModeFor(t.TempDir())
	if mode != zeroOn && mode != zeroOff {
		t.Fatalf("zeroModeFor = %d", mode)
	}
	t.Logf("zeros ahead of the log in %s: %v", t.TempDir(), mode == zeroOn)
}
