package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/lintel-access/lintel/gateway/access"
)

// The status page's users view, for admin sessions: the user table paged
// and searched as GET /api/v1/users pages and searches it ([userQuery]),
// and per user whether they are enabled, whether they hold a PIN (never
// the PIN), their levels and their cards. It is plain HTML with forms and
// no script, so it works as it is on any phone: a search is a GET, and
// each change is a POST that goes through the same admission as the API's
// routes ([Server.admit]: the session's CSRF token in the form field csrf,
// a same-origin Origin) and calls the backend as the API's handler of the
// same change does, with the session's token name as the actor, which the
// backend journals. The answer to a change is the same page of users again,
// with a note that says in words what was done or why nothing was.

// usersPageSize is how many users a page of the users view shows: a few
// screens on a phone, and a short read of the table per page.
const usersPageSize = 25

// maxTrail is how many earlier pages the users view remembers for its
// "Previous page" link. Each is an id of up to 64 bytes in the view's
// links; past this many the oldest are forgotten, and "First page" leads
// back to the start.
const maxTrail = 20

// usersAt is where in the table the users view is: the search, the after
// of the page shown, and the afters of the pages before it, the latest
// last. The table is read forwards only (Backend.ListUsers), so going back
// a page takes the after the previous page was asked with; the view's
// links and forms carry all three, so a change shows the same page again.
type usersAt struct {
	Q     string
	After string
	Trail []string
}

// readUsersAt reads where the view is from the query or the form (q, after
// and prev, once per earlier page) and checks it as GET /api/v1/users
// checks its query.
func readUsersAt(c echo.Context) (usersAt, error) {
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		return usersAt{}, fmt.Errorf("form: %w", err)
	}
	at := usersAt{Q: r.Form.Get("q"), After: r.Form.Get("after"), Trail: r.Form["prev"]}
	if err := (userQuery{After: at.After, Q: at.Q}).check(); err != nil {
		return usersAt{}, err
	}
	for _, p := range at.Trail {
		if p == "" {
			continue // the first page
		}
		if err := access.CheckID(p); err != nil {
			return usersAt{}, fmt.Errorf("prev: %w", err)
		}
	}
	if n := len(at.Trail); n > maxTrail {
		at.Trail = at.Trail[n-maxTrail:]
	}
	return at, nil
}

// URL is the view's address at a.
func (a usersAt) URL() string {
	v := url.Values{}
	if a.Q != "" {
		v.Set("q", a.Q)
	}
	if a.After != "" {
		v.Set("after", a.After)
	}
	if len(a.Trail) > 0 {
		v["prev"] = a.Trail
	}
	if len(v) == 0 {
		return "/users"
	}
	return "/users?" + v.Encode()
}

// next is the page after a, which starts after the id after.
func (a usersAt) next(after string) usersAt {
	trail := append(slices.Clone(a.Trail), a.After)
	if n := len(trail); n > maxTrail {
		trail = trail[n-maxTrail:]
	}
	return usersAt{Q: a.Q, After: after, Trail: trail}
}

// prev is the page before a, when a remembers it.
func (a usersAt) prev() (usersAt, bool) {
	n := len(a.Trail)
	if n == 0 {
		return usersAt{}, false
	}
	return usersAt{Q: a.Q, After: a.Trail[n-1], Trail: slices.Clone(a.Trail[:n-1])}, true
}

// usersView is what the users view shows.
type usersView struct {
	At    usersAt
	Note  *pageNote
	Users []pageUser
	// Summary says what the page holds, or why it holds no one.
	Summary string
	// ReadError says why the table could not be read, "" when it was.
	ReadError string
	// NextURL, PrevURL and FirstURL are the pager's links, "" where there
	// is no such page.
	NextURL, PrevURL, FirstURL string
}

// pageNote is what the users view says about the change just asked for:
// what was done, or why nothing was.
type pageNote struct {
	OK   bool
	Text string
}

func okNote(format string, args ...any) *pageNote {
	return &pageNote{OK: true, Text: fmt.Sprintf(format, args...)}
}

