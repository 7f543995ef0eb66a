package transport

import "time"

// Clock is the time source for backoff waits, keep-alive tickers and status
// timestamps. Socket deadlines always use the real clock (the kernel compares
// them with its own); tests run in testing/synctest bubbles, which fake both.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker is the part of *time.Ticker the transport uses.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// SystemClock is the Clock of package time.
type SystemClock struct{}

func (SystemClock) Now() time.Time                         { return time.Now() }
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (SystemClock) NewTicker(d time.Duration) Ticker       { return systemTicker{time.NewTicker(d)} }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }
func (t systemTicker) Stop()               { t.t.Stop() }
