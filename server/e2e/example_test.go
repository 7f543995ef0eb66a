package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"cairn/server/e2e"
)

// A Client records every write a member acknowledged, so that a test can
// later demand each of them from every member (CheckAcks).
func ExampleClient_Set() {
	// A stand-in for a member: it acknowledges every PUT at index 7.
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("X-Etcd-Index", "7")
		fmt.Fprintf(w, `{"action":"set","node":{"key":%q,"value":%q,"modifiedIndex":7,"createdIndex":7}}`+"\n",
			r.URL.Path[len("/v2/keys"):], r.PostForm.Get("value"))
	}))
	defer member.Close()

	h := new(e2e.History)
	c := e2e.NewClient(member.URL, time.Second, h)
	if _, err := c.Set(context.Background(), "/config/a", "1", e2e.SetOptions{}); err != nil {
		fmt.Println(err)
	}
	for _, a := range h.Acks() {
		fmt.Printf("%s=%s at index %d\n", a.Key, a.Value, a.Index)
	}
	// Output:
	// /config/a=1 at index 7
}
