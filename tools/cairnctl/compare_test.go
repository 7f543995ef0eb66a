package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/tools/refbin"
	"cairn/tools/testport"
)

// The comparison test runs a scripted list of command lines through the
// real etcdctl (ETCDCTL_API=2) and through cairnctl against the same
// three-member cluster and compares stdout, stderr and exit codes after
// normalising indexes, member IDs, TTLs and per-client names.
//
// Binaries: $CAIRN_REF_ETCD and $CAIRN_REF_ETCDCTL, else the unpacked
// Debian packages in .ref/etcd/usr/bin (./build.sh ref), else $PATH. Servers:
// $CAIRNCTL_TEST_SERVERS, a comma list of "etcd" and "cairn" (default
// "etcd,cairn"; cairn is built from ./tools/cairn and skipped if that does
// not build). cairnctl runs as this test binary re-executed with
// CAIRNCTL_TEST_AS_MAIN=1.

func TestMain(m *testing.M) {
	if os.Getenv("CAIRNCTL_TEST_AS_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// refBinary finds a reference binary in refbin's search order; "" if none.
func refBinary(env, name string) string {
	p, err := refbin.Find(env, name)
	if err != nil {
		return ""
	}
	return p
}

// freePort returns a loopback port nobody listens on right now (see package
// testport for why not port 0).
func freePort(t *testing.T) int {
	t.Helper()
	port, err := testport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// cluster is a running three-member cluster of etcd or cairn.
type cluster struct {
	clientURLs []string
	peerURLs   []string
	procs      []*exec.Cmd
	logs       []string
}

// startCluster starts n members of bin and waits until each one reports
// READY=1 on its own $NOTIFY_SOCKET (both etcd and cairn speak sd_notify),
// so there is no polling.
func startCluster(t *testing.T, bin string, n int, extra ...string) *cluster {
	t.Helper()
	dir := t.TempDir()
	c := &cluster{}
	var initial []string
	for i := range n {
		c.clientURLs = append(c.clientURLs, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		c.peerURLs = append(c.peerURLs, fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
		initial = append(initial, fmt.Sprintf("m%d=%s", i+1, c.peerURLs[i]))
	}
	var socks []*net.UnixConn
	for i := range n {
		name := fmt.Sprintf("m%d", i+1)
		sockPath := filepath.Join(dir, name+".sock")
		sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sock.Close() })
		socks = append(socks, sock)
		logPath := filepath.Join(dir, name+".log")
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logf.Close() })
		cmd := exec.Command(bin,
			"--name", name,
			"--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", c.clientURLs[i],
			"--advertise-client-urls", c.clientURLs[i],
			"--listen-peer-urls", c.peerURLs[i],
			"--initial-advertise-peer-urls", c.peerURLs[i],
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "cairnctl-test",
			"--enable-v2=true")
		cmd.Args = append(cmd.Args, extra...)
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c.procs = append(c.procs, cmd)
		c.logs = append(c.logs, logPath)
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
	}
	for i, sock := range socks {
		if err := waitReady(sock, 60*time.Second); err != nil {
			b, _ := os.ReadFile(c.logs[i])
			t.Fatalf("member %d of %s not ready: %v\nlog:\n%s", i+1, bin, err, lastBytes(b, 3000))
		}
	}
	return c
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// waitReady reads sd_notify datagrams until one carries READY=1.
func waitReady(sock *net.UnixConn, d time.Duration) error {
	if err := sock.SetReadDeadline(time.Now().Add(d)); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		n, err := sock.Read(buf)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if line == "READY=1" {
				return nil
			}
		}
	}
}

// stop kills member i and waits for it to exit.
func (c *cluster) stop(t *testing.T, i int) {
	t.Helper()
	p := c.procs[i]
	if err := p.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.Wait()
}

