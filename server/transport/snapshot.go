package transport

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"cairn/raft"
)

// Memory bounds of the snapshot codec, sized for small boxes.
const (
	snapEncoderWindow = 128 << 10 // as snapshot files (snapshot/writer.go)
	snapDecoderWindow = 8 << 20   // refuse streams that need a larger window
)

// sendSnapshot streams m and payload to the peer and waits for its verdict.
func (p *peer) sendSnapshot(ctx context.Context, m raft.Message, payload io.Reader, size int64) error {
	if m.Type != raft.MsgSnap || m.Snapshot == nil {
		return fmt.Errorf("%w: SendSnapshot needs a MsgSnap with metadata, got %v", ErrSnapshot, m.Type)
	}
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrSnapshot, size)
	}
	meta := *m.Snapshot
	meta.Data = nil // the payload travels compressed after the header
	m.Snapshot = &meta
	frame := appendFrame(nil, &m)
	if len(frame)-frameHeaderSize > p.t.cfg.MaxFrameSize {
		return fmt.Errorf("%w: header of %d bytes exceeds the frame limit", ErrSnapshot, len(frame)-frameHeaderSize)
	}

	url := p.snapshotURL()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	// net/http waits for the body writer when a request is cancelled, and
	// that writer may be blocked reading the pipe: unblock it.
	stopAfter := context.AfterFunc(ctx, func() { pr.CloseWithError(context.Cause(ctx)) })
	defer stopAfter()
	req, err := p.newRequest(ctx, url, pathSnapshot, pr)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadPeer, err)
	}
	req.Header.Set(hdrSnapshotSize, strconv.FormatInt(size, 10))

	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() {
		writeErr = writeSnapshot(pw, frame, payload, size)
		// A non-nil error aborts the request body, so the receiver sees a
		// broken stream rather than a short one.
		pw.CloseWithError(writeErr)
	})
	defer func() {
		cancel()
		pr.CloseWithError(errStreamDone)
		wg.Wait()
	}()

	resp, err := p.t.client.Do(req)
	if err != nil {
		cancel()
		pr.CloseWithError(errStreamDone)
		wg.Wait()
		if writeErr != nil {
			return writeErr
		}
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, url, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return rejection(resp)
	}
	verdict := readVerdict(resp.Body)
	wg.Wait()
	if writeErr != nil {
		return writeErr
	}
	return verdict
}

// snapshotURL prefers the URL of the connected stream.
func (p *peer) snapshotURL() string {
	p.mu.Lock()
	u := p.connected
	p.mu.Unlock()
	if u != "" {
		return u
	}
	return p.pickURL()
}

// writeSnapshot writes the header frame and the compressed payload, checking
// that the payload has exactly size bytes.
func writeSnapshot(w io.Writer, frame []byte, payload io.Reader, size int64) error {
	if _, err := w.Write(frame); err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	zw, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(snapEncoderWindow),
		zstd.WithEncoderCRC(true))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	n, err := io.Copy(zw, io.LimitReader(payload, size+1))
	if err != nil {
		zw.Close()
		return fmt.Errorf("%w: after %d bytes: %v", ErrSnapshot, n, err)
	}
	if n != size {
		zw.Close()
		return fmt.Errorf("%w: payload has %s bytes, announced %d", ErrSnapshot, moreThan(n, size), size)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	return nil
}

func moreThan(n, size int64) string {
	if n > size {
		return "more than " + strconv.FormatInt(size, 10)
	}
	return strconv.FormatInt(n, 10)
}

// readVerdict reads the receiver's keep-alives and final status byte.
func readVerdict(body io.Reader) error {
	br := bufio.NewReader(body)
	for {
		b, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("%w: no verdict from peer: %v", ErrSnapshot, err)
		}
		switch b {
		case respKeepAlive:
		case respOK:
			return nil
		case respError:
			msg, _ := io.ReadAll(io.LimitReader(br, 1024))
			return fmt.Errorf("%w: peer: %s", ErrSnapshot, strings.TrimSpace(string(msg)))
		default:
			return fmt.Errorf("%w: unexpected byte %#x in the peer's answer", ErrProtocol, b)
		}
	}
}

