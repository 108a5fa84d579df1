package api

import (
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lintel-access/lintel/gateway/access"
)

// The status page is one server-rendered HTML document with its style and
// script inline (the closet has no internet, and one document needs no
// static routes): a sign-in form without a session, the gateway's state with
// one. Its script refreshes the state from /panel, part by part, streams
// events from /api/v1/events/stream and sends door test pulses with the
// session's CSRF token.
//
// What the page says is worked out here, in Go, from the status (the alarm
// bar, each door's mode and why, the frame inspector's verdict, the times
// in the gateway's zone), so that the page without its script shows the
// same and tests can read it from /panel. The script builds only the live
// event lines, with the rules of [pageEvent] mirrored in app.js.

//go:embed web
var webFS embed.FS

// pageEvents is how many recent events the page starts with.
const pageEvents = 25

func parsePage() (*template.Template, error) {
	funcs := template.FuncMap{
		"since":   humanDuration,
		"rejects": sortedRejects,
	}
	t, err := template.New("").Funcs(funcs).ParseFS(webFS, "web/*.html")
	if err != nil {
		return nil, err
	}
	return t, nil
}

type pageData struct {
	Nonce string
	CSS   template.CSS
	JS    template.JS
	Error string
	Name  string
	Role  Role
	CSRF  string
	Last  uint64
	Sim   bool
	// Admin is set for an admin's session, which has the users view;
	// View names the view shown ("status" or "users").
	Admin  bool
	View   string
	Events []pageEvent
	// Users is the users view's content.
	Users *usersView
	panelView
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
	d := pageData{Name: sess.Name, Role: sess.Role, CSRF: sess.CSRF, Last: st.Journal.Last, Sim: s.sim != nil,
		Admin: sess.Role == RoleAdmin, View: "status", panelView: newPanelView(st, s.cfg.Now())}
	after := uint64(0)
	if st.Journal.Last > pageEvents {
		after = st.Journal.Last - pageEvents
	}
	evs, err := s.backend.Events(after, pageEvents)
	if err != nil {
		s.log.Error("api: status page: read journal", "err", err)
	}
	slices.Reverse(evs) // newest first
	for _, ev := range evs {
		d.Events = append(d.Events, d.Zone.event(ev))
	}
	if len(evs) > 0 {
		d.Last = max(d.Last, evs[0].Seq)
	}
	return s.render(c, http.StatusOK, "page", d)
}

// panel is the state part of the page, which the page's script reloads.
// Its requests are logged at debug (see [quietRequest]).
func (s *Server) panel(c echo.Context) error {
	var b strings.Builder
	d := pageData{panelView: newPanelView(s.snapshot(), s.cfg.Now())}
	if err := s.page.ExecuteTemplate(&b, "panel", d); err != nil {
		return fmt.Errorf("api: render panel: %w", err)
	}
	return c.HTML(http.StatusOK, b.String())
}

