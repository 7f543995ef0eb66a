package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{name: "version", args: []string{"--version"}, code: 0, stdout: "cairn Version: dev"},
		{name: "version one dash", args: []string{"-version"}, code: 0, stdout: "cairn Version: dev"},
		{name: "help", args: []string{"--help"}, code: 0, stdout: "--initial-cluster"},
		{name: "unknown flag", args: []string{"--no-such-flag"}, code: 1, stderr: "no-such-flag"},
		{name: "inconsistent", args: []string{"--name", "x", "--initial-cluster", "y=http://127.0.0.1:2380"}, code: 1, stderr: "cairn: "},
		{name: "bad env", env: []string{"ETCD_ELECTION_TIMEOUT=abc"}, code: 1, stderr: "ELECTION_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, tt.env, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %s)", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.stdout)
			}
			if !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.stderr)
			}
		})
	}
}

func TestEnvValue(t *testing.T) {
	env := []string{"A=1", "CAIRNPROFILE=/tmp/p", "CAIRNPROFILEX=no", "EMPTY="}
	tests := []struct{ name, want string }{
		{"CAIRNPROFILE", "/tmp/p"},
		{"A", "1"},
		{"EMPTY", ""},
		{"MISSING", ""},
	}
	for _, tc := range tests {
		if got := envValue(env, tc.name); got != tc.want {
			t.Errorf("envValue(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
