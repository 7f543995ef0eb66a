package raft

import (
	"math/rand/v2"
	"testing"
	"testing/quick"
)

// naiveCommitted is the oracle for committedIndex: the largest acked index
// that at least a majority of voters have reached.
func naiveCommitted(acks []uint64) uint64 {
	if len(acks) == 0 {
		return ^uint64(0)
	}
	var best uint64
	for _, candidate := range acks {
		n := 0
		for _, a := range acks {
			if a >= candidate {
				n++
			}
		}
		if n > len(acks)/2 && candidate > best {
			best = candidate
		}
	}
	return best
}

// TestCommittedIndexQuick checks the quorum math of Raft §5.3/§5.4 against
// the naive oracle on random configurations.
func TestCommittedIndexQuick(t *testing.T) {
	cfg := &quick.Config{MaxCount: 2000, Rand: nil}
	if testing.Short() {
		cfg.MaxCount = 300
	}
	r := rand.New(rand.NewPCG(1, 2))
	f := func(n uint8, small bool) bool {
		size := int(n % 12)
		voters := make([]uint64, size)
		acks := make([]uint64, size)
		m := map[uint64]uint64{}
		for i := range voters {
			voters[i] = uint64(i + 1)
			if small {
				acks[i] = r.Uint64N(5)
			} else {
				acks[i] = r.Uint64N(1000)
			}
			m[voters[i]] = acks[i]
		}
		got := committedIndex(voters, func(id uint64) uint64 { return m[id] })
		return got == naiveCommitted(acks)
	}
	if err := quick.Check(f, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestTallyVotes(t *testing.T) {
	tests := []struct {
		voters []uint64
		votes  map[uint64]bool
		want   voteResult
	}{
		{[]uint64{1}, map[uint64]bool{}, votePending},
		{[]uint64{1}, map[uint64]bool{1: true}, voteWon},
		{[]uint64{1}, map[uint64]bool{1: false}, voteLost},
		{[]uint64{1, 2, 3}, map[uint64]bool{1: true}, votePending},
		{[]uint64{1, 2, 3}, map[uint64]bool{1: true, 2: true}, voteWon},
		{[]uint64{1, 2, 3}, map[uint64]bool{1: true, 2: false}, votePending},
		{[]uint64{1, 2, 3}, map[uint64]bool{2: false, 3: false}, voteLost},
		{[]uint64{1, 2, 3, 4}, map[uint64]bool{1: true, 2: true}, votePending},
		{[]uint64{1, 2, 3, 4}, map[uint64]bool{1: true, 2: true, 3: true}, voteWon},
		{[]uint64{1, 2, 3, 4}, map[uint64]bool{3: false, 4: false}, voteLost},
		// Votes from non-voters (learners, removed members) do not count.
		{[]uint64{1, 2, 3}, map[uint64]bool{1: true, 9: true}, votePending},
	}
	for i, tt := range tests {
		_, _, got := tallyVotes(tt.voters, tt.votes)
		if got != tt.want {
			t.Errorf("#%d: tallyVotes(%v, %v) = %v, want %v", i, tt.voters, tt.votes, got, tt.want)
		}
	}
}

// TestTallyVotesQuick compares tallyVotes with a naive count.
func TestTallyVotesQuick(t *testing.T) {
	cfg := &quick.Config{MaxCount: 1000}
	if testing.Short() {
		cfg.MaxCount = 200
	}
	f := func(n uint8, granted, rejected uint16) bool {
		size := int(n%9) + 1
		voters := make([]uint64, size)
		votes := map[uint64]bool{}
		g, rj := 0, 0
		for i := range voters {
			voters[i] = uint64(i + 1)
			switch {
			case granted&(1<<i) != 0:
				votes[voters[i]] = true
				g++
			case rejected&(1<<i) != 0:
				votes[voters[i]] = false
				rj++
			}
		}
		want := votePending
		if g > size/2 {
			want = voteWon
		} else if size-rj <= size/2 {
			want = voteLost
		}
		_, _, got := tallyVotes(voters, votes)
		return got == want
	}
	if err := quick.Check(f, cfg); err != nil {
		t.Fatal(err)
	}
}
