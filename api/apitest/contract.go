package apitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
)

// Target is one backend under the API's contract: an api.Backend and, when
// it has one, its simulator.
type Target struct {
	Backend api.Backend
	// Sim is nil for a backend without a simulator; the simulator's
	// part of the contract is then skipped.
	Sim api.Sim
}

// RunContract runs the API's route table against the backends newTarget
// makes, through a real api.Server: users, PINs, cards, doors, status,
// events and, with a simulator, cards, key presses and door contacts
// through to the journal. It checks what clients rely on: status codes,
// error codes and the documents answered, never a backend's own choices
// such as generated ids or the order of its events. The fake Backend
// passes it, and so must the gateway's store-backed one, so a test of the
// API over the fake says something about the gateway.
//
// Each scenario gets a fresh target: no users, and the simulated site of
// `lintel run --sim` ([Readers], a door per reader). Simulated input may
// take effect after the request returns (the gateway sends real Wiegand
// pulses); the contract waits for its events for up to 10 s.
func RunContract(t *testing.T, newTarget func(t *testing.T) Target) {
	scenarios := []struct {
		name string
		run  func(c *contract)
	}{
		{"users", contractUsers},
		{"PINs", contractPINs},
		{"cards", contractCards},
		{"status, doors and events", contractStatus},
		{"simulator", contractSim},
		{"access policy", contractPolicy},
		{"user list and search", contractUserList},
		{"card removal and formats", contractCardRules},
		{"enrolment from the next card", contractEnrol},
		{"export and import", contractExportImport},
		{"audit", contractAudit},
		{"the status page's users view", contractUsersView},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			sc.run(newContract(t, newTarget(t)))
		})
	}
}

// contract is an API server over one target, with a token per role.
type contract struct {
	t      *testing.T
	target Target
	h      http.Handler
	tokens map[api.Role]string
}

func newContract(t *testing.T, target Target) *contract {
	t.Helper()
	c := &contract{t: t, target: target, tokens: map[api.Role]string{}}
	var tokens []api.Token
	for _, r := range []api.Role{api.RoleAdmin, api.RoleTechnician, api.RolePortal} {
		plain, hash := api.NewToken()
		c.tokens[r] = plain
		tokens = append(tokens, api.Token{Name: string(r), Role: r, Hash: hash})
	}
	s, err := api.New(api.Config{Tokens: tokens, Heartbeat: time.Hour, Version: "contract"}, target.Backend, target.Sim)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	t.Cleanup(s.Close)
	c.h = s.Handler()
	return c
}

// step is one request of a scenario and what it must answer.
type step struct {
	method, path, body string
	role               api.Role // zero: admin
	status             int
	code               string // the error code, for error answers
	// says, when set, is a part of the error's message: the field a
	// policy error names, say.
	says string
	// check, when set, checks the answer's body.
	check func(t *testing.T, body []byte)
	// form, when set, is sent as the body, form-encoded, as the status
	// page's forms send theirs.
	form url.Values
}

// run does the steps in order, each as a subtest named after its request.
func (c *contract) run(steps ...step) {
	c.t.Helper()
	for _, s := range steps {
		name := s.method + " " + s.path
		if s.body != "" {
			name += " " + s.body
		}
		if !c.t.Run(name, func(t *testing.T) { c.do(t, s) }) {
			c.t.FailNow() // later steps build on this one
		}
	}
}

