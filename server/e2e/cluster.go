package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Harness errors.
var (
	// ErrNotReady: a member did not become healthy within the deadline.
	ErrNotReady = errors.New("e2e: member not ready")
	// ErrNoLeader: no member reported a leader within the deadline.
	ErrNoLeader = errors.New("e2e: no leader")
)

// TB is the part of testing.TB the harness uses (so this file does not
// import testing).
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Failed() bool
	Name() string
}

// Flavor is the daemon under test: cairn or the reference etcd.
type Flavor struct {
	Name  string   // "cairn" or "etcd"
	Bin   string   // path of the binary
	Extra []string // flags added to every start
}

// Etcd returns the reference-etcd flavor for binary bin.
func Etcd(bin string) Flavor {
	return Flavor{Name: "etcd", Bin: bin, Extra: []string{"--enable-v2=true"}}
}

// Cairn returns the cairn flavor for binary bin.
func Cairn(bin string) Flavor {
	return Flavor{Name: "cairn", Bin: bin}
}

// Config describes a cluster to start.
type Config struct {
	Flavor        Flavor
	Size          int    // members started at once; at least 1
	HeartbeatMS   int    // --heartbeat-interval; 0 means 50
	ElectionMS    int    // --election-timeout; 0 means 500
	SnapshotCount int    // --snapshot-count; 0 leaves the daemon's default
	Token         string // --initial-cluster-token; "" means a fixed test token
	// ReadyTimeout bounds waiting for /health; 0 means 30 s.
	ReadyTimeout time.Duration
	// ClientTimeout bounds each request of the harness's clients; 0 means 2 s.
	ClientTimeout time.Duration
}

// Cluster is a set of member processes on loopback, each behind a peer
// proxy in Net. Every process is SIGKILLed in a cleanup registered by
// NewCluster, and the members' logs are printed if the test failed.
//
// The methods that take no TB return errors; those that take one fail the
// test. Cluster is safe for use by one test goroutine plus load goroutines
// that only use clients.
type Cluster struct {
	t   TB
	cfg Config
	dir string
	Net *Network

	mu      sync.Mutex
	members []*Proc // every member ever started, in order
	next    int     // next member number
}

// Proc is one member: its ports, its data dir and its current process.
type Proc struct {
	Name      string
	DataDir   string
	ClientURL string // where clients talk to it
	PeerAddr  string // its real peer listener, host:port
	ProxyURL  string // its advertised peer URL (the proxy)
	LogPath   string
	ID        string // hex member ID, once known
	Removed   bool   // removed from the cluster by the test

	c       *Cluster
	args    []string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	started time.Time
	// reserved holds the member's ports until its first start.
	reserved []*reservation
}

// NewCluster starts cfg.Size members with --initial-cluster-state new and
// waits until every member is healthy.
func NewCluster(t TB, cfg Config) *Cluster {
	t.Helper()
	c := NewUnstartedCluster(t, cfg)
	var names []string
	for i := 0; i < cfg.Size; i++ {
		names = append(names, c.newProc().Name)
	}
	initial := c.initialCluster(c.Members())
	for _, p := range c.Members() {
		p.args = c.args(p, initial, "new")
		if err := p.Start(); err != nil {
			t.Fatalf("%v", err)
		}
	}
	if err := c.WaitReady(c.Members()...); err != nil {
		t.Fatalf("cluster %v: %v", names, err)
	}
	if err := c.LearnIDs(); err != nil {
		t.Fatalf("%v", err)
	}
	return c
}

