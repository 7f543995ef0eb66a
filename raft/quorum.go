package raft

import "slices"

// voteResult is the outcome of an election so far.
type voteResult uint8

const (
	votePending voteResult = iota
	voteLost
	voteWon
)

func (v voteResult) String() string {
	switch v {
	case votePending:
		return "VotePending"
	case voteLost:
		return "VoteLost"
	case voteWon:
		return "VoteWon"
	}
	return "voteResult(" + itoa(uint64(v)) + ")"
}

// quorumSize is the number of voters that form a majority of n voters.
func quorumSize(n int) int { return n/2 + 1 }

// committedIndex returns the largest index acknowledged by a majority of
// voters, where acked(id) is the highest index voter id has durably stored.
// With no voters it returns the maximum uint64 (an empty config commits
// everything; callers never have one on a leader).
func committedIndex(voters []uint64, acked func(id uint64) uint64) uint64 {
	n := len(voters)
	if n == 0 {
		return ^uint64(0)
	}
	var stack [7]uint64 // avoid allocating for small clusters
	srt := stack[:0]
	if n > len(stack) {
		srt = make([]uint64, 0, n)
	}
	for _, id := range voters {
		srt = append(srt, acked(id))
	}
	slices.Sort(srt)
	// Sorted ascending: the element at n - quorum has at least quorum
	// elements >= it.
	return srt[n-quorumSize(n)]
}

// tallyVotes reports the election outcome among voters given the votes
// received so far (true = granted). Votes from non-voters are ignored.
func tallyVotes(voters []uint64, votes map[uint64]bool) (granted, rejected int, result voteResult) {
	for _, id := range voters {
		v, ok := votes[id]
		if !ok {
			continue
		}
		if v {
			granted++
		} else {
			rejected++
		}
	}
	q := quorumSize(len(voters))
	switch {
	case granted >= q:
		return granted, rejected, voteWon
	case len(voters)-rejected < q:
		return granted, rejected, voteLost
	}
	return granted, rejected, votePending
}
