package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"cairn/raft"
)

// DefaultSegmentSize is the size at which a segment is cut when
// Options.SegmentSize is zero. etcd cuts at 64 MiB; cairn's segments are
// smaller so that a member writes into recycled segments (recycle.go) after
// about 8 MiB of log rather than 128, and its WAL holds megabytes instead
// of a preallocated 64 MiB file on a small disk. A cut costs a few syncs,
// once per 10,000 or so small writes.
const DefaultSegmentSize = 4 << 20

// slowSync is the fdatasync duration above which a warning is logged.
const slowSync = time.Second

// Metadata identifies the member that owns a WAL. It is written at the start
// of every segment and returned by ReadAll.
type Metadata struct {
	MemberID  uint64
	ClusterID uint64
}

// SnapshotMarker records that a snapshot covers the log up to Index (whose
// entry has term Term). The zero marker means "no snapshot".
type SnapshotMarker struct {
	Index uint64
	Term  uint64
}

// valid checks a marker that is written or read (the zero marker is only an
// argument to Open).
func (m SnapshotMarker) valid() error {
	if m.Index == 0 || m.Term == 0 {
		return fmt.Errorf("snapshot marker %+v: index and term must be > 0", m)
	}
	return nil
}

// Options configure a WAL. The zero value (or a nil *Options) is valid.
type Options struct {
	// SegmentSize is the size at which the tail segment is cut and a new one
	// started; each segment is preallocated to it. Zero means
	// DefaultSegmentSize. A batch is never split, so a segment can grow past
	// SegmentSize by one batch.
	SegmentSize int64
	// Logger receives torn-tail repairs, slow fdatasyncs and fatal errors.
	// Nil discards them.
	Logger *slog.Logger
	// UnsafeNoFsync skips every fdatasync and fsync. UNSAFE: a crash or power
	// loss can then lose or tear acknowledged batches and break Raft's safety
	// (a member may forget its vote or entries it acknowledged). For tests
	// and benchmarks only.
	UnsafeNoFsync bool
	// DirectIO writes the tail segment with O_DIRECT where the file system
	// supports it (see directTail), falling back to the page cache where it
	// does not. Each fdatasync then writes the batch rounded to the disk's
	// alignment (often 512 bytes) instead of whole 4 KiB pages, which
	// matters on flash. The format on disk is the same either way.
	DirectIO bool

	// ops are the fault-injection seams; nil fields use the real calls.
	ops fileOps
	// zeroMode, for tests, overrides the file system check of zero.go:
	// zeroOn or zeroOff; zero means decide by the file system.
	zeroMode zeroMode
}

func (o *Options) resolve() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	if r.SegmentSize < 0 {
		return r, fmt.Errorf("%w: SegmentSize %d < 0", ErrOptions, r.SegmentSize)
	}
	if r.SegmentSize == 0 {
		r.SegmentSize = DefaultSegmentSize
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	r.ops = r.ops.withDefaults()
	if r.UnsafeNoFsync {
		r.ops.fdatasync = func(*os.File) error { return nil }
		r.ops.fsync = func(*os.File) error { return nil }
	}
	return r, nil
}

type mode uint8

const (
	modeRead   mode = iota // opened, ReadAll not done
	modeAppend             // ready for Save
	modeClosed
)

// WAL is an open write-ahead log. See the package documentation for the
// concurrency rules; all methods are safe to call from several goroutines
// (they are serialized by a mutex).
type WAL struct {
	dir  string
	opts Options
	log  *slog.Logger
	from SnapshotMarker

	mu   sync.Mutex
	mode mode
	// err is the sticky fatal error (wraps ErrFatal). Once set, every call
	// returns it.
	err  error
	lock *os.File // directory lock

	md    Metadata
	state logState
	segs  []segmentFile // segments on disk, oldest first; the last is the tail
	tail  *os.File      // the tail segment, open for writing (modeAppend)
	// direct, if not nil, writes the tail with O_DIRECT (Options.DirectIO);
	// tail is then used for fdatasync, truncation and reads only.
	direct *directTail
	off    int64  // end of the last record in the tail
	crc    uint32 // running CRC after the last record
	// tag is the tail's segment tag: 0 for a segment created in fresh
	// space, tagFor(seq) for one written into a recycled file (recycle.go).
	// With a tag, every write ends with a zero word after the last frame,
	// which marks the end of the log ahead of the file's old contents.
	tag uint16
	buf []byte // reused encoding buffer
	// lazy holds the frames of unsynced batches not yet written; they
	// end at off. See write.
	lazy []byte
	// zeroed is the end of the part of the tail known to be written (log
	// or zeros), tailSize the tail's size; zeros is the zeroChunk of zeros
	// zeroAhead writes from; zeroMode says whether it does (decided at the
	// first segment). See zero.go.
	zeroed, tailSize int64
	zeros            []byte
	zeroMode         zeroMode
}

