package backoff

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestNextBounds(t *testing.T) {
	tests := []struct {
		min, max time.Duration
		n        int
	}{
		{100 * time.Millisecond, 5 * time.Second, 20},
		{time.Millisecond, time.Millisecond, 5},
		{time.Second, time.Hour, 200}, // many doublings: no overflow
		{1, 1 << 62, 100},
	}
	for _, tt := range tests {
		b := New(tt.min, tt.max, rand.New(rand.NewPCG(1, 2)))
		for i := range tt.n {
			want := tt.min
			for j := 0; j < i && want < tt.max; j++ {
				want *= 2
			}
			if want > tt.max || want <= 0 {
				want = tt.max
			}
			got := b.Next()
			if got < want/2 || got > want {
				t.Fatalf("min=%v max=%v attempt %d: delay %v outside [%v, %v]", tt.min, tt.max, i, got, want/2, want)
			}
		}
		if b.Failures() != tt.n {
			t.Errorf("Failures = %d, want %d", b.Failures(), tt.n)
		}
	}
}

func TestResetAndDeterminism(t *testing.T) {
	a := New(10*time.Millisecond, time.Second, rand.New(rand.NewPCG(7, 7)))
	b := New(10*time.Millisecond, time.Second, rand.New(rand.NewPCG(7, 7)))
	for range 10 {
		if x, y := a.Next(), b.Next(); x != y {
			t.Fatalf("same seed, different delays %v, %v", x, y)
		}
	}
	a.Reset()
	if d := a.Next(); d > 10*time.Millisecond {
		t.Errorf("after Reset, delay %v > min", d)
	}
}

func TestNewPanics(t *testing.T) {
	for _, tt := range []struct{ min, max time.Duration }{{0, 1}, {2, 1}, {-1, 5}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%v, %v) did not panic", tt.min, tt.max)
				}
			}()
			New(tt.min, tt.max, nil)
		}()
	}
}

func ExampleBackoff() {
	b := New(100*time.Millisecond, 400*time.Millisecond, rand.New(rand.NewPCG(1, 1)))
	for range 4 {
		d := b.Next()
		fmt.Println(d >= 50*time.Millisecond && d <= 400*time.Millisecond)
	}
	// Output:
	// true
	// true
	// true
	// true
}
