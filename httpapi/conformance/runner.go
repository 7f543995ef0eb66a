package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"
)

// AwaitTimeout bounds how long an Await waits for a watch's events.
const AwaitTimeout = 10 * time.Second

// Compared headers. Values are compared as is, except PresenceHeaders,
// whose value is replaced by "<present>" (they differ legitimately: a raft
// index and term depend on internal proposals, the cluster ID on random
// member IDs). Date and Content-Length are never compared.
var (
	ValueHeaders    = []string{"Content-Type", "X-Etcd-Index", "Allow", "Location", "Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"}
	PresenceHeaders = []string{"X-Etcd-Cluster-Id", "X-Raft-Index", "X-Raft-Term"}
)

// Result is the normalised answer to one step.
type Result struct {
	Status int
	Header []string // "Name: value", in ValueHeaders then PresenceHeaders order
	Body   string
	Err    string // transport error, normalised
}

// String renders r for a diff message.
func (r Result) String() string {
	var b strings.Builder
	if r.Err != "" {
		fmt.Fprintf(&b, "error: %s\n", r.Err)
	}
	if r.Status != 0 {
		fmt.Fprintf(&b, "%d\n", r.Status)
	}
	for _, h := range r.Header {
		b.WriteString(h + "\n")
	}
	if r.Body != "" {
		fmt.Fprintf(&b, "%q", r.Body)
	}
	return b.String()
}

// Run sends steps to s in order and returns one Result per step. A Watch
// returns as soon as the response headers arrived; its Await reads the
// body. Watches still open at the end are closed.
func Run(ctx context.Context, s *Server, steps []Step) []Result {
	c := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableCompression: true},
		// A redirect (Go's mux cleaning "//") is compared, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer c.CloseIdleConnections()
	type open struct {
		resp   *http.Response
		cancel context.CancelFunc
		mode   string
	}
	watches := map[string]*open{}
	defer func() {
		for _, w := range watches {
			w.cancel()
			w.resp.Body.Close()
		}
	}()
	out := make([]Result, len(steps))
	for i, st := range steps {
		switch st.Kind {
		case Request, Watch:
			rctx, cancel := context.WithCancel(ctx)
			if st.Kind == Request {
				rctx, cancel = context.WithTimeout(ctx, AwaitTimeout+time.Duration(st.Repeat)*100*time.Millisecond)
			}
			for n := 1; n < st.Repeat; n++ {
				if resp, err := send(rctx, c, s, st); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			resp, err := send(rctx, c, s, st)
			if err != nil {
				cancel()
				out[i] = Result{Err: s.normalise(err.Error())}
				continue
			}
			out[i] = s.head(resp)
			if st.Kind == Watch {
				watches[st.Name] = &open{resp: resp, cancel: cancel, mode: st.Mode}
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			if err != nil {
				out[i].Err = s.normalise(err.Error())
			}
			out[i].Body = s.body(body, st.Mode)
			if st.Mode == StatusOnly {
				out[i].Header = out[i].Header[:1]
				out[i].Body = ""
			}
		case Await:
			w := watches[st.Name]
			delete(watches, st.Name)
			if w == nil {
				out[i] = Result{Err: "watch failed to start"}
				continue
			}
			out[i] = s.await(w.resp, w.cancel, st.Lines, w.mode)
		}
	}
	return out
}

func send(ctx context.Context, c *http.Client, s *Server, st Step) (*http.Response, error) {
	var body io.Reader
	if st.Body != "" {
		body = strings.NewReader(st.Body)
	}
	req, err := http.NewRequestWithContext(ctx, st.Method, s.ClientURL+st.Target, body)
	if err != nil {
		return nil, err
	}
	if st.Body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range st.Header {
		req.Header[k] = v
	}
	return c.Do(req)
}

// await reads lines (or to the end when lines is 0) from a watch body,
// then closes it. The read is bounded by AwaitTimeout.
func (s *Server) await(resp *http.Response, cancel context.CancelFunc, lines int, mode string) Result {
	t := time.AfterFunc(AwaitTimeout, cancel)
	defer t.Stop()
	defer cancel()
	defer resp.Body.Close()
	var buf bytes.Buffer
	var err error
	if lines == 0 {
		_, err = io.Copy(&buf, resp.Body)
	} else {
		br := bufio.NewReader(resp.Body)
		for n := 0; n < lines && err == nil; n++ {
			var l []byte
			l, err = br.ReadBytes('\n')
			buf.Write(l)
		}
	}
	r := Result{Body: s.body(buf.Bytes(), mode)}
	if err != nil && err != io.EOF {
		r.Err = "watch read: " + s.normalise(err.Error())
	}
	return r
}

func (s *Server) head(resp *http.Response) Result {
	r := Result{Status: resp.StatusCode}
	for _, k := range ValueHeaders {
		if v, ok := resp.Header[k]; ok {
			r.Header = append(r.Header, k+": "+strings.Join(v, ", "))
		}
	}
	for _, k := range PresenceHeaders {
		if _, ok := resp.Header[k]; ok {
			r.Header = append(r.Header, k+": <present>")
		}
	}
	if len(r.Header) == 0 || !strings.HasPrefix(r.Header[0], "Content-Type") {
		r.Header = append([]string{"Content-Type: <none>"}, r.Header...)
	}
	return r
}

var (
	expirationRE = regexp.MustCompile(`"expiration":"[^"]*"`)
	otherIDRE    = regexp.MustCompile(`"id":"[0-9a-f]{1,16}"`)
	timeRE       = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)
)

