package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"cairn/tools/refbin"
	"cairn/tools/testport"
)

// refEtcd returns the reference etcd binary (refbin's search order) or
// skips the test.
func refEtcd(t *testing.T) string {
	t.Helper()
	bin, err := refbin.Find(refbin.EnvEtcd, "etcd")
	if err != nil {
		t.Skipf("reference etcd: %v", err)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := testport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startEtcd starts a single-member etcd with the v2 API and waits until it
// logs that it serves clients (after its election and publish).
func startEtcd(t *testing.T) string {
	t.Helper()
	bin := refEtcd(t)
	dir := t.TempDir()
	client := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "--enable-v2=true", "--name", "m1", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "m1="+peer)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	var logBuf bytes.Buffer // written by the scanner until ready is closed
	go func() {
		sc := bufio.NewScanner(stderr)
		signaled := false
		for sc.Scan() {
			if !signaled {
				logBuf.Write(sc.Bytes())
				logBuf.WriteByte('\n')
				if bytes.Contains(sc.Bytes(), []byte("ready to serve client requests")) {
					signaled = true
					close(ready)
				}
			}
		}
		if !signaled {
			close(ready)
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-ready
	}
	if !bytes.Contains(logBuf.Bytes(), []byte("ready to serve client requests")) {
		t.Fatalf("etcd did not become ready:\n%s", logBuf.String())
	}
	return client
}

// TestAgainstEtcd runs every keys workload briefly against a real etcd and
// checks that the tool counts and reports sensibly.
func TestAgainstEtcd(t *testing.T) {
	ep := startEtcd(t)
	tests := []struct {
		args  []string
		check func(*result) error
	}{
		{[]string{"put", "--clients", "4", "--total", "200", "--keys", "50"}, func(r *result) error {
			if r.Ops != 200 {
				return fmt.Errorf("ops %d, want 200", r.Ops)
			}
			return nil
		}},
		{[]string{"get", "--clients", "4", "--total", "400", "--keys", "20"}, nil},
		{[]string{"qget", "--clients", "2", "--conns", "1", "--total", "100", "--keys", "20"}, nil},
		{[]string{"cas", "--clients", "8", "--total", "200", "--keys", "1"}, func(r *result) error {
			if r.CASSuccess == 0 || r.CASSuccess+r.CASFailed != r.Ops {
				return fmt.Errorf("cas success %d failed %d ops %d", r.CASSuccess, r.CASFailed, r.Ops)
			}
			return nil
		}},
		{[]string{"watch", "--watchers", "20", "--total", "20"}, func(r *result) error {
			if r.Writes != 20 || r.Ops != 400 || r.Missed != 0 {
				return fmt.Errorf("writes %d deliveries %d missed %d, want 20 400 0", r.Writes, r.Ops, r.Missed)
			}
			return nil
		}},
		{[]string{"watch", "--watchers", "10", "--total", "10", "--watch-recursive", "--keys", "5", "--duration", "1s"}, func(r *result) error {
			if r.Ops != 100 || r.Missed != 0 {
				return fmt.Errorf("deliveries %d missed %d, want 100 0", r.Ops, r.Missed)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			args := append(tt.args, "--endpoints", ep, "--json", "--quiet", "--prefix", "/t"+tt.args[0])
			if code := run(ctx, args, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			var r result
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("%v: %s", err, out.String())
			}
			if r.Errors != 0 || r.Ops == 0 || r.Latency.P50 <= 0 || r.Latency.P50 > r.Latency.Max {
				t.Errorf("implausible result: %s", out.String())
			}
			if tt.check != nil {
				if err := tt.check(&r); err != nil {
					t.Errorf("%v: %s", err, out.String())
				}
			}
		})
	}
}
