package httpapi

import (
	"context"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"cairn/kv"
)

// hangingBackend never completes a proposal: it waits for the context.
type hangingBackend struct{ *fakeBackend }

func (h hangingBackend) Propose(ctx context.Context, r kv.Request) (*kv.Event, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestProposalTimeout: a write that is never applied is answered with
// error 300 after Options.Timeout, in fake time, never hanging.
func TestProposalTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := New(hangingBackend{newFake()}, Options{Timeout: 3 * time.Second})
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("PUT", "/v2/keys/k?value=v", nil))
		if got, want := time.Since(start), 3*time.Second; got != want {
			t.Errorf("answered after %v, want %v", got, want)
		}
		want := `{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request timed out","index":0}` + "\n"
		if rec.Code != 500 || rec.Body.String() != want {
			t.Fatalf("got %d %s", rec.Code, rec.Body.String())
		}
	})
}

// TestWatchWaits: a long-poll watch stays blocked until a matching write,
// then answers it; Close ends watches that are still waiting.
func TestWatchWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		h := New(f, Options{})
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/v2/keys/w?wait=true", nil))
			close(done)
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("watch returned before any write")
		default:
		}
		f.Propose(context.Background(), kv.Request{Op: kv.OpPut, Path: "/1/other", Value: "x"})
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("watch answered a write to another key")
		default:
		}
		f.Propose(context.Background(), kv.Request{Op: kv.OpPut, Path: "/1/w", Value: "y"})
		<-done
		want := `{"action":"set","node":{"key":"/w","value":"y","modifiedIndex":2,"createdIndex":2}}` + "\n"
		if rec.Body.String() != want || rec.Header().Get("X-Etcd-Index") != "0" {
			t.Fatalf("watch: %q (X-Etcd-Index %s)", rec.Body.String(), rec.Header().Get("X-Etcd-Index"))
		}

		// A waiting watch ends when the handler is closed.
		rec2 := httptest.NewRecorder()
		done2 := make(chan struct{})
		go func() {
			h.ServeHTTP(rec2, httptest.NewRequest("GET", "/v2/keys/never?wait=true", nil))
			close(done2)
		}()
		synctest.Wait()
		h.Close()
		<-done2
		if rec2.Code != 200 || rec2.Body.Len() != 0 {
			t.Fatalf("closed watch: %d %q", rec2.Code, rec2.Body.String())
		}
	})
}