// quietRequest reports whether a request is logged at debug rather than
// info: the status page's own refreshes, which come every few seconds
// from every open page and say nothing an operator needs. Their failures
// are still logged at info.
func quietRequest(r *http.Request, status int) bool {
	return r.Method == http.MethodGet && r.URL.Path == "/panel" && status < 400
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

// panelView is what the state part of the page shows, worked out from one
// status at one moment.
type panelView struct {
	Status Status
	Zone   zone
	Now    time.Time
	// LocalTime is the gateway's time now, as the page shows times.
	LocalTime string
	// Alarms are the conditions shown red at the top of the page until
	// they clear: door alarms, lockdowns, reader faults, an untrusted
	// clock, a full disk.
	Alarms   []alarm
	Warnings []string
	Doors    []pageDoor
	Readers  []pageReader
	// UplinkSince is when the uplink connected, "" when unknown.
	UplinkSince string
	// PINRisk is the chance that a day of guessing at the keypads finds
	// some user's PIN, in words ("" with no PIN-accepting reader).
	PINRisk string
}

func newPanelView(st Status, now time.Time) panelView {
	z := zoneOf(st.Timezone)
	if t, err := time.Parse(time.RFC3339, st.LocalTime); err == nil {
		now = t
	}
	v := panelView{Status: st, Zone: z, Now: now, LocalTime: z.Stamp(now)}
	v.Alarms = alarmsOf(st, z)
	v.Warnings = slices.Clone(st.PolicyWarnings)
	if g := st.PINGuessing; g.GuessesPerDay > 0 {
		v.PINRisk = fmt.Sprintf("%.2g%% chance that a day of guessing (%d PINs a day) finds some user's PIN", g.Day*100, g.GuessesPerDay)
		if g.Length > 0 {
			v.PINRisk += fmt.Sprintf("; %d-digit PINs are the densest", g.Length)
		}
	}
	if st.PINGuessingWarn {
		v.Warnings = append(v.Warnings, "PIN guessing: "+v.PINRisk+". Issue longer PINs, or use card and PIN readers.")
	}
	for _, d := range st.Doors {
		v.Doors = append(v.Doors, newPageDoor(d, st, z, now))
	}
	for _, r := range st.Readers {
		v.Readers = append(v.Readers, newPageReader(r, z))
	}
	if u := st.Uplink; u.Connected && !u.Since.IsZero() {
		v.UplinkSince = z.Stamp(u.Since)
	}
	return v
}

// zone is the gateway's time zone, in which the page shows every time:
// the gateway's wall clock, not the browser's. Times read
// "2026-03-14 10:26:53 UTC+01:00"; app.js formats streamed events the same
// way, with the zone's name from the page's data-tz.
type zone struct {
	// Name is the IANA name the status gave; Loc is its location, UTC when
	// the name is empty or unknown (Known is then false).
	Name  string
	Loc   *time.Location
	Known bool
}

// zones caches loaded locations by name: the status names the same zone on
// every refresh.
var zones sync.Map // string → *time.Location

func zoneOf(name string) zone {
	if name == "" {
		return zone{Name: "UTC", Loc: time.UTC, Known: true}
	}
	if loc, ok := zones.Load(name); ok {
		return zone{Name: name, Loc: loc.(*time.Location), Known: true}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return zone{Name: name, Loc: time.UTC}
	}
	zones.Store(name, loc)
	return zone{Name: name, Loc: loc, Known: true}
}

// Stamp is t as the page shows it: date, time and UTC offset in the zone.
func (z zone) Stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(z.Loc)
	return t.Format("2006-01-02 15:04:05") + " " + offsetLabel(t)
}

// Describe names the zone with its abbreviation and offset at t:
// "Europe/Berlin (CET, UTC+01:00)", "UTC".
func (z zone) Describe(t time.Time) string {
	t = t.In(z.Loc)
	abbrev, _ := t.Zone()
	var also []string
	for _, s := range []string{abbrev, offsetLabel(t)} {
		if s != z.Name && !slices.Contains(also, s) {
			also = append(also, s)
		}
	}
	if len(also) == 0 {
		return z.Name
	}
	return z.Name + " (" + strings.Join(also, ", ") + ")"
}

func offsetLabel(t time.Time) string {
	if _, off := t.Zone(); off == 0 {
		return "UTC"
	}
	return "UTC" + t.Format("-07:00")
}

// alarm is one line of the alarm bar.
type alarm struct {
	// ID names it for tests and for the script: "alarm-door-front-forced_open".
	ID    string
	Title string
	Where string
	Text  string
}

// doorAlarm is how the page names a door's alarm (DoorStatus.Alarms).
// held_open_prealarm is a warning on the door's card, not an alarm.
var doorAlarms = map[string]struct{ title, text string }{
	"forced_open":  {"Door forced open", "It opened without a grant or request-to-exit. This clears when the door closes."},
	"held_open":    {"Door held open", "It has stood open longer than allowed. This clears when the door closes."},
	"output_error": {"Door output fault", "The strike could not be driven: check the relay and its wiring; the Door Output Fault event says what failed."},
}

const preAlarm = "held_open_prealarm"

