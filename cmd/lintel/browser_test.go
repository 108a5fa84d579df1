package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestNewcomerWalkthroughInBrowser is the README's tour, end to end with
// real parts only: `lintel run --sim`, the status page in a real headless
// Chromium signed in with the first-start admin token, a user with a card and
// a generated PIN added with the CLI, a swipe and the PIN keyed with
// `lintel sim`, and the grant appearing live on the page without a reload.
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
	token, err := os.ReadFile(filepath.Join(dir, "lintel-data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1024, 900))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", chromium, err)
	}
	artifacts := os.Getenv("LINTEL_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	screenshot := func(name string) {
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil && os.MkdirAll(artifacts, 0o755) == nil && os.WriteFile(filepath.Join(artifacts, name), shot, 0o644) == nil {
			t.Logf("screenshot: %s", filepath.Join(artifacts, name))
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

	step("sign in with the admin token",
		chromedp.Navigate("http://"+g.api+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), strings.TrimSpace(string(token))),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#door-front")),
	)
	poll("the event stream connects", `document.getElementById("live").textContent === "live"`)
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
	g.stop(t)
}
