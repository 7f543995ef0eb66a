package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// ErrNotReady is returned (wrapped) when a started server does not answer
// in time or exits first.
var ErrNotReady = errors.New("conformance: server not ready")

// Server is one single-member etcd or cairn process started for a run.
// Both binaries take the same etcd flags.
type Server struct {
	Bin       string
	ClientURL string // http://127.0.0.1:port
	PeerURL   string
	ClusterID string // from X-Etcd-Cluster-Id
	MemberID  string // hex, from /v2/members
	LogPath   string

	cmd    *exec.Cmd
	exited chan struct{}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Start starts bin as a fresh single-member cluster with its data under
// dir and waits (bounded by ctx) until it serves /v2/keys with a leader.
// The process is killed if the caller dies (Pdeathsig).
func Start(ctx context.Context, bin, dir string) (*Server, error) {
	cp, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	pp, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	s := &Server{
		Bin:       bin,
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", cp),
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", pp),
		LogPath:   filepath.Join(dir, "server.log"),
		exited:    make(chan struct{}),
	}
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	s.cmd = exec.Command(bin,
		"--enable-v2=true",
		"--name=conf",
		"--data-dir="+filepath.Join(dir, "data"),
		"--listen-client-urls="+s.ClientURL,
		"--advertise-client-urls="+s.ClientURL,
		"--listen-peer-urls="+s.PeerURL,
		"--initial-advertise-peer-urls="+s.PeerURL,
		"--initial-cluster=conf="+s.PeerURL,
		"--initial-cluster-token=conformance",
	)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("conformance: start %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// waitReady polls (with backoff, bounded by ctx) until a GET of
// /v2/members answers and /health says true. Process start-up has no
// other signal both binaries share.
func (s *Server) waitReady(ctx context.Context) error {
	c := &http.Client{Timeout: time.Second}
	delay := 10 * time.Millisecond
	var last error
	for {
		if err := s.probe(c); err == nil {
			return nil
		} else {
			last = err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %s: %v (last: %v; log %s)", ErrNotReady, s.Bin, ctx.Err(), last, s.LogPath)
		case <-s.exited:
			t.Stop()
			return fmt.Errorf("%w: %s exited (log %s)", ErrNotReady, s.Bin, s.LogPath)
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

func (s *Server) probe(c *http.Client) error {
	resp, err := c.Get(s.ClientURL + "/health")
	if err != nil {
		return err
	}
	var h struct{ Health string }
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || h.Health != "true" {
		return fmt.Errorf("health %d %q %v", resp.StatusCode, h.Health, err)
	}
	resp, err = c.Get(s.ClientURL + "/v2/members")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var m struct {
		Members []struct{ ID string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return err
	}
	if resp.StatusCode != 200 || len(m.Members) != 1 {
		return fmt.Errorf("members: %d %v", resp.StatusCode, m)
	}
	s.MemberID = m.Members[0].ID
	s.ClusterID = resp.Header.Get("X-Etcd-Cluster-Id")
	return nil
}

// Close kills the process and waits for it to exit; it is idempotent.
func (s *Server) Close() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}
