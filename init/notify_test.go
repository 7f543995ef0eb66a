//go:build unix

package lifecycle

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// listenNotify opens a unixgram socket standing in for systemd and returns
// its name (as it would appear in $NOTIFY_SOCKET) and a receive function.
func listenNotify(t *testing.T, name string) (string, func() string) {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %q: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return name, func() string {
		t.Helper()
		buf := make([]byte, 4096)
		if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("read notification: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotifySocket(t *testing.T) {
	path, recv := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
	tests := []struct {
		state string
	}{
		{StateReady},
		{StateStopping},
		{StateWatchdog},
		{"STATUS=serving 3 members\nREADY=1"},
	}
	for _, tt := range tests {
		sent, err := NotifySocket(path, tt.state)
		if !sent || err != nil {
			t.Fatalf("NotifySocket(%q) = %v, %v; want true, nil", tt.state, sent, err)
		}
		if got := recv(); got != tt.state {
			t.Errorf("received %q, want %q", got, tt.state)
		}
	}
}

func TestNotifySocketAbstract(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("abstract sockets are Linux-only")
	}
	name := fmt.Sprintf("@cairn-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	_, recv := listenNotify(t, name)
	sent, err := NotifySocket(name, StateReady)
	if !sent || err != nil {
		t.Fatalf("NotifySocket(abstract) = %v, %v; want true, nil", sent, err)
	}
	if got := recv(); got != StateReady {
		t.Errorf("received %q, want %q", got, StateReady)
	}
}

func TestNotifyTriState(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		socket   string
		wantSent bool
		wantErr  bool
	}{
		{"unset: not under systemd", "", false, false},
		{"no listener", filepath.Join(dir, "missing.sock"), false, true},
		{"relative path", "notify.sock", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", tt.socket)
			sent, err := Notify(false, StateReady)
			if sent != tt.wantSent || (err != nil) != tt.wantErr {
				t.Fatalf("Notify = %v, %v; want sent=%v err=%v", sent, err, tt.wantSent, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrNotify) {
				t.Errorf("error %v does not wrap ErrNotify", err)
			}
		})
	}
}

func TestNotifyUnsetEnv(t *testing.T) {
	path, recv := listenNotify(t, filepath.Join(t.TempDir(), "n.sock"))
	t.Setenv("NOTIFY_SOCKET", path)
	if sent, err := Notify(true, StateReady); !sent || err != nil {
		t.Fatalf("Notify = %v, %v", sent, err)
	}
	recv()
	if v, ok := os.LookupEnv("NOTIFY_SOCKET"); ok {
		t.Errorf("NOTIFY_SOCKET still set to %q after Notify(true, ...)", v)
	}
	if sent, err := Notify(false, StateReady); sent || err != nil {
		t.Errorf("second Notify = %v, %v; want false, nil", sent, err)
	}
}

func TestHelpers(t *testing.T) {
	path, recv := listenNotify(t, filepath.Join(t.TempDir(), "n.sock"))
	t.Setenv("NOTIFY_SOCKET", path)
	tests := []struct {
		name string
		call func() (bool, error)
		want string
	}{
		{"Ready", func() (bool, error) { return Ready("") }, "READY=1"},
		{"ReadyStatus", func() (bool, error) { return Ready("member a1 up") }, "READY=1\nSTATUS=member a1 up"},
		{"Stopping", func() (bool, error) { return Stopping("bye") }, "STOPPING=1\nSTATUS=bye"},
		{"Status one line", func() (bool, error) { return Status("a\nREADY=1") }, "STATUS=a READY=1"},
		{"Watchdog", WatchdogPing, "WATCHDOG=1"},
	}
	for _, tt := range tests {
		sent, err := tt.call()
		if !sent || err != nil {
			t.Fatalf("%s = %v, %v", tt.name, sent, err)
		}
		if got := recv(); got != tt.want {
			t.Errorf("%s sent %q, want %q", tt.name, got, tt.want)
		}
	}
	sent, err := Reloading()
	if !sent || err != nil {
		t.Fatalf("Reloading = %v, %v", sent, err)
	}
	got := recv()
	if !strings.HasPrefix(got, "RELOADING=1") || (runtime.GOOS == "linux" && !strings.Contains(got, "\nMONOTONIC_USEC=")) {
		t.Errorf("Reloading sent %q", got)
	}
}

func ExampleNotifySocket() {
	// Not under systemd: nothing is sent and there is no error.
	sent, err := NotifySocket("", StateReady)
	fmt.Println(sent, err)
	// Output: false <nil>
}
