package raft

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"testing/quick"
)

func randBytes(r *rand.Rand, n int) []byte {
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randMessage(r *rand.Rand) Message {
	m := Message{
		Type: MessageType(r.IntN(int(msgTypeCount))), To: r.Uint64(), From: r.Uint64(),
		Term: r.Uint64(), LogTerm: r.Uint64N(100), Index: r.Uint64(), Commit: r.Uint64(),
		Reject: r.IntN(2) == 0, RejectHint: r.Uint64N(1000), Context: randBytes(r, r.IntN(4)),
	}
	for i := range r.IntN(4) {
		m.Entries = append(m.Entries, Entry{Term: r.Uint64N(10), Index: uint64(i) + 1,
			Type: EntryType(r.IntN(2)), Data: randBytes(r, r.IntN(8))})
	}
	if r.IntN(3) == 0 {
		m.Snapshot = &Snapshot{Meta: SnapshotMeta{Index: r.Uint64(), Term: r.Uint64(),
			ConfState: ConfState{Voters: []uint64{1, 2}, Learners: []uint64{r.Uint64()}}}, Data: randBytes(r, r.IntN(16))}
	}
	return m
}

// TestMessageRoundTripQuick: UnmarshalMessage inverts AppendMessage.
func TestMessageRoundTripQuick(t *testing.T) {
	cfg := &quick.Config{MaxCount: 2000}
	if testing.Short() {
		cfg.MaxCount = 300
	}
	f := func(seed uint64) bool {
		m := randMessage(rand.New(rand.NewPCG(seed, 7)))
		got, err := UnmarshalMessage(AppendMessage(nil, &m))
		if err != nil {
			t.Logf("unmarshal: %v", err)
			return false
		}
		return reflect.DeepEqual(got, m)
	}
	if err := quick.Check(f, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestConfChangeRoundTrip(t *testing.T) {
	tests := []ConfChange{
		{},
		{ID: 7, Type: ConfChangeAddVoter, NodeID: 0xdeadbeef},
		{ID: 1 << 63, Type: ConfChangeRemove, NodeID: 3, Context: []byte("name=a url=http://x")},
		{Type: ConfChangeAddLearner, NodeID: 4},
		{Type: ConfChangeUpdate, NodeID: 5, Context: []byte{0}},
	}
	for _, cc := range tests {
		got, err := UnmarshalConfChange(AppendConfChange(nil, &cc))
		if err != nil {
			t.Fatalf("%+v: %v", cc, err)
		}
		if !reflect.DeepEqual(got, cc) {
			t.Errorf("round trip: got %+v, want %+v", got, cc)
		}
	}
	cs := ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{9}}
	got, err := UnmarshalConfState(AppendConfState(nil, &cs))
	if err != nil || !got.Equal(cs) {
		t.Errorf("conf state round trip: got %+v, %v", got, err)
	}
}

func TestUnmarshalMessageRejectsGarbage(t *testing.T) {
	good := Message{Type: MsgApp, To: 1, From: 2, Term: 3, Entries: []Entry{{Term: 3, Index: 1, Data: []byte("x")}}}
	enc := AppendMessage(nil, &good)
	tests := []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"truncated", enc[:len(enc)-1]},
		{"trailing", append(append([]byte(nil), enc...), 0)},
		{"bad type", append([]byte{byte(msgTypeCount)}, enc[1:]...)},
		{"bad flags", append([]byte{enc[0], 0x80}, enc[2:]...)},
		{"huge count", []byte{3, 0, 1, 2, 3, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, tt := range tests {
		if _, err := UnmarshalMessage(tt.buf); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: err = %v, want ErrDecode", tt.name, err)
		}
	}
}

// FuzzUnmarshalMessage: decoding arbitrary bytes never panics, and whatever
// decodes re-encodes to the same bytes and survives validation without a
// panic.
func FuzzUnmarshalMessage(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		m := randMessage(r)
		f.Add(AppendMessage(nil, &m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := UnmarshalMessage(data)
		if err != nil {
			return
		}
		again := AppendMessage(nil, &m)
		m2, err := UnmarshalMessage(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip mismatch: %+v vs %+v", m, m2)
		}
		_ = m.valid()
	})
}
