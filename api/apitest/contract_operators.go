package apitest

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
)

// pageIs checks a page of GET /api/v1/users: the ids in order and next.
func pageIs(ids []string, next string) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		var p api.UserPage
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("%v in %s", err, body)
		}
		got := []string{}
		for _, u := range p.Users {
			got = append(got, u.ID)
			if u.Credentials == nil || u.Levels == nil {
				t.Errorf("user %s: credentials %v levels %v, want lists", u.ID, u.Credentials, u.Levels)
			}
		}
		if diff := cmp.Diff(ids, got); diff != "" {
			t.Errorf("ids (-want +got):\n%s", diff)
		}
		if p.Next != next {
			t.Errorf("got next %q, want %q", p.Next, next)
		}
	}
}

// contractUserList is GET /api/v1/users: pages in id order from after,
// the search over ids and names, and its bad queries.
func contractUserList(c *contract) {
	users := []struct{ id, name string }{
		{"ct-ann", "Ann Example"}, {"ct-bob", "Bob Builder"}, {"ct-cat", "Cat Stevens"},
		{"ct-dan", "Dan Brown"}, {"ct-eve", "Eve Annan"}, {"zed", "Zoë Ångström"},
	}
	var steps []step
	for _, u := range users {
		steps = append(steps, step{method: "PUT", path: "/api/v1/users/" + u.id, body: `{"name":"` + u.name + `"}`, status: 201})
	}
	c.run(steps...)
	c.run(
		step{method: "GET", path: "/api/v1/users", role: api.RoleTechnician, status: 200,
			check: pageIs([]string{"ct-ann", "ct-bob", "ct-cat", "ct-dan", "ct-eve", "zed"}, "")},
		step{method: "GET", path: "/api/v1/users?limit=2", status: 200, check: pageIs([]string{"ct-ann", "ct-bob"}, "ct-bob")},
		step{method: "GET", path: "/api/v1/users?limit=2&after=ct-bob", status: 200, check: pageIs([]string{"ct-cat", "ct-dan"}, "ct-dan")},
		step{method: "GET", path: "/api/v1/users?limit=2&after=ct-dan", status: 200, check: pageIs([]string{"ct-eve", "zed"}, "")},
		step{method: "GET", path: "/api/v1/users?after=ct-bz", status: 200, check: pageIs([]string{"ct-cat", "ct-dan", "ct-eve", "zed"}, "")},
		step{method: "GET", path: "/api/v1/users?after=zed", status: 200, check: pageIs([]string{}, "")},
		// The search: case-insensitive, within the id or the name.
		step{method: "GET", path: "/api/v1/users?q=ANN", status: 200, check: pageIs([]string{"ct-ann", "ct-eve"}, "")},
		step{method: "GET", path: "/api/v1/users?q=ann&limit=1", status: 200, check: pageIs([]string{"ct-ann"}, "ct-ann")},
		step{method: "GET", path: "/api/v1/users?q=ann&limit=1&after=ct-ann", status: 200, check: pageIs([]string{"ct-eve"}, "")},
		step{method: "GET", path: "/api/v1/users?q=CT-D", status: 200, check: pageIs([]string{"ct-dan"}, "")},
		step{method: "GET", path: "/api/v1/users?q=%C3%A5ngstr", status: 200, check: pageIs([]string{"zed"}, "")},
		step{method: "GET", path: "/api/v1/users?q=nobody", status: 200, check: pageIs([]string{}, "")},
		step{method: "GET", path: "/api/v1/users?limit=0", status: 400, code: api.CodeInvalidRequest, says: "limit"},
		step{method: "GET", path: "/api/v1/users?limit=1001", status: 400, code: api.CodeInvalidRequest, says: "limit"},
		step{method: "GET", path: "/api/v1/users?after=a%20b", status: 400, code: api.CodeInvalidRequest, says: "after"},
		step{method: "GET", path: "/api/v1/users?q=" + strings.Repeat("x", 257), status: 400, code: api.CodeInvalidRequest, says: "q"},
		step{method: "GET", path: "/api/v1/users", role: api.RolePortal, status: 403, code: api.CodeForbidden},
	)
}

