package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/apitest"
	"github.com/lintel-access/lintel/api/cli"
	"github.com/lintel-access/lintel/gateway/access"
)

// script runs steps of the CLI against g, each with its exit status and
// what its output must match.
type cliStep struct {
	args   []string
	code   int
	stdout string // a regular expression
	stderr string // a regular expression; "" means no output
}

func (g gateway) script(t *testing.T, steps []cliStep) {
	t.Helper()
	for _, s := range steps {
		code, stdout, stderr := g.run(t, s.args...)
		name := strings.Join(s.args, " ")
		if code != s.code {
			t.Errorf("lintel %s: got exit %d, want %d (stdout %q, stderr %q)", name, code, s.code, stdout, stderr)
			continue
		}
		if !regexp.MustCompile(s.stdout).MatchString(stdout) {
			t.Errorf("lintel %s: got stdout %q, want it to match %q", name, stdout, s.stdout)
		}
		if s.stderr == "" && stderr != "" || !regexp.MustCompile(s.stderr).MatchString(stderr) {
			t.Errorf("lintel %s: got stderr %q, want it to match %q", name, stderr, s.stderr)
		}
	}
}

func TestUserAndCardCommands(t *testing.T) {
	g := newGateway(t)
	g.script(t, []cliStep{
		{[]string{"level", "set", "staff", "--door", "front", "--door", "side=always"}, 0, `^added level staff: front=always, side=always\n$`, ""},
		{[]string{"user", "add", "ann", "--name", "Ann Example", "--levels", "staff", "--override", "--valid-to", "2030-01-01T00:00:00Z"}, 0, `^added user ann\n$`, ""},
		{[]string{"user", "add", "bob", "--name", "Bob Builder", "--levels", ""}, 0, `^added user bob\n$`, ""},
		{[]string{"user", "add", "cat", "--name", "Cat Annan"}, 0, `added user cat`, ""},
		{[]string{"user", "show", "ann"}, 0, `(?s)valid to +2030-01-01T00:00:00Z\n.*levels +staff\noverride +yes\n`, ""},
		{[]string{"user", "list"}, 0, `^USER +NAME +ENABLED +PIN +CARDS +LEVELS\nann +Ann Example +yes +no +0 +staff\nbob +Bob Builder +yes +no +0 +none \(no door\)\ncat +Cat Annan +yes +no +0 +all\n$`, ""},
		{[]string{"user", "list", "--search", "ANN"}, 0, `^USER.*\nann .*\ncat .*\n$`, ""},
		{[]string{"user", "list", "--limit", "1"}, 0, `^USER.*\nann .*\nmore after ann: lintel user list --after ann\n$`, ""},
		{[]string{"user", "list", "--after", "ann", "--limit", "1"}, 0, `^USER.*\nbob .*\nmore after bob`, ""},
		// enable and disable keep the levels, the override and the validity.
		{[]string{"user", "disable", "ann"}, 0, `^disabled user ann\n$`, ""},
		{[]string{"user", "show", "ann"}, 0, `(?s)enabled +no\nvalid to +2030-01-01T00:00:00Z\n.*levels +staff\noverride +yes\n`, ""},
		{[]string{"user", "enable", "ann"}, 0, `^enabled user ann\n$`, ""},
		{[]string{"user", "show", "ann"}, 0, `(?s)enabled +yes\nvalid to +2030-01-01T00:00:00Z\n.*levels +staff\noverride +yes\n`, ""},
		{[]string{"user", "add", "ann", "--name", "Ann Example", "--no-override"}, 0, `updated user ann`, ""},
		{[]string{"user", "show", "ann"}, 0, `levels +staff\n(card|$)`, ""},
		{[]string{"user", "enable", "nobody"}, 1, ``, `^lintel: not_found: user "nobody" does not exist\n$`},
		{[]string{"card", "add", "ann", "--facility", "1", "--number", "100"}, 0, `^enrolled card c1 \(H10301:1:100\) for ann\n$`, ""},
		{[]string{"card", "add", "ann", "--facility", "300", "--number", "1"}, 1, ``, `^lintel: invalid: facility: H10301 facility codes are 0 to 255, got 300\n$`},
		{[]string{"card", "add", "ann", "--format", "FOO", "--facility", "1", "--number", "1"}, 1, ``, `^lintel: invalid: format: "FOO" is not a card format; the readers decode H10301, `},
		{[]string{"card", "add", "ann", "--format", "h10301", "--facility", "1", "--number", "1"}, 1, ``, `^lintel: invalid: format: "h10301" is spelled "H10301"`},
		{[]string{"card", "add", "ann", "--facility", "1", "--number", "70000"}, 1, ``, `^lintel: invalid: number: H10301 card numbers are 0 to 65535, got 70000\n$`},
		{[]string{"card", "rm", "c1"}, 0, `^removed card c1\n$`, ""},
		{[]string{"card", "rm", "c1"}, 1, ``, `^lintel: not_found: credential "c1" does not exist\n$`},
		{[]string{"user", "show", "ann"}, 0, `cards +none\n`, ""},
		{[]string{"card", "enrol", "ann", "--reader", "garage", "--wait", "1s"}, 1, `^present the card at reader garage \(waiting up to 1s\) \.\.\.\n$`, `^lintel: no_card: reader "garage" read no card in 1 s`},
		{[]string{"card", "enrol", "ann", "--reader", "garage", "--wait", "5m"}, 2, ``, `--wait must be from 1s to 120s`},
		{[]string{"card", "enrol", "ann"}, 2, ``, `missing flags: --reader`},
	})
}

