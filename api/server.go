package api

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is Lintel's HTTP API and status page. Make one with [New]; serve it
// with [Server.Run], [Server.Serve] or [Server.Handler].
type Server struct {
	cfg     Config
	backend Backend
	sim     Sim
	log     *slog.Logger
	echo    *echo.Echo
	page    *template.Template

	tokens   tokenSet
	hosts    hostSet
	limiter  *limiter
	sessions *sessions

	// done is closed, once, when the server shuts down, ending event
	// streams.
	done      chan struct{}
	closeOnce sync.Once
	// streams holds one token per open event stream.
	streams chan struct{}
	// tokenStreams counts the open event streams of each API token.
	tokenStreams *streamCounts
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// New returns a server over backend. sim is nil when the simulator is off;
// the sim routes then do not exist.
func New(cfg Config, backend Backend, sim Sim) (*Server, error) {
	if backend == nil {
		return nil, errors.New("api: new server: backend is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("api: config: %w", err)
	}
	cfg = cfg.withDefaults()
	if isNil(sim) {
		sim = nil // a nil *T in the interface still means "simulator off"
	}
	page, err := parsePage()
	if err != nil {
		return nil, fmt.Errorf("api: status page: %w", err)
	}
	done := make(chan struct{})
	s := &Server{
		cfg:          cfg,
		backend:      backend,
		sim:          sim,
		log:          cfg.Logger,
		page:         page,
		tokens:       newTokenSet(cfg.Tokens),
		hosts:        newHostSet(cfg.Hosts),
		limiter:      &limiter{now: cfg.Now, addrs: make(map[string]*failures)},
		sessions:     &sessions{now: cfg.Now, ttl: cfg.SessionTTL, byID: make(map[[sha256.Size]byte]*session), ended: make(map[[sha256.Size]byte]time.Time)},
		done:         done,
		streams:      make(chan struct{}, cfg.MaxStreams),
		tokenStreams: &streamCounts{max: cfg.MaxStreamsPerToken, open: make(map[string]int)},
	}
	s.echo = s.newEcho()
	return s, nil
}

// Handler returns the server as an http.Handler, for tests and for callers
// that run their own http.Server.
func (s *Server) Handler() http.Handler { return s.echo }

func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(discard{})
	// The gateway is reached directly, never through a proxy: the peer's
	// address is the client's. Echo's default changed in v4.16.3, so it
	// is set here on purpose.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = s.handleError
	e.Use(s.recoverPanics, s.secureHeaders, s.logRequests, s.checkHost, s.limitBody)

	read := s.allow(RoleTechnician)
	admin := s.allow()
	sync := s.allow(RolePortal)
	// What a monitoring system scrapes: the metrics and the status.
	monitor := s.allow(RoleTechnician, RoleMonitor)

	e.GET("/healthz", s.healthz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{})), monitor)
	e.GET("/", s.index)
	e.GET("/panel", s.panel, read)
	e.POST("/session", s.signIn)
	e.POST("/session/end", s.signOut, read)
	// The users view, for admin sessions only.
	users := s.allowPage()
	e.GET("/users", s.usersPage, users)
	e.POST("/users/:id/enabled", s.pageSetEnabled, users)
	e.POST("/credentials/:id/remove", s.pageRemoveCard, users)

	v1 := e.Group("/api/v1")
	v1.GET("/openapi.json", s.openAPI, read)
	v1.GET("/status", s.status, monitor)
	v1.GET("/users", s.listUsers, read)
	v1.PUT("/users/:id", s.putUser, admin)
	v1.GET("/users/:id", s.getUser, read)
	v1.DELETE("/users/:id", s.deleteUser, admin)
	v1.PUT("/users/:id/pin", s.putPIN, admin)
	v1.DELETE("/users/:id/pin", s.deletePIN, admin)
	v1.POST("/users/:id/credentials", s.postCredential, admin)
	v1.POST("/users/:id/credentials/enrol", s.enrolCard, admin)
	v1.DELETE("/credentials/:id", s.deleteCredential, admin)
	v1.GET("/export", s.exportTable, admin)
	v1.POST("/import", s.importTable, admin)
	v1.GET("/events", s.events, read)
	v1.GET("/events/stream", s.eventStream, read)
	v1.POST("/sync/changes", s.syncChanges, sync)
	v1.GET("/sync", s.syncCurrent, sync)
	v1.POST("/sync/reset", s.syncReset, admin)
	v1.POST("/doors/:door/pulse", s.pulseDoor, read)
	v1.GET("/doors/:door/policy", s.getDoorPolicy, read)
	v1.PUT("/doors/:door/policy", s.putDoorPolicy, admin)
	v1.DELETE("/doors/:door/policy", s.deleteDoorPolicy, admin)
	s.addPolicyRoutes(v1, read, admin)
	if s.sim != nil {
		v1.POST("/sim/readers/:reader/card", s.simCard, read)
		v1.POST("/sim/readers/:reader/keys", s.simKeys, read)
		v1.POST("/sim/doors/:door/contact", s.simDoor, read)
	}
	return e
}

