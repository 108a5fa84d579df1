package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// Who a request comes from, once authenticated. Kept in the Echo context.
type principal struct {
	Name string
	Role Role
	// Session is set when the request came with the status page's cookie
	// rather than a bearer token.
	Session *session
}

const principalKey = "lintel.principal"

// can reports whether role r may use a route open to roles.
func can(r Role, roles []Role) bool {
	if r == RoleAdmin {
		return true
	}
	for _, x := range roles {
		if r == x {
			return true
		}
	}
	return false
}

// tokenSet checks bearer tokens in constant time.
type tokenSet struct {
	hashes [][sha256.Size]byte
	tokens []Token
}

func newTokenSet(ts []Token) tokenSet {
	s := tokenSet{tokens: ts, hashes: make([][sha256.Size]byte, len(ts))}
	for i, t := range ts {
		b, _ := hex.DecodeString(t.Hash) // Validate checked it
		copy(s.hashes[i][:], b)
	}
	return s
}

// lookup returns the token whose hash matches plain. It compares against
// every configured hash, so the time taken says nothing about which one
// matched or how much of it.
func (s tokenSet) lookup(plain string) (Token, bool) {
	sum := sha256.Sum256([]byte(plain))
	found := -1
	for i := range s.hashes {
		if subtle.ConstantTimeCompare(sum[:], s.hashes[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Token{}, false
	}
	return s.tokens[found], true
}

// Bad-token limiter: each address may fail freeFailures times within
// failureWindow; every failure after that blocks it for a doubling delay, up
// to maxBlock. A blocked address gets 429 without its token being looked at.
const (
	freeFailures  = 3
	failureWindow = 10 * time.Minute
	maxBlock      = time.Minute
	maxTracked    = 10000
)

type limiter struct {
	now func() time.Time

	mu    sync.Mutex // guards addrs
	addrs map[string]*failures
}

type failures struct {
	count        int
	last         time.Time
	blockedUntil time.Time
}

// blocked reports how long addr must still wait, zero when it may try.
func (l *limiter) blocked(addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.addrs[addr]
	if !ok {
		return 0
	}
	if d := f.blockedUntil.Sub(l.now()); d > 0 {
		return d
	}
	return 0
}

// fail records a bad token from addr.
func (l *limiter) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f, ok := l.addrs[addr]
	if !ok || now.Sub(f.last) > failureWindow {
		if len(l.addrs) >= maxTracked {
			l.pruneLocked(now)
		}
		f = &failures{}
		l.addrs[addr] = f
	}
	f.count++
	f.last = now
	if f.count > freeFailures {
		d := time.Second << min(f.count-freeFailures-1, 6)
		f.blockedUntil = now.Add(min(d, maxBlock))
	}
}

// succeed forgets addr's failures.
func (l *limiter) succeed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.addrs, addr)
}

// pruneLocked drops addresses whose failures are old; if none are, it drops
// them all rather than grow without bound.
func (l *limiter) pruneLocked(now time.Time) {
	for a, f := range l.addrs {
		if now.Sub(f.last) > failureWindow && !now.Before(f.blockedUntil) {
			delete(l.addrs, a)
		}
	}
	if len(l.addrs) >= maxTracked {
		clear(l.addrs)
	}
}

// Status-page sessions. The cookie holds a random id; the server keeps, by
// the id's hash, who signed in and the CSRF token their page must echo in
// X-CSRF-Token on every state-changing request.
const (
	sessionCookie = "lintel_session"
	csrfHeader    = "X-CSRF-Token"
	maxSessions   = 1000
)

type session struct {
	Name    string
	Role    Role
	CSRF    string
	Expires time.Time
}

type sessions struct {
	now func() time.Time
	ttl time.Duration

	mu   sync.Mutex // guards byID
	byID map[[sha256.Size]byte]*session
}