// TestCardEnrol: `lintel card enrol ann --reader garage` takes the next
// card presented there.
func TestCardEnrol(t *testing.T) {
	g := newGateway(t)
	if _, err := g.backend.PutUser("test", access.User{ID: "ann", Name: "Ann", Enabled: true}, access.AllFields&^access.FieldLevels); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), []string{"--addr", g.url, "--token", g.token, "card", "enrol", "ann", "--reader", "garage", "--wait", "20s"}, &out, &errOut)
		done <- result{code, out.String(), errOut.String()}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for waiting := false; !waiting; {
		if time.Now().After(deadline) {
			t.Fatal("the enrolment never waited at garage")
		}
		for _, r := range g.backend.Status().Readers {
			waiting = waiting || r.Name == "garage" && r.Enrolling == "ann"
		}
	}
	if err := (apitest.Sim{B: g.backend}).Card("garage", "H10301", 9, 999); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 || !regexp.MustCompile(`enrolled card c1 \(H10301:9:999\) read at reader garage for ann\n$`).MatchString(r.stdout) || r.stderr != "" {
		t.Errorf("card enrol: got exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestExportImportCommands(t *testing.T) {
	g := newGateway(t)
	g.script(t, []cliStep{
		{[]string{"user", "add", "ann", "--name", "Ann"}, 0, ``, ""},
		{[]string{"user", "add", "bob", "--name", "Bob"}, 0, ``, ""},
		{[]string{"card", "add", "ann", "--facility", "1", "--number", "100"}, 0, ``, ""},
		{[]string{"pin", "set", "ann", "--pin", "730518"}, 0, ``, ""},
	})
	code, export, stderr := g.run(t, "export")
	if code != 0 || stderr != "" {
		t.Fatalf("export: exit %d, stderr %q", code, stderr)
	}
	var doc api.ExportDoc
	if err := json.Unmarshal([]byte(export), &doc); err != nil || doc.Format != api.ExportFormat {
		t.Fatalf("export printed %q: %v", export, err)
	}
	if strings.Contains(export, "730518") {
		t.Errorf("the export holds the PIN")
	}
	file := filepath.Join(t.TempDir(), "backup.json")
	if err := os.WriteFile(file, []byte(export), 0o600); err != nil {
		t.Fatal(err)
	}
	g.script(t, []cliStep{
		{[]string{"import", file}, 0, `^imported 2 users, 1 cards, 0 schedules, 0 holidays, 0 levels, 0 door policies, 0 overrides; 1 users kept their PIN\n$`, ""},
		{[]string{"user", "rm", "ann"}, 0, ``, ""},
		{[]string{"import", file}, 0, `^imported 2 users, 1 cards, .*; 0 users kept their PIN\n1 users need a new PIN \(PINs are never exported\): ann\ngive each one with: lintel pin set USER --generate 6\n$`, ""},
		{[]string{"--json", "import", file}, 0, `"need_pin": \[\n\s+"ann"\n\s+\]`, ""},
		{[]string{"user", "show", "ann"}, 0, `(?s)pin +no\n.*card +c1 +H10301 facility 1 number 100\n`, ""},
		{[]string{"import", filepath.Join(t.TempDir(), "missing.json")}, 1, ``, `^lintel: import: open .*missing.json: no such file or directory\n$`},
		{[]string{"import"}, 2, ``, `expected "<file>"`},
	})
}

func TestPolicyCommands(t *testing.T) {
	g := newGateway(t)
	g.script(t, []cliStep{
		{[]string{"schedule", "set", "office", "--name", "Office", "--interval", "mon-fri 08:00-18:00", "--interval", "none 10:00-14:00 holidays 1"}, 0,
			`^added schedule office: mon,tue,wed,thu,fri 08:00-18:00; none 10:00-14:00 holidays 1\n$`, ""},
		{[]string{"schedule", "set", "weekend", "--interval", "fri-mon 09:00-12:00"}, 0, `^added schedule weekend: fri,sat,sun,mon 09:00-12:00\n$`, ""},
		{[]string{"schedule", "set", "night", "--interval", "mon 22:00-25:00"}, 1, ``, `^lintel: invalid: intervals\[0\]\.end: `},
		{[]string{"schedule", "set", "night", "--interval", "mon 22:00"}, 2, ``, `is not START-END`},
		{[]string{"schedule", "set", "night", "--interval", "mon-xyz 22:00-23:00"}, 2, ``, `is not a range of days`},
		{[]string{"schedule", "list"}, 0, `^SCHEDULE +NAME +INTERVALS\noffice +Office +mon,tue,wed,thu,fri 08:00-18:00; none 10:00-14:00 holidays 1\nweekend +fri,sat,sun,mon 09:00-12:00\n$`, ""},
		{[]string{"schedule", "show", "office"}, 0, `^schedule office \(Office\)\n  mon,tue,wed,thu,fri 08:00-18:00\n  none 10:00-14:00 holidays 1\n$`, ""},
		{[]string{"holiday", "set", "ny", "--name", "New Year", "--date", "2027-01-01", "--type", "1"}, 0, `^added holiday ny: 2027-01-01, type 1\n$`, ""},
		{[]string{"holiday", "set", "xmas", "--date", "2027-12-24", "--until", "2027-12-31", "--type", "2"}, 0, `^added holiday xmas: 2027-12-24 to 2027-12-31, type 2\n$`, ""},
		{[]string{"holiday", "set", "bad", "--date", "2027-02-30", "--type", "1"}, 1, ``, `^lintel: invalid: date`},
		{[]string{"holiday", "list"}, 0, `^HOLIDAY +NAME +DATES +TYPE\nny +New Year +2027-01-01 +1\nxmas +2027-12-24 to 2027-12-31 +2\n$`, ""},
		{[]string{"holiday", "show", "ny"}, 0, `^holiday ny \(New Year\): 2027-01-01, type 1\n$`, ""},
		{[]string{"level", "set", "staff", "--name", "Staff", "--door", "front=office", "--door", "side"}, 0, `^added level staff: front=office, side=always\n$`, ""},
		{[]string{"level", "set", "lobby", "--door", "lobby=office"}, 1, ``, `^lintel: invalid: doors\[0\]\.door: `},
		{[]string{"level", "list"}, 0, `^LEVEL +NAME +DOORS\nstaff +Staff +front=office, side=always\n$`, ""},
		{[]string{"level", "show", "staff"}, 0, `^level staff \(Staff\)\n  door front on schedule office\n  door side on schedule always\n$`, ""},
		{[]string{"user", "add", "ann", "--name", "Ann", "--levels", "staff,all"}, 0, ``, ""},
		{[]string{"schedule", "rm", "office"}, 1, ``, `^lintel: in_use: schedule "office" is in use by level "staff"`},
		{[]string{"level", "rm", "staff"}, 1, ``, `^lintel: in_use: `},
		{[]string{"door", "policy", "set", "front", "--mode", "office=unlocked@staff"}, 0, `^set the policy of door front\n$`, ""},
		{[]string{"door", "policy", "show", "front"}, 0, `^door front\n  unlocked while office is active, once a holder of level staff has come in\n$`, ""},
		{[]string{"door", "policy", "set", "garage", "--mode", "office=card_or_pin"}, 1, ``, `^lintel: invalid: modes\[0\]\.mode: `},
		{[]string{"door", "policy", "set", "garage", "--mode", "office"}, 2, ``, `want SCHEDULE=MODE`},
		{[]string{"door", "policy", "rm", "front"}, 0, `^removed the policy of door front: it runs its reader's mode\n$`, ""},
		{[]string{"door", "policy", "show", "front"}, 0, `^door front has no policy: it runs its reader's mode\n$`, ""},
		{[]string{"door", "lockdown", "--all"}, 0, `^locked down every door until released \(lintel door release\)\n$`, ""},
		{[]string{"door", "list"}, 0, `(?s)^DOOR +MODE +WHY +LOCK +CONTACT +ALARMS +NEXT\nfront +lockdown .*\ngarage +lockdown .*\nside +lockdown `, ""},
		{[]string{"door", "unlock", "garage", "--until", "2h"}, 0, `^holding unlocked garage until \d{4}-\d\d-\d\d \d\d:\d\d UTC\nnote: door garage is still lockdown by override "lockdown-all", which wins; lintel door release --id lockdown-all ends it\n$`, ""},
		{[]string{"door", "release", "garage"}, 0, `^ended unlocked-garage\nnote: override "lockdown-all" \(lockdown\) still holds every door; lintel door release --id lockdown-all ends it\n$`, ""},
		{[]string{"door", "release", "--all"}, 0, `^ended lockdown-all\n$`, ""},
		{[]string{"door", "lock", "garage"}, 0, `^holding locked garage until released`, ""},
		{[]string{"door", "unlock", "garage"}, 0, `^holding unlocked garage until released \(lintel door release\)\n$`, ""}, // ends the lock
		{[]string{"door", "list"}, 0, `(?m)^garage +unlocked `, ""},
		{[]string{"door", "release", "--id", "unlocked-garage"}, 0, `^ended unlocked-garage\n$`, ""},
		{[]string{"door", "release", "--id", "unlocked-garage"}, 1, ``, `there is no override "unlocked-garage"`},
		{[]string{"door", "release", "garage"}, 0, `^no override held those doors\n$`, ""},
		{[]string{"door", "release"}, 2, ``, `give door names, --all or --id`},
		{[]string{"door", "lockdown"}, 2, ``, `give the doors, or --all`},
		{[]string{"door", "lockdown", "front", "--all"}, 2, ``, `not both`},
		{[]string{"door", "unlock", "front", "--until", "tea time"}, 2, ``, `--until: "tea time" is not a time`},
		{[]string{"door", "unlock", "attic"}, 1, ``, `^lintel: invalid: doors\[0\]`},
		{[]string{"door", "pulse", "front"}, 0, `^pulsed door front\n$`, ""},
		{[]string{"level", "rm", "lobby"}, 1, ``, `^lintel: not_found: `},
		{[]string{"holiday", "rm", "ny"}, 0, `^deleted holiday ny\n$`, ""},
	})
}

// TestParseUntil: --until is the gateway's local time, from the gateway's
// own clock; a time without a date is the next one, across midnight and
// DST.
func TestParseUntil(t *testing.T) {
	berlin := api.Status{Timezone: "Europe/Berlin", LocalTime: "2027-03-27T20:30:00+01:00"} // the night before spring forward
	tests := []struct {
		name  string
		st    api.Status
		until string
		want  string // RFC 3339, or an error's text
	}{
		{"later today", berlin, "22:00", "2027-03-27T22:00:00+01:00"},
		{"tomorrow, in summer time", berlin, "18:00", "2027-03-28T18:00:00+02:00"},
		{"now is not the future", berlin, "20:30", "2027-03-28T20:30:00+02:00"},
		{"a date", berlin, "2027-12-24 13:00", "2027-12-24T13:00:00+01:00"},
		{"a date with a T", berlin, "2027-12-24T13:00", "2027-12-24T13:00:00+01:00"},
		{"RFC 3339", berlin, "2027-04-01T10:00:00Z", "2027-04-01T10:00:00Z"},
		{"a duration", berlin, "90m", "2027-03-27T22:00:00+01:00"},
		{"past", berlin, "2027-03-27 08:00", "2027-03-27 08:00 CET is not in the future (the gateway's time is 2027-03-27 20:30 CET)"},
		{"nonsense", berlin, "soon", `"soon" is not a time`},
		{"no zone name", api.Status{LocalTime: "2027-01-04T10:00:00-05:00"}, "18:00", "2027-01-04T18:00:00-05:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cli.ParseUntil(tc.until, tc.st)
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("got error %v, want %q", err, tc.want)
				}
				return
			}
			want, perr := time.Parse(time.RFC3339, tc.want)
			if perr != nil {
				t.Fatalf("got %v, want the error %q", got, tc.want)
			}
			if !got.Equal(want) || got.Format("-07:00") != want.Format("-07:00") {
				t.Errorf("got %s, want %s", got.Format(time.RFC3339), tc.want)
			}
		})
	}
}

