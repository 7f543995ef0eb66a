package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/klauspost/compress/zstd"

	"cairn/raft"
)

const waitLong = 10 * time.Second

// TestDeliveryInOrderAndBatching queues messages before the stream is
// accepted, so they must leave in one batch, and checks that they arrive
// complete and in order (pipelined: no per-message acknowledgement).
func TestDeliveryInOrderAndBatching(t *testing.T) {
	gate := make(chan struct{})
	a := newNode(t, 1, testCluster, nil)
	b := newNode(t, 2, testCluster, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-gate
			h.ServeHTTP(w, r)
		})
	})
	connect(t, a, b)
	const n = 1000
	msgs := make([]raft.Message, n)
	for i := range msgs {
		msgs[i] = app(1, 2, uint64(i+1))
	}
	a.tr.Send(msgs)
	msgs[0].Index = 999 // Send copied: reusing the slice must not matter
	close(gate)
	waitFor(t, b.raft.reached(n), waitLong, "delivery")

	got := b.raft.received()
	if len(got) != n {
		t.Fatalf("received %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		want := app(1, 2, uint64(i+1))
		if !bytes.Equal(raft.AppendMessage(nil, &m), raft.AppendMessage(nil, &want)) {
			t.Fatalf("message %d = %+v, want %+v", i, m, want)
		}
	}
	// The sender counts a batch once its write has returned, which may be
	// after the receiver has read it all.
	st := a.tr.Status()
	for deadline := time.Now().Add(waitLong); len(st) == 1 && st[0].Sent != n && time.Now().Before(deadline); st = a.tr.Status() {
		time.Sleep(time.Millisecond)
	}
	if len(st) != 1 || st[0].ID != 2 || !st[0].Active || st[0].Sent != n || st[0].Dropped != 0 {
		t.Fatalf("status = %+v", st)
	}
	if st[0].Batches != 1 {
		t.Errorf("%d queued messages went out in %d writes, want 1 batch", n, st[0].Batches)
	}
	if got := a.tr.ActivePeers(); !slices.Equal(got, []uint64{2}) {
		t.Errorf("ActivePeers = %v", got)
	}

	// And the other direction, on B's own stream.
	connect(t, b, a)
	b.tr.Send([]raft.Message{{Type: raft.MsgAppResp, From: 2, To: 1, Term: 3, Index: n}})
	waitFor(t, a.raft.reached(1), waitLong, "reply")
	if m := a.raft.received()[0]; m.Type != raft.MsgAppResp || m.Index != n {
		t.Errorf("reply = %+v", m)
	}
}

