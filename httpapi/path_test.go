package httpapi

import (
	"math/rand/v2"
	"path"
	"strings"
	"testing"
)

// TestPathFastPaths compares cleanPath, keyPath and storePath with the
// path.Clean and path.Join forms they shortcut, on random paths made of
// the characters that matter.
func TestPathFastPaths(t *testing.T) {
	oracleClean := func(p string) string {
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
	r := rand.New(rand.NewPCG(5, 6))
	elems := []string{"/", "/", "/", ".", "..", "a", "b.", ".c", "...", "//"}
	check := func(p string) {
		if got, want := cleanPath(p), oracleClean(p); got != want {
			t.Fatalf("cleanPath(%q) = %q, want %q", p, got, want)
		}
		if got, want := isCleanAbs(p), p != "" && p[0] == '/' && path.Clean(p) == p; got != want {
			t.Fatalf("isCleanAbs(%q) = %v, want %v", p, got, want)
		}
		u := "/v2/keys" + p
		key := keyPath(u)
		if want := path.Clean("/" + strings.TrimPrefix(u, "/v2/keys")); key != want {
			t.Fatalf("keyPath(%q) = %q, want %q", u, key, want)
		}
		if got, want := storePath(key), path.Join(keysPrefix, key); got != want {
			t.Fatalf("storePath(%q) = %q, want %q", key, got, want)
		}
	}
	for _, p := range []string{"", "/", "//", "///", "/.", "/..", "/./", "/a", "/a/", "/a//", "/a/.", "/a/..", "a", "a/", "./"} {
		check(p)
	}
	for range 50000 {
		var sb strings.Builder
		for range r.IntN(7) {
			sb.WriteString(elems[r.IntN(len(elems))])
		}
		check(sb.String())
	}
}
