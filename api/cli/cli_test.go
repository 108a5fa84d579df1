package cli_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/apitest"
	"github.com/lintel-access/lintel/api/cli"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gpio/clock/clocktest"
)

type gateway struct {
	url     string
	token   string
	backend *apitest.Backend
}

func newGateway(t *testing.T) gateway {
	t.Helper()
	clock := clocktest.New(time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC))
	b := apitest.New(clock.Now)
	plain, hash := api.NewToken()
	s, err := api.New(api.Config{Tokens: []api.Token{{Name: "admin", Role: api.RoleAdmin, Hash: hash}}, Version: "1.0.0", Now: clock.Now}, b, apitest.Sim{B: b})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { s.Close(); srv.Close() })
	return gateway{url: srv.URL, token: plain, backend: b}
}

// run runs the CLI against the gateway and returns its exit status and
// output.
func (g gateway) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{"--addr", g.url, "--token", g.token}, args...)
	code := cli.Run(context.Background(), all, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommands(t *testing.T) {
	g := newGateway(t)
	steps := []struct {
		args   []string
		code   int
		stdout string // a regular expression
		stderr string
	}{
		{[]string{"user", "add", "u1", "--name", "Ada Lovelace"}, 0, `^added user u1\n$`, ""},
		{[]string{"user", "add", "u1", "--name", "Ada", "--disabled"}, 0, `^updated user u1\n$`, ""},
		{[]string{"user", "add", "u1", "--name", "Ada"}, 0, `updated user u1`, ""}, // still disabled
		{[]string{"user", "show", "u1"}, 0, `enabled +no\n`, ""},
		{[]string{"user", "enable", "u1"}, 0, `^enabled user u1\n$`, ""},
		{[]string{"user", "add", "u2", "--name", "Bo"}, 0, `added user u2`, ""},
		{[]string{"card", "add", "u1", "--format", "H10301", "--facility", "1", "--number", "100"}, 0, `^enrolled card c1 \(H10301:1:100\) for u1\n$`, ""},
		{[]string{"card", "add", "u2", "--facility", "1", "--number", "100"}, 1, `^$`, `^lintel: credential_in_use: card: already enrolled for a user\n$`},
		{[]string{"pin", "set", "u1", "--pin", "48291573"}, 0, `^set the PIN of u1\n$`, ""},
		{[]string{"pin", "set", "u2", "--pin", "48291573"}, 1, `^$`, `^lintel: pin_in_use: pin: another user holds that PIN`},
		{[]string{"pin", "set", "u2", "--pin", "12"}, 1, ``, `^lintel: invalid_pin: pin: pin must be 4 to 8 digits long \(got 2 digits\)\n$`},
		{[]string{"pin", "set", "u2", "--generate", "6"}, 0, `^PIN of u2: [0-9]{6}\n$`, ""},
		{[]string{"pin", "set", "u2", "--generate", "9"}, 1, ``, `^lintel: invalid_pin: length: `},
		{[]string{"pin", "set", "u2"}, 2, ``, `^lintel: pin set: give --generate DIGITS or --pin DIGITS\n$`},
		{[]string{"pin", "set", "u2", "--generate", "6", "--pin", "1234"}, 2, ``, `can't be used together`},
		{[]string{"pin", "clear", "u2"}, 0, `^cleared the PIN of u2\n$`, ""},
		{[]string{"user", "show", "u1"}, 0, `(?s)user +u1\nname +Ada\nenabled +yes\npin +yes\nlevels +all\ncard +c1 +H10301 facility 1 number 100\n`, ""},
		{[]string{"user", "show", "nobody"}, 1, ``, `^lintel: not_found: user "nobody" does not exist\n$`},
		{[]string{"sim", "card", "garage", "--facility", "1", "--number", "100"}, 0, `^sent to reader garage\n$`, ""},
		{[]string{"sim", "card", "garage", "--bits", "10000000100000000011001000"}, 0, `sent to reader garage`, ""},
		{[]string{"sim", "card", "garage", "--bits", "1012"}, 1, ``, `^lintel: invalid: bits: character 4 is not 0 or 1\n$`},
		{[]string{"sim", "card", "garage"}, 2, ``, `give --facility and --number, or --bits`},
		{[]string{"sim", "card", "attic", "--facility", "1", "--number", "1"}, 1, ``, `^lintel: not_found: reader "attic" does not exist\n$`},
		{[]string{"sim", "keys", "side", "48291573"}, 0, `^pressed 8 keys on reader side\n$`, ""},
		{[]string{"sim", "door", "front", "open"}, 0, `^door front open\n$`, ""},
		{[]string{"sim", "door", "front", "ajar"}, 2, ``, `must be one of "open","closed"`},
		{[]string{"events", "tail", "-n", "3"}, 0, `^11  \S+  access.granted  Grant Access - Card  reader=garage  door=garage  user=u1  credential=c1\n12  \S+  access.granted  Grant Access - PIN  reader=side  door=side  user=u1\n13  \S+  door.contact  Door Opened  door=front\n$`, ""},
		{[]string{"events", "tail", "--after", "12"}, 0, `^13  \S+  door.contact  Door Opened  door=front\n$`, ""},
		{[]string{"status"}, 0, `(?s)gateway gw-test, version 1.0.0, up 0s, clock synchronised\n.*front +locked +off +none +open +none\n.*garage +RP40 +card_only +26 bits H10301 1/100 +none\n.*side +RPK40 +card_or_pin +key press +none\n.*journal 13 events, 13 undelivered; sync revision 0`, ""},
		{[]string{"user", "rm", "u2"}, 0, `^removed user u2\n$`, ""},
		{[]string{"user", "rm", "u2"}, 1, ``, `^lintel: not_found: `},
	}
	for _, s := range steps {
		code, stdout, stderr := g.run(t, s.args...)
		name := strings.Join(s.args, " ")
		if code != s.code {
			t.Errorf("lintel %s: got exit %d, want %d (stdout %q, stderr %q)", name, code, s.code, stdout, stderr)
			continue
		}
		if !regexp.MustCompile(s.stdout).MatchString(stdout) {
			t.Errorf("lintel %s: got stdout %q, want it to match %q", name, stdout, s.stdout)
		}
		if s.stderr == "" && stderr != "" || !regexp.MustCompile(s.stderr).MatchString(stderr) {
			t.Errorf("lintel %s: got stderr %q, want it to match %q", name, stderr, s.stderr)
		}
	}
}

func TestPINFromStdin(t *testing.T) {
	g := newGateway(t)
	if _, err := g.backend.PutUser("test", access.User{ID: "u1", Name: "Ada", Enabled: true}, access.AllFields); err != nil {
		t.Fatal(err)
	}
	c, err := (&cli.Globals{Addr: g.url, Token: g.token}).Client()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	glob := &cli.Globals{Addr: g.url, Token: g.token, Stdout: &out, Stdin: strings.NewReader("20481024\n")}
	if err := (&cli.PinSetCmd{ID: "u1", PIN: "-"}).Run(glob); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "20481024") {
		t.Errorf("pin set --pin - echoed the PIN: %q", out.String())
	}
	u, err := c.User(context.Background(), "u1")
	if err != nil || !u.HasPIN {
		t.Errorf("after pin set: got has_pin %v (%v), want true", u.HasPIN, err)
	}
}