// TestJSONOutput: every read command prints JSON with --json.
func TestJSONOutput(t *testing.T) {
	g := newGateway(t)
	g.script(t, []cliStep{
		{[]string{"user", "add", "ann", "--name", "Ann"}, 0, ``, ""},
		{[]string{"schedule", "set", "office", "--interval", "mon 08:00-18:00"}, 0, ``, ""},
		{[]string{"holiday", "set", "ny", "--date", "2027-01-01", "--type", "1"}, 0, ``, ""},
		{[]string{"level", "set", "staff", "--door", "front=office"}, 0, ``, ""},
	})
	reads := [][]string{
		{"user", "list"}, {"user", "show", "ann"}, {"status"}, {"events", "tail"}, {"sync", "status"},
		{"schedule", "list"}, {"schedule", "show", "office"}, {"holiday", "list"}, {"holiday", "show", "ny"},
		{"level", "list"}, {"level", "show", "staff"}, {"door", "list"}, {"door", "policy", "show", "front"},
	}
	for _, args := range reads {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := g.run(t, append([]string{"--json"}, args...)...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			dec := json.NewDecoder(strings.NewReader(stdout))
			n := 0
			for dec.More() {
				var v any
				if err := dec.Decode(&v); err != nil {
					t.Fatalf("not JSON: %v in %q", err, stdout)
				}
				n++
			}
			if n == 0 {
				t.Errorf("printed no JSON: %q", stdout)
			}
		})
	}
	code, stdout, _ := g.run(t, "--json", "user", "show", "ann")
	var u api.UserDoc
	if err := json.Unmarshal([]byte(stdout), &u); code != 0 || err != nil || u.ID != "ann" || u.Levels == nil {
		t.Errorf("user show --json: %v, %+v", err, u)
	}
}

