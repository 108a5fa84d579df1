package mosquittotest_test

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lintel-access/lintel/broker/mosquittotest"
)

// waitFor bounds every wait on the real broker. It is generous: a healthy
// mosquitto answers in milliseconds, so only a broken one ever reaches it.
const waitFor = 10 * time.Second

func connect(t *testing.T, url, id, username, password string) (mqtt.Client, error) {
	t.Helper()
	return connectTLS(t, url, id, username, password, nil)
}

func connectTLS(t *testing.T, url, id, username, password string, tc *tls.Config) (mqtt.Client, error) {
	t.Helper()
	opts := mqtt.NewClientOptions().
		SetTLSConfig(tc).
		AddBroker(url).
		SetClientID(id).
		SetUsername(username).
		SetPassword(password).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(waitFor)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(waitFor) {
		return nil, fmt.Errorf("connect to %s: no answer in %v", url, waitFor)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func mustConnect(t *testing.T, url, id, username, password string) mqtt.Client {
	t.Helper()
	c, err := connect(t, url, id, username, password)
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

func subscribe(t *testing.T, c mqtt.Client, filter string) <-chan string {
	t.Helper()
	got := make(chan string, 16)
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) })
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("subscribe %q: %v", filter, tok.Error())
	}
	return got
}

func publish(t *testing.T, c mqtt.Client, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("publish %q: no PUBACK (err %v)", topic, tok.Error())
	}
}

func receive(t *testing.T, got <-chan string, want string) {
	t.Helper()
	select {
	case p := <-got:
		if p != want {
			t.Fatalf("received %q, want %q", p, want)
		}
	case <-time.After(waitFor):
		t.Fatalf("received nothing in %v, want %q", waitFor, want)
	}
}

func TestStartDeliversAndRestartKeepsAddress(t *testing.T) {
	srv := mosquittotest.Start(t)
	if !strings.HasPrefix(srv.URL(), "tcp://127.0.0.1:") {
		t.Fatalf("URL() = %q, want tcp://127.0.0.1:port", srv.URL())
	}
	sub := mustConnect(t, srv.URL(), "sub", "", "")
	got := subscribe(t, sub, "t/#")
	pub := mustConnect(t, srv.URL(), "pub", "", "")
	publish(t, pub, "t/1", "before")
	receive(t, got, "before")

	addr := srv.Addr()
	srv.Stop()
	if _, err := connect(t, srv.URL(), "while-stopped", "", ""); err == nil {
		t.Fatalf("connect while stopped succeeded, want refused")
	}
	srv.Restart()
	if srv.Addr() != addr {
		t.Fatalf("Addr() after Restart = %q, want %q", srv.Addr(), addr)
	}
	sub = mustConnect(t, srv.URL(), "sub2", "", "")
	got = subscribe(t, sub, "t/#")
	pub = mustConnect(t, srv.URL(), "pub2", "", "")
	publish(t, pub, "t/2", "after")
	receive(t, got, "after")
}

func TestStartWithPasswordRefusesOthers(t *testing.T) {
	srv := mosquittotest.StartWith(t, mosquittotest.Config{Username: "cloud", Password: "s3cret pass"})
	tests := []struct {
		name, username, password string
		wantErr                  bool
	}{
		{"right password", "cloud", "s3cret pass", false},
		{"wrong password", "cloud", "s3cret", true},
		{"unknown user", "other", "s3cret pass", true},
		{"anonymous", "", "", true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := connect(t, srv.URL(), fmt.Sprintf("c%d", i), tc.username, tc.password)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("connect error = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestPersistKeepsRetainedAcrossRestart(t *testing.T) {
	srv := mosquittotest.StartWith(t, mosquittotest.Config{Persist: true})
	pub := mustConnect(t, srv.URL(), "pub", "", "")
	tok := pub.Publish("r/1", 1, true, "kept")
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("publish retained: %v", tok.Error())
	}
	pub.Disconnect(0)
	srv.Restart()
	sub := mustConnect(t, srv.URL(), "sub", "", "")
	receive(t, subscribe(t, sub, "r/1"), "kept")
}

func TestStallHoldsPublishUntilResume(t *testing.T) {
	srv := mosquittotest.Start(t)
	pub := mustConnect(t, srv.URL(), "pub", "", "")
	srv.Stall()
	tok := pub.Publish("s/1", 1, false, "held")
	// While the broker is frozen no PUBACK can come; a short look is enough
	// to catch a Stall that did nothing, and cannot fail spuriously.
	if tok.WaitTimeout(200 * time.Millisecond) {
		t.Fatalf("publish completed while stalled (err %v), want it held", tok.Error())
	}
	srv.Resume()
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("publish after Resume: no PUBACK (err %v)", tok.Error())
	}
}

func TestBinaryReportsMissingMosquitto(t *testing.T) {
	t.Setenv("MOSQUITTO", "/nonexistent/mosquitto")
	_, err := mosquittotest.Binary()
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/mosquitto") {
		t.Fatalf("Binary() error = %v, want one naming $MOSQUITTO's path", err)
	}
}

func TestTLSListener(t *testing.T) {
	srv := mosquittotest.StartWith(t, mosquittotest.Config{TLS: true})
	if !strings.HasPrefix(srv.TLSURL(), "ssl://127.0.0.1:") || srv.TLSAddr() == srv.Addr() {
		t.Fatalf("TLSURL() = %q beside Addr() %q, want a listener of its own", srv.TLSURL(), srv.Addr())
	}
	if _, err := os.Stat(srv.CAFile()); err != nil {
		t.Fatalf("CAFile: %v", err)
	}
	c, err := connectTLS(t, srv.TLSURL(), "tls", "", "", &tls.Config{RootCAs: srv.CertPool()})
	if err != nil {
		t.Fatalf("connect over TLS: %v", err)
	}
	got := subscribe(t, c, "t/#")
	publish(t, c, "t/1", "secure")
	receive(t, got, "secure")
	if _, err := connectTLS(t, srv.TLSURL(), "untrusting", "", "", &tls.Config{}); err == nil {
		t.Fatal("a client that does not trust the test CA connected")
	}
	addr := srv.TLSAddr()
	srv.Restart()
	if srv.TLSAddr() != addr {
		t.Fatalf("TLSAddr() after Restart = %q, want %q", srv.TLSAddr(), addr)
	}
	if _, err := connectTLS(t, srv.TLSURL(), "after-restart", "", "", &tls.Config{RootCAs: srv.CertPool()}); err != nil {
		t.Fatalf("connect over TLS after Restart: %v", err)
	}
}

func TestRequireClientCert(t *testing.T) {
	srv := mosquittotest.StartWith(t, mosquittotest.Config{RequireClientCert: true})
	if _, err := connectTLS(t, srv.TLSURL(), "no-cert", "", "", &tls.Config{RootCAs: srv.CertPool()}); err == nil {
		t.Fatal("a client without a certificate connected")
	}
	certFile, keyFile := srv.ClientCert("gw1")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connectTLS(t, srv.TLSURL(), "with-cert", "", "", &tls.Config{RootCAs: srv.CertPool(), Certificates: []tls.Certificate{cert}}); err != nil {
		t.Fatalf("connect with a client certificate: %v", err)
	}
}