// SaveResult describes a batch written by Save.
type SaveResult struct {
	// Batch is the number of the batch, +1 for every Save that wrote
	// something (it continues across restarts). After Save returns with
	// Synced set, this batch and every earlier one are durable.
	Batch uint64
	// Bytes is the number of bytes written for the batch (0 if nothing was
	// written).
	Bytes int
	// Synced reports whether Save fdatasynced the log. A batch that only
	// moves the commit index is written without a sync (see the package
	// documentation); it becomes durable with the next synced batch.
	Synced bool
}

// Create makes a new WAL in dir and returns it ready for Save. It fails with
// ErrExist if dir already holds a WAL. The directory is built as dir+".tmp",
// then renamed into place and the parent directory fsynced, so a crash leaves
// either no WAL or a complete empty one. An existing empty dir is replaced.
func Create(dir string, md Metadata, opts *Options) (*WAL, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if Exist(dir) {
		return nil, fmt.Errorf("%w: %s", ErrExist, dir)
	}
	dir = filepath.Clean(dir)
	tmp := dir + tmpExt
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	w := &WAL{dir: dir, opts: o, log: o.Logger, md: md, mode: modeAppend}
	w.state.known = 1
	// The first segment is written in tmp; w.dir is switched below.
	w.dir = tmp
	if err := w.newSegment(1, 1, false); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	w.dir = dir
	w.tail.Close() // newSegment fsynced the file and the tmp directory
	w.tail = nil
	// os.Rename refuses to replace a directory; an empty one is removed
	// first (os.Remove fails on a non-empty one, and Rename then reports it).
	os.Remove(dir)
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := syncDir(&o.ops, filepath.Dir(dir)); err != nil {
		return nil, err
	}
	if w.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, w.segs[0].name)
	if w.tail, err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
		w.lock.Close()
		return nil, err
	}
	w.startTail(path)
	return w, nil
}

// Open opens the WAL in dir for replay from the snapshot marker from. Call
// ReadAll next; Save is refused until ReadAll succeeded. Unless from is the
// zero marker, it must have been recorded with SaveSnapshot.
func Open(dir string, from SnapshotMarker, opts *Options) (*WAL, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if !Exist(dir) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, dir)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	return &WAL{dir: filepath.Clean(dir), opts: o, log: o.Logger, from: from, mode: modeRead, lock: lock}, nil
}

// ReadAll replays the log from the marker given to Open and returns the
// metadata, the latest hard state and the entries after the marker (as Raft
// last wrote them: later writes win). It then prepares the WAL for Save.
//
// A torn tail (a partly written last batch, or garbage in the preallocated
// space) is copied to a ".broken" file next to the segment, truncated, and
// logged. Any other damage returns ErrCorrupt, naming the file and offset,
// and changes nothing on disk. The returned entries' Data do not alias
// internal buffers.
func (w *WAL) ReadAll() (Metadata, raft.HardState, []raft.Entry, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return Metadata{}, raft.HardState{}, nil, err
	}
	if w.mode != modeRead {
		return Metadata{}, raft.HardState{}, nil, ErrNotReady
	}
	r, err := readDir(w.dir, w.from, false)
	if err != nil {
		return Metadata{}, raft.HardState{}, nil, err
	}
	ents, err := r.result()
	if err != nil {
		return Metadata{}, raft.HardState{}, nil, err
	}
	// All segments on disk, including older ones replay did not read, so
	// that ReleaseBefore removes them too.
	all, err := listSegments(w.dir)
	if err != nil {
		return Metadata{}, raft.HardState{}, nil, err
	}
	if err := w.openTail(r); err != nil {
		return Metadata{}, raft.HardState{}, nil, err
	}
	w.md = r.md
	w.state = r.logState
	w.segs = all
	w.crc = r.crc
	w.off = r.tailOff
	w.tag = r.tailTag
	w.mode = modeAppend
	w.startTail(w.tail.Name())
	return r.md, r.hs, ents, nil
}

