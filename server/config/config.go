package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Errors, matched with errors.Is.
var (
	// ErrHelp is returned by Parse for -h/--help; print Usage and exit 0.
	ErrHelp = errors.New("config: help requested")
	// ErrUsage is returned (wrapped) for unknown flags, stray arguments and
	// values that do not parse.
	ErrUsage = errors.New("config: bad command line or environment")
	// ErrInvalid is returned (wrapped) by Validate for bad or inconsistent
	// settings.
	ErrInvalid = errors.New("config: invalid configuration")
)

// Cluster states for InitialClusterState.
const (
	StateNew      = "new"
	StateExisting = "existing"
)

// Limits on the timing settings.
const (
	// MinElectionToHeartbeat is the smallest ratio of election timeout to
	// heartbeat interval accepted (etcd 3 refuses less than 5).
	MinElectionToHeartbeat = 5
	// MaxElectionTimeout is the largest election timeout accepted (etcd's
	// 50 s limit).
	MaxElectionTimeout = 50 * time.Second
	// MinWALSegmentSize is the smallest --max-wal-segment-size accepted.
	MinWALSegmentSize = 64 << 10
)

// Member is one entry of the initial cluster: a name and its peer URLs.
type Member struct {
	Name     string
	PeerURLs []url.URL
}

// Config holds the start-up settings of one member.
//
// Invariant (after Validate): Name appears in InitialCluster, and that
// member's PeerURLs equal InitialAdvertisePeerURLs as a set.
type Config struct {
	Name    string
	DataDir string

	ListenClientURLs         []url.URL
	AdvertiseClientURLs      []url.URL
	ListenPeerURLs           []url.URL
	InitialAdvertisePeerURLs []url.URL

	// InitialCluster lists the members in the order of their first
	// appearance in --initial-cluster.
	InitialCluster      []Member
	InitialClusterState string // StateNew or StateExisting
	InitialClusterToken string

	HeartbeatInterval time.Duration
	ElectionTimeout   time.Duration
	SnapshotCount     uint64
	// WatchHistory is how many past events the store keeps for watches
	// from an index (cairn's --watch-history; etcd keeps 1000).
	WatchHistory int

	// LogLevel is one of debug, info, warn, error.
	LogLevel string
	// MaxWALSegmentSize is the size in bytes at which the WAL starts a new
	// segment file.
	MaxWALSegmentSize int64
	// WALDirectIO writes the WAL tail with O_DIRECT where the file system
	// supports it (wal.Options.DirectIO; --wal-direct-io, default true).
	WALDirectIO bool

	// Version is set by --version: print the version and exit.
	Version bool

	// Warnings lists non-fatal findings (ignored or shadowed environment
	// variables, ignored flags) for the caller to log.
	Warnings []string
}

