package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"time"
)

// Sentinel errors of the command line.
var (
	errUsage    = errors.New("cairn-bench: usage")
	errWorkload = errors.New("cairn-bench: unknown workload")
)

// workloads lists the accepted workload names and what they do.
var workloads = []struct{ name, help string }{
	{"put", "PUT value-size-byte values to random keys of the key space"},
	{"get", "local (serializable) GET of random keys; seeds the key space first"},
	{"qget", "quorum (linearizable) GET ?quorum=true of random keys; seeds first"},
	{"cas", "GET then compare-and-swap by prevIndex on few keys; counts successes and 101 failures"},
	{"watch", "N stream watchers on one key (or --watch-recursive on a directory), one writer; delivery latency"},
	{"fsync", "raw disk latency: write --size bytes + fdatasync in --dir, --total times (default 1000)"},
	{"rtt", "loopback TCP round trip of one byte, --total times (default 10000)"},
	{"report", "compare two files of --json lines: report A.jsonl B.jsonl (ratio B/A)"},
}

// config is the parsed command line.
type config struct {
	workload  string
	endpoints []string
	clients   int
	conns     int
	duration  time.Duration
	total     int64
	keys      int
	valueSize int
	prefix    string
	watchers  int
	recursive bool
	timeout   time.Duration
	label     string
	jsonOut   bool
	quiet     bool
	dir       string
	size      int
	args      []string // positional arguments after the workload (report)
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: cairn-bench WORKLOAD [flags]   (flags may also precede WORKLOAD)\n\nWorkloads:\n")
	for _, wl := range workloads {
		fmt.Fprintf(w, "  %-7s %s\n", wl.name, wl.help)
	}
	fmt.Fprintf(w, "\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// parseArgs parses the command line. The workload may come first or after
// the flags; flags may also follow it.
func parseArgs(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("cairn-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var endpoints string
	fs.StringVar(&endpoints, "endpoints", "http://127.0.0.1:2379", "comma-separated client URLs; connections are spread over them round robin")
	fs.IntVar(&cfg.clients, "clients", 1, "concurrent closed-loop clients")
	fs.IntVar(&cfg.conns, "conns", 0, "TCP connections shared by the clients (0: one per client)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to run (ignored when --total is set)")
	fs.Int64Var(&cfg.total, "total", 0, "stop after this many operations (writes for watch) instead of --duration")
	fs.IntVar(&cfg.keys, "keys", 10000, "key space size (cas: the number of contended keys)")
	fs.IntVar(&cfg.valueSize, "value-size", 256, "value size in bytes")
	fs.StringVar(&cfg.prefix, "prefix", "/bench", "key prefix (a directory) under /v2/keys")
	fs.IntVar(&cfg.watchers, "watchers", 100, "watch: number of watchers")
	fs.BoolVar(&cfg.recursive, "watch-recursive", false, "watch: watch the prefix recursively, write to random keys under it")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout (watch: per-event delivery timeout)")
	fs.StringVar(&cfg.label, "label", "", "label copied into the result (for report)")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the result as one JSON line")
	fs.BoolVar(&cfg.quiet, "quiet", false, "no progress line")
	fs.StringVar(&cfg.dir, "dir", os.TempDir(), "fsync: directory for the test file")
	fs.IntVar(&cfg.size, "size", 2300, "fsync: bytes written before each fdatasync")

	parse := func(a []string) error {
		err := fs.Parse(a)
		if errors.Is(err, flag.ErrHelp) {
			usage(stderr, fs)
		}
		return err
	}
	if err := parse(args); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		cfg.workload = fs.Arg(0)
		if err := parse(fs.Args()[1:]); err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		cfg.args = fs.Args()
	}
	if cfg.workload == "" {
		usage(stderr, fs)
		return nil, fmt.Errorf("%w: no workload given", errUsage)
	}
	known := false
	for _, wl := range workloads {
		known = known || wl.name == cfg.workload
	}
	if !known {
		return nil, fmt.Errorf("%w: %q", errWorkload, cfg.workload)
	}
	for _, ep := range strings.Split(endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			if _, err := endpointAddr(ep); err != nil {
				return nil, err
			}
			cfg.endpoints = append(cfg.endpoints, ep)
		}
	}
	if cfg.conns == 0 {
		cfg.conns = cfg.clients
	}
	switch {
	case len(cfg.endpoints) == 0:
		return nil, fmt.Errorf("%w: --endpoints is empty", errUsage)
	case cfg.clients < 1:
		return nil, fmt.Errorf("%w: --clients must be at least 1", errUsage)
	case cfg.conns < 1 || cfg.conns > cfg.clients:
		return nil, fmt.Errorf("%w: --conns must be between 1 and --clients", errUsage)
	case cfg.keys < 1:
		return nil, fmt.Errorf("%w: --keys must be at least 1", errUsage)
	case cfg.valueSize < 0 || cfg.size < 1:
		return nil, fmt.Errorf("%w: --value-size and --size must be positive", errUsage)
	case cfg.total < 0 || (cfg.total == 0 && cfg.duration <= 0):
		return nil, fmt.Errorf("%w: need --duration > 0 or --total > 0", errUsage)
	case cfg.watchers < 1:
		return nil, fmt.Errorf("%w: --watchers must be at least 1", errUsage)
	case cfg.workload == "report" && len(cfg.args) != 2:
		return nil, fmt.Errorf("%w: report needs two files", errUsage)
	}
	cfg.prefix = "/" + strings.Trim(cfg.prefix, "/")
	return cfg, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if cfg.workload == "report" {
		if err := report(stdout, cfg.args[0], cfg.args[1]); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	var progress io.Writer = stderr
	if cfg.quiet {
		progress = nil
	}
	cpu0 := processCPU()
	res, err := runWorkload(ctx, cfg, progress)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	res.GenCPUS = math.Round((processCPU()-cpu0).Seconds()*1000) / 1000
	if cfg.jsonOut {
		b, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		res.print(stdout)
	}
	return 0
}

// runWorkload dispatches on cfg.workload.
func runWorkload(ctx context.Context, cfg *config, progress io.Writer) (*result, error) {
	switch cfg.workload {
	case "fsync":
		return runFsync(cfg)
	case "rtt":
		return runRTT(cfg)
	case "watch":
		return runWatch(ctx, cfg, progress)
	default:
		return runKV(ctx, cfg, progress)
	}
}
