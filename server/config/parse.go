package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults. DefaultDataDir and the --initial-cluster default derive from the
// name (see Parse).
const (
	DefaultName                     = "default"
	DefaultListenClientURLs         = "http://127.0.0.1:2379"
	DefaultAdvertiseClientURLs      = "http://localhost:2379"
	DefaultListenPeerURLs           = "http://127.0.0.1:2380"
	DefaultInitialAdvertisePeerURLs = "http://localhost:2380"
	DefaultInitialClusterState      = StateNew
	DefaultInitialClusterToken      = "etcd-cluster"
	DefaultHeartbeatMs              = 100
	DefaultElectionMs               = 1000
	DefaultSnapshotCount            = 10000
	DefaultWatchHistory             = 10000
	DefaultLogLevel                 = "info"
	DefaultMaxWALSegmentSize        = 4 << 20 // wal.DefaultSegmentSize
)

// flagSpec describes one flag. Every flag except the ones with noEnv set can
// also come from the environment.
type flagSpec struct {
	name   string
	def    string // "" for derived defaults
	isBool bool
	noEnv  bool
}

var flagSpecs = []flagSpec{
	{name: "name", def: DefaultName},
	{name: "data-dir"},
	{name: "listen-client-urls", def: DefaultListenClientURLs},
	{name: "advertise-client-urls", def: DefaultAdvertiseClientURLs},
	{name: "listen-peer-urls", def: DefaultListenPeerURLs},
	{name: "initial-advertise-peer-urls", def: DefaultInitialAdvertisePeerURLs},
	{name: "initial-cluster"},
	{name: "initial-cluster-state", def: DefaultInitialClusterState},
	{name: "initial-cluster-token", def: DefaultInitialClusterToken},
	{name: "heartbeat-interval", def: strconv.Itoa(DefaultHeartbeatMs)},
	{name: "election-timeout", def: strconv.Itoa(DefaultElectionMs)},
	{name: "snapshot-count", def: strconv.Itoa(DefaultSnapshotCount)},
	{name: "enable-v2", def: "true", isBool: true},
	{name: "log-level", def: DefaultLogLevel},
	{name: "max-wal-segment-size", def: strconv.Itoa(DefaultMaxWALSegmentSize)},
	{name: "watch-history", def: strconv.Itoa(DefaultWatchHistory)},
	{name: "wal-direct-io", def: "true", isBool: true},
	// ETCD_VERSION is a common variable in container images; it must not
	// turn the daemon into "print the version and exit".
	{name: "version", def: "false", isBool: true, noEnv: true},
}

// ignoredEnv lists ETCD_/CAIRN_ variables that are not flags but are not
// typos either, so they draw no warning.
var ignoredEnv = map[string]bool{
	"ETCD_UNSUPPORTED_ARCH": true,
	"ETCD_VERSION":          true,
}

// Environment variable prefixes, highest precedence first.
var envPrefixes = []string{"CAIRN_", "ETCD_"}