// resendUntilDelivered models Raft's retransmission: send, wait a little for
// delivery, repeat; bounded in count and time.
func resendUntilDelivered(t *testing.T, from *node, to *node, m raft.Message) {
	t.Helper()
	want := len(to.raft.received()) + 1
	done := to.raft.reached(want)
	deadline := time.Now().Add(waitLong)
	for i := 0; i < 500 && time.Now().Before(deadline); i++ {
		from.tr.Send([]raft.Message{m})
		select {
		case <-done:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%v from %d to %d never delivered", m.Type, from.id, to.id)
}

func TestReconnectAfterServerRestart(t *testing.T) {
	a := newNode(t, 1, testCluster, nil)
	fr := newFakeRaft()
	b := New(testConfig(2, testCluster, fr, &logSink{}))
	t.Cleanup(func() { b.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := &http.Server{Handler: b.Handler()}
	go srv.Serve(ln)
	bn := &node{id: 2, tr: b, raft: fr}
	if err := a.tr.AddPeer(2, []string{"http://" + addr}); err != nil {
		t.Fatal(err)
	}
	resendUntilDelivered(t, a, bn, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 1})

	// The peer restarts: its listener and connections go away.
	srv.Close()
	select {
	case id := <-a.raft.unreachable:
		if id != 2 {
			t.Fatalf("reported %d unreachable, want 2", id)
		}
	case <-time.After(waitLong):
		t.Fatal("restart not reported as unreachable")
	}
	if st := a.tr.Status()[0]; st.Active || st.LastError == "" {
		t.Errorf("status during outage = %+v", st)
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot rebind %s: %v", addr, err)
	}
	srv2 := &http.Server{Handler: b.Handler()}
	go srv2.Serve(ln2)
	t.Cleanup(func() { srv2.Close() })
	resendUntilDelivered(t, a, bn, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 2})
	if st := a.tr.Status()[0]; !st.Active {
		t.Errorf("status after reconnect = %+v", st)
	}
}

func TestUnreachablePeerReportedQuickly(t *testing.T) {
	a := newNode(t, 1, testCluster, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused

	start := time.Now()
	if err := a.tr.AddPeer(9, []string{dead}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-a.raft.unreachable:
		if id != 9 {
			t.Fatalf("reported %d, want 9", id)
		}
	case <-time.After(waitLong):
		t.Fatal("dead peer never reported unreachable")
	}
	if d := time.Since(start); d > DefaultDialTimeout {
		t.Errorf("took %v to report a refused connection", d)
	}
	st := a.tr.Status()[0]
	if st.Active || !strings.Contains(st.LastError, ErrUnreachable.Error()) {
		t.Errorf("status = %+v", st)
	}

	// Send never blocks on the dead peer, however much is sent.
	msgs := make([]raft.Message, DefaultQueueSize*3)
	for i := range msgs {
		msgs[i] = app(1, 9, uint64(i+1))
	}
	start = time.Now()
	a.tr.Send(msgs)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send to a dead peer took %v", d)
	}
	if st := a.tr.Status()[0]; st.Dropped < DefaultQueueSize {
		t.Errorf("dropped %d of %d messages to a dead peer, want at least %d", st.Dropped, len(msgs), DefaultQueueSize)
	}
}

// TestBlackholedPeer uses a listener that accepts connections and never reads
// or answers: only the deadlines can detect it. The synctest bubble makes the
// timeouts pass instantly.
func TestBlackholedPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pn pipeNet
		l := pn.listen("hole:2380")
		var held []net.Conn
		acceptDone := make(chan struct{})
		go func() {
			defer close(acceptDone)
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				held = append(held, c) // never read: writes to it block
			}
		}()
		fr := newFakeRaft()
		cfg := testConfig(1, testCluster, fr, &logSink{})
		cfg.DialContext = pn.dial
		tr := New(cfg)
		start := time.Now()
		if err := tr.AddPeer(2, []string{"http://hole:2380"}); err != nil {
			t.Fatal(err)
		}
		<-fr.unreachable
		elapsed := time.Since(start)
		if limit := cfg.writeTimeoutOrDefault() + 5*DefaultKeepAlive; elapsed > limit {
			t.Errorf("black hole reported after %v, want within %v", elapsed, limit)
		}
		tr.Close()
		l.Close()
		<-acceptDone
		for _, c := range held {
			c.Close()
		}
	})
}

// writeTimeoutOrDefault is a test helper for the effective write timeout.
func (c Config) writeTimeoutOrDefault() time.Duration {
	c.setDefaults()
	return c.WriteTimeout
}

func TestClusterMismatchEndToEnd(t *testing.T) {
	a := newNode(t, 1, testCluster, nil)
	b := newNode(t, 2, testCluster+1, nil)
	connect(t, a, b)
	for range 3 { // several attempts: B logs the mismatch once
		select {
		case <-a.raft.unreachable:
		case <-time.After(waitLong):
			t.Fatal("mismatch not reported")
		}
	}
	st := a.tr.Status()[0]
	if st.Active || !errors.Is(st.Err, ErrClusterMismatch) || !strings.Contains(st.LastError, "412") {
		t.Errorf("status = %+v", st)
	}
	if n := len(b.raft.received()); n != 0 {
		t.Errorf("B processed %d messages from a foreign cluster", n)
	}
	if n := b.log.count("cluster ID mismatch"); n != 1 {
		t.Errorf("B logged the mismatch %d times, want once", n)
	}
}

func TestRemovedMemberRejected(t *testing.T) {
	a := newNode(t, 1, testCluster, nil)
	b := newNode(t, 2, testCluster, nil)
	b.raft.removed[1] = true
	connect(t, a, b)
	select {
	case <-a.raft.unreachable:
	case <-time.After(waitLong):
		t.Fatal("rejection not reported")
	}
	if st := a.tr.Status()[0]; !errors.Is(st.Err, ErrRemoved) || !strings.HasPrefix(st.LastError, ErrRemoved.Error()) ||
		!strings.Contains(st.LastError, "410") {
		t.Errorf("status = %+v", st)
	}
}