func TestTokenSources(t *testing.T) {
	g := newGateway(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(file, []byte(g.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"token file", nil, []string{"--addr", g.url, "--token-file", file, "status"}, 0, ""},
		{"environment", map[string]string{"LINTEL_ADDR": strings.TrimPrefix(g.url, "http://"), "LINTEL_TOKEN": g.token}, []string{"status"}, 0, ""},
		{"flag wins over environment", map[string]string{"LINTEL_TOKEN": "wrong"}, []string{"--addr", g.url, "--token", g.token, "status"}, 0, ""},
		{"wrong token", nil, []string{"--addr", g.url, "--token", "wrong", "status"}, 1, "lintel: unauthorized: Authorization: the bearer token is not valid\n"},
		{"no token file", nil, []string{"--addr", g.url, "--token-file", filepath.Join(dir, "missing"), "status"}, 1, "lintel: no API token: give --token or LINTEL_TOKEN"},
		{"gateway down", nil, []string{"--addr", "http://127.0.0.1:1", "--token", "x", "status"}, 1, "lintel: GET /api/v1/status: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("LINTEL_ADDR", "")
			t.Setenv("LINTEL_TOKEN", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			code := cli.Run(context.Background(), tc.args, &out, &errOut)
			if code != tc.code || !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("got exit %d stderr %q, want %d and %q", code, errOut.String(), tc.code, tc.stderr)
			}
		})
	}
}