// envName returns the variable name for flag name under prefix.
func envName(prefix, name string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Parse builds a Config from command-line arguments (without the program
// name) and an environment in os.Environ form, applies the defaults, and
// validates the result. See the package documentation for precedence.
// It returns ErrHelp for -h/--help, an error wrapping ErrUsage for flags or
// values that do not parse, and one wrapping ErrInvalid for bad settings.
func Parse(args []string, env []string) (*Config, error) {
	fs := flag.NewFlagSet("cairn", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	vals := map[string]*string{}
	bools := map[string]*bool{}
	specs := map[string]flagSpec{}
	for _, s := range flagSpecs {
		specs[s.name] = s
		if s.isBool {
			bools[s.name] = fs.Bool(s.name, s.def == "true", "")
		} else {
			vals[s.name] = fs.String(s.name, s.def, "")
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, ErrHelp
		}
		return nil, fmt.Errorf("%w: %v (see --help)", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q: flags only (see --help)", ErrUsage, fs.Arg(0))
	}

	// source records where each flag that was given came from: "--name" or
	// "CAIRN_NAME"; flags left at their default are absent.
	source := map[string]string{}
	fs.Visit(func(f *flag.Flag) { source[f.Name] = "--" + f.Name })

	var warnings []string
	fromEnv := map[string]map[string]string{} // flag -> prefix -> value
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		var prefix string
		for _, p := range envPrefixes {
			if strings.HasPrefix(k, p) {
				prefix = p
			}
		}
		if prefix == "" || ignoredEnv[k] {
			continue
		}
		name := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, prefix), "_", "-"))
		if s, ok := specs[name]; !ok || s.noEnv || envName(prefix, name) != k {
			warnings = append(warnings, fmt.Sprintf("config: unrecognized environment variable %s, ignored", kv))
			continue
		}
		if fromEnv[name] == nil {
			fromEnv[name] = map[string]string{}
		}
		fromEnv[name][prefix] = v
	}
	for _, s := range flagSpecs {
		byPrefix := fromEnv[s.name]
		if len(byPrefix) == 0 {
			continue
		}
		if src, ok := source[s.name]; ok {
			for _, p := range envPrefixes {
				if _, set := byPrefix[p]; set {
					warnings = append(warnings, fmt.Sprintf("config: environment variable %s is shadowed by the command-line flag %s, ignored", envName(p, s.name), src))
				}
			}
			continue
		}
		for i, p := range envPrefixes {
			v, set := byPrefix[p]
			if !set {
				continue
			}
			for _, lower := range envPrefixes[i+1:] {
				if _, also := byPrefix[lower]; also {
					warnings = append(warnings, fmt.Sprintf("config: environment variable %s is shadowed by %s, ignored", envName(lower, s.name), envName(p, s.name)))
				}
			}
			if err := fs.Set(s.name, v); err != nil {
				return nil, fmt.Errorf("%w: %s=%q: %v", ErrUsage, envName(p, s.name), v, err)
			}
			source[s.name] = envName(p, s.name)
			break
		}
	}

	c := &Config{
		Name:                *vals["name"],
		DataDir:             *vals["data-dir"],
		InitialClusterState: *vals["initial-cluster-state"],
		InitialClusterToken: *vals["initial-cluster-token"],
		LogLevel:            *vals["log-level"],
		Version:             *bools["version"],
	}
	// what names a flag and where its value came from, for error messages.
	what := func(name string) string {
		if src, ok := source[name]; ok && src != "--"+name {
			return "--" + name + " (from " + src + ")"
		}
		return "--" + name
	}
	var err error
	urlFlags := []struct {
		name string
		dst  *[]url.URL
	}{
		{"listen-client-urls", &c.ListenClientURLs},
		{"advertise-client-urls", &c.AdvertiseClientURLs},
		{"listen-peer-urls", &c.ListenPeerURLs},
		{"initial-advertise-peer-urls", &c.InitialAdvertisePeerURLs},
	}
	for _, f := range urlFlags {
		if *f.dst, err = ParseURLs(*vals[f.name]); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, what(f.name), err)
		}
	}
	ms := func(name string) (time.Duration, error) {
		n, err := strconv.ParseUint(*vals[name], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: %s=%q: want a whole number of milliseconds", ErrUsage, what(name), *vals[name])
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	if c.HeartbeatInterval, err = ms("heartbeat-interval"); err != nil {
		return nil, err
	}
	if c.ElectionTimeout, err = ms("election-timeout"); err != nil {
		return nil, err
	}
	if c.SnapshotCount, err = strconv.ParseUint(*vals["snapshot-count"], 10, 64); err != nil {
		return nil, fmt.Errorf("%w: %s=%q: want a whole number", ErrUsage, what("snapshot-count"), *vals["snapshot-count"])
	}
	c.WALDirectIO = *bools["wal-direct-io"]
	if c.WatchHistory, err = strconv.Atoi(*vals["watch-history"]); err != nil || c.WatchHistory < 1 {
		return nil, fmt.Errorf("%w: %s=%q: want a whole number of events, at least 1", ErrUsage, what("watch-history"), *vals["watch-history"])
	}
	if c.MaxWALSegmentSize, err = strconv.ParseInt(*vals["max-wal-segment-size"], 10, 64); err != nil {
		return nil, fmt.Errorf("%w: %s=%q: want a number of bytes", ErrUsage, what("max-wal-segment-size"), *vals["max-wal-segment-size"])
	}

	// Derived defaults.
	if _, ok := source["data-dir"]; !ok {
		c.DataDir = c.Name + ".etcd"
	}
	if _, ok := source["initial-cluster"]; ok {
		if c.InitialCluster, err = ParseCluster(*vals["initial-cluster"]); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, what("initial-cluster"), err)
		}
	} else {
		c.InitialCluster = []Member{{Name: c.Name, PeerURLs: c.InitialAdvertisePeerURLs}}
	}

	if _, ok := source["listen-client-urls"]; ok {
		if _, ok := source["advertise-client-urls"]; !ok {
			return nil, fmt.Errorf("%w: --advertise-client-urls is required when --listen-client-urls is set explicitly (%s)", ErrInvalid, what("listen-client-urls"))
		}
	}
	if !*bools["enable-v2"] {
		warnings = append(warnings, fmt.Sprintf("config: %s=false is ignored: cairn always serves the v2 API", what("enable-v2")))
	}
	c.Warnings = warnings
	if c.Version {
		return c, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// ParseURLs parses a comma-separated list of URLs. Only the syntax is
// checked here; Validate checks the meaning.
func ParseURLs(s string) ([]url.URL, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty URL list")
	}
	var urls []url.URL
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		u, err := url.Parse(part)
		if err != nil {
			return nil, fmt.Errorf("bad URL %q: %v", part, err)
		}
		if u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("bad URL %q: want scheme://host:port", part)
		}
		urls = append(urls, *u)
	}
	return urls, nil
}

// ParseCluster parses --initial-cluster syntax: comma-separated name=URL
// pairs. A name may repeat to give a member several peer URLs; members keep
// the order of their first appearance.
func ParseCluster(s string) ([]Member, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty cluster")
	}
	var members []Member
	index := map[string]int{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		name, raw, ok := strings.Cut(part, "=")
		if !ok || name == "" || raw == "" {
			return nil, fmt.Errorf("entry %q: want name=URL", part)
		}
		urls, err := ParseURLs(raw)
		if err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
		i, ok := index[name]
		if !ok {
			i = len(members)
			index[name] = i
			members = append(members, Member{Name: name})
		}
		members[i].PeerURLs = append(members[i].PeerURLs, urls...)
	}
	return members, nil
}
