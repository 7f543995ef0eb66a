// Package transport carries Raft messages between cluster members over HTTP:
// long-lived, pipelined message streams, plus a separate compressed stream
// for snapshots.
//
// # Usage
//
// The member creates one Transport, mounts Handler on its peer listener, and
// tells the transport about the other members:
//
//	tr := transport.New(transport.Config{LocalID: id, ClusterID: cid, Raft: member, Logf: log.Printf})
//	go http.Serve(peerListener, tr.Handler())
//	tr.AddPeer(otherID, []string{"http://10.0.0.2:2380"})
//	...
//	tr.Send(rd.Messages)   // after persisting rd's entries and hard state
//	...
//	tr.Close()
//
// Serve the handler with an http.Server that has a ReadHeaderTimeout but no
// ReadTimeout or WriteTimeout: those would cut the long-lived streams, whose
// liveness the transport checks itself with per-read and per-write deadlines.
//
// Raft is the small interface the member implements; the transport calls it
// for every message received (Process), for snapshots received
// (ReceiveSnapshot, then Process of the MsgSnap), and to report peers it could
// not reach (ReportUnreachable) and the outcome of snapshot sends
// (ReportSnapshot).
//
// # Streams
//
// For every peer the transport runs one goroutine that keeps one HTTP/1.1
// POST to <peer URL>/raft/stream open. The request body is a sequence of
// frames; the response body is a trickle of keep-alive bytes:
//
//	request headers  X-Cairn-Cluster-ID, X-Cairn-From, X-Cairn-To: 16 hex digits each
//	request body     frame*, frame = length uint32 little-endian | raft.AppendMessage encoding
//	                 length 0 is a keep-alive sent after KeepAlive without traffic
//	response body    0x00 every KeepAlive (the receiver is alive)
//
// Send encodes messages at once (the caller may reuse them afterwards) and
// queues them on the peer's bounded queue without blocking. The request
// body's WriteTo, which net/http's connection goroutine runs, drains the queue
// in batches: everything queued, up to 64 KiB, goes out as one chunk in one
// write, so a burst of MsgApp and heartbeats costs one syscall rather than one
// each, and the receiver processes them in order without waiting for
// acknowledgements (pipelining). No goroutine of ours sits between the queue
// and the socket. A message sent to a peer whose queue is full, or whose
// stream failed and waits out its reconnect backoff, is dropped, counted in
// Status, and the peer is reported unreachable; Raft retransmits what it
// still needs once the peer is back (or sends a snapshot), rather than the
// peer receiving a backlog gone stale. Messages sent while a stream is being
// set up are queued. Messages to unknown peers are dropped.
//
// # Failures
//
// Connecting has a dial timeout; every write on the connection has a write
// deadline and every read a read deadline (ReadTimeout, several KeepAlive
// periods), so a dead or black-holed peer yields an error, never a hang. When
// a stream fails, the messages queued for the peer are dropped, the peer is
// reported unreachable, and the goroutine reconnects after a jittered
// exponential backoff (package backoff), trying the peer's URLs in turn.
//
// The receiver checks the headers of every request before reading it: a
// different cluster ID is refused with 412 Precondition Failed (logged once
// per foreign cluster ID), a sender that Raft reports removed with 410 Gone,
// and a request addressed to another member ID with 412. Every frame is
// checked: a length above MaxFrameSize, bytes that do not decode, a message
// whose To or From does not match the headers, or a message type that never
// crosses the network closes the stream.
//
// A sender has at most one inbound stream: when it reconnects, the new
// stream replaces (closes) the old one, so messages from the two are never
// interleaved.
//
// # Snapshots
//
// SendSnapshot streams a MsgSnap and its payload to <peer URL>/raft/snapshot
// on its own connection, off the message stream so a large transfer never
// delays heartbeats:
//
//	request headers  as for streams, plus X-Cairn-Snapshot-Size: payload bytes (decimal)
//	request body     one frame holding the MsgSnap (Snapshot.Data empty),
//	                 then the payload as a zstd stream (with zstd's checksum)
//	response body    0x00 keep-alives, then 0x01 (applied) or 0x02 + error text
//
// The receiver hands Raft.ReceiveSnapshot a reader that decompresses and
// checks the size: a stream cut short, a corrupt zstd frame or a size mismatch
// makes the reader return an error instead of io.EOF, and ReceiveSnapshot must
// then discard what it wrote. Only after ReceiveSnapshot returns nil is the
// MsgSnap given to Process. The sender calls ReportSnapshot with
// SnapshotFinish or SnapshotFailure. At most MaxInboundSnapshots transfers
// are received at once (each holds a decompressor with a window of up to
// 8 MiB); more are refused with 503. A transfer is restartable, not
// resumable: a failure reports SnapshotFailure, Raft sends a new MsgSnap later,
// and the whole transfer starts over.
//
// # Concurrency
//
// All methods of Transport are safe for concurrent use. Send, SendSnapshot,
// AddPeer, UpdatePeer and RemovePeer never block on the network and never
// call Raft; Raft's methods are called from the transport's own goroutines
// (and from HTTP handler goroutines) and may block, which back-pressures the
// stream. Close blocks until every goroutine the transport started has
// exited, so it must not be called from a goroutine that Raft's methods wait
// for (for example the Raft loop itself, if ReportUnreachable hands work to
// that loop synchronously).
//
// # Caveats
//
// Raft.Process and Raft.ReceiveSnapshot must return once their context is
// done, or Close cannot finish. A receiver that stalls for longer than
// WriteTimeout (for example a multi-second fsync on an SD card while storing
// a snapshot) makes the sender's write time out; the transfer then fails and
// is restarted by Raft.
//
// No TLS or authentication: run the peer port on a trusted network. At most
// one outbound stream per peer; the reverse direction is the peer's own
// stream to us. Messages are not retried by the transport; that is Raft's job.
package transport
