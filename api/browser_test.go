package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/apitest"
	"github.com/lintel-access/lintel/gateway/access"
)

// findChromium returns the browser the status page test drives:
// $LINTEL_CHROMIUM, else chromium on the PATH. Without one the test fails,
// unless -short.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LINTEL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("no chromium on this machine; the browser test needs it (skipped under -short)")
	}
	t.Fatal("no chromium on this machine: install Debian's chromium package (apt-get install chromium) or set LINTEL_CHROMIUM; the status page test needs a real browser")
	return ""
}

// screenshotDir is where the browser tests keep their screenshots:
// $LINTEL_SCREENSHOTS, else build/out/screenshots in the repository (not
// committed; the README's testing notes say so).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LINTEL_SCREENSHOTS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for root := wd; ; root = filepath.Dir(root) {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				dir = filepath.Join(root, "build", "out", "screenshots")
				break
			}
			if filepath.Dir(root) == root {
				t.Fatalf("no go.mod above %s to put build/out/screenshots in; set LINTEL_SCREENSHOTS", wd)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// contrastAudit lists the visible text whose contrast with what is behind
// it is below WCAG 2's AA level (4.5:1, 3:1 for large text), one line each.
const contrastAudit = `(() => {
  const parse = c => { const m = /rgba?\(([^)]+)\)/.exec(c); if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
  const over = (c, b) => ({ r: c.r * c.a + b.r * (1 - c.a), g: c.g * c.a + b.g * (1 - c.a), b: c.b * c.a + b.b * (1 - c.a), a: 1 });
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const behind = el => { const layers = [];
    for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; } }
    let out = matchMedia("(prefers-color-scheme: dark)").matches ? { r: 0, g: 0, b: 0, a: 1 } : { r: 255, g: 255, b: 255, a: 1 };
    for (let i = layers.length - 1; i >= 0; i--) out = over(layers[i], out);
    return out; };
  const low = [], seen = new Set();
  const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (w.nextNode()) {
    const el = w.currentNode.parentElement;
    if (!w.currentNode.textContent.trim() || seen.has(el) || el.closest("script,style,button:disabled")) continue;
    seen.add(el);
    const st = getComputedStyle(el), box = el.getBoundingClientRect();
    if (st.visibility === "hidden" || box.width === 0 || box.height === 0) continue;
    const bg = behind(el), fg = over(parse(st.color), bg);
    const l1 = lum(fg), l2 = lum(bg), ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) low.push(el.tagName.toLowerCase() + "." + el.className + " " + JSON.stringify(w.currentNode.textContent.trim().slice(0, 40)) + " " + ratio.toFixed(2) + ":1");
  }
  return low;
})()`

// browser is a headless Chromium driven by a test, with its console
// watched: an error or an uncaught exception on the page fails the test.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string

	mu       sync.Mutex // guards problems
	problems []string
}

func newBrowser(t *testing.T, tz string, width, height int) *browser {
	t.Helper()
	chromium := findChromium(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Env("TZ="+tz), // the browser's own zone, which the page must not use
	)
	ctx, cancel := chromedp.NewContext(alloc)
	b := &browser{t: t, ctx: ctx, dir: screenshotDir(t)}
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium (%s): %v", chromium, err)
	}
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-watched
	})
	return b
}

// checkConsole fails the test for every console error since the last check.
func (b *browser) checkConsole(when string) {
	b.t.Helper()
	b.mu.Lock()
	problems := b.problems
	b.problems = nil
	b.mu.Unlock()
	for _, p := range problems {
		b.t.Errorf("console %s: %s", when, p)
	}
}

