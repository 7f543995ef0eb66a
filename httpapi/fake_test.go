package httpapi

import (
	"context"
	"sync"
	"time"

	"cairn/kv"
)

// fakeBackend applies writes straight to a kv.Store at a fixed time, with
// switches for the leader and for failing proposals.
type fakeBackend struct {
	mu      sync.Mutex
	store   *kv.Store
	now     int64
	leader  uint64
	fail    error // returned by Propose and QuorumGet when set
	members []Member
	forward string
	waited  []uint64 // WaitApplied calls
	applied uint64   // WaitApplied(i) with i > applied blocks until ctx ends
}

var fakeNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

func newFake() *fakeBackend {
	s, err := kv.New(kv.Config{})
	if err != nil {
		panic(err)
	}
	return &fakeBackend{store: s, now: fakeNow, leader: 0x1, members: []Member{
		{ID: 0x1, Name: "a", PeerURLs: []string{"http://10.0.0.1:2380"}, ClientURLs: []string{"http://10.0.0.1:2379"}},
		{ID: 0x2, Name: "", PeerURLs: []string{"http://10.0.0.2:2380"}, IsLearner: true},
	}}
}

func (f *fakeBackend) ClusterID() uint64            { return 0xc0ffee }
func (f *fakeBackend) RaftStatus() (uint64, uint64) { return 42, 7 }
func (f *fakeBackend) ID() uint64                   { return 0x1 }
func (f *fakeBackend) Leader() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader
}

func (f *fakeBackend) Propose(ctx context.Context, r kv.Request) (*kv.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	r.Time = f.now
	return f.store.Apply(r)
}

func (f *fakeBackend) Get(path string, recursive, sorted bool) (*kv.Event, error) {
	return f.store.Get(path, recursive, sorted, f.now)
}

func (f *fakeBackend) QuorumGet(ctx context.Context, path string, recursive, sorted bool) (*kv.Event, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	return f.Get(path, recursive, sorted)
}

func (f *fakeBackend) Watch(path string, recursive, stream bool, since uint64) (*kv.Watcher, error) {
	return f.store.Watch(path, recursive, stream, since)
}

func (f *fakeBackend) Members() []Member { return f.members }

func (f *fakeBackend) AddMember(ctx context.Context, peerURLs []string, learner bool) (Member, error) {
	for _, m := range f.members {
		for _, u := range m.PeerURLs {
			for _, v := range peerURLs {
				if u == v {
					return Member{}, ErrMemberExists
				}
			}
		}
	}
	return Member{ID: 0x3, PeerURLs: peerURLs, IsLearner: learner}, nil
}

func (f *fakeBackend) find(id uint64) (Member, error) {
	for _, m := range f.members {
		if m.ID == id {
			return m, nil
		}
	}
	if id == 0xdead {
		return Member{}, ErrMemberRemoved
	}
	return Member{}, ErrMemberNotFound
}

func (f *fakeBackend) RemoveMember(ctx context.Context, id uint64) error {
	_, err := f.find(id)
	return err
}

func (f *fakeBackend) UpdateMember(ctx context.Context, id uint64, peerURLs []string) error {
	_, err := f.find(id)
	return err
}

func (f *fakeBackend) PromoteMember(ctx context.Context, id uint64) (Member, error) {
	m, err := f.find(id)
	if err != nil {
		return Member{}, err
	}
	if !m.IsLearner {
		return Member{}, ErrNotLearner
	}
	return Member{}, ErrLearnerNotReady
}

func (f *fakeBackend) ForwardURL() (string, bool) {
	if f.forward == "" {
		return "", false
	}
	return f.forward, true
}

func (f *fakeBackend) ClientURLs() []string {
	return []string{"http://10.0.0.1:2379", "http://10.0.0.3:2379"}
}

func (f *fakeBackend) SelfStats() SelfStats {
	return SelfStats{Name: "a", ID: 1, IsLeader: true, StartTime: time.Unix(0, fakeNow).UTC()}
}

func (f *fakeBackend) StoreStats() kv.Stats { return f.store.Stats() }

func (f *fakeBackend) WaitApplied(ctx context.Context, i uint64) error {
	f.mu.Lock()
	f.waited = append(f.waited, i)
	applied := f.applied
	f.mu.Unlock()
	if applied != 0 && i > applied {
		<-ctx.Done()
		return ErrTimeout
	}
	return nil
}

func (f *fakeBackend) GetAt(path string, atIndex uint64, recursive, sorted bool) (*kv.Event, error) {
	return f.store.GetAt(path, atIndex, recursive, sorted, f.now)
}
