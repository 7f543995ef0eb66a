package snapshot

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchPayload is 8 MiB of records resembling the kv store's snapshot
// stream. The large (1 million pair) measurement is the program in
// internal/measure.
func benchPayload() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 8<<20; i++ {
		fmt.Fprintf(&b, "/registry/items/%012d/spec/%s\x00{\"id\":%d,\"rev\":%d,\"token\":\"%x\"}\n",
			i, "xxxxxxxxxxxxxxxxxxxxxxxx", i, i*7919%100003, uint64(i)*0x9e3779b97f4a7c15)
	}
	return b.Bytes()
}

func BenchmarkCommit(b *testing.B) {
	payload := benchPayload()
	s, err := New(b.TempDir(), &Options{Keep: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		i++
		w, err := s.Create(testMeta(1, i))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(payload); err != nil {
			b.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewestRead(b *testing.B) {
	payload := benchPayload()
	s, err := New(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	w, err := s.Create(testMeta(1, 1))
	if err != nil {
		b.Fatal(err)
	}
	w.Write(payload)
	if err := w.Commit(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.Newest()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
