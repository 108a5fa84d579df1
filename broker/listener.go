package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// connectTimeout is how long a new connection has to send its CONNECT
// packet. After CONNECT the client's keepalive sets the deadline.
const connectTimeout = 10 * time.Second

// Lintel serves connections through its own listeners rather than mochi's
// TCP and WebSocket ones. mochi's Close races with connection setup (its
// listener closes clients before it stops accepting, and a connection
// accepted in between registers with the server's wait group while Close is
// already waiting on it; upstream issue 541). These listeners shut down in
// an order that leaves nothing running:
//
//  1. stop accepting and wait for the accept loop to return;
//  2. let mochi send DISCONNECT to the clients it knows (closeClients);
//  3. close every connection still open, including those that have not
//     finished CONNECT, and wait until each connection's goroutine has
//     returned from mochi.
//
// When Close returns, mochi's own wait for its clients has nothing left to
// wait for, and no goroutine of ours calls into mochi again.
var (
	_ listeners.Listener = (*streamListener)(nil)
	_ listeners.Listener = (*wsListener)(nil)
)

// connSet tracks the connections of one listener so Close can end them all
// and wait for their goroutines.
type connSet struct {
	release func(net.Conn) // called by leave: gives back the connection's client slot

	mu     sync.Mutex // guards closed and conns
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // one count per entered connection
}

// enter registers c. It returns false, having closed c, once the set is
// closed; the caller must then not use c.
func (s *connSet) enter(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	if s.conns == nil {
		s.conns = make(map[net.Conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// leave closes c and forgets it. Every successful enter is paired with one
// leave, when the connection's goroutine is done with mochi.
func (s *connSet) leave(c net.Conn) {
	c.Close()
	if s.release != nil {
		s.release(c)
	}
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// closeAll refuses further connections, closes the open ones and waits
// until each has left.
func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// boundAddr is a listener's address once bound, readable from any
// goroutine while Start binds it.
type boundAddr struct{ p atomic.Pointer[string] }

func (b *boundAddr) set(a net.Addr) {
	s := a.String()
	b.p.Store(&s)
}

// get returns the bound address, or configured before the bind.
func (b *boundAddr) get(configured string) string {
	if s := b.p.Load(); s != nil {
		return *s
	}
	return configured
}

// lifecycle is the part of a listener's state shared by Serve and Close.
type lifecycle struct {
	mu      sync.Mutex // guards closed and the Add on serving
	closed  bool
	serving sync.WaitGroup // counts a running Serve
}

// startServing reports whether Serve may run; if so the caller must call
// serving.Done when it returns.
func (l *lifecycle) startServing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.serving.Add(1)
	return true
}

// startClosing reports whether this is the first Close.
func (l *lifecycle) startClosing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.closed = true
	return true
}

func (l *lifecycle) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// streamListener serves MQTT over TCP, or over TLS when tlsConfig is set.
type streamListener struct {
	id        string
	addr      string
	tlsConfig *tls.Config
	log       *slog.Logger

	ln    net.Listener // set by Init, before Serve and Close can run
	bound boundAddr
	life  lifecycle
	conns connSet
}

// newStreamListener makes a listener; release is called with each
// connection once mochi is done with it.
func newStreamListener(id, addr string, tlsConfig *tls.Config, release func(net.Conn)) *streamListener {
	return &streamListener{id: id, addr: addr, tlsConfig: tlsConfig, conns: connSet{release: release}}
}

func (l *streamListener) ID() string { return l.id }

func (l *streamListener) Protocol() string {
	if l.tlsConfig != nil {
		return "mqtts"
	}
	return "mqtt"
}

// Address is the bound address once Init has run.
func (l *streamListener) Address() string { return l.bound.get(l.addr) }

func (l *streamListener) Init(log *slog.Logger) error {
	l.log = log
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return fmt.Errorf("listen %s on %s: %w", l.Protocol(), l.addr, err)
	}
	if l.tlsConfig != nil {
		ln = tls.NewListener(ln, l.tlsConfig)
	}
	l.ln = ln
	l.bound.set(ln.Addr())
	return nil
}

func (l *streamListener) Serve(establish listeners.EstablishFn) {
	if !l.life.startServing() {
		return
	}
	defer l.life.serving.Done()
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.life.isClosed() {
				return
			}
			// Out of file descriptors and the like: wait and try again,
			// as net/http does, rather than spin or give up.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn("broker: accept failed", "listener", l.id, "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !l.conns.enter(c) {
			continue
		}
		go func() {
			defer l.conns.leave(c)
			c.SetReadDeadline(time.Now().Add(connectTimeout)) //nolint:errcheck // a conn that cannot take a deadline fails its first read.
			if err := establish(l.id, c); err != nil && !errors.Is(err, io.EOF) {
				l.log.Debug("broker: connection ended", "listener", l.id, "remote", c.RemoteAddr().String(), "error", err)
			}
		}()
	}
}

