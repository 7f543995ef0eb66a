package kv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestDirKidsAgainstSortedSlice drives the chunked child list with random
// inserts and removes (enough to split and empty many chunks) and compares
// it with a plain sorted slice after every step.
func TestDirKidsAgainstSortedSlice(t *testing.T) {
	steps := 20_000
	if testing.Short() {
		steps = 5_000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	d := newDirKids()
	var want []string
	for i := range steps {
		name := fmt.Sprintf("%05d", rng.IntN(3000))
		if i%1000 < 300 {
			name = fmt.Sprintf("z%07d", i) // sequential appends
		}
		j, found := slices.BinarySearch(want, name)
		if rng.IntN(3) == 0 {
			got := d.remove(name)
			if (got != nil) != found {
				t.Fatalf("step %d: remove(%s) = %v, present %v", i, name, got, found)
			}
			if found {
				want = slices.Delete(want, j, j+1)
			}
		} else if !found {
			d.insert(&node{name: name})
			want = slices.Insert(want, j, name)
		}
		if d.n != len(want) {
			t.Fatalf("step %d: n = %d, want %d", i, d.n, len(want))
		}
		if i%997 == 0 || i == steps-1 {
			var got []string
			d.each(func(n *node) bool { got = append(got, n.name); return true })
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: children out of order or lost", i)
			}
			for _, name := range want {
				if n := d.get(name); n == nil || n.name != name {
					t.Fatalf("step %d: get(%s) = %v", i, name, n)
				}
			}
			if d.get("absent") != nil {
				t.Fatalf("step %d: get of an absent name", i)
			}
			if d.index != nil && len(d.index) != d.n {
				t.Fatalf("step %d: index holds %d of %d children", i, len(d.index), d.n)
			}
			for _, c := range d.chunks {
				if len(c) == 0 || len(c) > maxChunk {
					t.Fatalf("step %d: chunk of %d", i, len(c))
				}
			}
			if len(want) > 0 {
				from := want[len(want)/2]
				var tail []string
				d.eachFrom(from, func(n *node) bool { tail = append(tail, n.name); return true })
				if !slices.Equal(tail, want[len(want)/2:]) {
					t.Fatalf("step %d: eachFrom(%s) wrong", i, from)
				}
			}
		}
	}
}

func TestCmpPathIsTreeOrder(t *testing.T) {
	// Sorted in depth-first, name-sorted order.
	want := []string{"/", "/a", "/a/b", "/a/b/c", "/a/c", "/a-b", "/a0", "/ab", "/b"}
	got := slices.Clone(want)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
	slices.SortFunc(got, cmpPath)
	if !slices.Equal(got, want) {
		t.Errorf("sorted = %q, want %q", got, want)
	}
}

// TestConcurrentReaders runs Get, GetAt, Watch, Stats and Save from other
// goroutines while one goroutine applies (meant for -race). Bounded by
// count and time.
func TestConcurrentReaders(t *testing.T) {
	s := newTestStore(t, Config{HistoryEvents: 500})
	log := genLog(99, 3000)
	if testing.Short() {
		log = log[:800]
	}
	deadline := time.Now().Add(10 * time.Second)
	done := make(chan struct{})
	var wg sync.WaitGroup
	paths := candidatePaths()
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				p := paths[(i*7+g)%len(paths)]
				switch i % 5 {
				case 0:
					s.Get(p, true, true, t0) //nolint: any result
				case 1:
					idx := s.Index()
					s.GetAt(p, idx-min(idx, uint64(i%50)), true, true, t0) //nolint: any result
				case 2:
					if w, err := s.Watch(p, i%2 == 0, true, 0); err == nil {
						w.Remove()
					}
				case 3:
					s.Stats()
					s.NextExpiry()
				case 4:
					var b bytes.Buffer
					if err := s.Save(&b); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	for _, r := range log {
		if time.Now().After(deadline) {
			break
		}
		s.Apply(r) //nolint: part of the log
	}
	close(done)
	wg.Wait()
}
