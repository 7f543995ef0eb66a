package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// Sentinel errors of the HTTP client. Their texts are the ones etcdctl v2
// prints, because scripts match on them.
var (
	// errClusterUnavailable heads a clusterError: no endpoint answered.
	errClusterUnavailable = errors.New("client: etcd cluster is unavailable or misconfigured")
	// errNoEndpoints: the endpoint list (after a sync) is empty.
	errNoEndpoints = errors.New("client: no endpoints available")
	// errEmptyBody: a 200 without a body, which a watch retries.
	errEmptyBody = errors.New("client: response body is empty")
)

// clusterError collects one error per endpoint tried. Error ends each
// endpoint's error with a newline, as etcdctl does, so the printed message
// has the same blank lines.
type clusterError struct {
	errs []error
}

func (e *clusterError) Error() string {
	var b strings.Builder
	b.WriteString(errClusterUnavailable.Error())
	for i, err := range e.errs {
		fmt.Fprintf(&b, "; error #%d: %s\n", i, err)
	}
	return b.String()
}

// detail lists the endpoint errors, one per line.
func (e *clusterError) detail() string {
	var b strings.Builder
	for i, err := range e.errs {
		fmt.Fprintf(&b, "error #%d: %s\n", i, err)
	}
	return b.String()
}

func (e *clusterError) Unwrap() error { return errClusterUnavailable }