// rawRequest posts body to a node's endpoint with the given headers.
func rawRequest(t *testing.T, n *node, method, path string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, n.url()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func headers(cluster, from, to uint64) map[string]string {
	return map[string]string{hdrClusterID: formatID(cluster), hdrFrom: formatID(from), hdrTo: formatID(to)}
}

func TestHandlerRejects(t *testing.T) {
	b := newNode(t, 2, testCluster, nil)
	b.raft.removed[7] = true
	tests := []struct {
		name       string
		method     string
		path       string
		hdr        map[string]string
		wantCode   int
		wantReject string
		wantBody   string
	}{
		{"cluster mismatch", "POST", pathStream, headers(testCluster+5, 1, 2), 412, rejectCluster, "cluster ID mismatch"},
		{"cluster mismatch snapshot", "POST", pathSnapshot, map[string]string{hdrClusterID: "99", hdrFrom: "1", hdrTo: "2", hdrSnapshotSize: "0"}, 412, rejectCluster, "cluster ID mismatch"},
		{"wrong member", "POST", pathStream, headers(testCluster, 1, 3), 412, rejectMember, "addressed to another member"},
		{"removed member", "POST", pathStream, headers(testCluster, 7, 2), 410, rejectRemoved, "removed"},
		{"missing headers", "POST", pathStream, nil, 400, "", "bad member ID"},
		{"bad header", "POST", pathStream, map[string]string{hdrClusterID: "zz", hdrFrom: "1", hdrTo: "2"}, 400, "", `bad member ID "zz"`},
		{"zero sender", "POST", pathStream, headers(testCluster, 0, 2), 400, "", "bad sender"},
		{"GET", "GET", pathStream, headers(testCluster, 1, 2), 405, "", "method GET not allowed"},
		{"bad snapshot size", "POST", pathSnapshot, headers(testCluster, 1, 2), 400, "", "bad X-Cairn-Snapshot-Size"},
		{"unknown path", "POST", "/raft/other", headers(testCluster, 1, 2), 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawRequest(t, b, tt.method, tt.path, tt.hdr, nil)
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tt.wantCode, body)
			}
			if got := resp.Header.Get(hdrReject); got != tt.wantReject {
				t.Errorf("%s = %q, want %q", hdrReject, got, tt.wantReject)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body %q does not contain %q", body, tt.wantBody)
			}
		})
	}
	if n := b.log.count("cluster ID mismatch"); n != 2 {
		t.Errorf("logged %d mismatches for two foreign clusters, want 2", n)
	}
}

func frame(m raft.Message) []byte { return appendFrame(nil, &m) }

func TestStreamFrameValidation(t *testing.T) {
	hb := raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 1}
	var huge [4]byte
	binary.LittleEndian.PutUint32(huge[:], DefaultMaxFrameSize+1)
	tests := []struct {
		name string
		body []byte
		want int // messages processed before the stream closes
	}{
		{"valid with keep-alives", slices.Concat([]byte{0, 0, 0, 0}, frame(hb), []byte{0, 0, 0, 0}, frame(hb)), 2},
		{"oversized length", slices.Concat(frame(hb), huge[:], make([]byte, 64)), 1},
		{"garbage", slices.Concat(frame(hb), []byte{5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff}, frame(hb)), 1},
		{"truncated frame", slices.Concat(frame(hb), frame(hb)[:6]), 1},
		{"To mismatch", slices.Concat(frame(raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 3}), frame(hb)), 0},
		{"From mismatch", slices.Concat(frame(raft.Message{Type: raft.MsgHeartbeat, From: 4, To: 2}), frame(hb)), 0},
		{"local message type", slices.Concat(frame(raft.Message{Type: raft.MsgHup, From: 1, To: 2}), frame(hb)), 0},
		{"MsgSnap on stream", slices.Concat(frame(raft.Message{Type: raft.MsgSnap, From: 1, To: 2, Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 5, Term: 1}}}), frame(hb)), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newNode(t, 2, testCluster, nil)
			resp, _ := rawRequest(t, b, "POST", pathStream, headers(testCluster, 1, 2), tt.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := len(b.raft.received()); got != tt.want {
				t.Errorf("processed %d messages, want %d", got, tt.want)
			}
		})
	}
}

// TestNewStreamReplacesOld opens a second stream from the same sender: the
// first is closed, so the two never interleave.
func TestNewStreamReplacesOld(t *testing.T) {
	b := newNode(t, 2, testCluster, nil)
	open := func() (*io.PipeWriter, *http.Response) {
		pr, pw := io.Pipe()
		req, err := http.NewRequest("POST", b.url()+pathStream, pr)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range headers(testCluster, 1, 2) {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pw.Close(); resp.Body.Close() })
		return pw, resp
	}
	hb := raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 1}
	pw1, resp1 := open()
	pw1.Write(frame(hb))
	waitFor(t, b.raft.reached(1), waitLong, "first stream")
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, resp1.Body)
		close(ended)
	}()
	pw2, _ := open()
	waitFor(t, ended, waitLong, "the first stream to be closed")
	pw2.Write(frame(hb))
	waitFor(t, b.raft.reached(2), waitLong, "second stream")
}

