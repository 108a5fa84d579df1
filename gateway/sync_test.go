package gateway

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

// Tokens of the sync tests: an admin and a portal, each under a name of
// its own so the audit can be told from the token's name.
var (
	syncAdminToken, _  = api.NewToken()
	syncPortalToken, _ = api.NewToken()
)

func syncTokens(c *Config) {
	c.API.Tokens = []TokenConfig{
		{Name: "ops-admin", Role: "admin", SHA256: api.HashToken(syncAdminToken)},
		{Name: "portal-eu", Role: "portal", SHA256: api.HashToken(syncPortalToken)},
	}
}

// post sends a request through the gateway's own router and backend.
func post(t *testing.T, g *Gateway, path, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Host = "127.0.0.1:8080" // the API refuses httptest's example.com
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	g.api.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

func decodeAck(t *testing.T, b []byte) changeset.Ack {
	t.Helper()
	var a changeset.Ack
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("ack %s: %v", b, err)
	}
	return a
}

// syncEvents returns the sync audit events journaled after seq.
func syncEvents(t *testing.T, g *Gateway, after uint64) []access.Event {
	t.Helper()
	g.store.Flush()
	evs, err := g.store.Events(after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []access.Event
	for _, ev := range evs {
		if strings.HasPrefix(ev.Type, "sync.") {
			out = append(out, ev)
		}
	}
	return out
}

// TestSyncHTTPAnswersItsOwnAck: a changeset posted over HTTP goes through
// the inbox like any other and the caller gets its own ack as the answer,
// with the status the API maps its code to; the audit names the portal
// for a portal token and the token for an admin.
func TestSyncHTTPAnswersItsOwnAck(t *testing.T) {
	g := startSim(t, syncTokens)
	start := g.store.JournalStats().Last
	tests := []struct {
		name, token, body string
		status            int
		ack               changeset.Status
		code              changeset.Code
	}{
		{"applied", syncPortalToken, `{"revision":1,"base":0,"ops":[{"op":"user.upsert","user":"u1","enabled":true}]}`, 200, changeset.StatusApplied, ""},
		{"duplicate", syncPortalToken, `{"revision":1,"base":0,"ops":[]}`, 200, changeset.StatusDuplicate, ""},
		{"gap", syncPortalToken, `{"revision":5,"base":4,"ops":[]}`, 409, changeset.StatusRefused, changeset.CodeGap},
		{"not JSON", syncPortalToken, `nonsense`, 400, changeset.StatusRefused, changeset.CodeMalformed},
		{"poison", syncPortalToken, `{"revision":18446744073709551615,"snapshot":true,"users":[]}`, 409, changeset.StatusRefused, changeset.CodeRevisionJump},
		{"admin", syncAdminToken, `{"revision":2,"base":1,"ops":[]}`, 200, changeset.StatusApplied, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := post(t, g, "/api/v1/sync/changes", tc.token, tc.body)
			ack := decodeAck(t, body)
			code := changeset.Code("")
			if ack.Error != nil {
				code = ack.Error.Code
			}
			if status != tc.status || ack.Status != tc.ack || code != tc.code {
				t.Errorf("got %d %s %s, want %d %s %s (%s)", status, ack.Status, code, tc.status, tc.ack, tc.code, body)
			}
		})
	}
	var got []string
	for _, ev := range syncEvents(t, g, start) {
		got = append(got, ev.Detail)
	}
	want := []string{
		`revision 1 applied by portal: user.upsert user "u1" (now 1 users, 0 credentials, 0 PINs)`,
		"revision 2 applied by ops-admin: no ops (now 1 users, 0 credentials, 0 PINs)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

// TestSyncResetRecoversFromPoison is the recovery path of the poisoning
// finding: a table left at 2^64-1 (as a changeset put it there before
// revisions were bounded) refuses every snapshot as a duplicate; an admin's
// `lintel sync reset` sets the revision back, the reset is journaled with
// the admin's name, and the portal's snapshot applies again.
func TestSyncResetRecoversFromPoison(t *testing.T) {
	g := startSim(t, syncTokens)
	if err := g.store.Update(func(tx *store.Tx) error { tx.SetRevision(math.MaxUint64); return nil }); err != nil {
		t.Fatal(err)
	}
	snap := `{"revision":40,"snapshot":true,"users":[]}`
	if _, _, body := post(t, g, "/api/v1/sync/changes", syncPortalToken, snap); decodeAck(t, body).Status != changeset.StatusDuplicate {
		t.Fatalf("poisoned: got %s, want a duplicate", body)
	}
	start := g.store.JournalStats().Last
	if status, _, body := post(t, g, "/api/v1/sync/reset", syncPortalToken, `{"revision":0}`); status != 403 {
		t.Errorf("reset with a portal token: got %d %s, want 403", status, body)
	}
	if status, _, body := post(t, g, "/api/v1/sync/reset", syncAdminToken, `{"revision":18446744073709551615}`); status != 200 {
		t.Errorf("reset to the current revision: got %d %s, want 200", status, body)
	}
	status, _, body := post(t, g, "/api/v1/sync/reset", syncAdminToken, `{"revision":39}`)
	if ack := decodeAck(t, body); status != 200 || ack.Status != changeset.StatusCurrent || ack.Revision != 39 {
		t.Fatalf("reset: got %d %s, want 200 current at 39", status, body)
	}
	if status, _, body := post(t, g, "/api/v1/sync/reset", syncAdminToken, `{"revision":41}`); status != 422 {
		t.Errorf("reset forward: got %d %s, want 422", status, body)
	}
	evs := syncEvents(t, g, start)
	if len(evs) != 2 || evs[1].Type != TypeSyncReset || evs[1].Name != NameSyncReset ||
		evs[1].Detail != "sync revision reset from 18446744073709551615 to 39 by ops-admin" {
		t.Errorf("journal after the resets: %+v, want two sync.reset events, the second naming ops-admin", evs)
	}
	if _, _, body := post(t, g, "/api/v1/sync/changes", syncPortalToken, snap); decodeAck(t, body).Status != changeset.StatusApplied {
		t.Errorf("the portal's snapshot after the reset: got %s, want applied", body)
	}
}

// docsKey is the example key of docs/sync.md: its private half is public,
// so it signs test changesets only.
func docsKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("lintel docs example key"))
	return ed25519.NewKeyFromSeed(seed[:])
}