// contractCardRules is DELETE /api/v1/credentials/{id} and the card
// formats: a card no reader can present is refused naming the field.
func contractCardRules(c *contract) {
	var id string
	c.run(
		step{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada"}`, status: 201},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"format":"H10301","facility":1,"number":100}`, status: 201,
			check: func(t *testing.T, body []byte) {
				var got access.Credential
				_ = json.Unmarshal(body, &got)
				id = got.ID
			}},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"id":"badge-2","format":"H10301","facility":1,"number":101}`, status: 201},
	)
	c.run(
		step{method: "DELETE", path: "/api/v1/credentials/" + id, role: api.RoleTechnician, status: 403, code: api.CodeForbidden},
		step{method: "DELETE", path: "/api/v1/credentials/" + id, status: 204},
		step{method: "DELETE", path: "/api/v1/credentials/" + id, status: 404, code: api.CodeNotFound, says: fmt.Sprintf("credential %q does not exist", id)},
		step{method: "DELETE", path: "/api/v1/credentials/a%20b", status: 400, code: api.CodeInvalidRequest},
		step{method: "GET", path: "/api/v1/users/ct-u1", status: 200, check: func(t *testing.T, body []byte) {
			var u api.UserDoc
			_ = json.Unmarshal(body, &u)
			if len(u.Credentials) != 1 || u.Credentials[0].ID != "badge-2" {
				t.Errorf("got credentials %+v, want only badge-2 left", u.Credentials)
			}
		}},
		// The card it held is free again.
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"format":"H10301","facility":1,"number":100}`, status: 201},
		// Cards no reader of the gateway can present (issue 12, finding 9).
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"format":"FOO","facility":1,"number":1}`, status: 422, code: api.CodeInvalid, says: `format: "FOO" is not a card format`},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"format":"h10301","facility":1,"number":1}`, status: 422, code: api.CodeInvalid, says: `format: "h10301" is spelled "H10301"`},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"format":"H10301","facility":300,"number":1}`, status: 422, code: api.CodeInvalid, says: "facility: H10301 facility codes are 0 to 255, got 300"},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"format":"H10301","facility":1,"number":70000}`, status: 422, code: api.CodeInvalid, says: "number: H10301 card numbers are 0 to 65535, got 70000"},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"format":"H10302","facility":0,"number":1}`, status: 422, code: api.CodeInvalid, says: "format: no reader of this gateway decodes H10302 cards"},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"format":"C1k35","facility":4095,"number":1048575}`, status: 201},
	)
}

// contractEnrol is POST /api/v1/users/{id}/credentials/enrol: the next
// card read at the reader is enrolled, and not decided.
func contractEnrol(c *contract) {
	c.run(
		step{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada"}`, status: 201},
		step{method: "POST", path: "/api/v1/users/nobody/credentials/enrol", body: `{"reader":"garage"}`, status: 404, code: api.CodeNotFound},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials/enrol", body: `{"reader":"attic","wait_seconds":1}`, status: 404, code: api.CodeNotFound, says: "attic"},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials/enrol", body: `{}`, status: 422, code: api.CodeInvalid, says: "reader"},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials/enrol", body: `{"reader":"garage","wait_seconds":121}`, status: 422, code: api.CodeInvalid, says: "wait_seconds"},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials/enrol", body: `{"reader":"garage"}`, role: api.RoleTechnician, status: 403, code: api.CodeForbidden},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials/enrol", body: `{"reader":"garage","wait_seconds":1}`, status: 408, code: api.CodeNoCard, says: "garage"},
	)
	if c.target.Sim == nil {
		return
	}
	at := c.cursor()
	enrol := `{"reader":"garage","wait_seconds":20}`
	done := c.waitingEnrolment("/api/v1/users/ct-u1/credentials/enrol", enrol, "garage", "ct-u1")
	// A frame that failed its parity is not a card, and is not enrolled.
	c.run(step{method: "POST", path: "/api/v1/sim/readers/garage/card", body: `{"bits":"10000000100000000011001001"}`, status: 202})
	c.run(step{method: "POST", path: "/api/v1/sim/readers/garage/card", body: `{"facility":7,"number":4242}`, status: 202})
	var r answer
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		c.t.Fatal("the enrolment did not end within 20 s of the card")
	}
	if r.status != 201 {
		c.t.Fatalf("enrolment: got %d %s, want 201", r.status, r.body)
	}
	var doc api.EnrolDoc
	if err := json.Unmarshal(r.body, &doc); err != nil || doc.UserID != "ct-u1" || doc.Reader != "garage" ||
		doc.Card != (access.CardKey{Format: "H10301", Facility: 7, Number: 4242}) {
		c.t.Fatalf("enrolment answered %s (%v), want ct-u1's card H10301 7/4242 read at garage", r.body, err)
	}
	c.waitEvent(at, "the enrolment's audit", func(ev access.Event) bool {
		return ev.Type == access.TypeAudit && ev.User == "ct-u1" && ev.Actor == string(api.RoleAdmin)
	})
	// The card now opens garage; the enrolling presentation decided nothing.
	at2 := c.cursor()
	c.run(step{method: "POST", path: "/api/v1/sim/readers/garage/card", body: `{"facility":7,"number":4242}`, status: 202})
	c.waitEvent(at2, "a grant of the enrolled card", func(ev access.Event) bool {
		return ev.Name == access.NameGrantCard && ev.User == "ct-u1"
	})
	var page api.EventPage
	c.get(fmt.Sprintf("/api/v1/events?limit=1000&after=%d", at), &page)
	for _, ev := range page.Events {
		if ev.Seq > at2 {
			break
		}
		if ev.Type == access.TypeDenied || ev.Type == access.TypeGranted {
			c.t.Errorf("the enrolling presentation was decided: %+v", ev)
		}
	}
}

