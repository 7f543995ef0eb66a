package conformance

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cairn/tools/refbin"
)

var (
	flagReport = flag.String("conformance.report", "", "write the list of differences (markdown) to this file")
	flagDump   = flag.Bool("conformance.dump", false, "log every step's etcd answer (to review the scripts)")
)

var (
	cairnBin      string // built by TestMain
	cairnBuildErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "cairn-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
	cairnBin = filepath.Join(dir, "cairn")
	cmd := exec.Command("go", "build", "-o", cairnBin, "./tools/cairn")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		cairnBuildErr = fmt.Errorf("go build ./tools/cairn: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// etcdBin finds the reference etcd (refbin's search order) or skips.
func etcdBin(t *testing.T) string {
	t.Helper()
	p, err := refbin.Find(refbin.EnvEtcd, "etcd")
	if err != nil {
		t.Skipf("reference etcd 3.4: %v", err)
	}
	return p
}

func scripts(t *testing.T) map[string][]Step {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata: %v", err)
	}
	out := map[string][]Step{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		steps, err := Parse(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".txt")] = steps
	}
	return out
}

// startBoth starts fresh servers from the two binaries, in parallel.
func startBoth(t *testing.T, binA, binB string) (a, b *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var errA, errB error
	var wg sync.WaitGroup
	wg.Go(func() { a, errA = Start(ctx, binA, t.TempDir()) })
	wg.Go(func() { b, errB = Start(ctx, binB, t.TempDir()) })
	wg.Wait()
	if a != nil {
		t.Cleanup(a.Close)
	}
	if b != nil {
		t.Cleanup(b.Close)
	}
	if errA != nil {
		t.Fatalf("%v", errA)
	}
	if errB != nil && binB == cairnBin {
		t.Skipf("cairn side skipped: cairn does not serve: %v", errB)
	}
	if errB != nil {
		t.Fatalf("%v", errB)
	}
	return a, b
}

// runBoth runs steps against a and b concurrently.
func runBoth(t *testing.T, a, b *Server, steps []Step) (ra, rb []Result) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() { ra = Run(t.Context(), a, steps) })
	wg.Go(func() { rb = Run(t.Context(), b, steps) })
	wg.Wait()
	return ra, rb
}

// TestEtcdSelfConsistent validates the scripts and the normalisation: two
// fresh etcds must answer every step identically.
func TestEtcdSelfConsistent(t *testing.T) {
	if testing.Short() {
		t.Skip("validates the scripts only; skipped with -short")
	}
	bin := etcdBin(t)
	for name, steps := range scripts(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := startBoth(t, bin, bin)
			ra, rb := runBoth(t, a, b, steps)
			for i, st := range steps {
				if *flagDump {
					t.Logf("%s:%d: %s\n%s", name, st.Line, st, indent(ra[i].String()))
				}
				if d := Diff(ra[i], rb[i]); d != "" {
					t.Errorf("%s:%d: %s: two etcds differ:\n%s", name, st.Line, st, d)
				}
			}
		})
	}
}

// TestConformance sends every script to a fresh etcd 3.4 and a fresh cairn
// and compares the normalised answers. Steps marked +expect-diff are
// reported (t.Log) rather than failed; one that now matches is reported
// too, so the marker can be removed.
func TestConformance(t *testing.T) {
	bin := etcdBin(t)
	if cairnBuildErr != nil {
		t.Skipf("cairn side skipped: %v", cairnBuildErr)
	}
	var mu sync.Mutex
	report := map[string][]string{}
	t.Cleanup(func() {
		if *flagReport != "" {
			writeReport(t, *flagReport, report)
		}
	})
	for name, steps := range scripts(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := startBoth(t, bin, cairnBin)
			ra, rb := runBoth(t, a, b, steps)
			for i, st := range steps {
				d := Diff(ra[i], rb[i])
				switch {
				case d != "" && st.ExpectDiff != "":
					t.Logf("%s:%d: %s: expected difference (%s):\n%s", name, st.Line, st, st.ExpectDiff, d)
				case d != "":
					t.Errorf("%s:%d: %s:\n%s", name, st.Line, st, d)
				case st.ExpectDiff != "":
					t.Logf("%s:%d: %s: marked +expect-diff (%s) but now matches: remove the marker", name, st.Line, st, st.ExpectDiff)
				}
				if d != "" {
					mu.Lock()
					report[name] = append(report[name], fmt.Sprintf("- `%s` (line %d)%s\n\n```\n%s\n```\n", st, st.Line, expectNote(st), d))
					mu.Unlock()
				}
			}
		})
	}
}

func expectNote(st Step) string {
	if st.ExpectDiff == "" {
		return ""
	}
	return " [expected: " + st.ExpectDiff + "]"
}

func writeReport(t *testing.T, path string, report map[string][]string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# cairn vs etcd 3.4.23: conformance differences\n\nGenerated by `go test ./httpapi/conformance -run TestConformance -conformance.report=%s` at %s.\n\n", path, time.Now().UTC().Format(time.RFC3339))
	total := 0
	for _, name := range sortedKeys(report) {
		fmt.Fprintf(&b, "## %s.txt (%d)\n\n", name, len(report[name]))
		for _, e := range report[name] {
			b.WriteString(e + "\n")
			total++
		}
	}
	if total == 0 {
		b.WriteString("No differences.\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Errorf("writing report: %v", err)
	}
}

func sortedKeys(m map[string][]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// TestParseErrors: malformed scripts are refused with the line number.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{"no target", "GET\n", "line 1: want METHOD /TARGET"},
		{"relative target", "GET v2/keys\n", "line 1: want METHOD /TARGET"},
		{"unknown directive", "+bogus\nGET /\n", "line 1: unknown directive +bogus"},
		{"bad mode", "+mode fuzzy\n", "line 1: unknown mode"},
		{"bad repeat", "+repeat 0\n", "line 1: bad +repeat count"},
		{"empty reason", "+expect-diff\n", "line 1: +expect-diff needs a reason"},
		{"bad header", "+header nocolon\n", "line 1: +header wants Name: Value"},
		{"await unknown", "await w\n", "line 1: await of unknown watch w"},
		{"watch twice", "watch w GET /a\nwatch w GET /b\n", "line 2: watch w is already open"},
		{"bad await count", "watch w GET /a\nawait w x\n", "line 2: await: bad line count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.script))
			if err == nil || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) = %v, want ErrSyntax with %q", tt.script, err, tt.want)
			}
		})
	}
}