// isConnectionError reports whether err means no endpoint could be reached
// at all (as opposed to an endpoint answering badly). As in etcdctl, an
// endpoint that accepted the connection but exceeded --timeout does not
// count: a sync failing that way is ignored.
func isConnectionError(err error) bool {
	var ce *clusterError
	if errors.As(err, &ce) {
		if len(ce.errs) == 0 {
			return false
		}
		for _, e := range ce.errs {
			if !isConnectionError(e) {
				return false
			}
		}
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	// context.DeadlineExceeded (--total-timeout) is a net.Error too.
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errHeaderTimeout marks an endpoint that did not answer within --timeout.
var errHeaderTimeout = errors.New("exceeded header timeout")

type headerTimeoutError struct{ endpoint string }

func (e *headerTimeoutError) Error() string {
	return fmt.Sprintf("client: endpoint %s exceeded header timeout", e.endpoint)
}
func (e *headerTimeoutError) Unwrap() error { return errHeaderTimeout }

// request is one HTTP request, built per endpoint.
type request struct {
	method string
	path   string     // below the endpoint, e.g. /v2/keys/a
	query  url.Values // nil for none
	form   url.Values // PUT/POST form body; nil for none
	json   []byte     // JSON body (members API); nil for none
	wait   bool       // a watch: no header timeout applies
}

// httpResponse is a complete answer from one endpoint.
type httpResponse struct {
	code   int
	header http.Header
	body   []byte
}

// client talks to a list of endpoints with etcdctl v2's failover rules: the
// pinned endpoint is tried first, then the others in order; a connection
// error, a header timeout or a 5xx answer moves on to the next endpoint,
// any other answer is returned.
//
// A client is used by one goroutine at a time.
type client struct {
	endpoints     []*url.URL
	pinned        int
	rt            http.RoundTripper
	headerTimeout time.Duration // per request; 0 means none
	debug         io.Writer     // where curl lines go; nil for no --debug
	username      string
	password      string
	hasAuth       bool
	shuffle       func([]*url.URL)
}

// newTransport builds the HTTP transport from the TLS flags; dialTimeout
// bounds connecting.
func newTransport(g *globals, dialTimeout time.Duration) (*http.Transport, error) {
	cfg := &tls.Config{}
	if g.caFile != "" {
		pem, err := os.ReadFile(g.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: no certificate in %s", errBadTLS, g.caFile)
		}
		cfg.RootCAs = pool
	}
	if g.certFile != "" || g.keyFile != "" {
		cert, err := tls.LoadX509KeyPair(g.certFile, g.keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         d.DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig:     cfg,
	}, nil
}

// errBadTLS reports unusable TLS flags.
var errBadTLS = errors.New("cairnctl: bad TLS configuration")

// do sends r to the endpoints until one answers without a transport error
// or 5xx; it returns a *clusterError when none does.
func (c *client) do(ctx context.Context, r request) (*httpResponse, error) {
	if len(c.endpoints) == 0 {
		return nil, errNoEndpoints
	}
	cerr := &clusterError{}
	n := len(c.endpoints)
	for i := c.pinned; i < c.pinned+n; i++ {
		k := i % n
		ep := c.endpoints[k]
		resp, err := c.doOne(ctx, ep, r)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			cerr.errs = append(cerr.errs, err)
			continue
		}
		if resp.code/100 == 5 {
			switch resp.code {
			case http.StatusInternalServerError, http.StatusServiceUnavailable:
				cerr.errs = append(cerr.errs, fmt.Errorf("client: etcd member %s has no leader", ep))
			default:
				cerr.errs = append(cerr.errs, fmt.Errorf("client: etcd member %s returns server error [%s]", ep, http.StatusText(resp.code)))
			}
			continue
		}
		c.pinned = k
		return resp, nil
	}
	return nil, cerr
}

// url returns the request URL on endpoint ep.
func (r request) url(ep *url.URL) *url.URL {
	u := *ep
	u.Path = canonicalPath(ep.Path + r.path)
	u.RawPath = ""
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	} else {
		u.RawQuery = ""
	}
	return &u
}

// canonicalPath cleans p but keeps a trailing slash, like etcd's client.
func canonicalPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

func (c *client) doOne(ctx context.Context, ep *url.URL, r request) (*httpResponse, error) {
	u := r.url(ep)
	var body []byte
	var ctype string
	switch {
	case r.json != nil:
		body, ctype = r.json, "application/json"
	case r.form != nil:
		body, ctype = []byte(r.form.Encode()), "application/x-www-form-urlencoded"
	}
	if c.debug != nil {
		line := fmt.Sprintf("curl -X %s %s", r.method, u)
		if r.json != nil || r.form != nil {
			line += fmt.Sprintf(" -d %q", body)
		}
		fmt.Fprintf(c.debug, "cURL Command: %s\n", line)
	}
	hctx, cancel := ctx, context.CancelFunc(func() {})
	if c.headerTimeout > 0 && !r.wait {
		hctx, cancel = context.WithTimeout(ctx, c.headerTimeout)
	}
	defer cancel()
	var rd io.Reader
	if r.json != nil || r.form != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(hctx, r.method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.hasAuth {
		req.SetBasicAuth(c.username, c.password)
	}
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		if ctx.Err() == nil && hctx.Err() != nil {
			return nil, &headerTimeoutError{endpoint: ep.String()}
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() == nil && hctx.Err() != nil {
			return nil, &headerTimeoutError{endpoint: ep.String()}
		}
		return nil, err
	}
	return &httpResponse{code: resp.StatusCode, header: resp.Header, body: b}, nil
}

// parseEndpoints turns endpoint strings into URLs.
func parseEndpoints(eps []string) ([]*url.URL, error) {
	var out []*url.URL
	for _, ep := range eps {
		ep = strings.TrimSpace(ep)
		if ep == "" {
			continue
		}
		u, err := url.Parse(ep)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, errNoEndpoints
	}
	return out, nil
}

func joinEndpoints(eps []*url.URL, sep string) string {
	s := make([]string, len(eps))
	for i, u := range eps {
		s[i] = u.String()
	}
	return strings.Join(s, sep)
}

// sync replaces the endpoint list with the client URLs published in
// /v2/members, in random order, as etcdctl does unless --no-sync.
func (c *client) sync(ctx context.Context) error {
	ms, err := c.listMembers(ctx)
	if err != nil {
		return err
	}
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.ClientURLs...)
	}
	lep, err := parseEndpoints(eps)
	if err != nil {
		return err
	}
	cur := slices.Clone(c.endpoints)
	same := len(cur) == len(lep)
	if same {
		a, b := make([]string, len(cur)), make([]string, len(lep))
		for i := range cur {
			a[i], b[i] = cur[i].String(), lep[i].String()
		}
		slices.Sort(a)
		slices.Sort(b)
		same = slices.Equal(a, b)
	}
	if same {
		return nil
	}
	c.endpoints = lep
	c.shuffleEndpoints()
	return nil
}

