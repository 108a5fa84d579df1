package uplink

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestBatchConnOrder: bytes written in many small and some large writes,
// with paho's write deadlines in between, arrive whole and in order, and
// Close lets the pending ones out before closing.
func TestBatchConnOrder(t *testing.T) {
	client, server := tcpPair(t)
	b := newBatchConn(client, time.Minute)
	got := make(chan []byte, 1)
	go func() {
		all, _ := io.ReadAll(server)
		got <- all
	}()
	var want bytes.Buffer
	for i := range 5000 {
		size := 1 + i%300
		if i%1000 == 999 {
			size = maxPending + 1000 // larger than the whole buffer
		}
		p := bytes.Repeat([]byte{byte(i)}, size)
		want.Write(p)
		if err := b.SetWriteDeadline(time.Unix(1, 0)); err != nil { // long past: must not apply
			t.Fatal(err)
		}
		if n, err := b.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write #%d = %d, %v; want %d, nil", i, n, err, len(p))
		}
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	all := <-got
	if !bytes.Equal(all, want.Bytes()) {
		t.Fatalf("received %d bytes, want %d; equal prefix %d", len(all), want.Len(), commonPrefix(all, want.Bytes()))
	}
	if _, err := b.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v, want net.ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// TestBatchConnReads: reads see the peer's bytes through the buffer.
func TestBatchConnReads(t *testing.T) {
	client, server := tcpPair(t)
	b := newBatchConn(client, time.Minute)
	defer b.Close()
	go func() {
		for i := range 1000 {
			server.Write([]byte{0x40, 0x02, 0x00, byte(i)}) // a PUBACK
		}
		server.Close()
	}()
	all, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4000 || all[3999] != byte(999%256) {
		t.Fatalf("read %d bytes ending %x, want 4000 ending e7", len(all), all[len(all)-1:])
	}
}

// TestBatchConnPeerGone: once the peer has gone, writes fail (the flusher's
// write error is reported by a later Write) and the connection is closed
// for readers too.
func TestBatchConnPeerGone(t *testing.T) {
	client, server := tcpPair(t)
	b := newBatchConn(client, time.Minute)
	defer b.Close()
	server.(*net.TCPConn).SetLinger(0) // reset rather than a polite close
	server.Close()
	deadline := time.NewTimer(time.Minute) // a real socket: generous
	defer deadline.Stop()
	var err error
	for err == nil {
		if _, err = b.Write(make([]byte, 1024)); err != nil {
			break
		}
		select { // the flusher has tried the write (or given up)
		case <-b.flushed:
		case <-b.done:
		case <-deadline.C:
			t.Fatal("Write kept succeeding after the peer reset the connection")
		}
	}
	if _, rerr := b.Read(make([]byte, 1)); rerr == nil {
		t.Errorf("Read succeeded after the write error")
	}
}