// openTail opens the last segment for appending, repairing a torn tail.
func (w *WAL) openTail(r *replay) error {
	tail := r.segs[len(r.segs)-1]
	path := filepath.Join(w.dir, tail.name)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if r.tailDirty {
		w.log.Warn("wal: repairing torn tail", "file", path, "offset", r.tailOff, "err", r.torn)
		if err := w.saveBroken(path); err != nil {
			f.Close()
			return err
		}
		// Cut the damaged bytes off, then preallocate again: the rest of
		// the segment reads as zeros, so later appends cannot be confused
		// with leftovers.
		if err := f.Truncate(r.tailOff); err != nil {
			f.Close()
			return err
		}
	}
	if err := preallocate(&w.opts.ops, f, w.opts.SegmentSize); err != nil {
		f.Close()
		return err
	}
	if r.tailDirty {
		if err := w.opts.ops.fsync(f); err != nil {
			f.Close()
			return w.fail(fmt.Errorf("fsync %s after repair: %w", path, err))
		}
	}
	// Remove segments and .broken copies a crash left half-written.
	for _, pattern := range []string{"*" + segmentExt + tmpExt, "*" + brokenExt + tmpExt} {
		tmps, _ := filepath.Glob(filepath.Join(w.dir, pattern))
		for _, t := range tmps {
			os.Remove(t)
		}
	}
	w.tail = f
	return nil
}

// saveBroken copies a damaged segment to path+".broken", durably.
func (w *WAL) saveBroken(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dst := path + brokenExt
	tmp := dst + tmpExt
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := writeFull(&w.opts.ops, f, data, 0); err != nil {
		f.Close()
		return err
	}
	if err := w.opts.ops.fsync(f); err != nil {
		f.Close()
		return w.fail(fmt.Errorf("fsync %s: %w", tmp, err))
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	if err := syncDir(&w.opts.ops, w.dir); err != nil {
		return w.fail(fmt.Errorf("fsync dir %s: %w", w.dir, err))
	}
	return nil
}

// usable returns the sticky fatal error, or ErrClosed.
func (w *WAL) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.mode == modeClosed {
		return ErrClosed
	}
	return nil
}

// fail makes err the sticky fatal error and returns it.
func (w *WAL) fail(err error) error {
	w.err = fmt.Errorf("%w: %w", ErrFatal, err)
	w.log.Error("wal: fatal I/O error; the WAL is unusable until the process restarts", "dir", w.dir, "err", err)
	return w.err
}

