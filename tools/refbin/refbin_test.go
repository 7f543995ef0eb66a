package refbin

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFindEnvMustExist(t *testing.T) {
	t.Setenv(EnvEtcd, filepath.Join(t.TempDir(), "no-such-etcd"))
	if _, err := Find(EnvEtcd, "etcd"); err == nil {
		t.Fatal("Find accepted an env path that does not exist")
	}
}

func TestFindEnv(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "etcd")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvEtcd, bin)
	got, err := Find(EnvEtcd, "etcd")
	if err != nil || got != bin {
		t.Fatalf("Find = %q, %v; want %q", got, err, bin)
	}
}

func TestFindNothing(t *testing.T) {
	t.Setenv("CAIRN_REF_NONE", "")
	t.Setenv("PATH", t.TempDir())
	_, err := Find("CAIRN_REF_NONE", "cairn-refbin-no-such-binary")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Find = %v, want ErrNotFound", err)
	}
}
