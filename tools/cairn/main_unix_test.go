//go:build unix

package main

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cairn/tools/testport"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := testport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDaemonLifecycle runs the daemon in-process under a fake systemd
// notify socket: READY=1 with a STATUS once it serves, then SIGTERM makes
// it send STOPPING=1 and exit 0.
func TestDaemonLifecycle(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	client, peer := "http://"+freeAddr(t), "http://"+freeAddr(t)
	args := []string{
		"--data-dir", filepath.Join(t.TempDir(), "d"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "default=" + peer,
		"--heartbeat-interval", "20", "--election-timeout", "200",
	}
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(args, nil, &stdout, &stderr) }()

	read := func(want string) string {
		t.Helper()
		buf := make([]byte, 4096)
		for {
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v (log: %s)", want, err, stderr.String())
			}
			if msg := string(buf[:n]); strings.Contains(msg, want) {
				return msg
			}
		}
	}
	msg := read("READY=1")
	if !strings.Contains(msg, "STATUS=") || !strings.Contains(msg, "leader") {
		t.Fatalf("READY message without status: %q", msg)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	read("STOPPING=1")
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; log: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop after SIGTERM")
	}
	if log := stderr.String(); !strings.Contains(log, "elected leader") || !strings.Contains(log, "shutting down") {
		t.Fatalf("log lacks the lifecycle events:\n%s", log)
	}
}
