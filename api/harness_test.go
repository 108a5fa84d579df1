package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/apitest"
	"github.com/lintel-access/lintel/gateway/logtest"
	"github.com/lintel-access/lintel/gpio/clock/clocktest"
)

// Tokens of the test server, one per role.
var (
	adminToken, adminHash     = api.NewToken()
	techToken, techHash       = api.NewToken()
	portalToken, portalHash   = api.NewToken()
	monitorToken, monitorHash = api.NewToken()
)

// testHost is the Host of httptest.NewRequest, named in the harness's
// Config.Hosts.
const testHost = "example.com"

var testTokens = []api.Token{
	{Name: "admin", Role: api.RoleAdmin, Hash: adminHash},
	{Name: "tech", Role: api.RoleTechnician, Hash: techHash},
	{Name: "portal", Role: api.RolePortal, Hash: portalHash},
	{Name: "monitor", Role: api.RoleMonitor, Hash: monitorHash},
}

// harness is a server over the in-memory backend, with the simulator on
// unless noSim.
type harness struct {
	t       testing.TB
	clock   *clocktest.Fake
	backend *apitest.Backend
	server  *api.Server
	handler http.Handler
	logs    *logtest.Buffer
}

type harnessOptions struct {
	noSim         bool
	bodyLimit     int64
	syncBodyLimit int64
	// backend configures the fake: its time zone and clock policy.
	backend apitest.Options
	// wrap, when set, is the backend the server gets in place of the
	// fake: one that fails some calls, say.
	wrap func(*apitest.Backend) api.Backend
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	clock := clocktest.New(time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC))
	b := apitest.NewWith(clock.Now, o.backend)
	logs := &logtest.Buffer{}
	var sim api.Sim
	if !o.noSim {
		sim = apitest.Sim{B: b}
	}
	var served api.Backend = b
	if o.wrap != nil {
		served = o.wrap(b)
	}
	s, err := api.New(api.Config{
		Tokens:        testTokens,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:       "1.2.3-test",
		Now:           clock.Now,
		BodyLimit:     o.bodyLimit,
		SyncBodyLimit: o.syncBodyLimit,
		Heartbeat:     time.Hour,
		Hosts:         []string{testHost},
	}, served, sim)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	t.Cleanup(s.Close)
	return &harness{t: t, clock: clock, backend: b, server: s, handler: s.Handler(), logs: logs}
}

// request is one HTTP request to the harness.
type request struct {
	method, path string
	token        string
	body         string
	header       map[string]string
	remote       string
	// ended sends the request with its context already done, so an event
	// stream the server accepts ends at once instead of running on.
	ended bool
}

func (h *harness) do(r request) *httptest.ResponseRecorder {
	h.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if r.remote != "" {
		req.RemoteAddr = r.remote
	}
	if r.ended {
		ctx, cancel := context.WithCancel(req.Context())
		cancel()
		req = req.WithContext(ctx)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec
}

// doHost does a request with the Host header host ("" for none).
func (h *harness) doHost(r request, host string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(r.method, r.path, nil)
	req.Host = host
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, req)
	return rec
}

// mustDo does a request that must answer want.
func (h *harness) mustDo(r request, want int) string {
	h.t.Helper()
	rec := h.do(r)
	if rec.Code != want {
		h.t.Fatalf("%s %s: got status %d, want %d; body %s", r.method, r.path, rec.Code, want, rec.Body.String())
	}
	return rec.Body.String()
}
