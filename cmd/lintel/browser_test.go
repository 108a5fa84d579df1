package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// screenshotDir is where the browser tests keep their screenshots:
// $LINTEL_SCREENSHOTS, else build/out/screenshots in the repository.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LINTEL_SCREENSHOTS")
	if dir == "" {
		abs, err := filepath.Abs(filepath.Join("..", "..", "build", "out", "screenshots"))
		if err != nil {
			t.Fatal(err)
		}
		dir = abs
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNewcomerWalkthroughInBrowser is the README's tour, end to end with
// real parts only: `lintel run --sim`, the status page in a real headless
// Chromium signed in with the first-start admin token, on a phone's screen
// and then a desktop's. A user with a card and a generated PIN is added
// with the CLI (the changes appear live, naming the admin token), a swipe
// and the PIN keyed with `lintel sim` grant live without a reload, the
// users view finds the user, disables them (the door then refuses their
// card) and enables them again, each change journaled naming the admin
// token and what it set, a frame
// with a bad parity bit is shown as unreadable, the page's test pulse shows
// the door unlocked at once and then locked again, a door opened without a
// grant raises a pinned alarm that clears when it closes, a lockdown
// override raises one until it is cleared, and the page's refreshes stay
// out of the gateway's info log. A console error fails the test.
func TestNewcomerWalkthroughInBrowser(t *testing.T) {
	chromium := ""
	for _, name := range []string{os.Getenv("LINTEL_CHROMIUM"), "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); name != "" && err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		if testing.Short() {
			t.Skip("no chromium (skipped under -short)")
		}
		t.Fatal("no chromium on this machine: build/test installs Debian's chromium package; this test needs a real browser")
	}
	dir := t.TempDir()
	g := startGateway(t, dir)
	tokenBytes, err := os.ReadFile(filepath.Join(dir, "lintel-data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tokenBytes))

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(390, 844))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", chromium, err)
	}
	var (
		mu       sync.Mutex
		problems []string
	)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				mu.Unlock()
			}
		}
	}()
	defer func() { cancel(); <-watched }()
	checkConsole := func(when string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("console %s: %s", when, p)
		}
		problems = nil
	}

	shots := screenshotDir(t)
	screenshot := func(name string) {
		// From the top: a full-page capture draws the pinned alarm bar
		// where the window is scrolled to.
		_, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](`window.scrollTo(0, 0), true`))
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil && os.WriteFile(filepath.Join(shots, name), shot, 0o644) == nil {
			t.Logf("screenshot: %s", filepath.Join(shots, name))
		}
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, done := context.WithTimeout(ctx, 30*time.Second)
		defer done()
		if err := chromedp.Do(sctx, actions...); err != nil {
			screenshot("walkthrough-failure.png")
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll := func(what, predicate string) {
		t.Helper()
		step(what, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(25*time.Second),
				chromedp.WithPollingInterval(100*time.Millisecond))(ctx, tg)
			return chromedp.Void{}, err
		})
	}
	api := func(method, path, body string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+g.api+path, strings.NewReader(body))
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

	step("sign in with the admin token on a phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulatePortrait, chromedp.EmulateMobile),
		chromedp.Navigate("http://"+g.api+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#door-front")),
	)
	poll("the event stream connects", `document.getElementById("live").textContent === "live"`)
	poll("the gateway's local time has a date and a zone", `/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/.test(document.getElementById("local-time").textContent)
		&& document.getElementById("timezone").textContent.startsWith("UTC.")`)
	step("mark the page", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](`window.lintelWalkthrough = true`)(ctx, tg)
		return chromedp.Void{}, err
	})

	g.lintel(t, "user", "add", "ann", "--name", "Ann Example")
	g.lintel(t, "card", "add", "ann", "--facility", "1", "--number", "100")
	m := regexp.MustCompile(`\b(\d{6})\b`).FindStringSubmatch(g.lintel(t, "pin", "set", "ann", "--generate", "6"))
	if m == nil {
		t.Fatal("pin set --generate 6 printed no PIN")
	}
	poll("the changes appear live, naming the admin token", `[...document.querySelectorAll("#events li.audit")].filter(li =>
		li.querySelector(".tag")?.textContent === "change" && li.querySelector(".actor")?.textContent.startsWith("by admin")
		&& li.textContent.includes("user ann")).length >= 3`)
	g.lintel(t, "sim", "card", "front", "--facility", "1", "--number", "100")
	g.lintel(t, "sim", "keys", "front", m[1]+"#")

	poll("the grant appears live", `Array.from(document.querySelectorAll("#events li")).some(li =>
		li.textContent.includes("Grant Access - Card and PIN") && li.textContent.includes("ann"))`)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.lintelWalkthrough === true`))
	if err != nil || !got {
		t.Errorf("the page reloaded to show the grant (mark %v, %v); want it streamed live", got, err)
	}
	page, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page, m[1]) {
		t.Errorf("the status page shows the PIN")
	}
	screenshot("walkthrough-grant.png")

	// The users view: Ann found by a search, disabled from the page and
	// then refused at the door, and enabled again; each change journaled
	// naming the admin token, with what it set.
	load := func(what, sel, done string) {
		t.Helper()
		step("mark the page before "+what, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[bool](`window.lintelBefore = true`)(ctx, tg)
			return chromedp.Void{}, err
		})
		step(what, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))(ctx, tg)
			return chromedp.Void{}, err
		})
		poll(what+": the answer", `window.lintelBefore === undefined && (`+done+`)`)
	}
	load("open the users view", "#nav-users", `document.getElementById("q") !== null`)
	step("search for ann", chromedp.SendKeys(chromedp.CSS("#q"), "ann"))
	load("search", "#search", `document.querySelectorAll("#users > li").length === 1`)
	ann, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#user-ann")))
	if err != nil {
		t.Fatal(err)
	}
	if ann = strings.Join(strings.Fields(ann), " "); !strings.Contains(ann, "Ann Example ann Disable enabled PIN held") ||
		!strings.Contains(ann, "Levels all (every door, always)") || !strings.Contains(ann, "H10301, facility 1, number 100") || strings.Contains(ann, m[1]) {
		t.Errorf("the users view shows Ann as %q, want her enabled, holding a PIN (not shown), on level all, with her card", ann)
	}
	load("disable ann", `button[data-enable="ann"]`, `document.getElementById("user-ann")?.dataset.enabled === "false"`)
	screenshot("walkthrough-users-phone.png")
	g.lintel(t, "sim", "card", "garage", "--facility", "1", "--number", "100")
	load("back to the status page", "#nav-status", `document.getElementById("door-front") !== null`)
	poll("the change names the admin token and what it set, and the door refuses Ann", `(() => { const lis = [...document.querySelectorAll("#events li")];
		return lis.some(li => li.textContent.includes("User Updated") && li.textContent.includes("user ann")
			&& li.querySelector(".actor")?.textContent.startsWith("by admin") && li.textContent.includes('name "Ann Example", enabled false'))
		&& lis.some(li => li.textContent.includes("Deny Access - User Disabled") && li.textContent.includes("user ann")); })()`)
	load("the users view again", "#nav-users", `document.getElementById("q") !== null`)
	step("search for ann again", chromedp.SendKeys(chromedp.CSS("#q"), "ann"))
	load("search again", "#search", `document.querySelectorAll("#users > li").length === 1`)
	load("enable ann", `button[data-enable="ann"]`, `document.getElementById("user-ann")?.dataset.enabled === "true"`)
	load("back to the status page again", "#nav-status", `document.getElementById("door-front") !== null`)
	poll("the event stream connects again", `document.getElementById("live").textContent === "live"`)
	poll("the enabling is journaled", `[...document.querySelectorAll("#events li")].some(li => li.textContent.includes("User Updated")
		&& li.textContent.includes('name "Ann Example", enabled true') && li.querySelector(".actor")?.textContent.startsWith("by admin"))`)

	// A frame with a wrong parity bit, as swapped or noisy lines give.
	g.lintel(t, "sim", "card", "garage", "--bits", "00000000100000000011001000")
	poll("the inspector names the unreadable frame", `(() => { const r = document.getElementById("reader-garage");
		return r.textContent.includes("unreadable card: parity error, 26 bits") && !r.textContent.includes("facility"); })()`)

	// The test pulse: unlocked at once, confirmed, then locked again when
	// the strike's 5 s are up.
	step("test pulse", chromedp.Click(chromedp.CSS(`button[data-pulse="side"]`)))
	poll("the door shows unlocked and the pulse is confirmed", `(() => { const d = document.getElementById("door-side");
		return d.dataset.locked === "false" && d.querySelector(".unlocked") !== null
			&& d.querySelector("output").textContent.startsWith("Pulse sent: door unlocked until "); })()`)
	poll("the pulse's event names the admin token", `[...document.querySelectorAll("#events li")].some(li =>
		li.textContent.includes("Door Test Pulse") && li.querySelector(".actor")?.textContent.startsWith("by admin"))`)
	screenshot("walkthrough-pulse-phone.png")
	poll("the door locks again", `(() => { const d = document.getElementById("door-side");
		return d.dataset.locked === "true" && d.querySelector("output").textContent.endsWith(", then locked again"); })()`)

	// A door opened without a grant is forced: a pinned alarm until it
	// closes.
	g.lintel(t, "sim", "door", "garage", "open")
	poll("the forced door raises an alarm", `document.getElementById("alarm-door-garage-forced_open")?.textContent.includes("Door forced open") === true`)
	screenshot("walkthrough-alarm-phone.png")
	g.lintel(t, "sim", "door", "garage", "closed")
	poll("the alarm clears when the door closes", `document.getElementById("alarm-door-garage-forced_open") === null`)

	// A lockdown: one alarm for every door, each door saying why.
	step("desktop viewport", chromedp.EmulateViewport(1280, 900))
	api("PUT", "/api/v1/overrides/drill", `{"doors":["*"],"mode":"lockdown"}`, 201)
	poll("the lockdown raises an alarm", `(() => { const a = document.getElementById("alarm-lockdown-drill");
		return a !== null && a.textContent.includes("doors front, garage, side")
			&& document.querySelector("#door-front .why").textContent.startsWith('Override: "drill"'); })()`)
	screenshot("walkthrough-lockdown-desktop.png")
	api("DELETE", "/api/v1/overrides/drill", "", 204)
	poll("the lockdown alarm clears", `document.getElementById("alarm-lockdown-drill") === null
		&& document.querySelector("#door-front .why").textContent.startsWith("Reader's configured mode")`)
	screenshot("walkthrough-desktop.png")
	checkConsole("during the tour")

	g.stop(t)
	// The page refreshed every few seconds the whole time; none of it is
	// in the info log, and the rest of its requests are.
	log := g.stderr.String()
	if strings.Contains(log, "path=/panel") {
		t.Errorf("the gateway logged the page's refreshes at info:\n%s", grepLines(log, "path=/panel"))
	}
	if !strings.Contains(log, "path=/api/v1/doors/side/pulse") {
		t.Errorf("the gateway's log lacks the test pulse's request")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
