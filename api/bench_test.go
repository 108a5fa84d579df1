package api_test

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func benchRequest(b *testing.B, h *harness, r request, want int) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
		req.Header.Set("Authorization", "Bearer "+r.token)
		if r.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("got %d, want %d: %s", rec.Code, want, rec.Body.String())
		}
	}
}

func newBenchHarness(b *testing.B) *harness {
	h := newHarness(b, harnessOptions{})
	seed(h)
	return h
}

// BenchmarkStatus is an authenticated GET /api/v1/status: token check,
// snapshot, JSON.
func BenchmarkStatus(b *testing.B) {
	h := newBenchHarness(b)
	benchRequest(b, h, request{method: "GET", path: "/api/v1/status", token: adminToken}, 200)
}

// BenchmarkAddCard is a strict decode of a credential body and its enrolment.
func BenchmarkAddCard(b *testing.B) {
	h := newBenchHarness(b)
	benchRequest(b, h, request{method: "POST", path: "/api/v1/users/u2/credentials", token: adminToken,
		body: `{"type":"card","format":"H10301","facility":1,"number":100}`}, 409)
}

// BenchmarkStatusPage renders the whole status page for a session.
func BenchmarkStatusPage(b *testing.B) {
	h := newBenchHarness(b)
	rec := h.signIn(techToken, nil)
	var cookie string
	for _, c := range rec.Result().Cookies() {
		cookie = c.Name + "=" + c.Value
	}
	benchRequest(b, h, request{method: "GET", path: "/", header: map[string]string{"Cookie": cookie}}, 200)
}
