package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/apitest"
	"github.com/lintel-access/lintel/api/client"
	"github.com/lintel-access/lintel/gateway/access"
)

func newServer(t *testing.T) (*client.Client, *apitest.Backend, string) {
	t.Helper()
	b := apitest.New(nil)
	plain, hash := api.NewToken()
	s, err := api.New(api.Config{Tokens: []api.Token{{Name: "admin", Role: api.RoleAdmin, Hash: hash}}}, b, apitest.Sim{B: b})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { s.Close(); srv.Close() })
	return client.New(srv.URL, plain), b, srv.URL
}

func TestClient(t *testing.T) {
	c, b, _ := newServer(t)
	ctx := context.Background()

	doc, created, err := c.PutUser(ctx, "u1", api.UserBody{Name: "Ada"})
	if err != nil || !created || doc.Name != "Ada" || !doc.Enabled {
		t.Fatalf("PutUser: got %+v created %v err %v, want Ada created and enabled", doc, created, err)
	}
	if _, created, err = c.PutUser(ctx, "u1", api.UserBody{Name: "Ada L"}); err != nil || created {
		t.Fatalf("PutUser again: got created %v err %v, want replaced", created, err)
	}
	cred, err := c.AddCard(ctx, "u1", access.CardKey{Format: "H10301", Facility: 1, Number: 100})
	if err != nil {
		t.Fatal(err)
	}
	pin, err := c.GeneratePIN(ctx, "u1", 6)
	if err != nil || len(pin) != 6 {
		t.Fatalf("GeneratePIN: got %q %v, want 6 digits", pin, err)
	}
	got, err := c.User(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	want := api.UserDoc{User: access.User{ID: "u1", Name: "Ada L", Enabled: true, Levels: access.DefaultLevels()}, HasPIN: true, Credentials: []access.Credential{cred}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("User (-want +got):\n%s", diff)
	}

	// Errors carry the API's code and message.
	_, _, _ = c.PutUser(ctx, "u2", api.UserBody{Name: "Bo"})
	err = c.SetPIN(ctx, "u2", pin)
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 409 || apiErr.Code != api.CodePINInUse || apiErr.Message == "" {
		t.Fatalf("SetPIN of a PIN in use: got %v, want a 409 pin_in_use *client.Error", err)
	}
	if err := c.SetPIN(ctx, "u2", "12"); !client.IsCode(err, api.CodeInvalidPIN) {
		t.Errorf("SetPIN too short: got %v, want invalid_pin", err)
	}
	if _, err := c.User(ctx, "nobody"); !client.IsCode(err, api.CodeNotFound) {
		t.Errorf("User unknown: got %v, want not_found", err)
	}
	if err := c.ClearPIN(ctx, "u1"); err != nil {
		t.Fatal(err)
	}

	// The simulator and the journal.
	if err := c.SimCard(ctx, "garage", access.CardKey{Format: "H10301", Facility: 1, Number: 100}); err != nil {
		t.Fatal(err)
	}
	if err := c.SimBits(ctx, "garage", "1010"); err != nil {
		t.Fatal(err)
	}
	if err := c.SimKeys(ctx, "side", "1234#"); err != nil {
		t.Fatal(err)
	}
	if err := c.SimDoor(ctx, "front", true); err != nil {
		t.Fatal(err)
	}
	if err := c.PulseDoor(ctx, "front"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"front"}, b.Pulses()); diff != "" {
		t.Errorf("pulses (-want +got):\n%s", diff)
	}
	page, err := c.Events(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ev := range page.Events {
		if ev.Type != access.TypeAudit { // the changes above journal audit events too
			names = append(names, ev.Name)
		}
	}
	wantNames := []string{access.NameGrantCard, access.NameDenyCardPINNotFound, apitest.NameDoorOpened, apitest.NameDoorTestPulse}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	st, err := c.Status(ctx)
	if err != nil || st.GatewayID != apitest.GatewayID || st.Journal.Last != uint64(len(page.Events)) {
		t.Errorf("Status: got %+v %v, want gateway %s with %d events", st, err, apitest.GatewayID, len(page.Events))
	}

	ack, code, err := c.SyncChanges(ctx, []byte(`{"revision":3}`))
	if err != nil || code != 200 || string(ack) != `{"revision":3,"applied":true}` {
		t.Errorf("SyncChanges: got %s %d %v", ack, code, err)
	}
	if err := c.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
}

func TestStreamEvents(t *testing.T) {
	c, b, _ := newServer(t)
	b.Emit(access.Event{Type: "test", Name: "one"}, access.Event{Type: "test", Name: "two"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	err := c.StreamEvents(ctx, 0, false, func(ev access.Event) error {
		got = append(got, ev.Name)
		if ev.Seq == 1 {
			b.Emit(access.Event{Type: "test", Name: "three"})
		}
		if ev.Seq == 3 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"one", "two", "three"}, got); diff != "" {
		t.Errorf("streamed (-want +got):\n%s", diff)
	}
}

func TestErrorsWithoutAPIBody(t *testing.T) {
	c, _, base := newServer(t)
	c.Token = "wrong"
	if _, err := c.Status(context.Background()); !client.IsCode(err, api.CodeUnauthorized) {
		t.Errorf("bad token: got %v, want unauthorized", err)
	}
	c = client.New(base+"/nothing-here", "x")
	_, err := c.Status(context.Background())
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 404 {
		t.Errorf("got %v, want a 404 *client.Error", err)
	}
}

func TestErrorFromAProxy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream gone", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := client.New(srv.URL, "x").Status(context.Background())
	var e *client.Error
	if !errors.As(err, &e) || e.Code != "http_502" || e.Message != "Bad Gateway upstream gone" {
		t.Errorf("got %#v, want http_502 with the proxy's text", err)
	}
}

// recorder is an http.RoundTripper that answers every request with a status
// document and remembers what was asked, so a test can see whether a token
// went out without any network.
type recorder struct {
	mu   sync.Mutex // guards reqs
	reqs []*http.Request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"gateway_id":"gw-remote"}`)), Request: req}, nil
}

func (r *recorder) sent() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// TestTokenNeverSentInPlainTextToARemoteHost: the client sent its bearer
// token over plain HTTP to any address it was given (issue 12, finding 10).
func TestTokenNeverSentInPlainTextToARemoteHost(t *testing.T) {
	tests := []struct {
		base     string
		token    string
		insecure bool
		sent     bool
	}{
		{"http://192.0.2.10:8080", "tok", false, false},
		{"http://gw1.site.example:8080", "tok", false, false},
		{"http://[2001:db8::1]:8080", "tok", false, false},
		{"http://127.0.0.1.nip.io:8080", "tok", false, false},
		{"HTTP://10.0.0.1", "tok", false, false},
		{"http://127.0.0.1:8080", "tok", false, true},
		{"http://127.8.9.10:8080", "tok", false, true},
		{"http://[::1]:8080", "tok", false, true},
		{"http://localhost:8080", "tok", false, true},
		{"https://192.0.2.10:8443", "tok", false, true},
		{"http://192.0.2.10:8080", "tok", true, true},
		{"http://192.0.2.10:8080", "", false, true}, // no token to give away
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s token %q insecure %v", tc.base, tc.token, tc.insecure), func(t *testing.T) {
			rec := &recorder{}
			c := client.New(tc.base, tc.token)
			c.HTTP, c.InsecureToken = &http.Client{Transport: rec}, tc.insecure
			_, err := c.Status(context.Background())
			sent := rec.sent()
			if !tc.sent {
				if !errors.Is(err, client.ErrPlainTextToken) || !strings.Contains(err.Error(), "use an https:// address") {
					t.Errorf("got %v, want ErrPlainTextToken saying what to do", err)
				}
				if len(sent) != 0 {
					t.Errorf("sent %d requests, want none", len(sent))
				}
				return
			}
			if err != nil || len(sent) != 1 {
				t.Fatalf("got %v and %d requests, want 1 sent", err, len(sent))
			}
			if got, want := sent[0].Header.Get("Authorization"), "Bearer "+tc.token; tc.token != "" && got != want {
				t.Errorf("got Authorization %q, want %q", got, want)
			}
		})
	}
}
