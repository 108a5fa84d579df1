package uplink

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TLSFiles are PEM files for TLS tests: a CA, a server certificate for
// 127.0.0.1 and a client certificate signed by it with their keys, an
// unrelated key and a file that is not PEM. Exported for the package's
// external tests.
type TLSFiles struct {
	CA, Cert, Key, ServerCert, ServerKey, OtherKey, Garbage string
}

// WriteTLSFiles writes a fresh set of TLSFiles into a temporary directory.
func WriteTLSFiles(t *testing.T) TLSFiles {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	caKey, clientKey, serverKey := newKey(), newKey(), newKey()
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lintel test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clientTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gw-test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, clientTmpl, caTmpl, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	serverTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "cloud broker"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTmpl, caTmpl, &serverKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return TLSFiles{
		CA:         write("ca.pem", "CERTIFICATE", caDER),
		Cert:       write("client.pem", "CERTIFICATE", clientDER),
		Key:        write("client.key", "EC PRIVATE KEY", keyDER(clientKey)),
		ServerCert: write("server.pem", "CERTIFICATE", serverDER),
		ServerKey:  write("server.key", "EC PRIVATE KEY", keyDER(serverKey)),
		OtherKey:   write("other.key", "EC PRIVATE KEY", keyDER(newKey())),
		Garbage:    garbage,
	}
}

