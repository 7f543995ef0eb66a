package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestWatchdogInterval(t *testing.T) {
	const pid = 4242
	tests := []struct {
		name    string
		env     map[string]string
		want    time.Duration
		wantErr bool
	}{
		{"unset", nil, 0, false},
		{"usec only", map[string]string{"WATCHDOG_USEC": "30000000"}, 30 * time.Second, false},
		{"our pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": strconv.Itoa(pid)}, 2 * time.Second, false},
		{"other pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, 0, false},
		{"garbage usec", map[string]string{"WATCHDOG_USEC": "soon"}, 0, true},
		{"zero usec", map[string]string{"WATCHDOG_USEC": "0"}, 0, true},
		{"negative usec", map[string]string{"WATCHDOG_USEC": "-5"}, 0, true},
		{"huge usec", map[string]string{"WATCHDOG_USEC": "9223372036854775807"}, 0, true},
		{"garbage pid", map[string]string{"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "me"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WatchdogInterval(func(k string) string { return tt.env[k] }, pid)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("WatchdogInterval = %v, %v; want %v, err=%v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrWatchdogEnv) {
				t.Errorf("error %v does not wrap ErrWatchdogEnv", err)
			}
		})
	}
}

// fakeSystemd records watchdog pings with their (bubble) times.
type fakeSystemd struct {
	mu    sync.Mutex
	pings []time.Time
}

func (f *fakeSystemd) notify(state string) (bool, error) {
	if state != StateWatchdog {
		return false, errors.New("unexpected state " + state)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings = append(f.pings, time.Now())
	return true, nil
}

func (f *fakeSystemd) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pings)
}

func TestWatchdogPingsAtHalfInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sd fakeSystemd
		start := time.Now()
		w := StartWatchdog(t.Context(), WatchdogConfig{Interval: 10 * time.Second, Notify: sd.notify})
		time.Sleep(21 * time.Second) // fake time inside the bubble
		synctest.Wait()
		if got := sd.count(); got != 4 {
			t.Fatalf("pings after 21s with a 10s interval = %d, want 4", got)
		}
		for i, p := range sd.pings {
			if want := start.Add(time.Duration(i+1) * 5 * time.Second); !p.Equal(want) {
				t.Errorf("ping %d at %v, want %v", i, p.Sub(start), want.Sub(start))
			}
		}
		w.Stop()
		w.Stop() // idempotent
		time.Sleep(time.Minute)
		if got := sd.count(); got != 4 {
			t.Errorf("pings after Stop = %d, want still 4", got)
		}
		if pings, skipped := w.Counts(); pings != 4 || skipped != 0 {
			t.Errorf("Counts = %d, %d; want 4, 0", pings, skipped)
		}
	})
}

func TestWatchdogStopsOnContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sd fakeSystemd
		ctx, cancel := context.WithCancel(t.Context())
		w := StartWatchdog(ctx, WatchdogConfig{Interval: 2 * time.Second, Notify: sd.notify})
		time.Sleep(1500 * time.Millisecond)
		cancel()
		synctest.Wait() // the goroutine has exited: nothing is left blocked in the bubble but us
		time.Sleep(10 * time.Second)
		if got := sd.count(); got != 1 {
			t.Errorf("pings = %d, want 1", got)
		}
		w.Stop()
	})
}

func TestWatchdogHealthVeto(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sd fakeSystemd
		var mu sync.Mutex
		healthy := true
		var logged []string
		w := StartWatchdog(t.Context(), WatchdogConfig{
			Interval: 2 * time.Second,
			Notify:   sd.notify,
			Healthy: func() error {
				mu.Lock()
				defer mu.Unlock()
				if !healthy {
					return errors.New("raft loop stuck")
				}
				return nil
			},
			Logf: func(format string, args ...any) {
				mu.Lock()
				logged = append(logged, format)
				mu.Unlock()
			},
		})
		defer w.Stop()
		time.Sleep(3500 * time.Millisecond) // pings at 1s, 2s, 3s
		mu.Lock()
		healthy = false
		mu.Unlock()
		time.Sleep(3 * time.Second) // vetoed at 4s, 5s, 6s
		synctest.Wait()
		pings, skipped := w.Counts()
		if pings != 3 || skipped != 3 || sd.count() != 3 {
			t.Errorf("pings=%d skipped=%d delivered=%d; want 3, 3, 3", pings, skipped, sd.count())
		}
		mu.Lock()
		defer mu.Unlock()
		if len(logged) != 3 {
			t.Errorf("logged %d vetoes, want 3", len(logged))
		}
	})
}

func TestStartWatchdogPanicsOnZeroInterval(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("StartWatchdog with zero interval did not panic")
		}
	}()
	StartWatchdog(t.Context(), WatchdogConfig{})
}

func TestStopNilWatchdog(t *testing.T) {
	var w *Watchdog
	w.Stop()
}

func ExampleWatchdogInterval() {
	env := map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}
	d, err := WatchdogInterval(func(k string) string { return env[k] }, 42)
	fmt.Println(d, d/2, err)
	// Output: 30s 15s <nil>
}