// TestSyncSignedOnEveryTransport is the poisoning finding where it began:
// anyone who may publish on sync/changes, or holds a portal token, could
// change the table. With a key configured, the embedded broker and HTTP
// alike apply only changesets the portal signed for this gateway.
func TestSyncSignedOnEveryTransport(t *testing.T) {
	pub := base64.StdEncoding.EncodeToString(docsKey().Public().(ed25519.PublicKey))
	portalAccount := withLocalPortal(t)
	g := startSim(t, func(c *Config) {
		syncTokens(c)
		portalAccount(c)
		c.Sync.PublicKeys = []string{"portal-2026:" + pub}
	})
	acks := uplinktest.Subscribe(t, "tcp://"+g.broker.TCPAddr(), "lintel/v1/lintel-sim/sync/acks")
	portal := localPortal(t, g, "intruder")
	sign := func(gw, cs string) string { return string(changeset.Sign(docsKey(), "portal-2026", gw, []byte(cs))) }

	// Over the embedded broker.
	brokerAck := func(payload string) changeset.Ack {
		t.Helper()
		before := len(acks.Messages())
		if tok := portal.Publish("lintel/v1/lintel-sim/sync/changes", 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		msgs := acks.WaitFor(t, 20*time.Second, "an ack", func(m []uplinktest.Message) bool { return len(m) > before })
		return decodeAck(t, msgs[before].Payload)
	}
	if ack := brokerAck(`{"revision":18446744073709551615,"snapshot":true,"users":[]}`); ack.Error == nil || ack.Error.Code != changeset.CodeUnsigned {
		t.Errorf("unsigned over the broker: got %+v, want refused unsigned", ack)
	}
	if ack := brokerAck(sign("another-gateway", `{"revision":1,"snapshot":true,"users":[]}`)); ack.Error == nil || ack.Error.Code != changeset.CodeBadSignature {
		t.Errorf("signed for another gateway: got %+v, want refused bad_signature", ack)
	}
	if ack := brokerAck(sign("lintel-sim", `{"revision":1,"snapshot":true,"users":[]}`)); ack.Status != changeset.StatusApplied {
		t.Errorf("signed over the broker: got %+v, want applied", ack)
	}

	// Over HTTP.
	status, _, body := post(t, g, "/api/v1/sync/changes", syncPortalToken, `{"revision":2,"base":1,"ops":[]}`)
	if ack := decodeAck(t, body); status != 403 || ack.Error == nil || ack.Error.Code != changeset.CodeUnsigned {
		t.Errorf("unsigned over HTTP: got %d %s, want 403 unsigned", status, body)
	}
	status, _, body = post(t, g, "/api/v1/sync/changes", syncPortalToken, sign("lintel-sim", `{"revision":2,"base":1,"ops":[]}`))
	if ack := decodeAck(t, body); status != 200 || ack.Status != changeset.StatusApplied {
		t.Errorf("signed over HTTP: got %d %s, want 200 applied", status, body)
	}
	if got := g.store.Revision(); got != 2 {
		t.Errorf("revision: got %d, want 2", got)
	}
}

// TestSyncCodesHaveHTTPStatus holds the API's table of HTTP statuses to
// the changeset codes: every code the applier can answer with has a status
// of its own, and the table names no code that does not exist.
func TestSyncCodesHaveHTTPStatus(t *testing.T) {
	var codes []string
	for _, c := range changeset.Codes {
		codes = append(codes, string(c))
	}
	slices.Sort(codes)
	have := api.SyncCodes()
	slices.Sort(have)
	if diff := cmp.Diff(codes, have); diff != "" {
		t.Errorf("changeset codes (-) and the API's status table (+) differ:\n%s", diff)
	}
	for _, c := range codes {
		if s := api.SyncHTTPStatus("refused", c); s < 400 || (s >= 500 && c != "internal" && c != "busy") {
			t.Errorf("code %s: HTTP %d", c, s)
		}
	}
	for _, st := range []changeset.Status{changeset.StatusApplied, changeset.StatusDuplicate, changeset.StatusCurrent} {
		if s := api.SyncHTTPStatus(string(st), ""); s != 200 {
			t.Errorf("status %s: HTTP %d, want 200", st, s)
		}
	}
}
