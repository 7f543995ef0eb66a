package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// fileOps are the system calls the WAL makes on its files, as plain function
// fields so that tests can inject faults (short writes, EIO from fdatasync)
// and count bytes. defaultOps uses the real calls.
type fileOps struct {
	// writeAt writes b at offset off of f.
	writeAt func(f *os.File, b []byte, off int64) (int, error)
	// fdatasync flushes f's data and the metadata needed to read it back.
	fdatasync func(f *os.File) error
	// fsync flushes f, data and metadata; used for directories and for files
	// whose size or name changed.
	fsync func(f *os.File) error
	// fallocate reserves the first size bytes of f, growing it.
	fallocate func(f *os.File, size int64) error
}

func defaultOps() fileOps {
	return fileOps{
		writeAt:   func(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) },
		fdatasync: fdatasync,
		fsync:     func(f *os.File) error { return f.Sync() },
		fallocate: fallocate,
	}
}

// withDefaults fills nil fields from defaultOps.
func (o fileOps) withDefaults() fileOps {
	d := defaultOps()
	if o.writeAt == nil {
		o.writeAt = d.writeAt
	}
	if o.fdatasync == nil {
		o.fdatasync = d.fdatasync
	}
	if o.fsync == nil {
		o.fsync = d.fsync
	}
	if o.fallocate == nil {
		o.fallocate = d.fallocate
	}
	return o
}

const (
	segmentExt = ".wal"
	tmpExt     = ".tmp"
	brokenExt  = ".broken"
)

// segmentFile names one segment: "%016x-%016x.wal" of seq and first index.
type segmentFile struct {
	seq, first uint64
	name       string
}

func segmentName(seq, first uint64) string {
	return fmt.Sprintf("%016x-%016x%s", seq, first, segmentExt)
}

func parseSegmentName(name string) (segmentFile, bool) {
	var seq, first uint64
	if len(name) != 33+len(segmentExt) || !strings.HasSuffix(name, segmentExt) {
		return segmentFile{}, false
	}
	if _, err := fmt.Sscanf(name, "%016x-%016x.wal", &seq, &first); err != nil {
		return segmentFile{}, false
	}
	if segmentName(seq, first) != name {
		return segmentFile{}, false
	}
	return segmentFile{seq, first, name}, true
}

// listSegments returns the segments in dir sorted by sequence number.
// Files that are not segments are ignored.
func listSegments(dir string) ([]segmentFile, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segmentFile
	for _, de := range des {
		if s, ok := parseSegmentName(de.Name()); ok && de.Type().IsRegular() {
			segs = append(segs, s)
		}
	}
	slices.SortFunc(segs, func(a, b segmentFile) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return segs, nil
}

// Exist reports whether dir holds at least one WAL segment.
func Exist(dir string) bool {
	segs, err := listSegments(dir)
	return err == nil && len(segs) > 0
}

// syncDir fsyncs a directory so that renames, creations and removals in it
// are durable.
func syncDir(ops *fileOps, dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = ops.fsync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeFull writes all of b at off, turning a short write into an error.
func writeFull(ops *fileOps, f *os.File, b []byte, off int64) error {
	n, err := ops.writeAt(f, b, off)
	if err == nil && n != len(b) {
		err = fmt.Errorf("short write of %d of %d bytes to %s", n, len(b), filepath.Base(f.Name()))
	}
	return err
}

// preallocate grows f to size bytes that read as zeros, reserving the blocks
// with fallocate so that appends need no allocation and fdatasync no size
// update. Where the file system cannot (EOPNOTSUPP and the like), it falls
// back to ftruncate, which extends the size without reserving blocks. It
// never shrinks f.
func preallocate(ops *fileOps, f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() >= size {
		return nil
	}
	err = ops.fallocate(f, size)
	if err != nil && fallocateUnsupported(err) {
		err = f.Truncate(size)
	}
	return err
}
