package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LinkState is the state of the link between two members. The zero value
// passes traffic.
type LinkState int

const (
	// Pass forwards traffic unchanged.
	Pass LinkState = iota
	// Drop closes the link's open connections at once and refuses new
	// ones, like a firewall REJECT: a new connection is closed (after a
	// "503 Service Unavailable" for a Raft stream) before anything reaches
	// the member behind the proxy.
	Drop
	// Blackhole stalls the link like a firewall DROP: open connections
	// stop moving bytes (TCP back-pressure, nothing is lost; the members'
	// own timeouts must notice, and when the link heals, held traffic
	// flows on), and new connections are refused as with Drop.
	Blackhole
	// Delay forwards every chunk of traffic after the link's delay.
	Delay
)

func (s LinkState) String() string {
	switch s {
	case Pass:
		return "pass"
	case Drop:
		return "drop"
	case Blackhole:
		return "blackhole"
	case Delay:
		return "delay"
	}
	return "LinkState(" + strconv.Itoa(int(s)) + ")"
}

// peekLimit bounds the request head the proxy reads to learn a sender.
const peekLimit = 16 << 10

// Network is the set of TCP proxies in front of the members' peer
// listeners. Every member advertises its proxy's URL as its peer URL, so all
// traffic to a member's peer port (Raft streams, snapshots, forwarded client
// requests) passes its proxy.
//
// A proxy learns which member a connection comes from by finding the
// process that owns the connecting socket (/proc/net/tcp and
// /proc/<pid>/fd, over the pids that Owners returns), or failing that from
// the sender header of the first HTTP request on it (X-Cairn-From for
// cairn, X-Server-From for etcd, mapped to a name by SetID). A connection
// whose sender is unknown is cut only by rules that cut the receiving member
// off from every other member.
//
// Rules are per unordered pair of member names: a connection from a to b and
// one from b to a share the pair's state.
//
// A new connection that the proxy will not forward (Drop) or cannot forward
// (the member behind it is down) is closed. If it carries a sender header
// (a Raft stream or snapshot set-up), it is first answered "503 Service
// Unavailable" or "502 Bad Gateway", the way an HTTP reverse proxy would.
// The answer is needed because Go's HTTP client, and with it cairn's
// transport, waits forever for a response on a connection closed after
// accept while its streaming request body has nothing to send yet; a real
// refused connection fails at connect and does not hit this. Set
// SilentClose to close without an answer (TestPeerSilentClose). Other
// connections (forwarded client requests, probes) are closed silently, so
// the forwarding member sees a connection error, as it would without the
// proxy.
//
// All methods are safe for concurrent use.
type Network struct {
	logf func(format string, args ...any)

	// Owners, if set, returns the pids of the member processes by name; it
	// is called for every new connection.
	Owners func() map[int]string
	// SilentClose makes every refused connection close without an HTTP
	// answer, like a plain TCP proxy.
	SilentClose bool

	mu      sync.Mutex
	ids     map[uint64]string   // member ID -> name, set by the cluster
	links   map[[2]string]link  // pair (sorted) -> state
	conns   map[*proxyConn]bool // open connections
	changed chan struct{}       // closed and replaced on every rule change
	proxies []*proxy
	closed  bool
}

type link struct {
	state LinkState
	delay time.Duration
}

// NewNetwork returns an empty network; logf receives one line per rule change.
func NewNetwork(logf func(format string, args ...any)) *Network {
	return &Network{
		logf:    logf,
		ids:     make(map[uint64]string),
		links:   make(map[[2]string]link),
		conns:   make(map[*proxyConn]bool),
		changed: make(chan struct{}),
	}
}

// SetID tells the network which member name an ID belongs to.
func (n *Network) SetID(id uint64, name string) {
	n.mu.Lock()
	n.ids[id] = name
	n.mu.Unlock()
}