// step is one command line of the script. Words in braces are replaced
// per client: {p} key prefix, {peer}/{peer2} member peer URLs, and any
// value captured earlier ({name}, or {name-1} for one less).
type step struct {
	args  []string
	stdin string
	env   []string // extra environment, may override ETCDCTL_ENDPOINTS
	mode  int      // how to compare (compareExact by default)
	ids   bool     // normalise member IDs
	sort  bool     // sort stdout lines (member order follows random IDs)
	// capture stores the first submatch of the regexp in stdout under the name.
	capture     string
	captureName string
	// until, for commands that run until interrupted: send SIGINT once
	// stdout contains this (after substitution).
	until string
}

const (
	compareExact = iota
	// compareUsage: exit code, stderr and the first stdout line; the help
	// text after it is cairnctl's own.
	compareUsage
	// compareHelp: exit code only, and both print something.
	compareHelp
)

func w(s string) []string { return strings.Fields(s) }

var modIndexRE = `"modifiedIndex":(\d+)`

// phase1 runs with all three members up.
var phase1 = []step{
	// set and get in every output format, flags before and after arguments.
	{args: w("set {p}/a 1")},
	{args: w("get {p}/a")},
	{args: w("-o extended get {p}/a")},
	{args: w("-o json get {p}/a")},
	{args: w("--output=json get {p}/a")},
	{args: w("set {p}/a 2 --ttl 100")},
	{args: w("-o extended get {p}/a")},
	{args: w("-o json get {p}/a")},
	{args: w("-o extended set {p}/a 3")},
	{args: w("-o json set --ttl=50 {p}/a 4")},
	{args: w("set -ttl 60 {p}/b x")},
	{args: w("set -- {p}/dash -v")},
	{args: w("get {p}/dash")},
	{args: w("set {p}/stdin"), stdin: "from stdin\n"},
	{args: w("-o json get {p}/stdin")},
	{args: w("set --swap-with-value 4 {p}/a 5")},
	{args: w("set --swap-with-value nope {p}/a 6")},
	{args: w("-o json set --swap-with-value nope {p}/a 6")},
	{args: w("set --swap-with-index 1 {p}/a 6")},
	{args: w("get {p}/missing")},
	{args: w("-o json get {p}/missing")},
	{args: w("get --sort --quorum {p}/a")},
	{args: w("get -q {p}/a extra-args-are-ignored")},
	// keys that need escaping in the URL and the form.
	{args: []string{"set", "{p}/with space/ü?x=1#f", "v a=1&b=%2"}},
	{args: []string{"--debug", "--no-sync", "-o", "json", "get", "{p}/with space/ü?x=1#f"}},
	{args: []string{"ls", "{p}/with space"}},
	{args: []string{"--debug", "--no-sync", "rm", "--recursive", "{p}/with space/"}},
	{args: []string{"set", "{p}//dbl//slash/", "v"}},
	{args: []string{"get", "{p}/dbl/slash"}},
	{args: w("-o yaml get {p}/a")},
	// mk, in-order keys.
	{args: w("mk {p}/m v")},
	{args: w("mk {p}/m v")},
	{args: w("-o extended mk --ttl 30 {p}/m2 v")},
	{args: w("mk --in-order {p}/q first")},
	{args: w("-o json mk --in-order {p}/q second")},
	{args: w("-o extended mk --in-order --ttl 20 {p}/q third")},
	{args: w("ls --sort {p}/q")},
	// directories.
	{args: w("mkdir {p}/d")},
	{args: w("mkdir {p}/d")},
	{args: w("-o json mkdir {p}/d2")},
	{args: w("-o extended mkdir --ttl 30 {p}/d3")},
	{args: w("setdir {p}/sd")},
	{args: w("setdir {p}/sd")},
	{args: w("-o json setdir {p}/sd2")},
	{args: w("updatedir --ttl 100 {p}/sd")},
	{args: w("-o extended updatedir --ttl 100 {p}/sd")},
	{args: w("-o json updatedir {p}/sd")},
	{args: w("updatedir {p}/nodir")},
	{args: w("get {p}/d")},
	// update.
	{args: w("update {p}/a up")},
	{args: w("-o extended update {p}/a up2")},
	{args: w("update {p}/none x")},
	{args: w("update --ttl 40 {p}/a up3")},
	{args: w("update {p}/d x")},
	// ls.
	{args: w("set {p}/d/x 1")},
	{args: w("set {p}/d/y/z 2")},
	{args: w("ls --sort {p}")},
	{args: w("ls --sort -p {p}")},
	{args: w("ls --sort --recursive {p}/d")},
	{args: w("ls -r -p --sort {p}/d")},
	{args: w("-o json ls --sort {p}/d")},
	{args: w("-o extended ls {p}/d/x")},
	{args: w("ls {p}/d/x")},
	{args: w("ls {p}/missing")},
	{args: w("ls --quorum {p}/d/y")},
	// rm and rmdir.
	{args: w("rm {p}/b")},
	{args: w("-o extended rm {p}/m")},
	{args: w("-o json rm {p}/m2")},
	{args: w("rm {p}/d")},
	{args: w("rm --dir {p}/d")},
	{args: w("rm --with-value nope {p}/a")},
	{args: w("rm --with-index 1 {p}/a")},
	{args: w("rm --with-value up3 {p}/a")},
	{args: w("rm -r {p}/d")},
	{args: w("rm --dir {p}/d2")},
	{args: w("-o json rm --dir {p}/d3")},
	{args: w("rm {p}/missing")},
	{args: w("rmdir {p}/sd2")},
	{args: w("rmdir {p}/missing")},
	{args: w("rmdir {p}/stdin")},
	// missing arguments and usage errors.
	{args: w("get")},
	{args: w("set")},
	{args: w("set {p}/x")},
	{args: w("mk")},
	{args: w("mk {p}/x")},
	{args: w("mkdir")},
	{args: w("setdir")},
	{args: w("updatedir")},
	{args: w("rm")},
	{args: w("rmdir")},
	{args: w("update {p}/x")},
	{args: w("watch")},
	{args: w("exec-watch {p}/x")},
	{args: w("bogus")},
	{args: w("member bogus")},
	{args: w("set --ttl abc {p}/a b"), mode: compareUsage},
	{args: w("get --bogus {p}/a"), mode: compareUsage},
	{args: w("--bogus get {p}/a"), mode: compareUsage},
	{args: w("--timeout x get {p}/a"), mode: compareUsage},
	{args: w("set --swap-with-index x {p}/a b"), mode: compareUsage},
	{args: w("-o"), mode: compareUsage},
	{args: w("set --ttl -1 {p}/neg v")},
	{args: w("-o extended get {p}/neg")},
	{args: w("get {p}/neg --output json")},
	{args: w("rm {p}/neg -r --dir")},
	{args: w("get --help"), mode: compareHelp},
	{args: w("help set"), mode: compareHelp},
	{args: w("member list -h"), mode: compareHelp},
	{args: w("member"), mode: compareHelp},
	{args: w("--help"), mode: compareHelp},
	// watch from history: --after-index, --recursive, directory events skipped.
	{args: w("-o json set {p}/w 1"), capture: modIndexRE, captureName: "w1"},
	{args: w("-o json set {p}/w 2"), capture: modIndexRE, captureName: "w2"},
	{args: w("watch --after-index {w1-1} {p}/w")},
	{args: w("-o json watch --after-index {w1-1} {p}/w")},
	{args: w("-o extended watch --after-index {w1} {p}/w")},
	{args: w("watch -r --after-index {w1-1} {p}")},
	{args: w("-o json mkdir {p}/wd"), capture: modIndexRE, captureName: "wd"},
	{args: w("set {p}/wd/f v")},
	{args: w("watch --recursive --after-index {wd-1} {p}/wd")},
	{args: w("watch --forever --after-index {w1-1} {p}/w"), until: "2\n"},
	{args: w("-o json watch -f -r --after-index {w1-1} {p}/w"), until: `"value":"2"`},
	// exec-watch takes the key LAST; a "--" is dropped (etcdctl 3.4 does so).
	{args: []string{"exec-watch", "--after-index", "{w2-1}", "--", "sh", "-c",
		`echo "$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE $ETCD_WATCH_MODIFIED_INDEX"`, "{p}/w"}, until: "{p}/w 2"},
	{args: w("exec-watch --recursive --after-index {w2-1} echo {p}/w"), until: "\n"},
	{args: w("exec-watch --after-index {w2-1} /nonexistent/cmd {p}/w")},
	// --debug prints curl lines; endpoints come from the flags or environment.
	{args: w("--debug get {p}/w")},
	{args: []string{"--debug", "--no-sync", "set", "{p}/dbg", "a b&c"}},
	{args: w("--debug --no-sync mkdir --ttl 9 {p}/dbgd")},
	{args: w("--debug --no-sync rm -r --with-value x {p}/dbgd")},
	{args: w("--debug --no-sync -o json mk --in-order {p}/q x")},
	{args: w("--debug --no-sync watch --after-index {w1-1} {p}/w")},
	{args: w("--debug member list"), ids: true},
	{args: w("get {p}/w"), env: []string{"ETCDCTL_ENDPOINTS={live}"}},
	{args: w("--peers {live} get {p}/w"), env: []string{"ETCDCTL_ENDPOINTS="}},
	{args: w("-C {live} get {p}/w"), env: []string{"ETCDCTL_ENDPOINTS="}},
	{args: w("--endpoint {live} get {p}/w"), env: []string{"ETCDCTL_ENDPOINTS="}},
	{args: w("get {p}/w"), env: []string{"ETCDCTL_ENDPOINTS=", "ETCDCTL_PEERS={live}"}},
	{args: w("get {p}/w"), env: []string{"ETCDCTL_ENDPOINTS=", "ETCDCTL_ENDPOINT={live}"}},
	{args: w("--endpoints 127.0.0.1:{liveport} --no-sync get {p}/w")},
	// failover: a dead endpoint and a member without a leader are skipped.
	{args: w("--endpoints {dead},{live} set {p}/f 1")},
	{args: w("--no-sync --endpoints {dead},{live} get {p}/f")},
	{args: w("--no-sync --endpoints {fake},{live} set {p}/f 2")},
	{args: w("--no-sync --endpoints {dead},{fake},{live} -o extended update {p}/f 3")},
	{args: w("--no-sync --endpoints {fake},{dead} set {p}/f 4"), sort: true},
	{args: w("--no-sync --debug --endpoints {dead} set {p}/f 4")},
	{args: w("--endpoints {dead} get {p}/f")},
	{args: w("--endpoints localhost:{liveport} get {p}/f")},
	{args: w("--no-sync --endpoints {dead} get {p}/f")},
	{args: w("--endpoints {dead} member list")},
	{args: w("--total-timeout 1ns get {p}/f")},
	{args: w("--no-sync --total-timeout 1ns get {p}/f")},
	// members.
	{args: w("member list"), ids: true, sort: true},
	{args: w("-o json member list"), ids: true, sort: true},
	{args: w("member list extra")},
	{args: w("member add")},
	{args: w("--debug member add new {peer}"), ids: true, capture: `with ID ([0-9a-f]+) `, captureName: "id"},
	{args: w("member list"), ids: true, sort: true},
	{args: w("--debug --no-sync member update {id} {peer2}")},
	{args: w("member list"), ids: true, sort: true},
	{args: w("member update {id}")},
	{args: w("member remove {id}")},
	{args: w("member remove {id}")},
	{args: w("member remove")},
	{args: w("member update 1234 http://127.0.0.1:1")},
	{args: w("member add dup {peer1}")},
	// health.
	{args: w("cluster-health"), ids: true},
	{args: w("-o json cluster-health"), ids: true},
	{args: w("--endpoints {dead} cluster-health")},
	{args: w("--debug cluster-health"), ids: true},
	{args: w("cluster-health --forever"), ids: true, until: "next check after"},
}

