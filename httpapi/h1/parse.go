package h1

import (
	"net/http"
	"net/url"
	"strings"
)

// head is a parsed request head that the fast path serves.
type head struct {
	method, target, host string
	header               http.Header
	contentLength        int64
	close                bool
}

// parseHead parses a request head (b ends with its empty line). It returns
// false for anything the fast path leaves to net/http: other methods or
// versions, a missing or repeated Host, a Transfer-Encoding, an Expect,
// an Upgrade, an unusual byte or line ending, a malformed or repeated
// Content-Length. net/http then serves the request, or answers the error
// it answers for it.
func parseHead(b []byte) (head, bool) {
	var h head
	// One string for the whole head; every field is a slice of it.
	s := string(b)
	line, rest, ok := cutLine(s)
	if !ok {
		return h, false
	}
	sp1 := strings.IndexByte(line, ' ')
	if sp1 < 0 {
		return h, false
	}
	switch line[:sp1] {
	case http.MethodGet:
		h.method = http.MethodGet
	case http.MethodPut:
		h.method = http.MethodPut
	case http.MethodPost:
		h.method = http.MethodPost
	case http.MethodDelete:
		h.method = http.MethodDelete
	default:
		return h, false
	}
	line = line[sp1+1:]
	sp2 := strings.IndexByte(line, ' ')
	if sp2 < 1 || line[sp2+1:] != "HTTP/1.1" || line[0] != '/' {
		return h, false
	}
	h.target = line[:sp2]
	for i := 0; i < len(h.target); i++ {
		if c := h.target[i]; c <= ' ' || c >= 0x7f {
			return h, false
		}
	}
	h.header = make(http.Header, 8)
	var canon [64]byte
	haveHost, haveCL := false, false
	for {
		line, rest, ok = cutLine(rest)
		if !ok {
			return h, false
		}
		if line == "" {
			break
		}
		colon := strings.IndexByte(line, ':')
		if colon < 1 || colon > len(canon) {
			return h, false
		}
		name := line[:colon]
		upper := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			if !isTokenChar(c) {
				return h, false
			}
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			canon[i] = c
			upper = c == '-'
		}
		value := strings.Trim(line[colon+1:], " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
				return h, false
			}
		}
		key, common := commonHeaders[string(canon[:colon])]
		if !common {
			key = string(canon[:colon])
		}
		switch key {
		case "Host":
			if haveHost || !validHost(value) {
				return h, false
			}
			haveHost = true
			h.host = value
			continue // net/http keeps Host out of Header too
		case "Content-Length":
			if haveCL || value == "" || len(value) > 18 {
				return h, false
			}
			haveCL = true
			for i := 0; i < len(value); i++ {
				c := value[i]
				if c < '0' || c > '9' {
					return h, false
				}
				h.contentLength = h.contentLength*10 + int64(c-'0')
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Pragma", "Trailer", "Http2-Settings":
			return h, false
		case "Connection":
			for _, tok := range strings.Split(value, ",") {
				tok = strings.TrimSpace(tok)
				switch {
				case strings.EqualFold(tok, "close"):
					h.close = true
				case strings.EqualFold(tok, "upgrade"):
					return h, false
				}
			}
		}
		h.header[key] = append(h.header[key], value)
	}
	if !haveHost {
		return h, false
	}
	return h, true
}

// request builds the http.Request for h.
func (h *head) request(remote string) *http.Request {
	u, err := url.ParseRequestURI(h.target)
	if err != nil {
		return nil
	}
	return &http.Request{
		Method:        h.method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h.header,
		ContentLength: h.contentLength,
		Close:         h.close,
		Host:          h.host,
		RemoteAddr:    remote,
		RequestURI:    h.target,
	}
}

// cutLine splits s after its first line, which must end in CRLF; the line
// is returned without it.
func cutLine(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", "", false
	}
	return s[:i-1], s[i+1:], true
}

// isTokenChar reports whether c may appear in a header name (RFC 9110
// token).
func isTokenChar(c byte) bool { return tokenChars[c] }

// tokenChars holds the characters of an RFC 9110 token.
var tokenChars = func() (t [256]bool) {
	for c := range 256 {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			t[c] = true
		case strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0:
			t[c] = true
		}
	}
	return t
}()

// validHost reports whether v is a Host value the fast path accepts:
// letters, digits and the characters of names, IPv4 and IPv6 literals and
// ports. Anything else goes to net/http, which judges it.
func validHost(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}

// commonHeaders interns the header names clients send most, so parsing
// them allocates nothing.
var commonHeaders = map[string]string{}

func init() {
	for _, k := range []string{
		"Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Content-Type",
		"Content-Length", "Connection", "Authorization", "Cookie", "Origin", "Referer",
		"Transfer-Encoding", "Expect", "Upgrade", "Pragma", "Trailer", "Http2-Settings",
		"Cache-Control", "Keep-Alive", "X-Forwarded-For", "X-Cairn-Forwarded",
	} {
		commonHeaders[k] = k
	}
}
