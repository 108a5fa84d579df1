package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestNoSecretsLeak drives PINs, key presses and tokens through the API,
// including failures, and checks that none of them shows up in the log or
// in any answer but the one that created the PIN.
func TestNoSecretsLeak(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	seed(h)
	const customPIN, keys, wrongKeys = "73105928", "48291", "90817#"

	var answers []string
	do := func(r request, want int) string {
		t.Helper()
		body := h.mustDo(r, want)
		answers = append(answers, body)
		return body
	}
	// PINs: custom, generated, in use, invalid.
	created := do(request{method: "PUT", path: "/api/v1/users/u2/pin", token: adminToken, body: `{"pin":"` + customPIN + `"}`}, 201)
	var gen struct{ PIN string }
	if err := json.Unmarshal([]byte(h.mustDo(request{method: "PUT", path: "/api/v1/users/u1/pin", token: adminToken, body: `{"length":8}`}, 201)), &gen); err != nil {
		t.Fatal(err)
	}
	do(request{method: "PUT", path: "/api/v1/users/u1/pin", token: adminToken, body: `{"pin":"` + customPIN + `"}`}, 409)
	do(request{method: "PUT", path: "/api/v1/users/u1/pin", token: adminToken, body: `{"pin":"` + customPIN + `9"}`}, 422)
	do(request{method: "PUT", path: "/api/v1/users/u1/pin", token: adminToken, body: `{"pin":"` + customPIN[:6] + `x"}`}, 422)
	// Key presses: a PIN at a keypad, a wrong one, and bad input.
	do(request{method: "POST", path: "/api/v1/sim/readers/side/keys", token: techToken, body: `{"keys":"` + gen.PIN + `"}`}, 202)
	do(request{method: "POST", path: "/api/v1/sim/readers/side/keys", token: techToken, body: `{"keys":"` + wrongKeys + `"}`}, 202)
	do(request{method: "POST", path: "/api/v1/sim/readers/side/keys", token: techToken, body: `{"keys":"` + keys + `x"}`}, 422)
	do(request{method: "POST", path: "/api/v1/sim/readers/side/card", token: techToken, body: `{"bits":"00101001"}`}, 202)
	// Tokens: good, bad, and at sign-in.
	do(request{method: "GET", path: "/api/v1/status", token: adminToken + "x"}, 401)
	h.signIn(techToken+"x", nil)
	ck := sessionCookie(t, h.signIn(techToken, nil))
	// Everything one can read afterwards.
	for _, p := range []string{"/api/v1/status", "/api/v1/users/u1", "/api/v1/users/u2", "/api/v1/events?limit=1000", "/panel", "/metrics", "/users"} {
		do(request{method: "GET", path: p, token: adminToken}, 200)
	}
	do(request{method: "GET", path: "/", header: map[string]string{"Cookie": ck.Name + "=" + ck.Value}}, 200)

	events := h.mustDo(request{method: "GET", path: "/api/v1/events?limit=1000", token: adminToken}, 200)
	if !strings.Contains(events, "Grant Access - PIN") || !strings.Contains(events, "Deny Access - Card/PIN Not Found") {
		t.Fatalf("the keypad input did not reach the engine: %s", events)
	}

	logs := h.logs.String()
	if !strings.Contains(logs, "api: request") {
		t.Fatalf("captured no request log")
	}
	secrets := map[string]string{
		"custom PIN": customPIN, "generated PIN": gen.PIN, "wrong keys": "90817",
		"admin token": adminToken, "technician token": techToken, "session id": ck.Value,
	}
	for what, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the %s", what)
		}
		for i, a := range answers {
			if i == 0 && what == "custom PIN" {
				continue // the answer that created it
			}
			if strings.Contains(a, secret) {
				t.Errorf("answer %d contains the %s: %s", i, what, a)
			}
		}
	}
	if !strings.Contains(created, customPIN) {
		t.Errorf("the 201 answer lacks the PIN it set")
	}
	if strings.Contains(h.mustDo(request{method: "GET", path: "/api/v1/status", token: adminToken}, 200), `"bits":"00101001"`) {
		t.Errorf("status shows the bits of a key-press frame")
	}
}