// do sends one step's request and checks its answer, returning the body.
func (c *contract) do(t *testing.T, s step) []byte {
	t.Helper()
	role := s.role
	if role == "" {
		role = api.RoleAdmin
	}
	var req *http.Request
	if s.form != nil {
		req = httptest.NewRequest(s.method, s.path, strings.NewReader(s.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if s.body != "" {
		req = httptest.NewRequest(s.method, s.path, strings.NewReader(s.body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(s.method, s.path, nil)
	}
	req.Host = "127.0.0.1:8080"
	req.Header.Set("Authorization", "Bearer "+c.tokens[role])
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	if rec.Code != s.status {
		t.Fatalf("got status %d, want %d; body %s", rec.Code, s.status, body)
	}
	if s.code != "" {
		var doc api.ErrorDoc
		if err := json.Unmarshal(body, &doc); err != nil || doc.Error.Code != s.code || doc.Error.Message == "" {
			t.Fatalf("got %s, want an error document with code %q and a message", body, s.code)
		}
		if !strings.Contains(doc.Error.Message, s.says) {
			t.Fatalf("got message %q, want it to say %q", doc.Error.Message, s.says)
		}
	}
	if s.check != nil {
		s.check(t, body)
	}
	return body
}

// get does a GET that must answer 200 and decodes it into v.
func (c *contract) get(path string, v any) {
	c.t.Helper()
	body := c.do(c.t, step{method: "GET", path: path, status: 200})
	if err := json.Unmarshal(body, v); err != nil {
		c.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// isUser checks that an answer is a user document.
func isUser(want api.UserDoc) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		var got api.UserDoc
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%v in %s", err, body)
		}
		sortCreds(got.Credentials)
		sortCreds(want.Credentials)
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("user document (-want +got):\n%s", diff)
		}
	}
}

func sortCreds(cs []access.Credential) {
	slices.SortFunc(cs, func(a, b access.Credential) int { return strings.Compare(a.Card.String(), b.Card.String()) })
}

// userDoc is the document of a user put through the API, which gives no
// levels: a new user gets the default ones, and an update keeps them.
func userDoc(id, name string, enabled bool) api.UserDoc {
	return api.UserDoc{User: access.User{ID: id, Name: name, Enabled: enabled, Levels: access.DefaultLevels()},
		Credentials: []access.Credential{}}
}

func contractUsers(c *contract) {
	from, to := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 18, 0, 0, 0, time.UTC)
	dated := userDoc("ct-u1", "Ada Lovelace", true)
	dated.ValidFrom, dated.ValidTo = from, to
	c.run(
		step{method: "GET", path: "/api/v1/users/ct-u1", status: 404, code: api.CodeNotFound},
		step{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada","enabled":true}`, status: 201, check: isUser(userDoc("ct-u1", "Ada", true))},
		step{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada Lovelace","enabled":false}`, status: 200, check: isUser(userDoc("ct-u1", "Ada Lovelace", false))},
		step{method: "GET", path: "/api/v1/users/ct-u1", role: api.RoleTechnician, status: 200, check: isUser(userDoc("ct-u1", "Ada Lovelace", false))},
		step{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada Lovelace","enabled":true,"valid_from":"2026-01-01T08:00:00Z","valid_to":"2027-01-01T18:00:00Z"}`, status: 200, check: isUser(dated)},
		step{method: "GET", path: "/api/v1/users/ct-u1", status: 200, check: isUser(dated)},
		step{method: "PUT", path: "/api/v1/users/ct-u2", body: `{"name":"Zoë Ångström"}`, status: 201, check: isUser(userDoc("ct-u2", "Zoë Ångström", true))},
		step{method: "PUT", path: "/api/v1/users/ct-u3", body: `{"name":"Bo"}`, role: api.RoleTechnician, status: 403, code: api.CodeForbidden},
		step{method: "GET", path: "/api/v1/users/ct-u3", status: 404, code: api.CodeNotFound},
		step{method: "DELETE", path: "/api/v1/users/ct-u1", status: 204},
		step{method: "GET", path: "/api/v1/users/ct-u1", status: 404, code: api.CodeNotFound},
		step{method: "DELETE", path: "/api/v1/users/ct-u1", status: 404, code: api.CodeNotFound},
		step{method: "GET", path: "/api/v1/users/ct-u2", status: 200, check: isUser(userDoc("ct-u2", "Zoë Ångström", true))},
	)
}

// pinOf reads the PIN of a PIN answer.
func pinOf(t *testing.T, body []byte) string {
	t.Helper()
	var doc api.PINDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	return doc.PIN
}

func hasPIN(want bool) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		var doc api.UserDoc
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%v in %s", err, body)
		}
		if doc.HasPIN != want {
			t.Errorf("got has_pin %v, want %v", doc.HasPIN, want)
		}
		if strings.Contains(string(body), `"pin"`) {
			t.Errorf("a user document carries a PIN: %s", body)
		}
	}
}

func contractPINs(c *contract) {
	const custom = "730518"
	var generated string
	c.run(
		step{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada"}`, status: 201},
		step{method: "PUT", path: "/api/v1/users/ct-u2", body: `{"name":"Bo"}`, status: 201},
		step{method: "PUT", path: "/api/v1/users/ct-u1/pin", body: `{"pin":"` + custom + `"}`, status: 201, check: func(t *testing.T, body []byte) {
			if got := pinOf(t, body); got != custom {
				t.Errorf("got PIN %q, want the one set", got)
			}
		}},
		step{method: "GET", path: "/api/v1/users/ct-u1", status: 200, check: hasPIN(true)},
		step{method: "PUT", path: "/api/v1/users/ct-u1/pin", body: `{"pin":"` + custom + `"}`, status: 201}, // its own PIN again
		step{method: "PUT", path: "/api/v1/users/ct-u2/pin", body: `{"pin":"` + custom + `"}`, status: 409, code: api.CodePINInUse},
		step{method: "GET", path: "/api/v1/users/ct-u2", status: 200, check: hasPIN(false)},
		step{method: "PUT", path: "/api/v1/users/ct-u2/pin", body: `{"length":6}`, status: 201, check: func(t *testing.T, body []byte) {
			generated = pinOf(t, body)
			if err := access.ValidatePIN(generated); err != nil || len(generated) != 6 || generated == custom {
				t.Errorf("generated a PIN of %d characters (%v), want 6 digits held by nobody else", len(generated), err)
			}
		}},
		step{method: "PUT", path: "/api/v1/users/ct-u2/pin", body: `{"length":9}`, status: 422, code: api.CodeInvalidPIN},
		step{method: "PUT", path: "/api/v1/users/ct-u2/pin", body: `{"pin":"12a4"}`, status: 422, code: api.CodeInvalidPIN},
		step{method: "PUT", path: "/api/v1/users/nobody/pin", body: `{"length":6}`, status: 404, code: api.CodeNotFound},
		step{method: "PUT", path: "/api/v1/users/nobody/pin", body: `{"pin":"902716"}`, status: 404, code: api.CodeNotFound},
		step{method: "DELETE", path: "/api/v1/users/nobody/pin", status: 404, code: api.CodeNotFound},
		step{method: "DELETE", path: "/api/v1/users/ct-u1/pin", status: 204},
		step{method: "DELETE", path: "/api/v1/users/ct-u1/pin", status: 204}, // clearing no PIN is not an error
		step{method: "GET", path: "/api/v1/users/ct-u1", status: 200, check: hasPIN(false)},
		step{method: "PUT", path: "/api/v1/users/ct-u2/pin", body: `{"pin":"` + custom + `"}`, status: 201}, // freed by the clear (R1)
	)
	// Deleting a user frees their PIN.
	c.run(
		step{method: "PUT", path: "/api/v1/users/ct-u1/pin", body: `{"pin":"` + generated + `"}`, status: 201}, // ct-u2 gave it up (R1)
		step{method: "DELETE", path: "/api/v1/users/ct-u1", status: 204},
		step{method: "PUT", path: "/api/v1/users/ct-u2/pin", body: `{"pin":"` + generated + `"}`, status: 201},
	)
}

func isCredential(user string, card access.CardKey, id string) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		var got access.Credential
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%v in %s", err, body)
		}
		if got.ID == "" || access.CheckID(got.ID) != nil || (id != "" && got.ID != id) {
			t.Errorf("got credential id %q, want a valid id (%q if given)", got.ID, id)
		}
		want := access.Credential{ID: got.ID, UserID: user, Type: access.CredentialCard, Card: card}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("credential (-want +got):\n%s", diff)
		}
	}
}

