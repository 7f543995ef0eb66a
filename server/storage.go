package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"cairn/kv"
	"cairn/raft"
	"cairn/server/config"
	"cairn/snapshot"
	"cairn/wal"
)

// openStorage restarts from the WAL and newest snapshot, or creates the
// member's storage (new cluster or join).
func (m *Member) openStorage(ctx context.Context) error {
	walDir, snapDir, idFile := m.dataDirs()
	if err := os.MkdirAll(filepath.Dir(walDir), 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrDataDir, err)
	}
	var err error
	m.snapper, err = snapshot.New(snapDir, &snapshot.Options{Logger: m.logger, UnsafeNoFsync: m.UnsafeNoFsync})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDataDir, err)
	}
	m.store, err = kv.New(kv.Config{HistoryEvents: m.cfg.WatchHistory})
	if err != nil {
		return err
	}
	m.ms = raft.NewMemoryStorage()
	walOpts := &wal.Options{SegmentSize: m.cfg.MaxWALSegmentSize, Logger: m.logger, UnsafeNoFsync: m.UnsafeNoFsync, DirectIO: m.cfg.WALDirectIO}
	if wal.Exist(walDir) {
		if err := m.restart(walDir, walOpts); err != nil {
			return err
		}
		last, _ := m.ms.LastIndex()
		hs, _, _ := m.ms.InitialState()
		empty := last == 0 && hs.IsEmpty() && m.snapIndex.Load() == 0
		if empty && m.cfg.InitialClusterState == config.StateExisting {
			// A joining member that restarts before the leader reached
			// it: it must learn its peers again to answer the leader.
			id, cid, peers, err := m.askMembers(ctx)
			if err != nil {
				return err
			}
			if id != m.id || cid != m.clusterID {
				return fmt.Errorf("%w: the cluster lists this member as %x in cluster %x, the WAL says %x in %x",
					ErrDataDir, id, cid, m.id, m.clusterID)
			}
			m.joinPeers = peers
			return nil
		}
		if !empty || m.cfg.InitialClusterState != config.StateNew {
			return nil
		}
		// A crash between creating the WAL and saving the initial
		// membership: nothing was ever acknowledged, so start over.
		m.logger.Warn("WAL holds no bootstrap entries; bootstrapping again", "dir", walDir)
		m.wal.Close()
		m.wal = nil
		if err := os.RemoveAll(walDir); err != nil {
			return fmt.Errorf("%w: %w", ErrDataDir, err)
		}
	}
	if m.cfg.InitialClusterState == config.StateExisting {
		return m.join(ctx, walDir, walOpts)
	}
	return m.bootstrapNew(ctx, walDir, idFile, walOpts)
}

// restart loads the newest snapshot the WAL knows about, then the log after
// it. Committed entries after the snapshot are applied again by the loop.
func (m *Member) restart(walDir string, opts *wal.Options) error {
	metas, err := m.snapper.List()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDataDir, err)
	}
	// Newest first; a snapshot written just before a crash may be missing
	// from the WAL (its marker was not saved yet): fall back to older ones.
	slices.SortFunc(metas, func(a, b raft.SnapshotMeta) int {
		switch {
		case a.Index > b.Index:
			return -1
		case a.Index < b.Index:
			return 1
		}
		return 0
	})
	metas = append(metas, raft.SnapshotMeta{})
	var w *wal.WAL
	var snap raft.SnapshotMeta
	for _, meta := range metas {
		w, err = wal.Open(walDir, wal.SnapshotMarker{Index: meta.Index, Term: meta.Term}, opts)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrDataDir, err)
		}
		md, hs, ents, rerr := w.ReadAll()
		if errors.Is(rerr, wal.ErrSnapshotNotFound) && meta.Index != 0 {
			w.Close()
			continue
		}
		if rerr != nil {
			w.Close()
			return fmt.Errorf("%w: %w", ErrDataDir, rerr)
		}
		if meta.Index != 0 {
			r, err := m.snapper.Open(meta)
			if err != nil {
				w.Close()
				return fmt.Errorf("%w: %w", ErrDataDir, err)
			}
			err = m.store.Restore(r)
			r.Close()
			if err != nil {
				w.Close()
				return fmt.Errorf("%w: restore snapshot %d: %w", ErrDataDir, meta.Index, err)
			}
			if err := m.ms.ApplySnapshot(raft.Snapshot{Meta: meta}); err != nil {
				w.Close()
				return err
			}
		}
		snap = meta
		hs = hardStateAfterSnapshot(hs, meta)
		if !hs.IsEmpty() {
			m.ms.SetHardState(hs)
		}
		if err := m.ms.Append(ents); err != nil {
			w.Close()
			return fmt.Errorf("%w: %w", ErrDataDir, err)
		}
		m.id, m.clusterID = md.MemberID, md.ClusterID
		break
	}
	if w == nil {
		return fmt.Errorf("%w: no usable WAL", ErrDataDir)
	}
	m.wal = w
	m.confState = snap.ConfState
	m.applied.Store(snap.Index)
	m.appliedTerm = snap.Term
	m.snapIndex.Store(snap.Index)
	m.cluster.load(m.store)
	m.logger.Info("restarted from disk", "id", hexID(m.id), "snapshot", snap.Index, "store-index", m.store.Index())
	return nil
}

