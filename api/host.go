package api

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"
)

// The Host check defends the API and the status page against DNS
// rebinding: a page of another site (evil.example) whose name its owner
// points at the gateway's address is, to the browser, the same origin as
// evil.example, so its script could read what the gateway answers. The
// request still says evil.example in its Host header, and the gateway
// refuses it. Accepted are IP literals (v4, v6 in brackets, with or without
// a port), "localhost", and the names in Config.Hosts, compared without
// regard to case or a trailing dot.

// hostSet is the set of accepted names, lower case, without a trailing dot.
type hostSet map[string]bool

func newHostSet(names []string) hostSet {
	s := hostSet{"localhost": true}
	for _, n := range names {
		s[normalHost(n)] = true
	}
	return s
}

func normalHost(h string) string { return strings.ToLower(strings.TrimSuffix(h, ".")) }

// hostOf returns the host part of a Host header: without its port and, for
// IPv6, without brackets.
func hostOf(header string) string {
	if h, _, err := net.SplitHostPort(header); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(header, "["), "]")
}

// allows reports whether a request's Host header names this gateway.
func (s hostSet) allows(header string) bool {
	h := hostOf(header)
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return h != "" && s[normalHost(h)]
}

// CheckHost checks a name for Config.Hosts: a DNS name of letters, digits
// and hyphens in dot-separated labels of at most 63 characters, at most 253
// in all, without a scheme, port or wildcard.
func CheckHost(name string) error {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return fmt.Errorf("%q is not a host name: want 1 to 253 characters", name)
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a host name: each dot-separated part is 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen", name)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%q is not a host name: character %q is not a letter, digit, hyphen or dot (give the name alone, without a scheme or port)", name, c)
			}
		}
	}
	return nil
}

// checkHost refuses a request whose Host header does not name this gateway.
func (s *Server) checkHost(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if h := c.Request().Host; !s.hosts.allows(h) {
			if h == "" {
				return errorf(http.StatusMisdirectedRequest, CodeUnknownHost, "Host: missing; name this gateway by its IP address, localhost or a name in its api.hosts")
			}
			return errorf(http.StatusMisdirectedRequest, CodeUnknownHost,
				"Host: %q is not a name of this gateway; use its IP address or localhost, or add the name to its api.hosts", clip(h))
		}
		return next(c)
	}
}
