package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"
)

// version is set by build.sh with -ldflags "-X main.version=...".
var version string

// Exit codes, the same as etcdctl v2's.
const (
	exitSuccess       = 0
	exitBadArgs       = 1
	exitBadConnection = 2
	exitBadAuth       = 3 // also used for an unknown command, as etcdctl does
	exitServerError   = 4
	exitClusterHealth = 5
)

// defaultEndpoints is used when neither a flag nor the environment names one.
const defaultEndpoints = "http://127.0.0.1:2379,http://127.0.0.1:4001"

func main() {
	code := run(context.Background(), os.Args[1:], &stdio{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.Getenv,
		interruptible: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(ctx, os.Interrupt)
		},
	})
	os.Exit(code)
}

// stdio is the outside world of one run: streams and environment.
type stdio struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// transport, if set, replaces the HTTP transport built from the flags
	// (tests).
	transport http.RoundTripper
	// interruptible, if set, derives a context that an interrupt (^C)
	// cancels. Only the commands that run until interrupted (watch,
	// exec-watch, cluster-health --forever) use it, and end with exit 0;
	// any other command is killed by ^C as usual.
	interruptible func(context.Context) (context.Context, context.CancelFunc)
}

// untilInterrupt returns the context for a command that runs until ^C.
func (a *app) untilInterrupt() (context.Context, context.CancelFunc) {
	if a.interruptible == nil {
		return context.WithCancel(a.ctx)
	}
	return a.interruptible(a.ctx)
}

// globals holds the global flags.
type globals struct {
	debug        bool
	noSync       bool
	output       string
	discovery    string
	insecureDisc bool
	peers        string
	endpoint     string
	endpoints    string
	certFile     string
	keyFile      string
	caFile       string
	username     string
	timeout      time.Duration
	totalTimeout time.Duration
	help         bool
	version      bool
}

func globalFlags(g *globals) *flag.FlagSet {
	fs := flag.NewFlagSet("cairnctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.BoolVar(&g.debug, "debug", false, "")
	fs.BoolVar(&g.noSync, "no-sync", false, "")
	fs.StringVar(&g.output, "output", "simple", "")
	fs.StringVar(&g.output, "o", "simple", "")
	fs.StringVar(&g.discovery, "discovery-srv", "", "")
	fs.StringVar(&g.discovery, "D", "", "")
	fs.BoolVar(&g.insecureDisc, "insecure-discovery", false, "")
	fs.StringVar(&g.peers, "peers", "", "")
	fs.StringVar(&g.peers, "C", "", "")
	fs.StringVar(&g.endpoint, "endpoint", "", "")
	fs.StringVar(&g.endpoints, "endpoints", "", "")
	fs.StringVar(&g.certFile, "cert-file", "", "")
	fs.StringVar(&g.keyFile, "key-file", "", "")
	fs.StringVar(&g.caFile, "ca-file", "", "")
	fs.StringVar(&g.username, "username", "", "")
	fs.StringVar(&g.username, "u", "", "")
	fs.DurationVar(&g.timeout, "timeout", 2*time.Second, "")
	fs.DurationVar(&g.totalTimeout, "total-timeout", 5*time.Second, "")
	fs.BoolVar(&g.help, "help", false, "")
	fs.BoolVar(&g.help, "h", false, "")
	fs.BoolVar(&g.version, "version", false, "")
	fs.BoolVar(&g.version, "v", false, "")
	return fs
}

// app is one invocation: the parsed global flags and the outside world.
type app struct {
	*stdio
	g   globals
	ctx context.Context
}

// run executes one cairnctl command line and returns the exit code.
func run(ctx context.Context, args []string, sio *stdio) int {
	a := &app{stdio: sio, ctx: ctx}
	fs := globalFlags(&a.g)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printAppHelp()
			return exitSuccess
		}
		fmt.Fprintf(a.stdout, "Incorrect Usage. %v\n\n", err)
		a.printAppHelp()
		fmt.Fprintln(a.stderr, err)
		return exitBadArgs
	}
	if a.g.version {
		fmt.Fprintf(a.stdout, "cairnctl version: %s\nAPI version: 2\n", versionString())
		return exitSuccess
	}
	rest := fs.Args()
	if a.g.help || len(rest) == 0 {
		a.printAppHelp()
		return exitSuccess
	}
	name := rest[0]
	if name == "help" || name == "h" {
		if len(rest) > 1 {
			if c := lookup(commands(), rest[1]); c != nil {
				a.printCommandHelp(c, "")
				return exitSuccess
			}
			fmt.Fprintf(a.stderr, "No help topic for '%s'\n", rest[1])
			return exitBadAuth
		}
		a.printAppHelp()
		return exitSuccess
	}
	c := lookup(commands(), name)
	if c == nil {
		fmt.Fprintf(a.stderr, "No help topic for '%s'\n", name)
		return exitBadAuth
	}
	return a.runCommand(c, "", rest[1:])
}

