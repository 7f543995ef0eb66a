//go:build !linux

package wal

import "os"

// fdatasync falls back to fsync where fdatasync is not available. On macOS
// this does not flush the drive cache (F_FULLFSYNC would): cairn targets
// Linux, and other systems are for development only.
func fdatasync(f *os.File) error { return f.Sync() }

// preallocate extends f to size without reserving blocks.
func preallocate(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() >= size {
		return nil
	}
	return f.Truncate(size)
}

// lockDir does not lock outside Linux; it only checks that dir exists.
func lockDir(dir string) (*os.File, error) { return os.Open(dir) }
