package snapshot

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cairn/raft"
)

const (
	snapSuffix   = ".snap"
	brokenSuffix = ".broken"
	tmpPrefix    = "snap-"
	tmpSuffix    = ".tmp"

	// DefaultKeep is the number of snapshots kept when Options.Keep is 0.
	DefaultKeep = 5
	// DefaultKeepBroken is the number of damaged files kept aside for
	// inspection when Options.KeepBroken is 0.
	DefaultKeepBroken = 2
)

// Options configure a Snapshotter. The zero value (or a nil *Options) gives
// the defaults.
type Options struct {
	// Keep is how many snapshots to keep; older ones are removed after each
	// Commit or Receive. 0 means DefaultKeep.
	Keep int
	// KeepBroken is how many damaged files (renamed to *.snap.broken) to
	// keep for inspection; older ones are removed. 0 means DefaultKeepBroken.
	KeepBroken int
	// MaxReceiveSize bounds the bytes Receive accepts from one stream.
	// 0 means no limit (the disk is the limit).
	MaxReceiveSize int64
	// Logger receives warnings about damaged files set aside and cleanup
	// failures. nil discards them.
	Logger *slog.Logger

	// UnsafeNoFsync skips every fsync of files and directories. A crash can
	// then leave a snapshot that is named as complete but empty or partial
	// on disk (it will fail verification and be set aside, so the member
	// falls back to an older one or needs a new one from the leader). Only
	// for tests and throwaway clusters.
	UnsafeNoFsync bool

	// Fault-injection seams. nil means the real operation.

	// Fsync flushes a file or directory to stable storage; default
	// (*os.File).Sync (F_FULLFSYNC on darwin). Any error it returns is
	// treated as fatal for the operation and never retried.
	Fsync func(f *os.File) error
	// Rename atomically renames a file; default os.Rename.
	Rename func(oldpath, newpath string) error
}

// Snapshotter stores snapshots in one directory. Its methods are safe for
// concurrent use; changes to the directory (commits, receives, setting
// damaged files aside, retention) are serialized. Only one Snapshotter (one
// process) may use a directory at a time.
type Snapshotter struct {
	dir        string
	keep       int
	keepBroken int
	maxRecv    int64
	noSync     bool
	log        *slog.Logger
	fsync      func(*os.File) error
	rename     func(string, string) error

	mu sync.Mutex // serializes renames and removals in dir
}

