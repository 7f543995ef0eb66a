package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// ErrWatchdogEnv is returned (wrapped) when $WATCHDOG_USEC or $WATCHDOG_PID
// cannot be parsed.
var ErrWatchdogEnv = errors.New("lifecycle: bad watchdog environment")

// WatchdogInterval returns the interval within which systemd expects a
// watchdog ping, read through getenv (os.Getenv in production) from
// $WATCHDOG_USEC. It returns 0 when the watchdog is disabled: the variable is
// unset, or $WATCHDOG_PID is set and names another process (the variables were
// inherited from a parent). pid is our own process ID (os.Getpid()).
func WatchdogInterval(getenv func(string) string, pid int) (time.Duration, error) {
	usecStr := getenv("WATCHDOG_USEC")
	if usecStr == "" {
		return 0, nil
	}
	usec, err := strconv.ParseInt(usecStr, 10, 64)
	if err != nil || usec <= 0 {
		return 0, fmt.Errorf("%w: WATCHDOG_USEC=%q is not a positive integer", ErrWatchdogEnv, usecStr)
	}
	if pidStr := getenv("WATCHDOG_PID"); pidStr != "" {
		p, err := strconv.Atoi(pidStr)
		if err != nil {
			return 0, fmt.Errorf("%w: WATCHDOG_PID=%q is not an integer", ErrWatchdogEnv, pidStr)
		}
		if p != pid {
			return 0, nil
		}
	}
	// Durations beyond ~292 years overflow; systemd never sends those.
	if usec > int64(time.Duration(1<<62)/time.Microsecond) {
		return 0, fmt.Errorf("%w: WATCHDOG_USEC=%q is out of range", ErrWatchdogEnv, usecStr)
	}
	return time.Duration(usec) * time.Microsecond, nil
}

// WatchdogConfig configures StartWatchdog.
type WatchdogConfig struct {
	// Interval is systemd's watchdog interval (from WatchdogInterval). The
	// watchdog pings every Interval/2. Required, > 0.
	Interval time.Duration
	// Notify delivers one state; nil means Notify(false, state) to
	// $NOTIFY_SOCKET.
	Notify func(state string) (bool, error)
	// Healthy is called before each ping; a non-nil error skips the ping
	// (and is logged), so a stuck member gets restarted by systemd. nil
	// means always healthy.
	Healthy func() error
	// Logf, if not nil, receives skipped pings and send errors.
	Logf func(format string, args ...any)
}

// Watchdog pings systemd periodically from one goroutine. Create it with
// StartWatchdog.
type Watchdog struct {
	cfg    WatchdogConfig
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	pings   int // successful pings sent
	skipped int // pings vetoed by Healthy
}

// StartWatchdog starts pinging at cfg.Interval/2 until ctx is cancelled or
// Stop is called. It panics if cfg.Interval is not positive (check
// WatchdogInterval's result for zero first).
func StartWatchdog(ctx context.Context, cfg WatchdogConfig) *Watchdog {
	if cfg.Interval <= 0 {
		panic("lifecycle: StartWatchdog with non-positive interval")
	}
	if cfg.Notify == nil {
		cfg.Notify = func(state string) (bool, error) { return Notify(false, state) }
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watchdog{cfg: cfg, cancel: cancel}
	w.wg.Go(func() { w.run(ctx) })
	return w
}

func (w *Watchdog) run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.ping()
		}
	}
}

func (w *Watchdog) ping() {
	if w.cfg.Healthy != nil {
		if err := w.cfg.Healthy(); err != nil {
			w.mu.Lock()
			w.skipped++
			w.mu.Unlock()
			w.cfg.Logf("lifecycle: watchdog ping skipped: unhealthy: %v", err)
			return
		}
	}
	sent, err := w.cfg.Notify(StateWatchdog)
	if err != nil {
		w.cfg.Logf("lifecycle: watchdog ping: %v", err)
		return
	}
	if sent {
		w.mu.Lock()
		w.pings++
		w.mu.Unlock()
	}
}

// Counts returns the number of pings sent and the number vetoed by Healthy.
func (w *Watchdog) Counts() (pings, skipped int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pings, w.skipped
}

// Stop stops the pings and waits for the goroutine to exit. It is
// idempotent, and a no-op on a nil *Watchdog.
func (w *Watchdog) Stop() {
	if w == nil {
		return
	}
	w.cancel()
	w.wg.Wait()
}

// StartWatchdogFromEnv reads the watchdog interval from the process
// environment and, if the watchdog is enabled, starts pinging $NOTIFY_SOCKET.
// It returns nil (and no error) when the watchdog is off; Stop on a nil
// *Watchdog is a no-op.
func StartWatchdogFromEnv(ctx context.Context, healthy func() error, logf func(string, ...any)) (*Watchdog, error) {
	d, err := WatchdogInterval(os.Getenv, os.Getpid())
	if err != nil || d == 0 {
		return nil, err
	}
	return StartWatchdog(ctx, WatchdogConfig{Interval: d, Healthy: healthy, Logf: logf}), nil
}
