//go:build !linux

package lifecycle

func monotonicUsec() (uint64, bool) { return 0, false }
