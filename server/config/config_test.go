package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustURLs(t *testing.T, s string) []url.URL {
	t.Helper()
	u, err := ParseURLs(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDefaults(t *testing.T) {
	c, err := Parse(nil, nil)
	if err != nil {
		t.Fatalf("Parse(no flags): %v", err)
	}
	want := &Config{
		Name:                     "default",
		DataDir:                  "default.etcd",
		ListenClientURLs:         mustURLs(t, "http://127.0.0.1:2379"),
		AdvertiseClientURLs:      mustURLs(t, "http://localhost:2379"),
		ListenPeerURLs:           mustURLs(t, "http://127.0.0.1:2380"),
		InitialAdvertisePeerURLs: mustURLs(t, "http://localhost:2380"),
		InitialCluster:           []Member{{Name: "default", PeerURLs: mustURLs(t, "http://localhost:2380")}},
		InitialClusterState:      "new",
		InitialClusterToken:      "etcd-cluster",
		HeartbeatInterval:        100 * time.Millisecond,
		ElectionTimeout:          time.Second,
		SnapshotCount:            10000,
		WatchHistory:             10000,
		WALDirectIO:              true,
		LogLevel:                 "info",
		MaxWALSegmentSize:        4 << 20,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if got := FormatCluster(c.InitialCluster); got != "default=http://localhost:2380" {
		t.Errorf("initial cluster = %q", got)
	}
}

const three = "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380"

// TestParse checks the flag syntaxes and the environment, by the fields they
// set.
func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   []string
		check func(*Config) string // "" if fine
	}{
		{"double dash equals", []string{"--name=x"}, nil, func(c *Config) string {
			return expect(c.Name == "x" && c.DataDir == "x.etcd" && FormatCluster(c.InitialCluster) == "x=http://localhost:2380", c)
		}},
		{"single dash space", []string{"-name", "x", "-data-dir", "/var/lib/cairn"}, nil, func(c *Config) string {
			return expect(c.Name == "x" && c.DataDir == "/var/lib/cairn", c)
		}},
		{"timing", []string{"--heartbeat-interval", "250", "--election-timeout=2500"}, nil, func(c *Config) string {
			return expect(c.HeartbeatInterval == 250*time.Millisecond && c.ElectionTimeout == 2500*time.Millisecond, c)
		}},
		{"same port on different addresses", []string{"--listen-client-urls=http://10.0.0.1:2380", "--advertise-client-urls=http://10.0.0.1:2380"}, nil, func(c *Config) string {
			return expect(c.ListenClientURLs[0].Host == "10.0.0.1:2380", c)
		}},
		{"three members", []string{"--name=b", "--initial-cluster=" + three, "--initial-advertise-peer-urls=http://10.0.0.2:2380",
			"--listen-peer-urls=http://10.0.0.2:2380", "--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://10.0.0.2:2379",
			"--initial-cluster-state=existing", "--initial-cluster-token=t1"}, nil, func(c *Config) string {
			return expect(len(c.InitialCluster) == 3 && c.InitialCluster[1].Name == "b" && c.InitialClusterState == "existing" &&
				c.ListenClientURLs[0].Host == "0.0.0.0:2379" && c.InitialClusterToken == "t1", c)
		}},
		{"member with two URLs", []string{"--initial-cluster=default=http://localhost:2380,default=http://10.0.0.1:2380",
			"--initial-advertise-peer-urls=http://10.0.0.1:2380,http://localhost:2380"}, nil, func(c *Config) string {
			return expect(len(c.InitialCluster) == 1 && len(c.InitialCluster[0].PeerURLs) == 2, c)
		}},
		{"ETCD env", nil, []string{"ETCD_NAME=e", "ETCD_SNAPSHOT_COUNT=5", "PATH=/bin"}, func(c *Config) string {
			return expect(c.Name == "e" && c.SnapshotCount == 5 && c.DataDir == "e.etcd" && len(c.Warnings) == 0, c)
		}},
		{"CAIRN env", nil, []string{"CAIRN_NAME=k", "CAIRN_LOG_LEVEL=debug", "CAIRN_MAX_WAL_SEGMENT_SIZE=1048576"}, func(c *Config) string {
			return expect(c.Name == "k" && c.LogLevel == "debug" && c.MaxWALSegmentSize == 1<<20, c)
		}},
		{"bool from env", nil, []string{"ETCD_ENABLE_V2=true"}, func(c *Config) string {
			return expect(len(c.Warnings) == 0, c)
		}},
		{"cairn's own flags from env", nil, []string{"CAIRN_WAL_DIRECT_IO=false", "CAIRN_WATCH_HISTORY=500"}, func(c *Config) string {
			return expect(!c.WALDirectIO && c.WatchHistory == 500 && len(c.Warnings) == 0, c)
		}},
		{"cairn's own flags", []string{"--wal-direct-io=false", "--watch-history", "20"}, nil, func(c *Config) string {
			return expect(!c.WALDirectIO && c.WatchHistory == 20, c)
		}},
		{"enable-v2 false warns", []string{"--enable-v2=false"}, nil, func(c *Config) string {
			return expect(len(c.Warnings) == 1 && strings.Contains(c.Warnings[0], "--enable-v2=false is ignored"), c)
		}},
		{"version", []string{"--version"}, nil, func(c *Config) string { return expect(c.Version, c) }},
		{"version skips validation", []string{"--version", "--heartbeat-interval=1000"}, nil, func(c *Config) string { return expect(c.Version, c) }},
		{"ETCD_VERSION is not --version", nil, []string{"ETCD_VERSION=3.4.0"}, func(c *Config) string {
			return expect(!c.Version && len(c.Warnings) == 0, c)
		}},
		{"ETCD_UNSUPPORTED_ARCH tolerated", nil, []string{"ETCD_UNSUPPORTED_ARCH=arm"}, func(c *Config) string { return expect(len(c.Warnings) == 0, c) }},
		{"ETCDCTL vars are not ours", nil, []string{"ETCDCTL_API=2", "ETCDCTL_ENDPOINTS=http://x:2379"}, func(c *Config) string {
			return expect(len(c.Warnings) == 0, c)
		}},
		{"unrecognized env warns", nil, []string{"ETCD_NAMME=x", "CAIRN_SNAPSHOT=1", "ETCD_name=y"}, func(c *Config) string {
			return expect(c.Name == "default" && len(c.Warnings) == 3 && strings.Contains(c.Warnings[0], "unrecognized environment variable ETCD_NAMME=x"), c)
		}},
		{"env value with equals sign", nil, []string{"ETCD_INITIAL_CLUSTER=default=http://localhost:2380"}, func(c *Config) string {
			return expect(len(c.InitialCluster) == 1, c)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.args, tt.env)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", tt.args, tt.env, err)
			}
			if msg := tt.check(c); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func expect(ok bool, c *Config) string {
	if ok {
		return ""
	}
	return fmt.Sprintf("unexpected config %+v", *c)
}

// TestPrecedence checks flag > CAIRN_ > ETCD_ > default, and the warnings
// for what was shadowed.
func TestPrecedence(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		env          []string
		wantName     string
		wantWarnings []string
	}{
		{"default", nil, nil, "default", nil},
		{"ETCD only", nil, []string{"ETCD_NAME=etcd"}, "etcd", nil},
		{"CAIRN only", nil, []string{"CAIRN_NAME=cairn"}, "cairn", nil},
		{"CAIRN beats ETCD", nil, []string{"ETCD_NAME=etcd", "CAIRN_NAME=cairn"}, "cairn",
			[]string{"config: environment variable ETCD_NAME is shadowed by CAIRN_NAME, ignored"}},
		{"flag beats both", []string{"--name=flag"}, []string{"ETCD_NAME=etcd", "CAIRN_NAME=cairn"}, "flag",
			[]string{
				"config: environment variable CAIRN_NAME is shadowed by the command-line flag --name, ignored",
				"config: environment variable ETCD_NAME is shadowed by the command-line flag --name, ignored",
			}},
		{"flag set to its default still wins", []string{"--name=default"}, []string{"ETCD_NAME=etcd"}, "default",
			[]string{"config: environment variable ETCD_NAME is shadowed by the command-line flag --name, ignored"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tt.wantName {
				t.Errorf("Name = %q, want %q", c.Name, tt.wantName)
			}
			if !slices.Equal(c.Warnings, tt.wantWarnings) {
				t.Errorf("Warnings = %q, want %q", c.Warnings, tt.wantWarnings)
			}
		})
	}
}

// TestErrors checks that every refusal names what is wrong.
func TestErrors(t *testing.T) {
	peer2 := []string{"--name=b", "--initial-cluster=" + three, "--initial-advertise-peer-urls=http://10.0.0.2:2380"}
	tests := []struct {
		name string
		args []string
		env  []string
		want error
		msg  string
	}{
		{"unknown flag", []string{"--nmae=x"}, nil, ErrUsage, "flag provided but not defined: -nmae"},
		{"stray argument", []string{"start"}, nil, ErrUsage, `unexpected argument "start"`},
		{"flag without value", []string{"--name"}, nil, ErrUsage, "flag needs an argument: -name"},
		{"help", []string{"--help"}, nil, ErrHelp, "help requested"},
		{"short help", []string{"-h"}, nil, ErrHelp, "help requested"},
		{"bad heartbeat", []string{"--heartbeat-interval=fast"}, nil, ErrUsage, `--heartbeat-interval="fast": want a whole number of milliseconds`},
		{"bad heartbeat from env", nil, []string{"ETCD_HEARTBEAT_INTERVAL=-1"}, ErrUsage, `--heartbeat-interval (from ETCD_HEARTBEAT_INTERVAL)="-1"`},
		{"bad bool from env", nil, []string{"CAIRN_ENABLE_V2=maybe"}, ErrUsage, `CAIRN_ENABLE_V2="maybe"`},
		{"bad snapshot count", []string{"--snapshot-count=lots"}, nil, ErrUsage, `--snapshot-count="lots": want a whole number`},
		{"zero snapshot count", []string{"--snapshot-count=0"}, nil, ErrInvalid, "--snapshot-count must be positive"},
		{"zero watch history", []string{"--watch-history=0"}, nil, ErrUsage, `--watch-history="0": want a whole number of events, at least 1`},
		{"bad segment size", []string{"--max-wal-segment-size=big"}, nil, ErrUsage, "want a number of bytes"},
		{"small segment size", []string{"--max-wal-segment-size=1024"}, nil, ErrInvalid, "--max-wal-segment-size 1024 is below the minimum 65536 bytes"},
		{"empty name", []string{"--name="}, nil, ErrInvalid, "--name must not be empty"},
		{"empty token", []string{"--initial-cluster-token="}, nil, ErrInvalid, "--initial-cluster-token must not be empty"},
		{"zero heartbeat", []string{"--heartbeat-interval=0"}, nil, ErrInvalid, "--heartbeat-interval must be positive"},
		{"election below 5x heartbeat", []string{"--heartbeat-interval=300"}, nil, ErrInvalid,
			"--election-timeout[1000ms] must be at least 5 times --heartbeat-interval[300ms]"},
		{"election equals heartbeat", []string{"--heartbeat-interval=100", "--election-timeout=100"}, nil, ErrInvalid, "must be at least 5 times"},
		{"election too long", []string{"--election-timeout=60000"}, nil, ErrInvalid, "--election-timeout[60000ms] is too long; the maximum is 50000ms"},
		{"bad state", []string{"--initial-cluster-state=old"}, nil, ErrInvalid, `--initial-cluster-state "old": want "new" or "existing"`},
		{"bad log level", []string{"--log-level=loud"}, nil, ErrInvalid, `--log-level "loud"`},
		{"unparsable URL", []string{"--listen-peer-urls=http://[::1"}, nil, ErrInvalid, "--listen-peer-urls: bad URL"},
		{"URL without scheme", []string{"--listen-peer-urls=127.0.0.1:2380"}, nil, ErrInvalid, "--listen-peer-urls: bad URL"},
		{"empty URL list", []string{"--listen-peer-urls="}, nil, ErrInvalid, "--listen-peer-urls: empty URL list"},
		{"https", []string{"--listen-peer-urls=https://127.0.0.1:2380"}, nil, ErrInvalid, "TLS is not supported"},
		{"other scheme", []string{"--listen-peer-urls=ftp://127.0.0.1:2380"}, nil, ErrInvalid, "scheme must be http"},
		{"URL with path", []string{"--listen-peer-urls=http://127.0.0.1:2380/raft"}, nil, ErrInvalid, "with no user, path, query or fragment"},
		{"URL without port", []string{"--listen-peer-urls=http://127.0.0.1"}, nil, ErrInvalid, "must include a host and a port"},
		{"listen on host name", []string{"--listen-peer-urls=http://box1.lan:2380"}, nil, ErrInvalid, "expected an IP address (or localhost) to bind to"},
		{"duplicate listen URL", []string{"--listen-peer-urls=http://127.0.0.1:2380,http://127.0.0.1:2380"}, nil, ErrInvalid,
			"--listen-peer-urls: duplicate URL http://127.0.0.1:2380"},
		{"advertise unspecified", []string{"--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://0.0.0.0:2379"}, nil, ErrInvalid,
			"cannot advertise the unspecified address 0.0.0.0"},
		{"listen client without advertise", []string{"--listen-client-urls=http://10.0.0.1:2379"}, nil, ErrInvalid,
			"--advertise-client-urls is required when --listen-client-urls is set explicitly"},
		{"listen client from env without advertise", nil, []string{"ETCD_LISTEN_CLIENT_URLS=http://10.0.0.1:2379"}, ErrInvalid,
			"(--listen-client-urls (from ETCD_LISTEN_CLIENT_URLS))"},
		{"client and peer on one port", []string{"--listen-client-urls=http://127.0.0.1:2380", "--advertise-client-urls=http://10.0.0.1:2379"}, nil, ErrInvalid,
			"--listen-client-urls http://127.0.0.1:2380 and --listen-peer-urls http://127.0.0.1:2380 use the same port on the same address"},
		{"client on all addresses, peer port", []string{"--listen-client-urls=http://0.0.0.0:2380", "--advertise-client-urls=http://10.0.0.1:2379"}, nil, ErrInvalid,
			"use the same port on the same address"},
		{"advertised client URL is the peer URL", []string{"--advertise-client-urls=http://localhost:2380"}, nil, ErrInvalid,
			"--advertise-client-urls http://localhost:2380 and --initial-advertise-peer-urls http://localhost:2380 use the same port"},
		{"name not in cluster", []string{"--name=d", "--initial-cluster=" + three}, nil, ErrInvalid, `--name "d" is not in --initial-cluster`},
		{"advertise mismatch", []string{"--name=b", "--initial-cluster=" + three, "--initial-advertise-peer-urls=http://10.0.0.9:2380"}, nil, ErrInvalid,
			`--initial-advertise-peer-urls "http://10.0.0.9:2380" do not match this member's --initial-cluster entry b="http://10.0.0.2:2380"`},
		{"advertise default mismatch", []string{"--name=b", "--initial-cluster=" + three}, nil, ErrInvalid, "do not match this member's --initial-cluster entry"},
		{"cluster entry without =", append(slices.Clone(peer2[:2]), "--initial-cluster=b"), nil, ErrInvalid, `entry "b": want name=URL`},
		{"cluster entry without name", []string{"--initial-cluster==http://localhost:2380"}, nil, ErrInvalid, "want name=URL"},
		{"cluster bad URL", []string{"--initial-cluster=default=localhost:2380"}, nil, ErrInvalid, `member "default": bad URL`},
		{"duplicate peer URL", []string{"--name=b", "--initial-cluster=a=http://10.0.0.2:2380,b=http://10.0.0.2:2380",
			"--initial-advertise-peer-urls=http://10.0.0.2:2380"}, nil, ErrInvalid, `peer URL http://10.0.0.2:2380 is used by both "a" and "b"`},
		{"duplicate URL within a member", []string{"--initial-cluster=default=http://localhost:2380,default=http://localhost:2380"}, nil, ErrInvalid,
			"duplicate URL http://localhost:2380"},
		{"cluster https", []string{"--name=b", "--initial-cluster=a=https://10.0.0.1:2380,b=http://10.0.0.2:2380",
			"--initial-advertise-peer-urls=http://10.0.0.2:2380"}, nil, ErrInvalid, `--initial-cluster member "a": https://10.0.0.1:2380: TLS is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.args, tt.env)
			if err == nil {
				t.Fatalf("Parse(%q, %q) = %+v, want error", tt.args, tt.env, c)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q does not wrap %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestValidateBuiltConfig(t *testing.T) {
	c, err := Parse(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.InitialCluster = append(c.InitialCluster, Member{Name: "default", PeerURLs: mustURLs(t, "http://10.0.0.5:2380")})
	if err := c.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `member "default" is listed twice`) {
		t.Errorf("Validate = %v, want listed twice", err)
	}
	c.InitialCluster = nil
	if err := c.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--initial-cluster must not be empty") {
		t.Errorf("Validate = %v", err)
	}
}

func TestUsageListsEveryFlag(t *testing.T) {
	for _, s := range flagSpecs {
		if !strings.Contains(Usage, "--"+s.name+" ") && !strings.Contains(Usage, "--"+s.name+"\n") {
			t.Errorf("Usage does not document --%s", s.name)
		}
	}
}

func ExampleParse() {
	cfg, err := Parse(
		[]string{"--name=box2", "--initial-cluster=box1=http://10.0.0.1:2380,box2=http://10.0.0.2:2380",
			"--initial-advertise-peer-urls", "http://10.0.0.2:2380"},
		[]string{"ETCD_HEARTBEAT_INTERVAL=200", "ETCD_ELECTION_TIMEOUT=2000", "ETCD_NAME=ignored"},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Name, cfg.DataDir, cfg.HeartbeatInterval, cfg.ElectionTimeout, len(cfg.InitialCluster))
	fmt.Println(cfg.Warnings[0])
	// Output:
	// box2 box2.etcd 200ms 2s 2
	// config: environment variable ETCD_NAME is shadowed by the command-line flag --name, ignored
}

func ExampleParse_invalid() {
	_, err := Parse([]string{"--heartbeat-interval=500"}, nil)
	fmt.Println(err)
	// Output: config: invalid configuration: --election-timeout[1000ms] must be at least 5 times --heartbeat-interval[500ms]
}
