package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"cairn/raft"
)

// The byte layout is documented in doc.go; keep the two in sync.
const (
	fileMagic     = "cairnsnp" // first 8 bytes of every snapshot file
	trailerMagic  = "CSNP"     // last 4 bytes of every snapshot file
	formatVersion = 1

	fixedHeaderSize = 32 // magic, version, confLen, index, term
	headerCRCSize   = 8  // header CRC32C + 4 reserved zero bytes
	trailerSize     = 32
	minFileSize     = fixedHeaderSize + headerCRCSize + trailerSize

	// maxConfStateSize bounds the encoded membership: a ConfState of
	// thousands of members (at most 10 bytes each) fits, and a hostile
	// header cannot make the reader allocate more than this plus 8 bytes
	// per decoded ID (at most 64 Ki IDs, 512 KiB) for the header.
	maxConfStateSize = 64 << 10

	// maxPayloadSize bounds the payload length recorded in a trailer so
	// that int64 arithmetic on it can never overflow.
	maxPayloadSize = 1 << 62
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// align8 rounds n up to a multiple of 8. n must be below 1<<63-8.
func align8(n int64) int64 { return (n + 7) &^ 7 }

// fileInfo is what verify learns about a snapshot file.
//
// Invariant (after verify): bodyOff%8 == 0, bodyOff+align8(bodyLen)+trailerSize
// == the file size, and payloadLen <= maxPayloadSize.
type fileInfo struct {
	meta       raft.SnapshotMeta
	bodyOff    int64  // offset of the first zstd byte
	bodyLen    int64  // bytes of zstd data, without padding
	payloadLen uint64 // bytes of uncompressed payload
	payloadCRC uint32 // CRC32C of the uncompressed payload
}

// validMeta checks a SnapshotMeta that is about to be written or has just
// been decoded: a snapshot covers at least one entry of some term, member
// IDs are non-zero, and no ID appears twice across voters and learners.
func validMeta(m *raft.SnapshotMeta) error {
	if m.Index == 0 {
		return errors.New("index is 0")
	}
	if m.Term == 0 {
		return errors.New("term is 0")
	}
	ids := make([]uint64, 0, len(m.ConfState.Voters)+len(m.ConfState.Learners))
	ids = append(append(ids, m.ConfState.Voters...), m.ConfState.Learners...)
	slices.Sort(ids)
	for i, id := range ids {
		if id == raft.None {
			return errors.New("member ID 0 in membership")
		}
		if i > 0 && ids[i-1] == id {
			return fmt.Errorf("member %x listed twice in membership", id)
		}
	}
	return nil
}

// appendHeader appends the header for meta to buf. It fails if the encoded
// membership exceeds maxConfStateSize.
func appendHeader(buf []byte, meta *raft.SnapshotMeta) ([]byte, error) {
	cs := raft.AppendConfState(nil, &meta.ConfState)
	if len(cs) > maxConfStateSize {
		return nil, fmt.Errorf("%w: membership encodes to %d bytes, limit %d", ErrInvalidMeta, len(cs), maxConfStateSize)
	}
	start := len(buf)
	buf = append(buf, fileMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, formatVersion)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(cs)))
	buf = binary.LittleEndian.AppendUint64(buf, meta.Index)
	buf = binary.LittleEndian.AppendUint64(buf, meta.Term)
	buf = append(buf, cs...)
	for (len(buf)-start)%8 != 0 {
		buf = append(buf, 0)
	}
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf[start:], castagnoli))
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	return buf, nil
}

// appendTrailer appends the trailer to buf. fileCRC is the CRC32C of every
// byte of the file before the trailer; the trailer's own first 24 bytes are
// folded in here.
func appendTrailer(buf []byte, bodyLen int64, payloadLen uint64, payloadCRC, fileCRC uint32) []byte {
	start := len(buf)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(bodyLen))
	buf = binary.LittleEndian.AppendUint64(buf, payloadLen)
	buf = binary.LittleEndian.AppendUint32(buf, payloadCRC)
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	fileCRC = crc32.Update(fileCRC, castagnoli, buf[start:])
	buf = binary.LittleEndian.AppendUint32(buf, fileCRC)
	return append(buf, trailerMagic...)
}

// corruptf returns an error wrapping ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// readAt reads exactly len(p) bytes at off. Running out of bytes inside the
// size the caller believed the file had means the file is shorter than
// claimed, which is corruption; other errors are I/O errors and returned as is.
func readAt(ra io.ReaderAt, p []byte, off int64) error {
	n, err := ra.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return corruptf("short read at offset %d", off+int64(n))
	}
	return fmt.Errorf("snapshot: reading at offset %d: %w", off, err)
}