// Routes lists the routes the server has, as "METHOD /path/{param}", in the
// notation of the OpenAPI document.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.echo.Routes() {
		out = append(out, r.Method+" "+routeParam.ReplaceAllString(r.Path, "{$1}"))
	}
	sort.Strings(out)
	return out
}

var routeParam = regexp.MustCompile(`:([a-z]+)`)

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Run listens on Config.Addr (HTTPS when a certificate is configured) and
// serves until ctx is done, then shuts down within 5 s.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then stops accepting, ends the event
// streams and waits up to 5 s for requests in flight. At most
// Config.MaxConns connections are open at once; one more is answered 503
// and closed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// The cap sits under TLS, so the server still sees *tls.Conn (r.TLS,
	// handshake deadlines). HTTPS is HTTP/1.1 only: with HTTP/2 one
	// connection carries any number of requests, and the cap would no
	// longer bound them.
	var tlsConfig *tls.Config
	if s.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("api: tls: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	}
	served := net.Listener(newLimitListener(ln, s.cfg.MaxConns, tlsConfig))
	if tlsConfig != nil {
		served = tls.NewListener(served, tlsConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(served) }()
	s.log.Info("api: serving", "addr", ln.Addr().String(), "tls", s.cfg.TLSCertFile != "", "sim", s.sim != nil)
	select {
	case err := <-errc:
		return fmt.Errorf("api: serve: %w", err)
	case <-ctx.Done():
	}
	s.Close()
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return nil
}

// Close ends the server's event streams. Serve calls it on shutdown; a
// caller using Handler calls it before closing its own server.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.done) }) }

// recoverPanics turns a handler's panic into a 500 and a log line.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("api: handler panicked", "method", c.Request().Method, "path", c.Request().URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				err = errorf(http.StatusInternalServerError, CodeInternal, "the gateway could not do that; its log says why")
			}
		}()
		return next(c)
	}
}

// secureHeaders sets the headers every answer carries. The status page
// overrides Content-Security-Policy with one that admits its own nonce.
func (s *Server) secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin") // "no-referrer" would make browsers send "Origin: null"
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-store")
		if s.cfg.TLSCertFile != "" {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// logRequests logs one line per request, at info (the status page's
// refreshes at debug): never its body, query, headers or cookies, which may
// hold a token, a PIN or key presses.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := s.cfg.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		attrs := []any{
			"method", c.Request().Method,
			"path", c.Request().URL.Path,
			"status", c.Response().Status,
			"remote", c.RealIP(),
			"duration", s.cfg.Now().Sub(start),
		}
		if p, ok := c.Get(principalKey).(*principal); ok {
			attrs = append(attrs, "token", p.Name, "role", string(p.Role))
		}
		level := slog.LevelInfo
		if quietRequest(c.Request(), c.Response().Status) {
			level = slog.LevelDebug
		}
		s.log.Log(c.Request().Context(), level, "api: request", attrs...)
		return nil
	}
}

// limitBody caps every request body; the handlers' decoders enforce the
// same limit with a clearer error.
func (s *Server) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Body != nil {
			limit := s.cfg.BodyLimit
			if r.URL.Path == "/api/v1/sync/changes" || r.URL.Path == "/api/v1/import" {
				limit = s.cfg.SyncBodyLimit
			}
			if r.ContentLength > limit {
				return tooLarge(limit)
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, limit+1)
		}
		return next(c)
	}
}
