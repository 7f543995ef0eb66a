package wal

import (
	"os"
	"unsafe"
)

// directTail writes the tail segment through a second descriptor opened
// with O_DIRECT (Options.DirectIO). Each write covers whole alignment blocks:
// the partial block the previous write ended in (kept in head) followed by
// the new frames, padded with zeros to the next block boundary. The zeros
// land where the preallocated segment reads as zeros anyway, and the next
// write overwrites them. The on-disk format is the same as with buffered
// writes; only the way bytes reach the disk differs: a batch costs its own
// size rounded to the device's alignment (512 bytes on most disks) instead
// of a whole 4 KiB page cache page per fdatasync, and the log does not
// pass through the page cache.
type directTail struct {
	f        *os.File // the tail, opened O_WRONLY|O_DIRECT
	align    int64    // file offset and length alignment (a power of two)
	memAlign int      // buffer address alignment (a power of two)
	// head holds the bytes of the tail from the last block boundary at or
	// before the end of the log to the end. Invariant: len(head) < align.
	head []byte
	raw  []byte // scratch space; buffer returns an aligned window of it
}

// write writes b at off (the end of the log) as whole aligned blocks, with
// at least trail zero bytes after it (the end marker of a recycled segment).
func (d *directTail) write(ops *fileOps, b []byte, off int64, trail int) error {
	start := off - int64(len(d.head))
	n := len(d.head) + len(b)
	size := int((int64(n+trail) + d.align - 1) &^ (d.align - 1))
	buf := d.buffer(size)
	copy(buf, d.head)
	copy(buf[len(d.head):], b)
	clear(buf[n:])
	if err := writeFull(ops, d.f, buf, start); err != nil {
		return err
	}
	k := int((off + int64(len(b))) & (d.align - 1))
	d.head = append(d.head[:0], buf[n-k:n]...)
	return nil
}

// buffer returns size bytes of scratch space starting at a memAlign-aligned
// address.
func (d *directTail) buffer(size int) []byte {
	if cap(d.raw) < size+d.memAlign {
		d.raw = make([]byte, 2*size+d.memAlign)
	}
	return alignedWindow(d.raw, d.memAlign, size)
}

// alignedWindow returns size bytes of raw starting at an address aligned to
// align (a power of two); raw must hold size+align bytes.
func alignedWindow(raw []byte, align, size int) []byte {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(raw)))
	skip := (align - int(p&uintptr(align-1))) & (align - 1)
	return raw[skip : skip+size]
}

func (d *directTail) close() error { return d.f.Close() }

// attachDirect opens the tail segment at path for direct writes from w.off
// on, if Options.DirectIO asks for it and the file system supports it;
// otherwise the WAL keeps writing through w.tail (the page cache).
func (w *WAL) attachDirect(path string) {
	if w.direct != nil {
		w.direct.close()
		w.direct = nil
	}
	if !w.opts.DirectIO {
		return
	}
	d, err := openDirect(w.tail, path, w.off)
	if err != nil {
		w.log.Debug("wal: direct I/O unavailable; writing through the page cache", "file", path, "err", err)
		return
	}
	w.direct = d
}