// NewUnstartedCluster returns a cluster with no members, its cleanup
// registered.
func NewUnstartedCluster(t TB, cfg Config) *Cluster {
	t.Helper()
	if cfg.HeartbeatMS == 0 {
		cfg.HeartbeatMS = 50
	}
	if cfg.ElectionMS == 0 {
		cfg.ElectionMS = 500
	}
	if cfg.Token == "" {
		cfg.Token = "cairn-e2e"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	if cfg.ClientTimeout == 0 {
		cfg.ClientTimeout = 2 * time.Second
	}
	c := &Cluster{t: t, cfg: cfg, dir: t.TempDir(), next: 1}
	c.Net = NewNetwork(t.Logf)
	c.Net.Owners = c.pids
	t.Cleanup(func() {
		for _, p := range c.Members() {
			p.kill()
			p.mu.Lock()
			for _, ln := range p.reserved {
				ln.Close()
			}
			p.mu.Unlock()
		}
		c.Net.Close()
		if dir := os.Getenv("CAIRN_E2E_LOGDIR"); dir != "" {
			for _, p := range c.Members() {
				if b, err := os.ReadFile(p.LogPath); err == nil {
					_ = os.WriteFile(filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+"-"+p.Name+".log"), b, 0o644)
				}
			}
		}
		if t.Failed() {
			for _, p := range c.Members() {
				t.Logf("---- log of %s (%s) ----\n%s", p.Name, p.LogPath, tail(p.LogPath, 80))
			}
		}
	})
	return c
}

// pids returns the running members' pids by name.
func (c *Cluster) pids() map[int]string {
	m := make(map[int]string)
	for _, p := range c.Members() {
		p.mu.Lock()
		if p.cmd != nil && p.cmd.Process != nil {
			select {
			case <-p.exited:
			default:
				m[p.cmd.Process.Pid] = p.Name
			}
		}
		p.mu.Unlock()
	}
	return m
}

// Config returns the cluster's configuration with defaults filled in.
func (c *Cluster) Config() Config { return c.cfg }

// Members returns every member started so far, removed ones included.
func (c *Cluster) Members() []*Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Proc(nil), c.members...)
}

// Live returns the members not removed and whose process is running.
func (c *Cluster) Live() []*Proc {
	var out []*Proc
	for _, p := range c.Members() {
		if !p.Removed && p.Running() {
			out = append(out, p)
		}
	}
	return out
}

// Voters returns the members not removed by the test.
func (c *Cluster) Voters() []*Proc {
	var out []*Proc
	for _, p := range c.Members() {
		if !p.Removed {
			out = append(out, p)
		}
	}
	return out
}

// Member returns the member called name, or nil.
func (c *Cluster) Member(name string) *Proc {
	for _, p := range c.Members() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// reservation holds a loopback port: a TCP socket bound to it but not
// listening, so the kernel hands the port to nobody else (bind to port 0
// skips it) while connections to it are refused, as to a member that is
// not running yet. It is closed just before the member binds the port.
type reservation struct {
	fd   int
	addr string
}

func reservePort() (*reservation, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("e2e: reserve port: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("e2e: reserve port: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	in4, ok := sa.(*syscall.SockaddrInet4)
	if err != nil || !ok {
		syscall.Close(fd)
		return nil, fmt.Errorf("e2e: reserve port: getsockname: %v", err)
	}
	return &reservation{fd: fd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(in4.Port))}, nil
}

func (r *reservation) Close() error { return syscall.Close(r.fd) }

// newProc allocates a member's ports, proxy and directories.
func (c *Cluster) newProc() *Proc {
	c.t.Helper()
	c.mu.Lock()
	name := "m" + strconv.Itoa(c.next)
	c.next++
	c.mu.Unlock()
	clientLn, err := reservePort()
	if err != nil {
		c.t.Fatalf("%v", err)
	}
	peerLn, err := reservePort()
	if err != nil {
		c.t.Fatalf("%v", err)
	}
	client, peer := clientLn.addr, peerLn.addr
	proxy, err := c.Net.Listen(name, peer)
	if err != nil {
		c.t.Fatalf("%v", err)
	}
	p := &Proc{
		Name:      name,
		DataDir:   filepath.Join(c.dir, name+".data"),
		ClientURL: "http://" + client,
		PeerAddr:  peer,
		ProxyURL:  "http://" + proxy,
		LogPath:   filepath.Join(c.dir, name+".log"),
		c:         c,
		reserved:  []*reservation{clientLn, peerLn},
	}
	c.mu.Lock()
	c.members = append(c.members, p)
	c.mu.Unlock()
	return p
}

func (c *Cluster) initialCluster(ps []*Proc) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, p.Name+"="+p.ProxyURL)
	}
	return strings.Join(parts, ",")
}

