package kv

import (
	"bytes"
	"errors"
	"testing"
	"testing/quick"
)

func TestRequestRoundTrip(t *testing.T) {
	tests := []Request{
		{Op: OpPut, Path: "/1/foo", Value: "bar", Time: t0},
		{Op: OpPut, Path: "/1/d", Dir: true, PrevExist: PrevExistTrue, HasTTL: true, TTL: 30, Refresh: true, Time: t0},
		{Op: OpPut, Path: "/1/x", Value: "", PrevValue: "old", PrevIndex: 99, PrevExist: PrevExistFalse},
		{Op: OpPost, Path: "/1/q", Value: "job", HasTTL: true, TTL: 0},
		{Op: OpDelete, Path: "/1/d", Recursive: true, Dir: true},
		{Op: OpGet, Path: "/1", Recursive: true, Sorted: true},
		{Op: OpExpire, Time: t0},
	}
	for _, want := range tests {
		got, err := UnmarshalRequest(AppendRequest(nil, &want))
		if err != nil {
			t.Fatalf("%+v: %v", want, err)
		}
		if got != want {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
}

// TestRequestRoundTripQuick: every valid request survives encoding.
func TestRequestRoundTripQuick(t *testing.T) {
	f := func(op uint8, path, value, prevValue string, prevIndex uint64, prevExist uint8, flags uint8, ttl uint32, tm int64) bool {
		r := Request{Op: Op(1 + op%5), Path: "/" + path, Value: value, PrevValue: prevValue, PrevIndex: prevIndex,
			PrevExist: PrevExist(prevExist % 3), Dir: flags&1 != 0, HasTTL: flags&2 != 0, Refresh: flags&4 != 0,
			Recursive: flags&8 != 0, Sorted: flags&16 != 0, Time: tm & (1<<62 - 1)}
		if r.HasTTL {
			r.TTL = int64(ttl)
		}
		got, err := UnmarshalRequest(AppendRequest(nil, &r))
		return err == nil && got == r
	}
	if err := quick.Check(f, nil); err != nil {
		t.Error(err)
	}
}

func TestUnmarshalRequestRejects(t *testing.T) {
	good := AppendRequest(nil, &Request{Op: OpPut, Path: "/a", Value: "v"})
	tests := []struct {
		name string
		buf  []byte
		want error
	}{
		{"empty", nil, ErrDecode},
		{"bad version", append([]byte{9}, good[1:]...), ErrDecode},
		{"unknown flag", append([]byte{1, 1, 0x80}, good[3:]...), ErrDecode},
		{"trailing byte", append(append([]byte{}, good...), 0), ErrDecode},
		{"truncated", good[:len(good)-1], ErrDecode},
		{"unknown op", append([]byte{1, 99}, good[2:]...), ErrInvalidRequest},
		{"no path", AppendRequest(nil, &Request{Op: OpPut}), ErrInvalidRequest},
		{"ttl without HasTTL", AppendRequest(nil, &Request{Op: OpPut, Path: "/a", TTL: 3}), ErrInvalidRequest},
		{"huge string length", []byte{1, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, ErrDecode},
	}
	for _, tt := range tests {
		if _, err := UnmarshalRequest(tt.buf); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := newTestStore(t, Config{}).Apply(Request{Op: OpPut}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Apply(invalid) = %v", err)
	}
}

// FuzzUnmarshalRequest: decoding never panics, and whatever decodes
// re-encodes to the same bytes and applies without panicking.
func FuzzUnmarshalRequest(f *testing.F) {
	for _, r := range []Request{
		{Op: OpPut, Path: "/1/foo", Value: "bar", Time: t0},
		{Op: OpPut, Path: "/1/d", Dir: true, PrevExist: PrevExistTrue, HasTTL: true, TTL: 30, Refresh: true, Time: t0},
		{Op: OpDelete, Path: "/1/d", PrevValue: "x", PrevIndex: 3},
		{Op: OpExpire, Time: t0},
	} {
		f.Add(AppendRequest(nil, &r))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		r, err := UnmarshalRequest(buf)
		if err != nil {
			return
		}
		if again := AppendRequest(nil, &r); !bytes.Equal(again, buf) {
			t.Fatalf("re-encoding differs: %x vs %x", again, buf)
		}
		s := newTestStore(t, Config{})
		s.Apply(Request{Op: OpPut, Path: "/1/foo/bar", Value: "x", Time: t0}) //nolint: setup
		s.Apply(r)                                                            //nolint: any outcome is fine
	})
}
