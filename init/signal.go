package lifecycle

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
)

// ShutdownContext returns a copy of parent that is cancelled when the process
// receives the first shutdown signal (SIGTERM or SIGINT; os.Interrupt only on
// non-Unix systems). context.Cause(ctx) then reports which signal arrived. A
// second shutdown signal calls os.Exit(128+signal number) immediately, without
// running deferred functions: the operator asked twice.
//
// stop unregisters the handler and releases the goroutine; after stop, the
// signals get their default behaviour again. stop is idempotent and waits for
// the goroutine to exit.
func ShutdownContext(parent context.Context) (ctx context.Context, stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, shutdownSignals...)
	ctx, stopLoop := watchSignals(parent, ch, os.Exit)
	return ctx, func() {
		signal.Stop(ch)
		stopLoop()
	}
}

// ErrSignal is the cause of a ShutdownContext cancellation, wrapped with the
// signal's name.
var ErrSignal = fmt.Errorf("lifecycle: shutdown signal received")

// watchSignals is ShutdownContext with the signal source and exit function
// injected, for tests.
func watchSignals(parent context.Context, ch <-chan os.Signal, exit func(code int)) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var first os.Signal
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				if first == nil {
					first = sig
					cancel(fmt.Errorf("%w: %v", ErrSignal, sig))
					continue
				}
				exit(exitCode(sig))
				return
			}
		}
	})
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			cancel(context.Canceled)
		})
	}
}
