package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
)

// runFsync measures the disk's raw durable-write latency the way etcd's
// docs suggest checking it (fio --rw=write --ioengine=sync --fdatasync=1
// --bs=2300): append cfg.size bytes to a fresh file and fdatasync, --total
// times (default 1000). The file is removed afterwards.
func runFsync(cfg *config) (*result, error) {
	n := cfg.total
	if n == 0 {
		n = 1000
	}
	f, err := os.CreateTemp(cfg.dir, "cairn-bench-fsync-*")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSetup, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// Make the file's directory entry durable first, as a WAL would.
	if err := fdatasync(f); err != nil {
		return nil, fmt.Errorf("%w: %w", errSetup, err)
	}
	if d, err := os.Open(filepath.Dir(f.Name())); err == nil {
		d.Sync()
		d.Close()
	}
	buf := make([]byte, cfg.size)
	var h Histogram
	var c counters
	start := time.Now()
	for i := int64(0); i < n; i++ {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
		if err := fdatasync(f); err != nil {
			return nil, err
		}
		h.Record(time.Since(t0))
		c.ops.Add(1)
	}
	res := newResult(cfg, time.Since(start), &c, &h)
	res.Endpoints, res.Clients, res.Conns, res.Keys, res.ValueSize = nil, 1, 0, 0, cfg.size
	return res, nil
}

// runRTT measures the loopback TCP round trip: one byte to an echo server
// in this process and back, --total times (default 10000), after 100
// warm-up round trips.
func runRTT(cfg *config) (*result, error) {
	n := cfg.total
	if n == 0 {
		n = 10000
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSetup, err)
	}
	defer ln.Close()
	echoed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		echoed <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errSetup, err)
	}
	var h Histogram
	var cnt counters
	b := []byte{'x'}
	start := time.Now()
	for i := int64(-100); i < n; i++ {
		if i == 0 {
			start = time.Now()
		}
		t0 := time.Now()
		if _, err := c.Write(b); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return nil, err
		}
		if i >= 0 {
			h.Record(time.Since(t0))
			cnt.ops.Add(1)
		}
	}
	elapsed := time.Since(start)
	c.Close()
	<-echoed
	res := newResult(cfg, elapsed, &cnt, &h)
	res.Endpoints, res.Clients, res.Conns, res.Keys, res.ValueSize = nil, 1, 1, 0, 0
	return res, nil
}
