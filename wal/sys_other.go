//go:build !linux

package wal

import (
	"errors"
	"os"
)

// fdatasync falls back to fsync where fdatasync is not available. On macOS
// this does not flush the drive cache (F_FULLFSYNC would): cairn targets
// Linux, and other systems are for development only.
func fdatasync(f *os.File) error { return f.Sync() }

// fallocate is not available: preallocate falls back to ftruncate.
func fallocate(f *os.File, size int64) error { return errors.ErrUnsupported }

func fallocateUnsupported(err error) bool { return errors.Is(err, errors.ErrUnsupported) }

// lockDir does not lock outside Linux; it only checks that dir exists.
func lockDir(dir string) (*os.File, error) { return os.Open(dir) }

// openDirect: direct I/O is used on Linux only.
func openDirect(f *os.File, path string, off int64) (*directTail, error) {
	return nil, errors.ErrUnsupported
}

// zeroModeFor: other systems do not write zeros ahead of the log (zero.go).
func zeroModeFor(path string) zeroMode { return zeroOff }
