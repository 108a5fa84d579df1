package api

import (
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lintel-access/lintel/gateway/access"
)

// The status page is one server-rendered HTML document with its style and
// script inline (the closet has no internet, and one document needs no
// static routes): a sign-in form without a session, the gateway's state with
// one. Its script refreshes the state panel from /panel, streams events from
// /api/v1/events/stream and sends door test pulses with the session's CSRF
// token.

//go:embed web
var webFS embed.FS

// pageEvents is how many recent events the page starts with.
const pageEvents = 25

func parsePage() (*template.Template, error) {
	funcs := template.FuncMap{
		"since":     humanDuration,
		"stamp":     func(t time.Time) string { return t.Format("2006-01-02 15:04:05") },
		"clock":     func(t time.Time) string { return t.Format("15:04:05") },
		"evclass":   eventClass,
		"rejects":   sortedRejects,
		"hasPrefix": strings.HasPrefix,
	}
	t, err := template.New("").Funcs(funcs).ParseFS(webFS, "web/*.html")
	if err != nil {
		return nil, err
	}
	return t, nil
}

type pageData struct {
	Nonce  string
	CSS    template.CSS
	JS     template.JS
	Error  string
	Name   string
	Role   Role
	CSRF   string
	Status Status
	Events []access.Event
	Last   uint64
	Sim    bool
}

func (s *Server) render(c echo.Context, code int, name string, d pageData) error {
	d.Nonce = randomString()
	css, _ := webFS.ReadFile("web/style.css")
	js, _ := webFS.ReadFile("web/app.js")
	d.CSS, d.JS = template.CSS(css), template.JS(js)
	h := c.Response().Header()
	h.Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; script-src 'nonce-%[1]s'; style-src 'nonce-%[1]s'; "+
		"connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'", d.Nonce))
	var b strings.Builder
	if err := s.page.ExecuteTemplate(&b, name, d); err != nil {
		return fmt.Errorf("api: render %s: %w", name, err)
	}
	return c.HTML(code, b.String())
}

// index is the status page, or the sign-in form without a session.
func (s *Server) index(c echo.Context) error {
	ck, err := c.Request().Cookie(sessionCookie)
	if err != nil {
		return s.render(c, http.StatusOK, "signin", pageData{})
	}
	sess, ae := s.session(c, ck.Value)
	if ae != nil && ae.RetryAfter > 0 {
		return s.tooManyPage(c, ae)
	}
	if ae != nil {
		return s.render(c, http.StatusOK, "signin", pageData{Error: "Your session has ended. Sign in again."})
	}
	st := s.snapshot()
	d := pageData{Name: sess.Name, Role: sess.Role, CSRF: sess.CSRF, Status: st, Last: st.Journal.Last, Sim: s.sim != nil}
	after := uint64(0)
	if st.Journal.Last > pageEvents {
		after = st.Journal.Last - pageEvents
	}
	evs, err := s.backend.Events(after, pageEvents)
	if err != nil {
		s.log.Error("api: status page: read journal", "err", err)
	}
	slices.Reverse(evs) // newest first
	d.Events = evs
	if len(evs) > 0 {
		d.Last = max(d.Last, evs[0].Seq)
	}
	return s.render(c, http.StatusOK, "page", d)
}

// panel is the state part of the page, which the page's script reloads.
func (s *Server) panel(c echo.Context) error {
	var b strings.Builder
	if err := s.page.ExecuteTemplate(&b, "panel", pageData{Status: s.snapshot()}); err != nil {
		return fmt.Errorf("api: render panel: %w", err)
	}
	return c.HTML(http.StatusOK, b.String())
}

// signIn trades a token typed into the form for a session cookie. Only
// admin and technician tokens may sign in; bad tokens count against the
// address like bad bearer tokens do, and so does a cookie that names no
// session, here and on every route.
func (s *Server) signIn(c echo.Context) error {
	r := c.Request()
	addr := c.RealIP()
	if o := r.Header.Get(echo.HeaderOrigin); o != "" && !sameOrigin(o, r) {
		return s.render(c, http.StatusForbidden, "signin", pageData{Error: "Sign in from this gateway's own page."})
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	t, ok := s.tokens.lookup(tok)
	ok = ok && tok != ""
	if d := s.limiter.check(addr, t.Name, ok); d > 0 {
		return s.tooManyPage(c, tooMany(d))
	}
	if !ok {
		s.limiter.fail(addr)
		s.log.Warn("api: bad token at sign-in", "remote", addr)
		return s.render(c, http.StatusUnauthorized, "signin", pageData{Error: "That token is not valid."})
	}
	if t.Role != RoleAdmin && t.Role != RoleTechnician {
		return s.render(c, http.StatusForbidden, "signin", pageData{Error: "This token is for the " + string(t.Role) + "; sign in with a technician or admin token."})
	}
	id, _ := s.sessions.create(t)
	c.SetCookie(&http.Cookie{
		Name: sessionCookie, Value: id, Path: "/",
		MaxAge: int(s.cfg.SessionTTL / time.Second), HttpOnly: true,
		Secure: s.cfg.TLSCertFile != "", SameSite: http.SameSiteStrictMode,
	})
	s.log.Info("api: signed in", "token", t.Name, "role", string(t.Role), "remote", addr)
	return c.Redirect(http.StatusSeeOther, "/")
}

// tooManyPage is the sign-in form of an address the limiter holds back.
func (s *Server) tooManyPage(c echo.Context, ae *apiError) error {
	c.Response().Header().Set("Retry-After", fmt.Sprint(ae.RetryAfter))
	return s.render(c, ae.Status, "signin", pageData{Error: fmt.Sprintf("Too many bad tokens or session cookies from this address. Try again in %d s.", ae.RetryAfter)})
}

// signOut ends the session (the route checks its CSRF token).
func (s *Server) signOut(c echo.Context) error {
	if ck, err := c.Request().Cookie(sessionCookie); err == nil {
		s.sessions.end(ck.Value)
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.TLSCertFile != "", SameSite: http.SameSiteStrictMode})
	return c.Redirect(http.StatusSeeOther, "/")
}

// humanDuration renders seconds as "3d 4h", "5h 2m", "4m 10s".
func humanDuration(secs int64) string {
	d := time.Duration(secs) * time.Second
	days := int64(d / (24 * time.Hour))
	h := int64(d/time.Hour) % 24
	m := int64(d/time.Minute) % 60
	sec := int64(d/time.Second) % 60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, sec)
	}
	return fmt.Sprintf("%ds", sec)
}

// eventClass is the CSS class of an event type.
func eventClass(typ string) string {
	switch typ {
	case access.TypeGranted:
		return "ok"
	case access.TypeDenied, access.TypeLockout, access.TypeUserLock, access.TypeReaderErr:
		return "bad"
	}
	return "info"
}

type reject struct {
	Cause string
	Count uint64
}

func sortedRejects(m map[string]uint64) []reject {
	out := make([]reject, 0, len(m))
	for k, v := range m {
		if v > 0 { // the gateway lists every cause, most of them at 0
			out = append(out, reject{k, v})
		}
	}
	slices.SortFunc(out, func(a, b reject) int { return strings.Compare(a.Cause, b.Cause) })
	return out
}
