package wal

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cairn/raft"
)

// crashChildEnv switches the test binary into the child role of
// TestCrashSubprocess; its value is the WAL directory.
const (
	crashChildEnv  = "CAIRN_WAL_CRASH_CHILD"
	crashDirectEnv = "CAIRN_WAL_CRASH_DIRECT"
	crashZerosEnv  = "CAIRN_WAL_CRASH_ZEROS"
)

// crashSegmentSize is the children's segment size; those that write zeros
// ahead of the log (zero.go) use crashZerosSegmentSize, room for a few
// chunks of zeros that the kills and torn writes also hit.
const (
	crashSegmentSize      = 4096
	crashZerosSegmentSize = 40 << 10
)

// TestCrashChild is the child process of TestCrashSubprocess: it recovers
// the WAL, then appends batches forever, printing "batch lastIndex" after
// each Save returns, until it is killed. Every 25 batches it records a
// snapshot marker and releases older segments, so kills also land in those.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashSubprocess")
	}
	fail := func(err error) {
		fmt.Fprintf(os.Stdout, "ERR %v\n", err)
		os.Exit(3)
	}
	direct := os.Getenv(crashDirectEnv) != ""
	opts := &Options{SegmentSize: crashSegmentSize, DirectIO: direct, zeroMode: zeroOff}
	if os.Getenv(crashZerosEnv) != "" {
		opts.SegmentSize, opts.zeroMode = crashZerosSegmentSize, zeroOn
	}
	// One write in 40 is torn: only a random prefix of it reaches the file
	// and the child kills itself before the fdatasync, as a power cut
	// would leave it.
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	opts.ops.writeAt = func(f *os.File, b []byte, off int64) (int, error) {
		if rnd.IntN(40) == 0 {
			n := rnd.IntN(len(b))
			if direct {
				n &^= 511 // an O_DIRECT write tears at sector boundaries
			}
			f.WriteAt(b[:n], off)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return f.WriteAt(b, off)
	}
	var w *WAL
	var last uint64
	var err error
	if !Exist(dir) {
		if w, err = Create(dir, Metadata{MemberID: 1, ClusterID: 1}, opts); err != nil {
			fail(err)
		}
	} else {
		r, err := readDir(dir, SnapshotMarker{}, true)
		if err != nil {
			fail(err)
		}
		if w, err = Open(dir, r.snap, opts); err != nil {
			fail(err)
		}
		if _, _, _, err = w.ReadAll(); err != nil {
			fail(err)
		}
		last = w.state.lastIndex
	}
	for {
		n := 1 + int(last%9)
		ents := mkEnts(last+1, n, 1, 8+int(last%61))
		res, err := w.Save(raft.HardState{Term: 1, Vote: 1, Commit: last}, ents)
		if err != nil {
			fail(err)
		}
		last += uint64(n)
		fmt.Fprintf(os.Stdout, "%d %d\n", res.Batch, last)
		if res.Batch%25 == 0 {
			m := SnapshotMarker{Index: last - 1, Term: 1}
			if err := w.SaveSnapshot(m); err != nil {
				fail(err)
			}
			if err := w.ReleaseBefore(m.Index); err != nil {
				fail(err)
			}
		}
	}
}

// TestCrashSubprocess kills a child that appends and syncs batches with
// SIGKILL at random moments, and checks after each kill that every batch
// the child reported as saved is present, in order, and nothing else is.
// The child also tears some of its own writes and kills itself (see
// TestCrashChild), so recovery repairs real torn tails along the way.
func TestCrashSubprocess(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	iters, budget := 100, 20*time.Second
	if testing.Short() {
		iters, budget = 15, 5*time.Second
	}
	dir := filepath.Join(t.TempDir(), "wal")
	checkOnCleanup(t, dir)
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	var reportedBatch, reportedIndex uint64
	nextBatch := uint64(1)
	start := time.Now()
	kills, repairs := 0, 0
	for i := 0; i < iters && time.Since(start) < budget; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		if i%2 == 1 { // every other child writes with O_DIRECT
			cmd.Env = append(cmd.Env, crashDirectEnv+"=1")
		}
		if i%4 >= 2 { // and every other pair writes zeros ahead of the log
			cmd.Env = append(cmd.Env, crashZerosEnv+"=1")
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			var ee *exec.Error
			if i == 0 && (errors.As(err, &ee) || strings.Contains(err.Error(), "exec format error")) {
				t.Skipf("cannot re-execute the test binary here: %v", err)
			}
			t.Fatal(err)
		}
		// Kill after a random number of reported batches (0: while it is
		// still recovering).
		want := rnd.IntN(60)
		sc := bufio.NewScanner(out)
		lines := 0
		for lines < want && sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "ERR") {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child %d: %s", i, line)
			}
			var b, idx uint64
			if _, err := fmt.Sscanf(line, "%d %d", &b, &idx); err != nil {
				continue // test framework output
			}
			// Batches follow on from what recovery found (or from the
			// previous line of this child).
			if b != nextBatch {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child %d reported batch %d, want %d", i, b, nextBatch)
			}
			nextBatch++
			reportedBatch, reportedIndex = b, idx
			lines++
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill child %d (pid %d): %v", i, cmd.Process.Pid, err)
		}
		cmd.Wait()
		kills++
		last, repaired := checkRecovered(t, dir, reportedBatch, reportedIndex)
		nextBatch = last + 1
		if repaired {
			repairs++
		}
	}
	t.Logf("%d kills, %d torn tails repaired, last reported batch %d, index %d", kills, repairs, reportedBatch, reportedIndex)
	if reportedBatch == 0 {
		t.Fatal("the child never reported a batch")
	}
}

// checkRecovered recovers dir the way a member would (from its latest
// snapshot marker) and checks it against what the child reported. It
// returns the number of the last batch recovered and whether a torn tail
// was repaired.
func checkRecovered(t *testing.T, dir string, batch, index uint64) (uint64, bool) {
	t.Helper()
	if !Exist(dir) {
		if batch == 0 {
			return 0, false // killed before Create finished
		}
		t.Fatalf("WAL gone after batch %d was reported", batch)
	}
	r, err := readDir(dir, SnapshotMarker{}, true)
	if err != nil {
		t.Fatalf("replay after kill: %v", err)
	}
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	w, err := Open(dir, r.snap, &Options{SegmentSize: crashSegmentSize, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, hs, ents, err := w.ReadAll()
	if err != nil {
		t.Fatalf("ReadAll after kill: %v", err)
	}
	if w.state.batch < batch || w.state.lastIndex < index {
		t.Fatalf("recovered batch %d index %d, but the child reported batch %d index %d as saved",
			w.state.batch, w.state.lastIndex, batch, index)
	}
	next := r.snap.Index + 1
	for _, e := range ents {
		if e.Index != next || e.Term != 1 || string(e.Data) != string(entryData(e.Index, 1, len(e.Data))) {
			t.Fatalf("entry %d (term %d, %q) was never written", e.Index, e.Term, e.Data)
		}
		next++
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*"+tmpExt)); len(tmps) > 0 {
		t.Fatalf("temporary files left after recovery: %v", tmps)
	}
	// A child killed before its first batch leaves an empty log.
	if next-1 != w.state.lastIndex || w.state.batch > 0 && hs.Term != 1 {
		t.Fatalf("replay ends at %d, log at %d, hard state %+v", next-1, w.state.lastIndex, hs)
	}
	return w.state.batch, strings.Contains(logs.String(), "torn tail")
}