// bootstrapNew creates the storage of a member of a new cluster: it takes
// (or creates and persists) its random ID, learns the IDs of the other
// members listed in --initial-cluster from their peer listeners, and writes
// the initial membership as committed conf change entries.
func (m *Member) bootstrapNew(ctx context.Context, walDir, idFile string, opts *wal.Options) error {
	id, err := m.loadOrCreateID(idFile)
	if err != nil {
		return err
	}
	m.id = id
	m.idPub.Store(id)
	ids := map[string]uint64{m.cfg.Name: id}
	ctx, cancel := context.WithTimeout(ctx, m.BootstrapWait)
	defer cancel()
	type answer struct {
		name string
		id   uint64
		err  error
	}
	others := 0
	ansc := make(chan answer)
	for _, mem := range m.cfg.InitialCluster {
		if mem.Name == m.cfg.Name {
			continue
		}
		others++
		go func() {
			id, err := askID(ctx, mem)
			ansc <- answer{mem.Name, id, err}
		}()
	}
	var firstErr error
	for range others {
		a := <-ansc
		if a.err != nil && firstErr == nil {
			firstErr = a.err
		}
		ids[a.name] = a.id
	}
	if firstErr != nil {
		return fmt.Errorf("%w: %w", ErrBootstrap, firstErr)
	}
	type boot struct {
		id  uint64
		mem config.Member
	}
	var members []boot
	for _, mem := range m.cfg.InitialCluster {
		members = append(members, boot{ids[mem.Name], mem})
	}
	slices.SortFunc(members, func(a, b boot) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	h := sha256.New()
	for _, b := range members {
		h.Write(binary.BigEndian.AppendUint64(nil, b.id))
	}
	h.Write([]byte(m.cfg.InitialClusterToken))
	m.clusterID = binary.BigEndian.Uint64(h.Sum(nil))
	if m.clusterID == 0 {
		m.clusterID = 1
	}
	ents := make([]raft.Entry, len(members))
	for i, b := range members {
		cc := raft.ConfChange{Type: raft.ConfChangeAddVoter, NodeID: b.id,
			Context: []byte(mustJSON(confContext{Name: b.mem.Name, PeerURLs: urlStrings(b.mem.PeerURLs)}))}
		ents[i] = raft.Entry{Term: 1, Index: uint64(i + 1), Type: raft.EntryConfChange, Data: raft.AppendConfChange(nil, &cc)}
	}
	hs := raft.HardState{Term: 1, Commit: uint64(len(ents))}
	w, err := wal.Create(walDir, wal.Metadata{MemberID: m.id, ClusterID: m.clusterID}, opts)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDataDir, err)
	}
	if _, err := w.Save(hs, ents); err != nil {
		w.Close()
		return fmt.Errorf("%w: %w", ErrDataDir, err)
	}
	m.wal = w
	m.ms.SetHardState(hs)
	m.ms.Append(ents)
	m.cluster.load(m.store)
	m.logger.Info("bootstrapped a new cluster", "id", hexID(m.id), "cluster", hexID(m.clusterID), "members", len(members))
	return nil
}

// loadOrCreateID returns the ID persisted in idFile, creating a random one
// (written to a temporary file, fsynced, renamed, directory fsynced).
func (m *Member) loadOrCreateID(idFile string) (uint64, error) {
	if b, err := os.ReadFile(idFile); err == nil {
		id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 64)
		if err != nil || id == 0 {
			return 0, fmt.Errorf("%w: %s holds no member ID", ErrDataDir, idFile)
		}
		return id, nil
	}
	m.randMu.Lock()
	id := raft.NewMemberID(m.rand)
	m.randMu.Unlock()
	tmp := idFile + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrDataDir, err)
	}
	_, err = fmt.Fprintf(f, "%x\n", id)
	if err == nil && !m.UnsafeNoFsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, idFile)
	}
	if err == nil && !m.UnsafeNoFsync {
		var d *os.File
		if d, err = os.Open(filepath.Dir(idFile)); err == nil {
			err = d.Sync()
			d.Close()
		}
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrDataDir, err)
	}
	return id, nil
}

// idInfo is the answer of GET /cairn/id on the peer listener.
type idInfo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

var peerClient = &http.Client{Timeout: 2 * time.Second}