func (l *streamListener) Close(closeClients listeners.CloseFn) {
	if !l.life.startClosing() {
		return
	}
	if l.ln != nil {
		l.ln.Close()
	}
	l.life.serving.Wait()
	closeClients(l.id)
	l.conns.closeAll()
}

// wsListener serves MQTT over WebSocket on every path, one binary message
// per MQTT packet write.
type wsListener struct {
	id       string
	addr     string
	maxFrame int64
	log      *slog.Logger

	ln        net.Listener // set by Init
	bound     boundAddr
	srv       *http.Server // set by Init
	upgrader  websocket.Upgrader
	establish listeners.EstablishFn // set by Serve before the server runs
	life      lifecycle
	conns     connSet
}

// newWSListener makes a listener; release is called with each connection
// once mochi is done with it.
func newWSListener(id, addr string, maxPacket int, release func(net.Conn)) *wsListener {
	return &wsListener{
		id:       id,
		addr:     addr,
		conns:    connSet{release: release},
		maxFrame: int64(maxPacket) + 16, // a packet plus its fixed header
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"mqtt"},
			// The default CheckOrigin: clients that send no Origin (MQTT
			// libraries) are accepted; a browser page is accepted only
			// from the broker's own host and port.
		},
	}
}

func (l *wsListener) ID() string       { return l.id }
func (l *wsListener) Protocol() string { return "ws" }

func (l *wsListener) Address() string { return l.bound.get(l.addr) }

func (l *wsListener) Init(log *slog.Logger) error {
	l.log = log
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return fmt.Errorf("listen ws on %s: %w", l.addr, err)
	}
	l.ln = ln
	l.bound.set(ln.Addr())
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.handle),
		ReadHeaderTimeout: connectTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return nil
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.life.mu.Lock()
	l.establish = establish
	l.life.mu.Unlock()
	if !l.life.startServing() {
		return
	}
	defer l.life.serving.Done()
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("broker: websocket listener stopped", "listener", l.id, "error", err)
	}
}

func (l *wsListener) handle(w http.ResponseWriter, r *http.Request) {
	ws, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with an HTTP error
	}
	ws.SetReadLimit(l.maxFrame)
	c := &wsConn{Conn: ws.NetConn(), ws: ws}
	if !l.conns.enter(c) {
		return
	}
	defer l.conns.leave(c)
	l.life.mu.Lock()
	establish := l.establish
	l.life.mu.Unlock()
	c.SetReadDeadline(time.Now().Add(connectTimeout)) //nolint:errcheck // see streamListener.Serve.
	if err := establish(l.id, c); err != nil && !errors.Is(err, io.EOF) {
		l.log.Debug("broker: connection ended", "listener", l.id, "remote", c.RemoteAddr().String(), "error", err)
	}
}

func (l *wsListener) Close(closeClients listeners.CloseFn) {
	if !l.life.startClosing() {
		return
	}
	if l.srv != nil {
		l.srv.Close() // stops accepting; upgraded connections are ours to close
		l.ln.Close()  // in case Serve never ran, so the server never took it
	}
	l.life.serving.Wait()
	closeClients(l.id)
	l.conns.closeAll()
}

// wsConn is a WebSocket connection seen as the byte stream mochi reads MQTT
// from: reads run across binary message boundaries, and each Write is one
// binary message. mochi serialises its writes per client, which is the one
// concurrent writer gorilla/websocket allows.
type wsConn struct {
	net.Conn // the underlying connection: addresses, deadlines, Close
	ws       *websocket.Conn
	r        io.Reader // the current message, nil between messages
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errors.New("broker: websocket: MQTT needs binary messages, got a text message")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}
