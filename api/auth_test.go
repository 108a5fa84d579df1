package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/apitest"
)

func TestBadTokensAreSlowedDown(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	bad := request{method: "GET", path: "/api/v1/status", token: "guess", remote: "192.0.2.7:4000"}
	good := request{method: "GET", path: "/api/v1/status", token: adminToken, remote: "192.0.2.7:4001"}
	other := request{method: "GET", path: "/api/v1/status", token: adminToken, remote: "192.0.2.8:4000"}

	for i := range 3 { // three free failures
		if got := h.do(bad).Code; got != 401 {
			t.Fatalf("failure %d: got %d, want 401", i+1, got)
		}
	}
	h.mustDo(bad, 401) // the fourth blocks the address for 1 s
	rec := h.do(good)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("blocked address: got %d Retry-After %q, want 429 and 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	h.mustDo(other, 200) // other addresses are not affected
	h.clock.Advance(time.Second)
	h.mustDo(bad, 401) // the fifth blocks for 2 s
	h.clock.Advance(time.Second)
	rec = h.do(good)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("after 1 of 2 s: got %d Retry-After %q, want 429 and 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	h.clock.Advance(time.Second)
	h.mustDo(good, 200) // a good token clears the count
	for range 3 {
		h.mustDo(bad, 401)
	}
	h.mustDo(good, 200)

	// The delay doubles up to a minute.
	for range 12 {
		h.do(bad)
		h.clock.Advance(2 * time.Minute)
	}
	h.clock.Advance(-2 * time.Minute)
	if got := h.do(good).Header().Get("Retry-After"); got != "60" {
		t.Errorf("after many failures: got Retry-After %q, want 60", got)
	}
}

// TestForwardedForIsIgnored checks that the limiter keys on the TCP peer: a
// client cannot dodge it by claiming other addresses in headers.
func TestForwardedForIsIgnored(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for i := range 4 {
		h.do(request{method: "GET", path: "/api/v1/status", token: "guess", remote: "192.0.2.9:1000",
			header: map[string]string{"X-Forwarded-For": fmt.Sprintf("10.0.0.%d", i), "X-Real-IP": fmt.Sprintf("10.0.1.%d", i)}})
	}
	rec := h.do(request{method: "GET", path: "/api/v1/status", token: adminToken, remote: "192.0.2.9:1001",
		header: map[string]string{"X-Forwarded-For": "10.9.9.9", "X-Real-IP": "10.9.9.9"}})
	if rec.Code != 429 {
		t.Errorf("got %d, want 429: forwarding headers must not change who the client is", rec.Code)
	}
}

func TestConfigValidate(t *testing.T) {
	_, hash := api.NewToken()
	tests := []struct {
		name string
		cfg  api.Config
		want string
	}{
		{"zero is valid", api.Config{}, ""},
		{"tokens", api.Config{Tokens: []api.Token{{Name: "a", Role: api.RoleAdmin, Hash: hash}}}, ""},
		{"cert without key", api.Config{TLSCertFile: "c.pem"}, "tls: set both"},
		{"bad role", api.Config{Tokens: []api.Token{{Name: "a", Role: "root", Hash: hash}}}, `tokens[0] ("a"): role: "root" is not a role`},
		{"bad hash", api.Config{Tokens: []api.Token{{Name: "a", Role: api.RoleAdmin, Hash: "abc"}}}, `tokens[0] ("a"): hash: want the 64 hex digits`},
		{"no name", api.Config{Tokens: []api.Token{{Role: api.RoleAdmin, Hash: hash}}}, "tokens[0]: name is empty"},
		{"same name", api.Config{Tokens: []api.Token{{Name: "a", Role: api.RoleAdmin, Hash: hash}, {Name: "a", Role: api.RolePortal, Hash: hash}}}, `tokens[1] ("a"): name is used twice`},
		{"negative limit", api.Config{BodyLimit: -1}, "body limits must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
			if tc.want != "" {
				if _, err := api.New(tc.cfg, apitest.New(nil), nil); err == nil {
					t.Errorf("api.New accepted a config that does not validate")
				}
			}
		})
	}
}

func TestNewToken(t *testing.T) {
	a, ha := api.NewToken()
	b, hb := api.NewToken()
	if a == b || ha == hb {
		t.Fatalf("two new tokens are equal")
	}
	if len(a) != 43 || len(ha) != 64 {
		t.Errorf("got token of %d characters and hash of %d, want 43 and 64", len(a), len(ha))
	}
	if api.HashToken(a) != ha {
		t.Errorf("HashToken(token) is not the hash NewToken returned")
	}
}

// signIn posts a token to /session and returns the answer.
func (h *harness) signIn(token string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/session", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec
}

func sessionCookie(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == "lintel_session" {
			return c
		}
	}
	t.Fatalf("no session cookie in answer %d %s", rec.Code, rec.Body.String())
	return nil
}

// csrfOf finds the CSRF token in the status page.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, `<meta name="csrf" content="`)
	if !ok {
		t.Fatalf("no csrf meta in the page")
	}
	tok, _, _ := strings.Cut(rest, `"`)
	return tok
}

