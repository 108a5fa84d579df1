package api_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/api"
)

// TestSyncHTTPStatus is the API's table of ack codes: the HTTP status
// lives at the edge that speaks HTTP, keyed by the wire codes of
// docs/sync.md.
func TestSyncHTTPStatus(t *testing.T) {
	tests := []struct {
		status, code string
		want         int
	}{
		{"applied", "", 200},
		{"duplicate", "", 200},
		{"current", "", 200},
		{"refused", "malformed", 400},
		{"refused", "unknown_op", 400},
		{"refused", "unsigned", 403},
		{"refused", "bad_signature", 403},
		{"refused", "gap", 409},
		{"refused", "pin_in_use", 409},
		{"refused", "credential_in_use", 409},
		{"refused", "pin_space_exhausted", 409},
		{"refused", "revision_jump", 409},
		{"refused", "too_large", 413},
		{"refused", "invalid", 422},
		{"refused", "not_found", 422},
		{"refused", "a_code_from_a_newer_gateway", 422},
		{"refused", "internal", 500},
		{"refused", "busy", 503},
	}
	for _, tc := range tests {
		t.Run(tc.status+"/"+tc.code, func(t *testing.T) {
			if got := api.SyncHTTPStatus(tc.status, tc.code); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// TestSyncBusyIs503WithRetryAfter: a changeset the gateway refuses as busy
// is answered 503 with Retry-After, and the body is still its ack.
func TestSyncBusyIs503WithRetryAfter(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.backend.SetSyncBusy(true)
	rec := h.do(request{method: "POST", path: "/api/v1/sync/changes", token: portalToken, body: `{"revision":1}`})
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "2" || rec.Body.String() != `{"revision":0,"applied":false,"error":"busy"}` {
		t.Errorf("busy: got %d, Retry-After %q, body %s; want 503, 2 and the ack", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	h.backend.SetSyncBusy(false)
	h.mustDo(request{method: "POST", path: "/api/v1/sync/changes", token: portalToken, body: `{"revision":1}`}, 200)
}

// TestSyncActor: the backend is told who posted a changeset: "portal" for
// every portal token, the token's name for an admin.
func TestSyncActor(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustDo(request{method: "POST", path: "/api/v1/sync/changes", token: portalToken, body: `{"revision":1}`}, 200)
	h.mustDo(request{method: "POST", path: "/api/v1/sync/changes", token: adminToken, body: `{"revision":2}`}, 200)
	h.mustDo(request{method: "POST", path: "/api/v1/sync/reset", token: adminToken, body: `{"revision":1}`}, 200)
	if diff := cmp.Diff([]string{"portal", "admin", "reset by admin"}, h.backend.SyncActors()); diff != "" {
		t.Errorf("actors (-want +got):\n%s", diff)
	}
}

func TestSyncReset(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustDo(request{method: "POST", path: "/api/v1/sync/changes", token: portalToken, body: `{"revision":7}`}, 200)
	tests := []struct {
		name  string
		req   request
		want  int
		body  string
		code  string
		after string
	}{
		{name: "portal", req: request{token: portalToken, body: `{"revision":0}`}, want: 403, code: api.CodeForbidden},
		{name: "technician", req: request{token: techToken, body: `{"revision":0}`}, want: 403, code: api.CodeForbidden},
		{name: "forward", req: request{token: adminToken, body: `{"revision":8}`}, want: 422, code: api.CodeInvalid},
		{name: "not a number", req: request{token: adminToken, body: `{"revision":"0"}`}, want: 400, code: api.CodeInvalidBody},
		{name: "unknown field", req: request{token: adminToken, body: `{"rev":0}`}, want: 400, code: api.CodeInvalidBody},
		{name: "back", req: request{token: adminToken, body: `{"revision":3}`}, want: 200, body: `{"revision":3,"applied":true}`},
		{name: "to zero", req: request{token: adminToken, body: `{}`}, want: 200, body: `{"revision":0,"applied":true}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.method, tc.req.path = "POST", "/api/v1/sync/reset"
			rec := h.do(tc.req)
			if rec.Code != tc.want {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tc.want)
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Errorf("body: got %s, want %s", rec.Body, tc.body)
			}
			if tc.code != "" && !strings.Contains(rec.Body.String(), `"code":"`+tc.code+`"`) {
				t.Errorf("body: got %s, want code %s", rec.Body, tc.code)
			}
		})
	}
}
