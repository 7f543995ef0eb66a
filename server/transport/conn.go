package transport

import (
	"net"
	"time"
)

// deadlineConn sets a fresh deadline before every Read and Write, turning
// "no progress for d" into an error on a connection that otherwise could
// block forever (a peer that powered off mid-stream).
type deadlineConn struct {
	net.Conn
	readTimeout, writeTimeout time.Duration
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.readTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