// TestExitStatus: 0 ok, 1 an error, 2 a command line that cannot run, as
// the README documents.
func TestExitStatus(t *testing.T) {
	g := newGateway(t)
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"status"}, cli.ExitOK},
		{[]string{"user", "show", "nobody"}, cli.ExitError},
		{[]string{"frobnicate"}, cli.ExitUsage},
		{[]string{"status", "--frobnicate"}, cli.ExitUsage},
		{[]string{"user", "show"}, cli.ExitUsage},
		{[]string{"sim", "door", "front", "ajar"}, cli.ExitUsage},
		{[]string{"pin", "set", "ann"}, cli.ExitUsage},
		{[]string{"--help"}, cli.ExitOK},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if code, stdout, stderr := g.run(t, tc.args...); code != tc.code {
				t.Errorf("got exit %d, want %d (stdout %q, stderr %q)", code, tc.code, stdout, stderr)
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), []string{"--addr", "http://127.0.0.1:1", "--token", "x", "status"}, &out, &errOut); code != cli.ExitError ||
		!strings.Contains(errOut.String(), "is lintel running? systemctl status lintel") {
		t.Errorf("a gateway that does not answer: exit %d, stderr %q; want 1 and what to do", code, errOut.String())
	}
	if code := cli.Run(context.Background(), []string{"--addr", g.url, "--token", "wrong", "status"}, &out, &errOut); code != cli.ExitError ||
		!strings.Contains(errOut.String(), "the gateway refused the token: give the admin token") {
		t.Errorf("a refused token: exit %d, stderr %q", code, errOut.String())
	}
}