func TestEventsFollow(t *testing.T) {
	g := newGateway(t)
	g.backend.Emit(access.Event{Type: "test", Name: "one"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := newPipe()
	done := make(chan int, 1)
	go func() {
		code := cli.Run(ctx, []string{"--addr", g.url, "--token", g.token, "events", "tail", "--follow"}, pw, &bytes.Buffer{})
		pw.Close()
		done <- code
	}()
	if line := pr.line(t); !strings.Contains(line, "  test  one") {
		t.Fatalf("got %q, want event one", line)
	}
	g.backend.Emit(access.Event{Type: "test", Name: "two"})
	if line := pr.line(t); !strings.Contains(line, "  test  two") {
		t.Fatalf("got %q, want event two", line)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("events tail --follow ended with %d after Ctrl-C, want 0", code)
	}
}

// recorder answers every request with a status document and remembers the
// requests, so a test sees whether a token went out without any network.
type recorder struct {
	mu   sync.Mutex // guards reqs
	reqs []*http.Request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"gateway_id":"gw-remote","version":"1.0.0","clock_trusted":true}`)), Request: req}, nil
}

func (r *recorder) sent() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// TestStatusRefusesPlainTextTokenToRemote: `lintel status --addr
// http://10.1.2.3:8080` sent the admin token across the network unencrypted
// (issue 12, finding 10). It now refuses before sending anything and says
// what to do; --insecure-token sends it anyway.
func TestStatusRefusesPlainTextTokenToRemote(t *testing.T) {
	tests := []struct {
		name     string
		addr     string
		insecure bool
		sent     bool
	}{
		{"remote plain HTTP", "http://192.0.2.10:8080", false, false},
		{"remote without a scheme", "192.0.2.10:8080", false, false},
		{"remote name", "http://gw1.site.example:8080", false, false},
		{"remote HTTPS", "https://192.0.2.10:8443", false, true},
		{"loopback", "http://127.0.0.1:8080", false, true},
		{"localhost", "localhost:8080", false, true},
		{"remote plain HTTP with --insecure-token", "http://192.0.2.10:8080", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			var out bytes.Buffer
			g := &cli.Globals{Addr: tc.addr, Token: "the-token", InsecureToken: tc.insecure, HTTP: &http.Client{Transport: rec}, Stdout: &out}
			err := (&cli.StatusCmd{}).Run(g)
			if !tc.sent {
				if rec.sent() != 0 {
					t.Errorf("sent %d requests, want none", rec.sent())
				}
				var stderr bytes.Buffer
				cli.Report(&stderr, err)
				for _, want := range []string{"plain text", "https://", "--insecure-token"} {
					if !strings.Contains(stderr.String(), want) {
						t.Errorf("got %q, want it to mention %s", stderr.String(), want)
					}
				}
				return
			}
			if err != nil || rec.sent() != 1 || !strings.Contains(out.String(), "gateway gw-remote") {
				t.Fatalf("got %v, %d requests, output %q; want the status of gw-remote", err, rec.sent(), out.String())
			}
		})
	}
	// The flag, from the command line.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	if code := cli.Run(ctx, []string{"--addr", "http://192.0.2.10:8080", "--token", "x", "status"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "pass --insecure-token to send it anyway") {
		t.Errorf("lintel status to a remote plain-HTTP address: got exit %d stderr %q, want 1 and the advice", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "deadline") {
		t.Errorf("the command tried the network: %q", errOut.String())
	}
}