// alarmsOf lists the conditions of a status that the page pins red at its
// top, in a stable order: the gateway's, then each door's, then each
// reader's. A lockdown is one line for all the doors one override holds.
func alarmsOf(st Status, z zone) []alarm {
	var out []alarm
	if st.Storage.Full {
		text := "Less than the reserve is free on the data directory's disk: user-table and sync changes are refused, doors decide from memory and events wait in memory. Free space there; writes resume by themselves."
		if st.Storage.Fault != "" {
			text = st.Storage.Fault + ". " + text
		}
		if !st.Storage.Since.IsZero() {
			text += " Since " + z.Stamp(st.Storage.Since) + "."
		}
		out = append(out, alarm{ID: "alarm-storage-full", Title: "Disk full", Where: "gateway", Text: text})
	}
	if !st.ClockTrusted {
		out = append(out, alarm{ID: "alarm-clock-untrusted", Title: "Clock untrusted", Where: "gateway", Text: clockText(st.UntrustedClock)})
	}
	type lockdown struct {
		override string
		doors    []string
		until    time.Time
	}
	var lockdowns []*lockdown
	for _, d := range st.Doors {
		for _, a := range d.Alarms {
			switch a {
			case preAlarm:
				continue
			case "lockdown":
				i := slices.IndexFunc(lockdowns, func(l *lockdown) bool { return l.override == d.Override })
				if i < 0 {
					lockdowns = append(lockdowns, &lockdown{override: d.Override, until: d.OverrideUntil})
					i = len(lockdowns) - 1
				}
				lockdowns[i].doors = append(lockdowns[i].doors, d.Name)
				continue
			}
			da, ok := doorAlarms[a]
			if !ok {
				da.title, da.text = "Door alarm: "+a, "See the door's events."
			}
			out = append(out, alarm{ID: "alarm-door-" + d.Name + "-" + a, Title: da.title, Where: "door " + d.Name, Text: da.text})
		}
	}
	for _, l := range lockdowns {
		where := "door "
		if len(l.doors) > 1 {
			where = "doors "
		}
		text := "Only override users are admitted; request-to-exit still opens the door."
		switch {
		case l.override == "":
		case l.until.IsZero():
			text += fmt.Sprintf(" Override %q holds it until it is cleared.", l.override)
		default:
			text += fmt.Sprintf(" Override %q holds it until %s.", l.override, z.Stamp(l.until))
		}
		id := "alarm-lockdown"
		if l.override != "" {
			id += "-" + l.override
		}
		out = append(out, alarm{ID: id, Title: "Lockdown", Where: where + strings.Join(l.doors, ", "), Text: text})
	}
	for _, r := range st.Readers {
		if r.Fault != "" {
			out = append(out, alarm{ID: "alarm-reader-" + r.Name, Title: "Reader fault", Where: "reader " + r.Name, Text: r.Fault})
		}
	}
	return out
}

// clockText says what an untrusted clock means under the configured
// choice (access.untrusted_clock; docs/access.md).
func clockText(choice string) string {
	const common = "The gateway's clock is not synchronised, or reads earlier than a time already seen: times on this page and in new events may be wrong."
	switch access.UntrustedClock(choice) {
	case access.ClockRestrict:
		return common + " Meanwhile (access.untrusted_clock = restrict) only entries on the schedule \"always\" grant and no scheduled door mode runs. This clears once the clock is synchronised (NTP, or an RTC)."
	case access.ClockDeny:
		return common + " Meanwhile (access.untrusted_clock = deny) everyone but override users is denied. This clears once the clock is synchronised (NTP, or an RTC)."
	case access.ClockTrust:
		return common + " Schedules still run as if it were right (access.untrusted_clock = trust). This clears once the clock is synchronised (NTP, or an RTC)."
	}
	return common + " This clears once the clock is synchronised (NTP, or an RTC)."
}