// answer is a status and a body.
type answer struct {
	status int
	body   []byte
}

// send does a request as admin and returns its answer; unlike do it never
// fails the test, so it may run in another goroutine.
func (c *contract) send(method, path, body string) answer {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Host = "127.0.0.1:8080"
	req.Header.Set("Authorization", "Bearer "+c.tokens[api.RoleAdmin])
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return answer{rec.Code, rec.Body.Bytes()}
}

// waitingEnrolment starts an enrolment and returns once it waits at its
// reader (the reader's status names its user), with the channel its
// answer will come on.
func (c *contract) waitingEnrolment(path, body, reader, user string) <-chan answer {
	c.t.Helper()
	done := make(chan answer, 1)
	go func() { done <- c.send("POST", path, body) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case a := <-done:
			c.t.Fatalf("enrolment: got %d %s before a card was read", a.status, a.body)
		case <-time.After(5 * time.Millisecond): // between looks at the status
		}
		var st api.Status
		c.get("/api/v1/status", &st)
		for _, r := range st.Readers {
			if r.Name == reader && r.Enrolling == user {
				// A second enrolment at the reader is refused meanwhile.
				c.run(step{method: "POST", path: path, body: `{"reader":"` + reader + `","wait_seconds":1}`, status: 409, code: api.CodeInUse,
					says: fmt.Sprintf("reader %q is already waiting for a card to enrol for user %q", reader, user)})
				return done
			}
		}
	}
	c.t.Fatalf("reader %s's status never showed the enrolment waiting within 10 s", reader)
	return nil
}