func contractCards(c *contract) {
	card1 := access.CardKey{Format: "H10301", Facility: 1, Number: 100}
	card2 := access.CardKey{Format: "H10301", Facility: 2, Number: 7}
	var id1 string
	c.run(
		step{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada"}`, status: 201},
		step{method: "PUT", path: "/api/v1/users/ct-u2", body: `{"name":"Bo"}`, status: 201},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"type":"card","format":"H10301","facility":1,"number":100}`, status: 201,
			check: func(t *testing.T, body []byte) {
				isCredential("ct-u1", card1, "")(t, body)
				var got access.Credential
				_ = json.Unmarshal(body, &got)
				id1 = got.ID
			}},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"id":"badge-7","format":"H10301","facility":2,"number":7}`, status: 201, check: isCredential("ct-u1", card2, "badge-7")},
		step{method: "POST", path: "/api/v1/users/ct-u2/credentials", body: `{"format":"H10301","facility":1,"number":100}`, status: 409, code: api.CodeCredentialInUse},
		step{method: "POST", path: "/api/v1/users/ct-u2/credentials", body: `{"id":"badge-7","format":"H10301","facility":3,"number":9}`, status: 409, code: api.CodeCredentialInUse},
		step{method: "POST", path: "/api/v1/users/nobody/credentials", body: `{"format":"H10301","facility":4,"number":4}`, status: 404, code: api.CodeNotFound},
		step{method: "POST", path: "/api/v1/users/ct-u2/credentials", body: `{"format":"H10301","number":4}`, status: 422, code: api.CodeInvalid},
		step{method: "POST", path: "/api/v1/users/ct-u2/credentials", body: `{"format":"H10301","facility":1,"number":100}`, role: api.RoleTechnician, status: 403, code: api.CodeForbidden},
	)
	want := userDoc("ct-u1", "Ada", true)
	c.run(step{method: "GET", path: "/api/v1/users/ct-u1", status: 200, check: func(t *testing.T, body []byte) {
		want.Credentials = []access.Credential{
			{ID: id1, UserID: "ct-u1", Type: access.CredentialCard, Card: card1},
			{ID: "badge-7", UserID: "ct-u1", Type: access.CredentialCard, Card: card2},
		}
		isUser(want)(t, body)
	}})
	// Deleting a user frees their cards.
	c.run(
		step{method: "DELETE", path: "/api/v1/users/ct-u1", status: 204},
		step{method: "POST", path: "/api/v1/users/ct-u2/credentials", body: `{"id":"badge-7","format":"H10301","facility":1,"number":100}`, status: 201, check: isCredential("ct-u2", card1, "badge-7")},
	)
}

