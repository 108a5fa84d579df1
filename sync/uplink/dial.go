package uplink

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// readBuffer is the size of the read buffer in front of the connection.
const readBuffer = 16 << 10

// dial opens the network connection under one MQTT connection. It does what
// paho's own opener does (a SOCKS proxy from the environment for tcp and
// tls, an HTTP proxy for ws and wss) with two differences: it gives up when
// ctx is done, and reads go through a buffer. paho reads a packet a few
// bytes at a time, so without one every PUBACK costs three system calls,
// which is most of the uplink's CPU time when a backlog drains.
func (u *Uplink) dial(ctx context.Context, uri *url.URL) (net.Conn, error) {
	var conn net.Conn
	var err error
	switch uri.Scheme {
	case "ws", "wss":
		conn, err = mqtt.NewWebsocket(uri.String(), u.tls, u.cfg.ConnectTimeout, nil, nil)
	case "tcp", "ssl", "tls":
		conn, err = u.dialTCP(ctx, uri.Host)
		if err == nil && u.tls != nil {
			tc := tls.Client(conn, u.tls.Clone())
			hctx, cancel := context.WithTimeout(ctx, u.cfg.ConnectTimeout)
			err = tc.HandshakeContext(hctx)
			cancel()
			if err != nil {
				conn.Close()
				err = fmt.Errorf("TLS handshake: %w", err)
			}
			conn = tc
		}
	default:
		// Validate admits no other scheme.
		err = fmt.Errorf("unsupported scheme %q", uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBuffer)}, nil
}

func (u *Uplink) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: u.cfg.ConnectTimeout}
	pd := proxy.FromEnvironmentUsing(d)
	if cd, ok := pd.(proxy.ContextDialer); ok {
		return cd.DialContext(ctx, "tcp", addr)
	}
	return pd.Dial("tcp", addr)
}

// bufferedConn is a connection whose reads go through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader // only paho's single reading goroutine uses it
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
