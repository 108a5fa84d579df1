package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/logtest"
)

// The end-to-end tests run the real lintel binary: `lintel run --sim` in a
// temporary directory on free ports, driven by the binary's own CLI, with a
// real mosquitto_sub listening on the embedded broker.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lintel-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "lintel")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building lintel: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// gatewayProc is a running `lintel run --sim`.
type gatewayProc struct {
	cmd      *exec.Cmd
	dir      string
	api      string
	mqtt     string
	stdout   *logtest.Buffer
	stderr   *logtest.Buffer
	exited   chan error
	finished bool
}

func startGateway(t testing.TB, dir string) *gatewayProc {
	t.Helper()
	p := &gatewayProc{dir: dir, api: freePort(t), mqtt: freePort(t), stdout: &logtest.Buffer{}, stderr: &logtest.Buffer{},
		exited: make(chan error, 1)}
	p.cmd = exec.Command(binary, "run", "--sim", "--api", p.api, "--mqtt", p.mqtt)
	p.cmd.Dir = dir
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if !p.finished {
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("gateway stderr:\n%s", p.stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.api + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.exited:
			p.finished = true
			t.Fatalf("lintel run --sim exited: %v\n%s", err, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("lintel run --sim not healthy within 30s\n%s", p.stderr.String())
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *gatewayProc) stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.finished = true
		if err != nil {
			t.Fatalf("lintel exited with %v after SIGTERM\n%s", err, p.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("lintel did not stop within 20s of SIGTERM")
	}
}

// lintel runs a CLI command against the gateway and returns its output.
func (p *gatewayProc) lintel(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.lintelErr(args...)
	if err != nil {
		t.Fatalf("lintel %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (p *gatewayProc) lintelErr(args ...string) (string, error) {
	cmd := exec.Command(binary, append([]string{"--addr", "http://" + p.api}, args...)...)
	cmd.Dir = p.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSimGrantThroughCLIAndMQTT(t *testing.T) {
	if _, err := exec.LookPath("mosquitto_sub"); err != nil {
		t.Fatal("mosquitto_sub is not installed; build/test installs Debian's mosquitto-clients")
	}
	dir := t.TempDir()
	g := startGateway(t, dir)
	if !strings.Contains(g.stdout.String(), "admin API token") {
		t.Errorf("first start did not print the admin token once; stdout:\n%s", g.stdout.String())
	}
	if fi, err := os.Stat(filepath.Join(dir, "lintel-data", "admin.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token: %v, mode %v; want mode 0600", err, fi.Mode().Perm())
	}

	host, port, _ := net.SplitHostPort(g.mqtt)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub := exec.CommandContext(ctx, "mosquitto_sub", "-h", host, "-p", port, "-t", "lintel/v1/+/events/#", "-v")
	subOut, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); sub.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(subOut)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	time.Sleep(300 * time.Millisecond) // let the subscription land before the events

	g.lintel(t, "user", "add", "ann", "--name", "Ann Example")
	g.lintel(t, "card", "add", "ann", "--facility", "1", "--number", "100")
	out := g.lintel(t, "pin", "set", "ann", "--generate", "6")
	m := regexp.MustCompile(`\b(\d{6})\b`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("pin set --generate 6 printed no 6-digit PIN: %q", out)
	}
	pin := m[1]
	if show := g.lintel(t, "user", "show", "ann"); strings.Contains(show, pin) {
		t.Errorf("user show repeats the PIN:\n%s", show)
	}
	g.lintel(t, "sim", "card", "front", "--facility", "1", "--number", "100")
	g.lintel(t, "sim", "keys", "front", pin+"#")

	want := regexp.MustCompile(`^lintel/v1/lintel-sim/events/front .*"name":"Grant Access - Card and PIN".*"user":"ann"`)
	timeout := time.After(20 * time.Second)
	for found := false; !found; {
		select {
		case l := <-lines:
			if strings.Contains(l, pin) {
				t.Errorf("an MQTT event contains the PIN: %s", l)
			}
			found = want.MatchString(l)
		case <-timeout:
			t.Fatal("no grant event on the embedded broker within 20s")
		}
	}
	events := g.lintel(t, "events", "tail")
	if !strings.Contains(events, "Grant Access - Card and PIN") {
		t.Errorf("events tail does not show the grant:\n%s", events)
	}
	// The strike stays released for the 5 s unlock: the status shows the
	// relay and the reader's grant pattern.
	status := g.lintel(t, "status")
	if !regexp.MustCompile(`(?m)^front\s+unlocked\s+energised\s+grant\s`).MatchString(status) {
		t.Errorf("status does not show front unlocked, its relay energised and the grant pattern:\n%s", status)
	}

	// An API error prints the way the API states it, with a non-zero exit.
	out, err = g.lintelErr("pin", "set", "nobody", "--pin", "482913")
	if err == nil || !strings.Contains(out, "lintel: not_found:") {
		t.Errorf("pin set for an unknown user: err %v, output %q; want exit 1 and 'lintel: not_found:'", err, out)
	}

	g.stop(t)
	for _, s := range []string{g.stdout.String(), g.stderr.String()} {
		if strings.Contains(s, pin) {
			t.Errorf("the gateway's output contains the PIN")
		}
	}
	token, err := os.ReadFile(filepath.Join(dir, "lintel-data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(g.stderr.String(), strings.TrimSpace(string(token))) {
		t.Errorf("the gateway's log contains the admin token")
	}

	// A second start keeps the data and does not print the token again.
	g2 := startGateway(t, dir)
	if strings.Contains(g2.stdout.String(), "admin API token") {
		t.Errorf("the second start printed the admin token again")
	}
	if show := g2.lintel(t, "user", "show", "ann"); !strings.Contains(show, "Ann Example") {
		t.Errorf("after a restart, user show:\n%s", show)
	}
	g2.stop(t)
}

func TestConfigCommands(t *testing.T) {
	dir := t.TempDir()
	example, err := exec.Command(binary, "config", "example").Output()
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "lintel.toml")
	if err := os.WriteFile(good, example, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "config", "check", good).CombinedOutput(); err != nil {
		t.Fatalf("config check of the example: %v\n%s", err, out)
	}
	// The example's broker password is printed in it: a warning, which
	// --strict fails on.
	out, err := exec.Command(binary, "config", "check", "--strict", good).CombinedOutput()
	wantWarning := regexp.MustCompile(`(?m)^lintel: lintel\.toml:[0-9]+: warning: broker\.clients\[0\]\.password_hash: the password of "portal" is "change-me"`)
	if err == nil || !wantWarning.Match(out) {
		t.Errorf("config check --strict of the example: err %v, output %q; want exit 1 and %s", err, out, wantWarning)
	}
	bad := filepath.Join(dir, "bad.toml")
	b := strings.Replace(string(example), `model = "RPK40"`, `model = "RP40"`, 1)
	b = strings.Replace(b, `unlock = "5s"`, `unlock = 5`, 1)
	if err := os.WriteFile(bad, []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(binary, "config", "check", bad).CombinedOutput()
	// Every problem, one a line, in file order, with its line number.
	want := regexp.MustCompile(`^lintel: bad\.toml:[0-9]+: readers\.front\.mode: "card_and_pin" needs a keypad reader \(RPK40\), got RP40\n` +
		`lintel: bad\.toml:[0-9]+: doors\.front\.unlock: 5 is a bare number; write a duration such as "5s"\n$`)
	if err == nil || !want.Match(out) {
		t.Errorf("config check of a bad file: err %v, output %q; want exit 1 and %s", err, out, want)
	}
	out, err = exec.Command(binary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "lintel ") {
		t.Errorf("version: %q, %v", out, err)
	}
}
