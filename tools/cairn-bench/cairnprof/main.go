//go:build cairnprof

// Command cairnprof is the cairn member daemon with a CPU profile: the same
// flags as tools/cairn, and while it runs it writes a pprof CPU profile to
// $CAIRN_CPUPROFILE (started at launch, flushed on SIGTERM/SIGINT). It exists
// only so tools/bench-compare.sh --profile can show where cairn spends its
// time under load without changing the daemon; it is built only with
// -tags cairnprof and is not shipped:
//
//	go build -tags cairnprof -o bin/cairnprof ./tools/cairn-bench/cairnprof
//	CAIRN_CPUPROFILE=cpu.pprof bin/cairnprof --name m1 ...
//	go tool pprof -top bin/cairnprof cpu.pprof
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"

	lifecycle "cairn/init"
	"cairn/server"
	"cairn/server/config"
)

func main() {
	cfg, err := config.Parse(os.Args[1:], os.Environ())
	if err != nil {
		fmt.Fprintf(os.Stderr, "cairnprof: %v\n", err)
		os.Exit(1)
	}
	if path := os.Getenv("CAIRN_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cairnprof: %v\n", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "cairnprof: %v\n", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := lifecycle.ShutdownContext(context.Background())
	defer stop()
	m, err := server.New(cfg, logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cairnprof: %v\n", err)
		return
	}
	if err := m.Start(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "cairnprof: %v\n", err)
		return
	}
	select {
	case <-ctx.Done():
	case <-m.Failed():
	case <-m.Removed():
	}
	m.Stop()
}
