package uplink

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// readBuffer is the size of the read buffer in front of the connection.
const readBuffer = 16 << 10

// dial opens the network connection under one MQTT connection. It does what
// paho's own opener does (a SOCKS proxy from the environment for tcp and
// tls, an HTTP proxy for ws and wss) with three differences: it gives up
// when ctx is done, a direct tcp or tls connection acknowledges what it
// receives at once (see quickAck), and the connection it returns batches
// reads and writes (see batchConn). A WebSocket connection is dialled by
// paho's NewWebsocket, which takes no dialer, and keeps delayed ACKs.
func (u *Uplink) dial(ctx context.Context, uri *url.URL) (*batchConn, error) {
	var conn net.Conn
	var acks ackMode
	var err error
	switch uri.Scheme {
	case "ws", "wss":
		conn, err = mqtt.NewWebsocket(uri.String(), u.tls, u.cfg.ConnectTimeout, nil, nil)
	case "tcp", "ssl", "tls":
		conn, err = u.dialTCP(ctx, uri.Host)
		if err == nil {
			acks, _ = conn.(ackMode)
		}
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
	b := newBatchConn(conn, u.cfg.AckTimeout)
	b.acks = acks
	return b, nil
}

// ackMode is implemented by a connection that acknowledges what it
// receives at once (quickAck). While the uplink drains a backlog it
// publishes without pause, and its publishes carry the ACKs for what it
// reads; ACKs of their own would only add a segment per read and let the
// broker, its Nagle's algorithm no longer waiting, split its PUBACKs into
// more, smaller segments (BenchmarkDrain: three and a half times the reads,
// 40% longer). So it turns them off then: setBulk(true) while a backlog
// drains, false once the uplink has caught up.
type ackMode interface{ setBulk(on bool) }

// dialTCP opens a TCP connection, through a SOCKS proxy when the
// environment names one. A direct connection acknowledges at once (see
// quickAck): through a proxy the broker's packets reach the gateway by the
// proxy's connection, whose ACKs are the proxy's to time.
func (u *Uplink) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: u.cfg.ConnectTimeout}
	pd := proxy.FromEnvironmentUsing(d)
	var conn net.Conn
	var err error
	if cd, ok := pd.(proxy.ContextDialer); ok {
		conn, err = cd.DialContext(ctx, "tcp", addr)
	} else {
		conn, err = pd.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return quickAck(conn), nil
}

// maxPending bounds the bytes batchConn holds for writing; a writer that
// would pass it waits for the flusher.
const maxPending = 256 << 10

// closeFlush bounds how long Close waits for pending bytes to go out (a
// DISCONNECT, typically) before it closes the connection regardless.
const closeFlush = 250 * time.Millisecond

// batchConn is the connection paho is given. Reads go through a buffer
// (paho reads a packet a few bytes at a time). Writes are handed to a
// flusher goroutine that writes whatever has accumulated in one system
// call: paho writes each packet on its own, and while a backlog drains
// those writes were the larger part of the uplink's CPU time.
//
// A write error is reported by the next Write and closes the connection,
// so paho's reader sees it lost; nothing is trusted on the strength of a
// write anyway, only on PUBACKs. Each flush has its own deadline
// (writeTimeout), so a peer that stops reading fails the connection rather
// than hanging it; paho's write deadlines are ignored, since they would
// apply to the flusher's write, not theirs.
type batchConn struct {
	net.Conn
	r            *bufio.Reader // only paho's single reading goroutine uses it
	writeTimeout time.Duration
	// acks is the TCP connection underneath, when it acknowledges at once;
	// nil otherwise. Set before paho has the connection.
	acks ackMode

	kick    chan struct{} // cap 1: bytes are pending
	flushed chan struct{} // cap 1: a flush completed
	stop    chan struct{} // closed by Close
	done    chan struct{} // closed when the flusher has exited

	// mu guards pending, err and closed; room is signalled when pending
	// shrinks, err is set or the connection closes.
	mu      sync.Mutex
	room    *sync.Cond
	pending []byte
	err     error
	closed  bool
}

func newBatchConn(c net.Conn, writeTimeout time.Duration) *batchConn {
	b := &batchConn{
		Conn:         c,
		r:            bufio.NewReaderSize(c, readBuffer),
		writeTimeout: writeTimeout,
		kick:         make(chan struct{}, 1),
		flushed:      make(chan struct{}, 1),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	b.room = sync.NewCond(&b.mu)
	go b.flush()
	return b
}

func (b *batchConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Write queues p for the flusher. It waits only when maxPending bytes are
// already queued.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	for len(b.pending) > 0 && len(b.pending)+len(p) > maxPending && b.err == nil && !b.closed {
		b.room.Wait()
	}
	switch {
	case b.err != nil:
		err := b.err
		b.mu.Unlock()
		return 0, err
	case b.closed:
		b.mu.Unlock()
		return 0, net.ErrClosed
	}
	b.pending = append(b.pending, p...)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return len(p), nil
}

// flush writes what accumulates, until Close or a write error.
func (b *batchConn) flush() {
	defer close(b.done)
	var spare []byte
	for {
		select {
		case <-b.kick:
		case <-b.stop:
			return
		}
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.mu.Unlock()
			continue
		}
		// Swap buffers: writers fill one while the other is written.
		out := b.pending
		b.pending = spare[:0]
		b.mu.Unlock()
		err := b.Conn.SetWriteDeadline(time.Now().Add(b.writeTimeout))
		if err == nil {
			_, err = b.Conn.Write(out)
		}
		b.mu.Lock()
		if err != nil && b.err == nil {
			b.err = fmt.Errorf("write: %w", err)
		}
		b.room.Broadcast()
		b.mu.Unlock()
		select {
		case b.flushed <- struct{}{}:
		default:
		}
		if err != nil {
			b.Conn.Close() // paho's reader sees the connection end
			return
		}
		spare = out
	}
}

// Close lets pending bytes out for up to closeFlush, then closes the
// connection and stops the flusher.
func (b *batchConn) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.room.Broadcast()
	deadline := time.NewTimer(closeFlush)
	defer deadline.Stop()
	for len(b.pending) > 0 && b.err == nil {
		b.mu.Unlock()
		select {
		case <-b.flushed:
		case <-b.done:
		case <-deadline.C:
			b.mu.Lock()
			b.pending = nil
			continue
		}
		b.mu.Lock()
	}
	b.mu.Unlock()
	close(b.stop)
	err := b.Conn.Close()
	<-b.done
	return err
}

// SetWriteDeadline is ignored: the flusher sets its own per write.
func (b *batchConn) SetWriteDeadline(time.Time) error { return nil }

// SetDeadline sets only the read deadline; see SetWriteDeadline.
func (b *batchConn) SetDeadline(t time.Time) error { return b.Conn.SetReadDeadline(t) }
