package raft_test

import (
	"fmt"
	"math/rand/v2"

	"cairn/raft"
)

// Example runs a single-member cluster through the Ready loop: persist,
// send, apply, Advance.
func Example() {
	storage := raft.NewMemoryStorage()
	rn, err := raft.NewRawNode(&raft.Config{
		ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: storage,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		Rand: rand.New(rand.NewPCG(1, 2)),
	})
	if err != nil {
		panic(err)
	}
	if err := rn.Bootstrap([]uint64{1}); err != nil {
		panic(err)
	}
	handle := func() {
		for rn.HasReady() {
			rd := rn.Ready()
			// 1. rd.Messages could be sent now (a single member has none).
			// 2. Persist.
			if err := storage.Append(rd.Entries); err != nil {
				panic(err)
			}
			if !rd.HardState.IsEmpty() {
				if err := storage.SetHardState(rd.HardState); err != nil {
					panic(err)
				}
			}
			// 3. rd.MessagesAfterPersist could be sent now.
			// 4. Apply.
			for _, e := range rd.CommittedEntries {
				switch e.Type {
				case raft.EntryConfChange:
					cc, err := raft.UnmarshalConfChange(e.Data)
					if err != nil {
						panic(err)
					}
					cs := rn.ApplyConfChange(cc)
					fmt.Println("membership:", raft.DescribeConfState(*cs))
				case raft.EntryNormal:
					if len(e.Data) > 0 {
						fmt.Printf("applied %q at index %d\n", e.Data, e.Index)
					}
				}
			}
			// 5. Done.
			rn.Advance(rd)
		}
	}
	handle()
	if err := rn.Campaign(); err != nil {
		panic(err)
	}
	handle()
	if err := rn.Propose([]byte("hello")); err != nil {
		panic(err)
	}
	handle()
	st := rn.Status()
	fmt.Println(st.RaftState, "term", st.Term, "commit", st.Commit)
	// Output:
	// membership: Voters:[1] Learners:[]
	// applied "hello" at index 3
	// StateLeader term 2 commit 3
}