func badNote(format string, args ...any) *pageNote {
	return &pageNote{Text: fmt.Sprintf(format, args...)}
}

// pageUser is one user's card in the users view: never their PIN, only
// whether they hold one.
type pageUser struct {
	access.User
	HasPIN bool
	// Label names the user in notes and button labels: "Ann Example
	// (ann)".
	Label string
	// LevelText is the user's levels in words; Valid their validity, ""
	// when open on both sides.
	LevelText string
	Valid     string
	Cards     []pageCard
}

// pageCard is one of a user's cards.
type pageCard struct {
	ID   string
	Text string
}

func userLabel(u access.User) string {
	if u.Name == "" {
		return u.ID
	}
	return u.Name + " (" + u.ID + ")"
}

func cardText(k access.CardKey) string {
	return fmt.Sprintf("%s, facility %d, number %d", k.Format, k.Facility, k.Number)
}

// levelText says which levels a user holds, with the names the policy
// gives them.
func levelText(levels []string, t *access.Table) string {
	if len(levels) == 0 {
		return "none: no door at all"
	}
	parts := make([]string, 0, len(levels))
	for _, id := range levels {
		switch l, ok := t.Levels[id]; {
		case id == access.LevelAll:
			parts = append(parts, id+" (every door, always)")
		case ok && l.Name != "" && l.Name != id:
			parts = append(parts, id+" ("+l.Name+")")
		case !ok:
			parts = append(parts, id+" (not in the policy)")
		default:
			parts = append(parts, id)
		}
	}
	return strings.Join(parts, ", ")
}

func validText(u access.User, z zone) string {
	switch {
	case u.ValidFrom.IsZero() && u.ValidTo.IsZero():
		return ""
	case u.ValidTo.IsZero():
		return "from " + z.Stamp(u.ValidFrom)
	case u.ValidFrom.IsZero():
		return "until " + z.Stamp(u.ValidTo)
	}
	return "from " + z.Stamp(u.ValidFrom) + " until " + z.Stamp(u.ValidTo)
}

// usersPage is GET /users: the users view at the page the query names.
func (s *Server) usersPage(c echo.Context) error {
	at, err := readUsersAt(c)
	if err != nil {
		return s.renderUsers(c, http.StatusBadRequest, usersAt{},
			badNote("This link's search or page is not valid (%v), so the first page of all users is shown instead.", err))
	}
	return s.renderUsers(c, http.StatusOK, at, nil)
}

// pageSetEnabled is POST /users/{id}/enabled (form field enabled, true or
// false): what `PUT /api/v1/users/{id}` with the user's name, validity and
// the new enabled does, and what `lintel user enable` and `disable` send.
func (s *Server) pageSetEnabled(c echo.Context) error {
	at, err := readUsersAt(c)
	if err != nil {
		at = usersAt{} // only where the view stands; the change is its own
	}
	id := c.Param("id")
	if err := access.CheckID(id); err != nil {
		return s.renderUsers(c, http.StatusBadRequest, at, badNote("There is no such user: %v. Nothing was changed.", err))
	}
	var enabled bool
	switch v := c.FormValue("enabled"); v {
	case "true":
		enabled = true
	case "false":
	default:
		return s.renderUsers(c, http.StatusBadRequest, at,
			badNote("The form asked neither to enable nor to disable user %q (enabled must be true or false, got %q). Nothing was changed.", id, clip(v)))
	}
	verb := map[bool]string{true: "enabled", false: "disabled"}[enabled]
	v, err := s.backend.User(id)
	if errors.Is(err, access.ErrNotFound) {
		return s.renderUsers(c, http.StatusNotFound, at, goneUser(id))
	}
	if err != nil {
		code, note := s.refused(c, fmt.Sprintf("user %q", id), err)
		return s.renderUsers(c, code, at, note)
	}
	who := userLabel(v.User)
	if v.User.Enabled == enabled {
		return s.renderUsers(c, http.StatusOK, at, okNote("%s is already %s; nothing was changed.", who, verb))
	}
	// The name and validity go with the change, as PUT needs them; the
	// levels and the override are not set, so they stay.
	u := v.User
	u.Enabled = enabled
	actor := actorOf(c)
	created, err := s.backend.PutUser(actor, u, access.FieldEnabled)
	if err != nil {
		code, note := s.refused(c, fmt.Sprintf("user %q", id), err)
		return s.renderUsers(c, code, at, note)
	}
	if created {
		// The user was deleted between the read and the write, which then
		// made them anew (with no card or PIN): take that back.
		if err := s.backend.DeleteUser(actor, id); err != nil {
			s.log.Error("api: users view: take back a user deleted meanwhile", "user", id, "err", err)
			return s.renderUsers(c, http.StatusInternalServerError, at,
				badNote("User %q was deleted while this change was being made, and the change added them back, %s, with no card or PIN; the gateway could not delete them again (its log says why). Delete them again.", id, verb))
		}
		return s.renderUsers(c, http.StatusNotFound, at, goneUser(id))
	}
	if enabled {
		return s.renderUsers(c, http.StatusOK, at, okNote("Enabled %s: their cards and PIN open the doors of their levels again.", who))
	}
	return s.renderUsers(c, http.StatusOK, at, okNote("Disabled %s: their cards and PIN open no door until they are enabled again.", who))
}