// contractExportImport is GET /api/v1/export and POST /api/v1/import: the
// whole table, with no PIN, back as it was; PINs kept for users the
// gateway holds, listed for those it does not.
func contractExportImport(c *contract) {
	c.run(
		step{method: "PUT", path: "/api/v1/schedules/office", body: `{"intervals":[{"days":["mon"],"start":"08:00","end":"18:00","holidays":[]}]}`, status: 201},
		step{method: "PUT", path: "/api/v1/levels/staff", body: `{"doors":[{"door":"front","schedule":"office"}]}`, status: 201},
		step{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada","levels":["staff"],"override":true}`, status: 201},
		step{method: "PUT", path: "/api/v1/users/ct-u2", body: `{"name":"Bo","enabled":false}`, status: 201},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"id":"k1","format":"H10301","facility":1,"number":100}`, status: 201},
		step{method: "PUT", path: "/api/v1/users/ct-u1/pin", body: `{"pin":"730518"}`, status: 201},
		step{method: "GET", path: "/api/v1/export", role: api.RoleTechnician, status: 403, code: api.CodeForbidden},
	)
	var doc api.ExportDoc
	c.get("/api/v1/export", &doc)
	if doc.Format != api.ExportFormat || doc.GatewayID == "" || doc.ExportedAt.IsZero() || !slices.Equal(doc.UsersWithPIN, []string{"ct-u1"}) {
		c.t.Errorf("export: format %q gateway %q at %v with PIN %v, want %s, an id, a time and [ct-u1]", doc.Format, doc.GatewayID, doc.ExportedAt, doc.UsersWithPIN, api.ExportFormat)
	}
	if strings.Contains(string(doc.Table), "730518") || strings.Contains(string(doc.Table), `"pin"`) {
		c.t.Errorf("the export carries a PIN: %s", doc.Table)
	}
	before := c.users()
	export, _ := json.Marshal(doc)
	// The same export imported back changes nothing, and keeps the PIN.
	c.run(
		step{method: "POST", path: "/api/v1/import", body: string(export), role: api.RoleTechnician, status: 403, code: api.CodeForbidden},
		step{method: "POST", path: "/api/v1/import", body: string(export), status: 200, check: isJSONSubset(`{"users":2,"credentials":1,"pins":1,"schedules":1,"levels":1,"need_pin":[]}`)},
	)
	if diff := cmp.Diff(before, c.users()); diff != "" {
		c.t.Errorf("after importing its own export (-before +after):\n%s", diff)
	}
	// After the table is gone, the import restores everything but the PIN.
	c.run(
		step{method: "DELETE", path: "/api/v1/users/ct-u1", status: 204},
		step{method: "DELETE", path: "/api/v1/users/ct-u2", status: 204},
		step{method: "DELETE", path: "/api/v1/levels/staff", status: 204},
		step{method: "POST", path: "/api/v1/import", body: string(export), status: 200, check: isJSONSubset(`{"users":2,"credentials":1,"pins":0,"need_pin":["ct-u1"]}`)},
	)
	after := c.users()
	before[0].HasPIN = false
	if diff := cmp.Diff(before, after); diff != "" {
		c.t.Errorf("restored table (-exported +restored):\n%s", diff)
	}
	c.run(
		step{method: "POST", path: "/api/v1/import", body: `{"format":"other","gateway_id":"x","exported_at":"2026-01-01T00:00:00Z","users_with_pin":[],"table":{}}`, status: 422, code: api.CodeInvalid, says: "format"},
		step{method: "POST", path: "/api/v1/import", body: `{"format":"lintel-export/1","gateway_id":"x","exported_at":"2026-01-01T00:00:00Z","users_with_pin":[]}`, status: 422, code: api.CodeInvalid, says: "table"},
		step{method: "POST", path: "/api/v1/import", body: `{"format":"lintel-export/1","gateway_id":"x","exported_at":"2026-01-01T00:00:00Z","users_with_pin":[],"table":{"revision":1,"base":0,"ops":[]}}`, status: 422, code: api.CodeInvalid, says: "snapshot"},
		step{method: "POST", path: "/api/v1/import", body: `{"format":"lintel-export/1","gateway_id":"x","exported_at":"2026-01-01T00:00:00Z","users_with_pin":[],"table":{"revision":1,"snapshot":true,"users":[{"id":"u9","enabled":true,"credentials":[{"id":"c9","card":{"format":"H10301","facility":300,"number":1}}]}]}}`,
			status: 422, code: api.CodeInvalid, says: "facility"},
		step{method: "POST", path: "/api/v1/import", body: `{"format":"lintel-export/1","gateway_id":"x","exported_at":"2026-01-01T00:00:00Z","users_with_pin":[],"table":{"revision":1,"snapshot":true,"users":[]},"extra":1}`, status: 400, code: api.CodeInvalidBody},
	)
	if diff := cmp.Diff(after, c.users()); diff != "" {
		c.t.Errorf("a refused import changed the table (-before +after):\n%s", diff)
	}
}

// users is the whole table through GET /api/v1/users.
func (c *contract) users() []api.UserDoc {
	c.t.Helper()
	var p api.UserPage
	c.get("/api/v1/users?limit=1000", &p)
	return p.Users
}

// isJSONSubset checks that an answer holds want's fields with want's
// values (other fields may be there too).
func isJSONSubset(want string) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		var g, w map[string]any
		if err := json.Unmarshal(body, &g); err != nil {
			t.Fatalf("%v in %s", err, body)
		}
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			panic(err)
		}
		for k, v := range w {
			if diff := cmp.Diff(v, g[k]); diff != "" {
				t.Errorf("%s (-want +got):\n%s", k, diff)
			}
		}
	}
}

// contractAudit: every change through the API journals an event naming
// its actor (the token's name), door pulses and overrides included, and
// no event carries a PIN.
func contractAudit(c *contract) {
	const pin = "730518"
	changes := []step{
		{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada"}`, status: 201},
		{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada","enabled":false}`, status: 200},
		{method: "PUT", path: "/api/v1/users/ct-u1/pin", body: `{"pin":"` + pin + `"}`, status: 201},
		{method: "PUT", path: "/api/v1/users/ct-u1/pin", body: `{"length":6}`, status: 201},
		{method: "DELETE", path: "/api/v1/users/ct-u1/pin", status: 204},
		{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"id":"k1","format":"H10301","facility":1,"number":100}`, status: 201},
		{method: "DELETE", path: "/api/v1/credentials/k1", status: 204},
		{method: "PUT", path: "/api/v1/schedules/office", body: `{"intervals":[{"days":["mon"],"start":"08:00","end":"18:00","holidays":[]}]}`, status: 201},
		{method: "PUT", path: "/api/v1/holidays/ny", body: `{"date":"2027-01-01","type":1}`, status: 201},
		{method: "PUT", path: "/api/v1/levels/staff", body: `{"doors":[{"door":"front","schedule":"office"}]}`, status: 201},
		{method: "PUT", path: "/api/v1/doors/front/policy", body: `{"modes":[{"schedule":"office","mode":"unlocked"}]}`, status: 200},
		{method: "DELETE", path: "/api/v1/doors/front/policy", status: 204},
		{method: "PUT", path: "/api/v1/overrides/lock", body: `{"doors":["*"],"mode":"lockdown","until":null}`, status: 201},
		{method: "DELETE", path: "/api/v1/overrides/lock", status: 204},
		{method: "DELETE", path: "/api/v1/levels/staff", status: 204},
		{method: "DELETE", path: "/api/v1/holidays/ny", status: 204},
		{method: "DELETE", path: "/api/v1/schedules/office", status: 204},
		{method: "POST", path: "/api/v1/doors/front/pulse", role: api.RoleTechnician, status: 202},
		{method: "POST", path: "/api/v1/import", body: `{"format":"lintel-export/1","gateway_id":"x","exported_at":"2026-01-01T00:00:00Z","users_with_pin":[],"table":{"revision":1,"snapshot":true,"users":[{"id":"ct-u2","name":"Bo","enabled":true}]}}`, status: 200},
		{method: "DELETE", path: "/api/v1/users/ct-u2", status: 204},
	}
	for _, s := range changes {
		at := c.cursor()
		c.run(s)
		actor := string(api.RoleAdmin)
		if s.role != "" {
			actor = string(s.role)
		}
		ev := c.waitEvent(at, "an event naming the actor of "+s.method+" "+s.path, func(ev access.Event) bool {
			return ev.Actor == actor
		})
		if strings.HasPrefix(s.path, "/api/v1/doors/") && strings.HasSuffix(s.path, "/pulse") {
			if ev.Door != "front" {
				c.t.Errorf("%s %s: got %+v, want the pulse of door front", s.method, s.path, ev)
			}
		} else if ev.Type != access.TypeAudit {
			c.t.Errorf("%s %s: got %+v, want an audit event", s.method, s.path, ev)
		}
	}
	var page api.EventPage
	c.get("/api/v1/events?limit=1000", &page)
	for _, ev := range page.Events {
		if b, _ := json.Marshal(ev); strings.Contains(string(b), pin) {
			c.t.Errorf("an event carries the PIN: %s", b)
		}
	}
}

// contractUsersView is the status page's users view over the backend: a
// change made from it journals what the same change through the API
// journals, actor and detail alike, and an unknown user or a card already
// gone is answered in words with nothing changed. (The page's session and
// its CSRF token are the api package's own tests; a bearer token admits
// the same.)
func contractUsersView(c *contract) {
	c.run(
		step{method: "PUT", path: "/api/v1/users/ct-u1", body: `{"name":"Ada","enabled":true}`, status: 201},
		step{method: "PUT", path: "/api/v1/users/ct-u2", body: `{"name":"Ada","enabled":true}`, status: 201},
		step{method: "POST", path: "/api/v1/users/ct-u1/credentials", body: `{"id":"k1","format":"H10301","facility":1,"number":100}`, status: 201},
		step{method: "POST", path: "/api/v1/users/ct-u2/credentials", body: `{"id":"k2","format":"H10301","facility":1,"number":101}`, status: 201},
		step{method: "GET", path: "/users?q=ct-u", status: 200, check: says(`id="user-ct-u1"`, `id="user-ct-u2"`, `id="card-k1"`, `id="card-k2"`)},
	)
	// The journal may take a change's event after the change's answer, so
	// an event is told by its name, not by coming after a cursor.
	audited := func(name, user string, after uint64) access.Event {
		c.t.Helper()
		ev := c.waitEvent(after, name+" of "+user, func(ev access.Event) bool {
			return ev.Type == access.TypeAudit && ev.Name == name && ev.User == user
		})
		ev.Seq, ev.ID, ev.User, ev.Time = 0, "", "", time.Time{}
		return ev
	}
	same := func(what string, page, viaAPI access.Event) {
		c.t.Helper()
		if diff := cmp.Diff(viaAPI, page); diff != "" {
			c.t.Errorf("%s: the page's audit event differs from the API's (-api +page):\n%s", what, diff)
		}
		if page.Actor != "admin" {
			c.t.Errorf("%s: the page's change names actor %q, want the token's name admin", what, page.Actor)
		}
	}

	at := c.cursor()
	c.run(step{method: "POST", path: "/users/ct-u1/enabled", form: url.Values{"enabled": {"false"}}, status: 200, check: says("Disabled Ada (ct-u1)")})
	page := audited("User Updated", "ct-u1", at)
	at = c.cursor()
	c.run(step{method: "PUT", path: "/api/v1/users/ct-u2", body: `{"name":"Ada","enabled":false}`, status: 200})
	same("disable", page, audited("User Updated", "ct-u2", at))

	at = c.cursor()
	c.run(step{method: "POST", path: "/credentials/k1/remove", form: url.Values{"user": {"ct-u1"}}, status: 200,
		check: says("Removed card H10301, facility 1, number 100 (k1) of Ada (ct-u1)")})
	page = audited("Card Removed", "ct-u1", at)
	at = c.cursor()
	c.run(step{method: "DELETE", path: "/api/v1/credentials/k2", status: 204})
	viaAPI := audited("Card Removed", "ct-u2", at)
	viaAPI.Detail = strings.ReplaceAll(viaAPI.Detail, ":101", ":100") // the one card number apart
	viaAPI.Credential = strings.ReplaceAll(viaAPI.Credential, "k2", "k1")
	same("card removal", page, viaAPI)

	c.run(
		step{method: "POST", path: "/credentials/k1/remove", form: url.Values{"user": {"ct-u1"}}, status: 404, check: says(`Card &#34;k1&#34; is already gone`)},
		step{method: "POST", path: "/users/ct-nobody/enabled", form: url.Values{"enabled": {"true"}}, status: 404, check: says(`User &#34;ct-nobody&#34; does not exist`)},
		step{method: "POST", path: "/users/ct-u1/enabled", form: url.Values{"enabled": {"true"}}, role: api.RoleTechnician, status: 403, check: says("for admin sessions only")},
		step{method: "GET", path: "/api/v1/users/ct-u1", status: 200, check: isUser(userDoc("ct-u1", "Ada", false))},
		step{method: "GET", path: "/api/v1/users/ct-nobody", status: 404, code: api.CodeNotFound},
	)
}

// says checks that an answer holds each of parts.
func says(parts ...string) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(string(body), p) {
				t.Errorf("the answer lacks %q:\n%s", p, body)
			}
		}
	}
}
