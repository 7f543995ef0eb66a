package snapshot_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"cairn/raft"
	"cairn/snapshot"
)

func Example() {
	dir, err := os.MkdirTemp("", "snapshot-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := snapshot.New(dir, &snapshot.Options{Keep: 2})
	if err != nil {
		log.Fatal(err)
	}

	// Take a snapshot: stream the state into a Writer, then Commit.
	meta := raft.SnapshotMeta{Index: 42, Term: 3, ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}}}
	w, err := s.Create(meta)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Abort() // no-op once committed
	if _, err := io.Copy(w, strings.NewReader("/registry/a\x00alpha\n/registry/b\x00beta\n")); err != nil {
		log.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}

	// At startup: restore from the newest snapshot that verifies.
	r, err := s.Newest()
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	state, err := io.ReadAll(r) // a kv store would call Restore(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("index %d term %d voters %v\n", r.Meta().Index, r.Meta().Term, r.Meta().ConfState.Voters)
	fmt.Printf("%q\n", state)
	// Output:
	// index 42 term 3 voters [1 2 3]
	// "/registry/a\x00alpha\n/registry/b\x00beta\n"
}

// A leader streams a stored snapshot to a follower, which verifies it before
// it becomes visible.
func ExampleSnapshotter_Receive() {
	leaderDir, _ := os.MkdirTemp("", "leader")
	followerDir, _ := os.MkdirTemp("", "follower")
	defer os.RemoveAll(leaderDir)
	defer os.RemoveAll(followerDir)
	leader, err := snapshot.New(leaderDir, nil)
	if err != nil {
		log.Fatal(err)
	}
	follower, err := snapshot.New(followerDir, nil)
	if err != nil {
		log.Fatal(err)
	}

	meta := raft.SnapshotMeta{Index: 7, Term: 1, ConfState: raft.ConfState{Voters: []uint64{1}, Learners: []uint64{2}}}
	w, _ := leader.Create(meta)
	io.WriteString(w, "state")
	if err := w.Commit(); err != nil {
		log.Fatal(err)
	}

	raw, size, err := leader.OpenRaw(meta)
	if err != nil {
		log.Fatal(err)
	}
	defer raw.Close()
	got, err := follower.Receive(raw) // in real life, raw goes over the network
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(size > 0, got.Index, got.Term, got.ConfState.Learners)
	// Output: true 7 1 [2]
}
