// Package sdnotifytest provides a fake systemd notification socket for tests
// of code that reports readiness, watchdog pings and status through
// package sdnotify.
//
// A Socket is a real unixgram socket, so the code under test sends exactly
// what it would send to systemd. Reading is deterministic without timers:
// [Socket.Pending] sends a marker datagram to the socket itself and returns
// every datagram queued before it, which is how a test asserts that nothing
// (say, no WATCHDOG=1 from a hung loop) was sent.
package sdnotifytest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/sdnotify"
)

// readGuard bounds a read that should find its datagram already queued; it
// only turns a bug into a test failure instead of a hung test.
const readGuard = 10 * time.Second

// Socket is a fake notification socket. Its methods must be called from the
// test's goroutine.
type Socket struct {
	addr   string
	conn   *net.UnixConn
	marker string
}

// Listen opens a fake notification socket at a file system path in a fresh
// temporary directory. It is closed when the test ends.
func Listen(tb testing.TB) *Socket {
	tb.Helper()
	// t.TempDir paths can exceed the 108 bytes a socket address holds.
	dir, err := os.MkdirTemp("", "sdnotify")
	if err != nil {
		tb.Fatalf("sdnotifytest: make socket dir: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return listen(tb, filepath.Join(dir, "notify"))
}

// ListenAbstract opens a fake notification socket in the abstract namespace,
// with an address that starts with '@'. It is closed when the test ends.
func ListenAbstract(tb testing.TB) *Socket {
	tb.Helper()
	return listen(tb, "@lintel-sdnotifytest-"+randomHex(tb))
}

func listen(tb testing.TB, addr string) *Socket {
	tb.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		tb.Fatalf("sdnotifytest: listen on %s: %v", addr, err)
	}
	tb.Cleanup(func() { conn.Close() })
	return &Socket{addr: addr, conn: conn, marker: "SDNOTIFYTEST_MARKER=" + randomHex(tb)}
}

func randomHex(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("sdnotifytest: random name: %v", err)
	}
	return hex.EncodeToString(b)
}

// Addr returns the socket's address as systemd would put it in
// $NOTIFY_SOCKET.
func (s *Socket) Addr() string { return s.addr }

// Env returns an sdnotify.Env that points at the socket, with no watchdog.
func (s *Socket) Env() sdnotify.Env { return sdnotify.Env{Socket: s.addr} }

// Notifier returns a Notifier that sends to the socket.
func (s *Socket) Notifier(tb testing.TB) *sdnotify.Notifier {
	tb.Helper()
	n, err := sdnotify.New(s.Env())
	if err != nil {
		tb.Fatalf("sdnotifytest: %v", err)
	}
	return n
}

// Pending returns the datagrams received since the last call, oldest first,
// or nil when there are none.
func (s *Socket) Pending(tb testing.TB) []string {
	tb.Helper()
	self, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: s.addr, Net: "unixgram"})
	if err != nil {
		tb.Fatalf("sdnotifytest: dial %s: %v", s.addr, err)
	}
	defer self.Close()
	if _, err := self.Write([]byte(s.marker)); err != nil {
		tb.Fatalf("sdnotifytest: send marker to %s: %v", s.addr, err)
	}
	var got []string
	buf := make([]byte, 64<<10)
	for {
		if err := s.conn.SetReadDeadline(time.Now().Add(readGuard)); err != nil {
			tb.Fatalf("sdnotifytest: %v", err)
		}
		n, err := s.conn.Read(buf)
		if err != nil {
			tb.Fatalf("sdnotifytest: read from %s: %v", s.addr, err)
		}
		msg := string(buf[:n])
		if msg == s.marker {
			return got
		}
		got = append(got, msg)
	}
}