func versionString() string {
	if version == "" {
		return "unknown"
	}
	return version
}

func lookup(cs []*command, name string) *command {
	for _, c := range cs {
		if c.name == name {
			return c
		}
		for _, al := range c.aliases {
			if al == name {
				return c
			}
		}
	}
	return nil
}

// runCommand parses the command's flags (moving known flags given after
// the positional arguments in front, as etcdctl's CLI library does) and
// runs it. parent is "member" for member subcommands.
func (a *app) runCommand(c *command, parent string, args []string) int {
	if len(c.subs) > 0 {
		if len(args) > 0 {
			if h := args[0]; h == "-h" || h == "--help" || h == "help" {
				a.printCommandHelp(c, parent)
				return exitSuccess
			}
			if s := lookup(c.subs, args[0]); s != nil {
				return a.runCommand(s, c.name, args[1:])
			}
			if !strings.HasPrefix(args[0], "-") {
				fmt.Fprintf(a.stderr, "No help topic for '%s'\n", args[0])
				return exitBadAuth
			}
		}
		if c.run == nil {
			a.printCommandHelp(c, parent)
			return exitSuccess
		}
	}
	o := &opts{}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var help bool
	fs.BoolVar(&help, "help", false, "")
	fs.BoolVar(&help, "h", false, "")
	for _, f := range c.flags {
		f.define(fs, o)
	}
	if err := fs.Parse(reorderArgs(c.flags, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printCommandHelp(c, parent)
			return exitSuccess
		}
		fmt.Fprintf(a.stdout, "Incorrect Usage: %v\n\n", err)
		a.printCommandHelp(c, parent)
		fmt.Fprintln(a.stderr, err)
		return exitBadArgs
	}
	if help {
		a.printCommandHelp(c, parent)
		return exitSuccess
	}
	return c.run(a, o, fs.Args())
}

// reorderArgs moves the command's own flags (and the word after a flag
// without "=", unless that word is itself one of the flags) in front of the
// positional arguments, as etcdctl's CLI library does, so "set /a b --ttl 5"
// works. The first "--" ends the reordering and is moved in front of all
// positional arguments, where the flag parser drops it: "set -- /k -v" sets
// /k to "-v", and exec-watch never sees a "--" it was given once.
func reorderArgs(flags []flagDef, args []string) []string {
	var flagArgs, rest []string
	mayBeValue := false
	for i, arg := range args {
		switch {
		case mayBeValue && !isFlag(flags, arg):
			mayBeValue = false
			flagArgs = append(flagArgs, arg)
		case arg == "--":
			rest = append(append([]string{"--"}, rest...), args[i+1:]...)
			return append(flagArgs, rest...)
		case isFlag(flags, arg):
			flagArgs = append(flagArgs, arg)
			mayBeValue = !strings.Contains(arg, "=")
		default:
			rest = append(rest, arg)
		}
	}
	return append(flagArgs, rest...)
}

func isFlag(flags []flagDef, arg string) bool {
	if arg == "-" || arg == "--" || !strings.HasPrefix(arg, "-") {
		return false
	}
	name := strings.TrimLeft(arg, "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		name = name[:i]
	}
	if name == "h" || name == "help" {
		return true
	}
	for _, f := range flags {
		for _, n := range f.names {
			if n == name {
				return true
			}
		}
	}
	return false
}

// handleError prints err the way etcdctl does and returns code.
func (a *app) handleError(code int, err error) int {
	fmt.Fprintln(a.stderr, "Error: ", err)
	var ce *clusterError
	if errors.As(err, &ce) {
		fmt.Fprintln(a.stderr, ce.detail())
	}
	return code
}

// totalContext bounds a command (except watches) by --total-timeout.
func (a *app) totalContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(a.ctx, a.g.totalTimeout)
}

