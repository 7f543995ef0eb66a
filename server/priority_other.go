//go:build !linux

package server

// lowerThreadPriority is a no-op where threads have no niceness of their own.
func lowerThreadPriority() {}
