package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// node is a key or directory as etcdctl prints it with -o json: the field
// order and the always-present value, nodes, createdIndex and
// modifiedIndex follow etcd's v2 Go client, not the server's wire order.
type node struct {
	Key           string     `json:"key"`
	Dir           bool       `json:"dir,omitempty"`
	Value         string     `json:"value"`
	Nodes         []*node    `json:"nodes"`
	CreatedIndex  uint64     `json:"createdIndex"`
	ModifiedIndex uint64     `json:"modifiedIndex"`
	Expiration    *time.Time `json:"expiration,omitempty"`
	TTL           int64      `json:"ttl,omitempty"`
}

// response is a keys API answer. index is the X-Etcd-Index header.
type response struct {
	Action   string `json:"action"`
	Node     *node  `json:"node"`
	PrevNode *node  `json:"prevNode"`
	index    uint64
}

// keyError is a keys API error body; Error prints it the way etcdctl does:
// "105: Key already exists (/a) [12]".
type keyError struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause"`
	Index   uint64 `json:"index"`
}

func (e keyError) Error() string {
	return fmt.Sprintf("%v: %v (%v) [%v]", e.Code, e.Message, e.Cause, e.Index)
}

// decodeKeys turns an HTTP answer into a response or a keyError.
func decodeKeys(resp *httpResponse) (*response, error) {
	switch resp.code {
	case http.StatusOK, http.StatusCreated:
		if len(resp.body) == 0 {
			return nil, errEmptyBody
		}
		var r response
		if err := json.Unmarshal(resp.body, &r); err != nil {
			return nil, err
		}
		if r.Node == nil {
			r.Node = &node{}
		}
		if h := resp.header.Get("X-Etcd-Index"); h != "" {
			r.index, _ = strconv.ParseUint(h, 10, 64)
		}
		return &r, nil
	default:
		var e keyError
		if err := json.Unmarshal(resp.body, &e); err != nil {
			return nil, err
		}
		return nil, e
	}
}

// keyPath is the request path of key.
func keyPath(key string) string {
	if key != "" && key[0] != '/' {
		key = "/" + key
	}
	return "/v2/keys" + key
}

// setOptions are the conditions of a PUT.
type setOptions struct {
	ttl       int64
	prevValue string
	prevIndex uint64
	prevExist string // "", "true" or "false"
	dir       bool
}

func (c *client) keys(ctx context.Context, r request) (*response, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	return decodeKeys(resp)
}

func (c *client) get(ctx context.Context, key string, recursive, sorted, quorum bool) (*response, error) {
	q := url.Values{}
	q.Set("recursive", strconv.FormatBool(recursive))
	q.Set("sorted", strconv.FormatBool(sorted))
	q.Set("quorum", strconv.FormatBool(quorum))
	return c.keys(ctx, request{method: "GET", path: keyPath(key), query: q})
}

func (c *client) set(ctx context.Context, key, value string, o setOptions) (*response, error) {
	q, form := url.Values{}, url.Values{}
	if o.dir {
		q.Set("dir", "true")
	} else {
		if o.prevValue != "" {
			q.Set("prevValue", o.prevValue)
		}
		form.Set("value", value)
	}
	if o.prevIndex != 0 {
		q.Set("prevIndex", strconv.FormatUint(o.prevIndex, 10))
	}
	if o.prevExist != "" {
		q.Set("prevExist", o.prevExist)
	}
	if o.ttl > 0 {
		form.Set("ttl", strconv.FormatInt(o.ttl, 10))
	}
	return c.keys(ctx, request{method: "PUT", path: keyPath(key), query: q, form: form})
}

func (c *client) createInOrder(ctx context.Context, dir, value string, ttl int64) (*response, error) {
	form := url.Values{}
	form.Set("value", value)
	if ttl > 0 {
		form.Set("ttl", strconv.FormatInt(ttl, 10))
	}
	return c.keys(ctx, request{method: "POST", path: keyPath(dir), form: form})
}

func (c *client) del(ctx context.Context, key, prevValue string, prevIndex uint64, dir, recursive bool) (*response, error) {
	q := url.Values{}
	if prevValue != "" {
		q.Set("prevValue", prevValue)
	}
	if prevIndex != 0 {
		q.Set("prevIndex", strconv.FormatUint(prevIndex, 10))
	}
	if dir {
		q.Set("dir", "true")
	}
	if recursive {
		q.Set("recursive", "true")
	}
	return c.keys(ctx, request{method: "DELETE", path: keyPath(key), query: q})
}

// watcher follows a key from an index on, like the v2 client's watcher:
// each answer moves the next waitIndex past the event's modifiedIndex, and
// an empty answer (the server closing an idle watch) is retried.
type watcher struct {
	c         *client
	key       string
	recursive bool
	waitIndex uint64 // 0: from now on
}

func (w *watcher) next(ctx context.Context) (*response, error) {
	for {
		q := url.Values{}
		q.Set("wait", "true")
		q.Set("recursive", strconv.FormatBool(w.recursive))
		if w.waitIndex != 0 {
			q.Set("waitIndex", strconv.FormatUint(w.waitIndex, 10))
		}
		r, err := w.c.keys(ctx, request{method: "GET", path: keyPath(w.key), query: q, wait: true})
		if errors.Is(err, errEmptyBody) {
			continue
		}
		if err != nil {
			return nil, err
		}
		w.waitIndex = r.Node.ModifiedIndex + 1
		return r, nil
	}
}