// TestSettingsOrder: the address and the token come from the flag, else
// the environment, else the gateway's config, else the data directories.
func TestSettingsOrder(t *testing.T) {
	g := newGateway(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	config := write("lintel.toml", "the config")
	dataToken := write("data.token", g.token+"\n")
	simToken := write("sim.token", g.token+"\n")
	wrong := write("wrong.token", "wrong\n")
	listen := strings.TrimPrefix(g.url, "http://")
	load := func(st cli.Settings, err error) func(string) (cli.Settings, error) {
		return func(path string) (cli.Settings, error) {
			if path != config {
				t.Errorf("read config %s, want %s", path, config)
			}
			return st, err
		}
	}
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		load   func(string) (cli.Settings, error)
		files  []string
		code   int
		stderr string
	}{
		{"config gives address and token", map[string]string{"LINTEL_CONFIG": config}, nil,
			load(cli.Settings{Listen: listen, AdminTokenFile: dataToken}, nil), []string{wrong}, 0, ""},
		{"a wildcard listen address is reached on loopback", map[string]string{"LINTEL_CONFIG": config}, nil,
			load(cli.Settings{Listen: "0.0.0.0:" + listen[strings.LastIndex(listen, ":")+1:], AdminTokenFile: dataToken}, nil), nil, 0, ""},
		{"the environment beats the config", map[string]string{"LINTEL_CONFIG": config, "LINTEL_ADDR": g.url, "LINTEL_TOKEN_FILE": dataToken}, nil,
			load(cli.Settings{Listen: "127.0.0.1:1", AdminTokenFile: wrong}, nil), nil, 0, ""},
		{"a flag beats the environment", map[string]string{"LINTEL_CONFIG": config, "LINTEL_ADDR": "http://127.0.0.1:1", "LINTEL_TOKEN_FILE": wrong},
			[]string{"--addr", g.url, "--token-file", dataToken}, load(cli.Settings{}, nil), nil, 0, ""},
		{"the config beats the data directories", map[string]string{"LINTEL_CONFIG": config}, nil,
			load(cli.Settings{Listen: listen, AdminTokenFile: dataToken}, nil), []string{wrong}, 0, ""},
		{"no token at the config's data dir: the data directories", map[string]string{"LINTEL_CONFIG": config}, nil,
			load(cli.Settings{Listen: listen, AdminTokenFile: filepath.Join(dir, "none")}, nil), []string{filepath.Join(dir, "nothing"), simToken}, 0, ""},
		{"no config: the data directories", nil, []string{"--addr", g.url}, nil, []string{simToken}, 0, ""},
		{"nowhere a token", nil, []string{"--addr", g.url}, nil, []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}, 1,
			"lintel: no admin token: give --token or LINTEL_TOKEN (a token of the config's [[api.tokens]]; `lintel token new` makes one), or start `lintel run --sim` here once to create lintel-data/admin.token (looked in " + filepath.Join(dir, "a") + ", " + filepath.Join(dir, "b") + ")\n"},
		{"LINTEL_CONFIG names no file", map[string]string{"LINTEL_CONFIG": filepath.Join(dir, "gone.toml")}, nil, load(cli.Settings{}, nil), nil, 1,
			"lintel: config " + filepath.Join(dir, "gone.toml") + " (LINTEL_CONFIG) does not exist\n"},
		{"a config that does not load", map[string]string{"LINTEL_CONFIG": config}, nil, load(cli.Settings{}, errors.New("lintel.toml:3: readers: no reader is configured")), nil, 1,
			"lintel: lintel.toml:3: readers: no reader is configured\nlintel: the CLI reads the API address and the admin token's place from " + config + ": fix it (lintel config check " + config + "), or give --addr and --token\n"},
		{"a config that cannot be read", map[string]string{"LINTEL_CONFIG": config}, nil, load(cli.Settings{}, fmt.Errorf("config: %w", fs.ErrPermission)), nil, 1,
			"lintel: cannot read the gateway's config " + config + ": permission denied: run as root (sudo lintel ...), or give --addr and --token\n"},
		{"flags need no config", map[string]string{"LINTEL_CONFIG": config}, []string{"--addr", g.url, "--token", g.token},
			func(string) (cli.Settings, error) { t.Error("read the config"); return cli.Settings{}, nil }, nil, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) string { return tc.env[k] }
			for _, k := range []string{"LINTEL_ADDR", "LINTEL_TOKEN", "LINTEL_TOKEN_FILE"} {
				t.Setenv(k, tc.env[k])
			}
			var out, errOut bytes.Buffer
			base := cli.Globals{LoadConfig: tc.load, Getenv: env, TokenFiles: tc.files}
			if base.TokenFiles == nil {
				base.TokenFiles = []string{}
			}
			code := cli.RunWith(context.Background(), base, append(tc.args, "status"), &out, &errOut)
			if code != tc.code || (tc.stderr == "" && errOut.Len() > 0) || !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("got exit %d stderr %q, want %d and %q", code, errOut.String(), tc.code, tc.stderr)
			}
		})
	}
	if diff := cmp.Diff([]string{"lintel-data/admin.token", "/var/lib/lintel/admin.token"}, cli.DefaultTokenFiles); diff != "" {
		t.Errorf("the data directories (-want +got):\n%s", diff)
	}
}
