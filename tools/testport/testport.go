// Package testport hands out loopback TCP ports for tests that must name a
// port before anything listens on it: members and reference etcd processes
// started from a test, which bind the port themselves.
//
// The usual trick, binding port 0 and closing the listener, takes a port from
// the kernel's ephemeral range. The kernel gives ports from that range to
// every outgoing connection too, so between the close and the member's bind
// any connect on the box (another test package running in parallel, or this
// test's own clients) may take the port, and the member fails to start.
// testport picks ports below the ephemeral range instead, where the kernel
// never hands out ports by itself, at random, and checks each with a bind. It
// never gives the same port twice in one process. Safe for concurrent use.
package testport

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// span is how many ports below the ephemeral range testport draws from.
const span = 12000

var given struct {
	sync.Mutex
	m map[int]bool
}

// Port returns a loopback port that nothing was bound to a moment ago.
func Port() (int, error) {
	lo, hi := portRange()
	given.Lock()
	defer given.Unlock()
	if given.m == nil {
		given.m = map[int]bool{}
	}
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		if given.m[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // in use
		}
		ln.Close()
		given.m[p] = true
		return p, nil
	}
	return 0, errors.New("testport: no free loopback port in 200 tries")
}

// Addr returns "127.0.0.1:<Port()>".
func Addr() (string, error) {
	p, err := Port()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// portRange is [lo, hi): the span ports below the ephemeral range, and never
// below 1024. Without /proc (or with an odd range) it assumes Linux's default
// ephemeral range, which starts at 32768.
func portRange() (lo, hi int) {
	hi = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > 1024+1000 {
				hi = v
			}
		}
	}
	return max(1024, hi-span), hi
}

// MustAddr is Addr for tests: it panics on failure, which fails the test.
func MustAddr() string {
	a, err := Addr()
	if err != nil {
		panic(err)
	}
	return a
}
