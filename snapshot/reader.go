package snapshot

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/zstd"

	"cairn/raft"
)

// Reader streams the decompressed payload of a snapshot whose envelope has
// already been verified (header, trailer, whole-file CRC32C). As a second,
// end-to-end check it counts and checksums the payload it produces and, at
// the end, compares both with the trailer: Read returns io.EOF only if they
// match, and an error wrapping ErrCorrupt otherwise. Consumers must therefore
// read to io.EOF before trusting what they restored.
//
// A Reader is not safe for concurrent use. Close it when done.
type Reader struct {
	fi     fileInfo
	src    io.ReaderAt
	closer io.Closer // closes src; nil if the caller owns src
	dec    *zstd.Decoder
	io     *ioErrs // src, remembering I/O errors

	// Invariant: n <= fi.payloadLen.
	n   uint64 // payload bytes returned so far
	crc uint32 // CRC32C of the payload returned so far
	err error  // sticky; io.EOF after a clean end
}

// newReader returns a Reader over the verified file described by fi. The
// decoder is created on the first Read, so a Reader that is only inspected
// costs nothing.
func newReader(src io.ReaderAt, fi fileInfo, closer io.Closer) *Reader {
	return &Reader{fi: fi, src: src, closer: closer}
}

// Meta returns the snapshot's metadata.
func (r *Reader) Meta() raft.SnapshotMeta { return r.fi.meta }

// Size returns the length of the uncompressed payload, as recorded in the
// (verified) trailer.
func (r *Reader) Size() uint64 { return r.fi.payloadLen }

// Read reads decompressed payload.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.dec == nil {
		if r.src == nil {
			return 0, errors.New("snapshot: read after Close")
		}
		r.io = &ioErrs{r: r.src}
		dec, err := newDecoder(io.NewSectionReader(r.io, r.fi.bodyOff, r.fi.bodyLen))
		if err != nil {
			r.err = fmt.Errorf("snapshot: creating decoder: %w", err)
			return 0, r.err
		}
		r.dec = dec
	}
	n, err := r.dec.Read(p)
	if rem := r.fi.payloadLen - r.n; uint64(n) > rem {
		n = int(rem)
		r.err = corruptf("payload longer than the %d bytes recorded", r.fi.payloadLen)
	}
	r.n += uint64(n)
	r.crc = crc32.Update(r.crc, castagnoli, p[:n])
	switch {
	case r.err != nil:
	case errors.Is(err, io.EOF):
		switch {
		case r.n != r.fi.payloadLen:
			r.err = corruptf("payload of %d bytes, %d recorded", r.n, r.fi.payloadLen)
		case r.crc != r.fi.payloadCRC:
			r.err = corruptf("payload checksum mismatch: computed %#08x, stored %#08x", r.crc, r.fi.payloadCRC)
		default:
			r.err = io.EOF
		}
	case err != nil && r.io.err != nil:
		// The disk failed, not the data: not ErrCorrupt, so that the
		// file is not set aside for a transient error.
		r.err = fmt.Errorf("snapshot: reading: %w", r.io.err)
	case err != nil:
		r.err = fmt.Errorf("%w: decompressing: %w", ErrCorrupt, err)
	}
	if n > 0 && errors.Is(r.err, io.EOF) {
		return n, nil // report the clean end on the next call
	}
	return n, r.err
}

// Close releases the decoder and closes the file. It is idempotent.
func (r *Reader) Close() error {
	if r.dec != nil {
		r.dec.Close()
		r.dec = nil
	}
	r.src = nil
	if r.err == nil {
		r.err = errors.New("snapshot: read after Close")
	}
	if r.closer != nil {
		c := r.closer
		r.closer = nil
		return c.Close()
	}
	return nil
}

// ioErrs passes ReadAt through and remembers the first error other than
// io.EOF, so that a failing disk can be told apart from corrupt data once
// the decoder reports a problem.
type ioErrs struct {
	r   io.ReaderAt
	err error
}

func (e *ioErrs) ReadAt(p []byte, off int64) (int, error) {
	n, err := e.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}
