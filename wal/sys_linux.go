package wal

import (
	"errors"
	"os"

	"syscall"
)

func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}

// preallocate reserves size bytes for f with fallocate (mode 0: the file
// size grows to size and the new range reads as zeros). Where the file system
// does not support it, it falls back to ftruncate, which extends the size
// without reserving blocks. It never shrinks f.
func preallocate(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() >= size {
		return nil
	}
	for {
		err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
		if err != syscall.EINTR {
			break
		}
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL) {
		return f.Truncate(size)
	}
	return err
}

// lockDir takes an exclusive advisory lock on the directory, held as long as
// the returned file stays open.
func lockDir(dir string) (*os.File, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		d.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return d, nil
}
