//go:build unix

package lifecycle

import (
	"context"
	"errors"
	"os"
	"runtime"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func TestWatchSignals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := make(chan os.Signal, 2)
		exited := make(chan int, 1)
		ctx, stop := watchSignals(t.Context(), ch, func(code int) { exited <- code })
		defer stop()

		synctest.Wait()
		if ctx.Err() != nil {
			t.Fatalf("context done before any signal: %v", ctx.Err())
		}
		ch <- syscall.SIGTERM
		<-ctx.Done()
		if cause := context.Cause(ctx); !errors.Is(cause, ErrSignal) {
			t.Errorf("cause = %v, want ErrSignal", cause)
		}
		synctest.Wait()
		if len(exited) != 0 {
			t.Fatal("first signal forced an exit")
		}
		ch <- syscall.SIGINT
		synctest.Wait()
		select {
		case code := <-exited:
			if code != 128+int(syscall.SIGINT) {
				t.Errorf("exit code = %d, want %d", code, 128+int(syscall.SIGINT))
			}
		default:
			t.Fatal("second signal did not force an exit")
		}
	})
}

func TestWatchSignalsStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := make(chan os.Signal, 1)
		ctx, stop := watchSignals(context.Background(), ch, func(int) { t.Error("exit called") })
		stop()
		stop() // idempotent
		if !errors.Is(context.Cause(ctx), context.Canceled) {
			t.Errorf("cause after stop = %v, want context.Canceled", context.Cause(ctx))
		}
	})
}

// TestShutdownContextRealSignal delivers a real SIGTERM to the test process;
// the handler is installed, so the process survives and the context ends.
func TestShutdownContextRealSignal(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM")
	}
	ctx, stop := ShutdownContext(t.Context())
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context not cancelled by SIGTERM")
	}
	if cause := context.Cause(ctx); !errors.Is(cause, ErrSignal) {
		t.Errorf("cause = %v, want ErrSignal", cause)
	}
}