// configCases are Validate's table; the URL cases also seed the fuzzer.
func configCases(f TLSFiles) []struct {
	name string
	cfg  Config
	want string // error prefix; "" for valid
} {
	missing := filepath.Join(filepath.Dir(f.CA), "missing.pem")
	return []struct {
		name string
		cfg  Config
		want string
	}{
		{"tcp", Config{URL: "tcp://broker.example.com:1883"}, ""},
		{"tcp default port", Config{URL: "tcp://broker.example.com"}, ""},
		{"ipv6", Config{URL: "tcp://[::1]:1883"}, ""},
		{"ssl", Config{URL: "ssl://broker.example.com"}, ""},
		{"tls", Config{URL: "tls://broker.example.com:8883"}, ""},
		{"ws with path", Config{URL: "ws://broker.example.com:8080/mqtt"}, ""},
		{"wss", Config{URL: "wss://broker.example.com/mqtt"}, ""},
		{"empty", Config{}, "uplink.url: required"},
		{"blank", Config{URL: "  "}, "uplink.url: required"},
		{"http", Config{URL: "http://broker.example.com"}, `uplink.url: unsupported scheme "http"`},
		{"mqtt", Config{URL: "mqtt://broker.example.com"}, `uplink.url: unsupported scheme "mqtt"`},
		{"no scheme", Config{URL: "broker.example.com"}, `uplink.url: "broker.example.com" has no scheme`},
		{"host:port without scheme", Config{URL: "broker.example.com:1883"}, `uplink.url: unsupported scheme "broker.example.com"`},
		{"opaque", Config{URL: "tcp:broker.example.com"}, `uplink.url: "tcp:broker.example.com": write tcp://host:port`},
		{"no host", Config{URL: "tcp://"}, `uplink.url: "tcp://" has no host`},
		{"port only", Config{URL: "tcp://:1883"}, `uplink.url: "tcp://:1883" has no host`},
		{"empty port", Config{URL: "tcp://broker.example.com:"}, `uplink.url: "tcp://broker.example.com:" has an empty port`},
		{"port zero", Config{URL: "tcp://broker.example.com:0"}, `uplink.url: port "0" is not a number from 1 to 65535`},
		{"port too big", Config{URL: "tcp://broker.example.com:65536"}, `uplink.url: port "65536" is not a number from 1 to 65535`},
		{"bad port", Config{URL: "tcp://broker.example.com:mqtt"}, `uplink.url: "tcp://broker.example.com:mqtt" is not a URL: invalid port`},
		{"credentials", Config{URL: "tcp://gw:s3cret@broker.example.com"}, "uplink.url: must not carry credentials; use uplink.username and uplink.password"},
		{"credentials in a bad URL", Config{URL: "tcp://gw:s3cret@broker.example.com:x"}, `uplink.url: "tcp://REDACTED@broker.example.com:x" is not a URL`},
		{"path on tcp", Config{URL: "tcp://broker.example.com/mqtt"}, `uplink.url: a path ("/mqtt") is only meaningful for ws:// and wss://`},
		{"query on ssl", Config{URL: "ssl://broker.example.com?x=1"}, `uplink.url: a query ("x=1") is only meaningful for ws:// and wss://`},
		{"fragment", Config{URL: "ws://broker.example.com/#x"}, `uplink.url: a fragment ("x") has no meaning for a broker`},
		{"IPv6 without brackets", Config{URL: "tcp://::1"}, `uplink.url: "tcp://::1": an IPv6 address must be in brackets`},
		{"name in brackets", Config{URL: "tcp://[broker]:1883"}, `uplink.url: "tcp://[broker]:1883"`},
		{"IPv4 in brackets", Config{URL: "tcp://[10.0.0.1]:1883"}, `uplink.url: "tcp://[10.0.0.1]:1883" is not a URL: invalid IP-literal`},
		{"international name", Config{URL: "tcp://bröker.example.com"}, `uplink.url: "tcp://bröker.example.com": host "bröker.example.com": 'ö' is not allowed`},
		{"control character", Config{URL: "tcp://broker\x7f.example.com"}, `uplink.url: "tcp://broker\x7f.example.com" is not a URL`},

		{"user and password", Config{URL: "tcp://b:1", Username: "gw", Password: "pw"}, ""},
		{"password alone", Config{URL: "tcp://b:1", Password: "pw"}, "uplink.password: set without uplink.username"},
		{"client id with NUL", Config{URL: "tcp://b:1", ClientID: "gw\x00"}, "uplink.client_id: contains a NUL character"},
		{"username not UTF-8", Config{URL: "tcp://b:1", Username: "gw\xff"}, "uplink.username: not valid UTF-8"},

		{"CA file", Config{URL: "ssl://b:1", CAFile: f.CA}, ""},
		{"client certificate", Config{URL: "wss://b:1/mqtt", CAFile: f.CA, CertFile: f.Cert, KeyFile: f.Key}, ""},
		{"CA file on tcp", Config{URL: "tcp://b:1", CAFile: f.CA}, `uplink.ca_file: set, but uplink.url scheme "tcp" does not use TLS`},
		{"certificate on ws", Config{URL: "ws://b:1", CertFile: f.Cert, KeyFile: f.Key}, `uplink.cert_file: set, but uplink.url scheme "ws" does not use TLS`},
		{"CA file missing", Config{URL: "ssl://b:1", CAFile: missing}, "uplink.ca_file: open " + missing + ": no such file or directory"},
		{"CA file not PEM", Config{URL: "ssl://b:1", CAFile: f.Garbage}, "uplink.ca_file: " + f.Garbage + " holds no PEM certificate"},
		{"certificate without key", Config{URL: "ssl://b:1", CertFile: f.Cert}, "uplink.key_file: required when uplink.cert_file is set"},
		{"key without certificate", Config{URL: "ssl://b:1", KeyFile: f.Key}, "uplink.cert_file: required when uplink.key_file is set"},
		{"certificate missing", Config{URL: "ssl://b:1", CertFile: missing, KeyFile: f.Key}, "uplink.cert_file, uplink.key_file: load " + missing + " and " + f.Key + ": open " + missing},
		{"key does not match", Config{URL: "ssl://b:1", CertFile: f.Cert, KeyFile: f.OtherKey}, "uplink.cert_file, uplink.key_file: load " + f.Cert + " and " + f.OtherKey + ": tls: private key does not match public key"},
		{"certificate not PEM", Config{URL: "ssl://b:1", CertFile: f.Garbage, KeyFile: f.Key}, "uplink.cert_file, uplink.key_file: load " + f.Garbage},

		{"durations", Config{URL: "tcp://b:1", KeepAlive: 5 * time.Second, ConnectTimeout: time.Second, AckTimeout: time.Second, BackoffMin: time.Millisecond, BackoffMax: time.Second, Window: 1}, ""},
		{"negative keepalive", Config{URL: "tcp://b:1", KeepAlive: -time.Second}, "uplink.keepalive: must not be negative, got -1s"},
		{"negative ack timeout", Config{URL: "tcp://b:1", AckTimeout: -1}, "uplink.ack_timeout: must not be negative, got -1ns"},
		{"keepalive fraction", Config{URL: "tcp://b:1", KeepAlive: 1500 * time.Millisecond}, "uplink.keepalive: must be whole seconds, at least 1s, got 1.5s"},
		{"keepalive too short", Config{URL: "tcp://b:1", KeepAlive: time.Millisecond}, "uplink.keepalive: must be whole seconds, at least 1s, got 1ms"},
		{"keepalive too long", Config{URL: "tcp://b:1", KeepAlive: 65536 * time.Second}, "uplink.keepalive: at most 18h12m15s (65535 s), got 18h12m16s"},
		{"backoff inverted", Config{URL: "tcp://b:1", BackoffMin: 2 * time.Second, BackoffMax: time.Second}, "uplink.backoff_max: 1s is below uplink.backoff_min 2s"},
		{"backoff min above default max", Config{URL: "tcp://b:1", BackoffMin: 2 * time.Minute}, ""},
		{"window negative", Config{URL: "tcp://b:1", Window: -1}, "uplink.window: must be between 1 and 10000 (0 for 256), got -1"},
		{"window too big", Config{URL: "tcp://b:1", Window: 10001}, "uplink.window: must be between 1 and 10000 (0 for 256), got 10001"},
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range configCases(WriteTLSFiles(t)) {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error starting %q", tc.want)
			case tc.want != "" && !strings.HasPrefix(err.Error(), tc.want):
				t.Fatalf("Validate() = %q, want an error starting %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Validate() = %q reveals the password", err)
			}
		})
	}
}