func pair(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// notifyLocked wakes every stalled connection to re-read its link state.
func (n *Network) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// SetLink sets the state of the link between members a and b. delay is used
// only with Delay. Open connections on the link are closed for Drop and
// change behaviour at their next chunk for the other states.
func (n *Network) SetLink(a, b string, state LinkState, delay time.Duration) {
	n.mu.Lock()
	n.links[pair(a, b)] = link{state: state, delay: delay}
	n.notifyLocked()
	var toClose []*proxyConn
	if state == Drop {
		for c := range n.conns {
			if from := n.senderLocked(c); from != "" && pair(from, c.to) == pair(a, b) {
				toClose = append(toClose, c)
			}
		}
	}
	n.mu.Unlock()
	if n.logf != nil {
		n.logf("network: %s <-> %s: %v %v", a, b, state, delay)
	}
	for _, c := range toClose {
		c.close()
	}
}

// Heal sets every link back to Pass.
func (n *Network) Heal() {
	n.mu.Lock()
	n.links = make(map[[2]string]link)
	n.notifyLocked()
	n.mu.Unlock()
	if n.logf != nil {
		n.logf("network: healed")
	}
}

// senderLocked returns the name of c's sender, or "".
func (n *Network) senderLocked(c *proxyConn) string {
	if c.fromName != "" {
		return c.fromName
	}
	if c.known {
		return n.ids[c.fromID]
	}
	return ""
}

// state returns the rule for c and a channel closed on the next rule
// change. A connection with an unknown sender is cut only when its member
// is cut from every other known member.
func (n *Network) state(c *proxyConn) (link, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if from := n.senderLocked(c); from != "" {
		return n.links[pair(from, c.to)], n.changed
	}
	var worst link
	others := 0
	seen := make(map[string]bool)
	for _, name := range n.ids {
		if name == c.to || seen[name] {
			continue
		}
		seen[name] = true
		others++
		l := n.links[pair(name, c.to)]
		if l.state == Pass {
			return link{}, n.changed
		}
		worst = l
	}
	if others == 0 {
		return link{}, n.changed
	}
	return worst, n.changed
}

// Listen starts a proxy for member name that forwards to target (host:port)
// and returns the proxy's address.
func (n *Network) Listen(name, target string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("e2e: proxy for %s: %w", name, err)
	}
	p := &proxy{n: n, name: name, target: target, ln: ln, done: make(chan struct{})}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		ln.Close()
		return "", errors.New("e2e: network closed")
	}
	n.proxies = append(n.proxies, p)
	n.mu.Unlock()
	go p.serve()
	return ln.Addr().String(), nil
}

// Close stops every proxy, closes every connection, and waits for the
// accept loops to exit.
func (n *Network) Close() {
	n.mu.Lock()
	n.closed = true
	proxies := n.proxies
	var conns []*proxyConn
	for c := range n.conns {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	for _, p := range proxies {
		p.ln.Close()
		<-p.done
	}
	for _, c := range conns {
		c.close()
	}
}

type proxy struct {
	n      *Network
	name   string
	target string
	ln     net.Listener
	done   chan struct{}
}

func (p *proxy) serve() {
	defer close(p.done)
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

type proxyConn struct {
	fromName string // from the socket's owner process
	fromID   uint64 // from the sender header
	known    bool   // fromID was read
	to       string
	in, out  net.Conn
	once     sync.Once
	done     chan struct{} // closed by close
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.in.Close()
		if c.out != nil {
			c.out.Close()
		}
	})
}

// wait blocks while c's link is blackholed; it returns the link state that
// ended the wait, or false if c was closed.
func (p *proxy) wait(c *proxyConn) (link, bool) {
	for {
		l, changed := p.n.state(c)
		if l.state != Blackhole {
			return l, true
		}
		select {
		case <-changed:
		case <-c.done:
			return l, false
		}
	}
}

const (
	answer502 = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
	answer503 = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)

