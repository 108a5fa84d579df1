package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
	api, mqtt := freePort(t), freePort(t)
	return startLintel(t, dir, api, mqtt, "run", "--sim", "--api", api, "--mqtt", mqtt)
}

// startLintel starts the binary with args in dir and waits until its API
// at api is healthy; mqtt is its embedded broker's address, if any.
func startLintel(t testing.TB, dir, api, mqtt string, args ...string) *gatewayProc {
	t.Helper()
	p := &gatewayProc{dir: dir, api: api, mqtt: mqtt, stdout: &logtest.Buffer{}, stderr: &logtest.Buffer{},
		exited: make(chan error, 1)}
	p.cmd = exec.Command(binary, args...)
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
			t.Fatalf("lintel %s exited: %v\n%s", strings.Join(args, " "), err, p.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("lintel %s not healthy within 30s\n%s", strings.Join(args, " "), p.stderr.String())
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

	// The retained status proves the subscription live before the
	// events it must see.
	sub := subscribe(t, g, "lintel/v1/+/status", "lintel/v1/+/events/#")

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

	want := regexp.MustCompile(`"name":"Grant Access - Card and PIN".*"user":"ann"`)
	sub.next(t, "grant event", func(topic, payload string) bool {
		if strings.Contains(payload, pin) {
			t.Errorf("an MQTT event contains the PIN: %s", payload)
		}
		return topic == "lintel/v1/lintel-sim/events/front" && want.MatchString(payload)
	})
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
	out, err := g.lintelErr("pin", "set", "nobody", "--pin", "482913")
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

// lintelIn runs a CLI command in dir with env added to the environment and
// no --addr: what an operator types on an installed box. It returns the
// output and the exit status.
func lintelIn(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LINTEL_ADDR=", "LINTEL_TOKEN=", "LINTEL_TOKEN_FILE=")
	cmd.Env = append(cmd.Env, env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("lintel %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// TestOperatorCLI drives the management surface with the real binary the
// way an operator of an installed box does: the CLI finds the gateway and
// its admin token through the config (LINTEL_CONFIG, as
// /etc/lintel/lintel.toml would), lists and searches users, removes a
// card, enrols the next card presented at a reader, reads the audit trail
// as JSON, exports and imports the table, locks the doors down and exits
// 0, 1 or 2 as documented (issue 13, items 1 to 3).
func TestOperatorCLI(t *testing.T) {
	dir := t.TempDir()
	g := startGateway(t, dir)
	example, err := exec.Command(binary, "config", "example").Output()
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(example), `data_dir = "/var/lib/lintel"`, fmt.Sprintf("data_dir = %q", filepath.Join(dir, "lintel-data")), 1)
	cfg = strings.Replace(cfg, `listen = "127.0.0.1:8080"`, fmt.Sprintf("listen = %q", g.api), 1)
	config := filepath.Join(t.TempDir(), "lintel.toml")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir() // no ./lintel-data here: the token comes through the config
	env := []string{"LINTEL_CONFIG=" + config}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := lintelIn(t, elsewhere, env, args...)
		if code != 0 {
			t.Fatalf("lintel %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	run("user", "add", "ann", "--name", "Ann Example")
	run("user", "add", "bob", "--name", "Bob Builder", "--disabled")
	run("user", "add", "cat", "--name", "Cat Annan", "--levels", "")
	card := run("card", "add", "bob", "--facility", "1", "--number", "200")
	credID := regexp.MustCompile(`enrolled card (\S+) `).FindStringSubmatch(card)

	// User list and search, as JSON.
	var page struct {
		Users []struct {
			ID      string `json:"id"`
			Enabled bool   `json:"enabled"`
		} `json:"users"`
		Next string `json:"next"`
	}
	if err := json.Unmarshal([]byte(run("--json", "user", "list", "--search", "ANN")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Users) != 2 || page.Users[0].ID != "ann" || page.Users[1].ID != "cat" || page.Next != "" {
		t.Errorf("user list --search ANN: got %+v, want ann and cat", page)
	}
	if out := run("user", "list", "--limit", "2"); !regexp.MustCompile(`(?s)^USER .*\nann .*\nbob .*\nmore after bob`).MatchString(out) {
		t.Errorf("user list --limit 2:\n%s", out)
	}
	run("user", "enable", "bob")

	// Card removal: the card is gone, the user stays.
	if credID == nil {
		t.Fatalf("card add printed %q", card)
	}
	run("card", "rm", credID[1])
	if out := run("user", "show", "bob"); !regexp.MustCompile(`(?s)enabled +yes\n.*cards +none\n`).MatchString(out) {
		t.Errorf("after card rm and user enable, user show bob:\n%s", out)
	}
	if _, errOut, code := lintelIn(t, elsewhere, env, "card", "rm", credID[1]); code != 1 || !strings.Contains(errOut, "lintel: not_found: credential") {
		t.Errorf("card rm of a removed card: exit %d, %q; want 1 and not_found", code, errOut)
	}
	// A card no reader can present is refused with the field named.
	if _, errOut, code := lintelIn(t, elsewhere, env, "card", "add", "bob", "--facility", "300", "--number", "1"); code != 1 ||
		!strings.Contains(errOut, "lintel: invalid: facility: H10301 facility codes are 0 to 255, got 300") {
		t.Errorf("card add facility 300: exit %d, %q", code, errOut)
	}

	// Enrolment from the next card presented at front.
	at := journalLast(t, run)
	type result struct {
		out, errOut string
		code        int
	}
	enrolled := make(chan result, 1)
	go func() {
		out, errOut, code := lintelIn(t, elsewhere, env, "card", "enrol", "ann", "--reader", "front", "--wait", "60s")
		enrolled <- result{out, errOut, code}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(run("--json", "status"), `"enrolling": "ann"`) {
		if time.Now().After(deadline) {
			t.Fatal("the reader never showed the enrolment waiting within 30 s")
		}
		time.Sleep(20 * time.Millisecond) // between looks at the status
	}
	run("sim", "card", "front", "--bits", "10000000100000000011001001") // parity wrong: not enrolled
	run("sim", "card", "front", "--facility", "7", "--number", "4242")
	var r result
	select {
	case r = <-enrolled:
	case <-time.After(30 * time.Second):
		t.Fatal("card enrol did not end within 30 s of the card")
	}
	if r.code != 0 || !strings.Contains(r.out, "(H10301:7:4242) read at reader front for ann") {
		t.Fatalf("card enrol: exit %d\n%s%s", r.code, r.out, r.errOut)
	}

	// The audit trail, as JSON lines: every change names its actor; the
	// enrolling presentation was not decided.
	events := run("--json", "events", "tail", "--after", "0")
	audits := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(events), "\n") {
		var ev struct {
			Seq   uint64 `json:"seq"`
			Type  string `json:"type"`
			Name  string `json:"name"`
			Actor string `json:"actor"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("events tail --json: %v in %q", err, line)
		}
		if ev.Type == "audit.change" {
			audits[ev.Name] = ev.Actor
		}
		if ev.Seq > at && (ev.Type == "access.granted" || ev.Type == "access.denied") {
			t.Errorf("a presentation during the enrolment was decided: %s", line)
		}
	}
	for _, name := range []string{"User Added", "User Updated", "Card Added", "Card Removed", "Card Enrolled"} {
		if audits[name] != "admin (admin.token)" {
			t.Errorf("audit %q: actor %q, want the admin token's name (all audits: %v)", name, audits[name], audits)
		}
	}
	// The enrolled card now opens the doors.
	at = journalLast(t, run)
	run("sim", "card", "garage", "--facility", "7", "--number", "4242")
	waitEventName(t, run, at, "Grant Access - Card")

	// Export and import: a backup without PINs, restored.
	run("pin", "set", "cat", "--generate", "6")
	export := run("export")
	if strings.Contains(export, `"pin"`) {
		t.Errorf("the export carries a PIN")
	}
	backup := filepath.Join(t.TempDir(), "backup.json")
	if err := os.WriteFile(backup, []byte(export), 0o600); err != nil {
		t.Fatal(err)
	}
	run("user", "rm", "cat")
	if out := run("import", backup); !strings.Contains(out, "imported 3 users, 1 cards") || !strings.Contains(out, "1 users need a new PIN (PINs are never exported): cat") {
		t.Errorf("import:\n%s", out)
	}
	if out := run("user", "show", "ann"); !strings.Contains(out, "H10301 facility 7 number 4242") {
		t.Errorf("after the import, user show ann:\n%s", out)
	}

	// Lockdown and release.
	run("door", "lockdown", "--all")
	var doors []struct {
		Name string `json:"name"`
		Mode string `json:"mode"`
	}
	if err := json.Unmarshal([]byte(run("--json", "door", "list")), &doors); err != nil {
		t.Fatal(err)
	}
	for _, d := range doors {
		if d.Mode != "lockdown" {
			t.Errorf("after door lockdown --all, door %s runs %q", d.Name, d.Mode)
		}
	}
	if len(doors) != 3 {
		t.Errorf("door list: %d doors, want 3", len(doors))
	}
	run("door", "release", "--all")

	// Exit statuses: 2 for a command line that cannot run.
	for _, args := range [][]string{{"frobnicate"}, {"user", "show"}, {"status", "--frobnicate"}, {"door", "lockdown"}} {
		if _, errOut, code := lintelIn(t, elsewhere, env, args...); code != 2 {
			t.Errorf("lintel %s: exit %d (%q), want 2", strings.Join(args, " "), code, errOut)
		}
	}
	// A gateway that does not answer: what to do.
	if _, errOut, code := lintelIn(t, elsewhere, []string{"LINTEL_CONFIG=" + config, "LINTEL_ADDR=http://127.0.0.1:1"}, "status"); code != 1 ||
		!strings.Contains(errOut, "is lintel running? systemctl status lintel") {
		t.Errorf("status of a gateway that does not answer: exit %d, %q", code, errOut)
	}
	// Without a config or a data dir here, the CLI says where it looked.
	if _, errOut, code := lintelIn(t, elsewhere, []string{"LINTEL_CONFIG=" + filepath.Join(elsewhere, "none.toml")}, "status"); code != 1 ||
		!strings.Contains(errOut, "none.toml (LINTEL_CONFIG) does not exist") {
		t.Errorf("status with LINTEL_CONFIG naming no file: exit %d, %q", code, errOut)
	}
	g.stop(t)
}

// journalLast is the journal's last seq, from lintel status --json.
func journalLast(t *testing.T, run func(...string) string) uint64 {
	t.Helper()
	var st struct {
		Journal struct {
			Last uint64 `json:"last"`
		} `json:"journal"`
	}
	if err := json.Unmarshal([]byte(run("--json", "status")), &st); err != nil {
		t.Fatal(err)
	}
	return st.Journal.Last
}

// waitEventName waits, up to 20 s, for an event of that name after seq at.
func waitEventName(t *testing.T, run func(...string) string, at uint64, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(run("--json", "events", "tail", "--after", strconv.FormatUint(at, 10)), `"name":"`+name+`"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q event within 20 s", name)
		}
		time.Sleep(20 * time.Millisecond) // between reads of the journal
	}
}

// TestCompletionAndManPage: the binary prints its completion scripts and
// its man page from its own command model, the run command included.
func TestCompletionAndManPage(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, err := exec.Command(binary, "completion", shell).Output()
		if err != nil || !strings.Contains(string(out), "run user pin card") && shell != "fish" {
			t.Errorf("completion %s: %v\n%.300s", shell, err, out)
		}
	}
	out, err := exec.Command(binary, "man").Output()
	if err != nil || !strings.Contains(string(out), `.SS "lintel run"`) || !strings.Contains(string(out), `.SS "lintel card enrol \fIID\fR"`) {
		t.Errorf("man: %v\n%.300s", err, out)
	}
	if _, err := exec.Command(binary, "completion", "tcsh").Output(); err == nil {
		t.Errorf("completion tcsh succeeded")
	} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("completion tcsh: %v, want exit 2", err)
	}
}
