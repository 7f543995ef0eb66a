package main

import (
	"os"
	"runtime/pprof"
	"strings"
)

// startCPUProfile writes a CPU profile of the whole run to path, for
// profiling a member under real load (CAIRNPROFILE=path; off unless
// set). The returned func stops it; the daemon calls it on a clean exit
// (SIGTERM or SIGINT), so a SIGKILLed member leaves an unusable file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// envValue returns the value of name in env (KEY=value pairs), "" if unset.
func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}