// phase2 runs after the third member was stopped: a majority is up.
var phase2 = []step{
	{args: w("set {p}/maj 1")},
	{args: w("get --quorum {p}/maj")},
	{args: w("--no-sync --endpoints {m3},{m1} -o extended get {p}/maj")},
	{args: w("cluster-health"), ids: true},
	{args: w("member list"), ids: true, sort: true},
}

// side is one client under test with its substitutions.
type side struct {
	name string
	cmd  func(args []string) *exec.Cmd
	vars map[string]string
}

func (s *side) subst(x string) string {
	return varRE.ReplaceAllStringFunc(x, func(m string) string {
		name := m[1 : len(m)-1]
		minus := strings.HasSuffix(name, "-1")
		name = strings.TrimSuffix(name, "-1")
		v, ok := s.vars[name]
		if !ok {
			return m
		}
		if minus {
			n, err := strconv.Atoi(v)
			if err != nil {
				return m
			}
			return strconv.Itoa(n - 1)
		}
		return v
	})
}

var varRE = regexp.MustCompile(`\{[a-z0-9]+(-1)?\}`)

type result struct {
	stdout, stderr string
	code           int
}

func (s *side) run(t *testing.T, st step) result {
	t.Helper()
	args := make([]string, len(st.args))
	for i, a := range st.args {
		args[i] = s.subst(a)
	}
	cmd := s.cmd(args)
	for _, e := range st.env {
		cmd.Env = append(cmd.Env, s.subst(e))
	}
	cmd.Stdin = strings.NewReader(st.stdin)
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var found chan struct{} // stdout.found, read here without its lock
	if st.until != "" {
		stdout.until = s.subst(st.until)
		found = make(chan struct{})
		stdout.found = found
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	if st.until != "" {
		select {
		case <-found:
			cmd.Process.Signal(os.Interrupt)
		case <-done:
			t.Fatalf("%s %q exited before printing %q: stdout %q stderr %q", s.name, args, stdout.until, stdout.String(), stderr.String())
		case <-timeout.C:
			cmd.Process.Kill()
			t.Fatalf("%s %q: no %q in 30s: stdout %q stderr %q", s.name, args, stdout.until, stdout.String(), stderr.String())
		}
	}
	var err error
	select {
	case err = <-done:
	case <-timeout.C:
		cmd.Process.Kill()
		t.Fatalf("%s %q: still running after 30s: stdout %q stderr %q", s.name, args, stdout.String(), stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %q: %v", s.name, args, err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: code}
	if st.capture != "" {
		m := regexp.MustCompile(st.capture).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("%s %q: no %s in %q (stderr %q)", s.name, args, st.capture, r.stdout, r.stderr)
		}
		s.vars[st.captureName] = m[1]
	}
	return r
}

// lockedBuffer collects a child's output and signals once it contains until.
type lockedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	until string
	found chan struct{}
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.found != nil && strings.Contains(b.buf.String(), b.until) {
		close(b.found)
		b.found = nil
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var normalisers = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`(Created-Index|Modified-Index|Index): \d+`), "$1: N"},
	{regexp.MustCompile(`"(createdIndex|modifiedIndex)":\d+`), `"$1":N`},
	{regexp.MustCompile(`\[\d+\]\n`), "[N]\n"},
	{regexp.MustCompile(`!= \d+\]`), "!= N]"},
	{regexp.MustCompile(`/\d{20}`), "/SEQ"},
	{regexp.MustCompile(`"expiration":"[^"]*"`), `"expiration":"E"`},
	{regexp.MustCompile(`"ttl":\d+`), `"ttl":N`},
	{regexp.MustCompile(`TTL: [1-9]\d*`), "TTL: N"},
	{regexp.MustCompile(`waitIndex=\d+`), "waitIndex=N"},
	// Which endpoint fails first is random (both clients shuffle them).
	{regexp.MustCompile(`(misconfigured); error #\d+: .*`), "$1; error #N: E"},
	{regexp.MustCompile(`(?m)^error #\d+: `), "error #N: "},
	{regexp.MustCompile(`(?m)^; error #\d+: .*`), "; error #N: E"},
	{regexp.MustCompile(`ETCD_WATCH_MODIFIED_INDEX=\d+|/w 2 \d+`), "/w 2 N"},
}