func contractStatus(c *contract) {
	var st api.Status
	c.get("/api/v1/status", &st)
	if st.GatewayID == "" || st.Version == "" || st.Started.IsZero() {
		c.t.Errorf("status: got gateway %q version %q started %v, want all three", st.GatewayID, st.Version, st.Started)
	}
	var doors []string
	for _, d := range st.Doors {
		doors = append(doors, d.Name)
		if !d.Locked {
			c.t.Errorf("door %s: unlocked at rest", d.Name)
		}
	}
	slices.Sort(doors)
	if diff := cmp.Diff([]string{"front", "garage", "side"}, doors); diff != "" {
		c.t.Errorf("doors (-want +got):\n%s", diff)
	}
	var readers []access.ReaderConfig
	for _, r := range st.Readers {
		readers = append(readers, access.ReaderConfig{Name: r.Name, Door: r.Door, Model: r.Model, Mode: r.Mode})
		if r.LastFrame != nil {
			c.t.Errorf("reader %s: has a frame before any input", r.Name)
		}
	}
	slices.SortFunc(readers, func(a, b access.ReaderConfig) int { return strings.Compare(a.Name, b.Name) })
	site := slices.Clone(Readers)
	slices.SortFunc(site, func(a, b access.ReaderConfig) int { return strings.Compare(a.Name, b.Name) })
	if diff := cmp.Diff(site, readers); diff != "" {
		c.t.Errorf("readers (-want +got):\n%s", diff)
	}

	c.run(
		step{method: "GET", path: "/healthz", status: 200},
		step{method: "GET", path: "/api/v1/status", role: api.RolePortal, status: 403, code: api.CodeForbidden},
		step{method: "POST", path: "/api/v1/doors/front/pulse", role: api.RoleTechnician, status: 202},
		step{method: "POST", path: "/api/v1/doors/attic/pulse", status: 404, code: api.CodeNotFound},
		step{method: "GET", path: "/api/v1/events?limit=0", status: 400, code: api.CodeInvalidRequest},
	)

	// A test pulse unlocks the door at once, until a time the status
	// gives, and its event names who sent it (the status page shows both).
	at := c.cursor()
	sent := time.Now()
	c.run(step{method: "POST", path: "/api/v1/doors/side/pulse", role: api.RoleTechnician, status: 202})
	c.get("/api/v1/status", &st)
	for _, d := range st.Doors {
		if d.Name != "side" {
			continue
		}
		switch late := time.Since(sent); {
		case !d.Locked && d.UnlockedUntil.After(sent):
		case d.Locked && late > time.Second:
			c.t.Logf("door side had relocked when its status was read, %v after the pulse: not checked", late)
		default:
			c.t.Errorf("door side right after a test pulse: locked %v, unlocked until %v; want unlocked until after %v",
				d.Locked, d.UnlockedUntil, sent)
		}
	}
	pulse := c.waitEvent(at, "the test pulse's event", func(ev access.Event) bool { return ev.Door == "side" })
	if pulse.Actor != string(api.RoleTechnician) {
		c.t.Errorf("the test pulse's event %+v: got actor %q, want the technician's token name %q", pulse, pulse.Actor, api.RoleTechnician)
	}

	var page api.EventPage
	c.get("/api/v1/events?after=0&limit=1000", &page)
	var prev uint64
	for _, ev := range page.Events {
		if ev.Seq <= prev || ev.ID == "" || ev.Type == "" || ev.Name == "" || ev.Time.IsZero() {
			c.t.Errorf("event %+v: want seq after %d, an id, a type, a name and a time", ev, prev)
		}
		prev = ev.Seq
	}
	if page.Next != prev {
		c.t.Errorf("got next %d, want the last seq %d", page.Next, prev)
	}
	c.get(fmt.Sprintf("/api/v1/events?after=%d", prev), &page)
	for _, ev := range page.Events {
		if ev.Seq <= prev {
			c.t.Errorf("events after %d: got seq %d", prev, ev.Seq)
		}
	}
}

