package httpapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
	"unicode/utf8"

	"cairn/kv"
)

// The oracle: etcd's event and error structs rendered by encoding/json, as
// httpapi did before appendEvent. appendEvent and appendError must write
// exactly these bytes.

type oracleNode struct {
	Key           string        `json:"key,omitempty"`
	Value         *string       `json:"value,omitempty"`
	Dir           bool          `json:"dir,omitempty"`
	Expiration    *string       `json:"expiration,omitempty"`
	TTL           int64         `json:"ttl,omitempty"`
	Nodes         []*oracleNode `json:"nodes,omitempty"`
	ModifiedIndex uint64        `json:"modifiedIndex,omitempty"`
	CreatedIndex  uint64        `json:"createdIndex,omitempty"`
}

type oracleEvent struct {
	Action   string      `json:"action"`
	Node     *oracleNode `json:"node,omitempty"`
	PrevNode *oracleNode `json:"prevNode,omitempty"`
}

type oracleError struct {
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
	Cause     string `json:"cause,omitempty"`
	Index     uint64 `json:"index"`
}

func oracleNodeOf(n *kv.Node) *oracleNode {
	if n == nil {
		return nil
	}
	out := &oracleNode{Key: stripKey(n.Key), Value: n.Value, Dir: n.Dir, TTL: n.TTL,
		ModifiedIndex: n.ModifiedIndex, CreatedIndex: n.CreatedIndex}
	if t, ok := n.ExpirationTime(); ok {
		s := t.Format(time.RFC3339Nano)
		out.Expiration = &s
	}
	if len(n.Nodes) > 0 {
		out.Nodes = make([]*oracleNode, len(n.Nodes))
		for i, c := range n.Nodes {
			out.Nodes[i] = oracleNodeOf(c)
		}
	}
	return out
}

func oracleMarshal(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func oracleEventBytes(t testing.TB, ev *kv.Event) []byte {
	return oracleMarshal(t, oracleEvent{Action: ev.Action, Node: oracleNodeOf(ev.Node), PrevNode: oracleNodeOf(ev.PrevNode)})
}

// oddStrings are the strings whose escaping differs between encoders.
var oddStrings = []string{
	"", "/", "/1", "/1/", "/1/a", "/2/a", "a", "<>&", "\"\\", "\b\f\n\r\t", "\x00\x01\x1f\x7f",
	"\u2028\u2029", "\xff", "a\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "héllo", "日本", "😀", "</script>",
	"\ufffd", "\u00e9\u2027\u202a",
}

func randString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return oddStrings[r.IntN(len(oddStrings))]
	}
	b := make([]byte, r.IntN(12))
	for i := range b {
		switch r.IntN(4) {
		case 0:
			b[i] = byte(r.IntN(256))
		case 1:
			b[i] = byte(r.IntN(0x80))
		default:
			const pick = "abc/<>&\"\\\n"
			b[i] = pick[r.IntN(len(pick))]
		}
	}
	s := string(b)
	if r.IntN(3) == 0 {
		s = "/1/" + s
	}
	return s
}

func randNode(r *rand.Rand, depth int) *kv.Node {
	if r.IntN(8) == 0 {
		return nil
	}
	n := &kv.Node{Key: randString(r), Dir: r.IntN(2) == 0}
	if r.IntN(2) == 0 {
		v := randString(r)
		n.Value = &v
	}
	if r.IntN(3) == 0 {
		// Whole seconds, nanoseconds, and trailing zeros in between.
		n.Expiration = []int64{1, fakeNow, fakeNow + 123456789, fakeNow + 120000000, r.Int64(), -r.Int64N(1 << 62)}[r.IntN(6)]
	}
	if r.IntN(3) == 0 {
		n.TTL = r.Int64N(1<<40) - 1<<39
	}
	if depth > 0 && r.IntN(3) == 0 {
		n.Nodes = make([]*kv.Node, r.IntN(4))
		for i := range n.Nodes {
			n.Nodes[i] = randNode(r, depth-1)
		}
	}
	if r.IntN(4) != 0 {
		n.ModifiedIndex = r.Uint64N(1<<20) + 1
	}
	if r.IntN(4) != 0 {
		n.CreatedIndex = r.Uint64() >> uint(r.IntN(64))
	}
	return n
}