// verify checks the whole envelope of a snapshot file of the given size: the
// header and its checksum, the metadata, the trailer, the padding and the
// whole-file CRC32C. It reads the file in small chunks, so its memory use
// does not depend on the file size (beyond a header of at most
// maxConfStateSize bytes). It does not decompress the body.
//
// Errors caused by the bytes wrap ErrCorrupt; I/O errors do not.
func verify(ra io.ReaderAt, size int64) (fileInfo, error) {
	var fi fileInfo
	if size < minFileSize {
		return fi, corruptf("file of %d bytes is shorter than the minimum %d", size, minFileSize)
	}
	meta, hdr, err := readHeader(io.NewSectionReader(ra, 0, size))
	if err != nil {
		return fi, err
	}
	hdrLen := int64(len(hdr))
	if hdrLen+trailerSize > size {
		return fi, corruptf("header of %d bytes does not fit in a file of %d bytes", hdrLen, size)
	}
	fi.meta = meta
	fi.bodyOff = hdrLen

	var tr [trailerSize]byte
	trOff := size - trailerSize
	if err := readAt(ra, tr[:], trOff); err != nil {
		return fi, err
	}
	if string(tr[28:]) != trailerMagic {
		return fi, corruptf("bad trailer magic %q (truncated file?)", tr[28:])
	}
	bodyLen := binary.LittleEndian.Uint64(tr[0:])
	if room := uint64(trOff - hdrLen); bodyLen > room || uint64(align8(int64(bodyLen))) != room {
		return fi, corruptf("body length %d does not match the %d bytes between header and trailer", bodyLen, room)
	}
	if bodyLen == 0 {
		// Writers always emit at least one zstd frame, even for an
		// empty payload.
		return fi, corruptf("empty body")
	}
	fi.bodyLen = int64(bodyLen)
	fi.payloadLen = binary.LittleEndian.Uint64(tr[8:])
	if fi.payloadLen > maxPayloadSize {
		return fi, corruptf("payload length %d exceeds limit", fi.payloadLen)
	}
	fi.payloadCRC = binary.LittleEndian.Uint32(tr[16:])
	if binary.LittleEndian.Uint32(tr[20:]) != 0 {
		return fi, corruptf("non-zero reserved trailer field")
	}

	// Whole-file checksum over [0, size-8), streamed in small chunks. The
	// body padding is checked on the way.
	crc := crc32.Update(0, castagnoli, hdr)
	padOff := hdrLen + fi.bodyLen
	buf := make([]byte, 32<<10)
	for off := hdrLen; off < trOff; {
		n := int64(len(buf))
		if rem := trOff - off; rem < n {
			n = rem
		}
		chunk := buf[:n]
		if err := readAt(ra, chunk, off); err != nil {
			return fi, err
		}
		if end := off + n; end > padOff {
			from := max(padOff-off, 0)
			if !allZero(chunk[from:]) {
				return fi, corruptf("non-zero body padding")
			}
		}
		crc = crc32.Update(crc, castagnoli, chunk)
		off += n
	}
	crc = crc32.Update(crc, castagnoli, tr[:24])
	if want := binary.LittleEndian.Uint32(tr[24:]); crc != want {
		return fi, corruptf("file checksum mismatch: computed %#08x, stored %#08x", crc, want)
	}
	return fi, nil
}

// readHeader reads and checks a snapshot header from r: magic, version,
// header checksum, reserved and padding bytes, and the metadata. It returns
// the metadata and the raw header bytes. It allocates at most
// maxConfStateSize plus a few bytes, whatever r holds.
func readHeader(r io.Reader) (raft.SnapshotMeta, []byte, error) {
	var fixed [fixedHeaderSize]byte
	if err := readFull(r, fixed[:]); err != nil {
		return raft.SnapshotMeta{}, nil, err
	}
	if string(fixed[:8]) != fileMagic {
		return raft.SnapshotMeta{}, nil, corruptf("bad magic %q", fixed[:8])
	}
	if v := binary.LittleEndian.Uint32(fixed[8:]); v != formatVersion {
		return raft.SnapshotMeta{}, nil, corruptf("unknown format version %d", v)
	}
	confLen := int64(binary.LittleEndian.Uint32(fixed[12:]))
	if confLen > maxConfStateSize {
		return raft.SnapshotMeta{}, nil, corruptf("membership length %d exceeds limit %d", confLen, maxConfStateSize)
	}
	hdrLen := align8(fixedHeaderSize+confLen) + headerCRCSize
	hdr := make([]byte, hdrLen)
	copy(hdr, fixed[:])
	if err := readFull(r, hdr[fixedHeaderSize:]); err != nil {
		return raft.SnapshotMeta{}, nil, err
	}
	crcOff := hdrLen - headerCRCSize
	if got, want := crc32.Checksum(hdr[:crcOff], castagnoli), binary.LittleEndian.Uint32(hdr[crcOff:]); got != want {
		return raft.SnapshotMeta{}, nil, corruptf("header checksum mismatch: computed %#08x, stored %#08x", got, want)
	}
	if binary.LittleEndian.Uint32(hdr[crcOff+4:]) != 0 {
		return raft.SnapshotMeta{}, nil, corruptf("non-zero reserved header field")
	}
	if !allZero(hdr[fixedHeaderSize+confLen : crcOff]) {
		return raft.SnapshotMeta{}, nil, corruptf("non-zero header padding")
	}
	cs, err := raft.UnmarshalConfState(hdr[fixedHeaderSize : fixedHeaderSize+confLen])
	if err != nil {
		return raft.SnapshotMeta{}, nil, corruptf("membership: %v", err)
	}
	meta := raft.SnapshotMeta{
		Index:     binary.LittleEndian.Uint64(fixed[16:]),
		Term:      binary.LittleEndian.Uint64(fixed[24:]),
		ConfState: cs,
	}
	if err := validMeta(&meta); err != nil {
		return raft.SnapshotMeta{}, nil, corruptf("metadata: %v", err)
	}
	return meta, hdr, nil
}

// readFull is io.ReadFull with running out of input reported as corruption
// (a truncated file or stream).
func readFull(r io.Reader, p []byte) error {
	n, err := io.ReadFull(r, p)
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated after %d of %d header bytes: %w", ErrCorrupt, n, len(p), io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("snapshot: reading header: %w", err)
}

func allZero(b []byte) bool {
	return len(bytes.TrimLeft(b, "\x00")) == 0
}