func snapMsg(from, to uint64) raft.Message {
	return raft.Message{Type: raft.MsgSnap, From: from, To: to, Term: 4,
		Snapshot: &raft.Snapshot{Meta: raft.SnapshotMeta{Index: 1000, Term: 4, ConfState: raft.ConfState{Voters: []uint64{1, 2, 3}}}}}
}

// payload returns compressible but non-trivial bytes.
func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefgh/=\n"[r.IntN(11)]
	}
	return b
}

func TestSnapshotIntact(t *testing.T) {
	a := newNode(t, 1, testCluster, nil)
	b := newNode(t, 2, testCluster, nil)
	connect(t, a, b)
	data := payload(3<<20, 1)
	a.tr.SendSnapshot(snapMsg(1, 2), io.NopCloser(bytes.NewReader(data)), int64(len(data)))
	select {
	case r := <-a.raft.snapStatus:
		if r.id != 2 || r.status != raft.SnapshotFinish {
			t.Fatalf("ReportSnapshot(%d, %v), want (2, Finish)", r.id, r.status)
		}
	case <-time.After(waitLong):
		t.Fatal("no snapshot report")
	}
	if len(b.raft.snapshots) != 1 || !bytes.Equal(b.raft.snapshots[0], data) {
		t.Fatalf("receiver stored %d snapshots, first intact = %v", len(b.raft.snapshots), len(b.raft.snapshots) == 1 && bytes.Equal(b.raft.snapshots[0], data))
	}
	got := b.raft.received()
	if len(got) != 1 || got[0].Type != raft.MsgSnap || got[0].Snapshot.Meta.Index != 1000 || !got[0].Snapshot.Meta.ConfState.Equal(raft.ConfState{Voters: []uint64{1, 2, 3}}) {
		t.Errorf("processed %+v, want the MsgSnap", got)
	}

	// A MsgSnap given to Send with inline data takes the same path.
	m := snapMsg(1, 2)
	m.Snapshot.Data = []byte("small state")
	a.tr.Send([]raft.Message{m})
	if r := <-a.raft.snapStatus; r.status != raft.SnapshotFinish {
		t.Fatalf("inline snapshot: %v", r.status)
	}
	if got := b.raft.snapshots[1]; string(got) != "small state" {
		t.Errorf("inline snapshot payload = %q", got)
	}
}

func TestSnapshotFailures(t *testing.T) {
	data := payload(256<<10, 2)
	tests := []struct {
		name     string
		payload  []byte
		size     int64
		snapErr  error
		wantRead bool // the receiver saw a read error
	}{
		// The sender aborts its request body; the receiver, if the
		// request got that far, sees a broken stream.
		{"payload shorter than announced", data[:1000], int64(len(data)), nil, false},
		{"payload longer than announced", data, 1000, nil, false},
		{"receiver fails to store", data, int64(len(data)), errors.New("disk full"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newNode(t, 1, testCluster, nil)
			b := newNode(t, 2, testCluster, nil)
			b.raft.snapErr = tt.snapErr
			connect(t, a, b)
			a.tr.SendSnapshot(snapMsg(1, 2), io.NopCloser(bytes.NewReader(tt.payload)), tt.size)
			select {
			case r := <-a.raft.snapStatus:
				if r.status != raft.SnapshotFailure {
					t.Fatalf("status %v, want Failure", r.status)
				}
			case <-time.After(waitLong):
				t.Fatal("no snapshot report")
			}
			if n := len(b.raft.received()); n != 0 {
				t.Errorf("receiver processed %d messages after a failed transfer", n)
			}
			// The receiver's handler may still be finishing; Close waits for it.
			b.tr.Close()
			if tt.wantRead && len(b.raft.snapReadErr) == 0 {
				t.Error("receiver saw no read error")
			}
			if tt.snapErr == nil && len(b.raft.snapshots) != 0 {
				t.Error("receiver stored a bad snapshot")
			}
		})
	}
}

