package broker_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/topic"
	"github.com/lintel-access/lintel/gateway/logtest"
)

// waitFor bounds every wait on a network peer. Generous: a healthy broker
// answers in milliseconds, so only a broken one ever reaches it.
const waitFor = 10 * time.Second

const gw = "gw1"

// must unwraps a topic builder for ids the test knows are valid:
// must(t)(topic.Status(gw)).
func must(t testing.TB) func(string, error) string {
	return func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// hashes caches bcrypt hashes so tests do not pay for one per case.
var hashes sync.Map

func hash(t testing.TB, password string) string {
	t.Helper()
	if h, ok := hashes.Load(password); ok {
		return h.(string)
	}
	// The lowest cost keeps tests quick under -race; HashPassword's own
	// cost is tested on its own.
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hashes.Store(password, string(h))
	return string(h)
}

// testConfig is a broker on a free loopback port with two accounts:
// "portal", a portal account, may publish changesets (and anything the
// rules leave open) and subscribe to everything of the gateway; "display"
// may only watch events and doors.
func testConfig(t testing.TB) broker.Config {
	return broker.Config{
		GatewayID: gw,
		Listen:    "127.0.0.1:0",
		Clients: []broker.Client{
			{
				Username:     "portal",
				Role:         broker.RolePortal,
				PasswordHash: hash(t, "portal-pass"),
				Publish:      []string{"#"},
				Subscribe:    []string{"lintel/v1/" + gw + "/#"},
			},
			{
				Username:     "display",
				PasswordHash: hash(t, "display-pass"),
				Publish:      []string{"display/#"},
				Subscribe: []string{
					must(t)(topic.EventsFilter(gw)),
					must(t)(topic.DoorsFilter(gw)),
					must(t)(topic.Status(gw)),
					"display/#",
				},
			},
		},
	}
}

// start runs a broker with cfg, logging into the returned buffer, and
// closes it when the test ends.
func start(t testing.TB, cfg broker.Config) (*broker.Broker, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := broker.New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := b.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	return b, logs
}

// client is a paho client with its received messages.
type client struct {
	paho.Client
	got chan paho.Message

	mu   sync.Mutex
	conn net.Conn // the TCP connection, for clients with a will
}

type clientOpts struct {
	url, id, username, password string
	tls                         *tls.Config
	version                     uint   // 3 (3.1), 4 (3.1.1); 0 lets paho choose
	will                        string // a will topic (payload "gone", QoS 1); needs a tcp:// url
}

func dial(t testing.TB, o clientOpts) (*client, error) {
	t.Helper()
	c := &client{got: make(chan paho.Message, 256)}
	opts := paho.NewClientOptions().
		AddBroker(o.url).
		SetClientID(o.id).
		SetUsername(o.username).
		SetPassword(o.password).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(waitFor).
		SetWriteTimeout(waitFor).
		SetTLSConfig(o.tls).
		SetProtocolVersion(o.version).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.got <- m })
	if o.will != "" {
		opts.SetWill(o.will, "gone", 1, false)
		// Keep the connection, so dropConnection can cut it without a
		// DISCONNECT, which is what makes the broker publish the will.
		opts.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			if u.Scheme != "tcp" {
				return nil, fmt.Errorf("a client with a will needs a tcp:// url, got %s", u)
			}
			conn, err := net.DialTimeout("tcp", u.Host, waitFor)
			c.mu.Lock()
			c.conn = conn
			c.mu.Unlock()
			return conn, err
		})
	}
	c.Client = paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(waitFor) {
		return nil, fmt.Errorf("connect %s to %s: no CONNACK in %v", o.id, o.url, waitFor)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// dialWithin connects, trying again until the broker admits the client or
// waitFor has passed. It is for a client that needs the slot of one that
// just left: the broker gives a slot back as it finishes with a
// connection, which a client cannot observe, so each attempt is a CONNECT
// and its CONNACK, never a sleep.
func dialWithin(t testing.TB, o clientOpts) *client {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for attempt := 1; ; attempt++ {
		c, err := dial(t, o)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect %q: still refused after %d attempts in %v: %v", o.id, attempt, waitFor, err)
		}
	}
}

// dropConnection cuts a client's connection the way a crash would: no
// DISCONNECT, so the broker publishes its will.
func (c *client) dropConnection(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		t.Fatal("dropConnection: the client was not dialled with a will")
	}
	c.conn.Close()
}

func mustDial(t testing.TB, o clientOpts) *client {
	t.Helper()
	c, err := dial(t, o)
	if err != nil {
		t.Fatalf("connect %q: %v", o.id, err)
	}
	return c
}

// subscribe subscribes at QoS 1 and returns the SUBACK code.
func (c *client) subscribe(t testing.TB, filter string) byte {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(waitFor) {
		t.Fatalf("subscribe %q: no SUBACK in %v", filter, waitFor)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("subscribe %q: %v", filter, err)
	}
	// paho keys the result by the filter without a "$share/group/" prefix.
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		return code
	}
	t.Fatalf("subscribe %q: SUBACK without a result", filter)
	return 0
}

func (c *client) mustSubscribe(t testing.TB, filter string) {
	t.Helper()
	if code := c.subscribe(t, filter); code > 2 {
		t.Fatalf("subscribe %q: SUBACK code %#x, want a granted QoS", filter, code)
	}
}

func (c *client) publish(t testing.TB, name string, qos byte, payload string) {
	t.Helper()
	tok := c.Publish(name, qos, false, payload)
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("publish %q: no PUBACK (err %v)", name, tok.Error())
	}
}

// next returns the next message the client receives.
func (c *client) next(t testing.TB) paho.Message {
	t.Helper()
	select {
	case m := <-c.got:
		return m
	case <-time.After(waitFor):
		t.Fatalf("received nothing in %v", waitFor)
		return nil
	}
}

// expect checks that the next message is topic/payload.
func (c *client) expect(t testing.TB, name, payload string) {
	t.Helper()
	m := c.next(t)
	if m.Topic() != name || string(m.Payload()) != payload {
		t.Fatalf("received %s %q, want %s %q", m.Topic(), m.Payload(), name, payload)
	}
}

func tcpURL(b *broker.Broker) string { return "tcp://" + b.TCPAddr() }

// needBinary returns the path of an installed program, failing the test
// when it is missing unless -short is set.
func needBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if testing.Short() {
			t.Skipf("%s not installed (skipped under -short)", name)
		}
		t.Fatalf("%s not installed: %v; install mosquitto-clients (Debian: apt-get install mosquitto-clients) or run with -short", name, err)
	}
	return p
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key into dir and
// returns their paths and a pool that trusts the certificate.
func selfSignedCert(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lintel test broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