// answered takes back the console's note of a document loaded with an
// error status, which the browser logs as an error: a page that answers a
// refused change or a refused route with its status. It fails the test
// when there is no such note.
func (b *browser) answered(status int, path string) {
	b.t.Helper()
	want := fmt.Sprintf("the server responded with a status of %d", status)
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.problems, func(p string) bool { return strings.Contains(p, want) && strings.Contains(p, path) })
	if i < 0 {
		b.t.Errorf("the browser noted no %d for %s; console: %q", status, path, b.problems)
		return
	}
	b.problems = slices.Delete(b.problems, i, i+1)
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	// From the top: a full-page capture draws the pinned alarm bar where
	// the window is scrolled to.
	_, _ = chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.scrollTo(0, 0), true`))
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.dir, name)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// step runs actions with a deadline; on failure it keeps a screenshot.
func (b *browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, done := context.WithTimeout(b.ctx, 30*time.Second)
	defer done()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.screenshot("page-failure.png")
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

func evaluate[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, done := context.WithTimeout(b.ctx, 30*time.Second)
	defer done()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// poll waits up to 25 s for a JavaScript predicate to hold.
func (b *browser) poll(what, predicate string) {
	b.t.Helper()
	b.step(what, func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(25*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, t)
		return chromedp.Void{}, err
	})
}

// audit fails the test for text below the contrast level.
func (b *browser) audit(scheme string) {
	b.t.Helper()
	for _, low := range evaluate[[]string](b, contrastAudit) {
		b.t.Errorf("%s colour scheme: contrast too low: %s", scheme, low)
	}
}

func (b *browser) colorScheme(scheme string) {
	b.t.Helper()
	b.step("prefers-color-scheme: "+scheme, func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return chromedp.Void{}, err
	})
}

// TestStatusPageInBrowser signs a technician in with a real headless
// Chromium, first on a phone-sized screen and then a desktop one, over the
// fake gateway in New York while the browser runs in Tokyo, and checks what
// the status page is for: every time in the gateway's zone with its date;
// events live, with the actors of changes, rendered by the script exactly
// as the server renders them; the frame inspector naming an unreadable
// frame as such; a test pulse that shows the door unlocked at once and
// confirms; each door's mode and why; alarms red and pinned at the top
// until their condition clears; readable contrast in light and dark; and
// no console error. It keeps screenshots in build/out/screenshots.
func TestStatusPageInBrowser(t *testing.T) {
	h := newHarness(t, harnessOptions{backend: apitest.Options{Location: mustZone(t, "America/New_York")}})
	seed(h) // events 1 to 6
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	defer h.server.Close() // end the page's event stream before srv.Close waits for it
	b := newBrowser(t, "Asia/Tokyo", 390, 844)
	call := func(token, method, path, body string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: got %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	const now = "2026-03-14 05:26:53 UTC-04:00" // the harness's clock in New York

	b.step("phone viewport and sign in",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulatePortrait, chromedp.EmulateMobile),
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), techToken),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#door-front")),
	)
	if got := b.text("#door-front"); !strings.Contains(got, "front locked closed") || !strings.Contains(got, "Mode card and PIN") {
		t.Errorf("door front shows %q, want its name, locked, closed and its mode", got)
	}
	if got := b.text("#gateway"); !strings.Contains(got, "gw-test") || !strings.Contains(got, "1.2.3-test") || !strings.Contains(got, "synchronised") {
		t.Errorf("gateway card shows %q, want id, version and clock state", got)
	}
	if got, want := b.text("#local-time"), now; got != want {
		t.Errorf("local time shows %q, want %q: the gateway's zone, not the browser's", got, want)
	}
	if got := b.text("#timezone"); !strings.Contains(got, "America/New_York (EDT, UTC-04:00)") || !strings.Contains(got, "not your device's") {
		t.Errorf("time zone shows %q, want the gateway's zone named and said to be the gateway's", got)
	}
	if got := b.text("#events"); !strings.Contains(got, now+" Grant Access - Card") || !strings.Contains(got, "CHANGE User Added user u1 by test") {
		t.Errorf("events show %q, want the seeded grant at the gateway's local time and the seeded changes with their actor", got)
	}
	b.poll("event stream connects", `document.getElementById("live").textContent === "live"`)

	// A simulated swipe, sent the way `lintel sim card` sends it, must
	// appear without a reload, at the gateway's local time.
	b.step("mark the page", func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](`window.lintelTestMark = true`)(ctx, t)
		return chromedp.Void{}, err
	})
	call(adminToken, "POST", "/api/v1/sim/readers/garage/card", `{"format":"H10301","facility":1,"number":100}`, 202)
	b.poll("the swipe appears live", fmt.Sprintf(`(() => { const li = document.querySelector('#events li[data-seq="%d"]');
		return li !== null && li.textContent.includes("Grant Access - Card") && li.textContent.includes("user u1")
			&& li.textContent.startsWith(%q) && li.classList.contains("ok") && document.querySelector("#events li") === li; })()`, seedEvents+1, now))
	// The frame inspector shows the frame after the event's refresh.
	b.poll("the frame inspector shows the swipe", `(() => { const r = document.querySelector("#reader-garage");
		return r !== null && r.querySelector(".bits")?.textContent === "10000000100000000011001000"
			&& r.textContent.includes("H10301") && r.textContent.includes("facility 1, number 100"); })()`)

	// A frame with a bad parity bit is shown as unreadable, never as a
	// card; a key press is shown without its bits.
	call(adminToken, "POST", "/api/v1/sim/readers/front/card", `{"bits":"00000000100000000011001000"}`, 202)
	call(adminToken, "POST", "/api/v1/sim/readers/side/keys", `{"keys":"7"}`, 202)
	b.poll("the inspector shows the rejected frame and the key press", `(() => {
		const f = document.querySelector("#reader-front"), s = document.querySelector("#reader-side");
		return f !== null && f.textContent.includes("unreadable card: parity error, 26 bits") && f.textContent.includes("parity 1")
			&& !f.textContent.includes("facility") && s !== null && s.textContent.includes("key press (hidden)") && s.querySelector(".bits") === null; })()`)

	// A technician's test pulse goes out with the session's CSRF token; the
	// page shows the door unlocked from a reload the click makes, and says
	// until when. The periodic refresh never writes the note.
	b.step("test pulse", chromedp.Click(chromedp.CSS(`button[data-pulse="front"]`)))
	b.poll("the door shows unlocked and the pulse is confirmed", `(() => { const d = document.querySelector("#door-front");
		return d.dataset.locked === "false" && d.querySelector(".unlocked")?.textContent === "Unlocked until 2026-03-14 05:26:58 UTC-04:00"
			&& d.querySelector("output").textContent === "Pulse sent: door unlocked until 2026-03-14 05:26:58 UTC-04:00"; })()`)
	b.poll("the pulse's event names who sent it", `[...document.querySelectorAll("#events li")].some(li => li.textContent.includes("Door Test Pulse") && li.textContent.includes("by tech"))`)
	if got := h.backend.Pulses(); !slices.Equal(got, []string{"front"}) {
		t.Errorf("got pulses %v, want [front]", got)
	}
	h.clock.Advance(5 * time.Second)
	b.poll("the door relocks when the pulse ends, and the note says so", `(() => { const d = document.querySelector("#door-front");
		return d.dataset.locked === "true" && d.querySelector("output").textContent === "Pulse sent: door unlocked until 2026-03-14 05:26:58 UTC-04:00, then locked again"; })()`)

	// Changes through the API arrive live with their actor; a door's mode
	// says why and when it next changes.
	call(adminToken, "PUT", "/api/v1/schedules/weekend", `{"name":"Weekend","intervals":[{"days":["sat","sun"],"start":"08:00","end":"18:00","holidays":[]}]}`, 201)
	call(adminToken, "PUT", "/api/v1/doors/side/policy", `{"modes":[{"schedule":"weekend","mode":"unlocked"}]}`, 200)
	b.poll("the changes appear live with their actor", `[...document.querySelectorAll("#events li.audit")].filter(li =>
		li.querySelector(".tag")?.textContent === "change" && li.querySelector(".actor")?.textContent === "by admin").length >= 2`)
	b.poll("door side says its next change", `document.querySelector("#door-side .next")?.textContent === "unlocked (strike held open) at 2026-03-14 08:00:00 UTC-04:00 (in 2h 33m)"`)
	screenshotPhone := "page-status-phone.png"
	b.screenshot(screenshotPhone)

	// Alarms: each is a red line pinned at the top that says "Alarm" and
	// what it is, raised with the event or at the next refresh, and gone
	// when its condition clears.
	h.backend.SetDoorAlarms("front", "forced_open")
	h.backend.SetReaderFault("side", "d0_stuck_low: D0 held low for 2s")
	h.backend.SetStorage(api.StorageStatus{Full: true, Fault: "12 MiB free, below the 64 MiB reserve"})
	h.backend.SetClock(access.ClockState{})
	call(adminToken, "PUT", "/api/v1/overrides/drill", `{"doors":["*"],"mode":"lockdown"}`, 201)
	h.backend.Emit(access.Event{Type: "door.forced", Name: "Door Forced Open", Door: "front", Reader: "front"})
	wantAlarms := []string{"alarm-storage-full", "alarm-clock-untrusted", "alarm-door-front-forced_open", "alarm-lockdown-drill", "alarm-reader-side"}
	b.poll("the alarms are raised", fmt.Sprintf(`[...document.querySelectorAll("#alarms li.alarm")].map(li => li.id).join(" ") === %q`, strings.Join(wantAlarms, " ")))
	for _, id := range wantAlarms {
		if got := b.text("#" + id); !strings.HasPrefix(got, "ALARM ") {
			t.Errorf("alarm %s reads %q, want it to start with the word ALARM (colour is not the only sign)", id, got)
		}
	}
	if got := b.text("#alarm-lockdown-drill"); got != `ALARM Lockdown doors front, garage, side` {
		t.Errorf("the lockdown alarm's title reads %q", got)
	}
	// With five alarms their explanations are folded; a tap opens one.
	b.step("open the lockdown alarm", chromedp.Click(chromedp.CSS("#alarm-lockdown-drill summary")))
	if got := b.text("#alarm-lockdown-drill"); got != `ALARM Lockdown doors front, garage, side Only override users are admitted; request-to-exit still opens the door. Override "drill" holds it until it is cleared.` {
		t.Errorf("the lockdown alarm, opened, reads %q", got)
	}
	if got := b.text("#door-side .why"); got != `Override: "drill" holds the door lockdown (override users only) until it is cleared` {
		t.Errorf("door side's why reads %q, want the override", got)
	}
	if got := evaluate[string](b, `getComputedStyle(document.getElementById("alarms")).backgroundColor`); got != "rgb(164, 14, 38)" {
		t.Errorf("the alarm bar's background is %s, want the alarm red rgb(164, 14, 38)", got)
	}
	pinned := `(() => { window.scrollTo(0, document.documentElement.scrollHeight); const r = document.getElementById("alarms").getBoundingClientRect();
		const ok = window.scrollY > 0 && Math.abs(r.top) < 1 && r.height > 0; window.scrollTo(0, 0); return ok; })()`
	if !evaluate[bool](b, pinned) {
		t.Errorf("the alarm bar is not pinned to the top of the window when the page is scrolled to its end")
	}
	b.audit("light")
	b.screenshot("page-alarms-phone.png")
	b.colorScheme("dark")
	b.audit("dark")
	b.screenshot("page-alarms-phone-dark.png")
	b.colorScheme("light")

	h.backend.SetDoorAlarms("front")
	h.backend.SetReaderFault("side", "")
	h.backend.SetStorage(api.StorageStatus{})
	h.backend.SetClock(access.ClockState{Trusted: true})
	call(adminToken, "DELETE", "/api/v1/overrides/drill", "", 204)
	b.poll("the alarms clear by themselves", `document.querySelectorAll("#alarms li").length === 0 && document.getElementById("alarm-count").textContent === "none"`)
	b.checkConsole("on the phone")

	// The script renders a streamed event exactly as the server does: a
	// reload must not change any line.
	streamed := evaluate[[]string](b, `[...document.querySelectorAll("#events li")].slice(0, 20).map(li => li.outerHTML)`)
	b.step("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#door-front")))
	rendered := evaluate[[]string](b, `[...document.querySelectorAll("#events li")].slice(0, 20).map(li => li.outerHTML)`)
	if len(streamed) < 10 {
		t.Errorf("only %d events on the page, want the seeded and the streamed ones", len(streamed))
	}
	if strings.Join(streamed, "\n") != strings.Join(rendered, "\n") {
		t.Errorf("streamed event lines differ from the server's:\nstreamed:\n%s\nrendered:\n%s", strings.Join(streamed, "\n"), strings.Join(rendered, "\n"))
	}

	b.step("desktop viewport", chromedp.EmulateViewport(1280, 900))
	b.screenshot("page-status-desktop.png")
	h.backend.SetDoorAlarms("garage", "held_open", "output_error")
	h.backend.Emit(access.Event{Type: "door.held", Name: "Door Held Open", Door: "garage", Reader: "garage"})
	b.poll("the desktop shows the alarms", `document.querySelectorAll("#alarms li.alarm").length === 2`)
	b.audit("light, desktop")
	b.screenshot("page-alarms-desktop.png")
	h.backend.SetDoorAlarms("garage")
	b.poll("and clears them", `document.querySelectorAll("#alarms li").length === 0`)
	b.checkConsole("on the desktop")

	b.step("sign out", chromedp.Click(chromedp.CSS("header button")), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.screenshot("page-signin-desktop.png")
	b.checkConsole("after signing out")
}

// TestUsersViewInBrowser drives the users view in a real headless
// Chromium, on a phone's screen and then a desktop's: an admin session
// reaches it from the status page, pages forwards and back across a page
// boundary, searches, disables and enables a user and removes a card, each
// by a plain form that carries the session's CSRF token, each change
// confirmed in words and journaled with the admin token's name; a card
// removed meanwhile is answered in words; a technician's session is
// neither shown the view nor let in. The view needs no script, fits the
// phone's width, is readable in light and dark, and leaves no console
// error. It keeps screenshots in build/out/screenshots.
func TestUsersViewInBrowser(t *testing.T) {
	h := newHarness(t, harnessOptions{backend: apitest.Options{Location: mustZone(t, "America/New_York")}})
	seedUsers(h) // ada, bo, u01 to u30: 25 on the first page, 7 on the second
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	defer h.server.Close() // end the status page's event stream before srv.Close waits for it
	b := newBrowser(t, "Asia/Tokyo", 390, 844)

	// submit clicks a control that loads a new document and waits, up to
	// the poll's deadline, for the new one to hold what done says.
	submit := func(what, sel, done string) {
		t.Helper()
		b.step("mark the page before "+what, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[bool](`window.lintelBefore = true`)(ctx, tg)
			return chromedp.Void{}, err
		})
		b.step(what, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))(ctx, tg)
			return chromedp.Void{}, err
		})
		b.poll(what+": the answer", `window.lintelBefore === undefined && (`+done+`)`)
	}
	shown := func() []string {
		t.Helper()
		return evaluate[[]string](b, `[...document.querySelectorAll("#users > li")].map(li => li.id.replace(/^user-/, ""))`)
	}
	note := func() string { t.Helper(); return b.text("#users-note") }
	fitsWidth := `document.documentElement.scrollWidth <= window.innerWidth`
	first := append([]string{"ada", "bo"}, userIDRange(1, 23)...)

	b.step("phone viewport and sign in as admin",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulatePortrait, chromedp.EmulateMobile),
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), adminToken),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#door-front")),
	)
	submit("open the users view", "#nav-users", `document.getElementById("users") !== null`)
	if got := shown(); !slices.Equal(got, first) {
		t.Errorf("the first page shows %v, want %v", got, first)
	}
	if got := b.text("#users-summary"); got != "25 users, ada to u23; more on the next page." {
		t.Errorf("the summary reads %q", got)
	}
	if got := b.text("#user-ada"); !strings.Contains(got, "Ada Lovelace ada Disable enabled PIN held") || !strings.Contains(got, "Levels staff (Staff)") ||
		!strings.Contains(got, "Valid until 2026-12-31 19:00:00 UTC-05:00") || !strings.Contains(got, "H10301, facility 1, number 100 a1 Remove") {
		t.Errorf("ada's card reads %q, want her name, enabled, PIN held, levels, validity in the gateway's zone and cards", got)
	}
	if strings.Contains(b.text("body"), seedPIN) {
		t.Errorf("the users view shows a PIN")
	}
	if n := evaluate[int](b, `document.scripts.length`); n != 0 {
		t.Errorf("the users view has %d scripts, want none: it works without one", n)
	}
	if !evaluate[bool](b, fitsWidth) {
		t.Errorf("the users view is wider than the phone's screen")
	}
	b.audit("light, users")
	b.screenshot("users-phone.png")
	b.colorScheme("dark")
	b.audit("dark, users")
	b.screenshot("users-phone-dark.png")
	b.colorScheme("light")

	// Pages: forwards across the boundary, and back.
	submit("next page", "#next-page", `document.querySelectorAll("#users > li").length === 7`)
	if got, want := shown(), userIDRange(24, 30); !slices.Equal(got, want) {
		t.Errorf("the second page shows %v, want %v", got, want)
	}
	if n := evaluate[int](b, `document.querySelectorAll("#next-page").length`); n != 0 {
		t.Errorf("the last page links a next page")
	}
	submit("previous page", "#prev-page", `document.querySelectorAll("#users > li").length === 25`)
	if got := shown(); !slices.Equal(got, first) {
		t.Errorf("back on the first page: %v, want %v", got, first)
	}

	// A search, then a change from its result: the answer is the same
	// search again, with a note.
	b.step("type a search", chromedp.SendKeys(chromedp.CSS("#q"), "LOVELACE"))
	submit("search", "#search", `document.querySelectorAll("#users > li").length === 1`)
	if got := shown(); !slices.Equal(got, []string{"ada"}) {
		t.Errorf("the search for LOVELACE shows %v, want [ada]", got)
	}
	at := h.backend.Status().Journal.Last
	submit("disable ada", `button[data-enable="ada"]`, `document.getElementById("users-note") !== null`)
	if got, want := note(), "Disabled Ada Lovelace (ada): their cards and PIN open no door until they are enabled again."; got != want {
		t.Errorf("the note reads %q, want %q", got, want)
	}
	if got := shown(); !slices.Equal(got, []string{"ada"}) || b.text("#q") != "" && evaluate[string](b, `document.getElementById("q").value`) != "LOVELACE" {
		t.Errorf("after the change the view shows %v, want the same search", got)
	}
	if got := evaluate[string](b, `document.getElementById("user-ada").dataset.enabled`); got != "false" {
		t.Errorf("ada shows enabled %s after disabling", got)
	}
	if v, err := h.backend.User("ada"); err != nil || v.User.Enabled {
		t.Errorf("ada in the table: %+v, %v; want disabled", v.User, err)
	}
	b.screenshot("users-disabled-phone.png")
	submit("enable ada", `button[data-enable="ada"]`, `document.getElementById("user-ada")?.dataset.enabled === "true"`)
	if got := note(); !strings.HasPrefix(got, "Enabled Ada Lovelace (ada)") {
		t.Errorf("the note reads %q, want the user enabled", got)
	}

	// A card removed, and one already gone.
	submit("remove card a1", `button[data-remove="a1"]`, `document.getElementById("card-a1") === null && document.getElementById("users-note") !== null`)
	if got, want := note(), "Removed card H10301, facility 1, number 100 (a1) of Ada Lovelace (ada): it opens no door now."; got != want {
		t.Errorf("the note reads %q, want %q", got, want)
	}
	if err := h.backend.RemoveCredential("portal", "a2"); err != nil { // elsewhere, meanwhile
		t.Fatal(err)
	}
	submit("remove card a2, gone meanwhile", `button[data-remove="a2"]`, `document.getElementById("card-a2") === null && document.getElementById("users-note") !== null`)
	b.answered(404, "/credentials/a2/remove")
	if got := note(); !strings.HasPrefix(got, `Card "a2" is already gone`) {
		t.Errorf("the note reads %q, want the card said to be gone", got)
	}
	if got := evaluate[string](b, `document.getElementById("users-note").getAttribute("role")`); got != "alert" {
		t.Errorf("the note of a change not made has role %q, want alert", got)
	}
	evs, err := h.backend.Events(at, 100)
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, ev := range evs {
		changes = append(changes, ev.Name+" "+ev.User+" by "+ev.Actor)
	}
	if want := []string{"User Updated ada by admin", "User Updated ada by admin", "Card Removed ada by admin", "Card Removed ada by portal"}; !slices.Equal(changes, want) {
		t.Errorf("journaled %q, want %q", changes, want)
	}
	b.audit("light, users with notes")
	b.screenshot("users-notes-phone.png")
	submit("show all users", "#show-all", `document.querySelectorAll("#users > li").length === 25`)
	b.checkConsole("in the users view on the phone")

	b.step("desktop viewport", chromedp.EmulateViewport(1280, 900))
	submit("next page on the desktop", "#next-page", `document.querySelectorAll("#users > li").length === 7`)
	submit("first page on the desktop", "#prev-page", `document.querySelectorAll("#users > li").length === 25`)
	if !evaluate[bool](b, fitsWidth) {
		t.Errorf("the users view is wider than the desktop window")
	}
	b.audit("light, users, desktop")
	b.screenshot("users-desktop.png")
	submit("back to the status page", "#nav-status", `document.getElementById("door-front") !== null`)
	b.checkConsole("in the users view on the desktop")

	// A technician: no link to the view, and refused at its address.
	b.step("phone viewport again", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulatePortrait, chromedp.EmulateMobile))
	b.step("sign out and in as technician",
		chromedp.Click(chromedp.CSS("header button")),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), techToken),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#door-front")),
	)
	if n := evaluate[int](b, `document.querySelectorAll("#nav-users, a[href='/users']").length`); n != 0 {
		t.Errorf("a technician's status page links the users view")
	}
	b.step("a technician goes to /users", chromedp.Navigate(srv.URL+"/users"), chromedp.WaitVisible(chromedp.CSS("#refused")))
	b.answered(403, "/users")
	if got := b.text("#refused"); got != "This part of the status page is for admin sessions only, and tech is signed in as a technician. Nothing was shown or changed." {
		t.Errorf("the technician is told %q", got)
	}
	if page := b.text("body"); strings.Contains(page, "Ada Lovelace") || strings.Contains(page, "u01") {
		t.Errorf("the refusal shows users: %q", page)
	}
	b.audit("light, refused")
	b.screenshot("users-refused-phone.png")
	submit("back to the status page", "#back", `document.getElementById("door-front") !== null`)
	b.checkConsole("as a technician")
}