// New opens (creating if needed) the snapshot directory dir. It removes
// temporary files that an earlier process left behind when it crashed in the
// middle of writing or receiving a snapshot.
func New(dir string, opts *Options) (*Snapshotter, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Keep < 0:
		return nil, fmt.Errorf("%w: Keep %d is negative", ErrInvalidOptions, o.Keep)
	case o.KeepBroken < 0:
		return nil, fmt.Errorf("%w: KeepBroken %d is negative", ErrInvalidOptions, o.KeepBroken)
	case o.MaxReceiveSize < 0:
		return nil, fmt.Errorf("%w: MaxReceiveSize %d is negative", ErrInvalidOptions, o.MaxReceiveSize)
	case dir == "":
		return nil, fmt.Errorf("%w: empty directory name", ErrInvalidOptions)
	}
	s := &Snapshotter{
		dir:        dir,
		keep:       o.Keep,
		keepBroken: o.KeepBroken,
		maxRecv:    o.MaxReceiveSize,
		noSync:     o.UnsafeNoFsync,
		log:        o.Logger,
		fsync:      o.Fsync,
		rename:     o.Rename,
	}
	if s.keep == 0 {
		s.keep = DefaultKeep
	}
	if s.keepBroken == 0 {
		s.keepBroken = DefaultKeepBroken
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.fsync == nil {
		s.fsync = (*os.File).Sync
	}
	if s.rename == nil {
		s.rename = os.Rename
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("snapshot: creating directory: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.readDir()
	if err != nil {
		return nil, err
	}
	removed := false
	for _, n := range names {
		if strings.HasPrefix(n, tmpPrefix) && strings.HasSuffix(n, tmpSuffix) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("snapshot: removing leftover temporary file: %w", err)
			}
			s.log.Info("snapshot: removed leftover temporary file", "file", n)
			removed = true
		}
	}
	s.pruneBroken(names)
	if removed {
		if err := s.syncDir(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Dir returns the directory the Snapshotter manages.
func (s *Snapshotter) Dir() string { return s.dir }

// fileName returns the file name of the snapshot with the given metadata.
// Names sort by term, then index, in the same order as the snapshots.
func fileName(term, index uint64) string {
	return fmt.Sprintf("%016x-%016x%s", term, index, snapSuffix)
}

// parseName is the inverse of fileName.
func parseName(name string) (term, index uint64, ok bool) {
	if len(name) != 16+1+16+len(snapSuffix) || name[16] != '-' || !strings.HasSuffix(name, snapSuffix) {
		return 0, 0, false
	}
	term, err1 := strconv.ParseUint(name[:16], 16, 64)
	index, err2 := strconv.ParseUint(name[17:33], 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return term, index, true
}

func (s *Snapshotter) readDir() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot: reading directory: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// snapNames returns the names of snapshot files, newest first.
func (s *Snapshotter) snapNames() ([]string, error) {
	names, err := s.readDir()
	if err != nil {
		return nil, err
	}
	var snaps []string
	for _, n := range names {
		if _, _, ok := parseName(n); ok {
			snaps = append(snaps, n)
		}
	}
	// Fixed-width hex: lexical order is (term, index) order.
	slices.Sort(snaps)
	slices.Reverse(snaps)
	return snaps, nil
}

func (s *Snapshotter) sync(f *os.File) error {
	if s.noSync {
		return nil
	}
	if err := s.fsync(f); err != nil {
		return fmt.Errorf("snapshot: fsync %s: %w", f.Name(), err)
	}
	return nil
}

func (s *Snapshotter) syncDir() error {
	if s.noSync {
		return nil
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("snapshot: opening directory for fsync: %w", err)
	}
	err = s.sync(d)
	if cerr := d.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("snapshot: closing directory: %w", cerr)
	}
	return err
}

// List returns the metadata of the stored snapshots, newest first. It reads
// only each file's header (checked against the header checksum); files whose
// header is damaged are left out. A listed snapshot can still fail the full
// verification done by Open.
func (s *Snapshotter) List() ([]raft.SnapshotMeta, error) {
	names, err := s.snapNames()
	if err != nil {
		return nil, err
	}
	metas := make([]raft.SnapshotMeta, 0, len(names))
	for _, n := range names {
		m, err := s.readHeader(n)
		if err != nil {
			s.log.Warn("snapshot: skipping file with unreadable header", "file", n, "err", err)
			continue
		}
		metas = append(metas, m)
	}
	return metas, nil
}

func (s *Snapshotter) readHeader(name string) (raft.SnapshotMeta, error) {
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		return raft.SnapshotMeta{}, err
	}
	defer f.Close()
	m, _, err := readHeader(bufio.NewReaderSize(f, 512))
	if err != nil {
		return raft.SnapshotMeta{}, err
	}
	if t, i, _ := parseName(name); t != m.Term || i != m.Index {
		return raft.SnapshotMeta{}, corruptf("%s holds the snapshot at term %d index %d", name, m.Term, m.Index)
	}
	return m, nil
}

// openFile opens the named snapshot file. It holds s.mu while opening, so
// the file cannot be removed by retention between listing and opening; once
// open, the descriptor stays valid whatever happens to the name.
func (s *Snapshotter) openFile(name string) (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoSnapshot, name)
		}
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return f, nil
}

// openVerified opens the named snapshot file and verifies its envelope. A
// file failing verification is set aside and reported with ErrCorrupt.
func (s *Snapshotter) openVerified(name string) (*os.File, fileInfo, int64, error) {
	f, err := s.openFile(name)
	if err != nil {
		return nil, fileInfo{}, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fileInfo{}, 0, fmt.Errorf("snapshot: %w", err)
	}
	fi, err := verify(f, st.Size())
	if err == nil {
		if t, i, _ := parseName(name); t != fi.meta.Term || i != fi.meta.Index {
			err = corruptf("file holds the snapshot at term %d index %d", fi.meta.Term, fi.meta.Index)
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, ErrCorrupt) {
			s.setAside(name, st, err)
		}
		return nil, fileInfo{}, 0, fmt.Errorf("%s: %w", name, err)
	}
	return f, fi, st.Size(), nil
}

