package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
)

// seedPIN is the PIN of user u1 in every route test.
const seedPIN = "482915"

// seed adds u1 (Ada, PIN, card H10301 1/100) and u2 (Bo, nothing).
// seedEvents is how many events seed journals: the audit events of its
// four changes, then a grant and a denial.
const seedEvents = 6

func seed(h *harness) {
	h.t.Helper()
	must := func(err error) {
		h.t.Helper()
		if err != nil {
			h.t.Fatal(err)
		}
	}
	_, err := h.backend.PutUser("test", access.User{ID: "u1", Name: "Ada", Enabled: true}, access.AllFields)
	must(err)
	_, err = h.backend.PutUser("test", access.User{ID: "u2", Name: "Bo", Enabled: true}, access.AllFields)
	must(err)
	must(h.backend.SetPIN("test", "u1", seedPIN))
	_, err = h.backend.AddCredential("test", "u1", access.Credential{ID: "card1", Card: access.CardKey{Format: "H10301", Facility: 1, Number: 100}})
	must(err)
	h.backend.Emit(access.Event{Type: access.TypeGranted, Name: access.NameGrantCard, Reader: "garage", Door: "garage", User: "u1"},
		access.Event{Type: access.TypeDenied, Name: access.NameDenyCardNotFound, Reader: "garage", Door: "garage"})
}

type routeCase struct {
	name     string
	opts     harnessOptions
	req      request
	setup    func(h *harness)
	status   int
	code     string // the error code, for error answers
	contains string // a part of the body
}