func TestSessions(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	seed(h)

	// Without a session, / is the sign-in form and shows nothing else.
	page := h.mustDo(request{method: "GET", path: "/"}, 200)
	if !strings.Contains(page, `action="/session"`) || strings.Contains(page, "gw-test") {
		t.Fatalf("anonymous / is not just the sign-in form:\n%s", page)
	}

	if rec := h.signIn("nope", nil); rec.Code != 401 || !strings.Contains(rec.Body.String(), "That token is not valid.") {
		t.Errorf("bad token: got %d, want 401 and the form with an error", rec.Code)
	}
	if rec := h.signIn(portalToken, nil); rec.Code != 403 {
		t.Errorf("portal token: got %d, want 403", rec.Code)
	}
	if rec := h.signIn(techToken, map[string]string{"Origin": "http://evil.example"}); rec.Code != 403 {
		t.Errorf("foreign Origin: got %d, want 403", rec.Code)
	}

	rec := h.signIn(techToken, map[string]string{"Origin": "http://example.com"})
	if rec.Code != 303 || rec.Header().Get("Location") != "/" {
		t.Fatalf("sign in: got %d to %q, want 303 to /", rec.Code, rec.Header().Get("Location"))
	}
	ck := sessionCookie(t, rec)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
		t.Errorf("got cookie %+v, want HttpOnly, SameSite=Strict, Path=/", ck)
	}
	if strings.Contains(ck.Value, techToken) {
		t.Errorf("the cookie holds the token")
	}
	cookie := map[string]string{"Cookie": ck.Name + "=" + ck.Value}

	page = h.mustDo(request{method: "GET", path: "/", header: cookie}, 200)
	for _, want := range []string{`id="door-front"`, `data-pulse="front"`, `id="reader-garage"`, "1.2.3-test", "Grant Access - Card", "tech (technician)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
	csp := h.do(request{method: "GET", path: "/", header: cookie}).Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("got CSP %q, want nonce-based scripts and no unsafe-inline", csp)
	}
	csrf := csrfOf(t, page)

	// The cookie reads like a token of its role.
	h.mustDo(request{method: "GET", path: "/api/v1/status", header: cookie}, 200)
	h.mustDo(request{method: "GET", path: "/panel", header: cookie}, 200)
	h.mustDo(request{method: "PUT", path: "/api/v1/users/u5", header: map[string]string{"Cookie": cookie["Cookie"], "X-CSRF-Token": csrf}, body: `{"name":"x"}`}, 403)

	// State changes need the CSRF token and a same-origin Origin.
	pulse := func(hdr map[string]string) *httptest.ResponseRecorder {
		all := map[string]string{"Cookie": cookie["Cookie"]}
		for k, v := range hdr {
			all[k] = v
		}
		return h.do(request{method: "POST", path: "/api/v1/doors/front/pulse", header: all})
	}
	if rec := pulse(nil); rec.Code != 403 || !strings.Contains(rec.Body.String(), `"csrf"`) {
		t.Errorf("pulse without CSRF token: got %d %s, want 403 csrf", rec.Code, rec.Body.String())
	}
	if rec := pulse(map[string]string{"X-CSRF-Token": "wrong"}); rec.Code != 403 {
		t.Errorf("pulse with a wrong CSRF token: got %d, want 403", rec.Code)
	}
	if rec := pulse(map[string]string{"X-CSRF-Token": csrf, "Origin": "http://evil.example"}); rec.Code != 403 {
		t.Errorf("pulse from a foreign origin: got %d, want 403", rec.Code)
	}
	if rec := pulse(map[string]string{"X-CSRF-Token": csrf, "Origin": "http://example.com"}); rec.Code != 202 {
		t.Errorf("pulse with CSRF token: got %d %s, want 202", rec.Code, rec.Body.String())
	}

	// Sessions expire.
	h.clock.Advance(api.DefaultSessionTTL)
	h.mustDo(request{method: "GET", path: "/api/v1/status", header: cookie}, 401)
	if page := h.mustDo(request{method: "GET", path: "/", header: cookie}, 200); !strings.Contains(page, "Your session has ended") {
		t.Errorf("expired session: / does not say so")
	}
}

func TestSignOut(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ck := sessionCookie(t, h.signIn(adminToken, nil))
	cookie := ck.Name + "=" + ck.Value
	csrf := csrfOf(t, h.mustDo(request{method: "GET", path: "/", header: map[string]string{"Cookie": cookie}}, 200))

	form := func(csrf string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/session/end", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie)
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		return rec
	}
	if rec := form("wrong"); rec.Code != 403 {
		t.Fatalf("sign out with a wrong CSRF token: got %d, want 403", rec.Code)
	}
	if rec := form(csrf); rec.Code != 303 {
		t.Fatalf("sign out: got %d, want 303", rec.Code)
	}
	h.mustDo(request{method: "GET", path: "/api/v1/status", header: map[string]string{"Cookie": cookie}}, 401)
}

func TestSignInIsSlowedDown(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for range 4 {
		h.signIn("guess", nil)
	}
	if rec := h.signIn(adminToken, nil); rec.Code != 429 || !strings.Contains(rec.Body.String(), "Too many bad tokens") {
		t.Fatalf("sign in from a blocked address: got %d, want 429", rec.Code)
	}
	h.clock.Advance(time.Second)
	if rec := h.signIn(adminToken, nil); rec.Code != 303 {
		t.Fatalf("sign in after the block: got %d, want 303", rec.Code)
	}
}

func TestSecureHeaders(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	rec := h.do(request{method: "GET", path: "/api/v1/status", token: adminToken})
	for k, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "same-origin",
		"Cache-Control":           "no-store",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
}
