package rafttest_test

import (
	"fmt"

	"cairn/raft"
	"cairn/raft/rafttest"
)

// A three-member cluster loses its leader to a partition, elects another,
// heals, and converges; the checker finds no safety violation.
func ExampleNetwork() {
	nw := rafttest.New(42, raft.Config{
		ElectionTick:    10,
		HeartbeatTick:   1,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 64,
	})
	if err := nw.Bootstrap(1, 2, 3); err != nil {
		fmt.Println(err)
		return
	}
	if err := nw.Campaign(1); err != nil {
		fmt.Println(err)
		return
	}
	nw.Settle()
	fmt.Println("leader:", nw.Leader())

	nw.Isolate(1)
	nw.Ticks(50)
	lead := nw.Leader()
	fmt.Println("a new leader on the majority side:", lead == 2 || lead == 3)

	if err := nw.Propose(lead, []byte("x=1")); err != nil {
		fmt.Println(err)
		return
	}
	nw.Heal()
	nw.Ticks(10)
	a := nw.Member(lead).Applied()
	fmt.Println("all applied the same:", nw.Member(1).Applied() == a && nw.Member(2).Applied() == a && nw.Member(3).Applied() == a)
	fmt.Println("violations:", nw.Err())
	// Output:
	// leader: 1
	// a new leader on the majority side: true
	// all applied the same: true
	// violations: <nil>
}