func goneUser(id string) *pageNote {
	return badNote("User %q does not exist: they were deleted, perhaps since this page was loaded. Nothing was changed.", id)
}

// pageRemoveCard is POST /credentials/{id}/remove (form field user, the
// card's holder, for the note): what DELETE /api/v1/credentials/{id} does.
func (s *Server) pageRemoveCard(c echo.Context) error {
	at, err := readUsersAt(c)
	if err != nil {
		at = usersAt{}
	}
	id := c.Param("id")
	if err := access.CheckID(id); err != nil {
		return s.renderUsers(c, http.StatusBadRequest, at, badNote("There is no such card: %v. Nothing was changed.", err))
	}
	what := fmt.Sprintf("card %q", id)
	if holder := c.FormValue("user"); access.CheckID(holder) == nil {
		if v, err := s.backend.User(holder); err == nil {
			if i := slices.IndexFunc(v.Credentials, func(cr access.Credential) bool { return cr.ID == id }); i >= 0 {
				what = fmt.Sprintf("card %s (%s) of %s", cardText(v.Credentials[i].Card), id, userLabel(v.User))
			}
		}
	}
	err = s.backend.RemoveCredential(actorOf(c), id)
	if errors.Is(err, access.ErrNotFound) {
		return s.renderUsers(c, http.StatusNotFound, at,
			badNote("Card %q is already gone: it was removed, or its user deleted, perhaps since this page was loaded. Nothing was changed.", id))
	}
	if err != nil {
		code, note := s.refused(c, fmt.Sprintf("credential %q", id), err)
		return s.renderUsers(c, code, at, note)
	}
	return s.renderUsers(c, http.StatusOK, at, okNote("Removed %s: it opens no door now.", what))
}

// refused is the status and the note of a change the backend refused: the
// API's answer to the same error, in words.
func (s *Server) refused(c echo.Context, what string, err error) (int, *pageNote) {
	var ae *apiError
	if !errors.As(s.backendError(c, what, err), &ae) {
		return http.StatusInternalServerError, badNote("The gateway could not make the change, so nothing was changed; its log says why.")
	}
	if ae.Status >= 500 {
		if s.backend.Status().Storage.Full {
			return ae.Status, badNote("The gateway's disk is full, so it refuses changes to the user table until there is room again (see the status page's alarm). Nothing was changed.")
		}
		return ae.Status, badNote("The gateway could not make the change, so nothing was changed; its log says why.")
	}
	return ae.Status, badNote("The gateway refused the change: %s. Nothing was changed.", strings.TrimSuffix(ae.Message, "."))
}

