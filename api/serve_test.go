package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/apitest"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lintel test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServe runs the server on a real listener, plain and with TLS, and
// checks it stops cleanly when its context ends.
func TestServe(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	tests := []struct {
		name   string
		tls    bool
		scheme string
	}{
		{"plain", false, "http"},
		{"tls", true, "https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := api.Config{Tokens: testTokens}
			client := &http.Client{Timeout: 10 * time.Second}
			if tc.tls {
				cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
				client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
			}
			s, err := api.New(cfg, apitest.New(nil), nil)
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, ln) }()

			resp, err := client.Get(tc.scheme + "://" + ln.Addr().String() + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("healthz: got %d, want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("Strict-Transport-Security") != ""; got != tc.tls {
				t.Errorf("HSTS header present: got %v, want %v", got, tc.tls)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve after cancel: got %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return within 10 s of its context ending")
			}
		})
	}
}

func TestTypedNilSimMeansOff(t *testing.T) {
	var sim *apitest.Sim
	s, err := api.New(api.Config{}, apitest.New(nil), sim)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Routes() {
		if strings.Contains(r, "/sim/") {
			t.Errorf("a nil *Sim still serves %s", r)
		}
	}
}

// TestMetrics checks that /metrics serves the gateway's registry, to
// technicians only.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "lintel_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(3)
	s, err := api.New(api.Config{Tokens: testTokens, Metrics: reg, Hosts: []string{testHost}}, apitest.New(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, handler: s.Handler()}
	body := h.mustDo(request{method: "GET", path: "/metrics", token: techToken}, 200)
	if !strings.Contains(body, "lintel_test_total 3") {
		t.Errorf("/metrics lacks the registry's counter:\n%s", body)
	}
	h.mustDo(request{method: "GET", path: "/metrics"}, 401)
}

func TestStreamLimit(t *testing.T) {
	b := apitest.New(nil)
	s, err := api.New(api.Config{Tokens: testTokens, MaxStreams: 1, Hosts: []string{testHost}}, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, handler: s.Handler()}
	srv := newStreamServer(t, h)
	defer s.Close()
	openStream(t, srv, "", nil) // takes the only slot
	h.mustDo(request{method: "GET", path: "/api/v1/events/stream", token: techToken}, 503)
}