func (p *proxy) handle(in net.Conn) {
	c := &proxyConn{to: p.name, in: in, done: make(chan struct{})}
	if p.n.Owners != nil {
		c.fromName = socketOwner(in, p.n.Owners())
	}
	// Learn the sender from the first request head. Peek one byte beyond
	// what is buffered at a time, so a short head is never waited on for
	// bytes that will not come. A peer always opens with a request, so
	// the deadline only bounds a broken client.
	in.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReaderSize(in, peekLimit)
	for want := 1; want <= peekLimit; {
		_, err := br.Peek(want)
		b, _ := br.Peek(br.Buffered())
		if i := strings.Index(string(b), "\r\n\r\n"); i >= 0 {
			c.fromID, c.known = sender(b[:i+4])
			break
		}
		if err != nil {
			break
		}
		want = br.Buffered() + 1
	}
	in.SetReadDeadline(time.Time{})

	p.n.mu.Lock()
	if p.n.closed {
		p.n.mu.Unlock()
		in.Close()
		return
	}
	p.n.conns[c] = true
	p.n.mu.Unlock()
	defer func() {
		p.n.mu.Lock()
		delete(p.n.conns, c)
		p.n.mu.Unlock()
		c.close()
	}()

	// A blackholed link refuses new connections like a dropped one: behind
	// a real blackhole the TCP handshake never completes and the dialer
	// times out, which a proxy that has already accepted cannot imitate
	// more closely. Answers go only to Raft streams (requests with a
	// sender header); see the Network doc for why.
	answer := c.known && !p.n.SilentClose
	if l, _ := p.n.state(c); l.state == Drop || l.state == Blackhole {
		if answer {
			io.WriteString(in, answer503)
		}
		return
	}
	out, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		if answer {
			io.WriteString(in, answer502)
		}
		return
	}
	c.out = out
	select {
	case <-c.done: // dropped while dialing
		out.Close()
		return
	default:
	}
	done := make(chan struct{}, 2)
	go func() { p.pump(c, out, br); done <- struct{}{} }()
	go func() { p.pump(c, in, out); done <- struct{}{} }()
	<-done
	c.close()
	<-done
}

// sender returns the member ID in a request head's sender header.
func sender(head []byte) (uint64, bool) {
	tp := textproto.NewReader(bufio.NewReader(strings.NewReader(string(head))))
	if _, err := tp.ReadLine(); err != nil {
		return 0, false
	}
	h, _ := tp.ReadMIMEHeader()
	v := h.Get("X-Cairn-From")
	if v == "" {
		v = h.Get("X-Server-From")
	}
	id, err := strconv.ParseUint(v, 16, 64)
	if v == "" || err != nil {
		return 0, false
	}
	return id, true
}

// pump copies src to dst chunk by chunk, applying the link's state to each
// chunk: stall while blackholed, delay, or stop on Drop.
func (p *proxy) pump(c *proxyConn, dst net.Conn, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		nr, err := src.Read(buf)
		if nr > 0 {
			l, ok := p.wait(c)
			if !ok || l.state == Drop {
				return
			}
			if l.state == Delay {
				t := time.NewTimer(l.delay)
				select {
				case <-t.C:
				case <-c.done:
					t.Stop()
					return
				}
			}
			if _, werr := dst.Write(buf[:nr]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// socketOwner returns the name of the process in owners (pid -> name) that
// owns the other end of conn, a loopback TCP connection, or "".
func socketOwner(conn net.Conn, owners map[int]string) string {
	if len(owners) == 0 {
		return ""
	}
	remote, ok1 := conn.RemoteAddr().(*net.TCPAddr)
	local, ok2 := conn.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return ""
	}
	inode := tcpInode(remote.Port, local.Port)
	if inode == "" {
		return ""
	}
	want := "socket:[" + inode + "]"
	for pid, name := range owners {
		dir := "/proc/" + strconv.Itoa(pid) + "/fd"
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && l == want {
				return name
			}
		}
	}
	return ""
}

// tcpInode returns the inode of the IPv4 TCP socket whose local port is
// lport and remote port rport, from /proc/net/tcp, or "".
func tcpInode(lport, rport int) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		if hexPort(fs[1]) == lport && hexPort(fs[2]) == rport {
			return fs[9]
		}
	}
	return ""
}

// hexPort parses the port of an /proc/net/tcp address "0100007F:1F90".
func hexPort(addr string) int {
	i := strings.IndexByte(addr, ':')
	if i < 0 {
		return -1
	}
	v, err := strconv.ParseUint(addr[i+1:], 16, 16)
	if err != nil {
		return -1
	}
	return int(v)
}