// askID polls a peer's /cairn/id until it answers with the expected name,
// or ctx ends.
func askID(ctx context.Context, mem config.Member) (uint64, error) {
	var last error
	for {
		for _, u := range mem.PeerURLs {
			var info idInfo
			if err := getJSON(ctx, u.String()+"/cairn/id", &info); err != nil {
				last = err
				continue
			}
			if info.Name != mem.Name {
				return 0, fmt.Errorf("peer %s answers as %q, want %q", u.String(), info.Name, mem.Name)
			}
			id, err := strconv.ParseUint(info.ID, 16, 64)
			if err != nil || id == 0 {
				return 0, fmt.Errorf("peer %s sent bad ID %q", u.String(), info.ID)
			}
			return id, nil
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("no answer from member %q (%v): %w", mem.Name, last, ctx.Err())
		case <-t.C:
		}
	}
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := peerClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

func (m *Member) serveID(w http.ResponseWriter, r *http.Request) {
	id := m.idPub.Load()
	if id == 0 {
		http.Error(w, "member starting", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(idInfo{ID: hexID(id), Name: m.cfg.Name})
}

// clusterInfo is the answer of GET /cairn/members on the peer listener,
// used by a joining member to learn its ID and the cluster.
type clusterInfo struct {
	ClusterID string       `json:"clusterID"`
	Members   []memberJSON `json:"members"`
}

type memberJSON struct {
	ID        string   `json:"id"`
	PeerURLs  []string `json:"peerURLs"`
	IsLearner bool     `json:"isLearner,omitempty"`
}

func (m *Member) serveMembers(w http.ResponseWriter, r *http.Request) {
	if !m.running.Load() {
		http.Error(w, "member starting", http.StatusServiceUnavailable)
		return
	}
	info := clusterInfo{ClusterID: hexID(m.clusterID)}
	for _, mem := range m.cluster.list() {
		info.Members = append(info.Members, memberJSON{ID: hexID(mem.ID), PeerURLs: mem.PeerURLs, IsLearner: mem.IsLearner})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(info)
}

// join creates the storage of a member added to an existing cluster: its ID
// is the one the cluster assigned when it was added (found by peer URL).
func (m *Member) join(ctx context.Context, walDir string, opts *wal.Options) error {
	id, cid, peers, err := m.askMembers(ctx)
	if err != nil {
		return err
	}
	m.id, m.clusterID = id, cid
	w, err := wal.Create(walDir, wal.Metadata{MemberID: id, ClusterID: cid}, opts)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDataDir, err)
	}
	m.wal = w
	m.joinPeers = peers
	m.logger.Info("joining an existing cluster", "id", hexID(id), "cluster", hexID(cid))
	return nil
}

// askMembers asks the other members listed in --initial-cluster for the
// membership until one lists a member with this member's peer URLs, and
// returns that member's ID, the cluster ID and the members.
func (m *Member) askMembers(ctx context.Context) (uint64, uint64, []memberJSON, error) {
	ctx, cancel := context.WithTimeout(ctx, m.BootstrapWait)
	defer cancel()
	mine := urlStrings(m.cfg.InitialAdvertisePeerURLs)
	var last error
	for {
		for _, mem := range m.cfg.InitialCluster {
			if mem.Name == m.cfg.Name {
				continue
			}
			for _, u := range mem.PeerURLs {
				var info clusterInfo
				if err := getJSON(ctx, u.String()+"/cairn/members", &info); err != nil {
					last = err
					continue
				}
				cid, err := strconv.ParseUint(info.ClusterID, 16, 64)
				if err != nil {
					last = err
					continue
				}
				for _, cm := range info.Members {
					if !slices.ContainsFunc(cm.PeerURLs, func(s string) bool { return slices.Contains(mine, s) }) {
						continue
					}
					if id, err := strconv.ParseUint(cm.ID, 16, 64); err == nil {
						return id, cid, info.Members, nil
					}
				}
				// Not (yet) known there: that member may not have applied
				// the addition yet; ask again.
				last = fmt.Errorf("no member of the cluster has peer URLs %v; add this member with POST /v2/members first", mine)
			}
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, 0, nil, fmt.Errorf("%w: no existing member answered (%v)", ErrBootstrap, last)
		case <-t.C:
		}
	}
}

// hardStateAfterSnapshot brings a replayed hard state up to the snapshot it
// restarts from. A snapshot received from the leader is recorded (WAL
// marker) before the hard state of the same Ready is saved; a crash in
// between leaves a hard state whose commit (and maybe term) is below the
// snapshot, which raft would refuse. The snapshot covers only committed
// entries, so its index is committed. If the term must go up, the vote is
// dropped: a vote in the snapshot's term would have been saved (votes are
// durable before they are sent), so there was none.
func hardStateAfterSnapshot(hs raft.HardState, snap raft.SnapshotMeta) raft.HardState {
	if snap.Index == 0 {
		return hs
	}
	if hs.Term < snap.Term {
		hs.Term, hs.Vote = snap.Term, raft.None
	}
	hs.Commit = max(hs.Commit, snap.Index)
	return hs
}