// setAside renames a damaged file to *.broken so it is never opened again
// but stays available for inspection, then trims old broken files. It does
// nothing if name no longer refers to the file that was found damaged (st):
// a good copy may have been received under the same name meanwhile.
func (s *Snapshotter) setAside(name string, st fs.FileInfo, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := filepath.Join(s.dir, name)
	if cur, err := os.Stat(from); err != nil || !os.SameFile(cur, st) {
		return
	}
	s.log.Warn("snapshot: setting damaged snapshot aside", "file", name, "err", cause)
	if err := s.rename(from, from+brokenSuffix); err != nil {
		s.log.Error("snapshot: cannot set damaged snapshot aside", "file", name, "err", err)
		return
	}
	if err := s.syncDir(); err != nil {
		s.log.Error("snapshot: fsync after setting a snapshot aside", "err", err)
	}
	if names, err := s.readDir(); err == nil {
		s.pruneBroken(names)
	}
}

// pruneBroken removes all but the newest keepBroken damaged files.
// s.mu must be held.
func (s *Snapshotter) pruneBroken(names []string) {
	var broken []string
	for _, n := range names {
		if _, _, ok := parseName(strings.TrimSuffix(n, brokenSuffix)); ok && strings.HasSuffix(n, brokenSuffix) {
			broken = append(broken, n)
		}
	}
	slices.Sort(broken)
	for len(broken) > s.keepBroken {
		if err := os.Remove(filepath.Join(s.dir, broken[0])); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("snapshot: removing old damaged snapshot", "file", broken[0], "err", err)
		}
		broken = broken[1:]
	}
}

// retain removes all but the newest keep snapshots, never removing the file
// named protect (the one just stored). s.mu must be held. Removal failures
// are logged, not returned: the new snapshot is already durable.
func (s *Snapshotter) retain(protect string) {
	names, err := s.snapNames()
	if err != nil {
		s.log.Warn("snapshot: retention", "err", err)
		return
	}
	kept := 0
	for _, n := range names {
		if kept < s.keep || n == protect {
			kept++
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("snapshot: removing old snapshot", "file", n, "err", err)
		}
	}
}

// install makes the complete, fsynced temporary file tmp visible as name:
// rename, fsync the directory, apply retention.
func (s *Snapshotter) install(tmp, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.rename(tmp, filepath.Join(s.dir, name)); err != nil {
		return fmt.Errorf("snapshot: rename into place: %w", err)
	}
	if err := s.syncDir(); err != nil {
		return err
	}
	s.retain(name)
	return nil
}

// Newest verifies the newest snapshot and returns a Reader for it. Damaged
// snapshots are set aside (renamed *.snap.broken) and the next newest is
// tried. It returns ErrNoSnapshot when no usable snapshot remains.
func (s *Snapshotter) Newest() (*Reader, error) {
	tried := make(map[string]bool)
	for {
		names, err := s.snapNames()
		if err != nil {
			return nil, err
		}
		// The newest name not yet tried. Re-listing each time picks up
		// snapshots committed meanwhile and skips removed ones.
		name := ""
		for _, n := range names {
			if !tried[n] {
				name = n
				break
			}
		}
		if name == "" {
			return nil, ErrNoSnapshot
		}
		tried[name] = true
		f, fi, _, err := s.openVerified(name)
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNoSnapshot) {
			continue // set aside (or removed since listing); try the next one
		}
		if err != nil {
			return nil, err
		}
		return newReader(f, fi, f), nil
	}
}

// Open verifies the snapshot with the given index and term and returns a
// Reader for it. The membership stored in the file must equal
// meta.ConfState. A damaged file is set aside and ErrCorrupt returned; a
// missing one, or one with another membership, gives ErrNoSnapshot.
//
// To start from the newest snapshot that the WAL also knows about, walk
// List (newest first) and Open the first one the WAL has a marker for.
func (s *Snapshotter) Open(meta raft.SnapshotMeta) (*Reader, error) {
	f, fi, _, err := s.openExact(meta)
	if err != nil {
		return nil, err
	}
	return newReader(f, fi, f), nil
}

func (s *Snapshotter) openExact(meta raft.SnapshotMeta) (*os.File, fileInfo, int64, error) {
	f, fi, size, err := s.openVerified(fileName(meta.Term, meta.Index))
	if err != nil {
		return nil, fileInfo{}, 0, err
	}
	if !fi.meta.ConfState.Equal(meta.ConfState) {
		f.Close()
		return nil, fileInfo{}, 0, fmt.Errorf("%w: stored membership %v differs from requested %v",
			ErrNoSnapshot, fi.meta.ConfState, meta.ConfState)
	}
	return f, fi, size, nil
}

