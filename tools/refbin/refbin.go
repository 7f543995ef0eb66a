package refbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The environment variables that name the reference binaries.
const (
	EnvEtcd    = "CAIRN_REF_ETCD"
	EnvEtcdctl = "CAIRN_REF_ETCDCTL"
)

// ErrNotFound is returned (wrapped) when no reference binary was found.
var ErrNotFound = errors.New("refbin: reference binary not found")

// Find returns the path of the reference binary name ("etcd" or
// "etcdctl"), looked up through env, the module's .ref directory, then
// $PATH (see the package documentation).
func Find(env, name string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("refbin: %s=%s: %w", env, p, err)
		}
		return p, nil
	}
	if root, ok := moduleRoot(); ok {
		p := filepath.Join(root, ".ref", "etcd", "usr", "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: %s (set %s, or run ./build.sh ref to fetch Debian's etcd 3.4.23 into .ref/)", ErrNotFound, name, env)
}

// moduleRoot walks up from the working directory (a test's package
// directory) to the directory holding go.mod.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