func randEvent(r *rand.Rand) *kv.Event {
	actions := []string{kv.ActionGet, kv.ActionSet, kv.ActionCreate, kv.ActionUpdate, kv.ActionDelete,
		kv.ActionCompareAndSwap, kv.ActionCompareAndDelete, kv.ActionExpire}
	ev := &kv.Event{Action: actions[r.IntN(len(actions))], Node: randNode(r, 3), PrevNode: randNode(r, 1)}
	if r.IntN(10) == 0 {
		ev.Action = randString(r)
	}
	return ev
}

// TestAppendEventMatchesEncodingJSON compares appendEvent with the
// encoding/json oracle on random events: odd strings (HTML characters,
// control bytes, U+2028/2029, invalid UTF-8), nested directories, TTLs,
// expirations and previous nodes.
func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		ev := randEvent(r)
		want := oracleEventBytes(t, ev)
		if got := appendEvent(nil, ev); !bytes.Equal(got, want) {
			t.Fatalf("event %d:\n got %q\nwant %q", i, got, want)
		}
		// Appending keeps what dst held.
		if got := appendEvent([]byte("x"), ev); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("event %d appended to a prefix: %q", i, got)
		}
	}
}

func TestAppendErrorMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		e := oracleError{ErrorCode: r.IntN(1000) - 10, Message: randString(r), Cause: randString(r), Index: r.Uint64() >> uint(r.IntN(64))}
		want := oracleMarshal(t, e)
		if got := appendError(nil, e.ErrorCode, e.Message, e.Cause, e.Index); !bytes.Equal(got, want) {
			t.Fatalf("error %+v:\n got %q\nwant %q", e, got, want)
		}
	}
}

// TestAppendJSONStringAllRunes covers every rune and every single byte.
func TestAppendJSONStringAllRunes(t *testing.T) {
	for r := rune(0); r <= utf8.MaxRune+1; r++ {
		s := "a" + string(r) + "b"
		if r < 0x100 {
			s += string([]byte{byte(r)})
		}
		want := oracleMarshal(t, s)
		want = want[:len(want)-1] // the Encoder's newline
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("rune %U: got %q, want %q", r, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range oddStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := "v" + s
		ev := &kv.Event{Action: s, Node: &kv.Node{Key: "/1/" + s, Value: &v, Nodes: []*kv.Node{{Key: s}}}}
		if got, want := appendEvent(nil, ev), oracleEventBytes(t, ev); !bytes.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// TestEventCache checks that a watch write is the event's encoding, that a
// second watcher of the same event gets the same bytes without encoding
// again, and that evicted or large events are encoded afresh.
func TestEventCache(t *testing.T) {
	var c eventCache
	r := rand.New(rand.NewPCG(7, 8))
	evs := make([]*kv.Event, 3*eventCacheSize)
	for i := range evs {
		evs[i] = randEvent(r)
	}
	for round := range 2 {
		for i, ev := range evs {
			got := c.encoded(ev)
			if want := oracleEventBytes(t, ev); !bytes.Equal(got, want) {
				t.Fatalf("round %d event %d: got %q, want %q", round, i, got, want)
			}
			if again := c.encoded(ev); len(got) > 0 && &again[0] != &got[0] {
				t.Fatalf("round %d event %d: encoded twice", round, i)
			}
		}
	}
	big := string(make([]byte, maxCachedEvent))
	ev := &kv.Event{Action: kv.ActionSet, Node: &kv.Node{Key: "/1/big", Value: &big}}
	if a, b := c.encoded(ev), c.encoded(ev); &a[0] == &b[0] || !bytes.Equal(a, b) {
		t.Fatal("a large event was cached")
	}
}
