package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/netip"
	"slices"
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

// Bad-credential limiter. Each address may present freeFailures bad tokens
// or unknown session cookies within failureWindow; every failure after that
// blocks it for a doubling delay, up to maxBlock, and a blocked address gets
// 429. A valid token does not clear the count: an attacker holding a
// technician token could otherwise interleave it with guesses at the admin
// token and never be blocked.
//
// A blocked address still reaches its own users: a token (or a session of
// a token) that has already authenticated from that address passes. Every
// token presented is looked up, so which token it is is known, but the
// block is lifted only for the tokens in the address's good list, which
// only grows while the address is not blocked. A blocked guesser therefore
// learns nothing from a guess, right or wrong: both answer 429, as before.
// What remains refused is a valid token whose first use from that address
// falls within a block (a new user behind the same NAT as an attacker);
// the Retry-After says when to try again.
//
// The table is bounded (maxTracked entries). An entry lives while its
// address fails within the window, is blocked, or has used a good token
// within the window; only entries past all three are pruned, so an
// attacker cannot clear their own block by failing from ten thousand other
// addresses. Addresses that find the table full of live entries share one
// overflow entry: they are counted and blocked together. IPv6 clients are
// counted by /64, the block a single host is usually given.
const (
	freeFailures  = 3
	failureWindow = 10 * time.Minute
	maxBlock      = time.Minute
	maxTracked    = 10000
	// pruneEvery bounds how often a full table is swept for entries to
	// drop: a sweep visits every entry.
	pruneEvery = time.Second
)

type limiter struct {
	now func() time.Time

	mu       sync.Mutex // guards addrs, overflow and prunedAt
	addrs    map[string]*failures
	overflow failures
	prunedAt time.Time
}

type failures struct {
	count        int
	last         time.Time // of the last failure
	blockedUntil time.Time
	seen         time.Time // of the last failure or good token
	// good names the tokens that have authenticated from this address.
	// It is never longer than the list of configured tokens.
	good []string
}

// limitKey is the limiter's key for a client address: the address itself,
// or for IPv6 its /64.
func limitKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() || ip.Is4In6() {
		return addr
	}
	p, _ := ip.Prefix(64)
	return p.String()
}

// check decides whether a request from addr may go on: it returns how long
// the address must still wait, zero when it may. name is the token the
// request presented (a session's token for a cookie) when valid is set.
// A valid token that may go on joins the address's good list. An invalid
// one that may go on is the caller's to answer 401 and [limiter.fail].
func (l *limiter) check(addr, name string, valid bool) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	key := limitKey(addr)
	f, tracked := l.addrs[key]
	if valid && tracked && slices.Contains(f.good, name) {
		f.seen = now
		return 0
	}
	if !tracked && len(l.addrs) >= maxTracked {
		f = &l.overflow
	}
	if f != nil {
		if d := f.blockedUntil.Sub(now); d > 0 {
			return d
		}
	}
	if valid {
		if f = l.entryLocked(key, now); f != &l.overflow {
			f.good = append(f.good, name)
			f.seen = now
		}
	}
	return 0
}

// fail records a bad token or an unknown session cookie from addr.
func (l *limiter) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.entryLocked(limitKey(addr), now)
	if now.Sub(f.last) > failureWindow {
		f.count = 0
	}
	f.count++
	f.last, f.seen = now, now
	if f.count > freeFailures {
		d := time.Second << min(f.count-freeFailures-1, 6)
		f.blockedUntil = now.Add(min(d, maxBlock))
	}
}

// entryLocked returns key's entry, making one if the table has room (after
// dropping entries that are past their use), else the overflow entry.
func (l *limiter) entryLocked(key string, now time.Time) *failures {
	if f, ok := l.addrs[key]; ok {
		return f
	}
	if len(l.addrs) >= maxTracked && now.Sub(l.prunedAt) >= pruneEvery {
		l.prunedAt = now
		for a, f := range l.addrs {
			if now.Sub(f.seen) > failureWindow && !now.Before(f.blockedUntil) {
				delete(l.addrs, a)
			}
		}
	}
	if len(l.addrs) >= maxTracked {
		return &l.overflow
	}
	f := &failures{}
	l.addrs[key] = f
	return f
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

	mu   sync.Mutex // guards byID and ended
	byID map[[sha256.Size]byte]*session
	// ended holds, for a TTL after they ended, when sessions that expired
	// or were signed out ended, by the id's hash: a page left open past
	// its session keeps asking with the old cookie, and that is not a
	// guess at a session id.
	ended map[[sha256.Size]byte]time.Time
}

// What a session cookie names.
type sessionState int

const (
	sessionUnknown sessionState = iota // never issued, or ended long ago: a guess
	sessionValid
	sessionEnded // expired or signed out lately
)

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

