package wal_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"cairn/raft"
	"cairn/wal"
)

// A member creates its log, saves Raft's output, and after a restart
// replays it from its snapshot.
func Example() {
	base, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	dir := filepath.Join(base, "member")

	w, err := wal.Create(dir, wal.Metadata{MemberID: 0x1, ClusterID: 0xc1}, nil)
	if err != nil {
		log.Fatal(err)
	}
	ents := []raft.Entry{
		{Term: 1, Index: 1, Data: []byte("a")},
		{Term: 1, Index: 2, Data: []byte("b")},
		{Term: 1, Index: 3, Data: []byte("c")},
	}
	res, err := w.Save(raft.HardState{Term: 1, Vote: 1, Commit: 1}, ents)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("batch", res.Batch, "is durable")
	// A new leader overwrites entry 3 (Raft §5.3).
	if _, err := w.Save(raft.HardState{Term: 2, Commit: 2}, []raft.Entry{{Term: 2, Index: 3, Data: []byte("C")}}); err != nil {
		log.Fatal(err)
	}
	if err := w.SaveSnapshot(wal.SnapshotMarker{Index: 1, Term: 1}); err != nil {
		log.Fatal(err)
	}
	w.Close()

	w, err = wal.Open(dir, wal.SnapshotMarker{Index: 1, Term: 1}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	md, hs, got, err := w.ReadAll()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("member %#x, term %d, commit %d\n", md.MemberID, hs.Term, hs.Commit)
	for _, e := range got {
		fmt.Printf("%d/%d %s\n", e.Index, e.Term, e.Data)
	}
	// Output:
	// batch 1 is durable
	// member 0x1, term 2, commit 2
	// 2/1 b
	// 3/2 C
}

// Verify reports damage without repairing it.
func ExampleVerify() {
	base, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	dir := filepath.Join(base, "member")
	w, err := wal.Create(dir, wal.Metadata{MemberID: 1}, nil)
	if err != nil {
		log.Fatal(err)
	}
	w.Close()
	fmt.Println(wal.Verify(dir))
	// Output: <nil>
}
