package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"cairn/raft"
)

// Handler returns the handler for the peer listener: POST /raft/stream and
// POST /raft/snapshot.
func (t *Transport) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(pathStream, t.handleStream)
	mux.HandleFunc(pathSnapshot, t.handleSnapshot)
	return mux
}

// inbound is one accepted request (a stream or a snapshot) being served.
type inbound struct {
	t      *Transport
	from   uint64
	w      http.ResponseWriter
	rc     *http.ResponseController
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // serializes stop with read-deadline refreshes
	stopped bool       // by stop (Close, a newer stream) or release
	wmu     sync.Mutex // serializes writes to w

	kaStop chan struct{}
	kaWG   sync.WaitGroup
	kaOnce sync.Once
}

// refuse writes an error response with the reject reason for the sender.
func refuse(w http.ResponseWriter, code int, reason string, err error) {
	if reason != "" {
		w.Header().Set(hdrReject, reason)
	}
	http.Error(w, err.Error(), code)
}

// accept checks a request's method and headers and, if it is acceptable,
// registers it, answers 200 and starts the keep-alives. It returns nil after
// writing a refusal.
func (t *Transport) accept(w http.ResponseWriter, r *http.Request) *inbound {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		refuse(w, http.StatusMethodNotAllowed, "", fmt.Errorf("%w: method %s not allowed", ErrProtocol, r.Method))
		return nil
	}
	cid, err1 := parseID(r.Header.Get(hdrClusterID))
	from, err2 := parseID(r.Header.Get(hdrFrom))
	to, err3 := parseID(r.Header.Get(hdrTo))
	if err := errors.Join(err1, err2, err3); err != nil {
		refuse(w, http.StatusBadRequest, "", err)
		return nil
	}
	local := t.cfg.LocalID
	switch {
	case cid != t.cfg.ClusterID:
		err := fmt.Errorf("%w: member %016x of cluster %016x refuses member %016x of cluster %016x", ErrClusterMismatch, local, t.cfg.ClusterID, from, cid)
		if _, seen := t.mismatchLogged.LoadOrStore(cid, struct{}{}); !seen {
			t.cfg.Logf("transport: %v (logged once per foreign cluster)", err)
		}
		refuse(w, http.StatusPreconditionFailed, rejectCluster, err)
		return nil
	case to != local:
		refuse(w, http.StatusPreconditionFailed, rejectMember, fmt.Errorf("%w: request for member %016x reached member %016x", ErrWrongMember, to, local))
		return nil
	case from == raft.None || from == local:
		refuse(w, http.StatusBadRequest, "", fmt.Errorf("%w: bad sender %016x", ErrProtocol, from))
		return nil
	case t.cfg.Raft.IsRemoved(from):
		refuse(w, http.StatusGone, rejectRemoved, fmt.Errorf("%w: member %016x was removed", ErrRemoved, from))
		return nil
	}

	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		refuse(w, http.StatusServiceUnavailable, "", ErrClosed)
		return nil
	}
	ctx, cancel := context.WithCancel(r.Context())
	s := &inbound{t: t, from: from, w: w, rc: http.NewResponseController(w), ctx: ctx, cancel: cancel, kaStop: make(chan struct{})}
	t.inbound[s] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()

	// Read the request body while writing keep-alives: HTTP/1 needs
	// full duplex switched on for that.
	if err := s.rc.EnableFullDuplex(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		t.cfg.Logf("transport: full duplex: %v", err)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	s.flush()
	s.kaWG.Go(s.keepAlive)
	return s
}

// release undoes accept; the handler calls it when done.
func (t *Transport) release(s *inbound) {
	s.stopKeepAlive()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	t.mu.Lock()
	delete(t.inbound, s)
	t.mu.Unlock()
	t.wg.Done()
}

// stop ends the request from another goroutine (Close): the next or current
// body read fails.
func (s *inbound) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return // stopped already, or released: the connection may serve another request now
	}
	s.stopped = true
	s.cancel()
	_ = s.rc.SetReadDeadline(time.Now())
}

func (s *inbound) stopKeepAlive() {
	s.kaOnce.Do(func() { close(s.kaStop) })
	s.kaWG.Wait()
}

func (s *inbound) keepAlive() {
	tk := s.t.cfg.Clock.NewTicker(s.t.cfg.KeepAlive)
	defer tk.Stop()
	for {
		select {
		case <-s.kaStop:
			return
		case <-s.ctx.Done():
			return
		case <-tk.C():
			if !s.write([]byte{respKeepAlive}) {
				return
			}
		}
	}
}

// write writes and flushes b under a write deadline; false on failure.
func (s *inbound) write(b []byte) bool {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.t.cfg.WriteTimeout))
	if _, err := s.w.Write(b); err != nil {
		return false
	}
	return s.rc.Flush() == nil
}

func (s *inbound) flush() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.rc.Flush()
}

// body wraps the request body so that every read has a fresh deadline and
// fails once the inbound request is stopped.
func (s *inbound) body(r io.Reader) io.Reader { return &deadlineBody{s: s, r: r} }

type deadlineBody struct {
	s *inbound
	r io.Reader
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	b.s.mu.Lock()
	if b.s.stopped {
		b.s.mu.Unlock()
		return 0, ErrClosed
	}
	_ = b.s.rc.SetReadDeadline(time.Now().Add(b.s.t.cfg.ReadTimeout))
	b.s.mu.Unlock()
	return b.r.Read(p)
}

func (t *Transport) handleStream(w http.ResponseWriter, r *http.Request) {
	s := t.accept(w, r)
	if s == nil {
		return
	}
	defer t.release(s)
	// A sender has one stream to us at a time; a new one means it
	// reconnected, so stop the old one rather than interleave the two.
	t.mu.Lock()
	old := t.streams[s.from]
	t.streams[s.from] = s
	t.mu.Unlock()
	if old != nil {
		old.stop()
	}
	defer func() {
		t.mu.Lock()
		if t.streams[s.from] == s {
			delete(t.streams, s.from)
		}
		t.mu.Unlock()
	}()
	br := bufio.NewReaderSize(s.body(r.Body), 64<<10)
	for {
		buf, err := readFrame(br, t.cfg.MaxFrameSize)
		if err != nil {
			if err != io.EOF && s.ctx.Err() == nil {
				t.cfg.Logf("transport: stream from %016x closed: %v", s.from, err)
			}
			return
		}
		if buf == nil {
			continue // keep-alive
		}
		m, err := raft.UnmarshalMessage(buf)
		if err == nil {
			err = validMessage(&m, s.from, t.cfg.LocalID, false)
		}
		if err != nil {
			t.cfg.Logf("transport: closing stream from %016x: %v", s.from, err)
			return
		}
		if err := t.cfg.Raft.Process(s.ctx, m); err != nil {
			if s.ctx.Err() != nil {
				return
			}
			if n := t.processErrors.Add(1); isPow2(n) {
				t.cfg.Logf("transport: processing %v from %016x: %v (%d errors so far)", m.Type, s.from, err, n)
			}
		}
	}
}
