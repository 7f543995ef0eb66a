package wal

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			return err
		}
	}
}

// fallocate reserves blocks for the first size bytes of f (mode 0: the file
// size grows to size and the new range reads as zeros).
func fallocate(f *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		if err != unix.EINTR {
			return err
		}
	}
}

// fallocateUnsupported reports whether err means the file system cannot
// preallocate, so that ftruncate should be used instead.
func fallocateUnsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) ||
		errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, errors.ErrUnsupported)
}

// lockDir takes an exclusive advisory lock on the directory, held as long as
// the returned file stays open.
func lockDir(dir string) (*os.File, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		d.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return d, nil
}

// openDirect opens path (the file f) for direct writes that continue at off.
// It fails where the file system does not report direct I/O alignments
// (statx STATX_DIOALIGN, Linux 6.1 and later) or refuses O_DIRECT (tmpfs).
func openDirect(f *os.File, path string, off int64) (*directTail, error) {
	var st unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st); err != nil {
		return nil, err
	}
	align, mem := int64(st.Dio_offset_align), int(st.Dio_mem_align)
	pow2 := func(v int64) bool { return v > 0 && v&(v-1) == 0 && v <= 64<<10 }
	if st.Mask&unix.STATX_DIOALIGN == 0 || !pow2(align) || !pow2(int64(mem)) {
		return nil, errors.ErrUnsupported
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	head := make([]byte, off&(align-1), align)
	if _, err := f.ReadAt(head, off-int64(len(head))); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &directTail{f: os.NewFile(uintptr(fd), path), align: align, memAlign: mem, head: head}, nil
}

// zeroModeFor decides whether the WAL writes zeros ahead of the log in
// the file at path (zero.go): on the journaling file systems where an
// unwritten extent's conversion costs a journal commit, ext4 with a journal
// (also when the journal check itself fails) and xfs. Not on ext4 without
// a journal, where it costs an inode write of about the zeros' bytes, nor
// on file systems that do not convert in place: btrfs would copy every
// later overwrite of a written extent, tmpfs has no unwritten extents.
func zeroModeFor(path string) zeroMode {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return zeroOff
	}
	switch sfs.Type {
	case unix.XFS_SUPER_MAGIC:
		return zeroOn
	case unix.EXT4_SUPER_MAGIC:
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return zeroOn
		}
		uevent, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", unix.Major(st.Dev), unix.Minor(st.Dev)))
		if err != nil {
			return zeroOn
		}
		journals, err := os.ReadDir("/proc/fs/jbd2")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return zeroOn
		}
		names := make([]string, len(journals))
		for i, j := range journals {
			names[i] = j.Name()
		}
		if dev := devName(uevent); dev != "" && !hasJournal(names, dev) {
			return zeroOff
		}
		return zeroOn
	}
	return zeroOff
}

// devName returns the DEVNAME of a /sys/dev/block/*/uevent file ("" if
// there is none).
func devName(uevent []byte) string {
	for _, line := range strings.Split(string(uevent), "\n") {
		if v, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			return v
		}
	}
	return ""
}

// hasJournal reports whether the entries of /proc/fs/jbd2 (named
// <device>-<journal inode>, such as "mmcblk0p2-8") include a journal on dev.
func hasJournal(entries []string, dev string) bool {
	for _, e := range entries {
		if i := strings.LastIndexByte(e, '-'); i > 0 && e[:i] == dev {
			return true
		}
	}
	return false
}