func (c *Cluster) args(p *Proc, initial, state string) []string {
	a := []string{
		"--name=" + p.Name,
		"--data-dir=" + p.DataDir,
		"--listen-client-urls=" + p.ClientURL,
		"--advertise-client-urls=" + p.ClientURL,
		"--listen-peer-urls=http://" + p.PeerAddr,
		"--initial-advertise-peer-urls=" + p.ProxyURL,
		"--initial-cluster=" + initial,
		"--initial-cluster-state=" + state,
		"--initial-cluster-token=" + c.cfg.Token,
		"--heartbeat-interval=" + strconv.Itoa(c.cfg.HeartbeatMS),
		"--election-timeout=" + strconv.Itoa(c.cfg.ElectionMS),
	}
	if c.cfg.SnapshotCount > 0 {
		a = append(a, "--snapshot-count="+strconv.Itoa(c.cfg.SnapshotCount))
	}
	return append(a, c.cfg.Flavor.Extra...)
}

// Client returns a new client for p recording into h (may be nil).
func (p *Proc) Client(h *History) *Client {
	return NewClient(p.ClientURL, p.c.cfg.ClientTimeout, h)
}

// Running reports whether p's process is running.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Started returns when p's current process was started.
func (p *Proc) Started() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// Start starts p's process with the arguments of its last start. The
// process gets SIGKILL if the test binary dies (Pdeathsig), and its
// output is appended to LogPath.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.exited:
		default:
			return fmt.Errorf("e2e: %s: already running", p.Name)
		}
	}
	for _, ln := range p.reserved {
		ln.Close()
	}
	p.reserved = nil
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("e2e: %s: %w", p.Name, err)
	}
	fmt.Fprintf(logf, "==== e2e: %s start %s %s\n", time.Now().Format(time.RFC3339Nano), p.c.cfg.Flavor.Bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.c.cfg.Flavor.Bin, p.args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("e2e: %s: start: %w", p.Name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.started = cmd, exited, time.Now()
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logf, "==== e2e: %s exited: %v\n", time.Now().Format(time.RFC3339Nano), err)
		logf.Close()
		close(exited)
	}()
	return nil
}

// cleanEnv is the environment without ETCD_* and CAIRN_* variables, so the
// caller's settings cannot change the members' flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ETCD_") || strings.HasPrefix(kv, "CAIRN_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// signal sends sig to p's process (by the pid the harness started) and
// waits up to wait for it to exit; it returns false if it did not.
func (p *Proc) signal(sig syscall.Signal, wait time.Duration) bool {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return true
	}
	select {
	case <-exited:
		return true
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return true
	case <-time.After(wait):
		return false
	}
}

func (p *Proc) kill() { p.signal(syscall.SIGKILL, 10*time.Second) }

// Kill SIGKILLs p and waits for it to exit.
func (p *Proc) Kill() error {
	if !p.signal(syscall.SIGKILL, 10*time.Second) {
		return fmt.Errorf("e2e: %s: did not exit after SIGKILL", p.Name)
	}
	return nil
}

// Stop SIGTERMs p and waits up to 10 s for it to exit, then SIGKILLs it.
// It returns an error if SIGTERM was not enough.
func (p *Proc) Stop() error {
	if p.signal(syscall.SIGTERM, 10*time.Second) {
		return nil
	}
	p.kill()
	return fmt.Errorf("e2e: %s: did not exit within 10 s of SIGTERM", p.Name)
}

// Pause stops p with SIGSTOP (a process pause, as Jepsen's pause nemesis);
// Resume continues it with SIGCONT.
func (p *Proc) Pause() error { return p.sendOnly(syscall.SIGSTOP) }