// Validate checks c for bad and inconsistent settings and returns an error
// wrapping ErrInvalid that names the first problem found.
func (c *Config) Validate() error {
	if c.Name == "" {
		return invalid("--name must not be empty")
	}
	if c.DataDir == "" {
		return invalid("--data-dir must not be empty")
	}
	if err := checkURLs("--listen-client-urls", c.ListenClientURLs, true); err != nil {
		return err
	}
	if err := checkURLs("--advertise-client-urls", c.AdvertiseClientURLs, false); err != nil {
		return err
	}
	if err := checkURLs("--listen-peer-urls", c.ListenPeerURLs, true); err != nil {
		return err
	}
	if err := checkURLs("--initial-advertise-peer-urls", c.InitialAdvertisePeerURLs, false); err != nil {
		return err
	}
	if err := checkOverlap("--listen-client-urls", c.ListenClientURLs, "--listen-peer-urls", c.ListenPeerURLs); err != nil {
		return err
	}
	if err := checkOverlap("--advertise-client-urls", c.AdvertiseClientURLs, "--initial-advertise-peer-urls", c.InitialAdvertisePeerURLs); err != nil {
		return err
	}
	if err := c.checkCluster(); err != nil {
		return err
	}
	switch c.InitialClusterState {
	case StateNew, StateExisting:
	default:
		return invalid("--initial-cluster-state %q: want %q or %q", c.InitialClusterState, StateNew, StateExisting)
	}
	if c.InitialClusterToken == "" {
		return invalid("--initial-cluster-token must not be empty")
	}
	if c.HeartbeatInterval <= 0 {
		return invalid("--heartbeat-interval must be positive, got %dms", c.HeartbeatInterval.Milliseconds())
	}
	if c.ElectionTimeout < MinElectionToHeartbeat*c.HeartbeatInterval {
		return invalid("--election-timeout[%dms] must be at least %d times --heartbeat-interval[%dms]",
			c.ElectionTimeout.Milliseconds(), MinElectionToHeartbeat, c.HeartbeatInterval.Milliseconds())
	}
	if c.ElectionTimeout > MaxElectionTimeout {
		return invalid("--election-timeout[%dms] is too long; the maximum is %dms",
			c.ElectionTimeout.Milliseconds(), MaxElectionTimeout.Milliseconds())
	}
	if c.SnapshotCount == 0 {
		return invalid("--snapshot-count must be positive")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return invalid("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.MaxWALSegmentSize < MinWALSegmentSize {
		return invalid("--max-wal-segment-size %d is below the minimum %d bytes", c.MaxWALSegmentSize, MinWALSegmentSize)
	}
	return nil
}

func (c *Config) checkCluster() error {
	if len(c.InitialCluster) == 0 {
		return invalid("--initial-cluster must not be empty")
	}
	owner := map[string]string{} // peer URL -> member name
	names := map[string]bool{}
	var self *Member
	for i := range c.InitialCluster {
		m := &c.InitialCluster[i]
		if m.Name == "" {
			return invalid("--initial-cluster: a member has an empty name")
		}
		if names[m.Name] {
			return invalid("--initial-cluster: member %q is listed twice", m.Name)
		}
		names[m.Name] = true
		if len(m.PeerURLs) == 0 {
			return invalid("--initial-cluster: member %q has no peer URLs", m.Name)
		}
		if err := checkURLs(fmt.Sprintf("--initial-cluster member %q", m.Name), m.PeerURLs, false); err != nil {
			return err
		}
		for _, u := range m.PeerURLs {
			s := u.String()
			if other, ok := owner[s]; ok && other != m.Name {
				return invalid("--initial-cluster: peer URL %s is used by both %q and %q", s, other, m.Name)
			}
			owner[s] = m.Name
		}
		if m.Name == c.Name {
			self = m
		}
	}
	if self == nil {
		return invalid("--name %q is not in --initial-cluster %q (add %s=<peer URL>)", c.Name, FormatCluster(c.InitialCluster), c.Name)
	}
	if !sameURLSet(self.PeerURLs, c.InitialAdvertisePeerURLs) {
		return invalid("--initial-advertise-peer-urls %q do not match this member's --initial-cluster entry %s=%q",
			joinURLs(c.InitialAdvertisePeerURLs), c.Name, joinURLs(self.PeerURLs))
	}
	return nil
}

// checkURLs validates one URL list; listen lists must name an IP address (or
// localhost) to bind, advertised lists must not name the unspecified address.
func checkURLs(what string, urls []url.URL, listen bool) error {
	if len(urls) == 0 {
		return invalid("%s must not be empty", what)
	}
	seen := map[string]bool{}
	for _, u := range urls {
		s := u.String()
		if seen[s] {
			return invalid("%s: duplicate URL %s", what, s)
		}
		seen[s] = true
		switch u.Scheme {
		case "http":
		case "https", "unixs":
			return invalid("%s: %s: TLS is not supported; use http", what, s)
		default:
			return invalid("%s: %s: scheme must be http", what, s)
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			return invalid("%s: %s: must be scheme://host:port only, with no user, path, query or fragment", what, s)
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil || host == "" || port == "" {
			return invalid("%s: %s: must include a host and a port", what, s)
		}
		ip := net.ParseIP(host)
		if listen && ip == nil && host != "localhost" {
			return invalid("%s: %s: expected an IP address (or localhost) to bind to, not a host name", what, s)
		}
		if !listen && ip != nil && ip.IsUnspecified() {
			return invalid("%s: %s: cannot advertise the unspecified address %s; give an address other members and clients can reach", what, s, host)
		}
	}
	return nil
}

// checkOverlap refuses client and peer URLs that name the same socket: the
// same port on the same host, on the unspecified address, or on loopback.
func checkOverlap(aName string, a []url.URL, bName string, b []url.URL) error {
	for _, x := range a {
		for _, y := range b {
			xh, xp, _ := net.SplitHostPort(x.Host)
			yh, yp, _ := net.SplitHostPort(y.Host)
			if xp != yp {
				continue
			}
			if strings.EqualFold(xh, yh) || unspecified(xh) || unspecified(yh) || (loopback(xh) && loopback(yh)) {
				return invalid("%s %s and %s %s use the same port on the same address", aName, x.String(), bName, y.String())
			}
		}
	}
	return nil
}

func unspecified(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sameURLSet(a, b []url.URL) bool {
	as, bs := urlStrings(a), urlStrings(b)
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(slices.Compact(as), slices.Compact(bs))
}

func urlStrings(urls []url.URL) []string {
	s := make([]string, len(urls))
	for i := range urls {
		s[i] = urls[i].String()
	}
	return s
}

func joinURLs(urls []url.URL) string { return strings.Join(urlStrings(urls), ",") }

// FormatCluster renders members in --initial-cluster syntax.
func FormatCluster(members []Member) string {
	var parts []string
	for _, m := range members {
		for _, u := range m.PeerURLs {
			parts = append(parts, m.Name+"="+u.String())
		}
	}
	return strings.Join(parts, ",")
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
