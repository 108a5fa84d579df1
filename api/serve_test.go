package api_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
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
	h.mustDo(request{method: "GET", path: "/api/v1/events/stream", token: techToken, ended: true}, 503)
}

// TestConnectionCapAnswers503: the server took every connection offered, so
// a client could hold any number of them open (issue 12, finding 10). Past
// Config.MaxConns a connection is answered 503 too_many_connections and
// closed, in plain HTTP and over TLS; a freed slot is taken again.
func TestConnectionCapAnswers503(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "tls"}[useTLS], func(t *testing.T) {
			cfg := api.Config{Tokens: testTokens, MaxConns: 2, MaxStreams: 1}
			if useTLS {
				cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
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
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Serve: %v", err)
				}
			})
			deadline := time.Now().Add(10 * time.Second)
			dial := func() net.Conn {
				t.Helper()
				var c net.Conn
				var err error
				if useTLS {
					c, err = tls.DialWithDialer(&net.Dialer{Deadline: deadline}, "tcp", ln.Addr().String(), &tls.Config{RootCAs: pool})
				} else {
					c, err = net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
				}
				if err != nil {
					t.Fatal(err)
				}
				_ = c.SetDeadline(deadline)
				t.Cleanup(func() { c.Close() })
				return c
			}
			get := func(c net.Conn) *http.Response {
				t.Helper()
				if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { resp.Body.Close() })
				return resp
			}

			held := []net.Conn{dial(), dial()}
			for _, c := range held { // both are served, and kept open
				if resp := get(c); resp.StatusCode != 200 {
					t.Fatalf("within the cap: got %d, want 200", resp.StatusCode)
				}
			}
			resp := get(dial())
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" ||
				!strings.Contains(string(body), `"code":"too_many_connections"`) || !strings.Contains(string(body), "2 connections open") {
				t.Fatalf("past the cap: got %d Retry-After %q %s, want 503 too_many_connections", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			held[0].Close()
			for {
				if resp := get(dial()); resp.StatusCode == 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("a closed connection's slot was not taken again within 10 s")
				}
			}
		})
	}
}

// TestStreamsCappedPerToken: one token could hold every event stream slot
// (issue 12, finding 10). A token's streams, its sessions' included, are
// capped by Config.MaxStreamsPerToken and refused with 429 past it.
func TestStreamsCappedPerToken(t *testing.T) {
	b := apitest.New(nil)
	s, err := api.New(api.Config{Tokens: testTokens, MaxStreams: 8, MaxStreamsPerToken: 1, Hosts: []string{testHost}}, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, handler: s.Handler()}
	srv := newStreamServer(t, h)
	defer s.Close()
	first := openStream(t, srv, "", nil) // the technician token's one stream
	body := h.mustDo(request{method: "GET", path: "/api/v1/events/stream", token: techToken, ended: true}, 429)
	if !strings.Contains(body, `"code":"too_many_streams"`) || !strings.Contains(body, `token \"tech\" has 1 event streams open already`) {
		t.Errorf("second stream of a token: got %s, want too_many_streams naming the token", body)
	}
	ck := sessionCookie(t, h.signIn(techToken, nil))
	h.mustDo(request{method: "GET", path: "/api/v1/events/stream", header: map[string]string{"Cookie": ck.Name + "=" + ck.Value}, ended: true}, 429)
	openStream(t, srv, "", map[string]string{"Authorization": "Bearer " + adminToken}) // another token's

	first.resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/events/stream", nil)
		req.Header.Set("Authorization", "Bearer "+techToken)
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := srv.Client().Do(req.WithContext(ctx))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		code := resp.StatusCode
		cancel()
		resp.Body.Close()
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream's slot was not free again within 10 s: got %d", code)
		}
	}
}