func TestInboundSnapshotLimit(t *testing.T) {
	a := newNode(t, 1, testCluster, nil)
	b := newNode(t, 2, testCluster, nil)
	b.tr.cfg.MaxInboundSnapshots = 1 // before any snapshot arrives
	b.tr.snapSem = make(chan struct{}, 1)
	b.raft.snapEntered = make(chan struct{})
	b.raft.snapGate = make(chan struct{})
	connect(t, a, b)
	data := payload(64<<10, 5)
	a.tr.SendSnapshot(snapMsg(1, 2), io.NopCloser(bytes.NewReader(data)), int64(len(data)))
	<-b.raft.snapEntered // the first transfer is being stored

	hdr := headers(testCluster, 1, 2)
	hdr[hdrSnapshotSize] = "0"
	resp, body := rawRequest(t, b, "POST", pathSnapshot, hdr, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "already receiving 1 snapshots") {
		t.Errorf("second snapshot: %d %s", resp.StatusCode, body)
	}
	close(b.raft.snapGate)
	if r := <-a.raft.snapStatus; r.status != raft.SnapshotFinish {
		t.Errorf("first snapshot: %v", r.status)
	}
}

// TestSnapshotTruncatedStream hand-crafts a snapshot request whose zstd
// stream is cut in the middle (the sender died): the receiver must refuse it.
func TestSnapshotTruncatedStream(t *testing.T) {
	data := payload(512<<10, 3)
	var z bytes.Buffer
	zw, err := zstd.NewWriter(&z)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	zw.Close()
	full := z.Bytes()
	tests := []struct {
		name    string
		body    []byte
		size    int
		wantErr string
	}{
		{"cut mid-stream", slices.Concat(frame(snapMsg(1, 2)), full[:len(full)/2]), len(data), "snapshot transfer failed"},
		{"cut after the header", frame(snapMsg(1, 2)), len(data), "payload truncated"},
		{"checksum damaged", slices.Concat(frame(snapMsg(1, 2)), full[:len(full)-1], []byte{full[len(full)-1] ^ 0xff}), len(data), "snapshot transfer failed"},
		{"size lies", slices.Concat(frame(snapMsg(1, 2)), full), len(data) + 1, "payload truncated"},
		{"header not MsgSnap", slices.Concat(frame(raft.Message{Type: raft.MsgApp, From: 1, To: 2}), full), len(data), "want MsgSnap"},
		{"intact", slices.Concat(frame(snapMsg(1, 2)), full), len(data), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newNode(t, 2, testCluster, nil)
			hdr := headers(testCluster, 1, 2)
			hdr[hdrSnapshotSize] = fmt.Sprint(tt.size)
			resp, body := rawRequest(t, b, "POST", pathSnapshot, hdr, tt.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			verdict := readVerdict(bytes.NewReader(body))
			if tt.wantErr == "" {
				if verdict != nil || len(b.raft.snapshots) != 1 || len(b.raft.received()) != 1 {
					t.Fatalf("intact snapshot: verdict %v, stored %d, processed %d", verdict, len(b.raft.snapshots), len(b.raft.received()))
				}
				return
			}
			if verdict == nil || !strings.Contains(verdict.Error(), tt.wantErr) {
				t.Errorf("verdict %v, want an error containing %q", verdict, tt.wantErr)
			}
			if len(b.raft.snapshots) != 0 || len(b.raft.received()) != 0 {
				t.Errorf("stored %d snapshots, processed %d messages from a bad stream", len(b.raft.snapshots), len(b.raft.received()))
			}
		})
	}
}

