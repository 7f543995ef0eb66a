package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cairn/tools/refbin"
)

var (
	flagFlavors = flag.String("e2e.flavors", "cairn,etcd", "comma-separated flavors to run: cairn, etcd")
	flagMeasure = flag.Bool("measure", false, "run the measurements (TestMeasure*) instead of skipping them")
	flagTrials  = flag.Int("measure.trials", 30, "failover trials per flavor in TestMeasureFailover")
	flagKeys    = flag.Int("measure.keys", 100000, "keys written before the restart in TestMeasureRestart")
)

var (
	cairnBin      string // built by TestMain
	cairnBuildErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "cairn-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	if strings.Contains(*flagFlavors, "cairn") {
		cairnBin = filepath.Join(dir, "cairn")
		cmd := exec.Command("go", "build", "-o", cairnBin, "./tools/cairn")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			cairnBuildErr = fmt.Errorf("go build ./tools/cairn: %v\n%s", err, out)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// flavors returns the flavors selected by -e2e.flavors, with the reason a
// flavor cannot run ("" if it can).
func flavors() []struct {
	f    Flavor
	skip string
} {
	var out []struct {
		f    Flavor
		skip string
	}
	for _, name := range strings.Split(*flagFlavors, ",") {
		switch strings.TrimSpace(name) {
		case "cairn":
			skip := ""
			if cairnBuildErr != nil {
				skip = "cairn: daemon does not build: " + cairnBuildErr.Error()
			}
			out = append(out, struct {
				f    Flavor
				skip string
			}{cairnFlavor(), skip})
		case "etcd":
			bin, err := refbin.Find(refbin.EnvEtcd, "etcd")
			skip := ""
			if err != nil {
				skip = "etcd: " + err.Error()
			}
			out = append(out, struct {
				f    Flavor
				skip string
			}{Etcd(bin), skip})
		}
	}
	return out
}

// eachFlavor runs fn as a subtest per selected flavor, skipping flavors that
// cannot run.
func eachFlavor(t *testing.T, fn func(t *testing.T, f Flavor)) {
	t.Helper()
	for _, fl := range flavors() {
		t.Run(fl.f.Name, func(t *testing.T) {
			if fl.skip != "" {
				t.Skip(fl.skip)
			}
			fn(t, fl.f)
		})
	}
}

// cairnFlavor is the cairn flavor; CAIRN_E2E_DEBUG=1 adds --log-level=debug.
func cairnFlavor() Flavor {
	f := Cairn(cairnBin)
	if os.Getenv("CAIRN_E2E_DEBUG") == "1" {
		f.Extra = append(f.Extra, "--log-level=debug")
	}
	return f
}
