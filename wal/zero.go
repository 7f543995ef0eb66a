package wal

import "fmt"

// zeroChunk is how much of the preallocated tail segment the WAL overwrites
// with zeros at a time, ahead of the end of the log.
//
// fallocate reserves blocks as "unwritten" extents. The first write into
// such a block makes the file system convert the extent, and the fdatasync
// of that batch must then make the conversion durable too. On a journaling
// file system (ext4 with its default journal, xfs) that is a journal
// commit: journal blocks and one more cache flush. Appends of a few hundred
// bytes cross into a new 4 KiB block every few batches, and batches of a
// few KiB in nearly every one. Writing zeros ahead of the log converts the
// extents once per chunk instead, so a batch's fdatasync flushes only the
// batch. The zeros are written once, sequentially and in large requests.
//
// The WAL writes them only where that is known to pay (zeroModeFor): ext4
// with a journal and xfs. On ext4 without a journal a conversion costs one
// inode block write per batch that converts, about as many bytes as the
// zeros. It is one more device request in that batch's fdatasync, which on
// the benchmark box cost about 10% of the cluster's CPU per write, but the
// zeros would double the bytes the WAL itself writes (which of the two
// wears a flash card more is not measured). btrfs would copy every later
// overwrite of a written extent; tmpfs has no unwritten extents.
// docs/performance.md has the measurements.
const zeroChunk = 256 << 10

// zeroMode says whether the WAL writes zeros ahead of the log.
type zeroMode int8

const (
	zeroUndecided zeroMode = iota // decide by the file system (zeroModeFor)
	zeroOn
	zeroOff
)

// zeroAlign aligns the zeroed range: a whole page and file system block,
// and a multiple of any direct I/O alignment openDirect accepts up to it.
const zeroAlign = 4 << 10

// startTail starts appending to the tail segment at path (w.tail, from
// w.off): it attaches the direct writer and forgets which part of the
// segment was zeroed, since a segment that was just created, repaired or
// reopened may hold unwritten extents from w.off on.
func (w *WAL) startTail(path string) {
	w.attachDirect(path)
	if w.zeroMode == zeroUndecided {
		w.zeroMode = w.opts.zeroMode
		if w.zeroMode == zeroUndecided {
			w.zeroMode = zeroModeFor(path)
			w.log.Debug("wal: zeros ahead of the log", "dir", w.dir, "on", w.zeroMode == zeroOn)
		}
	}
	w.zeroed = w.off
	w.tailSize = 0
	if fi, err := w.tail.Stat(); err == nil {
		w.tailSize = fi.Size()
	}
	if w.tag != 0 {
		// A recycled segment's blocks are written already (recycle.go).
		w.zeroed = w.tailSize
	}
}

// zeroAhead keeps at least half a zeroChunk of written zeros after the end
// of the log (w.off) where the segment's preallocated size allows: when
// less is left, it writes the next chunk of zeros, never past the end of
// the file. The zeros need no sync of their own; the next batch's fdatasync
// makes the converted extents durable with it. Errors are fatal, as for any
// write.
func (w *WAL) zeroAhead() error {
	if w.zeroMode != zeroOn || w.zeroed-w.off >= zeroChunk/2 || w.zeroed >= w.tailSize {
		return nil
	}
	from := max(w.zeroed, (w.off+zeroAlign-1)&^(zeroAlign-1))
	n := min(int64(zeroChunk), (w.tailSize-from)&^(zeroAlign-1))
	if n <= 0 {
		w.zeroed = w.tailSize
		return nil
	}
	if w.zeros == nil {
		// Aligned for O_DIRECT: zeroAlign is a multiple of every memory
		// alignment openDirect accepts up to it, and the buffer is only
		// ever read.
		w.zeros = alignedWindow(make([]byte, zeroChunk+zeroAlign), zeroAlign, zeroChunk)
	}
	f := w.tail
	if w.direct != nil {
		if int64(w.direct.memAlign) > zeroAlign || w.direct.align > zeroAlign {
			// An alignment this large is not seen in practice; skip
			// rather than issue a misaligned direct write.
			w.zeroed = w.tailSize
			return nil
		}
		f = w.direct.f
	}
	if err := writeFull(&w.opts.ops, f, w.zeros[:n], from); err != nil {
		return w.fail(fmt.Errorf("write zeros to %s: %w", w.tail.Name(), err))
	}
	w.zeroed = from + n
	return nil
}