// OpenRaw verifies the snapshot with the given metadata and returns its
// file's raw bytes as a stream, with the stream's length. This is what a
// leader sends to a follower, which stores it with Receive. The caller must
// Close the stream.
func (s *Snapshotter) OpenRaw(meta raft.SnapshotMeta) (io.ReadCloser, int64, error) {
	f, _, size, err := s.openExact(meta)
	if err != nil {
		return nil, 0, err
	}
	return &rawReader{SectionReader: io.NewSectionReader(f, 0, size), f: f}, size, nil
}

type rawReader struct {
	*io.SectionReader
	f *os.File
}

func (r *rawReader) Close() error { return r.f.Close() }

// Receive reads a snapshot file's raw bytes (as produced by OpenRaw) from r
// into a temporary file, verifies the envelope and decompresses the whole
// payload to check it, and only then makes it visible in the directory.
// On any error nothing becomes visible and the temporary file is removed.
// r is read to its end; a stream with trailing bytes is corrupt.
func (s *Snapshotter) Receive(r io.Reader) (raft.SnapshotMeta, error) {
	tf, err := os.CreateTemp(s.dir, tmpPrefix+"*"+tmpSuffix)
	if err != nil {
		return raft.SnapshotMeta{}, fmt.Errorf("snapshot: creating temporary file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tf.Close()
			os.Remove(tf.Name())
		}
	}()

	src := io.Reader(bufio.NewReaderSize(r, 64<<10))
	if s.maxRecv > 0 && s.maxRecv < math.MaxInt64 {
		src = io.LimitReader(src, s.maxRecv+1) // one byte more tells "too large"
	}
	out := &crcWriter{w: tf}
	// Check the header first, so garbage is rejected before much of it is
	// written to disk.
	if _, _, err := readHeader(io.TeeReader(src, out)); err != nil {
		return raft.SnapshotMeta{}, fmt.Errorf("snapshot: receive: %w", err)
	}
	if _, err := io.Copy(out, src); err != nil {
		return raft.SnapshotMeta{}, fmt.Errorf("snapshot: receive: %w", err)
	}
	n := out.n
	if s.maxRecv > 0 && n > s.maxRecv {
		return raft.SnapshotMeta{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.maxRecv)
	}
	fi, err := verify(tf, n)
	if err != nil {
		return raft.SnapshotMeta{}, fmt.Errorf("snapshot: receive: %w", err)
	}
	rd := newReader(tf, fi, nil)
	_, err = io.Copy(io.Discard, rd)
	rd.Close()
	if err != nil {
		return raft.SnapshotMeta{}, fmt.Errorf("snapshot: receive: %w", err)
	}
	if err := s.sync(tf); err != nil {
		return raft.SnapshotMeta{}, err
	}
	if err := tf.Close(); err != nil {
		return raft.SnapshotMeta{}, fmt.Errorf("snapshot: closing received file: %w", err)
	}
	ok = true
	if err := s.install(tf.Name(), fileName(fi.meta.Term, fi.meta.Index)); err != nil {
		os.Remove(tf.Name())
		return raft.SnapshotMeta{}, err
	}
	return fi.meta, nil
}

// Create starts writing a new snapshot with the given metadata. Write the
// uncompressed payload to the returned Writer, then call Commit to make it
// durable and visible, or Abort to discard it.
func (s *Snapshotter) Create(meta raft.SnapshotMeta) (*Writer, error) {
	if err := validMeta(&meta); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMeta, err)
	}
	hdr, err := appendHeader(nil, &meta)
	if err != nil {
		return nil, err
	}
	tf, err := os.CreateTemp(s.dir, tmpPrefix+"*"+tmpSuffix)
	if err != nil {
		return nil, fmt.Errorf("snapshot: creating temporary file: %w", err)
	}
	w := &Writer{s: s, meta: meta, f: tf}
	w.out.w = bufio.NewWriterSize(tf, 64<<10)
	w.out.Write(hdr)
	w.bodyOff = w.out.n
	enc, err := newEncoder(&w.out)
	if err != nil {
		w.Abort()
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	w.enc = enc
	return w, nil
}

// crcWriter counts and checksums the bytes it passes on. After the first
// error it writes nothing more and keeps returning that error.
type crcWriter struct {
	w   io.Writer
	crc uint32
	n   int64
	err error
}

func (c *crcWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}
