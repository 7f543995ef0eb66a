package e2e

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// echoServer answers every request with its body prefixed by "echo:".
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("echo:"), b...))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// request sends one GET through the proxy at addr as member id from.
func request(addr, from string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/x", nil)
	if err != nil {
		return "", err
	}
	if from != "" {
		req.Header.Set("X-Cairn-From", from)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	return string(b), err
}

func TestNetworkRules(t *testing.T) {
	target := echoServer(t)
	n := NewNetwork(t.Logf)
	t.Cleanup(n.Close)
	n.SetID(0xa, "a")
	n.SetID(0xb, "b")
	n.SetID(0xc, "c")
	addr, err := n.Listen("b", target)
	if err != nil {
		t.Fatalf("%v", err)
	}
	tests := []struct {
		name    string
		state   LinkState
		delay   time.Duration
		from    string
		wantErr bool
		minTime time.Duration
	}{
		{"pass", Pass, 0, "a", false, 0},
		{"anonymous pass", Pass, 0, "", false, 0},
		{"drop", Drop, 0, "a", true, 0},
		{"drop other link", Drop, 0, "c", false, 0},
		{"blackhole", Blackhole, 0, "a", true, 0},
		{"delay", Delay, 100 * time.Millisecond, "a", false, 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n.Heal()
			n.SetLink("a", "b", tc.state, tc.delay)
			start := time.Now()
			got, err := request(addr, map[string]string{"a": "a", "c": "000000000000000c", "": ""}[tc.from], 500*time.Millisecond)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != "echo:" {
				t.Fatalf("got %q, %v; want echo:", got, err)
			}
			if d := time.Since(start); d < tc.minTime {
				t.Errorf("took %v, want at least %v", d, tc.minTime)
			}
		})
	}
}

// TestNetworkDropClosesOpenConns checks that Drop cuts a connection that is
// already open.
func TestNetworkDropClosesOpenConns(t *testing.T) {
	target := echoServer(t)
	n := NewNetwork(t.Logf)
	t.Cleanup(n.Close)
	n.SetID(0xa, "a")
	n.SetID(0xb, "b")
	addr, err := n.Listen("b", target)
	if err != nil {
		t.Fatalf("%v", err)
	}
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	send := func() error {
		_, err := io.WriteString(conn, "GET /x HTTP/1.1\r\nHost: b\r\nX-Cairn-From: a\r\n\r\n")
		if err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		return err
	}
	if err := send(); err != nil {
		t.Fatalf("first request: %v", err)
	}
	n.SetLink("a", "b", Drop, 0)
	err = send()
	if err == nil {
		t.Fatalf("request on a dropped link succeeded")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request on a dropped link hung: %v", err)
	}
}

// TestNetworkSocketOwner checks that the proxy attributes a connection to
// the process that opened it, without any header.
func TestNetworkSocketOwner(t *testing.T) {
	target := echoServer(t)
	n := NewNetwork(t.Logf)
	t.Cleanup(n.Close)
	n.Owners = func() map[int]string { return map[int]string{os.Getpid(): "self"} }
	n.SetID(0xb, "b")
	n.SetID(0xc, "c")
	addr, err := n.Listen("b", target)
	if err != nil {
		t.Fatalf("%v", err)
	}
	tests := []struct {
		name    string
		link    [2]string
		state   LinkState
		wantErr bool
	}{
		{"other link dropped", [2]string{"c", "b"}, Drop, false},
		{"own link dropped", [2]string{"self", "b"}, Drop, true},
		{"own link passes", [2]string{"self", "b"}, Pass, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n.Heal()
			n.SetLink(tc.link[0], tc.link[1], tc.state, 0)
			got, err := request(addr, "", 2*time.Second)
			if tc.wantErr {
				if err == nil && got == "echo:" {
					t.Fatalf("got %q through a dropped link", got)
				}
				return
			}
			if err != nil || got != "echo:" {
				t.Fatalf("got %q, %v; want echo:", got, err)
			}
		})
	}
}

// TestNetworkTargetDown checks that a connection to a member that is down
// gets a 502 answer, not a silent close.
func TestNetworkTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	dead := ln.Addr().String()
	ln.Close()
	n := NewNetwork(t.Logf)
	t.Cleanup(n.Close)
	addr, err := n.Listen("b", dead)
	if err != nil {
		t.Fatalf("%v", err)
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/x", nil)
	if err != nil {
		t.Fatalf("%v", err)
	}
	req.Header.Set("X-Cairn-From", "a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
}

// TestNetworkBlackholeStalls checks that a blackhole stalls an open
// connection without losing bytes, and that it flows again after Heal.
func TestNetworkBlackholeStalls(t *testing.T) {
	target := echoServer(t)
	n := NewNetwork(t.Logf)
	t.Cleanup(n.Close)
	n.SetID(0xa, "a")
	n.SetID(0xb, "b")
	addr, err := n.Listen("b", target)
	if err != nil {
		t.Fatalf("%v", err)
	}
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	req := "POST /x HTTP/1.1\r\nHost: b\r\nX-Cairn-From: a\r\nContent-Length: 5\r\n\r\n"
	if _, err := io.WriteString(conn, req+"hello"); err != nil {
		t.Fatalf("%v", err)
	}
	if resp, err := http.ReadResponse(br, nil); err != nil {
		t.Fatalf("%v", err)
	} else {
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	n.SetLink("a", "b", Blackhole, 0)
	if _, err := io.WriteString(conn, req+"again"); err != nil {
		t.Fatalf("%v", err)
	}
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := br.ReadByte(); err == nil {
		t.Fatalf("read through a blackhole succeeded")
	}
	n.Heal()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("after heal: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "echo:again" {
		t.Fatalf("after heal got %q, want echo:again", got)
	}
}