var (
	idRE       = regexp.MustCompile(`\b[0-9a-f]{6,16}\b`)
	endpointRE = regexp.MustCompile(`^(got endpoints\(|Cluster-Endpoints: |start to sync cluster using endpoints\()(.*?)(\)?( after sync)?)$`)
)

// normalise makes the output of both clients comparable.
func (s *side) normalise(st step, out string, c *cluster) string {
	// Per-client values back to their names, longest first.
	type kv struct{ k, v string }
	var vars []kv
	for k, v := range s.vars {
		if k == "p" || k == "peer" || k == "peer2" || k == "id" {
			vars = append(vars, kv{k, v})
		}
	}
	slices.SortFunc(vars, func(a, b kv) int { return len(b.v) - len(a.v) })
	for _, x := range vars {
		out = strings.ReplaceAll(out, x.v, "{"+x.k+"}")
	}
	for _, n := range normalisers {
		out = n.re.ReplaceAllString(out, n.repl)
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		// After a sync the endpoint order is random.
		if m := endpointRE.FindStringSubmatch(l); m != nil {
			sep := ","
			if strings.Contains(m[2], ", ") {
				sep = ", "
			}
			eps := strings.Split(m[2], sep)
			slices.Sort(eps)
			lines[i] = m[1] + strings.Join(eps, sep) + m[3]
		}
		if strings.HasPrefix(l, "cURL Command: ") {
			for _, u := range c.clientURLs {
				lines[i] = strings.ReplaceAll(lines[i], u, "{member}")
			}
		}
		if strings.HasPrefix(l, "ETCD_INITIAL_CLUSTER=") {
			v := strings.Trim(strings.TrimPrefix(l, "ETCD_INITIAL_CLUSTER="), `"`)
			parts := strings.Split(v, ",")
			slices.Sort(parts)
			lines[i] = `ETCD_INITIAL_CLUSTER="` + strings.Join(parts, ",") + `"`
		}
	}
	if st.ids {
		for i := range lines {
			lines[i] = idRE.ReplaceAllString(lines[i], "ID")
		}
	}
	if st.sort {
		slices.Sort(lines)
	}
	return strings.Join(lines, "\n")
}