func TestPeerManagement(t *testing.T) {
	a := newNode(t, 1, testCluster, nil)
	tests := []struct {
		name string
		id   uint64
		urls []string
		want error
	}{
		{"zero ID", 0, []string{"http://127.0.0.1:1"}, ErrBadPeer},
		{"own ID", 1, []string{"http://127.0.0.1:1"}, ErrBadPeer},
		{"no URLs", 5, nil, ErrBadPeer},
		{"https", 5, []string{"https://127.0.0.1:1"}, ErrBadPeer},
		{"not a URL", 5, []string{"127.0.0.1:1"}, ErrBadPeer},
		{"ok", 5, []string{"http://127.0.0.1:1"}, nil},
		{"again", 5, []string{"http://127.0.0.1:1"}, ErrPeerExists},
	}
	for _, tt := range tests {
		if err := a.tr.AddPeer(tt.id, tt.urls); !errors.Is(err, tt.want) {
			t.Errorf("%s: AddPeer = %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := a.tr.UpdatePeer(6, []string{"http://127.0.0.1:2"}); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("UpdatePeer(unknown) = %v", err)
	}
	if err := a.tr.UpdatePeer(5, []string{"http://127.0.0.1:2"}); err != nil {
		t.Errorf("UpdatePeer = %v", err)
	}
	if st := a.tr.Status(); len(st) != 1 || !slices.Equal(st[0].URLs, []string{"http://127.0.0.1:2"}) {
		t.Errorf("status after update = %+v", st)
	}
	a.tr.RemovePeer(5)
	a.tr.RemovePeer(5)
	if st := a.tr.Status(); len(st) != 0 {
		t.Errorf("status after remove = %+v", st)
	}
	a.tr.Send([]raft.Message{app(1, 5, 1), app(1, 5, 2)}) // unknown now: dropped and logged
	if a.log.count("unknown peer") != 2 {                 // 1st and 2nd drop (powers of two)
		t.Errorf("unknown-peer drops logged %d times", a.log.count("unknown peer"))
	}
	a.tr.Close()
	a.tr.Close()
	if err := a.tr.AddPeer(8, []string{"http://127.0.0.1:1"}); !errors.Is(err, ErrClosed) {
		t.Errorf("AddPeer after Close = %v", err)
	}
	a.tr.Send([]raft.Message{app(1, 8, 1)})
	closed := &closeRecorder{}
	a.tr.SendSnapshot(snapMsg(1, 8), closed, 0)
	if !closed.closed {
		t.Error("SendSnapshot after Close did not close the payload")
	}
}

type closeRecorder struct{ closed bool }

func (c *closeRecorder) Read([]byte) (int, error) { return 0, io.EOF }
func (c *closeRecorder) Close() error             { c.closed = true; return nil }

// TestUpdatePeerMovesStream moves a peer to a new address: the stream to an
// address that is no longer listed is closed and reopened at the new one.
func TestUpdatePeerMovesStream(t *testing.T) {
	a := newNode(t, 1, testCluster, nil)
	b := newNode(t, 2, testCluster, nil)
	counted := func(n *int64, mu *chan struct{}) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			*mu <- struct{}{}
			*n++
			<-*mu
			b.tr.Handler().ServeHTTP(w, r)
		})
	}
	var hits int64
	sem := make(chan struct{}, 1)
	second := httptest.NewServer(counted(&hits, &sem))
	t.Cleanup(func() {
		// B's transport must end the stream before the server can close.
		a.tr.Close()
		b.tr.Close()
		second.Close()
	})
	connect(t, a, b)
	resendUntilDelivered(t, a, b, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 1})
	if err := a.tr.UpdatePeer(2, []string{second.URL}); err != nil {
		t.Fatal(err)
	}
	resendUntilDelivered(t, a, b, raft.Message{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 1})
	sem <- struct{}{}
	h := hits
	<-sem
	if h == 0 {
		t.Error("stream did not move to the new URL")
	}
	if st := a.tr.Status()[0]; !st.Active {
		t.Errorf("status = %+v", st)
	}
}

// TestCloseLeavesNoGoroutines runs two members, a message exchange and a
// snapshot over net.Pipe inside a synctest bubble. synctest.Test fails if
// any goroutine started in the bubble is still alive when the test returns,
// which makes this a goroutine-leak check for Close.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pn pipeNet
		type member struct {
			tr  *Transport
			fr  *fakeRaft
			srv *http.Server
		}
		start := func(id uint64) member {
			fr := newFakeRaft()
			cfg := testConfig(id, testCluster, fr, &logSink{})
			cfg.DialContext = pn.dial
			tr := New(cfg)
			srv := &http.Server{Handler: tr.Handler()}
			l := pn.listen(fmt.Sprintf("m%d:2380", id))
			go srv.Serve(l)
			return member{tr, fr, srv}
		}
		a, b := start(1), start(2)
		a.tr.AddPeer(2, []string{"http://m2:2380"})
		b.tr.AddPeer(1, []string{"http://m1:2380"})
		a.tr.Send([]raft.Message{app(1, 2, 1), app(1, 2, 2)})
		b.tr.Send([]raft.Message{{Type: raft.MsgAppResp, From: 2, To: 1, Index: 2}})
		<-b.fr.reached(2)
		<-a.fr.reached(1)
		data := payload(100<<10, 4)
		a.tr.SendSnapshot(snapMsg(1, 2), io.NopCloser(bytes.NewReader(data)), int64(len(data)))
		if r := <-a.fr.snapStatus; r.status != raft.SnapshotFinish {
			t.Fatalf("snapshot: %v", r.status)
		}
		time.Sleep(time.Minute) // idle streams exchange keep-alives; nothing breaks
		synctest.Wait()
		if st := a.tr.Status()[0]; !st.Active || st.Dropped != 0 {
			t.Errorf("after an idle minute: %+v", st)
		}
		if len(a.fr.unreachable) != 0 {
			t.Errorf("idle stream reported unreachable")
		}
		a.tr.Close()
		b.tr.Close()
		a.srv.Close()
		b.srv.Close()
	})
}

