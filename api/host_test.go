package api_test

import (
	"strings"
	"testing"

	"github.com/lintel-access/lintel/api"
)

// TestHostCheckRefusesDNSRebinding: the API and the status page answered
// whatever name a request gave, so a page of another site whose name was
// pointed at the gateway's address could read them (issue 12, finding 10).
func TestHostCheckRefusesDNSRebinding(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s, err := api.New(api.Config{Tokens: testTokens, Hosts: []string{"gw1.site.example", "Door-Box."}}, h.backend, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	h.handler = s.Handler()
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.0.0.1", true},
		{"192.168.1.20:8080", true},
		{"[::1]:8080", true},
		{"[fe80::1%25eth0]:8080", true},
		{"[2001:db8::7]", true},
		{"localhost:8080", true},
		{"LOCALHOST", true},
		{"localhost.:8080", true},
		{"gw1.site.example:8443", true},
		{"GW1.Site.Example.", true},
		{"door-box", true},
		{"evil.example:8080", false},
		{"evil.example", false},
		{"gw1.site.example.evil.example", false},
		{"localhost.evil.example", false},
		{"127.0.0.1.nip.io", false},
		{"", false},
	}
	for _, tc := range tests {
		for _, r := range []request{
			{method: "GET", path: "/"},
			{method: "GET", path: "/api/v1/status", token: adminToken},
			{method: "GET", path: "/healthz"},
		} {
			t.Run(tc.host+" "+r.path, func(t *testing.T) {
				rec := h.doHost(r, tc.host)
				if tc.ok {
					if rec.Code != 200 {
						t.Fatalf("got %d %s, want 200", rec.Code, rec.Body)
					}
					return
				}
				body := rec.Body.String()
				if rec.Code != 421 || !strings.Contains(body, `"code":"unknown_host"`) || !strings.Contains(body, "api.hosts") {
					t.Fatalf("got %d %s, want 421 unknown_host naming api.hosts", rec.Code, body)
				}
			})
		}
	}
}

// TestConfigWarnings checks that serving plain HTTP on an address other
// than loopback is warned about, and TLS or loopback is not.
func TestConfigWarnings(t *testing.T) {
	for _, tc := range []struct {
		cfg  api.Config
		warn bool
	}{
		{api.Config{}, false},
		{api.Config{Addr: "127.0.0.1:8080"}, false},
		{api.Config{Addr: "[::1]:8080"}, false},
		{api.Config{Addr: "localhost:8080"}, false},
		{api.Config{Addr: "0.0.0.0:8080"}, true},
		{api.Config{Addr: ":8080"}, true},
		{api.Config{Addr: "192.0.2.5:8080"}, true},
		{api.Config{Addr: "0.0.0.0:8443", TLSCertFile: "cert.pem", TLSKeyFile: "key.pem"}, false},
	} {
		t.Run(tc.cfg.Addr, func(t *testing.T) {
			ws := tc.cfg.Warnings()
			if got := len(ws) > 0; got != tc.warn {
				t.Fatalf("got warnings %v, want a warning %v", ws, tc.warn)
			}
			if tc.warn && !strings.HasPrefix(ws[0].Error(), "listen: ") {
				t.Errorf("got %q, want it to name listen", ws[0])
			}
		})
	}
}