// Resume continues a paused p.
func (p *Proc) Resume() error { return p.sendOnly(syscall.SIGCONT) }

func (p *Proc) sendOnly(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || !p.Running() {
		return fmt.Errorf("e2e: %s: %v: not running", p.Name, sig)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("e2e: %s: %v: %w", p.Name, sig, err)
	}
	return nil
}

// Wipe deletes p's data directory; p must not be running.
func (p *Proc) Wipe() error {
	if p.Running() {
		return fmt.Errorf("e2e: %s: wipe while running", p.Name)
	}
	if err := os.RemoveAll(p.DataDir); err != nil {
		return fmt.Errorf("e2e: %s: wipe: %w", p.Name, err)
	}
	return nil
}

// Healthy reports whether p answers /health with true.
func (p *Proc) Healthy() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return p.Client(nil).Healthy(ctx)
}

// WaitReady polls /health of every given member every 20 ms until all are
// healthy, bounded by the cluster's ReadyTimeout.
func (c *Cluster) WaitReady(ps ...*Proc) error {
	deadline := time.Now().Add(c.cfg.ReadyTimeout)
	max := int(c.cfg.ReadyTimeout/(20*time.Millisecond)) + 1
	for _, p := range ps {
		cl := p.Client(nil)
		ok := false
		for i := 0; i < max && time.Now().Before(deadline); i++ {
			if !p.Running() {
				return fmt.Errorf("%w: %s exited:\n%s", ErrNotReady, p.Name, tail(p.LogPath, 30))
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			ok = cl.Healthy(ctx)
			cancel()
			if ok {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cl.CloseIdle()
		if !ok {
			return fmt.Errorf("%w: %s after %v", ErrNotReady, p.Name, c.cfg.ReadyTimeout)
		}
	}
	return nil
}

// LearnIDs reads /v2/members from a live member, records every member's ID
// and tells the network the names behind the IDs.
func (c *Cluster) LearnIDs() error {
	var lastErr error = ErrNotReady
	for _, q := range c.Live() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ms, err := q.Client(nil).Members(ctx)
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		for _, m := range ms {
			for _, p := range c.Members() {
				for _, u := range m.PeerURLs {
					if u == p.ProxyURL {
						p.ID = m.ID
						if id, err := strconv.ParseUint(m.ID, 16, 64); err == nil {
							c.Net.SetID(id, p.Name)
						}
					}
				}
			}
		}
		return nil
	}
	return fmt.Errorf("e2e: learn member IDs: %w", lastErr)
}

// Leader returns the member that the live members agree is the leader,
// polling every 20 ms within timeout.
func (c *Cluster) Leader(timeout time.Duration) (*Proc, error) {
	deadline := time.Now().Add(timeout)
	max := int(timeout/(20*time.Millisecond)) + 1
	for i := 0; i < max && time.Now().Before(deadline); i++ {
		if l := c.leaderOnce(); l != nil {
			return l, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("%w within %v", ErrNoLeader, timeout)
}

func (c *Cluster) leaderOnce() *Proc {
	var id string
	live := c.Live()
	if len(live) == 0 {
		return nil
	}
	for _, p := range live {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		m, err := p.Client(nil).Leader(ctx)
		cancel()
		if err != nil || (id != "" && m.ID != id) {
			return nil
		}
		id = m.ID
	}
	for _, p := range c.Members() {
		if p.ID != "" && p.ID == id && p.Running() {
			return p
		}
	}
	return nil
}

// Followers returns the live members other than l.
func (c *Cluster) Followers(l *Proc) []*Proc {
	var out []*Proc
	for _, p := range c.Live() {
		if p != l {
			out = append(out, p)
		}
	}
	return out
}

// AddMember adds a new member through via (a live member): POST
// /v2/members with the new member's proxy URL (as a learner if learner),
// then starts it with --initial-cluster-state existing. It does not wait
// for the new member to be healthy.
func (c *Cluster) AddMember(via *Proc, learner bool) (*Proc, error) {
	p := c.newProc()
	m, err := c.addMember(via, p.ProxyURL, learner)
	if err != nil {
		p.Removed = true
		return nil, fmt.Errorf("e2e: add %s via %s: %w", p.Name, via.Name, err)
	}
	p.ID = m.ID
	if id, err := strconv.ParseUint(m.ID, 16, 64); err == nil {
		c.Net.SetID(id, p.Name)
	}
	p.args = c.args(p, c.initialCluster(c.Voters()), "existing")
	if err := p.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// addRetryFor bounds retrying a member add that the cluster refuses as
// unhealthy (etcd refuses adds until every member has been connected for
// 5 s).
const addRetryFor = 20 * time.Second

// addMember posts a member add, retrying on 5xx answers and timeouts every
// 200 ms within addRetryFor. A 409 after a retry means an earlier attempt
// took effect; the member is then looked up by its peer URL.
func (c *Cluster) addMember(via *Proc, peerURL string, learner bool) (Member, error) {
	cl := via.Client(nil)
	defer cl.CloseIdle()
	deadline := time.Now().Add(addRetryFor)
	var err error
	for i := 0; i < int(addRetryFor/(200*time.Millisecond))+1 && time.Now().Before(deadline); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var m Member
		m, err = cl.AddMember(ctx, []string{peerURL}, learner)
		cancel()
		if err == nil {
			return m, nil
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == 409 && i > 0 {
			return c.memberByPeerURL(via, peerURL)
		}
		if !errors.Is(err, ErrTimeout) && !(errors.As(err, &ae) && ae.Status >= 500) {
			return Member{}, err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return Member{}, err
}

func (c *Cluster) memberByPeerURL(via *Proc, peerURL string) (Member, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ms, err := via.Client(nil).Members(ctx)
	if err != nil {
		return Member{}, err
	}
	for _, m := range ms {
		for _, u := range m.PeerURLs {
			if u == peerURL {
				return m, nil
			}
		}
	}
	return Member{}, fmt.Errorf("e2e: no member with peer URL %s", peerURL)
}

// RemoveMember removes p from the cluster through via and marks it removed;
// it does not stop p's process. Like adds, removals the cluster refuses as
// unhealthy (5xx) or that time out are retried every 200 ms within
// addRetryFor; a 404 or 410 after a retry means an earlier attempt took
// effect.
func (c *Cluster) RemoveMember(via, p *Proc) error {
	cl := via.Client(nil)
	defer cl.CloseIdle()
	deadline := time.Now().Add(addRetryFor)
	var err error
	for i := 0; i < int(addRetryFor/(200*time.Millisecond))+1 && time.Now().Before(deadline); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = cl.RemoveMember(ctx, p.ID)
		cancel()
		var ae *APIError
		if err == nil || (i > 0 && errors.As(err, &ae) && (ae.Status == 404 || ae.Status == 410)) {
			p.Removed = true
			return nil
		}
		if !errors.Is(err, ErrTimeout) && !(errors.As(err, &ae) && ae.Status >= 500) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("e2e: remove %s via %s: %w", p.Name, via.Name, err)
}

// Rejoin gives a removed member back a place: it is added as a new member
// with the same name, ports and (wiped) data dir, and started.
func (c *Cluster) Rejoin(via, p *Proc) error {
	m, err := c.addMember(via, p.ProxyURL, false)
	if err != nil {
		return fmt.Errorf("e2e: re-add %s via %s: %w", p.Name, via.Name, err)
	}
	p.ID = m.ID
	if id, err := strconv.ParseUint(m.ID, 16, 64); err == nil {
		c.Net.SetID(id, p.Name)
	}
	p.Removed = false
	p.args = c.args(p, c.initialCluster(c.Voters()), "existing")
	return p.Start()
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 2*n {
			lines = append([]string(nil), lines[len(lines)-n:]...)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
