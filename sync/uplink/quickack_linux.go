package uplink

import (
	"net"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAck returns a TCP connection that acknowledges what it receives at
// once instead of delaying its ACKs: TCP_QUICKACK, set now and again after
// every read, since the kernel goes back to delayed ACKs by itself as
// traffic goes back and forth. Any other connection is returned unchanged.
//
// Why: the cloud broker sends the gateway small packets (a changeset, a
// PUBACK), and mosquitto, like most brokers, leaves Nagle's algorithm on by
// default (set_tcp_nodelay false). Nagle holds a small packet back while
// one sent earlier is unacknowledged, and Linux delays an ACK by 40 ms when
// it has no data of its own to carry it. A changeset that followed a PUBACK
// therefore waited in the broker for the gateway's ACK of that PUBACK, up
// to 40 ms. Acknowledging at once costs an ACK segment per read and removes
// the wait whatever the broker's settings. While the uplink drains a
// backlog it turns this off (setBulk): see ackMode.
func quickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	q := &quickAckConn{Conn: c, raw: raw}
	q.arm()
	return q
}

// quickAckConn is a TCP connection that sets TCP_QUICKACK after each read
// that returned data, except in bulk mode. Setting it sends an ACK the
// kernel was holding back and leaves delayed-ACK mode until the kernel
// enters it again. Its methods are as safe for concurrent use as the
// connection's: the option is set through the connection's RawConn.
type quickAckConn struct {
	net.Conn
	raw  syscall.RawConn
	bulk atomic.Bool
}

var _ ackMode = (*quickAckConn)(nil)

func (q *quickAckConn) Read(p []byte) (int, error) {
	n, err := q.Conn.Read(p)
	if n > 0 && !q.bulk.Load() {
		q.arm()
	}
	return n, err
}

// setBulk turns acknowledging at once off (on true) or back on; turning it
// back on sends at once an ACK the kernel holds.
func (q *quickAckConn) setBulk(on bool) {
	if q.bulk.Swap(on) && !on {
		q.arm()
	}
}

// arm sets TCP_QUICKACK. A failure (the socket was just closed) is ignored:
// the option only hastens ACKs, and the connection reports its own errors.
func (q *quickAckConn) arm() {
	_ = q.raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}
