package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	lifecycle "cairn/init"
	"cairn/server"
	"cairn/server/config"
)

// version is set by build.sh with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(args, env []string, stdout, stderr io.Writer) int {
	cfg, err := config.Parse(args, env)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprint(stdout, config.Usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "cairn: %v\n", err)
		fmt.Fprintln(stderr, "Try 'cairn --help' for more information.")
		return 1
	}
	if cfg.Version {
		fmt.Fprintf(stdout, "cairn Version: %s\netcd API Version: 2 (compatible with etcd 3.4 --enable-v2)\n", version)
		return 0
	}
	level := slog.LevelInfo
	switch cfg.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	logger.Info("starting cairn", "version", version, "name", cfg.Name, "data-dir", cfg.DataDir)

	if path := envValue(env, "CAIRNPROFILE"); path != "" {
		stopProfile, err := startCPUProfile(path)
		if err != nil {
			fmt.Fprintf(stderr, "cairn: CAIRNPROFILE: %v\n", err)
			return 1
		}
		defer stopProfile()
	}

	ctx, stop := lifecycle.ShutdownContext(context.Background())
	defer stop()
	m, err := server.New(cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "cairn: %v\n", err)
		return 1
	}
	// One P while the member is lightly loaded (server/procs.go); a
	// GOMAXPROCS set by the user stays as set.
	m.AdaptiveProcs = envValue(env, "GOMAXPROCS") == ""
	if err := m.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "cairn: %v\n", err)
		return 1
	}
	select {
	case <-m.ReadyNotify():
	case <-ctx.Done():
	case <-m.Failed():
	case <-m.Removed():
	}
	if _, err := lifecycle.Ready(m.Status()); err != nil {
		logger.Warn("sd_notify READY failed", "err", err)
	}
	wd, err := lifecycle.StartWatchdogFromEnv(ctx, m.Healthy, func(f string, a ...any) { logger.Warn(fmt.Sprintf(f, a...)) })
	if err != nil {
		logger.Warn("watchdog", "err", err)
	}
	code := 0
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "cause", context.Cause(ctx))
	case <-m.Removed():
		logger.Warn("removed from the cluster; exiting")
	case <-m.Failed():
		logger.Error("fatal error; exiting", "err", m.Err())
		code = 1
	}
	lifecycle.Stopping("shutting down")
	if wd != nil {
		wd.Stop()
	}
	m.Stop()
	return code
}
