package wal

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Segment recycling. A segment in fresh space is preallocated with
// fallocate, which leaves its blocks unwritten: the first write into each
// block makes the file system convert that extent, and the batch's
// fdatasync then writes the inode (ext4 without a journal) or a journal
// commit too, one more device request and write per save. So when
// ReleaseBefore frees segments it keeps the newest of them as spares
// ("<seq>.spare", after the segment's sequence number), and the next cuts
// write their new segments into those files, whose blocks are all written
// already: each save there costs its data write and the cache flush only.
// On an SD card that is also less wear. It keeps up to spareBudget bytes
// and maxSpareCount files of spares (and at least one), so that a release
// of several small segments at once leaves enough for the cuts until the
// next release.
//
// A recycled file still holds its previous segment's frames after the new
// log's end, and those are intact frames. Two things keep replay from
// taking them for the log:
//   - every frame of a recycled segment carries the tag tagFor(seq) in bits
//     40-55 of word0 (0 in a segment written into fresh space, as before),
//     and replay ignores frames with another tag than the segment record's;
//   - every write to a recycled segment ends with endMarkerSize zero bytes
//     after the last frame (the next write starts on them), so replay finds
//     a zero word where the log ends instead of the old contents.
//
// The old contents are one earlier segment's frames: a cut truncates a
// segment to its records, so a released file holds exactly its own. recycle
// reads the tag of the first of them and does not reuse a file whose tag
// the new segment would have (possible only 65,535 segments apart).
const (
	spareExt      = ".spare"
	spareBudget   = 32 << 20
	maxSpareCount = 8
	endMarkerSize = 8
)

var endMarker [endMarkerSize]byte

// spareName names the spare made of segment seq.
func spareName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, spareExt) }

// listSpares returns the names of the spares in dir, oldest first.
func listSpares(dir string) []string {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, de := range des {
		var seq uint64
		name := de.Name()
		if de.Type().IsRegular() && len(name) == 16+len(spareExt) && strings.HasSuffix(name, spareExt) {
			if _, err := fmt.Sscanf(name, "%016x", &seq); err == nil && spareName(seq) == name {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// recycle moves a spare that segment seq may use to tmp and returns it
// opened for writing, with the segment's tag. Without one it returns a nil
// file (the caller creates a fresh one); a spare it cannot use is removed.
func (w *WAL) recycle(tmp string, seq uint64) (*os.File, uint16) {
	spares := listSpares(w.dir)
	if len(spares) == 0 {
		return nil, 0
	}
	spare := filepath.Join(w.dir, spares[len(spares)-1])
	tag := tagFor(seq)
	if oldTag, ok := firstTag(spare); !ok || oldTag == tag {
		os.Remove(spare)
		return nil, 0
	}
	if err := os.Rename(spare, tmp); err != nil {
		return nil, 0
	}
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		os.Remove(tmp)
		return nil, 0
	}
	return f, tag
}

// firstTag reads the tag of the frame at the start of the file at path.
func firstTag(path string) (uint16, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var b [8]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return 0, false
	}
	return uint16(binary.LittleEndian.Uint64(b[:]) >> 40), true
}

// spareFrom returns the index in released (the segments ReleaseBefore
// frees, oldest first) from which it keeps them as spares: the newest ones,
// while the directory's spares stay within maxSpareCount files and
// spareBudget bytes, their actual sizes counted (a first spare may be
// larger, as after an upgrade from larger segments).
func (w *WAL) spareFrom(released []segmentFile) int {
	spares := listSpares(w.dir)
	count := len(spares)
	var total int64
	for _, name := range spares {
		if fi, err := os.Stat(filepath.Join(w.dir, name)); err == nil {
			total += fi.Size()
		}
	}
	i := len(released)
	for i > 0 && count < maxSpareCount {
		fi, err := os.Stat(filepath.Join(w.dir, released[i-1].name))
		if err != nil || count > 0 && total+fi.Size() > spareBudget {
			break
		}
		count++
		total += fi.Size()
		i--
	}
	return i
}
