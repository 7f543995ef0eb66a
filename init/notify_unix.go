//go:build unix

package lifecycle

import "net"

// sendDatagram writes b as one datagram to the unixgram socket at path. A
// leading '@' selects the abstract namespace (handled by package syscall).
func sendDatagram(path string, b []byte) error {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write(b)
	return err
}