// endpointList picks the endpoints: --endpoints, $ETCDCTL_ENDPOINTS,
// --endpoint, $ETCDCTL_ENDPOINT, --peers/-C, $ETCDCTL_PEERS, then the
// default, first non-empty wins.
func (a *app) endpointList() []string {
	for _, s := range []string{
		a.g.endpoints, a.getenv("ETCDCTL_ENDPOINTS"),
		a.g.endpoint, a.getenv("ETCDCTL_ENDPOINT"),
		a.g.peers, a.getenv("ETCDCTL_PEERS"),
	} {
		if s != "" {
			return strings.Split(s, ",")
		}
	}
	return strings.Split(defaultEndpoints, ",")
}

// fromEnv fills unset file and user flags from ETCDCTL_* variables.
func (a *app) fromEnv() {
	for _, p := range []struct {
		v   *string
		env string
	}{
		{&a.g.caFile, "ETCDCTL_CA_FILE"},
		{&a.g.certFile, "ETCDCTL_CERT_FILE"},
		{&a.g.keyFile, "ETCDCTL_KEY_FILE"},
		{&a.g.username, "ETCDCTL_USERNAME"},
		{&a.g.discovery, "ETCDCTL_DISCOVERY_SRV"},
	} {
		if *p.v == "" {
			*p.v = a.getenv(p.env)
		}
	}
}

// newClient builds the client without syncing; it prints the error and
// returns a non-zero code when the flags are unusable.
func (a *app) newClient() (*client, int) {
	a.fromEnv()
	if a.g.discovery != "" {
		fmt.Fprintln(a.stderr, "cairnctl: --discovery-srv is not supported; use --endpoints")
		return nil, exitBadArgs
	}
	var raw []string
	for _, ep := range a.endpointList() {
		// As etcdctl: parse, default the scheme to http ("127.0.0.1:2379"
		// does not parse; "localhost:2379" has the scheme "localhost").
		u, err := url.Parse(ep)
		if err != nil {
			fmt.Fprintln(a.stderr, err.Error())
			return nil, exitBadArgs
		}
		if u.Scheme == "" {
			u.Scheme = "http"
		}
		raw = append(raw, u.String())
	}
	eps, err := parseEndpoints(raw)
	if err != nil {
		fmt.Fprintln(a.stderr, err.Error())
		return nil, exitBadArgs
	}
	c := &client{endpoints: eps, headerTimeout: a.g.timeout}
	// Spread the load: the first endpoint tried is a random one, as in
	// etcdctl; failover goes on through the rest.
	c.shuffleEndpoints()
	if a.transport != nil {
		c.rt = a.transport
	} else {
		tr, err := newTransport(&a.g, a.g.timeout)
		if err != nil {
			fmt.Fprintln(a.stderr, err.Error())
			return nil, exitBadArgs
		}
		c.rt = tr
	}
	if a.g.username != "" {
		user, pass, ok := strings.Cut(a.g.username, ":")
		if !ok {
			fmt.Fprintln(a.stderr, "cairnctl: --username needs user:password (no password prompt)")
			return nil, exitBadArgs
		}
		c.username, c.password, c.hasAuth = user, pass, true
	}
	if a.g.debug {
		c.debug = a.stderr
	}
	return c, exitSuccess
}

// mustClient is newClient plus etcdctl's sync from /v2/members unless
// --no-sync; a sync that reaches no endpoint ends the command with exit 2.
func (a *app) mustClient() (*client, int) {
	c, code := a.newClient()
	if c == nil {
		return nil, code
	}
	if !a.g.noSync {
		if a.g.debug {
			fmt.Fprintf(a.stderr, "start to sync cluster using endpoints(%s)\n", joinEndpoints(c.endpoints, ","))
		}
		ctx, cancel := a.totalContext()
		err := c.sync(ctx)
		cancel()
		if err != nil {
			if errors.Is(err, errNoEndpoints) {
				fmt.Fprintf(a.stderr, "etcd cluster has no published client endpoints.\n")
				fmt.Fprintf(a.stderr, "Try '--no-sync' if you want to access non-published client endpoints(%s).\n", joinEndpoints(c.endpoints, ","))
				return nil, a.handleError(exitServerError, err)
			}
			if isConnectionError(err) {
				return nil, a.handleError(exitBadConnection, err)
			}
		}
		if a.g.debug {
			fmt.Fprintf(a.stderr, "got endpoints(%s) after sync\n", joinEndpoints(c.endpoints, ","))
		}
	}
	if a.g.debug {
		fmt.Fprintf(a.stderr, "Cluster-Endpoints: %s\n", joinEndpoints(c.endpoints, ", "))
	}
	return c, exitSuccess
}