// snapReader is the payload handed to Raft.ReceiveSnapshot: it decompresses
// and turns every way the stream can be incomplete into an error.
type snapReader struct {
	r         io.Reader
	remaining int64 // announced bytes not yet read
	eof       bool  // the payload ended cleanly
	err       error // sticky
}

func (s *snapReader) Read(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.eof {
		return 0, io.EOF
	}
	n, err := s.r.Read(b)
	s.remaining -= int64(n)
	switch {
	case s.remaining < 0:
		s.err = fmt.Errorf("%w: payload longer than announced", ErrSnapshot)
		return n, s.err
	case err == io.EOF && s.remaining > 0:
		s.err = fmt.Errorf("%w: payload truncated: %d bytes missing", ErrSnapshot, s.remaining)
		return n, s.err
	case err == io.EOF:
		s.eof = true
		return n, io.EOF
	case err != nil:
		s.err = fmt.Errorf("%w: %v", ErrSnapshot, err)
		return n, s.err
	}
	return n, nil
}

func (t *Transport) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	size, err := strconv.ParseInt(r.Header.Get(hdrSnapshotSize), 10, 64)
	if err != nil || size < 0 {
		http.Error(w, fmt.Sprintf("%v: bad %s header %q", ErrProtocol, hdrSnapshotSize, r.Header.Get(hdrSnapshotSize)), http.StatusBadRequest)
		return
	}
	select {
	case t.snapSem <- struct{}{}:
		defer func() { <-t.snapSem }()
	default:
		refuse(w, http.StatusServiceUnavailable, "", fmt.Errorf("%w: already receiving %d snapshots", ErrSnapshot, cap(t.snapSem)))
		return
	}
	s := t.accept(w, r)
	if s == nil {
		return
	}
	defer t.release(s)
	err = t.receiveSnapshot(s, r, size)
	s.stopKeepAlive()
	verdict := []byte{respOK}
	if err != nil {
		t.cfg.Logf("transport: snapshot from %016x rejected: %v", s.from, err)
		verdict = append([]byte{respError}, err.Error()...)
	}
	s.write(verdict)
}

func (t *Transport) receiveSnapshot(s *inbound, r *http.Request, size int64) error {
	br := bufio.NewReader(s.body(r.Body))
	frame, err := readFrame(br, t.cfg.MaxFrameSize)
	if err != nil {
		return fmt.Errorf("%w: reading the header: %v", ErrSnapshot, err)
	}
	if frame == nil {
		return fmt.Errorf("%w: empty snapshot header", ErrProtocol)
	}
	m, err := raft.UnmarshalMessage(frame)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if err := validMessage(&m, s.from, t.cfg.LocalID, true); err != nil {
		return err
	}
	dec, err := zstd.NewReader(br,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(snapDecoderWindow))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	defer dec.Close()
	payload := &snapReader{r: dec, remaining: size}
	if err := t.cfg.Raft.ReceiveSnapshot(s.ctx, m, payload); err != nil {
		return fmt.Errorf("%w: storing: %w", ErrSnapshot, err)
	}
	if !payload.eof {
		// ReceiveSnapshot returned without reading everything: a bug in
		// the consumer, or it accepted a payload it never verified.
		n, err := io.Copy(io.Discard, payload)
		if err == nil && n > 0 {
			err = fmt.Errorf("%w: ReceiveSnapshot left %d bytes unread", ErrSnapshot, n)
		}
		if err != nil {
			t.cfg.Logf("transport: BUG: ReceiveSnapshot accepted the snapshot from %016x before the end of the stream: %v", s.from, err)
			return err
		}
	}
	if err := t.cfg.Raft.Process(s.ctx, m); err != nil {
		return fmt.Errorf("%w: processing MsgSnap: %w", ErrSnapshot, err)
	}
	return nil
}