func TestConfigBrokerURL(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"tcp://b", "tcp://b:1883"},
		{"tcp://b:1884", "tcp://b:1884"},
		{"tcp://b/", "tcp://b:1883"},
		{"ssl://b", "ssl://b:8883"},
		{"tls://b", "tls://b:8883"},
		{"ws://b", "ws://b:80"},
		{"ws://b/mqtt", "ws://b:80/mqtt"},
		{"wss://b/mqtt?token=x", "wss://b:443/mqtt?token=x"},
		{"tcp://[::1]", "tcp://[::1]:1883"},
		{"tcp://[fe80::1%25eth0]:1883", "tcp://[fe80::1%25eth0]:1883"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			u, err := Config{URL: tc.url}.brokerURL()
			if err != nil {
				t.Fatalf("brokerURL(%q) = %v", tc.url, err)
			}
			if got := u.String(); got != tc.want {
				t.Errorf("brokerURL(%q) = %q, want %q", tc.url, got, tc.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	got := Config{URL: "tcp://b"}.withDefaults()
	want := Config{
		URL: "tcp://b", KeepAlive: 30 * time.Second, ConnectTimeout: 10 * time.Second,
		AckTimeout: 30 * time.Second, BackoffMin: 500 * time.Millisecond, BackoffMax: time.Minute, Window: 256,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("withDefaults() mismatch (-want +got):\n%s", diff)
	}
}

// FuzzConfigURL checks that any URL either fails with an error naming
// uplink.url, or normalises to a URL that is itself valid and normalises
// to itself, with the default port filled in.
func FuzzConfigURL(f *testing.F) {
	for _, tc := range configCases(TLSFiles{}) {
		f.Add(tc.cfg.URL)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Config{URL: s}
		u, err := c.brokerURL()
		if err != nil {
			if !strings.HasPrefix(err.Error(), "uplink.url: ") {
				t.Fatalf("brokerURL(%q) = %q: does not name the key", s, err)
			}
			if verr := c.Validate(); verr == nil || verr.Error() != err.Error() {
				t.Fatalf("Validate() = %v, brokerURL() = %v: disagree", verr, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("brokerURL(%q) accepted it but Validate() = %v", s, err)
		}
		if u.Port() == "" || u.Hostname() == "" {
			t.Fatalf("brokerURL(%q) = %q: no host or port", s, u)
		}
		if _, ok := schemes[u.Scheme]; !ok {
			t.Fatalf("brokerURL(%q) = %q: scheme %q accepted", s, u, u.Scheme)
		}
		if u.User != nil {
			t.Fatalf("brokerURL(%q) = %q: carries credentials", s, u)
		}
		again, err := Config{URL: u.String()}.brokerURL()
		if err != nil {
			t.Fatalf("brokerURL(%q) = %q, which is refused: %v", s, u, err)
		}
		if again.String() != u.String() {
			t.Fatalf("brokerURL(%q) = %q, normalised again to %q", s, u, again)
		}
	})
}

func TestConfigPasswordFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing")
	long := strings.Repeat("x", maxPassword+1)
	tests := []struct {
		name    string
		cfg     Config
		want    string // the password read
		wantErr string // error prefix; "" for none
	}{
		{"no file", Config{Username: "gw", Password: "s3cret"}, "s3cret", ""},
		{"trailing newline", Config{Username: "gw", PasswordFile: write("nl", "s3cret\n")}, "s3cret", ""},
		{"trailing CRLF", Config{Username: "gw", PasswordFile: write("crlf", "s3cret\r\n")}, "s3cret", ""},
		{"no newline", Config{Username: "gw", PasswordFile: write("bare", "s3cret")}, "s3cret", ""},
		{"spaces kept", Config{Username: "gw", PasswordFile: write("spaces", " s3cret \n")}, " s3cret ", ""},
		{"longest", Config{Username: "gw", PasswordFile: write("longest", long[1:]+"\n")}, long[1:], ""},
		{"with password too", Config{Username: "gw", Password: "s3cret", PasswordFile: write("both", "s3cret\n")}, "",
			"uplink.password_file: set together with uplink.password; give the password one way or the other"},
		{"without username", Config{PasswordFile: write("nouser", "s3cret\n")}, "",
			"uplink.password_file: set without uplink.username"},
		{"missing", Config{Username: "gw", PasswordFile: missing}, "",
			"uplink.password_file: open " + missing + ": no such file or directory"},
		{"a directory", Config{Username: "gw", PasswordFile: dir}, "",
			"uplink.password_file: read " + dir + ": is a directory"},
		{"empty", Config{Username: "gw", PasswordFile: write("empty", "")}, "",
			"uplink.password_file: " + filepath.Join(dir, "empty") + " is empty"},
		{"only a newline", Config{Username: "gw", PasswordFile: write("newline", "\n")}, "",
			"uplink.password_file: " + filepath.Join(dir, "newline") + " is empty"},
		{"two lines", Config{Username: "gw", PasswordFile: write("two", "s3cret\nmore\n")}, "",
			"uplink.password_file: " + filepath.Join(dir, "two") + " holds more than one line"},
		{"two newlines", Config{Username: "gw", PasswordFile: write("twonl", "s3cret\n\n")}, "",
			"uplink.password_file: " + filepath.Join(dir, "twonl") + " holds more than one line"},
		{"too long", Config{Username: "gw", PasswordFile: write("long", long)}, "",
			"uplink.password_file: " + filepath.Join(dir, "long") + " is longer than MQTT's 65535 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.URL = "tcp://b:1"
			got, err := tc.cfg.password()
			verr := tc.cfg.Validate()
			switch {
			case tc.wantErr == "" && (err != nil || verr != nil):
				t.Fatalf("password() = %v, Validate() = %v; want no error", err, verr)
			case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)):
				t.Fatalf("password() error = %v, want one starting %q", err, tc.wantErr)
			case tc.wantErr != "" && (verr == nil || verr.Error() != err.Error()):
				t.Fatalf("Validate() = %v, want the same error as password(): %v", verr, err)
			}
			if got != tc.want {
				t.Errorf("password() = %q, want %q", got, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

// TestWarningsPlainTextUplink checks that a plain-text uplink to another
// machine is warned about, and TLS or a broker on loopback is not.
func TestWarningsPlainTextUplink(t *testing.T) {
	for _, tc := range []struct {
		url  string
		warn bool
	}{
		{"tcp://broker.example.com:1883", true},
		{"ws://broker.example.com/mqtt", true},
		{"tcp://192.0.2.10:1883", true},
		{"ssl://broker.example.com:8883", false},
		{"wss://broker.example.com/mqtt", false},
		{"tcp://127.0.0.1:1883", false},
		{"tcp://localhost:1883", false},
		{"tcp://[::1]:1883", false},
	} {
		t.Run(tc.url, func(t *testing.T) {
			ws := Config{URL: tc.url}.Warnings()
			if got := len(ws) > 0; got != tc.warn {
				t.Fatalf("got warnings %v, want a warning %v", ws, tc.warn)
			}
			if tc.warn && !strings.HasPrefix(ws[0].Error(), "uplink.url: ") {
				t.Errorf("got %q, want it to name uplink.url", ws[0])
			}
		})
	}
}
