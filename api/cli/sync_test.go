package cli_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestSyncCommands: `lintel sync status` shows the revision, and `lintel
// sync reset` sets it back, saying from where to where; a reset forward is
// refused with the API's error.
func TestSyncCommands(t *testing.T) {
	g := newGateway(t)
	if res, err := g.backend.HandleChanges(context.Background(), "portal", []byte(`{"revision":7}`)); err != nil || res.Status != "applied" {
		t.Fatalf("seed: %+v %v", res, err)
	}
	steps := []struct {
		args   []string
		code   int
		stdout string // a regular expression
		stderr string
	}{
		{[]string{"sync", "status"}, 0, `^sync revision 7: 0 users, 0 credentials, 0 PINs; digest \n$`, ""},
		{[]string{"sync", "reset", "--revision", "9"}, 1, `^$`, `^lintel: invalid: revision: 9 is above the current revision 7`},
		{[]string{"sync", "reset", "--revision", "3"}, 0, `^reset the sync revision from 7 to 3; the table is kept, and the portal resends from there\nsync revision 3: `, ""},
		{[]string{"sync", "reset"}, 0, `^reset the sync revision from 3 to 0;`, ""},
		{[]string{"sync", "reset", "--revision", "-1"}, 2, ``, `--revision`},
	}
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
	if got := g.backend.SyncActors(); len(got) != 3 || got[1] != "reset by admin" {
		t.Errorf("actors: got %q, want the resets named after the admin token", got)
	}
}
