// Package deptest is the dependency fence: it fails the build when any
// package of the module, tests included, imports something outside the
// standard library, the module itself, and the three allowed modules, or when
// production code imports a testing package.
package deptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// allowed lists the module paths (besides the standard library and this
// module) that any package may import. Keep in sync with ../shared/STYLE.md.
var allowed = []string{
	"golang.org/x/sys",
	"github.com/godbus/dbus/v5",
	"github.com/klauspost/compress",
}

// testOnly lists standard packages that production code must not import.
var testOnly = []string{"testing", "net/http/httptest", "testing/quick", "testing/synctest", "testing/fstest", "testing/iotest"}

type listedPackage struct {
	ImportPath string
	Standard   bool
	Module     *struct{ Path string }
	DepOnly    bool
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func goList(t *testing.T, args ...string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-e", "-deps", "-json=ImportPath,Standard,Module,DepOnly"}, args...)...)
	cmd.Dir = moduleRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func modulePath(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestOnlyAllowedModules(t *testing.T) {
	self := modulePath(t)
	for _, p := range goList(t, "-test", "./...") {
		if p.Standard {
			continue
		}
		path := p.ImportPath
		// Test variants are listed as "pkg [pkg.test]".
		if i := strings.IndexByte(path, ' '); i >= 0 {
			path = path[:i]
		}
		if path == self || strings.HasPrefix(path, self+"/") || strings.HasSuffix(path, ".test") {
			continue
		}
		ok := false
		for _, m := range allowed {
			if path == m || strings.HasPrefix(path, m+"/") {
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("import of %s is outside the allowed dependencies %v", path, allowed)
		}
	}
}

func TestProductionCodeImportsNoTestPackages(t *testing.T) {
	for _, p := range goList(t, "./...") {
		for _, bad := range testOnly {
			if p.ImportPath == bad {
				t.Errorf("production code depends on %s; find the importer with: go list -deps -f '{{.ImportPath}} {{.Imports}}' ./... | grep %s", bad, bad)
			}
		}
	}
}

func TestGoModRequiresOnlyAllowed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	inBlock := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var mod string
		switch {
		case len(f) == 0:
			continue
		case f[0] == "require" && len(f) > 1 && f[1] == "(":
			inBlock = true
			continue
		case inBlock && f[0] == ")":
			inBlock = false
			continue
		case f[0] == "require" && len(f) > 2:
			mod = f[1]
		case inBlock:
			mod = f[0]
		default:
			continue
		}
		if !slices.Contains(allowed, mod) {
			t.Errorf("go.mod requires module %s, outside the allowed %v", mod, allowed)
		}
	}
}
