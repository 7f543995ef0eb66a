//go:build !unix

package lifecycle

import "errors"

func sendDatagram(path string, b []byte) error {
	return errors.New("unix datagram sockets are not supported on this platform")
}