func randomString() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session and returns its cookie value.
func (s *sessions) create(t Token) (id string, sess *session) {
	id = randomString()
	sess = &session{Name: t.Name, Role: t.Role, CSRF: randomString(), Expires: s.now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= maxSessions {
		s.expireLocked(true)
	}
	s.byID[sha256.Sum256([]byte(id))] = sess
	return id, sess
}

func (s *sessions) get(id string) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sha256.Sum256([]byte(id))
	sess, ok := s.byID[key]
	if !ok {
		return nil, false
	}
	if !s.now().Before(sess.Expires) {
		delete(s.byID, key)
		return nil, false
	}
	return sess, true
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, sha256.Sum256([]byte(id)))
}

// expireLocked drops expired sessions, and when full the oldest one too.
func (s *sessions) expireLocked(full bool) {
	now := s.now()
	var oldestKey [sha256.Size]byte
	var oldest *session
	for k, v := range s.byID {
		if !now.Before(v.Expires) {
			delete(s.byID, k)
			continue
		}
		if oldest == nil || v.Expires.Before(oldest.Expires) {
			oldest, oldestKey = v, k
		}
	}
	if full && len(s.byID) >= maxSessions && oldest != nil {
		delete(s.byID, oldestKey)
	}
}

// authenticate finds who a request is from: a bearer token, else the
// session cookie. It returns nil and an error answer when neither is valid.
func (s *Server) authenticate(c echo.Context) (*principal, *apiError) {
	r := c.Request()
	addr := c.RealIP()
	if h := r.Header.Get(echo.HeaderAuthorization); h != "" {
		if d := s.limiter.blocked(addr); d > 0 {
			return nil, tooMany(d)
		}
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "Authorization: want \"Bearer <token>\"")
		}
		t, ok := s.tokens.lookup(strings.TrimSpace(tok))
		if !ok {
			s.limiter.fail(addr)
			s.log.Warn("api: bad token", "remote", addr, "method", r.Method, "path", r.URL.Path)
			return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "Authorization: the bearer token is not valid")
		}
		s.limiter.succeed(addr)
		return &principal{Name: t.Name, Role: t.Role}, nil
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if sess, ok := s.sessions.get(ck.Value); ok {
			return &principal{Name: sess.Name, Role: sess.Role, Session: sess}, nil
		}
		return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "session: expired or unknown; sign in again")
	}
	return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "Authorization: missing bearer token")
}

func tooMany(d time.Duration) *apiError {
	secs := int((d + time.Second - 1) / time.Second)
	e := errorf(http.StatusTooManyRequests, CodeTooManyAttempts, "too many bad tokens from this address; try again in %d s", secs)
	e.RetryAfter = secs
	return e
}

// allow is the middleware of a route open to roles (admin is always
// allowed). A cookie request that changes state must carry the session's
// CSRF token and, when the browser sends one, a same-origin Origin.
func (s *Server) allow(roles ...Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, ae := s.authenticate(c)
			if ae != nil {
				return ae
			}
			c.Set(principalKey, p)
			if !can(p.Role, roles) {
				return errorf(http.StatusForbidden, CodeForbidden, "role %s may not %s %s", p.Role, c.Request().Method, c.Path())
			}
			if p.Session != nil && !safeMethod(c.Request().Method) {
				if ae := checkCSRF(c, p.Session); ae != nil {
					return ae
				}
			}
			return next(c)
		}
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func checkCSRF(c echo.Context, sess *session) *apiError {
	r := c.Request()
	if o := r.Header.Get(echo.HeaderOrigin); o != "" && !sameOrigin(o, r) {
		return errorf(http.StatusForbidden, CodeCSRF, "Origin: %q is not this gateway", o)
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
		return errorf(http.StatusForbidden, CodeCSRF, "%s: missing or wrong; reload the page", csrfHeader)
	}
	return nil
}

// sameOrigin reports whether an Origin header names the host the request
// was sent to.
func sameOrigin(origin string, r *http.Request) bool {
	_, host, ok := strings.Cut(origin, "://")
	return ok && strings.EqualFold(host, r.Host)
}
