package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"cairn/raft"
)

// FuzzReadSnapshot feeds arbitrary bytes to the reader (verification, then
// decompression to the end). It must never panic or allocate without bound,
// and whenever it returns a payload without error, that payload must match
// the trailer's length and CRC32C and the envelope must check out when
// recomputed independently here.
//
// The first input byte selects a mode: if its low bit is set, the header
// and whole-file checksums of the rest are recomputed before reading, so the
// fuzzer can reach the metadata, trailer and zstd decoding code behind the
// CRCs (it cannot forge a CRC32C by mutation); otherwise the rest is read as
// is.
//
// Seeds live in testdata/fuzz/FuzzReadSnapshot; run with
//
//	go test -run '^$' -fuzz FuzzReadSnapshot ./snapshot
func FuzzReadSnapshot(f *testing.F) {
	for _, mode := range []byte{0, 1} {
		f.Add(append([]byte{mode}, encodeSnapshot(f, testMeta(1, 1), nil)...))
		f.Add(append([]byte{mode}, encodeSnapshot(f, testMeta(7, 12345), []byte("/registry/items/1\x00value\n"))...))
		f.Add(append([]byte{mode}, encodeSnapshot(f, raft.SnapshotMeta{Index: 3, Term: 2}, bytes.Repeat([]byte("abc"), 5000))...))
		f.Add(append([]byte{mode}, fileMagic...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		mode := data[0]
		data = data[1:]
		if mode&1 == 1 {
			data = fixChecksums(data)
		}
		meta, payload, err := decodeBytes(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt for in-memory input: %v", err)
			}
			return
		}
		// Independent checks of everything the reader accepted.
		if err := validMeta(&meta); err != nil {
			t.Fatalf("accepted invalid metadata %+v: %v", meta, err)
		}
		n := len(data)
		tr := data[n-trailerSize:]
		if got, want := crc32.Checksum(data[:n-8], castagnoli), binary.LittleEndian.Uint32(tr[24:]); got != want {
			t.Fatalf("accepted file with checksum %#x, stored %#x", got, want)
		}
		if got, want := uint64(len(payload)), binary.LittleEndian.Uint64(tr[8:]); got != want {
			t.Fatalf("returned %d payload bytes, trailer says %d", got, want)
		}
		if got, want := crc32.Checksum(payload, castagnoli), binary.LittleEndian.Uint32(tr[16:]); got != want {
			t.Fatalf("returned payload with checksum %#x, trailer says %#x", got, want)
		}
		// What was accepted re-encodes to an acceptable file.
		if _, again, err := decodeBytes(encodeSnapshot(t, meta, payload)); err != nil || !bytes.Equal(again, payload) {
			t.Fatalf("re-encoding the accepted snapshot: %v", err)
		}
	})
}

// fixChecksums returns a copy of b with the header CRC and the whole-file
// CRC recomputed, wherever the layout fields say they are.
func fixChecksums(b []byte) []byte {
	b = bytes.Clone(b)
	if len(b) < minFileSize {
		return b
	}
	confLen := int64(binary.LittleEndian.Uint32(b[12:]))
	if confLen > maxConfStateSize {
		return b
	}
	hdrLen := align8(fixedHeaderSize+confLen) + headerCRCSize
	if hdrLen+trailerSize > int64(len(b)) {
		return b
	}
	binary.LittleEndian.PutUint32(b[hdrLen-8:], crc32.Checksum(b[:hdrLen-8], castagnoli))
	binary.LittleEndian.PutUint32(b[len(b)-8:], crc32.Checksum(b[:len(b)-8], castagnoli))
	return b
}