// pageDoor is a door's card.
type pageDoor struct {
	DoorStatus
	// ModeText is the effective mode in words; WhyKind and Why say where
	// it comes from ("Override", "Schedule", "Reader's configured mode",
	// "Waiting for first person in", "Clock untrusted") and the detail.
	ModeText string
	WhyKind  string
	Why      string
	// Next is the next change in words, with its local time.
	Next string
	// Unlocked is when a timed unlock in progress ends, as shown, and
	// UnlockLeftMS how long until then, for the script to refresh the
	// card when the door relocks.
	Unlocked     string
	UnlockLeftMS int64
	Prealarm     bool
	// AlarmNames are the door's alarms in words, for its badges.
	AlarmNames []string
}

var modeWords = map[access.DoorMode]string{
	access.DoorMode(access.ModeCardOnly):   "card only",
	access.DoorMode(access.ModePINOnly):    "PIN only",
	access.DoorMode(access.ModeCardOrPIN):  "card or PIN",
	access.DoorMode(access.ModeCardAndPIN): "card and PIN",
	access.ModeUnlocked:                    "unlocked (strike held open)",
	access.ModeLocked:                      "locked (override users only)",
	access.ModeLockdown:                    "lockdown (override users only)",
}

func modeText(m access.DoorMode) string {
	if w, ok := modeWords[m]; ok {
		return w
	}
	return string(m)
}

func newPageDoor(d DoorStatus, st Status, z zone, now time.Time) pageDoor {
	p := pageDoor{DoorStatus: d, ModeText: modeText(d.Mode)}
	reader := ""
	for _, r := range st.Readers {
		if r.Door == d.Name {
			reader = r.Name
			break
		}
	}
	switch {
	case d.Mode == "":
		p.ModeText, p.WhyKind, p.Why = "unknown", "Unknown", "the gateway did not report this door's mode"
	case d.ModeSource == access.SourceOverride:
		p.WhyKind = "Override"
		p.Why = fmt.Sprintf("%q holds the door %s", d.Override, modeText(d.Mode))
		if d.OverrideUntil.IsZero() {
			p.Why += " until it is cleared"
		} else {
			p.Why += " until " + z.Stamp(d.OverrideUntil)
		}
	case d.ModeSource == access.SourceSchedule:
		p.WhyKind = "Schedule"
		p.Why = fmt.Sprintf("%q is active: the door policy runs it %s", d.Schedule, modeText(d.Mode))
	case d.AwaitingFirstIn != "":
		p.WhyKind = "Waiting for first person in"
		p.Why = fmt.Sprintf("schedule %q is active, but its mode starts only once a holder of level %q is granted here today; until then, the reader's configured mode", d.Schedule, d.AwaitingFirstIn)
	case d.ClockHeld:
		p.WhyKind = "Clock untrusted"
		p.Why = fmt.Sprintf("the door's schedules are off until the clock is synchronised (access.untrusted_clock = %s); meanwhile, the reader's configured mode", st.UntrustedClock)
	case reader == "":
		p.WhyKind, p.Why = "No reader", d.ModeReason
	default:
		p.WhyKind = "Reader's configured mode"
		p.Why = fmt.Sprintf("reader %q, no override or schedule in force", reader)
	}
	switch {
	case !d.NextChange.IsZero():
		p.Next = fmt.Sprintf("%s at %s (in %s)", modeText(d.NextMode), z.Stamp(d.NextChange), humanDuration(int64(d.NextChange.Sub(now)/time.Second)))
	case d.ModeSource == access.SourceOverride && d.OverrideUntil.IsZero():
		p.Next = "none by itself: the override stays until it is cleared"
	default:
		p.Next = "none within a week"
	}
	if !d.UnlockedUntil.IsZero() {
		p.Unlocked = z.Stamp(d.UnlockedUntil)
		p.UnlockLeftMS = max(d.UnlockedUntil.Sub(now).Milliseconds(), 0)
	}
	for _, a := range d.Alarms {
		switch a {
		case preAlarm:
			p.Prealarm = true
		case "lockdown":
			p.AlarmNames = append(p.AlarmNames, "lockdown")
		default:
			if da, ok := doorAlarms[a]; ok {
				p.AlarmNames = append(p.AlarmNames, strings.ToLower(strings.TrimPrefix(da.title, "Door ")))
			} else {
				p.AlarmNames = append(p.AlarmNames, a)
			}
		}
	}
	return p
}