// Save writes hs (unless it is empty or equal to the last saved one) and
// ents as one batch and makes them durable with a single fdatasync. If
// ents[0].Index is at or below the last index, the log from that index on is
// replaced (Raft §5.3). When there is nothing to write, Save does nothing
// and returns the last batch number with Bytes 0.
//
// Arguments that break the log rules return ErrInvalid and write nothing.
// An I/O error is fatal (ErrFatal): see the package documentation.
func (w *WAL) Save(hs raft.HardState, ents []raft.Entry) (SaveResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return SaveResult{}, err
	}
	if w.mode != modeAppend {
		return SaveResult{}, ErrNotReady
	}
	rec := batchRecord{
		Batch:    w.state.batch + 1,
		HasState: !hs.IsEmpty() && hs != w.state.hs,
		State:    hs,
		Entries:  ents,
	}
	if !rec.HasState {
		rec.State = raft.HardState{}
		if len(ents) == 0 {
			return SaveResult{Batch: w.state.batch}, nil
		}
	}
	if err := w.state.checkBatch(&rec); err != nil {
		return SaveResult{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if rec.size() > maxPayload {
		return SaveResult{}, fmt.Errorf("%w: batch of about %d bytes exceeds %d", ErrInvalid, rec.size(), maxPayload)
	}
	if w.off >= w.opts.SegmentSize {
		if err := w.cut(); err != nil {
			return SaveResult{}, err
		}
	}
	sync := mustSync(w.state.hs, &rec)
	payload := rec.append(w.buf[:0])
	// The frame goes after the payload in the same buffer, so a batch costs
	// no allocation once the buffer has grown.
	b, crc := appendFrame(payload, typeBatch, w.tag, w.crc, payload)
	frame := b[len(payload):]
	if err := w.write(frame, sync); err != nil {
		return SaveResult{}, err
	}
	w.buf = b[:0]
	w.crc = crc
	w.state.applyBatch(&rec)
	return SaveResult{Batch: rec.Batch, Bytes: len(frame), Synced: sync}, nil
}

// mustSync reports whether batch r must be fdatasynced before Save returns:
// when it holds entries, or changes the term or the vote (Raft §5.1, §3.8:
// they must be durable before any message depends on them). A batch that
// only moves the commit index is written without a sync, as etcd does: a
// lost commit index is learned again from the leader, and the next synced
// batch makes it durable too.
func mustSync(prev raft.HardState, r *batchRecord) bool {
	if len(r.Entries) > 0 || !r.HasState {
		return true
	}
	return r.State.Term != prev.Term || r.State.Vote != prev.Vote
}

// write appends one or more frames to the tail and, if sync, fdatasyncs it.
// Frames that need no sync (a batch that only moves the commit index) are
// only kept in memory (w.lazy) and written together with the next frames,
// at the latest at the next synced batch, cut or Close: a crash may lose
// them either way, and this saves a system call (with DirectIO, a device
// write) per commit-only batch. Any error is fatal.
func (w *WAL) write(b []byte, sync bool) error {
	if !sync && len(w.lazy)+len(b) <= maxLazy {
		w.lazy = append(w.lazy, b...)
		w.off += int64(len(b))
		return nil
	}
	return w.writeOut(b, sync)
}

// writeOut writes the kept frames and b at their place, then fdatasyncs if
// sync.
func (w *WAL) writeOut(b []byte, sync bool) error {
	at := w.off - int64(len(w.lazy))
	if len(w.lazy) > 0 {
		b = append(w.lazy, b...)
		w.lazy = b[:0]
	}
	// In a recycled segment the write carries the end marker too; the next
	// write starts on it.
	trail := 0
	if w.tag != 0 {
		trail = endMarkerSize
	}
	var err error
	if w.direct != nil {
		err = w.direct.write(&w.opts.ops, b, at, trail)
	} else {
		if trail > 0 {
			b = append(b, endMarker[:]...)
		}
		err = writeFull(&w.opts.ops, w.tail, b, at)
		b = b[:len(b)-trail]
	}
	if err != nil {
		return w.fail(fmt.Errorf("write %s: %w", w.tail.Name(), err))
	}
	w.off = at + int64(len(b))
	if !sync {
		return w.zeroAhead()
	}
	start := time.Now()
	if err := w.opts.ops.fdatasync(w.tail); err != nil {
		return w.fail(fmt.Errorf("fdatasync %s: %w", w.tail.Name(), err))
	}
	if d := time.Since(start); d > slowSync {
		w.log.Warn("wal: slow fdatasync", "file", w.tail.Name(), "took", d)
	}
	return w.zeroAhead()
}

// maxLazy bounds the unsynced frames write keeps in memory.
const maxLazy = 64 << 10

// flushLazy writes the frames write kept in memory, without a sync.
func (w *WAL) flushLazy() error {
	if len(w.lazy) == 0 {
		return nil
	}
	return w.writeOut(nil, false)
}

// SaveSnapshot durably records the snapshot marker m. If the log holds entry
// m.Index with term m.Term the entries stay; otherwise the snapshot replaces
// the whole log, and the next Save must start at m.Index+1. Markers never
// move back.
func (w *WAL) SaveSnapshot(m SnapshotMarker) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if w.mode != modeAppend {
		return ErrNotReady
	}
	if err := w.state.checkSnapshot(m); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if w.off >= w.opts.SegmentSize {
		if err := w.cut(); err != nil {
			return err
		}
	}
	b, crc := appendFrame(w.buf[:0], typeSnapshot, w.tag, w.crc, appendSnapshot(nil, m))
	if err := w.write(b, true); err != nil {
		return err
	}
	w.buf = b[:0]
	w.crc = crc
	w.state.setSnapshot(m)
	return nil
}

// cut finishes the tail segment and starts the next one. Order: truncate the
// old tail to its records and fsync it; write the new segment's header
// records into a preallocated temporary file and fsync it; rename it into
// place; fsync the directory. Errors are fatal.
func (w *WAL) cut() error {
	if err := w.flushLazy(); err != nil {
		return err
	}
	old := w.tail
	if err := old.Truncate(w.off); err != nil {
		return w.fail(fmt.Errorf("truncate %s: %w", old.Name(), err))
	}
	if err := w.opts.ops.fsync(old); err != nil {
		return w.fail(fmt.Errorf("fsync %s: %w", old.Name(), err))
	}
	last := w.segs[len(w.segs)-1]
	if err := w.newSegment(last.seq+1, w.state.lastIndex+1, true); err != nil {
		return err
	}
	old.Close()
	w.startTail(filepath.Join(w.dir, w.segs[len(w.segs)-1].name))
	return nil
}

