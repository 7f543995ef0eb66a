package snapshot

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"

	"cairn/raft"
)

// Compression settings, chosen for small boxes: one synchronous encoder
// goroutine-free stream, a 128 KiB window (the window is what dominates
// both encoder and decoder memory), the fastest level. Readers accept
// windows up to maxDecoderWindow, so snapshots written with the 1 MiB
// window of earlier versions still read, and a later version may raise
// encoderWindow again.
//
// On a snapshot of 10,000 keys with their event history (8.4 MB, from the
// benchmark's write workload) the 128 KiB window took 5.9 ms of CPU and
// 285 KB against 7.3-9.0 ms and 293 KB with 1 MiB: the fastest level's
// matches are short-range anyway. A snapshot runs on every member, and its
// CPU is what delays the requests in flight.
//
// The encoder does not use zstd's low-memory mode: on that snapshot it
// took 13.6 ms of CPU to save 1.1 MiB of allocation, against 8.8-9.2 ms
// without it.
const (
	encoderWindow    = 128 << 10
	maxDecoderWindow = 8 << 20
)

func newEncoder(w io.Writer) (*zstd.Encoder, error) {
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(encoderWindow),
		zstd.WithEncoderCRC(true),
		zstd.WithZeroFrames(true),
	)
}

func newDecoder(r io.Reader) (*zstd.Decoder, error) {
	return zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxDecoderWindow),
		zstd.WithDecoderMaxMemory(maxDecoderWindow),
	)
}

// Writer takes the uncompressed payload of a new snapshot. It compresses as
// it goes, so the payload never has to be in memory as a whole. Nothing is
// visible in the snapshot directory until Commit returns nil.
//
// A Writer is not safe for concurrent use. Exactly one of Commit or Abort
// must be called; Abort after Commit is a no-op, so `defer w.Abort()` is the
// idiom.
type Writer struct {
	s    *Snapshotter
	meta raft.SnapshotMeta
	f    *os.File  // temporary file; nil once committed or aborted
	out  crcWriter // counts and checksums every byte of the file
	enc  *zstd.Encoder

	bodyOff    int64  // file offset where the zstd stream starts
	payloadLen uint64 // uncompressed bytes written so far
	payloadCRC uint32 // CRC32C of the uncompressed bytes written so far
	err        error  // first error; sticky
}

// Meta returns the metadata the snapshot is written with.
func (w *Writer) Meta() raft.SnapshotMeta { return w.meta }

// Write compresses p into the snapshot.
func (w *Writer) Write(p []byte) (int, error) {
	if w.f == nil {
		return 0, ErrFinished
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.enc.Write(p)
	w.payloadLen += uint64(n)
	w.payloadCRC = crc32.Update(w.payloadCRC, castagnoli, p[:n])
	if err != nil {
		w.err = fmt.Errorf("snapshot: writing: %w", err)
		return n, w.err
	}
	return n, nil
}

// Commit finishes the compressed stream, writes the trailer, fsyncs the file,
// renames it into place and fsyncs the directory, then removes snapshots
// beyond the retention count. On error the snapshot is not visible (unless
// the final directory fsync failed, in which case it is visible but maybe not
// durable; the caller must treat an fsync error as fatal).
func (w *Writer) Commit() error {
	if w.f == nil {
		return ErrFinished
	}
	if err := w.commit(); err != nil {
		w.Abort()
		return err
	}
	return nil
}

func (w *Writer) commit() error {
	if w.err != nil {
		return w.err
	}
	if err := w.enc.Close(); err != nil {
		return fmt.Errorf("snapshot: finishing compression: %w", err)
	}
	bodyLen := w.out.n - w.bodyOff
	var pad [8]byte
	w.out.Write(pad[:align8(bodyLen)-bodyLen])
	tr := appendTrailer(nil, bodyLen, w.payloadLen, w.payloadCRC, w.out.crc)
	w.out.Write(tr)
	if w.out.err != nil {
		return fmt.Errorf("snapshot: writing: %w", w.out.err)
	}
	if err := w.out.w.(*bufio.Writer).Flush(); err != nil {
		return fmt.Errorf("snapshot: writing: %w", err)
	}
	if err := w.s.sync(w.f); err != nil {
		return err
	}
	f := w.f
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshot: closing: %w", err)
	}
	if err := w.s.install(f.Name(), fileName(w.meta.Term, w.meta.Index)); err != nil {
		return err
	}
	w.f = nil
	return nil
}

// Abort discards the snapshot. It is a no-op after Commit or Abort.
func (w *Writer) Abort() {
	if w.f == nil {
		return
	}
	if w.enc != nil {
		// Release the encoder's buffers; its error does not matter.
		w.enc.Close()
	}
	w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil {
		w.s.log.Warn("snapshot: removing aborted temporary file", "file", filepath.Base(w.f.Name()), "err", err)
	}
	w.f = nil
}
