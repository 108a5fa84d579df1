package api_test

import (
	"strings"
	"testing"
	"time"

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
