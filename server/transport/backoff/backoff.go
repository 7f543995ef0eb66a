package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields growing, jittered delays between retries.
//
// Invariant: 0 < Min <= Max.
type Backoff struct {
	min, max time.Duration
	rand     *rand.Rand
	attempt  int // failures since the last Reset
}

// New returns a Backoff whose first delay is at most min and whose delays
// never exceed max. r supplies the jitter; nil means a generator seeded from
// the runtime's random source. It panics if min <= 0 or max < min.
func New(min, max time.Duration, r *rand.Rand) *Backoff {
	if min <= 0 || max < min {
		panic("backoff: need 0 < min <= max")
	}
	if r == nil {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &Backoff{min: min, max: max, rand: r}
}

// Next records one more failure and returns how long to wait before the next
// attempt: min·2^(failures-1), capped at max, then jittered into [d/2, d].
func (b *Backoff) Next() time.Duration {
	d := b.min
	for i := 0; i < b.attempt && d < b.max; i++ {
		d *= 2
	}
	if d > b.max || d <= 0 { // d <= 0: overflow
		d = b.max
	}
	b.attempt++
	half := d / 2
	return half + time.Duration(b.rand.Int64N(int64(d-half)+1))
}

// Reset forgets the failures, after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Failures returns the number of Next calls since the last Reset.
func (b *Backoff) Failures() int { return b.attempt }
