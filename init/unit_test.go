package lifecycle

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readUnit returns the unit file's settings as key -> values.
func readUnit(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("cairn.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("malformed unit line %q", line)
		}
		kv[k] = append(kv[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestUnitFile(t *testing.T) {
	kv := readUnit(t)
	want := map[string]string{
		"Type":                    "notify",
		"NotifyAccess":            "main",
		"Restart":                 "on-failure",
		"ProtectSystem":           "strict",
		"ReadWritePaths":          "/var/lib/cairn",
		"StateDirectory":          "cairn",
		"NoNewPrivileges":         "yes",
		"PrivateTmp":              "yes",
		"ProtectHome":             "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		"MemoryDenyWriteExecute":  "yes",
		"EnvironmentFile":         "-/etc/cairn/cairn.env",
	}
	for k, v := range want {
		if got := kv[k]; len(got) == 0 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"WatchdogSec", "LimitNOFILE", "SystemCallFilter", "ExecStart"} {
		if len(kv[k]) == 0 {
			t.Errorf("%s missing", k)
		}
	}
	if fs := kv["SystemCallFilter"]; len(fs) == 0 || fs[0] != "@system-service" {
		t.Errorf("SystemCallFilter = %q, want @system-service first", fs)
	}
}

// TestUnitFileVerify runs systemd-analyze verify when it is installed, with
// ExecStart pointed at an executable that exists.
func TestUnitFileVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	if testing.Short() {
		t.Skip("slow in -short mode")
	}
	b, err := os.ReadFile("cairn.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "cairn")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "cairn.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/bin/cairn", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
