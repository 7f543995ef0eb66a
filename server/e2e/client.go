package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client errors. A request that got an etcd error body returns an *APIError
// instead; errors.Is(err, ErrAPI) matches it.
var (
	// ErrTimeout: the request did not complete within the client's bound.
	// Whether a write took effect is unknown.
	ErrTimeout = errors.New("e2e: request timed out")
	// ErrUnavailable: the member could not be reached (connection refused
	// or reset). Whether a write took effect is unknown unless the
	// connection was refused.
	ErrUnavailable = errors.New("e2e: member unavailable")
	// ErrAPI: the member answered with an error status.
	ErrAPI = errors.New("e2e: api error")
	// ErrProtocol: the member answered something this client cannot parse.
	ErrProtocol = errors.New("e2e: bad response")
)

// APIError is an error answer of the v2 API: an etcd error body for
// /v2/keys, or a plain status for other endpoints.
type APIError struct {
	Status    int    // HTTP status
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
	Cause     string `json:"cause"`
	Index     uint64 `json:"index"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("e2e: api error: HTTP %d, code %d: %s (%s)", e.Status, e.ErrorCode, e.Message, e.Cause)
}

// Is makes errors.Is(err, ErrAPI) true.
func (e *APIError) Is(target error) bool { return target == ErrAPI }

// APICode returns the etcd error code of err, or 0 if err is not an
// *APIError.
func APICode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode
	}
	return 0
}

// Node is a v2 key node.
type Node struct {
	Key           string  `json:"key"`
	Value         *string `json:"value,omitempty"`
	Dir           bool    `json:"dir,omitempty"`
	Nodes         []*Node `json:"nodes,omitempty"`
	ModifiedIndex uint64  `json:"modifiedIndex"`
	CreatedIndex  uint64  `json:"createdIndex"`
}

// Response is a successful v2 keys answer.
type Response struct {
	Action    string `json:"action"`
	Node      *Node  `json:"node"`
	PrevNode  *Node  `json:"prevNode"`
	EtcdIndex uint64 `json:"-"` // X-Etcd-Index
}

// Value returns the node's value, or "" for a directory.
func (r *Response) Value() string {
	if r.Node == nil || r.Node.Value == nil {
		return ""
	}
	return *r.Node.Value
}

// Member is one entry of /v2/members.
type Member struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// Ack is a write acknowledged to a client: the key, the value written and
// the index the member reported for it.
type Ack struct {
	Key   string
	Value string
	Index uint64
}

// History records acknowledged writes. It is safe for concurrent use.
type History struct {
	mu   sync.Mutex
	acks []Ack
}

func (h *History) add(a Ack) {
	h.mu.Lock()
	h.acks = append(h.acks, a)
	h.mu.Unlock()
}

// Acks returns a copy of the acknowledged writes in acknowledgement order.
func (h *History) Acks() []Ack {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Ack(nil), h.acks...)
}

// Latest returns, for every key, the acknowledged write with the highest
// index: the value a linearizable read must return if no later write to the
// key is in flight.
func (h *History) Latest() map[string]Ack {
	m := make(map[string]Ack)
	for _, a := range h.Acks() {
		if a.Index >= m[a.Key].Index {
			m[a.Key] = a
		}
	}
	return m
}

// Client is a minimal etcd v2 HTTP client bound to one member's client URL.
// Every request is bounded by Timeout. Successful writes are recorded in
// History if it is set. Methods are safe for concurrent use.
type Client struct {
	Endpoint string        // e.g. http://127.0.0.1:2379
	Timeout  time.Duration // per request; 0 means 2 s
	History  *History      // optional
	hc       *http.Client
}

// NewClient returns a client for endpoint that records acks into h (may be
// nil).
func NewClient(endpoint string, timeout time.Duration, h *History) *Client {
	return &Client{
		Endpoint: endpoint,
		Timeout:  timeout,
		History:  h,
		hc: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
			MaxIdleConnsPerHost: 8,
			DisableCompression:  true,
		}},
	}
}

// CloseIdle closes the client's idle connections.
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

func (c *Client) timeout() time.Duration {
	if c.Timeout <= 0 {
		return 2 * time.Second
	}
	return c.Timeout
}

// do sends one request and returns the status, headers and body.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, ctype string) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.Endpoint+path, body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("e2e: %w", err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, classify(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, nil, classify(ctx, err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

func classify(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

func keyPath(key string) string {
	return "/v2/keys/" + strings.TrimPrefix(key, "/")
}

func (c *Client) keys(ctx context.Context, method, key string, q, form url.Values) (*Response, error) {
	p := keyPath(key)
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var body io.Reader
	ctype := ""
	if form != nil {
		body = strings.NewReader(form.Encode())
		ctype = "application/x-www-form-urlencoded"
	}
	status, hdr, b, err := c.do(ctx, method, p, body, ctype)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, key, err)
	}
	if status >= 300 {
		ae := &APIError{Status: status}
		if json.Unmarshal(b, ae) != nil {
			ae.Message = strings.TrimSpace(string(b))
		}
		return nil, fmt.Errorf("%s %s: %w", method, key, ae)
	}
	r := new(Response)
	if err := json.Unmarshal(b, r); err != nil || r.Node == nil {
		return nil, fmt.Errorf("%w: %s %s: %q", ErrProtocol, method, key, b)
	}
	r.EtcdIndex, _ = strconv.ParseUint(hdr.Get("X-Etcd-Index"), 10, 64)
	return r, nil
}

// SetOptions are the conditions of a PUT.
type SetOptions struct {
	PrevExist *bool  // nil: not sent
	PrevIndex uint64 // 0: not sent
	PrevValue string // "": not sent
}

// Set writes value at key. A successful write is recorded in History.
func (c *Client) Set(ctx context.Context, key, value string, opts SetOptions) (*Response, error) {
	form := url.Values{"value": {value}}
	if opts.PrevExist != nil {
		form.Set("prevExist", strconv.FormatBool(*opts.PrevExist))
	}
	if opts.PrevIndex != 0 {
		form.Set("prevIndex", strconv.FormatUint(opts.PrevIndex, 10))
	}
	if opts.PrevValue != "" {
		form.Set("prevValue", opts.PrevValue)
	}
	r, err := c.keys(ctx, http.MethodPut, key, nil, form)
	if err != nil {
		return nil, err
	}
	if c.History != nil {
		c.History.add(Ack{Key: r.Node.Key, Value: value, Index: r.Node.ModifiedIndex})
	}
	return r, nil
}

// Get reads key; quorum makes the read linearizable (it goes through Raft).
func (c *Client) Get(ctx context.Context, key string, quorum bool) (*Response, error) {
	q := url.Values{}
	if quorum {
		q.Set("quorum", "true")
	}
	return c.keys(ctx, http.MethodGet, key, q, nil)
}

// GetRecursive reads the subtree under key, sorted.
func (c *Client) GetRecursive(ctx context.Context, key string, quorum bool) (*Response, error) {
	q := url.Values{"recursive": {"true"}, "sorted": {"true"}}
	if quorum {
		q.Set("quorum", "true")
	}
	return c.keys(ctx, http.MethodGet, key, q, nil)
}

// Delete removes key.
func (c *Client) Delete(ctx context.Context, key string) (*Response, error) {
	return c.keys(ctx, http.MethodDelete, key, nil, nil)
}

func (c *Client) members(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	ctype := ""
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("e2e: %w", err)
		}
		rd = bytes.NewReader(b)
		ctype = "application/json"
	}
	status, _, b, err := c.do(ctx, method, path, rd, ctype)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if status >= 300 {
		ae := &APIError{Status: status}
		if json.Unmarshal(b, ae) != nil || ae.Message == "" {
			ae.Message = strings.TrimSpace(string(b))
		}
		return status, b, fmt.Errorf("%s %s: %w", method, path, ae)
	}
	return status, b, nil
}

// Members lists the cluster's members, sorted by name then ID.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	_, b, err := c.members(ctx, http.MethodGet, "/v2/members", nil)
	if err != nil {
		return nil, err
	}
	var v struct {
		Members []Member `json:"members"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: members: %q", ErrProtocol, b)
	}
	sort.Slice(v.Members, func(i, j int) bool {
		if v.Members[i].Name != v.Members[j].Name {
			return v.Members[i].Name < v.Members[j].Name
		}
		return v.Members[i].ID < v.Members[j].ID
	})
	return v.Members, nil
}