// normalise replaces the values that differ legitimately between two
// servers: their URLs, cluster and member IDs, and expiration times.
func (s *Server) normalise(text string) string {
	r := strings.NewReplacer(
		s.ClientURL, "<client-url>",
		s.PeerURL, "<peer-url>",
		strings.TrimPrefix(s.ClientURL, "http://"), "<client-addr>",
		strings.TrimPrefix(s.PeerURL, "http://"), "<peer-addr>",
	)
	text = r.Replace(text)
	for _, id := range []struct{ v, ph string }{{s.ClusterID, "<cluster-id>"}, {s.MemberID, "<member-id>"}} {
		if id.v != "" {
			text = strings.ReplaceAll(text, `"`+id.v+`"`, `"`+id.ph+`"`)
		}
	}
	text = otherIDRE.ReplaceAllString(text, `"id":"<other-id>"`)
	return expirationRE.ReplaceAllString(text, `"expiration":"<time>"`)
}

func (s *Server) body(b []byte, mode string) string {
	text := s.normalise(string(b))
	if mode != Shape {
		return text
	}
	var lines []string
	for _, l := range strings.SplitAfter(text, "\n") {
		if l == "" {
			continue
		}
		d := json.NewDecoder(strings.NewReader(l))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			lines = append(lines, l)
			continue
		}
		out, _ := json.Marshal(shape(v))
		lines = append(lines, string(out)+"\n")
	}
	return strings.Join(lines, "")
}

// shape replaces numbers by 0 and time and duration strings by
// placeholders, recursively; arrays keep their length.
func shape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			x[k] = shape(x[k])
		}
		return x
	case []any:
		for i := range x {
			x[i] = shape(x[i])
		}
		return x
	case json.Number:
		return 0
	case string:
		if timeRE.MatchString(x) {
			return "<time>"
		}
		if _, err := time.ParseDuration(x); err == nil {
			return "<duration>"
		}
		return x
	}
	return v
}

// Diff returns "" if two results match, or a readable description.
func Diff(want, got Result) string {
	if want.String() == got.String() {
		return ""
	}
	return fmt.Sprintf("etcd:\n%s\ncairn:\n%s", indent(want.String()), indent(got.String()))
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