func routeCases() []routeCase {
	long := strings.Repeat("x", 70<<10)
	return []routeCase{
		// healthz
		{name: "healthz ok without token", req: request{method: "GET", path: "/healthz"}, status: 200, contains: `"ok"`},
		{name: "healthz unhealthy", req: request{method: "GET", path: "/healthz"}, setup: func(h *harness) { h.backend.SetHealthy(false) }, status: 503, code: api.CodeUnhealthy},

		// metrics and openapi
		{name: "metrics technician", req: request{method: "GET", path: "/metrics", token: techToken}, status: 200},
		{name: "metrics without token", req: request{method: "GET", path: "/metrics"}, status: 401, code: api.CodeUnauthorized, contains: "missing bearer token"},
		{name: "metrics portal", req: request{method: "GET", path: "/metrics", token: portalToken}, status: 403, code: api.CodeForbidden},
		{name: "openapi technician", req: request{method: "GET", path: "/api/v1/openapi.json", token: techToken}, status: 200, contains: `"openapi": "3.0.3"`},
		{name: "openapi portal", req: request{method: "GET", path: "/api/v1/openapi.json", token: portalToken}, status: 403, code: api.CodeForbidden},

		// status
		{name: "status admin", req: request{method: "GET", path: "/api/v1/status", token: adminToken}, status: 200, contains: `"gateway_id":"gw-test","version":"1.2.3-test"`},
		{name: "status technician", req: request{method: "GET", path: "/api/v1/status", token: techToken}, status: 200, contains: `"name":"front"`},
		{name: "status portal", req: request{method: "GET", path: "/api/v1/status", token: portalToken}, status: 403, code: api.CodeForbidden, contains: "role portal may not GET /api/v1/status"},
		{name: "status missing token", req: request{method: "GET", path: "/api/v1/status"}, status: 401, code: api.CodeUnauthorized},
		{name: "status wrong token", req: request{method: "GET", path: "/api/v1/status", token: "not-a-token"}, status: 401, code: api.CodeUnauthorized, contains: "not valid"},
		{name: "status basic auth", req: request{method: "GET", path: "/api/v1/status", header: map[string]string{"Authorization": "Basic YTpi"}}, status: 401, code: api.CodeUnauthorized, contains: `want \"Bearer \u003ctoken\u003e\"`},

		// PUT user
		{name: "put user creates", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"Cy","enabled":true}`}, status: 201, contains: `"id":"u9","name":"Cy","enabled":true,"levels":["all"],"has_pin":false,"credentials":[]`},
		{name: "put user replaces", req: request{method: "PUT", path: "/api/v1/users/u1", token: adminToken, body: `{"name":"Ada L","enabled":false}`}, status: 200, contains: `"name":"Ada L","enabled":false,"levels":["all"],"has_pin":true`},
		{name: "put user enabled by default", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"Cy"}`}, status: 201, contains: `"enabled":true`},
		{name: "put user validity", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"Cy","valid_from":"2026-01-01T00:00:00Z","valid_to":"2027-01-01T00:00:00Z"}`}, status: 201, contains: `"valid_from":"2026-01-01T00:00:00Z"`},
		{name: "put user technician", req: request{method: "PUT", path: "/api/v1/users/u9", token: techToken, body: `{"name":"Cy"}`}, status: 403, code: api.CodeForbidden},
		{name: "put user portal", req: request{method: "PUT", path: "/api/v1/users/u9", token: portalToken, body: `{"name":"Cy"}`}, status: 403, code: api.CodeForbidden},
		{name: "put user no token", req: request{method: "PUT", path: "/api/v1/users/u9", body: `{"name":"Cy"}`}, status: 401, code: api.CodeUnauthorized},
		{name: "put user truncated JSON", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":`}, status: 400, code: api.CodeInvalidBody, contains: "body: the JSON ends too early"},
		{name: "put user bad JSON", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name" "x"}`}, status: 400, code: api.CodeInvalidBody, contains: "body: invalid JSON at line 1, column 9"},
		{name: "put user unknown field", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"nmae":"x"}`}, status: 400, code: api.CodeInvalidBody, contains: `body: unknown field \"nmae\"`},
		{name: "put user name a number", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":1}`}, status: 400, code: api.CodeInvalidBody, contains: "name: must be a string, got number"},
		{name: "put user enabled a string", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"a","enabled":"yes"}`}, status: 400, code: api.CodeInvalidBody, contains: "enabled: must be true or false, got string"},
		{name: "put user array", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `["a"]`}, status: 400, code: api.CodeInvalidBody, contains: "body: want a JSON object, got an array"},
		{name: "put user trailing data", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"a"} {}`}, status: 400, code: api.CodeInvalidBody, contains: "unexpected data after the JSON object"},
		{name: "put user empty body", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, header: map[string]string{"Content-Type": "application/json"}}, status: 400, code: api.CodeInvalidBody, contains: "body: is empty"},
		{name: "put user text body", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"a"}`, header: map[string]string{"Content-Type": "text/plain"}}, status: 415, code: api.CodeUnsupportedMedia},
		{name: "put user too long body", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"` + long + `"}`}, status: 413, code: api.CodeBodyTooLarge, contains: "body: larger than 65536 bytes"},
		{name: "put user empty name", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":" "}`}, status: 422, code: api.CodeInvalid, contains: "name: is empty"},
		{name: "put user long name", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"` + strings.Repeat("é", 129) + `"}`}, status: 422, code: api.CodeInvalid, contains: "at most 256 allowed"},
		{name: "put user control in name", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"a\u0007"}`}, status: 422, code: api.CodeInvalid, contains: "control character"},
		{name: "put user bad valid_from", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"a","valid_from":"tomorrow"}`}, status: 422, code: api.CodeInvalid, contains: "valid_from: must be an RFC 3339 time"},
		{name: "put user valid_to first", req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"a","valid_from":"2027-01-01T00:00:00Z","valid_to":"2026-01-01T00:00:00Z"}`}, status: 422, code: api.CodeInvalid, contains: "valid_to: must be after valid_from"},
		{name: "put user bad id", req: request{method: "PUT", path: "/api/v1/users/a%20b", token: adminToken, body: `{"name":"a"}`}, status: 400, code: api.CodeInvalidRequest, contains: "path: id: id \\\"a b\\\" has a character that is not allowed"},
		{name: "put user id too long", req: request{method: "PUT", path: "/api/v1/users/" + strings.Repeat("a", 65), token: adminToken, body: `{"name":"a"}`}, status: 400, code: api.CodeInvalidRequest, contains: "at most 64"},

		// GET and DELETE user
		{name: "get user admin", req: request{method: "GET", path: "/api/v1/users/u1", token: adminToken}, status: 200, contains: `"has_pin":true,"credentials":[{"id":"card1","user":"u1","type":"card","card":{"format":"H10301","facility":1,"number":100}}]`},
		{name: "get user technician", req: request{method: "GET", path: "/api/v1/users/u2", token: techToken}, status: 200, contains: `"has_pin":false`},
		{name: "get user portal", req: request{method: "GET", path: "/api/v1/users/u1", token: portalToken}, status: 403, code: api.CodeForbidden},
		{name: "get user unknown", req: request{method: "GET", path: "/api/v1/users/nobody", token: adminToken}, status: 404, code: api.CodeNotFound, contains: `user \"nobody\" does not exist`},
		{name: "delete user", req: request{method: "DELETE", path: "/api/v1/users/u1", token: adminToken}, status: 204},
		{name: "delete user technician", req: request{method: "DELETE", path: "/api/v1/users/u1", token: techToken}, status: 403, code: api.CodeForbidden},
		{name: "delete user unknown", req: request{method: "DELETE", path: "/api/v1/users/nobody", token: adminToken}, status: 404, code: api.CodeNotFound},

		// PIN
		{name: "pin custom", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{"pin":"20481024"}`}, status: 201, contains: `{"pin":"20481024"}`},
		{name: "pin custom replaces own", req: request{method: "PUT", path: "/api/v1/users/u1/pin", token: adminToken, body: `{"pin":"` + seedPIN + `"}`}, status: 201},
		{name: "pin in use", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{"pin":"` + seedPIN + `"}`}, status: 409, code: api.CodePINInUse, contains: "another user holds that PIN"},
		{name: "pin too short", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{"pin":"123"}`}, status: 422, code: api.CodeInvalidPIN, contains: "pin: pin must be 4 to 8 digits long (got 3 digits)"},
		{name: "pin too long", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{"pin":"123456789"}`}, status: 422, code: api.CodeInvalidPIN},
		{name: "pin not digits", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{"pin":"12a4"}`}, status: 422, code: api.CodeInvalidPIN, contains: "character 3 is not a digit"},
		{name: "pin a number", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{"pin":1234}`}, status: 400, code: api.CodeInvalidBody, contains: "pin: must be a string, got number"},
		{name: "pin both", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{"pin":"1234","length":4}`}, status: 422, code: api.CodeInvalidPIN, contains: "not both"},
		{name: "pin neither", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{}`}, status: 422, code: api.CodeInvalidPIN},
		{name: "pin generate length 3", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{"length":3}`}, status: 422, code: api.CodeInvalidPIN, contains: "length: pin must be 4 to 8 digits long (asked for 3)"},
		{name: "pin generate length 9", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{"length":9}`}, status: 422, code: api.CodeInvalidPIN},
		{name: "pin generate length a string", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{"length":"6"}`}, status: 400, code: api.CodeInvalidBody, contains: "length: must be a whole number, got string"},
		{name: "pin unknown user", req: request{method: "PUT", path: "/api/v1/users/nobody/pin", token: adminToken, body: `{"length":6}`}, status: 404, code: api.CodeNotFound},
		{name: "pin technician", req: request{method: "PUT", path: "/api/v1/users/u2/pin", token: techToken, body: `{"length":6}`}, status: 403, code: api.CodeForbidden},
		{name: "pin clear", req: request{method: "DELETE", path: "/api/v1/users/u1/pin", token: adminToken}, status: 204},
		{name: "pin clear unknown user", req: request{method: "DELETE", path: "/api/v1/users/nobody/pin", token: adminToken}, status: 404, code: api.CodeNotFound},
		{name: "pin clear technician", req: request{method: "DELETE", path: "/api/v1/users/u1/pin", token: techToken}, status: 403, code: api.CodeForbidden},

		// credentials
		{name: "card add", req: request{method: "POST", path: "/api/v1/users/u2/credentials", token: adminToken, body: `{"type":"card","format":"H10301","facility":1,"number":12345}`}, status: 201, contains: `"user":"u2","type":"card","card":{"format":"H10301","facility":1,"number":12345}`},
		{name: "card add with id", req: request{method: "POST", path: "/api/v1/users/u2/credentials", token: adminToken, body: `{"id":"badge-7","format":"H10301","facility":2,"number":7}`}, status: 201, contains: `"id":"badge-7"`},
		{name: "card in use", req: request{method: "POST", path: "/api/v1/users/u2/credentials", token: adminToken, body: `{"format":"H10301","facility":1,"number":100}`}, status: 409, code: api.CodeCredentialInUse},
		{name: "card facility a string", req: request{method: "POST", path: "/api/v1/users/u2/credentials", token: adminToken, body: `{"format":"H10301","facility":"1","number":100}`}, status: 400, code: api.CodeInvalidBody, contains: "facility: must be a whole number from 0 to 4294967295, got string"},
		{name: "card facility negative", req: request{method: "POST", path: "/api/v1/users/u2/credentials", token: adminToken, body: `{"format":"H10301","facility":-1,"number":100}`}, status: 400, code: api.CodeInvalidBody, contains: "facility: must be a whole number from 0 to 4294967295, got a number out of range"},
		{name: "card number too big", req: request{method: "POST", path: "/api/v1/users/u2/credentials", token: adminToken, body: `{"format":"H10301","facility":1,"number":1e30}`}, status: 400, code: api.CodeInvalidBody, contains: "number: must be a whole number from 0 to 18446744073709551615"},
		{name: "card missing facility", req: request{method: "POST", path: "/api/v1/users/u2/credentials", token: adminToken, body: `{"format":"H10301","number":100}`}, status: 422, code: api.CodeInvalid, contains: "facility: is missing"},
		{name: "card missing format", req: request{method: "POST", path: "/api/v1/users/u2/credentials", token: adminToken, body: `{"facility":1,"number":100}`}, status: 422, code: api.CodeInvalid, contains: "format: is empty"},
		{name: "card bad type", req: request{method: "POST", path: "/api/v1/users/u2/credentials", token: adminToken, body: `{"type":"fob","format":"H10301","facility":1,"number":5}`}, status: 422, code: api.CodeInvalid, contains: `type: \"fob\" is not a credential type`},
		{name: "card unknown user", req: request{method: "POST", path: "/api/v1/users/nobody/credentials", token: adminToken, body: `{"format":"H10301","facility":1,"number":5}`}, status: 404, code: api.CodeNotFound},
		{name: "card technician", req: request{method: "POST", path: "/api/v1/users/u2/credentials", token: techToken, body: `{"format":"H10301","facility":1,"number":5}`}, status: 403, code: api.CodeForbidden},

		// events
		{name: "events", req: request{method: "GET", path: "/api/v1/events", token: techToken}, status: 200, contains: `"next":6}`},
		{name: "events after", req: request{method: "GET", path: "/api/v1/events?after=1&limit=10", token: adminToken}, status: 200, contains: `"seq":2,"id":"gw-test-2"`},
		{name: "events after the end", req: request{method: "GET", path: "/api/v1/events?after=9", token: adminToken}, status: 200, contains: `{"events":[],"next":9}`},
		{name: "events bad after", req: request{method: "GET", path: "/api/v1/events?after=abc", token: adminToken}, status: 400, code: api.CodeInvalidRequest, contains: "query: after: must be a whole number"},
		{name: "events limit 0", req: request{method: "GET", path: "/api/v1/events?limit=0", token: adminToken}, status: 400, code: api.CodeInvalidRequest, contains: "limit: must be from 1 to 1000"},
		{name: "events limit too big", req: request{method: "GET", path: "/api/v1/events?limit=5000", token: adminToken}, status: 400, code: api.CodeInvalidRequest},
		{name: "events portal", req: request{method: "GET", path: "/api/v1/events", token: portalToken}, status: 403, code: api.CodeForbidden},
		{name: "stream bad after", req: request{method: "GET", path: "/api/v1/events/stream?after=-1", token: adminToken}, status: 400, code: api.CodeInvalidRequest},
		{name: "stream bad Last-Event-ID", req: request{method: "GET", path: "/api/v1/events/stream", token: adminToken, header: map[string]string{"Last-Event-ID": "x"}}, status: 400, code: api.CodeInvalidRequest},
		{name: "stream portal", req: request{method: "GET", path: "/api/v1/events/stream", token: portalToken}, status: 403, code: api.CodeForbidden},

		// sync
		{name: "sync changes portal", req: request{method: "POST", path: "/api/v1/sync/changes", token: portalToken, body: `{"revision":4}`}, status: 200, contains: `{"revision":4,"applied":true}`},
		{name: "sync changes admin", req: request{method: "POST", path: "/api/v1/sync/changes", token: adminToken, body: `{"revision":4}`}, status: 200},
		{name: "sync changes refused", req: request{method: "POST", path: "/api/v1/sync/changes", token: portalToken, body: `{"revision":"x"}`}, status: 400, contains: `"applied":false`},
		{name: "sync changes technician", req: request{method: "POST", path: "/api/v1/sync/changes", token: techToken, body: `{"revision":4}`}, status: 403, code: api.CodeForbidden},
		{name: "sync changes not JSON", req: request{method: "POST", path: "/api/v1/sync/changes", token: portalToken, body: `{}`, header: map[string]string{"Content-Type": "text/csv"}}, status: 415, code: api.CodeUnsupportedMedia},
		{name: "sync current portal", req: request{method: "GET", path: "/api/v1/sync", token: portalToken}, status: 200, contains: `{"revision":0,"applied":true}`},
		{name: "sync current technician", req: request{method: "GET", path: "/api/v1/sync", token: techToken}, status: 403, code: api.CodeForbidden},

		// door test pulse
		{name: "pulse technician", req: request{method: "POST", path: "/api/v1/doors/front/pulse", token: techToken}, status: 202},
		{name: "pulse admin", req: request{method: "POST", path: "/api/v1/doors/side/pulse", token: adminToken}, status: 202},
		{name: "pulse portal", req: request{method: "POST", path: "/api/v1/doors/front/pulse", token: portalToken}, status: 403, code: api.CodeForbidden},
		{name: "pulse unknown door", req: request{method: "POST", path: "/api/v1/doors/attic/pulse", token: techToken}, status: 404, code: api.CodeNotFound, contains: `door \"attic\" does not exist`},

		// simulator
		{name: "sim card", req: request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"format":"H10301","facility":1,"number":100}`}, status: 202},
		{name: "sim card default format", req: request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: adminToken, body: `{"facility":1,"number":100}`}, status: 202},
		{name: "sim bits", req: request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"bits":"10000000100000000011001000"}`}, status: 202},
		{name: "sim bits not binary", req: request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"bits":"10201"}`}, status: 422, code: api.CodeInvalid, contains: "bits: character 3 is not 0 or 1"},
		{name: "sim bits and card", req: request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"bits":"101","facility":1}`}, status: 422, code: api.CodeInvalid, contains: "not both"},
		{name: "sim bits too long", req: request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"bits":"` + strings.Repeat("1", 257) + `"}`}, status: 422, code: api.CodeInvalid},
		{name: "sim card missing number", req: request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"facility":1}`}, status: 422, code: api.CodeInvalid},
		{name: "sim card number too big for format", req: request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"facility":1,"number":70000}`}, status: 422, code: api.CodeInvalid, contains: "H10301 number must be 0 to 65535, got 70000"},
		{name: "sim card unknown reader", req: request{method: "POST", path: "/api/v1/sim/readers/attic/card", token: techToken, body: `{"facility":1,"number":1}`}, status: 404, code: api.CodeNotFound, contains: `reader \"attic\" does not exist`},
		{name: "sim card wrong type", req: request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"facility":true,"number":1}`}, status: 400, code: api.CodeInvalidBody, contains: "facility: must be a whole number from 0 to 4294967295, got bool"},
		{name: "sim card portal", req: request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: portalToken, body: `{"facility":1,"number":1}`}, status: 403, code: api.CodeForbidden},
		{name: "sim keys", req: request{method: "POST", path: "/api/v1/sim/readers/side/keys", token: techToken, body: `{"keys":"1234#"}`}, status: 202},
		{name: "sim keys not keys", req: request{method: "POST", path: "/api/v1/sim/readers/side/keys", token: techToken, body: `{"keys":"12a"}`}, status: 422, code: api.CodeInvalid, contains: "keys: character 3 is not a keypad key"},
		{name: "sim keys empty", req: request{method: "POST", path: "/api/v1/sim/readers/side/keys", token: techToken, body: `{"keys":""}`}, status: 422, code: api.CodeInvalid},
		{name: "sim keys unknown reader", req: request{method: "POST", path: "/api/v1/sim/readers/attic/keys", token: techToken, body: `{"keys":"1"}`}, status: 404, code: api.CodeNotFound},
		{name: "sim door", req: request{method: "POST", path: "/api/v1/sim/doors/front/contact", token: techToken, body: `{"open":true}`}, status: 202},
		{name: "sim door missing open", req: request{method: "POST", path: "/api/v1/sim/doors/front/contact", token: techToken, body: `{}`}, status: 422, code: api.CodeInvalid, contains: "open: is missing"},
		{name: "sim door open a string", req: request{method: "POST", path: "/api/v1/sim/doors/front/contact", token: techToken, body: `{"open":"yes"}`}, status: 400, code: api.CodeInvalidBody, contains: "open: must be true or false, got string"},
		{name: "sim door unknown", req: request{method: "POST", path: "/api/v1/sim/doors/attic/contact", token: techToken, body: `{"open":true}`}, status: 404, code: api.CodeNotFound},
		{name: "sim off: no card route", opts: harnessOptions{noSim: true}, req: request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: adminToken, body: `{"facility":1,"number":1}`}, status: 404, code: api.CodeNotFound, contains: "no route for POST"},
		{name: "sim off: no keys route", opts: harnessOptions{noSim: true}, req: request{method: "POST", path: "/api/v1/sim/readers/side/keys", token: adminToken, body: `{"keys":"1"}`}, status: 404, code: api.CodeNotFound},
		{name: "sim off: no door route", opts: harnessOptions{noSim: true}, req: request{method: "POST", path: "/api/v1/sim/doors/front/contact", token: adminToken, body: `{"open":true}`}, status: 404, code: api.CodeNotFound},

		// the router
		{name: "unknown route", req: request{method: "GET", path: "/api/v2/status", token: adminToken}, status: 404, code: api.CodeNotFound},
		{name: "method not allowed", req: request{method: "PATCH", path: "/api/v1/users/u1", token: adminToken, body: `{}`}, status: 405, code: api.CodeMethodNotAllowed},
		{name: "small body limit", opts: harnessOptions{bodyLimit: 16}, req: request{method: "PUT", path: "/api/v1/users/u9", token: adminToken, body: `{"name":"a long enough name"}`}, status: 413, code: api.CodeBodyTooLarge, contains: "larger than 16 bytes"},
	}
}

func TestRoutes(t *testing.T) {
	for _, tc := range routeCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts)
			seed(h)
			if tc.setup != nil {
				tc.setup(h)
			}
			rec := h.do(tc.req)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("got status %d, want %d; body %s", rec.Code, tc.status, body)
			}
			if tc.contains != "" && !strings.Contains(body, tc.contains) {
				t.Errorf("got body %s, want it to contain %s", body, tc.contains)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("got X-Content-Type-Options %q, want nosniff", got)
			}
			if tc.code == "" {
				return
			}
			var doc api.ErrorDoc
			dec := json.NewDecoder(strings.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("error answer %s is not an ErrorDoc: %v", body, err)
			}
			if doc.Error.Code != tc.code {
				t.Errorf("got code %q, want %q (message %q)", doc.Error.Code, tc.code, doc.Error.Message)
			}
			if doc.Error.Message == "" {
				t.Errorf("got an empty message for code %q", doc.Error.Code)
			}
			if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "application/json") {
				t.Errorf("got Content-Type %q, want application/json", got)
			}
		})
	}
}

// TestUserLifecycle walks a user through the API and checks what the
// backend holds after each step.
func TestUserLifecycle(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustDo(request{method: "PUT", path: "/api/v1/users/u7", token: adminToken, body: `{"name":"Grace"}`}, 201)
	h.mustDo(request{method: "POST", path: "/api/v1/users/u7/credentials", token: adminToken, body: `{"format":"H10301","facility":3,"number":33}`}, 201)
	out := h.mustDo(request{method: "PUT", path: "/api/v1/users/u7/pin", token: adminToken, body: `{"length":6}`}, 201)
	var pin api.PINDoc
	if err := json.Unmarshal([]byte(out), &pin); err != nil {
		t.Fatal(err)
	}
	if err := access.ValidatePIN(pin.PIN); err != nil || len(pin.PIN) != 6 {
		t.Fatalf("got generated PIN of %d characters (%v), want 6 digits", len(pin.PIN), err)
	}
	got := h.mustDo(request{method: "GET", path: "/api/v1/users/u7", token: adminToken}, 200)
	if strings.Contains(got, pin.PIN) {
		t.Errorf("GET user shows the PIN: %s", got)
	}
	var doc api.UserDoc
	if err := json.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatal(err)
	}
	want := api.UserDoc{
		User:        access.User{ID: "u7", Name: "Grace", Enabled: true, Levels: access.DefaultLevels()},
		HasPIN:      true,
		Credentials: []access.Credential{{ID: "c1", UserID: "u7", Type: "card", Card: access.CardKey{Format: "H10301", Facility: 3, Number: 33}}},
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("user after setup (-want +got):\n%s", diff)
	}
	// The generated PIN is taken now: another user cannot have it (R3).
	h.mustDo(request{method: "PUT", path: "/api/v1/users/u8", token: adminToken, body: `{"name":"Hal"}`}, 201)
	h.mustDo(request{method: "PUT", path: "/api/v1/users/u8/pin", token: adminToken, body: fmt.Sprintf(`{"pin":%q}`, pin.PIN)}, 409)
	h.mustDo(request{method: "DELETE", path: "/api/v1/users/u7/pin", token: adminToken}, 204)
	h.mustDo(request{method: "PUT", path: "/api/v1/users/u8/pin", token: adminToken, body: fmt.Sprintf(`{"pin":%q}`, pin.PIN)}, 201)
	h.mustDo(request{method: "DELETE", path: "/api/v1/users/u7", token: adminToken}, 204)
	h.mustDo(request{method: "GET", path: "/api/v1/users/u7", token: adminToken}, 404)
}

// TestSimSwipe checks that a simulated card reaches the journal through the
// engine, and that the frame inspector shows it.
func TestSimSwipe(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	seed(h)
	h.mustDo(request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"facility":1,"number":100}`}, 202)
	out := h.mustDo(request{method: "GET", path: fmt.Sprintf("/api/v1/events?after=%d", seedEvents), token: techToken}, 200)
	var page api.EventPage
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || page.Events[0].Name != access.NameGrantCard || page.Events[0].User != "u1" || page.Next != seedEvents+1 {
		t.Fatalf("got events %+v next %d, want one %q for u1, next %d", page.Events, page.Next, access.NameGrantCard, seedEvents+1)
	}
	var st api.Status
	if err := json.Unmarshal([]byte(h.mustDo(request{method: "GET", path: "/api/v1/status", token: techToken}, 200)), &st); err != nil {
		t.Fatal(err)
	}
	var frame *api.Frame
	for _, r := range st.Readers {
		if r.Name == "garage" {
			frame = r.LastFrame
		}
	}
	want := &api.Frame{Time: h.clock.Now(), Bits: "10000000100000000011001000", Length: 26, ParityOK: true, Format: "H10301", Facility: 1, Number: 100}
	if diff := cmp.Diff(want, frame); diff != "" {
		t.Errorf("garage's last frame (-want +got):\n%s", diff)
	}
}

// TestSyncBodyOfUnknownLength: a changeset sent without a Content-Length
// (chunked) is read up to the sync body limit and refused past it, the same
// as one whose declared length is over the limit.
func TestSyncBodyOfUnknownLength(t *testing.T) {
	h := newHarness(t, harnessOptions{syncBodyLimit: 32})
	seed(h)
	for _, tc := range []struct {
		name   string
		body   string
		length int64
		status int
	}{
		{"declared over the limit", `{"revision":4,"padding":"xxxxxxxxxxxxxx"}`, 42, 413},
		{"chunked over the limit", `{"revision":4,"padding":"xxxxxxxxxxxxxx"}`, -1, 413},
		{"chunked within it", `{"revision":4}`, -1, 200},
		{"declared within it", `{"revision":5}`, 14, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// io.MultiReader hides the body's length from httptest.
			req := httptest.NewRequest("POST", "/api/v1/sync/changes", io.MultiReader(strings.NewReader(tc.body)))
			req.ContentLength = tc.length
			req.Header.Set("Authorization", "Bearer "+portalToken)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.handler.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 413 && !strings.Contains(rec.Body.String(), "larger than 32 bytes") {
				t.Errorf("body %s does not state the limit", rec.Body)
			}
		})
	}
}
