package uplink_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/lintel-access/lintel/broker/mosquittotest"
	"github.com/lintel-access/lintel/sync/uplink"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

// The cloud brokers Lintel meets speak TLS and WebSockets as often as plain
// MQTT. These tests put a TLS front (requiring a client certificate) or a
// WebSocket front before the test mosquitto, and check events get through
// each and that a certificate problem is reported as one.

// tlsFront accepts TLS connections on a loopback port, requires a client
// certificate signed by the test CA, and relays each to backend. It returns
// the front's address.
func tlsFront(t *testing.T, files uplink.TLSFiles, backend string) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	serveRelay(t, l, backend)
	return l.Addr().String()
}

// serveRelay relays every connection accepted on l to backend until the
// test ends.
func serveRelay(t *testing.T, l net.Listener, backend string) {
	var wg sync.WaitGroup
	// mu guards conns and closed.
	var mu sync.Mutex
	var conns []net.Conn
	closed := false
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			c.Close()
			return false
		}
		conns = append(conns, c)
		return true
	}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			front, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { relay(front, backend, track) })
		}
	})
}

// relay copies between front and a new connection to backend until either
// side closes.
func relay(front net.Conn, backend string, track func(net.Conn) bool) {
	if !track(front) {
		return
	}
	back, err := net.Dial("tcp", backend)
	if err != nil {
		front.Close()
		return
	}
	if !track(back) {
		front.Close()
		return
	}
	var wg sync.WaitGroup
	copyThenClose := func(dst, src net.Conn) {
		io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	wg.Go(func() { copyThenClose(back, front) })
	wg.Go(func() { copyThenClose(front, back) })
	wg.Wait()
}

// wsFront accepts MQTT-over-WebSocket connections on /mqtt and relays each
// to backend. It returns the front's address.
func wsFront(t *testing.T, backend string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := websocket.Upgrader{Subprotocols: []string{"mqtt"}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mqtt" {
			http.NotFound(w, r)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		back, err := net.Dial("tcp", backend)
		if err != nil {
			return
		}
		defer back.Close()
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := back.Read(buf)
				if n > 0 && ws.WriteMessage(websocket.BinaryMessage, buf[:n]) != nil {
					ws.Close()
					return
				}
				if err != nil {
					ws.Close()
					return
				}
			}
		}()
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if _, err := back.Write(msg); err != nil {
				return
			}
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func TestTransports(t *testing.T) {
	srv := mosquittotest.Start(t)
	files := uplink.WriteTLSFiles(t)
	tlsAddr := tlsFront(t, files, srv.Addr())
	wsAddr := wsFront(t, srv.Addr())

	tests := []struct {
		name string
		cfg  func(uplink.Config) uplink.Config
	}{
		{"ssl with a client certificate", func(c uplink.Config) uplink.Config {
			c.URL, c.CAFile, c.CertFile, c.KeyFile = "ssl://"+tlsAddr, files.CA, files.Cert, files.Key
			return c
		}},
		{"tls by host name", func(c uplink.Config) uplink.Config {
			_, port, _ := net.SplitHostPort(tlsAddr)
			c.URL, c.CAFile, c.CertFile, c.KeyFile = "tls://localhost:"+port, files.CA, files.Cert, files.Key
			return c
		}},
		{"ws", func(c uplink.Config) uplink.Config {
			c.URL = "ws://" + wsAddr + "/mqtt"
			return c
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub := uplinktest.Subscribe(t, srv.URL(), eventsFilter)
			j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
			appendEvents(j, 300)
			start(t, tc.cfg(testConfig(srv.URL())), j, c, nil)
			msgs := delivered(t, sub, 300)
			checkIntact(t, j, msgs)
		})
	}
}

func TestTLSRefused(t *testing.T) {
	srv := mosquittotest.Start(t)
	files := uplink.WriteTLSFiles(t)
	other := uplink.WriteTLSFiles(t) // a CA the front does not use
	tlsAddr := tlsFront(t, files, srv.Addr())

	tests := []struct {
		name string
		cfg  uplink.Config
		want string
	}{
		{"server certificate from an unknown CA", uplink.Config{URL: "ssl://" + tlsAddr, CAFile: other.CA, CertFile: files.Cert, KeyFile: files.Key},
			"TLS handshake: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"no client certificate", uplink.Config{URL: "ssl://" + tlsAddr, CAFile: files.CA},
			"certificate required"},
		{"client certificate from an unknown CA", uplink.Config{URL: "ssl://" + tlsAddr, CAFile: files.CA, CertFile: other.Cert, KeyFile: other.Key},
			"unknown certificate authority"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig("")
			cfg.URL, cfg.CAFile, cfg.CertFile, cfg.KeyFile = tc.cfg.URL, tc.cfg.CAFile, tc.cfg.CertFile, tc.cfg.KeyFile
			j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
			appendEvents(j, 1)
			u := start(t, cfg, j, c, nil)
			eventually(t, "a TLS error in the state", func() bool {
				return strings.Contains(u.State().LastError, tc.want)
			})
			if st := u.State(); st.Connected || st.Cursor != 0 {
				t.Errorf("State() = %+v, want never connected", st)
			}
		})
	}
}

func TestPasswordFile(t *testing.T) {
	srv := mosquittotest.StartWith(t, mosquittotest.Config{Username: gw, Password: "from a file"})
	dir := t.TempDir()
	tests := []struct {
		name, content string
		wantConnect   bool
	}{
		{"right password", "from a file\n", true},
		{"wrong password", "not it\n", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(srv.URL())
			cfg.Username = gw
			cfg.PasswordFile = filepath.Join(dir, fmt.Sprintf("password%d", i))
			if err := os.WriteFile(cfg.PasswordFile, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
			appendEvents(j, 10)
			u := start(t, cfg, j, c, nil)
			if tc.wantConnect {
				eventually(t, "every event acknowledged by the broker", func() bool { return u.State().Cursor == 10 })
				return
			}
			eventually(t, "the broker's refusal in the state", func() bool {
				return strings.Contains(u.State().LastError, "not Authorized")
			})
			if st := u.State(); st.Connected || st.Cursor != 0 {
				t.Errorf("State() = %+v, want never connected", st)
			}
		})
	}
}