// shuffleEndpoints puts the endpoints in random order and pins the first.
func (c *client) shuffleEndpoints() {
	if c.shuffle != nil {
		c.shuffle(c.endpoints)
	} else {
		rand.Shuffle(len(c.endpoints), func(i, j int) {
			c.endpoints[i], c.endpoints[j] = c.endpoints[j], c.endpoints[i]
		})
	}
	c.pinned = 0
}

// member is one entry of /v2/members.
type member struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// membersError is a {"message": ...} answer of the members API.
type membersError struct {
	Message string `json:"message"`
}

func (e membersError) Error() string { return e.Message }

func statusError(resp *httpResponse, want ...int) error {
	if slices.Contains(want, resp.code) {
		return nil
	}
	return fmt.Errorf("unexpected status code %d", resp.code)
}

func membersFailure(resp *httpResponse, want ...int) error {
	if err := statusError(resp, want...); err == nil {
		return nil
	}
	var me membersError
	if err := json.Unmarshal(resp.body, &me); err != nil {
		return err
	}
	return me
}

func (c *client) listMembers(ctx context.Context) ([]member, error) {
	resp, err := c.do(ctx, request{method: "GET", path: "/v2/members"})
	if err != nil {
		return nil, err
	}
	if err := statusError(resp, http.StatusOK); err != nil {
		return nil, err
	}
	var ms struct {
		Members []member `json:"members"`
	}
	if err := json.Unmarshal(resp.body, &ms); err != nil {
		return nil, err
	}
	return ms.Members, nil
}

func (c *client) leader(ctx context.Context) (*member, error) {
	resp, err := c.do(ctx, request{method: "GET", path: "/v2/members/leader"})
	if err != nil {
		return nil, err
	}
	if err := statusError(resp, http.StatusOK); err != nil {
		return nil, err
	}
	var m member
	if err := json.Unmarshal(resp.body, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func (c *client) addMember(ctx context.Context, peerURL string, learner bool) (*member, error) {
	if _, err := url.Parse(peerURL); err != nil {
		return nil, err
	}
	body := struct {
		PeerURLs  []string `json:"peerURLs"`
		IsLearner bool     `json:"isLearner,omitempty"`
	}{[]string{peerURL}, learner}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{method: "POST", path: "/v2/members", json: b})
	if err != nil {
		return nil, err
	}
	if err := membersFailure(resp, http.StatusCreated); err != nil {
		return nil, err
	}
	var m member
	if err := json.Unmarshal(resp.body, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func (c *client) removeMember(ctx context.Context, id string) error {
	resp, err := c.do(ctx, request{method: "DELETE", path: "/v2/members/" + id})
	if err != nil {
		return err
	}
	return statusError(resp, http.StatusNoContent, http.StatusGone)
}

func (c *client) updateMember(ctx context.Context, id string, peerURLs []string) error {
	b, err := json.Marshal(struct {
		PeerURLs []string `json:"peerURLs"`
	}{peerURLs})
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, request{method: "PUT", path: "/v2/members/" + id, json: b})
	if err != nil {
		return err
	}
	return membersFailure(resp, http.StatusNoContent)
}

func (c *client) promoteMember(ctx context.Context, id string) error {
	resp, err := c.do(ctx, request{method: "POST", path: "/v2/members/" + id + "/promote"})
	if err != nil {
		return err
	}
	return membersFailure(resp, http.StatusOK)
}
