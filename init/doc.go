// Package lifecycle ties the cairn daemon to its service manager: it tells
// systemd about start-up, status and shutdown (sd_notify), keeps the systemd
// watchdog fed while the member is healthy, and turns SIGTERM/SIGINT into a
// context cancellation.
//
// The directory is named init (the project layout puts process lifecycle
// there), but init is not a legal Go package name, so the package is called
// lifecycle:
//
//	import lifecycle "cairn/init"
//
// # sd_notify
//
// Notify sends one datagram of newline-separated KEY=VALUE assignments to the
// AF_UNIX datagram socket named by $NOTIFY_SOCKET: a file-system path
// ("/run/systemd/notify") or an abstract socket ("@name"; Linux maps the
// leading '@' to the abstract namespace). The result is tri-state:
//
//	sent, err == (true, nil)   systemd got the message
//	sent, err == (false, nil)  not running under systemd ($NOTIFY_SOCKET unset)
//	sent, err == (false, err)  the socket exists but sending failed
//
// Callers usually ignore the (false, nil) case, so the same binary runs under
// systemd, in a container or from a shell. Ready, Stopping, Reloading, Status
// and WatchdogPing are shorthands for the common states. NotifySocket takes an
// explicit socket and never looks at the environment; Notify reads
// $NOTIFY_SOCKET and can unset it afterwards so child processes do not talk to
// systemd on our behalf.
//
// # Watchdog
//
// WatchdogInterval reads $WATCHDOG_USEC (and $WATCHDOG_PID, which must be our
// pid if set) and returns the interval systemd expects pings within (zero when
// the watchdog is off). StartWatchdog pings at half that interval from one
// tracked goroutine until its context is cancelled or Stop is called. A
// Healthy function can veto a ping: a member that is stuck (for example its
// Raft loop has not advanced) stops feeding the watchdog and systemd restarts
// it, which is the point of having a watchdog at all.
//
// # Signals
//
// ShutdownContext returns a context that is cancelled on the first SIGTERM or
// SIGINT (context.Cause names the signal); the daemon then shuts down
// gracefully. A second signal means the operator has lost patience: the
// process exits at once with status 130 (128+SIGINT) or 143 (128+SIGTERM) via
// os.Exit, without running deferred functions. Call stop to release the
// signal handler.
//
// # Unit file
//
// cairn.service in this directory is the shipped systemd unit: Type=notify
// with NotifyAccess=main, WatchdogSec, Restart=on-failure, hardening suited
// to a small box, and EnvironmentFile=-/etc/cairn/cairn.env for ETCD_* and
// CAIRN_* settings.
//
// # Concurrency
//
// Notify and its shorthands may be called from any goroutine; each call opens
// its own socket. A Watchdog's methods may be called concurrently; Stop is
// idempotent and waits for the ping goroutine to exit. ShutdownContext may be
// called more than once, but each call installs its own handler.
//
// # Platforms
//
// sd_notify and signals work on every Unix; on other systems Notify reports
// "not under systemd" and ShutdownContext watches os.Interrupt only.
package lifecycle
