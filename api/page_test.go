package api_test

import (
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/apitest"
	"github.com/lintel-access/lintel/gateway/access"
)

// panelDoc is the status page's state part as GET /panel answers it.
type panelDoc struct {
	t    *testing.T
	root *html.Node
}

func getPanel(t *testing.T, h *harness) panelDoc {
	t.Helper()
	body := h.mustDo(request{method: "GET", path: "/panel", token: techToken}, 200)
	root, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/panel does not parse: %v", err)
	}
	return panelDoc{t: t, root: root}
}

func (p panelDoc) byID(id string) *html.Node {
	var find func(n *html.Node) *html.Node
	find = func(n *html.Node) *html.Node {
		for _, a := range n.Attr {
			if a.Key == "id" && a.Val == id {
				return n
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if f := find(c); f != nil {
				return f
			}
		}
		return nil
	}
	return find(p.root)
}

// text is the text of the element with the id, its white space collapsed;
// "" when there is none.
func (p panelDoc) text(id string) string {
	n := p.byID(id)
	if n == nil {
		return ""
	}
	return textOf(n)
}

// textOf is a node's text as a reader sees it: cells, terms and lines
// apart, white space collapsed.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		block := n.Type == html.ElementNode && strings.Contains(" dt dd th td tr li p h2 h3 dl table ", " "+n.Data+" ")
		if block {
			b.WriteString(" ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if block {
			b.WriteString(" ")
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// alarmIDs lists the ids of the alarm bar's lines, in order.
func (p panelDoc) alarmIDs() []string {
	var ids []string
	bar := p.byID("alarms")
	if bar == nil {
		p.t.Fatal("/panel has no alarm bar")
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "li" {
			for _, a := range n.Attr {
				if a.Key == "id" {
					ids = append(ids, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(bar)
	return ids
}

// admin sends an admin API request that must answer want.
func (h *harness) admin(method, path, body string, want int) {
	h.t.Helper()
	h.mustDo(request{method: method, path: path, token: adminToken, body: body}, want)
}

// TestPanelAlarms: every condition the status reports as an alarm is a line
// of the alarm bar, in words and marked "Alarm" (not only red), and the
// line goes when the condition does.
func TestPanelAlarms(t *testing.T) {
	tests := []struct {
		name  string
		opts  apitest.Options
		raise func(h *harness)
		clear func(h *harness)
		ids   []string
		says  map[string][]string // element id → parts of its text
	}{
		{
			name:  "door forced open",
			raise: func(h *harness) { h.backend.SetDoorAlarms("front", "forced_open") },
			clear: func(h *harness) { h.backend.SetDoorAlarms("front") },
			ids:   []string{"alarm-door-front-forced_open"},
			says: map[string][]string{
				"alarm-door-front-forced_open": {"Alarm", "Door forced open", "door front", "clears when the door closes"},
				"door-front":                   {"alarm: forced open"},
				"alarm-count":                  {"1 active"},
			},
		},
		{
			name:  "door held open, after its pre-alarm",
			raise: func(h *harness) { h.backend.SetDoorAlarms("side", "held_open") },
			clear: func(h *harness) { h.backend.SetDoorAlarms("side", "held_open_prealarm") },
			ids:   []string{"alarm-door-side-held_open"},
			says:  map[string][]string{"alarm-door-side-held_open": {"Alarm", "Door held open", "door side"}},
		},
		{
			name:  "door output fault",
			raise: func(h *harness) { h.backend.SetDoorAlarms("garage", "output_error") },
			clear: func(h *harness) { h.backend.SetDoorAlarms("garage") },
			ids:   []string{"alarm-door-garage-output_error"},
			says:  map[string][]string{"alarm-door-garage-output_error": {"Door output fault", "door garage", "Door Output Fault event"}},
		},
		{
			name: "lockdown of every door",
			raise: func(h *harness) {
				h.admin("PUT", "/api/v1/overrides/drill", `{"doors":["*"],"mode":"lockdown"}`, 201)
			},
			clear: func(h *harness) { h.admin("DELETE", "/api/v1/overrides/drill", "", 204) },
			ids:   []string{"alarm-lockdown-drill"},
			says: map[string][]string{
				"alarm-lockdown-drill": {"Alarm", "Lockdown", "doors front, garage, side", `Override "drill" holds it until it is cleared`},
				"door-side":            {"alarm: lockdown", "lockdown (override users only)", `Override: "drill" holds the door lockdown`, "none by itself"},
			},
		},
		{
			name: "lockdown of one door, until a time in the gateway's zone",
			opts: apitest.Options{Location: mustZone(t, "Europe/Berlin")},
			raise: func(h *harness) {
				h.admin("PUT", "/api/v1/overrides/evac", `{"doors":["garage"],"mode":"lockdown","until":"2026-03-14T12:00:00Z"}`, 201)
			},
			clear: func(h *harness) { h.admin("DELETE", "/api/v1/overrides/evac", "", 204) },
			ids:   []string{"alarm-lockdown-evac"},
			says: map[string][]string{
				"alarm-lockdown-evac": {"door garage", `Override "evac" holds it until 2026-03-14 13:00:00 UTC+01:00`},
				"door-garage":         {"until 2026-03-14 13:00:00 UTC+01:00", "card only at 2026-03-14 13:00:00 UTC+01:00 (in 2h 33m)"},
			},
		},
		{
			name:  "reader fault",
			raise: func(h *harness) { h.backend.SetReaderFault("side", "d0_stuck_low: D0 held low for 2s") },
			clear: func(h *harness) { h.backend.SetReaderFault("side", "") },
			ids:   []string{"alarm-reader-side"},
			says:  map[string][]string{"alarm-reader-side": {"Alarm", "Reader fault", "reader side", "d0_stuck_low: D0 held low for 2s"}},
		},
		{
			name:  "untrusted clock, restrict",
			raise: func(h *harness) { h.backend.SetClock(access.ClockState{}) },
			clear: func(h *harness) { h.backend.SetClock(access.ClockState{Trusted: true}) },
			ids:   []string{"alarm-clock-untrusted"},
			says: map[string][]string{
				"alarm-clock-untrusted": {"Alarm", "Clock untrusted", "access.untrusted_clock = restrict", `only entries on the schedule "always" grant`},
				"clock":                 {"not synchronised"},
			},
		},
		{
			name:  "untrusted clock, deny",
			opts:  apitest.Options{UntrustedClock: access.ClockDeny},
			raise: func(h *harness) { h.backend.SetClock(access.ClockState{}) },
			clear: func(h *harness) { h.backend.SetClock(access.ClockState{Trusted: true}) },
			ids:   []string{"alarm-clock-untrusted"},
			says:  map[string][]string{"alarm-clock-untrusted": {"access.untrusted_clock = deny", "everyone but override users is denied"}},
		},
		{
			name: "disk full",
			raise: func(h *harness) {
				h.backend.SetStorage(api.StorageStatus{Full: true, Since: h.clock.Now().Add(-time.Hour), Fault: "12 MiB free, below the 64 MiB reserve"})
			},
			clear: func(h *harness) { h.backend.SetStorage(api.StorageStatus{}) },
			ids:   []string{"alarm-storage-full"},
			says:  map[string][]string{"alarm-storage-full": {"Alarm", "Disk full", "12 MiB free, below the 64 MiB reserve", "Since 2026-03-14 08:26:53 UTC"}},
		},
		{
			name: "several at once, the gateway's first",
			raise: func(h *harness) {
				h.backend.SetReaderFault("front", "reject_burst: 5 rejected frames within 10s")
				h.backend.SetDoorAlarms("front", "forced_open", "held_open")
				h.backend.SetStorage(api.StorageStatus{Full: true})
			},
			clear: func(h *harness) {
				h.backend.SetReaderFault("front", "")
				h.backend.SetDoorAlarms("front")
				h.backend.SetStorage(api.StorageStatus{})
			},
			ids:  []string{"alarm-storage-full", "alarm-door-front-forced_open", "alarm-door-front-held_open", "alarm-reader-front"},
			says: map[string][]string{"alarm-count": {"4 active"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{backend: tt.opts})
			if got := getPanel(t, h).alarmIDs(); len(got) != 0 {
				t.Fatalf("alarms before any: %v", got)
			}
			tt.raise(h)
			p := getPanel(t, h)
			if got := p.alarmIDs(); strings.Join(got, " ") != strings.Join(tt.ids, " ") {
				t.Errorf("got alarms %v, want %v", got, tt.ids)
			}
			for id, parts := range tt.says {
				got := p.text(id)
				for _, part := range parts {
					if !strings.Contains(got, part) {
						t.Errorf("#%s says %q, want it to say %q", id, got, part)
					}
				}
			}
			tt.clear(h)
			p = getPanel(t, h)
			if got := p.alarmIDs(); len(got) != 0 {
				t.Errorf("alarms after the condition cleared: %v, want none", got)
			}
			if got := p.text("alarm-count"); got != "none" {
				t.Errorf("alarm count after the condition cleared: %q, want none", got)
			}
		})
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestPanelDoorModes: each door says its effective mode, why (override,
// schedule, first person in, untrusted clock, reader) and when it next
// changes, in the gateway's local time. The harness's clock reads Saturday
// 14 March 2026, 09:26:53 UTC.
func TestPanelDoorModes(t *testing.T) {
	weekend := `{"name":"Weekend","intervals":[{"days":["sat","sun"],"start":"08:00","end":"18:00","holidays":[]}]}`
	tests := []struct {
		name  string
		opts  apitest.Options
		setup func(h *harness)
		door  string
		says  []string
	}{
		{
			name: "reader's configured mode",
			door: "front",
			says: []string{"Mode card and PIN", `Why Reader's configured mode: reader "front", no override or schedule in force`, "Next none within a week"},
		},
		{
			name: "a schedule unlocks it",
			setup: func(h *harness) {
				h.admin("PUT", "/api/v1/schedules/weekend", weekend, 201)
				h.admin("PUT", "/api/v1/doors/side/policy", `{"modes":[{"schedule":"weekend","mode":"unlocked"}]}`, 200)
			},
			door: "side",
			says: []string{"side unlocked closed", "Mode unlocked (strike held open)", `Why Schedule: "weekend" is active: the door policy runs it unlocked`,
				"Next card or PIN at 2026-03-14 18:00:00 UTC (in 8h 33m)"},
		},
		{
			name: "a schedule will unlock it, in New York, where it is 05:26",
			opts: apitest.Options{Location: mustZone(t, "America/New_York")},
			setup: func(h *harness) {
				h.admin("PUT", "/api/v1/schedules/weekend", weekend, 201)
				h.admin("PUT", "/api/v1/doors/side/policy", `{"modes":[{"schedule":"weekend","mode":"unlocked"}]}`, 200)
			},
			door: "side",
			says: []string{"side locked closed", "Mode card or PIN", "Next unlocked (strike held open) at 2026-03-14 08:00:00 UTC-04:00 (in 2h 33m)"},
		},
		{
			name: "waiting for the first person in",
			setup: func(h *harness) {
				h.admin("PUT", "/api/v1/schedules/weekend", weekend, 201)
				h.admin("PUT", "/api/v1/levels/staff", `{"name":"Staff","doors":[{"door":"front","schedule":"always"}]}`, 201)
				h.admin("PUT", "/api/v1/doors/front/policy", `{"modes":[{"schedule":"weekend","mode":"unlocked","first_in":"staff"}]}`, 200)
			},
			door: "front",
			says: []string{"Mode card and PIN", `Why Waiting for first person in: schedule "weekend" is active, but its mode starts only once a holder of level "staff" is granted here today`},
		},
		{
			name: "an untrusted clock holds its schedule back",
			setup: func(h *harness) {
				h.admin("PUT", "/api/v1/schedules/weekend", weekend, 201)
				h.admin("PUT", "/api/v1/doors/side/policy", `{"modes":[{"schedule":"weekend","mode":"unlocked"}]}`, 200)
				h.backend.SetClock(access.ClockState{})
			},
			door: "side",
			says: []string{"locked", "Mode card or PIN", "Why Clock untrusted: the door's schedules are off until the clock is synchronised (access.untrusted_clock = restrict)"},
		},
		{
			name: "an override beats the schedule",
			setup: func(h *harness) {
				h.admin("PUT", "/api/v1/schedules/weekend", weekend, 201)
				h.admin("PUT", "/api/v1/doors/side/policy", `{"modes":[{"schedule":"weekend","mode":"unlocked"}]}`, 200)
				h.admin("PUT", "/api/v1/overrides/hold", `{"doors":["side"],"mode":"locked","until":"2026-03-14T10:00:00Z"}`, 201)
			},
			door: "side",
			says: []string{"Mode locked (override users only)", `Why Override: "hold" holds the door locked (override users only) until 2026-03-14 10:00:00 UTC`,
				"Next unlocked (strike held open) at 2026-03-14 10:00:00 UTC (in 33m 7s)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{backend: tt.opts})
			if tt.setup != nil {
				tt.setup(h)
			}
			got := getPanel(t, h).text("door-" + tt.door)
			for _, part := range tt.says {
				if !strings.Contains(got, part) {
					t.Errorf("door %s says %q, want it to say %q", tt.door, got, part)
				}
			}
		})
	}
}

// TestPanelTimes: the gateway's local time has its date and zone, the
// page names the zone, and every time shown is in it.
func TestPanelTimes(t *testing.T) {
	tests := []struct {
		zone                 string
		local, zoneText, see string
	}{
		{"", "2026-03-14 09:26:53 UTC", "UTC", "2026-03-14 09:26:53 UTC"},
		{"Europe/Berlin", "2026-03-14 10:26:53 UTC+01:00", "Europe/Berlin (CET, UTC+01:00)", "2026-03-14 10:26:53 UTC+01:00"},
		{"America/New_York", "2026-03-14 05:26:53 UTC-04:00", "America/New_York (EDT, UTC-04:00)", "2026-03-14 05:26:53 UTC-04:00"},
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			var o apitest.Options
			if tt.zone != "" {
				o.Location = mustZone(t, tt.zone)
			}
			h := newHarness(t, harnessOptions{backend: o})
			h.mustDo(request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"facility":1,"number":100}`}, 202)
			p := getPanel(t, h)
			if got := p.text("local-time"); got != tt.local {
				t.Errorf("local time: got %q, want %q", got, tt.local)
			}
			if got := p.text("timezone"); !strings.HasPrefix(got, tt.zoneText+". Every time on this page is the gateway's local time, not your device's.") {
				t.Errorf("zone: got %q, want it to start with %q and say whose times these are", got, tt.zoneText)
			}
			if got := p.text("reader-garage"); !strings.Contains(got, "Seen "+tt.see) {
				t.Errorf("garage's frame: got %q, want it seen at %q", got, tt.see)
			}
		})
	}
}

// TestPanelFrameInspector: a frame that failed parity or had a bit count no
// format takes is shown as unreadable, with why and a hint, never as a card
// "facility 0, number 0".
func TestPanelFrameInspector(t *testing.T) {
	tests := []struct {
		name   string
		bits   string
		says   []string
		absent []string
	}{
		{"good card", "10000000100000000011001000",
			[]string{"Length 26 bits", "Parity ok", "Format H10301", "Card facility 1, number 100"}, []string{"unreadable", "rejected"}},
		{"parity error", "00000000100000000011001000",
			[]string{"Length 26 bits", "Parity failed", "rejected unreadable card: parity error, 26 bits", "D0 and D1 swapped"}, []string{"facility", "H10301"}},
		{"wrong bit count", strings.Repeat("1", 27),
			[]string{"Length 27 bits", "Parity not checked", "unreadable card: wrong bit count, 27 bits", "No configured format has this many bits"}, []string{"facility", "Parity failed"}},
		{"all zeroes, 26 bits", strings.Repeat("0", 26),
			[]string{"unreadable card: parity error, 26 bits"}, []string{"facility 0", "number 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			h.mustDo(request{method: "POST", path: "/api/v1/sim/readers/garage/card", token: techToken, body: `{"bits":"` + tt.bits + `"}`}, 202)
			got := getPanel(t, h).text("reader-garage")
			for _, part := range tt.says {
				if !strings.Contains(got, part) {
					t.Errorf("the inspector says %q, want it to say %q", got, part)
				}
			}
			for _, part := range tt.absent {
				if strings.Contains(got, part) {
					t.Errorf("the inspector says %q, want no %q", got, part)
				}
			}
		})
	}
}

// TestPanelTestPulse: right after a test pulse the door shows unlocked with
// its end, and locked once that has passed.
func TestPanelTestPulse(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustDo(request{method: "POST", path: "/api/v1/doors/front/pulse", token: techToken}, 202)
	if got, want := getPanel(t, h).text("door-front"), "front unlocked closed Unlocked until 2026-03-14 09:26:58 UTC"; !strings.HasPrefix(got, want) {
		t.Errorf("door front after a pulse: %q, want it to start %q", got, want)
	}
	h.clock.Advance(5 * time.Second)
	if got := getPanel(t, h).text("door-front"); !strings.HasPrefix(got, "front locked closed Mode") {
		t.Errorf("door front after its pulse ended: %q, want locked", got)
	}
}

// TestPageEvents: the event list shows an audit event's actor on its own
// (not again in the detail), tags changes and alarms in words, and marks
// events stamped by an untrusted clock.
func TestPageEvents(t *testing.T) {
	h := newHarness(t, harnessOptions{backend: apitest.Options{Location: mustZone(t, "Europe/Berlin")}})
	h.backend.Emit(
		access.Event{Type: access.TypeAudit, Name: "Override Set", Actor: "alice", Detail: `by alice: override "drill": lockdown on [*]`},
		access.Event{Type: "door.forced", Name: "Door Forced Open", Door: "front", Reader: "front"},
		access.Event{Type: "door.test_pulse", Name: "Door Test Pulse", Door: "garage", Reader: "garage", Actor: "tech"},
		access.Event{Type: "gateway.clock", Name: "Clock Untrusted", ClockUntrusted: true},
	)
	ck := sessionCookie(t, h.signIn(techToken, nil))
	page := h.mustDo(request{method: "GET", path: "/", header: map[string]string{"Cookie": ck.Name + "=" + ck.Value}}, 200)
	root, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	p := panelDoc{t: t, root: root}
	if got := p.byID("events"); got == nil {
		t.Fatal("the page has no event list")
	}
	var lines []string
	for li := p.byID("events").FirstChild; li != nil; li = li.NextSibling {
		lines = append(lines, textOf(li))
	}
	want := []string{
		"2026-03-14 10:26:53 UTC+01:00 Clock Untrusted clock not synchronised",
		"2026-03-14 10:26:53 UTC+01:00 Door Test Pulse reader garage by tech",
		"2026-03-14 10:26:53 UTC+01:00 alarm Door Forced Open reader front",
		`2026-03-14 10:26:53 UTC+01:00 change Override Set by alice override "drill": lockdown on [*]`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("event lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(page, `data-tz="Europe/Berlin"`) {
		t.Errorf("the page does not give its script the gateway's zone")
	}
}

// TestPanelWarnings: the stored policy's warnings and a PIN guessing risk
// of 1% or more are shown on the gateway's card.
func TestPanelWarnings(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.backend.SetPolicyWarnings(`level "staff" names door "lobby", which is not configured: left out`)
	h.backend.SetPINGuessing(access.GuessRisk{Length: 4, Density: 0.1, GuessesPerDay: 145, Day: 0.99})
	p := getPanel(t, h)
	want := "99% chance that a day of guessing (145 PINs a day) finds some user's PIN; 4-digit PINs are the densest"
	if got := p.text("pin-guessing"); got != want {
		t.Errorf("PIN guessing: got %q, want %q", got, want)
	}
	got := p.text("gateway")
	for _, part := range []string{`warning level "staff" names door "lobby"`, "warning PIN guessing: " + want + ". Issue longer PINs"} {
		if !strings.Contains(got, part) {
			t.Errorf("the gateway card says %q, want it to say %q", got, part)
		}
	}
}

// TestPanelRefreshLoggedAtDebug: the page's refreshes, every few seconds
// from every open page, are logged at debug; other requests at info.
func TestPanelRefreshLoggedAtDebug(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.mustDo(request{method: "GET", path: "/panel", token: techToken}, 200)
	h.mustDo(request{method: "GET", path: "/api/v1/status", token: techToken}, 200)
	h.mustDo(request{method: "GET", path: "/panel"}, 401)
	var got []string
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if !strings.Contains(line, `msg="api: request"`) {
			continue
		}
		level, _, _ := strings.Cut(strings.TrimPrefix(line[strings.Index(line, "level="):], "level="), " ")
		path, _, _ := strings.Cut(line[strings.Index(line, "path="):], " ")
		status, _, _ := strings.Cut(line[strings.Index(line, "status="):], " ")
		got = append(got, level+" "+path+" "+status)
	}
	want := []string{"DEBUG path=/panel status=200", "INFO path=/api/v1/status status=200", "INFO path=/panel status=401"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("request log lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// pageSession is a browser's session on the status page: its cookie and
// the CSRF token its page carries.
type pageSession struct {
	h            *harness
	cookie, csrf string
}

func (h *harness) pageSession(t *testing.T, token string) pageSession {
	t.Helper()
	ck := sessionCookie(t, h.signIn(token, nil))
	cookie := ck.Name + "=" + ck.Value
	page := h.mustDo(request{method: "GET", path: "/", header: map[string]string{"Cookie": cookie}}, 200)
	return pageSession{h: h, cookie: cookie, csrf: csrfOf(t, page)}
}

// send sends a request of the session: a GET, or a POST of form, which
// carries the session's CSRF token unless it has a csrf of its own.
func (p pageSession) send(method, path string, form url.Values, header map[string]string) *httptest.ResponseRecorder {
	var body io.Reader
	if method == "POST" {
		if form == nil {
			form = url.Values{}
		}
		if _, ok := form["csrf"]; !ok {
			form.Set("csrf", p.csrf)
		}
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Cookie", p.cookie)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	p.h.handler.ServeHTTP(rec, req)
	return rec
}

func parseDoc(t *testing.T, body string) panelDoc {
	t.Helper()
	root, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the page does not parse: %v", err)
	}
	return panelDoc{t: t, root: root}
}

// userIDs lists the users the users view shows, in order.
func (p panelDoc) userIDs() []string {
	var ids []string
	list := p.byID("users")
	if list == nil {
		return nil
	}
	for li := list.FirstChild; li != nil; li = li.NextSibling {
		for _, a := range li.Attr {
			if a.Key == "id" {
				ids = append(ids, strings.TrimPrefix(a.Val, "user-"))
			}
		}
	}
	return ids
}

// attr is an attribute of the element with the id, "" when either is
// missing.
func (p panelDoc) attr(id, key string) string {
	if n := p.byID(id); n != nil {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val
			}
		}
	}
	return ""
}

// seedUsers fills the table for the users view's tests: ada (PIN, two
// cards, level staff), bo (disabled, no level) and u01 to u30, 32 users,
// so the first page holds ada, bo and u01 to u23 and the second u24 to u30.
func seedUsers(h *harness) {
	h.t.Helper()
	must := func(err error) {
		h.t.Helper()
		if err != nil {
			h.t.Fatal(err)
		}
	}
	_, err := h.backend.PutLevel("setup", access.Level{ID: "staff", Name: "Staff", Doors: []access.LevelDoor{{Door: "front", Schedule: "always"}}})
	must(err)
	_, err = h.backend.PutUser("setup", access.User{ID: "ada", Name: "Ada Lovelace", Enabled: true, Levels: []string{"staff"},
		ValidTo: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}, access.AllFields)
	must(err)
	must(h.backend.SetPIN("setup", "ada", seedPIN))
	for i, n := range []uint64{100, 101} {
		_, err = h.backend.AddCredential("setup", "ada", access.Credential{ID: fmt.Sprintf("a%d", i+1), Card: access.CardKey{Format: "H10301", Facility: 1, Number: n}})
		must(err)
	}
	_, err = h.backend.PutUser("setup", access.User{ID: "bo", Name: "Bo", Enabled: false, Levels: []string{}}, access.AllFields)
	must(err)
	for i := 1; i <= 30; i++ {
		_, err = h.backend.PutUser("setup", access.User{ID: fmt.Sprintf("u%02d", i), Name: fmt.Sprintf("User %02d", i), Enabled: true}, access.AllFields)
		must(err)
	}
}

// userIDRange is ids from prefix+from to prefix+to, two digits each.
func userIDRange(from, to int) []string {
	var ids []string
	for i := from; i <= to; i++ {
		ids = append(ids, fmt.Sprintf("u%02d", i))
	}
	return ids
}

// failing is a backend whose user-table writes fail with err, and whose
// User, when deleteOnRead is set, deletes the user right after reading
// them, as a change made elsewhere at that moment would.
type failing struct {
	*apitest.Backend
	err          error
	deleteOnRead bool
}

func (f failing) PutUser(actor string, u access.User, set access.UserFields) (bool, error) {
	if f.err != nil {
		return false, f.err
	}
	return f.Backend.PutUser(actor, u, set)
}

func (f failing) RemoveCredential(actor, id string) error {
	if f.err != nil {
		return f.err
	}
	return f.Backend.RemoveCredential(actor, id)
}

func (f failing) User(id string) (api.UserView, error) {
	v, err := f.Backend.User(id)
	if err == nil && f.deleteOnRead {
		_ = f.Backend.DeleteUser("portal", id)
	}
	return v, err
}

// audited is the part of an audit event the users view's tests compare.
type audited struct{ Type, Name, User, Actor string }

// TestUsersView: an admin session sees the users view, pages through it
// and searches it as GET /api/v1/users does, enables and disables users
// and removes cards, each change journaled with the session's token name
// as its actor; a technician session is refused, and so is a change
// without the session's CSRF token; bad input and a refusing store are
// answered with a note in words, and nothing is changed.
func TestUsersView(t *testing.T) {
	first := append([]string{"ada", "bo"}, userIDRange(1, 23)...)
	tests := []struct {
		name   string
		wrap   func(*apitest.Backend) api.Backend
		setup  func(h *harness)
		tech   bool // a technician's session, not an admin's
		method string
		path   string
		form   url.Values
		header map[string]string
		status int
		// note is a part of the note about the change ("" for none);
		// noteOK whether it says the change was made.
		note   string
		noteOK bool
		// shows are the users shown, in order (nil: not checked); says
		// parts of the text of elements by id; links the href of
		// elements by id ("" for none).
		shows  []string
		says   map[string][]string
		links  map[string]string
		absent []string
		// events are the audit events the request journals.
		events []audited
		// after checks the table afterwards.
		after func(t *testing.T, h *harness)
	}{
		{
			name: "the first page", method: "GET", path: "/users", status: 200,
			shows: first,
			says: map[string][]string{
				"users-summary": {"25 users, ada to u23; more on the next page."},
				"user-ada": {"Ada Lovelace ada", "enabled", "PIN held", "Levels staff (Staff)", "Valid until 2027-01-01 00:00:00 UTC",
					"H10301, facility 1, number 100 a1 Remove", "H10301, facility 1, number 101 a2 Remove", "Disable"},
				"user-bo":   {"Bo bo", "disabled", "no PIN", "Levels none: no door at all", "Cards none", "Enable"},
				"user-u01":  {"User 01 u01", "enabled", "no PIN", "Levels all (every door, always)", "Cards none", "Disable"},
				"nav-users": {"Users"},
			},
			links:  map[string]string{"next-page": "/users?after=u23&prev=", "prev-page": "", "first-page": ""},
			absent: []string{seedPIN},
		},
		{
			name: "the second page, across the boundary", method: "GET", path: "/users?after=u23&prev=", status: 200,
			shows: userIDRange(24, 30),
			says:  map[string][]string{"users-summary": {"7 users, u24 to u30."}},
			links: map[string]string{"prev-page": "/users", "next-page": "", "first-page": ""},
		},
		{
			name: "past the last page", method: "GET", path: "/users?after=u30&prev=&prev=u23", status: 200,
			shows: []string{},
			says:  map[string][]string{"users-summary": {"No more users."}},
			links: map[string]string{"prev-page": "/users?after=u23&prev=", "first-page": "/users", "next-page": ""},
		},
		{
			name: "a link without the earlier pages leads to the first", method: "GET", path: "/users?after=u10", status: 200,
			shows: userIDRange(11, 30)[:20],
			links: map[string]string{"prev-page": "", "first-page": "/users"},
		},
		{
			name: "a search by name, without regard to case", method: "GET", path: "/users?q=LOVELACE", status: 200,
			shows: []string{"ada"},
			says:  map[string][]string{"users-summary": {`1 user, ada to ada, whose id or name contains "LOVELACE".`}, "q": {}},
			links: map[string]string{"show-all": "/users", "next-page": ""},
		},
		{
			name: "a search by id", method: "GET", path: "/users?q=u0", status: 200,
			shows: userIDRange(1, 9),
		},
		{
			name: "a search paged across the boundary", method: "GET", path: "/users?q=user", status: 200,
			shows: userIDRange(1, 25),
			links: map[string]string{"next-page": "/users?after=u25&prev=&q=user"},
		},
		{
			name: "the search's second page", method: "GET", path: "/users?after=u25&prev=&q=user", status: 200,
			shows: userIDRange(26, 30),
			links: map[string]string{"prev-page": "/users?q=user", "next-page": ""},
		},
		{
			name: "a search that finds no one", method: "GET", path: "/users?q=nobody", status: 200,
			shows: []string{},
			says:  map[string][]string{"users-summary": {`No user's id or name contains "nobody".`}},
		},
		{
			name: "a search is shown as text, never run", method: "GET", path: "/users?q=" + url.QueryEscape(`"><script>x</script>`), status: 200,
			shows:  []string{},
			says:   map[string][]string{"users-summary": {`No user's id or name contains "\"><script>x</script>".`}},
			absent: []string{"<script>x"},
		},
		{
			name: "a damaged link", method: "GET", path: "/users?after=a%20b", status: 400,
			note:  `This link's search or page is not valid (after: id "a b" has a character that is not allowed at offset 1), so the first page of all users is shown instead.`,
			shows: first,
		},
		{
			name: "a search too long", method: "GET", path: "/users?q=" + strings.Repeat("x", 257), status: 400,
			note: "(q: 257 bytes long, at most 256 allowed)", shows: first,
		},
		{
			name: "a technician is refused the view", tech: true, method: "GET", path: "/users", status: 403,
			says:   map[string][]string{"refused": {"This part of the status page is for admin sessions only, and tech is signed in as a technician. Nothing was shown or changed."}},
			links:  map[string]string{"nav-users": "", "back": "/"},
			absent: []string{"Ada Lovelace", "u01"},
		},
		{
			name: "a technician is refused a change", tech: true, method: "POST", path: "/users/ada/enabled", form: url.Values{"enabled": {"false"}}, status: 403,
			says:  map[string][]string{"refused": {"for admin sessions only"}},
			after: userEnabled("ada", true),
		},
		{
			name: "a technician is refused a card's removal", tech: true, method: "POST", path: "/credentials/a1/remove", form: url.Values{"user": {"ada"}}, status: 403,
			after: userCards("ada", "a1", "a2"),
		},
		{
			name: "disable", method: "POST", path: "/users/ada/enabled", form: url.Values{"enabled": {"false"}}, status: 200,
			note: "Disabled Ada Lovelace (ada): their cards and PIN open no door until they are enabled again.", noteOK: true,
			shows:  first,
			says:   map[string][]string{"user-ada": {"disabled", "PIN held", "Levels staff (Staff)", "Valid until 2027-01-01", "Enable"}},
			events: []audited{{access.TypeAudit, "User Updated", "ada", "admin"}},
			after: func(t *testing.T, h *harness) {
				v, err := h.backend.User("ada")
				want := access.User{ID: "ada", Name: "Ada Lovelace", Enabled: false, Levels: []string{"staff"}, ValidTo: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
				if err != nil || !v.HasPIN || len(v.Credentials) != 2 || !cmp.Equal(v.User, want) {
					t.Errorf("ada after disabling: %+v, %v; want %+v with her PIN and cards", v, err, want)
				}
			},
		},
		{
			name: "enable", method: "POST", path: "/users/bo/enabled", form: url.Values{"enabled": {"true"}}, status: 200,
			note: "Enabled Bo (bo): their cards and PIN open the doors of their levels again.", noteOK: true,
			says:   map[string][]string{"user-bo": {"enabled", "Levels none: no door at all", "Disable"}},
			events: []audited{{access.TypeAudit, "User Updated", "bo", "admin"}},
			after:  userEnabled("bo", true),
		},
		{
			name: "disable one already disabled", method: "POST", path: "/users/bo/enabled", form: url.Values{"enabled": {"false"}}, status: 200,
			note: "Bo (bo) is already disabled; nothing was changed.", noteOK: true,
		},
		{
			name: "a change keeps the page and the search", method: "POST", path: "/users/u27/enabled",
			form: url.Values{"enabled": {"false"}, "q": {"user"}, "after": {"u25"}, "prev": {""}}, status: 200,
			noteOK: true, note: "Disabled User 27 (u27)",
			shows:  userIDRange(26, 30),
			says:   map[string][]string{"user-u27": {"disabled"}, "q": {}},
			links:  map[string]string{"prev-page": "/users?q=user"},
			events: []audited{{access.TypeAudit, "User Updated", "u27", "admin"}},
		},
		{
			name: "an unknown user", method: "POST", path: "/users/nobody/enabled", form: url.Values{"enabled": {"false"}}, status: 404,
			note:  `User "nobody" does not exist: they were deleted, perhaps since this page was loaded. Nothing was changed.`,
			shows: first,
		},
		{
			name: "a user deleted between the read and the write", wrap: func(b *apitest.Backend) api.Backend { return failing{Backend: b, deleteOnRead: true} },
			method: "POST", path: "/users/u05/enabled", form: url.Values{"enabled": {"false"}}, status: 404,
			note: `User "u05" does not exist`,
			events: []audited{{access.TypeAudit, "User Deleted", "u05", "portal"}, {access.TypeAudit, "User Added", "u05", "admin"},
				{access.TypeAudit, "User Deleted", "u05", "admin"}},
			after: func(t *testing.T, h *harness) {
				if _, err := h.backend.User("u05"); !errors.Is(err, access.ErrNotFound) {
					t.Errorf("u05 after the change: %v, want still deleted", err)
				}
			},
		},
		{
			name: "a bad user id", method: "POST", path: "/users/a%20b/enabled", form: url.Values{"enabled": {"false"}}, status: 400,
			note: "There is no such user: id ", shows: first,
		},
		{
			name: "neither enable nor disable", method: "POST", path: "/users/ada/enabled", form: url.Values{"enabled": {"maybe"}}, status: 400,
			note:  `The form asked neither to enable nor to disable user "ada" (enabled must be true or false, got "maybe"). Nothing was changed.`,
			after: userEnabled("ada", true),
		},
		{
			name: "a change without the CSRF token", method: "POST", path: "/users/ada/enabled", form: url.Values{"enabled": {"false"}, "csrf": {""}}, status: 403,
			says:  map[string][]string{"refused": {"That change was refused, and nothing was changed: the form did not come from this session's own page"}},
			after: userEnabled("ada", true),
		},
		{
			name: "a change with a wrong CSRF token", method: "POST", path: "/credentials/a1/remove", form: url.Values{"csrf": {"guess"}}, status: 403,
			says:  map[string][]string{"refused": {"That change was refused"}},
			after: userCards("ada", "a1", "a2"),
		},
		{
			name: "a change from another site", method: "POST", path: "/users/ada/enabled", form: url.Values{"enabled": {"false"}},
			header: map[string]string{"Origin": "http://evil.example"}, status: 403,
			says:  map[string][]string{"refused": {"That change was refused"}},
			after: userEnabled("ada", true),
		},
		{
			name: "a card removed", method: "POST", path: "/credentials/a1/remove", form: url.Values{"user": {"ada"}}, status: 200,
			note: "Removed card H10301, facility 1, number 100 (a1) of Ada Lovelace (ada): it opens no door now.", noteOK: true,
			shows:  first,
			says:   map[string][]string{"user-ada": {"H10301, facility 1, number 101 a2 Remove"}},
			absent: []string{`id="card-a1"`},
			events: []audited{{access.TypeAudit, "Card Removed", "ada", "admin"}},
			after:  userCards("ada", "a2"),
		},
		{
			name: "a card already gone", method: "POST", path: "/credentials/a1/remove", form: url.Values{"user": {"ada"}}, status: 404,
			setup: func(h *harness) {
				if err := h.backend.RemoveCredential("portal", "a1"); err != nil {
					h.t.Fatal(err)
				}
			},
			note:  `Card "a1" is already gone: it was removed, or its user deleted, perhaps since this page was loaded. Nothing was changed.`,
			after: userCards("ada", "a2"),
		},
		{
			name: "a bad card id", method: "POST", path: "/credentials/-%22x/remove", status: 400,
			note: "There is no such card: id ", after: userCards("ada", "a1", "a2"),
		},
		{
			name: "the store fails a change", wrap: func(b *apitest.Backend) api.Backend {
				return failing{Backend: b, err: errors.New("badger: write failed")}
			},
			method: "POST", path: "/users/ada/enabled", form: url.Values{"enabled": {"false"}}, status: 500,
			note:   "The gateway could not make the change, so nothing was changed; its log says why.",
			absent: []string{"badger"},
			after:  userEnabled("ada", true),
		},
		{
			name: "the disk is full", wrap: func(b *apitest.Backend) api.Backend { return failing{Backend: b, err: errors.New("store: disk full")} },
			setup:  func(h *harness) { h.backend.SetStorage(api.StorageStatus{Full: true}) },
			method: "POST", path: "/credentials/a1/remove", form: url.Values{"user": {"ada"}}, status: 500,
			note:  "The gateway's disk is full, so it refuses changes to the user table until there is room again (see the status page's alarm). Nothing was changed.",
			after: userCards("ada", "a1", "a2"),
		},
		{
			name: "the store refuses a change", wrap: func(b *apitest.Backend) api.Backend {
				return failing{Backend: b, err: fmt.Errorf("put user %q: %w", "ada", access.Invalidf(`level "gone" does not exist`))}
			},
			method: "POST", path: "/users/ada/enabled", form: url.Values{"enabled": {"false"}}, status: 422,
			note:  `The gateway refused the change: put user "ada": level "gone" does not exist. Nothing was changed.`,
			after: userEnabled("ada", true),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{wrap: tt.wrap})
			seedUsers(h)
			if tt.setup != nil {
				tt.setup(h)
			}
			token := adminToken
			if tt.tech {
				token = techToken
			}
			sess := h.pageSession(t, token)
			at := h.backend.Status().Journal.Last
			rec := sess.send(tt.method, tt.path, tt.form, tt.header)
			body := rec.Body.String()
			if rec.Code != tt.status {
				t.Errorf("got status %d, want %d; body:\n%s", rec.Code, tt.status, body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("got Content-Type %q, want an HTML page", ct)
			}
			p := parseDoc(t, body)
			note := p.text("users-note")
			switch {
			case tt.note == "" && note != "":
				t.Errorf("got note %q, want none", note)
			case !strings.Contains(note, tt.note):
				t.Errorf("got note %q, want it to say %q", note, tt.note)
			case tt.note != "" && strings.Contains(p.attr("users-note", "class"), "ok") != tt.noteOK:
				t.Errorf("note %q is of class %q; want it marked ok: %v", note, p.attr("users-note", "class"), tt.noteOK)
			}
			if tt.shows != nil {
				if got := p.userIDs(); strings.Join(got, " ") != strings.Join(tt.shows, " ") {
					t.Errorf("shows users %v, want %v", got, tt.shows)
				}
			}
			for id, parts := range tt.says {
				if p.byID(id) == nil {
					t.Errorf("no #%s on the page", id)
					continue
				}
				got := p.text(id)
				for _, part := range parts {
					if !strings.Contains(got, part) {
						t.Errorf("#%s says %q, want it to say %q", id, got, part)
					}
				}
			}
			for id, want := range tt.links {
				if got := p.attr(id, "href"); got != want {
					t.Errorf("#%s links to %q, want %q", id, got, want)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(body, s) {
					t.Errorf("the page shows %q", s)
				}
			}
			evs, err := h.backend.Events(at, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []audited
			for _, ev := range evs {
				got = append(got, audited{ev.Type, ev.Name, ev.User, ev.Actor})
			}
			if diff := cmp.Diff(tt.events, got); diff != "" {
				t.Errorf("events journaled (-want +got):\n%s", diff)
			}
			if tt.after != nil {
				tt.after(t, h)
			}
		})
	}
}

func userEnabled(id string, want bool) func(t *testing.T, h *harness) {
	return func(t *testing.T, h *harness) {
		t.Helper()
		if v, err := h.backend.User(id); err != nil || v.User.Enabled != want {
			t.Errorf("user %s: enabled %v (%v), want %v", id, v.User.Enabled, err, want)
		}
	}
}

func userCards(id string, want ...string) func(t *testing.T, h *harness) {
	return func(t *testing.T, h *harness) {
		t.Helper()
		v, err := h.backend.User(id)
		var got []string
		for _, c := range v.Credentials {
			got = append(got, c.ID)
		}
		slices.Sort(got)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("user %s's cards: %v (%v), want %v", id, got, err, want)
		}
	}
}

// TestUsersViewAuditedLikeTheAPI: a change from the users view journals
// what the same change through the API journals, with the session's token
// name as the actor.
func TestUsersViewAuditedLikeTheAPI(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	seedUsers(h)
	sess := h.pageSession(t, adminToken)
	last := func() access.Event {
		t.Helper()
		evs, err := h.backend.Events(h.backend.Status().Journal.Last-1, 1)
		if err != nil || len(evs) != 1 {
			t.Fatalf("the last event: %v, %v", evs, err)
		}
		return evs[0]
	}
	same := func(what string, page, api access.Event) {
		t.Helper()
		page.Seq, page.ID, api.Seq, api.ID = 0, "", 0, ""
		if diff := cmp.Diff(api, page); diff != "" {
			t.Errorf("%s: the page's event differs from the API's (-api +page):\n%s", what, diff)
		}
	}

	if rec := sess.send("POST", "/users/u01/enabled", url.Values{"enabled": {"false"}}, nil); rec.Code != 200 {
		t.Fatalf("disable from the page: %d", rec.Code)
	}
	page := last()
	h.admin("PUT", "/api/v1/users/u01", `{"name":"User 01","enabled":true}`, 200)
	h.admin("PUT", "/api/v1/users/u01", `{"name":"User 01","enabled":false}`, 200)
	same("disable", page, last())
	if page.Actor != "admin" {
		t.Errorf("the page's change names actor %q, want the session's token name admin", page.Actor)
	}

	if rec := sess.send("POST", "/credentials/a1/remove", url.Values{"user": {"ada"}}, nil); rec.Code != 200 {
		t.Fatalf("remove a card from the page: %d", rec.Code)
	}
	page = last()
	h.admin("DELETE", "/api/v1/credentials/a2", "", 204)
	same("card removal", page, last())
}

// TestStatusPageLinksUsersViewForAdminsOnly: an admin's status page links
// the users view; a technician's does not.
func TestStatusPageLinksUsersViewForAdminsOnly(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, tt := range []struct {
		role, token string
		link        string
	}{{"admin", adminToken, "/users"}, {"technician", techToken, ""}} {
		s := h.pageSession(t, tt.token)
		p := parseDoc(t, s.send("GET", "/", nil, nil).Body.String())
		if got := p.attr("nav-users", "href"); got != tt.link {
			t.Errorf("the %s's status page links the users view as %q, want %q", tt.role, got, tt.link)
		}
	}
}