// pageReader is a reader's card with its frame inspector.
type pageReader struct {
	ReaderStatus
	Frame *pageFrame
}

// pageFrame is the frame inspector's view of the last frame.
type pageFrame struct {
	Frame
	Seen string
	// Unreadable says why a rejected frame could not be read, e.g.
	// "unreadable card: parity error, 26 bits"; Hint what usually causes
	// it. Both are empty for a frame that was read.
	Unreadable string
	Hint       string
}

// rejectWords names the framer's reject causes (wiegand.Cause) as the
// inspector shows them, with what usually causes each.
var rejectWords = map[string]struct{ what, hint string }{
	"parity":   {"parity error", "Often D0 and D1 swapped (swap d0 and d1 in the config), or noise on the lines."},
	"length":   {"wrong bit count", "No configured format has this many bits: noise or lost edges (shorten or shield the cable, check the ground), or a card of a format not configured (format_37)."},
	"invalid":  {"invalid value", "The bits are well formed but carry no valid value."},
	"both_low": {"D0 and D1 low together", "Both data lines were low at once: a short, or a wiring fault."},
	"partial":  {"incomplete frame", "The frame began before the reader was listening; present the card again."},
}

func newPageReader(r ReaderStatus, z zone) pageReader {
	p := pageReader{ReaderStatus: r}
	if r.LastFrame == nil {
		return p
	}
	f := &pageFrame{Frame: *r.LastFrame, Seen: z.Stamp(r.LastFrame.Time)}
	if f.Error != "" {
		w, ok := rejectWords[f.Error]
		if !ok {
			w.what = f.Error
		}
		noun := "card"
		if f.Keypad {
			noun = "key press"
		}
		f.Unreadable = fmt.Sprintf("unreadable %s: %s, %d bits", noun, w.what, f.Length)
		f.Hint = w.hint
	}
	p.Frame = f
	return p
}

// pageEvent is one line of the event list. app.js builds the same line
// for a streamed event: keep the two in step (the browser test compares
// them).
type pageEvent struct {
	access.Event
	Class string
	Tag   string
	Stamp string
	// Detail is the event's detail without the "by ACTOR: " that the
	// gateway's audit events start with: the actor is shown on its own.
	Detail string
	// Where is the door, when the event has one other than its reader.
	Where string
}

func (z zone) event(ev access.Event) pageEvent {
	p := pageEvent{Event: ev, Stamp: z.Stamp(ev.Time), Detail: ev.Detail}
	p.Class, p.Tag = eventClass(ev.Type)
	if ev.Actor != "" {
		p.Detail = strings.TrimPrefix(strings.TrimPrefix(p.Detail, "by "+ev.Actor), ": ")
	}
	if ev.Door != "" && ev.Door != ev.Reader {
		p.Where = ev.Door
	}
	return p
}

// eventClass is the CSS class of an event type and the tag word shown
// with it, so that colour is never the only sign: "ok" for grants; "bad"
// for denials and lockouts, whose names say so, and "bad" tagged "alarm"
// for alarms; "warn"; "audit" for test pulses and, tagged "change", for
// changes; "info" for the rest.
func eventClass(typ string) (class, tag string) {
	switch typ {
	case access.TypeGranted:
		return "ok", ""
	case access.TypeDenied, access.TypeLockout, access.TypeUserLock:
		return "bad", ""
	case access.TypeReaderErr, "door.forced", "door.held", "door.fault", "door.lockdown", "storage.full":
		return "bad", "alarm"
	case "door.held_prealarm", "gateway.clock", "policy.warning":
		return "warn", ""
	case access.TypeAudit:
		return "audit", "change"
	case "door.test_pulse":
		return "audit", ""
	}
	if strings.HasPrefix(typ, "alarm.") {
		return "bad", "alarm"
	}
	return "info", ""
}

// humanDuration renders seconds as "3d 4h", "5h 2m", "4m 10s".
func humanDuration(secs int64) string {
	d := time.Duration(max(secs, 0)) * time.Second
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
