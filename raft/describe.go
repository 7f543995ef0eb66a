package raft

import (
	"fmt"
	"strconv"
	"strings"
)

// DescribeEntry returns a one-line human-readable form of e, for logs and
// test output: "term/index Type data". Conf change entries are decoded.
func DescribeEntry(e Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d %s", e.Term, e.Index, e.Type)
	switch e.Type {
	case EntryConfChange:
		cc, err := UnmarshalConfChange(e.Data)
		if err != nil {
			fmt.Fprintf(&b, " <bad conf change: %v>", err)
		} else {
			fmt.Fprintf(&b, " %s", DescribeConfChange(cc))
		}
	default:
		if len(e.Data) > 0 {
			b.WriteString(" " + strconv.Quote(string(e.Data)))
		}
	}
	return b.String()
}

// DescribeConfChange returns a short form of cc: "v4" (add voter 4), "l4"
// (add learner), "r4" (remove), "u4" (update).
func DescribeConfChange(cc ConfChange) string {
	var p string
	switch cc.Type {
	case ConfChangeAddVoter:
		p = "v"
	case ConfChangeAddLearner:
		p = "l"
	case ConfChangeRemove:
		p = "r"
	case ConfChangeUpdate:
		p = "u"
	default:
		p = "?"
	}
	return p + strconv.FormatUint(cc.NodeID, 16)
}

// DescribeMessage returns a one-line human-readable form of m.
func DescribeMessage(m Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%x->%x %s Term:%d Log:%d/%d", m.From, m.To, m.Type, m.Term, m.LogTerm, m.Index)
	if m.Reject {
		fmt.Fprintf(&b, " Rejected (Hint: %d)", m.RejectHint)
	}
	if m.Commit != 0 {
		fmt.Fprintf(&b, " Commit:%d", m.Commit)
	}
	if len(m.Context) > 0 {
		fmt.Fprintf(&b, " Context:%q", m.Context)
	}
	if len(m.Entries) > 0 {
		b.WriteString(" Entries:[")
		for i, e := range m.Entries {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(DescribeEntry(e))
		}
		b.WriteString("]")
	}
	if s := m.Snapshot; s != nil {
		fmt.Fprintf(&b, " Snapshot: Index:%d Term:%d ConfState:%s", s.Meta.Index, s.Meta.Term, DescribeConfState(s.Meta.ConfState))
	}
	return b.String()
}

// DescribeConfState returns cs as "Voters:[1 2 3] Learners:[4]".
func DescribeConfState(cs ConfState) string {
	return fmt.Sprintf("Voters:%s Learners:%s", describeIDs(cs.Voters), describeIDs(cs.Learners))
}

func describeIDs(ids []uint64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(id, 16)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// DescribeReady returns a multi-line summary of rd (empty parts omitted).
func DescribeReady(rd Ready) string {
	var b strings.Builder
	if rd.SoftState != nil {
		fmt.Fprintf(&b, "Lead:%x State:%s\n", rd.SoftState.Lead, rd.SoftState.RaftState)
	}
	if !rd.HardState.IsEmpty() {
		fmt.Fprintf(&b, "HardState Term:%d Vote:%x Commit:%d\n", rd.HardState.Term, rd.HardState.Vote, rd.HardState.Commit)
	}
	if !rd.Snapshot.IsEmpty() {
		fmt.Fprintf(&b, "Snapshot Index:%d Term:%d ConfState:%s\n", rd.Snapshot.Meta.Index, rd.Snapshot.Meta.Term,
			DescribeConfState(rd.Snapshot.Meta.ConfState))
	}
	list := func(title string, n int, item func(int) string) {
		if n == 0 {
			return
		}
		b.WriteString(title + ":\n")
		for i := 0; i < n; i++ {
			b.WriteString("  " + item(i) + "\n")
		}
	}
	list("Entries", len(rd.Entries), func(i int) string { return DescribeEntry(rd.Entries[i]) })
	list("CommittedEntries", len(rd.CommittedEntries), func(i int) string { return DescribeEntry(rd.CommittedEntries[i]) })
	list("Messages", len(rd.Messages), func(i int) string { return DescribeMessage(rd.Messages[i]) })
	list("MessagesAfterPersist", len(rd.MessagesAfterPersist), func(i int) string { return DescribeMessage(rd.MessagesAfterPersist[i]) })
	list("ReadStates", len(rd.ReadStates), func(i int) string {
		return fmt.Sprintf("Index:%d RequestCtx:%q", rd.ReadStates[i].Index, rd.ReadStates[i].RequestCtx)
	})
	if rd.MustSync {
		b.WriteString("MustSync\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}
