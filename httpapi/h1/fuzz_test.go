package h1

import (
	"bufio"
	"bytes"
	"maps"
	"net/http"
	"slices"
	"testing"
)

// FuzzParseHead checks that every head the lean path accepts means the
// same to net/http's parser: method, target, URL, Host, headers, body
// length and Connection: close.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET /a/b?x=1&y=%20z HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\n\r\n",
		"PUT /v2/keys/a HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nvalue=1",
		"GET /c HTTP/1.1\r\nhost: h\r\ncontent-type: text/x\r\nx-my-HEADER: A\r\nx-my-header: b\r\n\r\n",
		"GET /c HTTP/1.1\r\nHost: h\r\nX-A:   spaced \t \r\nX-B: caf\xc3\xa9\r\nX-C:\r\n\r\n",
		"DELETE /a%2Fb HTTP/1.1\r\nHost: [::1]:2379\r\nConnection: keep-alive, close\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0010\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end := headEnd(b)
		if end < 0 {
			return
		}
		h, ok := parseHead(b[:end])
		if !ok {
			return
		}
		req := h.request("remote")
		if req == nil {
			return // the target is no URL: net/http gets the request
		}
		std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("lean path accepts %q, net/http: %v", b[:end], err)
		}
		switch {
		case req.Method != std.Method, req.RequestURI != std.RequestURI, req.URL.String() != std.URL.String(),
			req.URL.RawPath != std.URL.RawPath, req.Host != std.Host,
			req.ContentLength != std.ContentLength, req.Close != std.Close, len(std.TransferEncoding) != 0,
			!maps.EqualFunc(req.Header, std.Header, slices.Equal[[]string]):
			t.Fatalf("%q:\nlean %s %s %q host=%q cl=%d close=%v %v\n std %s %s %q host=%q cl=%d close=%v %v",
				b[:end], req.Method, req.RequestURI, req.URL, req.Host, req.ContentLength, req.Close, req.Header,
				std.Method, std.RequestURI, std.URL, std.Host, std.ContentLength, std.Close, std.Header)
		}
	})
}