// newSegment creates segment (seq, first) in w.dir through a temporary file
// and makes it the tail; with recycle, in the spare file if there is one
// (recycle.go). Errors are fatal.
func (w *WAL) newSegment(seq, first uint64, recycle bool) error {
	name := segmentName(seq, first)
	path := filepath.Join(w.dir, name)
	tmp := path + tmpExt
	var f *os.File
	var tag uint16
	if recycle {
		f, tag = w.recycle(tmp, seq)
	}
	if f == nil {
		var err error
		if f, err = os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return w.fail(err)
		}
	}
	if err := preallocate(&w.opts.ops, f, w.opts.SegmentSize); err != nil {
		f.Close()
		return w.fail(fmt.Errorf("preallocate %s: %w", tmp, err))
	}
	crc := w.crc
	b, crc := appendFrame(w.buf[:0], typeSegment, tag, crc, segmentRecord{seq, first, w.state.batch}.append(nil))
	b, crc = appendFrame(b, typeMetadata, tag, crc, appendMetadata(nil, w.md))
	if !w.state.hs.IsEmpty() {
		b, crc = appendFrame(b, typeState, tag, crc, appendState(nil, w.state.hs))
	}
	n := len(b)
	if tag != 0 {
		b = append(b, endMarker[:]...)
	}
	if err := writeFull(&w.opts.ops, f, b, 0); err != nil {
		f.Close()
		return w.fail(fmt.Errorf("write %s: %w", tmp, err))
	}
	if err := w.opts.ops.fsync(f); err != nil {
		f.Close()
		return w.fail(fmt.Errorf("fsync %s: %w", tmp, err))
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return w.fail(err)
	}
	if err := syncDir(&w.opts.ops, w.dir); err != nil {
		f.Close()
		return w.fail(fmt.Errorf("fsync dir %s: %w", w.dir, err))
	}
	w.buf = b[:0]
	w.tail = f
	w.off = int64(n)
	w.crc = crc
	w.tag = tag
	w.segs = append(w.segs, segmentFile{seq, first, name})
	return nil
}

// ReleaseBefore removes the segments that hold only entries before index,
// keeping the segment that contains index and all later ones, so that disk
// use stays bounded. The newest segments it frees, up to 32 MiB of spares
// in the directory, become spares that the next cuts write into
// (recycle.go). index must not exceed the latest snapshot marker (Open
// needs the segment holding the marker's index).
func (w *WAL) ReleaseBefore(index uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if w.mode != modeAppend {
		return ErrNotReady
	}
	if index > w.state.snap.Index {
		return fmt.Errorf("%w: release before %d is past the latest snapshot at %d", ErrInvalid, index, w.state.snap.Index)
	}
	keep := 0
	for i, s := range w.segs {
		if s.first <= index {
			keep = i
		}
	}
	if keep == 0 {
		return nil
	}
	// Oldest first, so a crash leaves a contiguous run of segments. The
	// newest ones become spares that the next cuts write into.
	spareFrom := w.spareFrom(w.segs[:keep])
	for i := 0; i < keep; i++ {
		path := filepath.Join(w.dir, w.segs[i].name)
		var err error
		if i >= spareFrom {
			err = os.Rename(path, filepath.Join(w.dir, spareName(w.segs[i].seq)))
		} else {
			err = os.Remove(path)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			w.segs = w.segs[i:]
			return fmt.Errorf("wal: release %s: %w", w.segs[0].name, err)
		}
	}
	w.segs = append(w.segs[:0], w.segs[keep:]...)
	if err := syncDir(&w.opts.ops, w.dir); err != nil {
		return w.fail(fmt.Errorf("fsync dir %s: %w", w.dir, err))
	}
	return nil
}

// Close releases the files and the directory lock. It does not sync: every
// successful Save was already durable. Close is idempotent; after it every
// other call returns ErrClosed (or the fatal error, if one happened).
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mode == modeClosed {
		return nil
	}
	var err error
	if w.mode == modeAppend && w.err == nil {
		err = w.flushLazy()
	}
	w.mode = modeClosed
	if w.direct != nil {
		w.direct.close()
		w.direct = nil
	}
	if w.tail != nil {
		if cerr := w.tail.Close(); err == nil {
			err = cerr
		}
		w.tail = nil
	}
	if w.lock != nil {
		if cerr := w.lock.Close(); err == nil {
			err = cerr
		}
		w.lock = nil
	}
	return err
}

// Verify reads every segment in dir without changing anything and reports
// ErrCorrupt for damage, an io.ErrUnexpectedEOF-family error for a torn
// tail that Open would repair, or nil. The directory must not be open for
// writing by another WAL at the same time.
func Verify(dir string) error {
	r, err := readDir(dir, SnapshotMarker{}, true)
	if err != nil {
		return err
	}
	return r.torn
}
