package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Common sd_notify states (see sd_notify(3)).
const (
	// StateReady tells systemd that start-up is finished (Type=notify).
	StateReady = "READY=1"
	// StateStopping tells systemd that the service is shutting down.
	StateStopping = "STOPPING=1"
	// StateReloading tells systemd that the service is reloading its
	// configuration; send StateReady when done.
	StateReloading = "RELOADING=1"
	// StateWatchdog is a watchdog keep-alive ping.
	StateWatchdog = "WATCHDOG=1"
)

// ErrNotify is returned (wrapped) when $NOTIFY_SOCKET is set but the state
// cannot be delivered to it.
var ErrNotify = errors.New("lifecycle: sd_notify failed")

// Notify sends state to the socket named by $NOTIFY_SOCKET. If unsetEnv is
// true the variable is removed from the environment afterwards (whatever the
// outcome), so that child processes cannot notify on our behalf. See the
// package documentation for the tri-state result.
func Notify(unsetEnv bool, state string) (sent bool, err error) {
	socket := os.Getenv("NOTIFY_SOCKET")
	if unsetEnv {
		defer os.Unsetenv("NOTIFY_SOCKET")
	}
	return NotifySocket(socket, state)
}

// NotifySocket sends state to the given socket: an absolute path, or an
// abstract socket name starting with '@'. An empty socket means "not under
// systemd" and returns (false, nil).
func NotifySocket(socket, state string) (sent bool, err error) {
	if socket == "" {
		return false, nil
	}
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return false, fmt.Errorf("%w: unsupported NOTIFY_SOCKET %q (want an absolute path or @abstract name)", ErrNotify, socket)
	}
	if err := sendDatagram(socket, []byte(state)); err != nil {
		return false, fmt.Errorf("%w: %w", ErrNotify, err)
	}
	return true, nil
}

// Ready sends READY=1, plus STATUS=status when status is not empty.
func Ready(status string) (bool, error) {
	return Notify(false, withStatus(StateReady, status))
}

// Stopping sends STOPPING=1, plus STATUS=status when status is not empty.
func Stopping(status string) (bool, error) {
	return Notify(false, withStatus(StateStopping, status))
}

// Reloading sends RELOADING=1 with the MONOTONIC_USEC timestamp that
// Type=notify-reload services must include (systemd 253 and later).
func Reloading() (bool, error) {
	state := StateReloading
	if usec, ok := monotonicUsec(); ok {
		state += fmt.Sprintf("\nMONOTONIC_USEC=%d", usec)
	}
	return Notify(false, state)
}

// Status sends STATUS=status, a free-form line shown by systemctl status.
func Status(status string) (bool, error) {
	return Notify(false, "STATUS="+sanitizeStatus(status))
}

// WatchdogPing sends WATCHDOG=1.
func WatchdogPing() (bool, error) {
	return Notify(false, StateWatchdog)
}

func withStatus(state, status string) string {
	if status == "" {
		return state
	}
	return state + "\nSTATUS=" + sanitizeStatus(status)
}

// sanitizeStatus keeps a status on one line: a newline would start a new
// assignment and could smuggle in another state.
func sanitizeStatus(s string) string {
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
}