func ExampleTransport() {
	// Member 2 prints what it receives.
	recv := newFakeRaft()
	m2 := New(Config{LocalID: 2, ClusterID: 0xcafe, Raft: recv})
	srv := httptest.NewServer(m2.Handler())
	defer srv.Close()
	defer m2.Close()

	m1 := New(Config{LocalID: 1, ClusterID: 0xcafe, Raft: newFakeRaft()})
	defer m1.Close()
	if err := m1.AddPeer(2, []string{srv.URL}); err != nil {
		fmt.Println(err)
		return
	}
	m1.Send([]raft.Message{{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 7, Commit: 42}})
	<-recv.reached(1)
	m := recv.received()[0]
	fmt.Printf("member %d got %v from %d (term %d, commit %d)\n", m.To, m.Type, m.From, m.Term, m.Commit)
	// Output: member 2 got MsgHeartbeat from 1 (term 7, commit 42)
}

// TestReconnectBackoff checks, in fake time, that reconnect attempts to a
// peer that refuses connections back off exponentially up to BackoffMax.
func TestReconnectBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pn pipeNet // nothing listens: every dial is refused at once
		fr := newFakeRaft()
		cfg := testConfig(1, testCluster, fr, &logSink{})
		cfg.DialContext = pn.dial
		cfg.BackoffMin = 100 * time.Millisecond
		cfg.BackoffMax = 800 * time.Millisecond
		cfg.Rand = rand.New(rand.NewPCG(1, 1))
		tr := New(cfg)
		defer tr.Close()
		if err := tr.AddPeer(2, []string{"http://nowhere:2380"}); err != nil {
			t.Fatal(err)
		}
		var at []time.Time
		for range 7 {
			<-fr.unreachable
			at = append(at, time.Now())
		}
		for i := 1; i < len(at); i++ {
			gap := at[i].Sub(at[i-1])
			want := min(cfg.BackoffMin<<(i-1), cfg.BackoffMax)
			if gap < want/2 || gap > want {
				t.Errorf("gap %d = %v, want in [%v, %v]", i, gap, want/2, want)
			}
		}
		if n := len(tr.Status()[0].LastError); n == 0 {
			t.Error("no LastError")
		}
	})
}

func TestSendDropsOversizedMessage(t *testing.T) {
	a := newNode(t, 1, testCluster, nil)
	a.tr.cfg.MaxFrameSize = 100
	if err := a.tr.AddPeer(2, []string{"http://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	big := app(1, 2, 1)
	big.Entries[0].Data = make([]byte, 200)
	a.tr.Send([]raft.Message{big})
	if st := a.tr.Status()[0]; st.Dropped != 1 {
		t.Errorf("Dropped = %d, want 1", st.Dropped)
	}
	if a.log.count("exceeds the frame limit") != 1 {
		t.Error("oversized drop not logged")
	}
}

// TestPeerAcceptsButNeverAnswers covers a stream whose connection is
// accepted and read but never answered (a peer that hangs or dies between
// accept and response, or a proxy in between that does). The request body is
// a pipe that the sender only writes once the response has arrived, so
// without a bound on the wait for headers the stream would hang forever and
// the peer would never be retried.
func TestPeerAcceptsButNeverAnswers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close bool // close the connection after reading, else keep it silent
	}{
		{"silent", false},
		{"closed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var pn pipeNet
				l := pn.listen("mute:2380")
				var mu sync.Mutex
				var held []net.Conn
				accepts := 0
				acceptDone := make(chan struct{})
				go func() {
					defer close(acceptDone)
					for {
						c, err := l.Accept()
						if err != nil {
							return
						}
						mu.Lock()
						accepts++
						held = append(held, c)
						mu.Unlock()
						go func() {
							buf := make([]byte, 4096)
							_, _ = c.Read(buf) // the request headers
							if tc.close {
								c.Close()
								return
							}
							_, _ = io.Copy(io.Discard, c) // read on, never answer
						}()
					}
				}()
				fr := newFakeRaft()
				cfg := testConfig(1, testCluster, fr, &logSink{})
				cfg.DialContext = pn.dial
				tr := New(cfg)
				start := time.Now()
				if err := tr.AddPeer(2, []string{"http://mute:2380"}); err != nil {
					t.Fatal(err)
				}
				// Two reports: the stream gave up, and the retry did too.
				for i := 0; i < 2; i++ {
					<-fr.unreachable
				}
				probe := cfg
				probe.setDefaults()
				if limit := 2*(probe.ReadTimeout+probe.BackoffMax) + time.Second; time.Since(start) > limit {
					t.Errorf("two failed attempts took %v, want within %v", time.Since(start), limit)
				}
				if st := tr.Status()[0]; st.Active || !errors.Is(st.Err, ErrUnreachable) {
					t.Errorf("status = %+v, want inactive and unreachable", st)
				}
				mu.Lock()
				if accepts < 2 {
					t.Errorf("%d connection attempts, want the stream retried", accepts)
				}
				mu.Unlock()
				tr.Close()
				l.Close()
				<-acceptDone
				mu.Lock()
				for _, c := range held {
					c.Close()
				}
				mu.Unlock()
			})
		})
	}
}

