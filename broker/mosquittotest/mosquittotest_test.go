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

// nothing checks that no message arrives on got within a short look. It can
// only be trusted beside a positive control on the same broker: the caller
// first shows that a message which should arrive does.
func nothing(t *testing.T, got <-chan string, why string) {
	t.Helper()
	select {
	case p := <-got:
		t.Fatalf("%s: received %q, want nothing", why, p)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestAccountsAndPatternACL(t *testing.T) {
	srv := mosquittotest.StartWith(t, mosquittotest.Config{
		Accounts: map[string]string{"alice": "pa", "bob": "pb", "watcher": "pw"},
		ACL:      "pattern readwrite own/%u/#\nuser watcher\ntopic read own/#\n",
	})
	if _, err := connect(t, srv.URL(), "anon", "", ""); err == nil {
		t.Fatal("an anonymous client connected to a broker with accounts")
	}
	if _, err := connect(t, srv.URL(), "bad", "alice", "pb"); err == nil {
		t.Fatal("alice connected with bob's password")
	}
	watcher := subscribe(t, mustConnect(t, srv.URL(), "w", "watcher", "pw"), "own/#")
	alice := mustConnect(t, srv.URL(), "a", "alice", "pa")
	aliceGot := subscribe(t, alice, "own/bob/#")
	bob := mustConnect(t, srv.URL(), "b", "bob", "pb")

	publish(t, alice, "own/alice/x", "mine")
	receive(t, watcher, "mine")
	publish(t, alice, "own/bob/x", "forged") // mosquitto acknowledges, then drops it
	publish(t, bob, "own/bob/y", "bobs")
	receive(t, watcher, "bobs")
	nothing(t, aliceGot, "alice subscribed to bob's topics")
	nothing(t, watcher, "alice published on bob's topic")
}

func TestIdentityAsUsername(t *testing.T) {
	srv := mosquittotest.StartWith(t, mosquittotest.Config{
		Accounts:           map[string]string{"watcher": "pw"},
		ACL:                "pattern readwrite own/%u/#\nuser watcher\ntopic read own/#\n",
		IdentityAsUsername: true,
	})
	watcher := subscribe(t, mustConnect(t, srv.URL(), "w", "watcher", "pw"), "own/#")
	certFile, keyFile := srv.ClientCert("carol")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{RootCAs: srv.CertPool(), Certificates: []tls.Certificate{cert}}
	carol, err := connectTLS(t, srv.TLSURL(), "c", "", "", tc)
	if err != nil {
		t.Fatalf("connect with carol's certificate: %v", err)
	}
	publish(t, carol, "own/carol/x", "by certificate")
	receive(t, watcher, "by certificate")
	// Over TLS mosquitto 2.0 also closes the connection of a client that
	// publishes outside its ACL, so the PUBACK may never come.
	carol.Publish("own/dave/x", 1, false, "forged").WaitTimeout(waitFor)
	nothing(t, watcher, "carol published on dave's topic")
	if _, err := connectTLS(t, srv.TLSURL(), "nocert", "", "", &tls.Config{RootCAs: srv.CertPool()}); err == nil {
		t.Fatal("a client without a certificate connected to the identity listener")
	}
}

func TestKillThenRestart(t *testing.T) {
	srv := mosquittotest.Start(t)
	lost := make(chan error, 1)
	opts := mqtt.NewClientOptions().AddBroker(srv.URL()).SetClientID("c").
		SetAutoReconnect(false).SetConnectTimeout(waitFor).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	srv.Kill()
	select {
	case <-lost:
	case <-time.After(waitFor):
		t.Fatal("the client kept its connection after Kill")
	}
	if _, err := connect(t, srv.URL(), "while-killed", "", ""); err == nil {
		t.Fatal("connect after Kill succeeded, want refused")
	}
	if srv.Pid() != 0 {
		t.Errorf("Pid() = %d after Kill, want 0", srv.Pid())
	}
	srv.Kill() // a second Kill does nothing
	srv.Restart()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", srv.Pid())); srv.Pid() == 0 || err != nil {
		t.Errorf("Pid() = %d after Restart: %v", srv.Pid(), err)
	}
	sub := subscribe(t, mustConnect(t, srv.URL(), "sub", "", ""), "k/#")
	publish(t, mustConnect(t, srv.URL(), "pub", "", ""), "k/1", "back")
	receive(t, sub, "back")
}

// TestCPU: the broker's CPU time grows with the work it is given, and
// there is none to read while it is stopped.
func TestCPU(t *testing.T) {
	srv := mosquittotest.Start(t)
	before, err := srv.CPU()
	if err != nil {
		t.Fatal(err)
	}
	c := mustConnect(t, srv.URL(), "cpu", "", "")
	after := before
	for sent := 0; after == before; sent += 1000 {
		if sent >= 200_000 {
			t.Fatalf("CPU() = %v after %d QoS 1 publishes, as before them", after, sent)
		}
		var tok mqtt.Token
		for range 1000 {
			tok = c.Publish("cpu/t", 1, false, "x")
		}
		if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		if after, err = srv.CPU(); err != nil {
			t.Fatal(err)
		}
	}
	if after < before {
		t.Errorf("CPU() went from %v to %v", before, after)
	}
	srv.Kill()
	if got, err := srv.CPU(); err == nil {
		t.Errorf("CPU() = %v, nil after Kill, want an error", got)
	}
}
