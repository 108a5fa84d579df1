package api

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"
)

// limitListener caps the connections open at once, like
// golang.org/x/net/netutil.LimitListener, but a connection past the cap is
// not left waiting in the kernel's backlog: it is accepted, answered 503
// (over TLS when the server serves TLS) and closed, so the client is told
// why. Refusals are capped too; past that a connection is closed unanswered.
type limitListener struct {
	net.Listener
	slots    chan struct{} // one per open connection
	refusing chan struct{} // one per refusal being written
	// tls, when set, is the handshake a refusal is written through.
	tls    *tls.Config
	answer []byte
}

// refuseTimeout bounds a refusal: reading the request, the TLS handshake
// and writing the answer.
const refuseTimeout = 2 * time.Second

func newLimitListener(ln net.Listener, max int, tlsConfig *tls.Config) *limitListener {
	body, _ := json.Marshal(ErrorDoc{Error: ErrorBody{Code: CodeTooManyConnections,
		Message: fmt.Sprintf("the gateway has %d connections open, as many as it takes; close one or try again shortly", max)}})
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
		"Retry-After: 1\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n%s", len(body), body)
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), refusing: make(chan struct{}, max),
		tls: tlsConfig, answer: b.Bytes()}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		select {
		case l.refusing <- struct{}{}:
			go l.refuse(c)
		default:
			c.Close()
		}
	}
}

// refuse answers 503 on c and closes it. It reads the request head first:
// closing a socket with unread data sends a reset, which can destroy the
// answer before the client has read it.
func (l *limitListener) refuse(c net.Conn) {
	defer func() { <-l.refusing }()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refuseTimeout))
	if l.tls != nil {
		c = tls.Server(c, l.tls)
	}
	buf := make([]byte, 4<<10)
	var head []byte
	for len(head) < 16<<10 && !bytes.Contains(head, []byte("\r\n\r\n")) {
		n, err := c.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil {
			return
		}
	}
	_, _ = c.Write(l.answer)
}

// limitedConn frees its slot when closed, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
