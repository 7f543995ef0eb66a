package httpapi

import (
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The parameters a keys request reads. keyParams holds the first value of
// each, in the order of r.Form after ParseForm: a form body's values before
// the query's.
const (
	pPrevIndex = iota
	pWaitIndex
	pAtIndex
	pWaitApplied
	pRecursive
	pSorted
	pWait
	pDir
	pQuorum
	pStream
	pPrevValue
	pNoValue
	pTTL
	pPrevExist
	pRefresh
	pValue
	numParams
)

var paramNames = [numParams]string{
	pPrevIndex: "prevIndex", pWaitIndex: "waitIndex", pAtIndex: "atIndex", pWaitApplied: "waitApplied",
	pRecursive: "recursive", pSorted: "sorted", pWait: "wait", pDir: "dir", pQuorum: "quorum",
	pStream: "stream", pPrevValue: "prevValue", pNoValue: "noValueOnSuccess", pTTL: "ttl",
	pPrevExist: "prevExist", pRefresh: "refresh", pValue: "value",
}

func paramIndex(name string) int {
	for i, n := range paramNames {
		if n == name {
			return i
		}
	}
	return -1
}

type keyParams struct {
	val [numParams]string
	has [numParams]bool
}

func (p *keyParams) get(i int) (string, bool) { return p.val[i], p.has[i] }

// maxLeanParams bounds the parameters the lean parser takes; a request
// with more goes to ParseForm, which has its own limit and error.
const maxLeanParams = 64

// maxLeanBody is the largest body the lean parser reads: ParseForm's own
// limit for a body that is not behind a MaxBytesReader.
const maxLeanBody = 10 << 20

// readKeyParams fills p from the query and, for POST, PUT and PATCH, a
// urlencoded body, exactly as ParseForm followed by r.Form lookups would,
// without building the maps. Anything unusual (another content type, a
// semicolon, a bad escape, very many parameters) goes through ParseForm
// itself, so its errors are worded as before.
func readKeyParams(r *http.Request, p *keyParams) *reqErr {
	body := ""
	if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
		switch r.Header.Get("Content-Type") {
		case "":
			// ParseForm takes it for application/octet-stream: no form.
		case "application/x-www-form-urlencoded":
			if r.Body == nil || r.ContentLength < 0 || r.ContentLength > maxLeanBody {
				// No body, a chunked one, or one past ParseForm's own
				// size limit: ParseForm decides, and words any error.
				return formParams(r, p)
			}
			b, err := io.ReadAll(r.Body)
			if err != nil {
				// What ParseForm answers when the read fails (a body over
				// the limit, a connection gone).
				return &reqErr{ecodeInvalidForm, err.Error()}
			}
			body = string(b)
		default:
			return formParams(r, p)
		}
	}
	if p.scan(body) && p.scan(r.URL.RawQuery) {
		return nil
	}
	*p = keyParams{}
	if body != "" {
		r.Body = io.NopCloser(strings.NewReader(body))
	}
	return formParams(r, p)
}

// formParams fills p through ParseForm.
func formParams(r *http.Request, p *keyParams) *reqErr {
	if err := r.ParseForm(); err != nil {
		return &reqErr{ecodeInvalidForm, err.Error()}
	}
	for i, n := range paramNames {
		if vs, ok := r.Form[n]; ok && len(vs) > 0 {
			p.val[i], p.has[i] = vs[0], true
		}
	}
	return nil
}

// scan adds the parameters of the urlencoded q that p has no value for
// yet. It returns false, having perhaps added some, where ParseForm could
// disagree or fail: the caller then starts over with ParseForm.
func (p *keyParams) scan(q string) bool {
	for n := 0; q != ""; n++ {
		if n == maxLeanParams {
			return false
		}
		var seg string
		seg, q, _ = strings.Cut(q, "&")
		if seg == "" {
			continue
		}
		if strings.IndexByte(seg, ';') >= 0 {
			return false
		}
		k, v, _ := strings.Cut(seg, "=")
		if escaped(k) {
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				return false
			}
		}
		i := paramIndex(k)
		if escaped(v) {
			var err error
			if v, err = url.QueryUnescape(v); err != nil {
				return false
			}
		}
		if i >= 0 && !p.has[i] {
			p.val[i], p.has[i] = v, true
		}
	}
	return true
}

// escaped reports whether s needs QueryUnescape.
func escaped(s string) bool { return strings.ContainsAny(s, "%+") }