// lookup finds the session a cookie names.
func (s *sessions) lookup(id string) (*session, sessionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sha256.Sum256([]byte(id))
	now := s.now()
	if sess, ok := s.byID[key]; ok {
		if now.Before(sess.Expires) {
			return sess, sessionValid
		}
		delete(s.byID, key)
		s.endedLocked(key, now)
		return nil, sessionEnded
	}
	if at, ok := s.ended[key]; ok {
		if now.Sub(at) < s.ttl {
			return nil, sessionEnded
		}
		delete(s.ended, key)
	}
	return nil, sessionUnknown
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sha256.Sum256([]byte(id))
	if _, ok := s.byID[key]; ok {
		delete(s.byID, key)
		s.endedLocked(key, s.now())
	}
}

// endedLocked remembers that the session of key ended at now. The memory
// is bounded like the sessions: when full, the oldest is forgotten (and a
// later request with it counts as a guess).
func (s *sessions) endedLocked(key [sha256.Size]byte, now time.Time) {
	if len(s.ended) >= maxSessions {
		var oldestKey [sha256.Size]byte
		var oldest time.Time
		for k, at := range s.ended {
			if now.Sub(at) >= s.ttl {
				delete(s.ended, k)
			} else if oldest.IsZero() || at.Before(oldest) {
				oldest, oldestKey = at, k
			}
		}
		if len(s.ended) >= maxSessions {
			delete(s.ended, oldestKey)
		}
	}
	s.ended[key] = now
}

// expireLocked drops expired sessions, and when full the oldest one too.
func (s *sessions) expireLocked(full bool) {
	now := s.now()
	var oldestKey [sha256.Size]byte
	var oldest *session
	for k, v := range s.byID {
		if !now.Before(v.Expires) {
			delete(s.byID, k)
			s.endedLocked(k, now)
			continue
		}
		if oldest == nil || v.Expires.Before(oldest.Expires) {
			oldest, oldestKey = v, k
		}
	}
	if full && len(s.byID) >= maxSessions && oldest != nil {
		delete(s.byID, oldestKey)
		s.endedLocked(oldestKey, now)
	}
}

// authenticate finds who a request is from: a bearer token, else the
// session cookie. It returns nil and an error answer when neither is valid.
// Both go through the bad-credential limiter: a wrong token and a cookie
// that names no session count alike against the address.
func (s *Server) authenticate(c echo.Context) (*principal, *apiError) {
	r := c.Request()
	addr := c.RealIP()
	if h := r.Header.Get(echo.HeaderAuthorization); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			if d := s.limiter.check(addr, "", false); d > 0 {
				return nil, tooMany(d)
			}
			return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "Authorization: want \"Bearer <token>\"")
		}
		t, ok := s.tokens.lookup(strings.TrimSpace(tok))
		if d := s.limiter.check(addr, t.Name, ok); d > 0 {
			return nil, tooMany(d)
		}
		if !ok {
			s.limiter.fail(addr)
			s.log.Warn("api: bad token", "remote", addr, "method", r.Method, "path", r.URL.Path)
			return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "Authorization: the bearer token is not valid")
		}
		return &principal{Name: t.Name, Role: t.Role}, nil
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		sess, ae := s.session(c, ck.Value)
		if ae != nil {
			return nil, ae
		}
		return &principal{Name: sess.Name, Role: sess.Role, Session: sess}, nil
	}
	return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "Authorization: missing bearer token")
}

// session finds the session a cookie names, through the limiter: a cookie
// that names no session, and never did lately, is a guess.
func (s *Server) session(c echo.Context, id string) (*session, *apiError) {
	addr := c.RealIP()
	sess, state := s.sessions.lookup(id)
	switch state {
	case sessionValid:
		if d := s.limiter.check(addr, sess.Name, true); d > 0 {
			return nil, tooMany(d)
		}
		return sess, nil
	case sessionEnded:
		return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "session: ended; sign in again")
	}
	if d := s.limiter.check(addr, "", false); d > 0 {
		return nil, tooMany(d)
	}
	s.limiter.fail(addr)
	r := c.Request()
	s.log.Warn("api: unknown session", "remote", addr, "method", r.Method, "path", r.URL.Path)
	return nil, errorf(http.StatusUnauthorized, CodeUnauthorized, "session: expired or unknown; sign in again")
}

func tooMany(d time.Duration) *apiError {
	secs := int((d + time.Second - 1) / time.Second)
	e := errorf(http.StatusTooManyRequests, CodeTooManyAttempts, "too many bad tokens or session cookies from this address; try again in %d s", secs)
	e.RetryAfter = secs
	return e
}

// allow is the middleware of a route open to roles (admin is always
// allowed), answering a refusal as an error document.
func (s *Server) allow(roles ...Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if ae := s.admit(c, roles); ae != nil {
				return ae
			}
			return next(c)
		}
	}
}

// admit decides whether a request may use a route open to roles (admin is
// always allowed) and keeps who sent it in the context. A cookie request
// that changes state must carry the session's CSRF token and, when the
// browser sends one, a same-origin Origin. The API's routes ([Server.allow])
// and the status page's ([Server.allowPage]) admit alike and differ only in
// how they answer a refusal.
func (s *Server) admit(c echo.Context, roles []Role) *apiError {
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
	return nil
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
