package uplink

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// quickAckOption reads TCP_QUICKACK of c's socket: 1 while the kernel
// acknowledges at once, 0 while it delays ACKs.
func quickAckOption(t *testing.T, c syscall.Conn) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// setQuickAck sets TCP_QUICKACK of c's socket to v (0 puts the socket in
// delayed-ACK mode).
func setQuickAck(t *testing.T, c syscall.Conn, v int) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, v) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
}

// TestQuickAckRearmsAfterEveryRead runs over a real loopback TCP connection:
// the wrapper sets TCP_QUICKACK when it is made and again after each read
// that returns data, even when the socket was put back into delayed-ACK
// mode in between, as the kernel does by itself.
func TestQuickAckRearmsAfterEveryRead(t *testing.T) {
	client, server := tcpPair(t)
	tc := client.(*net.TCPConn)
	setQuickAck(t, tc, 0)
	q := quickAck(client)
	if _, ok := q.(*quickAckConn); !ok {
		t.Fatalf("quickAck(%T) = %T, want a *quickAckConn", client, q)
	}
	if got := quickAckOption(t, tc); got != 1 {
		t.Fatalf("TCP_QUICKACK after wrapping = %d, want 1", got)
	}
	buf := make([]byte, 16)
	for i := range 3 {
		setQuickAck(t, tc, 0)
		if got := quickAckOption(t, tc); got != 0 {
			t.Fatalf("read %d: TCP_QUICKACK = %d after clearing it, want 0", i, got)
		}
		if _, err := server.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(q, buf[:4]); err != nil {
			t.Fatal(err)
		}
		if got := quickAckOption(t, tc); got != 1 {
			t.Errorf("read %d: TCP_QUICKACK after a read = %d, want 1", i, got)
		}
	}
}

// TestQuickAckKeepsTheStream: bytes written both ways through the wrapper
// arrive whole and in order, deadlines still apply to reads, and Close
// closes the connection.
func TestQuickAckKeepsTheStream(t *testing.T) {
	client, server := tcpPair(t)
	q := quickAck(client)
	want := make([]byte, 4<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	echoed := make(chan error, 1)
	go func() { // the server echoes everything back
		_, err := io.Copy(server, server)
		echoed <- err
	}()
	written := make(chan error, 1)
	go func() {
		for p := want; len(p) > 0; {
			n := min(len(p), 1+len(p)%3001)
			if _, err := q.Write(p[:n]); err != nil {
				written <- err
				return
			}
			p = p[n:]
		}
		written <- nil
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(q, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-written; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes read back differ from the bytes written")
	}

	if err := q.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Read(got[:1]); !isTimeout(err) {
		t.Errorf("read past its deadline: %v, want a timeout", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-echoed; err != nil {
		t.Errorf("the server saw %v, want the connection closed cleanly", err)
	}
	if _, err := q.Write([]byte("x")); err == nil {
		t.Error("write after Close succeeded")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestQuickAckLeavesOtherConnections: a connection that is not TCP is
// returned as it is.
func TestQuickAckLeavesOtherConnections(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := quickAck(a); got != a {
		t.Errorf("quickAck(net.Pipe) = %T, want the pipe itself", got)
	}
}

// TestQuickAckBulkMode: in bulk mode reads leave the kernel's delayed ACKs
// alone; leaving it acknowledges at once again, right away and after each
// read.
func TestQuickAckBulkMode(t *testing.T) {
	client, server := tcpPair(t)
	tc := client.(*net.TCPConn)
	q := quickAck(client).(*quickAckConn)
	q.setBulk(true)
	buf := make([]byte, 4)
	setQuickAck(t, tc, 0)
	if _, err := server.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(q, buf); err != nil {
		t.Fatal(err)
	}
	if got := quickAckOption(t, tc); got != 0 {
		t.Errorf("TCP_QUICKACK after a read in bulk mode = %d, want 0 (left to the kernel)", got)
	}
	q.setBulk(false)
	if got := quickAckOption(t, tc); got != 1 {
		t.Errorf("TCP_QUICKACK on leaving bulk mode = %d, want 1", got)
	}
	setQuickAck(t, tc, 0)
	if _, err := server.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(q, buf); err != nil {
		t.Fatal(err)
	}
	if got := quickAckOption(t, tc); got != 1 {
		t.Errorf("TCP_QUICKACK after a read out of bulk mode = %d, want 1", got)
	}
}
