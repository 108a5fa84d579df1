package api

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzHostCheck feeds arbitrary Host headers to the DNS-rebinding check:
// it must not panic, and what it lets through must be an IP address,
// localhost or a configured name.
func FuzzHostCheck(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8080", "[::1]:8080", "[fe80::1%25eth0]:80", "localhost", "LOCALHOST.:1",
		"gw1.site.example:8443", "evil.example", "", "[", "]:", "[::1", "::1", "1.2.3.4:", ":80", "localhost:bad:port"} {
		f.Add(s)
	}
	hosts := newHostSet([]string{"gw1.site.example"})
	f.Fuzz(func(t *testing.T, header string) {
		if !hosts.allows(header) {
			return
		}
		h := hostOf(header)
		if _, err := netip.ParseAddr(h); err == nil {
			return
		}
		if n := strings.ToLower(strings.TrimSuffix(h, ".")); n != "localhost" && n != "gw1.site.example" {
			t.Fatalf("allowed Host %q (host %q), which is neither an IP address, localhost nor configured", header, h)
		}
	})
}
