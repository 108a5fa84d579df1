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
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

// artifactDir is where the test leaves its screenshots: $LINTEL_ARTIFACTS,
// else the test's artifact directory (kept with go test -artifacts).
func artifactDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("LINTEL_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.ArtifactDir()
}

// TestStatusPageInBrowser signs a technician in with a real headless
// Chromium on a phone-sized screen, checks the doors and readers, swipes a
// card through the simulator route and watches the grant arrive live, checks
// the frame inspector (a good card, a parity failure, a hidden key press),
// sends a door test pulse from the page, and saves screenshots.
func TestStatusPageInBrowser(t *testing.T) {
	chromium := findChromium(t)
	h := newHarness(t, harnessOptions{})
	seed(h) // events 1 and 2
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	defer h.server.Close() // end the page's event stream before srv.Close waits for it
	dir := artifactDir(t)

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
		chromedp.WindowSize(390, 844),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()

	screenshot := func(name string) {
		t.Helper()
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			return
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	// step runs actions with a deadline; on failure it keeps a screenshot.
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, done := context.WithTimeout(ctx, 30*time.Second)
		defer done()
		if err := chromedp.Do(sctx, actions...); err != nil {
			screenshot("failure.png")
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	poll := func(what, predicate string) {
		t.Helper()
		step(what, func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(25*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, t)
			return chromedp.Void{}, err
		})
	}

	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulatePortrait, chromedp.EmulateMobile)); err != nil {
		t.Fatalf("start chromium (%s): %v", chromium, err)
	}

	step("sign in",
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), techToken),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#door-front")),
	)
	if got := text("#door-front"); !strings.Contains(got, "front") || !strings.Contains(got, "locked") || !strings.Contains(got, "closed") {
		t.Errorf("door front shows %q, want its name, locked and closed", got)
	}
	if got := text("#gateway"); !strings.Contains(got, "gw-test") || !strings.Contains(got, "1.2.3-test") || !strings.Contains(got, "synchronised") {
		t.Errorf("gateway card shows %q, want id, version and clock state", got)
	}
	if got := text("#events"); !strings.Contains(got, "Grant Access - Card") {
		t.Errorf("events show %q, want the seeded grant", got)
	}
	poll("event stream connects", `document.getElementById("live").textContent === "live"`)

	// A simulated swipe, sent the way `lintel sim card` sends it, must
	// appear without a reload.
	step("mark the page", func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](`window.lintelTestMark = true`)(ctx, t)
		return chromedp.Void{}, err
	})
	sim := func(path, body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("POST %s: got %d, want 202", path, resp.StatusCode)
		}
	}
	sim("/api/v1/sim/readers/garage/card", `{"format":"H10301","facility":1,"number":100}`)
	poll("the swipe appears live", fmt.Sprintf(`(() => { const li = document.querySelector('#events li[data-seq="%d"]');
		return li !== null && li.textContent.includes("Grant Access - Card") && li.textContent.includes("user u1")
			&& li.classList.contains("ok") && document.querySelector("#events li") === li; })()`, seedEvents+1))
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.lintelTestMark === true`)); err != nil || !got {
		t.Errorf("the page reloaded to show the event (mark %v, %v); want it streamed", got, err)
	}
	// The frame inspector shows the frame on the next refresh.
	poll("the frame inspector shows the swipe", `(() => { const r = document.querySelector("#reader-garage");
		return r !== null && r.querySelector(".bits")?.textContent === "10000000100000000011001000"
			&& r.textContent.includes("H10301") && r.textContent.includes("facility 1, number 100"); })()`)

	// A frame with a bad parity bit is shown as rejected and counted; a
	// key press is shown without its bits.
	sim("/api/v1/sim/readers/front/card", `{"bits":"00000000100000000011001000"}`)
	sim("/api/v1/sim/readers/side/keys", `{"keys":"7"}`)
	poll("the inspector shows the rejected frame and the key press", `(() => {
		const f = document.querySelector("#reader-front"), s = document.querySelector("#reader-side");
		return f !== null && f.textContent.includes("failed") && f.textContent.includes("parity 1")
			&& s !== null && s.textContent.includes("key press (hidden)") && s.querySelector(".bits") === null; })()`)

	// A technician's test pulse goes out with the session's CSRF token.
	step("test pulse", chromedp.Click(chromedp.CSS(`button[data-pulse="front"]`)))
	poll("the pulse's event appears", `[...document.querySelectorAll("#events li")].some(li => li.textContent.includes("Door Test Pulse"))`)
	if got := h.backend.Pulses(); !slices.Equal(got, []string{"front"}) {
		t.Errorf("got pulses %v, want [front]", got)
	}
	screenshot("status-phone.png")

	step("desktop viewport", chromedp.EmulateViewport(1280, 900))
	screenshot("status-desktop.png")

	step("sign out", chromedp.Click(chromedp.CSS("header button")), chromedp.WaitVisible(chromedp.CSS("#token")))
	screenshot("signin-desktop.png")
}