// leaderless is a member without a leader: every request gets etcd's 500.
func leaderless(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintln(w, `{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request timed out","index":0}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCompareWithEtcdctl(t *testing.T) {
	etcdctl := refBinary("CAIRN_REF_ETCDCTL", "etcdctl")
	if etcdctl == "" {
		t.Skip("etcdctl not found (set CAIRN_REF_ETCDCTL or install Debian's etcd-client); skipping the comparison with etcdctl")
	}
	servers := os.Getenv("CAIRNCTL_TEST_SERVERS")
	if servers == "" {
		servers = "etcd,cairn"
		if testing.Short() {
			servers = "etcd" // no build of the member daemon
		}
	}
	for _, server := range strings.Split(servers, ",") {
		t.Run(server, func(t *testing.T) {
			var bin string
			switch server {
			case "etcd":
				bin = refBinary("CAIRN_REF_ETCD", "etcd")
				if bin == "" {
					t.Skip("etcd not found (set CAIRN_REF_ETCD or install Debian's etcd-server)")
				}
			case "cairn":
				bin = filepath.Join(t.TempDir(), "cairn")
				out, err := exec.Command("go", "build", "-o", bin, "cairn/tools/cairn").CombinedOutput()
				if err != nil {
					t.Skipf("cairn member does not build: %v\n%s", err, out)
				}
			default:
				t.Fatalf("unknown server %q in CAIRNCTL_TEST_SERVERS (want etcd or cairn)", server)
			}
			var extra []string
			if server == "etcd" {
				// etcd refuses member add until every peer has been
				// connected for 5 s; the script does not wait that long.
				extra = append(extra, "--strict-reconfig-check=false")
			}
			compareOn(t, startCluster(t, bin, 3, extra...), server == "cairn")
		})
	}
}

func compareOn(t *testing.T, c *cluster, learners bool) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	etcdctl := refBinary("CAIRN_REF_ETCDCTL", "etcdctl")
	var base []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "ETCDCTL_") && !strings.HasPrefix(e, "CAIRNCTL_TEST_AS_MAIN=") {
			base = append(base, e)
		}
	}
	base = append(base, "ETCDCTL_API=2", "ETCDCTL_ENDPOINTS="+strings.Join(c.clientURLs, ","))
	common := map[string]string{
		"live":     c.clientURLs[0],
		"liveport": strings.TrimPrefix(c.clientURLs[0], "http://127.0.0.1:"),
		"m1":       c.clientURLs[0],
		"m3":       c.clientURLs[2],
		"dead":     fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		"fake":     leaderless(t),
		"peer1":    c.peerURLs[0],
	}
	mkSide := func(name, prefix string, cmd func([]string) *exec.Cmd) *side {
		s := &side{name: name, cmd: cmd, vars: map[string]string{
			"p":     prefix,
			"peer":  fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
			"peer2": fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		}}
		for k, v := range common {
			s.vars[k] = v
		}
		return s
	}
	ref := mkSide("etcdctl", "/ctl-e", func(args []string) *exec.Cmd {
		cmd := exec.Command(etcdctl, args...)
		cmd.Env = slices.Clone(base)
		return cmd
	})
	ours := mkSide("cairnctl", "/ctl-c", func(args []string) *exec.Cmd {
		cmd := exec.Command(self, args...)
		cmd.Env = append(slices.Clone(base), "CAIRNCTL_TEST_AS_MAIN=1")
		return cmd
	})
	script := func(steps []step) {
		t.Helper()
		want := make([]result, len(steps))
		for i, st := range steps {
			want[i] = ref.run(t, st)
		}
		for i, st := range steps {
			got := ours.run(t, st)
			w := want[i]
			gs, ws := ours.normalise(st, got.stdout, c), ref.normalise(st, w.stdout, c)
			ge, we := ours.normalise(st, got.stderr, c), ref.normalise(st, w.stderr, c)
			switch st.mode {
			case compareUsage:
				gs, _, _ = strings.Cut(gs, "\n")
				ws, _, _ = strings.Cut(ws, "\n")
			case compareHelp:
				if got.stdout == "" || w.stdout == "" {
					t.Errorf("%q: help: cairnctl printed %d bytes, etcdctl %d", st.args, len(got.stdout), len(w.stdout))
				}
				gs, ws, ge, we = "", "", "", ""
			}
			if got.code != w.code || gs != ws || ge != we {
				t.Errorf("step %d %q:\nexit: cairnctl %d, etcdctl %d\nstdout cairnctl:\n%s\nstdout etcdctl:\n%s\nstderr cairnctl:\n%s\nstderr etcdctl:\n%s",
					i, st.args, got.code, w.code, gs, ws, ge, we)
			}
		}
	}
	script(phase1)
	if t.Failed() {
		return
	}
	if learners {
		learnerSteps(t, ours)
	}
	c.stop(t, 2)
	script(phase2)
}

// learnerSteps checks the learner extension, which etcd 3.4's v2 API does
// not have, so there is no etcdctl output to compare with.
func learnerSteps(t *testing.T, ours *side) {
	t.Helper()
	steps := []struct {
		st       step
		wantOut  string // substring of stdout
		wantErr  string // substring of stderr
		wantCode int
	}{
		{step{args: w("member add --learner l {peer}"), capture: `with ID ([0-9a-f]+) `, captureName: "id"},
			"Added learner named l with ID ", "", 0},
		{step{args: w("member list")}, "[unstarted]: peerURLs={peer} isLearner=true\n", "", 0},
		// The learner never started, so it cannot have caught up.
		{step{args: w("member promote {id}")}, "", "can only promote a learner member which is in sync with leader", exitBadArgs},
		{step{args: w("member remove {id}")}, "Removed member {id} from cluster\n", "", 0},
	}
	for _, s := range steps {
		got := ours.run(t, s.st)
		wantOut, wantErr := ours.subst(s.wantOut), ours.subst(s.wantErr)
		if got.code != s.wantCode || !strings.Contains(got.stdout, wantOut) || !strings.Contains(got.stderr, wantErr) {
			t.Errorf("%q: got %q, %q, exit %d; want %q, %q, exit %d", s.st.args, got.stdout, got.stderr, got.code, wantOut, wantErr, s.wantCode)
		}
	}
}
