package kv_test

import (
	"errors"
	"fmt"
	"time"

	"cairn/kv"
)

func ExampleStore() {
	s, err := kv.New(kv.Config{})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()

	// PUT /v2/keys/foo?value=bar becomes a set of /1/foo.
	ev, _ := s.Apply(kv.Request{Op: kv.OpPut, Path: "/1/foo", Value: "bar", Time: now})
	fmt.Println(ev.Action, ev.Node.Key, *ev.Node.Value, ev.Node.ModifiedIndex, ev.IsCreated())

	// A compare-and-swap whose condition fails.
	_, err = s.Apply(kv.Request{Op: kv.OpPut, Path: "/1/foo", Value: "x", PrevValue: "baz", Time: now})
	var e *kv.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Message, e.Cause, e.Index)
	}

	// A key with a TTL, read 1.5 s later, then expired by the leader.
	s.Apply(kv.Request{Op: kv.OpPut, Path: "/1/tmp", Value: "t", HasTTL: true, TTL: 5, Time: now})
	ev, _ = s.Get("/1/tmp", false, false, now+1500*int64(time.Millisecond))
	exp, _ := ev.Node.ExpirationTime()
	fmt.Println(ev.Node.TTL, exp.Format(time.RFC3339Nano))
	due, _ := s.NextExpiry()
	ev, _ = s.Apply(kv.Request{Op: kv.OpExpire, Time: due})
	fmt.Println(ev.Action, ev.Node.Key, ev.Index)
	// Output:
	// set /1/foo bar 1 true
	// 101 Compare failed [baz != bar] 1
	// 4 2026-01-02T03:04:10Z
	// expire /1/tmp 3
}

func ExampleStore_Watch() {
	s, _ := kv.New(kv.Config{})
	s.Apply(kv.Request{Op: kv.OpPut, Path: "/1/dir/a", Value: "1", Time: 1})

	// GET /v2/keys/dir?wait=true&recursive=true&stream=true&waitIndex=1
	w, _ := s.Watch("/1/dir", true, true, 1)
	defer w.Remove()
	s.Apply(kv.Request{Op: kv.OpPut, Path: "/1/dir/b", Value: "2", Time: 1})
	s.Apply(kv.Request{Op: kv.OpDelete, Path: "/1/dir", Recursive: true, Time: 1})
	for range 3 {
		ev := <-w.Events()
		fmt.Println(ev.Index, ev.Action, ev.Node.Key)
	}
	// Output:
	// 1 set /1/dir/a
	// 2 set /1/dir/b
	// 3 delete /1/dir
}
