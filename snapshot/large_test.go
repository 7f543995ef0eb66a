package snapshot

import (
	"hash/crc32"
	"io"
	"os"
	"testing"
)

// TestLargePayload streams a payload of more than 4 GiB through Writer and
// Reader, checking that no length or offset is truncated to 32 bits (it is
// meant to be run on 32-bit ARM, e.g. under qemu-arm-static). The payload is
// mostly zeros, so the file stays small and the test is quick natively. It
// is skipped unless CAIRN_SNAPSHOT_LARGE=1:
//
//	CAIRN_SNAPSHOT_LARGE=1 go test -run TestLargePayload ./snapshot
func TestLargePayload(t *testing.T) {
	if os.Getenv("CAIRN_SNAPSHOT_LARGE") != "1" {
		t.Skip("set CAIRN_SNAPSHOT_LARGE=1 to stream a 4 GiB payload")
	}
	const size = 4<<30 + 12345 // above both int32 and uint32 range
	s := newTestSnapshotter(t, "", nil)
	meta := testMeta(1, 1)
	w, err := s.Create(meta)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	chunk := make([]byte, 1<<20)
	var crc uint32
	for left := int64(size); left > 0; {
		n := int64(len(chunk))
		if left < n {
			n = left
		}
		chunk[0] = byte(left >> 20) // a little variety per chunk
		if _, err := w.Write(chunk[:n]); err != nil {
			t.Fatal(err)
		}
		crc = crc32.Update(crc, castagnoli, chunk[:n])
		left -= n
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, err := s.Newest()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != size {
		t.Fatalf("Size() = %d, want %d", r.Size(), uint64(size))
	}
	cw := &crcWriter{w: io.Discard}
	if _, err := io.Copy(cw, r); err != nil {
		t.Fatalf("reading: %v", err)
	}
	if cw.n != size || cw.crc != crc {
		t.Fatalf("read %d bytes with CRC %#x, want %d with %#x", cw.n, cw.crc, int64(size), crc)
	}
}