// TestNoStaleMessagesAfterBackoff: a message sent while the stream to a peer
// waits out its reconnect backoff is dropped and reported, not delivered once
// the peer is back. By then raft has moved on; a restarted follower in
// particular must not be caught up by a run of old MsgApps instead of the
// snapshot raft decided to send it.
func TestNoStaleMessagesAfterBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pn pipeNet
		fa := newFakeRaft()
		cfg := testConfig(1, testCluster, fa, &logSink{})
		cfg.DialContext = pn.dial
		cfg.BackoffMin, cfg.BackoffMax = time.Second, time.Second
		a := New(cfg)
		if err := a.AddPeer(2, []string{"http://m2:2380"}); err != nil {
			t.Fatal(err)
		}
		<-fa.unreachable // nothing listens yet: refused, now in backoff
		a.Send([]raft.Message{app(1, 2, 1)})
		if st := a.Status()[0]; st.Dropped != 1 {
			t.Errorf("during the backoff: Dropped = %d, want 1", st.Dropped)
		}
		<-fa.unreachable // the drop is reported too

		fb := newFakeRaft()
		cfgb := testConfig(2, testCluster, fb, &logSink{})
		cfgb.DialContext = pn.dial
		b := New(cfgb)
		srv := &http.Server{Handler: b.Handler()}
		go srv.Serve(pn.listen("m2:2380"))
		time.Sleep(2 * time.Second) // the backoff ends; the stream connects
		synctest.Wait()
		if st := a.Status()[0]; !st.Active {
			t.Fatalf("peer back, stream not active: %+v", st)
		}
		a.Send([]raft.Message{{Type: raft.MsgHeartbeat, From: 1, To: 2, Term: 3}})
		<-fb.reached(1)
		synctest.Wait()
		if got := fb.received(); len(got) != 1 || got[0].Type != raft.MsgHeartbeat {
			t.Errorf("peer received %v, want only the heartbeat sent after it came back", got)
		}
		a.Close()
		b.Close()
		srv.Close()
	})
}

// TestFrameSizeHint: the hint is never short of the frame, even with every
// field at its largest, so a frame is encoded with one allocation.
func TestFrameSizeHint(t *testing.T) {
	big := ^uint64(0)
	msgs := []raft.Message{
		{},
		{Type: raft.MsgHeartbeat, To: 1, From: 2, Term: 3, Commit: 4},
		{Type: raft.MsgApp, To: big, From: big, Term: big, LogTerm: big, Index: big, Commit: big, RejectHint: big, Reject: true,
			Context: []byte("ctx"), Entries: []raft.Entry{
				{Term: big, Index: big, Type: raft.EntryConfChange, Data: make([]byte, 300)},
				{Term: big, Index: big},
				{Term: 1, Index: 2, Data: make([]byte, 1<<20)},
			}},
	}
	for i := range msgs {
		m := &msgs[i]
		if got, hint := len(appendFrame(nil, m)), frameSizeHint(m); got > hint {
			t.Errorf("message %d: frame %d bytes, hint %d", i, got, hint)
		}
	}
}