// cursor is the journal's last seq now.
func (c *contract) cursor() uint64 {
	c.t.Helper()
	var st api.Status
	c.get("/api/v1/status", &st)
	return st.Journal.Last
}

// waitEvent reads the journal through the API from after until an event
// matches, waiting for new ones for up to 10 s.
func (c *contract) waitEvent(after uint64, what string, match func(access.Event) bool) access.Event {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var seen []string
	for {
		var page api.EventPage
		c.get("/api/v1/events?limit=1000&after="+strconv.FormatUint(after, 10), &page)
		for _, ev := range page.Events {
			if match(ev) {
				return ev
			}
			seen = append(seen, ev.Name)
		}
		after = page.Next
		if err := c.target.Backend.WaitEvents(ctx, after); err != nil {
			c.t.Fatalf("no %s within 10 s (saw %q)", what, seen)
		}
	}
}

func contractSim(c *contract) {
	if c.target.Sim == nil {
		c.t.Skip("the target has no simulator")
	}
	const pin = "730518"
	c.run(
		step{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada"}`, status: 201},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"format":"H10301","facility":1,"number":100}`, status: 201},
		step{method: "PUT", path: "/api/v1/users/ct-u1/pin", body: `{"pin":"` + pin + `"}`, status: 201},
	)
	granted := func(name string) func(access.Event) bool {
		return func(ev access.Event) bool { return ev.Name == name && ev.User == "ct-u1" }
	}

	at := c.cursor()
	c.run(step{method: "POST", path: "/api/v1/sim/readers/garage/card", body: `{"format":"H10301","facility":1,"number":100}`, role: api.RoleTechnician, status: 202})
	ev := c.waitEvent(at, "card grant at garage", granted(access.NameGrantCard))
	if ev.Reader != "garage" || ev.Door != "garage" || ev.Type != access.TypeGranted {
		c.t.Errorf("got %+v, want a grant at reader and door garage", ev)
	}
	var st api.Status
	c.get("/api/v1/status", &st)
	for _, r := range st.Readers {
		if r.Name != "garage" {
			continue
		}
		f := r.LastFrame
		if f == nil || f.Length != 26 || !f.ParityOK || f.Format != "H10301" || f.Facility != 1 || f.Number != 100 || f.Bits != "10000000100000000011001000" {
			c.t.Errorf("garage's last frame: got %+v, want the H10301 card 1/100", f)
		}
	}

	at = c.cursor()
	c.run(step{method: "POST", path: "/api/v1/sim/readers/garage/card", body: `{"facility":1,"number":101}`, status: 202})
	c.waitEvent(at, "denial of an unknown card", func(ev access.Event) bool {
		return ev.Name == access.NameDenyCardNotFound && ev.Reader == "garage"
	})

	at = c.cursor()
	c.run(step{method: "POST", path: "/api/v1/sim/readers/side/keys", body: `{"keys":"` + pin + `#"}`, status: 202})
	if ev := c.waitEvent(at, "PIN grant at side", granted(access.NameGrantPIN)); ev.Reader != "side" {
		c.t.Errorf("got %+v, want a PIN grant at side", ev)
	}
	c.get("/api/v1/status", &st)
	for _, r := range st.Readers {
		if r.Name == "side" && (r.LastFrame == nil || !r.LastFrame.Keypad || r.LastFrame.Bits != "") {
			c.t.Errorf("side's last frame: got %+v, want a key press without its bits", r.LastFrame)
		}
	}

	c.run(
		step{method: "POST", path: "/api/v1/sim/readers/attic/card", body: `{"facility":1,"number":100}`, status: 404, code: api.CodeNotFound},
		step{method: "POST", path: "/api/v1/sim/readers/garage/card", body: `{"facility":256,"number":1}`, status: 422, code: api.CodeInvalid},
		step{method: "POST", path: "/api/v1/sim/readers/garage/card", body: `{"format":"C1k35","facility":5000,"number":1}`, status: 422, code: api.CodeInvalid},
		step{method: "POST", path: "/api/v1/sim/readers/garage/card", body: `{"bits":"` + strings.Repeat("1", 65) + `"}`, status: 422, code: api.CodeInvalid},
		step{method: "POST", path: "/api/v1/sim/readers/garage/card", body: `{"facility":1,"number":100}`, role: api.RolePortal, status: 403, code: api.CodeForbidden},
		step{method: "POST", path: "/api/v1/sim/doors/front/contact", body: `{"open":true}`, status: 202},
		step{method: "POST", path: "/api/v1/sim/doors/front/contact", body: `{"open":false}`, status: 202},
		step{method: "POST", path: "/api/v1/sim/doors/attic/contact", body: `{"open":true}`, status: 404, code: api.CodeNotFound},
	)
}

// contractPolicy is the access policy's routes and their errors, and the
// user fields they bring (levels, override, an enabled flag an update
// keeps).
func contractPolicy(c *contract) {
	office := `{"name":"Office","intervals":[{"days":["mon","tue","wed","thu","fri"],"start":"08:00","end":"18:00","holidays":[]}]}`
	hasLevels := func(levels []string, override, enabled bool) func(t *testing.T, body []byte) {
		return func(t *testing.T, body []byte) {
			t.Helper()
			var got api.UserDoc
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%v in %s", err, body)
			}
			if !slices.Equal(got.Levels, levels) || got.Override != override || got.Enabled != enabled {
				t.Errorf("user levels %v override %v enabled %v, want %v %v %v", got.Levels, got.Override, got.Enabled, levels, override, enabled)
			}
		}
	}
	c.run(
		step{method: "GET", path: "/api/v1/schedules", status: 200, check: isJSON(`{"schedules":[]}`)},
		step{method: "PUT", path: "/api/v1/schedules/office", body: office, status: 201},
		step{method: "PUT", path: "/api/v1/schedules/office", body: office, status: 200},
		step{method: "GET", path: "/api/v1/schedules/office", role: api.RoleTechnician, status: 200,
			check: isJSON(`{"id":"office","name":"Office","intervals":[{"days":["mon","tue","wed","thu","fri"],"start":"08:00","end":"18:00","holidays":[]}]}`)},
		step{method: "PUT", path: "/api/v1/schedules/night", body: `{"intervals":[{"days":["mon"],"start":"22:00","end":"25:00","holidays":[]}]}`,
			status: 422, code: api.CodeInvalid, says: "intervals[0].end"},
		step{method: "PUT", path: "/api/v1/schedules/night", body: `{"intervals":[{"days":["mon","mun"],"start":"22:00","end":"24:00"}]}`,
			status: 422, code: api.CodeInvalid, says: "intervals[0].days[1]"},
		step{method: "PUT", path: "/api/v1/schedules/always", body: `{"intervals":[]}`, status: 422, code: api.CodeInvalid, says: "built in"},
		step{method: "PUT", path: "/api/v1/schedules/x", body: `{"name":"X"}`, status: 422, code: api.CodeInvalid, says: "intervals"},
		step{method: "PUT", path: "/api/v1/schedules/x", body: office, role: api.RoleTechnician, status: 403, code: api.CodeForbidden},
		step{method: "PUT", path: "/api/v1/holidays/ny", body: `{"name":"New Year","date":"2027-01-01","type":1}`, status: 201},
		step{method: "PUT", path: "/api/v1/holidays/bad", body: `{"date":"2027-02-30","type":1}`, status: 422, code: api.CodeInvalid, says: "date"},
		step{method: "GET", path: "/api/v1/holidays", status: 200, check: isJSON(`{"holidays":[{"id":"ny","name":"New Year","date":"2027-01-01","type":1}]}`)},
		step{method: "PUT", path: "/api/v1/levels/staff", body: `{"name":"Staff","doors":[{"door":"front","schedule":"office"},{"door":"side","schedule":"always"}]}`, status: 201},
		step{method: "PUT", path: "/api/v1/levels/lobby", body: `{"doors":[{"door":"lobby","schedule":"always"}]}`,
			status: 422, code: api.CodeInvalid, says: "doors[0].door"},
		step{method: "PUT", path: "/api/v1/levels/night", body: `{"doors":[{"door":"side","schedule":"night"}]}`,
			status: 422, code: api.CodeInvalid, says: "doors[0].schedule"},
		step{method: "PUT", path: "/api/v1/users/ct-p1", body: `{"name":"Ann","levels":["staff"],"override":true}`, status: 201,
			check: hasLevels([]string{"staff"}, true, true)},
		step{method: "PUT", path: "/api/v1/users/ct-p1", body: `{"name":"Ann","enabled":false}`, status: 200,
			check: hasLevels([]string{"staff"}, true, false)},
		step{method: "PUT", path: "/api/v1/users/ct-p1", body: `{"name":"Ann B"}`, status: 200,
			check: hasLevels([]string{"staff"}, true, false)}, // an update without enabled keeps a user disabled
		step{method: "PUT", path: "/api/v1/users/ct-p2", body: `{"name":"Bo","levels":["boss"]}`, status: 422, code: api.CodeInvalid, says: "levels[0]"},
		step{method: "PUT", path: "/api/v1/users/ct-p2", body: `{"name":"Bo","levels":[]}`, status: 201, check: hasLevels([]string{}, false, true)},
		step{method: "PUT", path: "/api/v1/users/ct-p2", body: `{"name":"Bo","enabled":false}`, status: 200,
			check: hasLevels([]string{}, false, false)}, // an update without levels keeps no level as no level
		step{method: "DELETE", path: "/api/v1/schedules/office", status: 409, code: api.CodeInUse, says: `level "staff"`},
		step{method: "DELETE", path: "/api/v1/levels/staff", status: 409, code: api.CodeInUse, says: "1 users"},
		step{method: "PUT", path: "/api/v1/doors/front/policy", body: `{"modes":[{"schedule":"office","mode":"unlocked","first_in":"staff"}]}`, status: 200},
		step{method: "GET", path: "/api/v1/doors/front/policy", role: api.RoleTechnician, status: 200,
			check: isJSON(`{"door":"front","modes":[{"schedule":"office","mode":"unlocked","first_in":"staff"}]}`)},
		step{method: "PUT", path: "/api/v1/doors/garage/policy", body: `{"modes":[{"schedule":"office","mode":"card_or_pin"}]}`,
			status: 422, code: api.CodeInvalid, says: "modes[0].mode"},
		step{method: "DELETE", path: "/api/v1/doors/front/policy", status: 204},
		step{method: "GET", path: "/api/v1/doors/front/policy", status: 200, check: isJSON(`{"door":"front","modes":[]}`)},
		step{method: "PUT", path: "/api/v1/overrides/lockdown", body: `{"doors":["*"],"mode":"lockdown","until":null}`, status: 201},
		step{method: "PUT", path: "/api/v1/overrides/bad", body: `{"doors":["*"],"mode":"open","until":null}`, status: 422, code: api.CodeInvalid, says: "mode"},
		step{method: "PUT", path: "/api/v1/overrides/bad", body: `{"doors":["*"],"mode":"locked","until":"18:00"}`, status: 422, code: api.CodeInvalid, says: "until"},
		step{method: "GET", path: "/api/v1/overrides", status: 200, check: isJSON(`{"overrides":[{"id":"lockdown","doors":["*"],"mode":"lockdown","until":null}]}`)},
		step{method: "DELETE", path: "/api/v1/overrides/lockdown", status: 204},
		step{method: "DELETE", path: "/api/v1/overrides/lockdown", status: 404, code: api.CodeNotFound},
		step{method: "DELETE", path: "/api/v1/holidays/ny", status: 204},
	)
}

// isJSON checks that an answer is the JSON want, whatever its spacing.
func isJSON(want string) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		var g, w any
		if err := json.Unmarshal(body, &g); err != nil {
			t.Fatalf("%v in %s", err, body)
		}
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			panic(err)
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("answer (-want +got):\n%s", diff)
		}
	}
}
