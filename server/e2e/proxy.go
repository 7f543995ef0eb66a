package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Link states of the peer network. The zero value passes traffic.
type LinkState int

const (
	// Pass forwards traffic unchanged.
	Pass LinkState = iota
	// Drop closes the link's open connections and closes new ones at once,
	// like a peer that refuses connections (RST after accept).
	Drop
	// Blackhole keeps connections open but silently discards every byte in
	// both directions, like a cable cut without any error.
	Blackhole
	// Delay forwards traffic after the link's delay.
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
// Raft traffic to a member passes its proxy. A proxy learns which member a
// connection comes from by reading the sender header of the first HTTP
// request on it (etcd's X-Server-From, cairn's X-Cairn-From); connections
// without one (etcd's version probes) are "anonymous" and only obey rules
// that cut the receiving member off from everyone.
//
// Rules are per unordered pair of member names, so a connection from a to b
// and one from b to a share the pair's state.
//
// All methods are safe for concurrent use.
type Network struct {
	logf func(format string, args ...any)

	mu      sync.Mutex
	ids     map[uint64]string   // member ID -> name, set by the cluster
	links   map[[2]string]link  // pair (sorted) -> state
	conns   map[*proxyConn]bool // open connections
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
		logf:  logf,
		ids:   make(map[uint64]string),
		links: make(map[[2]string]link),
		conns: make(map[*proxyConn]bool),
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

// SetLink sets the state of the link between members a and b. delay is used
// only with Delay. Open connections on the link are closed for Drop and
// change behaviour at their next read for the other states.
func (n *Network) SetLink(a, b string, state LinkState, delay time.Duration) {
	n.mu.Lock()
	n.links[pair(a, b)] = link{state: state, delay: delay}
	var toClose []*proxyConn
	if state == Drop {
		for c := range n.conns {
			if from := n.ids[c.fromID]; c.known && from != "" && pair(from, c.to) == pair(a, b) {
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
	n.mu.Unlock()
	if n.logf != nil {
		n.logf("network: healed")
	}
}

// state returns the rule for a connection from -> to. An anonymous sender
// (!known, or an ID the cluster has not named yet) is cut only when to is
// cut from every other known member.
func (n *Network) state(fromID uint64, known bool, to string) link {
	n.mu.Lock()
	defer n.mu.Unlock()
	if from := n.ids[fromID]; known && from != "" {
		return n.links[pair(from, to)]
	}
	var worst link
	names := 0
	for _, name := range n.ids {
		if name == to {
			continue
		}
		names++
		l := n.links[pair(name, to)]
		if l.state == Pass {
			return link{}
		}
		worst = l
	}
	if names == 0 {
		return link{}
	}
	return worst
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

// Close stops every proxy and closes every connection, and waits for the
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
	fromID  uint64
	known   bool // fromID was read from the sender header
	to      string
	in, out net.Conn
	once    sync.Once
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		c.in.Close()
		if c.out != nil {
			c.out.Close()
		}
	})
}

func (p *proxy) handle(in net.Conn) {
	// Learn the sender from the first request head. A peer always opens
	// with a request, so this never waits on a silent client for long.
	in.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReaderSize(in, peekLimit)
	var fromID uint64
	known := false
	// Peek one more byte at a time beyond what is buffered, so a short head
	// is never waited on for bytes that will not come.
	for want := 1; want <= peekLimit; {
		_, err := br.Peek(want)
		b, _ := br.Peek(br.Buffered())
		if i := strings.Index(string(b), "\r\n\r\n"); i >= 0 {
			fromID, known = sender(b[:i+4])
			break
		}
		if err != nil {
			break
		}
		want = br.Buffered() + 1
	}
	in.SetReadDeadline(time.Time{})
	c := &proxyConn{fromID: fromID, known: known, to: p.name, in: in}
	if p.n.state(fromID, known, p.name).state == Drop {
		in.Close()
		return
	}
	out, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		in.Close()
		return
	}
	c.out = out
	p.n.mu.Lock()
	if p.n.closed {
		p.n.mu.Unlock()
		c.close()
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
// chunk.
func (p *proxy) pump(c *proxyConn, dst net.Conn, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		nr, err := src.Read(buf)
		if nr > 0 {
			l := p.n.state(c.fromID, c.known, c.to)
			switch l.state {
			case Drop:
				return
			case Blackhole:
				// Discard.
			case Delay:
				time.Sleep(l.delay)
				fallthrough
			default:
				if _, werr := dst.Write(buf[:nr]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
