//go:build race

package httpapi

// raceEnabled reports whether the tests run under the race detector, which
// roughly doubles goroutine stacks and adds shadow memory to the heap.
const raceEnabled = true
