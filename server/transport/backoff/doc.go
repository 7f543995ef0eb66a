// Package backoff computes retry delays: exponential growth from Min to
// Max with "equal jitter" (each delay is uniformly random in [d/2, d]), so
// members that lost a peer at the same moment do not reconnect in lockstep.
//
// The randomness is injected (Rand), so tests are deterministic; the package
// does no sleeping itself: the caller waits on its own (possibly fake) clock.
//
//	b := backoff.New(100*time.Millisecond, 5*time.Second, rand.New(rand.NewPCG(seed, 0)))
//	for {
//		if err := connect(); err == nil {
//			b.Reset()
//			...
//		}
//		select {
//		case <-clock.After(b.Next()):
//		case <-ctx.Done():
//			return
//		}
//	}
//
// # Concurrency
//
// A Backoff is not safe for concurrent use; give each retry loop its own.
package backoff