// renderUsers answers with the users view at at, with a note about the
// change just asked for (nil for none).
func (s *Server) renderUsers(c echo.Context, code int, at usersAt, note *pageNote) error {
	st := s.backend.Status()
	d := s.pageFor(c, st)
	d.View = "users"
	v := &usersView{At: at, Note: note}
	d.Users = v
	page, err := s.userList(userQuery{After: at.After, Q: at.Q, Limit: usersPageSize})
	if err != nil {
		_ = s.backendError(c, "the user table", err) // logs it
		v.ReadError = "The user table could not be read; the gateway's log says why. Reload the page to try again."
		if code < http.StatusBadRequest {
			code = http.StatusInternalServerError
		}
		return s.render(c, code, "users", d)
	}
	z := zoneOf(st.Timezone)
	policy := s.backend.Policy()
	for _, u := range page.Users {
		pu := pageUser{User: u.User, HasPIN: u.HasPIN, Label: userLabel(u.User),
			LevelText: levelText(u.Levels, policy), Valid: validText(u.User, z)}
		creds := slices.Clone(u.Credentials)
		slices.SortFunc(creds, func(a, b access.Credential) int { return strings.Compare(a.ID, b.ID) })
		for _, cr := range creds {
			pu.Cards = append(pu.Cards, pageCard{ID: cr.ID, Text: cardText(cr.Card)})
		}
		v.Users = append(v.Users, pu)
	}
	switch n := len(v.Users); {
	case n > 0:
		v.Summary = fmt.Sprintf("%d %s, %s to %s", n, plural(n, "user", "users"), v.Users[0].ID, v.Users[n-1].ID)
		if at.Q != "" {
			v.Summary += fmt.Sprintf(", whose id or name contains %q", at.Q)
		}
		if page.Next != "" {
			v.Summary += "; more on the next page"
		}
		v.Summary += "."
	case at.Q != "" && at.After != "":
		v.Summary = fmt.Sprintf("No more users whose id or name contains %q.", at.Q)
	case at.Q != "":
		v.Summary = fmt.Sprintf("No user's id or name contains %q.", at.Q)
	case at.After != "":
		v.Summary = "No more users."
	default:
		v.Summary = "No users yet: add them with the CLI (lintel user add), the API or the portal."
	}
	if page.Next != "" {
		v.NextURL = at.next(page.Next).URL()
	}
	p, ok := at.prev()
	if ok {
		v.PrevURL = p.URL()
	}
	if at.After != "" && (!ok || p.After != "") {
		v.FirstURL = usersAt{Q: at.Q}.URL()
	}
	return s.render(c, code, "users", d)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// pageFor is the page's data for whoever the request came from: their
// name, role and, for a session, its CSRF token.
func (s *Server) pageFor(c echo.Context, st Status) pageData {
	d := pageData{}
	d.Status.GatewayID = st.GatewayID
	if p, ok := c.Get(principalKey).(*principal); ok {
		d.Name, d.Role, d.Admin = p.Name, p.Role, p.Role == RoleAdmin
		if p.Session != nil {
			d.CSRF = p.Session.CSRF
		}
	}
	return d
}

// allowPage is [Server.allow] for the status page's own routes: it admits
// the same requests and answers a refusal as a page in words rather than
// an error document.
func (s *Server) allowPage(roles ...Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ae := s.admit(c, roles)
			if ae == nil {
				return next(c)
			}
			switch {
			case ae.RetryAfter > 0:
				return s.tooManyPage(c, ae)
			case ae.Status == http.StatusUnauthorized:
				return s.render(c, ae.Status, "signin", pageData{Error: "Sign in to see this page: your session has ended, or this browser has none."})
			}
			d := s.pageFor(c, s.backend.Status())
			switch ae.Code {
			case CodeForbidden:
				d.Error = fmt.Sprintf("This part of the status page is for admin sessions only, and %s is signed in as a %s. Nothing was shown or changed.", d.Name, d.Role)
			case CodeCSRF:
				d.Error = "That change was refused, and nothing was changed: the form did not come from this session's own page (its check is missing or out of date, or it came from another site). Open the page again and retry."
			default:
				d.Error = ae.Message
			}
			return s.render(c, ae.Status, "refused", d)
		}
	}
}
