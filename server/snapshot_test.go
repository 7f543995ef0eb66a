package server

import (
	"cairn/wal"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func listDir(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), suffix) {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestSnapshotReleaseAndRestart(t *testing.T) {
	nodes := newCluster(t, 1, func(m *Member) { m.CatchUpEntries = 2 },
		"--snapshot-count", "10", "--max-wal-segment-size", "65536")
	n := nodes[0]
	big := strings.Repeat("x", 4000)
	keys := 60
	if testing.Short() {
		keys = 40
	}
	for i := range keys {
		put(t, n, fmt.Sprintf("/k%d", i), big)
	}
	walDir, snapDir, _ := n.m.dataDirs()
	if snaps := listDir(t, snapDir, ".snap"); len(snaps) == 0 {
		t.Fatalf("no snapshot after %d writes with --snapshot-count 10", keys)
	}
	segs := listDir(t, walDir, ".wal")
	if len(segs) == 0 || strings.HasPrefix(segs[0], "0000000000000001-") {
		t.Fatalf("first WAL segment not released: %v", segs)
	}
	// Released segments are recycled: the tail was written into one (its
	// frames carry a nonzero segment tag, bits 40-55 of the first word), and
	// the restart below replays it.
	head := make([]byte, 8)
	if f, err := os.Open(filepath.Join(walDir, segs[len(segs)-1])); err != nil {
		t.Fatal(err)
	} else {
		_, err = io.ReadFull(f, head)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if tag := binary.LittleEndian.Uint64(head) >> 40 & 0xffff; tag == 0 {
		t.Fatalf("tail segment %s was not written into a recycled one (spares: %v)", segs[len(segs)-1], listDir(t, walDir, ".spare"))
	}
	before := n.m.store.Index()

	n.m.Stop()
	n.start(t, nodes, "new", nil)
	if n.m.snapIndex.Load() == 0 {
		t.Fatal("restart did not load a snapshot")
	}
	for _, i := range []int{0, keys / 2, keys - 1} {
		r := quorumGet(t, n, fmt.Sprintf("/k%d", i))
		if r.code != 200 || !strings.Contains(r.body, big) {
			t.Fatalf("key %d after restart: %d %.100s", i, r.code, r.body)
		}
	}
	if got := n.m.store.Index(); got != before {
		t.Fatalf("store index after restart = %d, want %d", got, before)
	}
	if _, err := os.Stat(filepath.Join(snapDir)); err != nil {
		t.Fatal(err)
	}
}

// TestInterruptedBootstrap: a crash after the WAL was created but before
// the initial membership was saved leaves an empty WAL; the next start
// bootstraps again instead of waiting forever for a leader.
func TestInterruptedBootstrap(t *testing.T) {
	n := newTestNode(t, "m0")
	n.create(t, []*testNode{n}, "new", nil)
	walDir, _, _ := n.m.dataDirs()
	if err := os.MkdirAll(filepath.Dir(walDir), 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := wal.Create(walDir, wal.Metadata{MemberID: 7, ClusterID: 9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := n.m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	n.waitReady(t)
	if r := put(t, n, "/k", "v"); !strings.Contains(r.body, `"modifiedIndex":4`) {
		t.Fatalf("first write after re-bootstrap: %s", r.body)
	}
}

func TestSnapshotStagger(t *testing.T) {
	voters := []uint64{30, 10, 20}
	for _, c := range []struct {
		id, count, want uint64
	}{
		{10, 10000, 0}, {20, 10000, 3333}, {30, 10000, 6666},
		{40, 10000, 0}, // a learner
		{20, 2, 0},
	} {
		if got := snapshotStagger(c.id, voters, c.count); got != c.want {
			t.Errorf("snapshotStagger(%d, %v, %d) = %d, want %d", c.id, voters, c.count, got, c.want)
		}
	}
	if got := snapshotStagger(7, []uint64{7}, 100); got != 0 {
		t.Errorf("a lone member staggers by %d", got)
	}
}

// TestSnapshotsStaggered checks that the members of a cluster take their
// snapshots at indexes apart.
func TestSnapshotsStaggered(t *testing.T) {
	const count = 30
	nodes := newCluster(t, 3, nil, "--snapshot-count", fmt.Sprint(count))
	for i := range 2 * count {
		put(t, nodes[0], fmt.Sprintf("/k%d", i), "v")
	}
	var lo, hi uint64
	for _, n := range nodes {
		// The loop starts a snapshot once it applies the entry; wait for
		// it to be recorded.
		var idx uint64
		for range 200 {
			if idx = n.m.snapIndex.Load(); idx != 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if idx == 0 {
			t.Fatalf("%x took no snapshot after %d writes with --snapshot-count %d", n.m.id, 2*count, count)
		}
		if lo == 0 || idx < lo {
			lo = idx
		}
		hi = max(hi, idx)
	}
	// Staggered by count/3 per rank, the members' latest snapshots lie
	// count/3 or more apart; unstaggered, they are at the same index or
	// within a batch.
	if hi-lo < count/3 {
		t.Errorf("latest snapshots at indexes %d to %d: not staggered", lo, hi)
	}
}