// Leader returns the member the answering member believes is the leader.
func (c *Client) Leader(ctx context.Context) (Member, error) {
	_, b, err := c.members(ctx, http.MethodGet, "/v2/members/leader", nil)
	if err != nil {
		return Member{}, err
	}
	var m Member
	if err := json.Unmarshal(b, &m); err != nil || m.ID == "" {
		return Member{}, fmt.Errorf("%w: leader: %q", ErrProtocol, b)
	}
	return m, nil
}

// AddMember adds a member with the given peer URLs; learner uses the
// isLearner extension (cairn only).
func (c *Client) AddMember(ctx context.Context, peerURLs []string, learner bool) (Member, error) {
	body := map[string]any{"peerURLs": peerURLs}
	if learner {
		body["isLearner"] = true
	}
	_, b, err := c.members(ctx, http.MethodPost, "/v2/members", body)
	if err != nil {
		return Member{}, err
	}
	var m Member
	if err := json.Unmarshal(b, &m); err != nil || m.ID == "" {
		return Member{}, fmt.Errorf("%w: add member: %q", ErrProtocol, b)
	}
	return m, nil
}

// RemoveMember removes the member with hex ID id.
func (c *Client) RemoveMember(ctx context.Context, id string) error {
	_, _, err := c.members(ctx, http.MethodDelete, "/v2/members/"+id, nil)
	return err
}

// PromoteMember promotes learner id to a voter (cairn's extension:
// POST /v2/members/<id>/promote).
func (c *Client) PromoteMember(ctx context.Context, id string) error {
	_, _, err := c.members(ctx, http.MethodPost, "/v2/members/"+id+"/promote", nil)
	return err
}

// Healthy reports whether GET /health answers 200 with health true.
func (c *Client) Healthy(ctx context.Context) bool {
	status, _, b, err := c.do(ctx, http.MethodGet, "/health", nil, "")
	if err != nil || status != http.StatusOK {
		return false
	}
	var v struct {
		Health string `json:"health"`
	}
	return json.Unmarshal(b, &v) == nil && v.Health == "true"
}
