package cli_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/lintel-access/lintel/api/cli"
)

// grammar is the API commands' kong model, as the lintel binary embeds it.
func grammar(t *testing.T) *kong.Application {
	t.Helper()
	var g struct {
		cli.Globals
		cli.Commands
	}
	k, err := kong.New(&g, kong.Name("lintel"), kong.Description("Lintel access-control gateway."))
	if err != nil {
		t.Fatal(err)
	}
	return k.Model
}

func script(t *testing.T, shell string) string {
	t.Helper()
	var b bytes.Buffer
	if err := cli.Completion(&b, grammar(t), shell); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "lintel."+shell)
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func needShell(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed; build/test installs Debian's %s to check its completion", name, name)
	}
}

// completions are what a shell offers after the words typed so far.
var completions = []struct {
	words []string // the last one is being typed
	want  []string
}{
	{[]string{"u"}, []string{"user"}},
	{[]string{"user", ""}, []string{"add", "list", "show", "enable", "disable", "rm"}},
	{[]string{"--addr", "http://gw:8080", "door", "lo"}, []string{"lockdown", "lock"}},
	{[]string{"door", "lock", "--al"}, []string{"--all"}},
	{[]string{"door", "unlock", "front", "--u"}, []string{"--until"}},
	{[]string{"sim", "door", "front", ""}, []string{"open", "closed"}},
	{[]string{"card", "enrol", "ann", "--r"}, []string{"--reader"}},
	{[]string{"user", "add", "ann", "--no-o"}, []string{"--no-override"}},
}

func TestBashCompletion(t *testing.T) {
	needShell(t, "bash")
	file := script(t, "bash")
	for _, tc := range completions {
		t.Run(strings.Join(tc.words, " "), func(t *testing.T) {
			var words strings.Builder
			for _, w := range append([]string{"lintel"}, tc.words...) {
				words.WriteString(" '" + w + "'")
			}
			out, err := exec.Command("bash", "-c", "source "+file+"; COMP_WORDS=("+words.String()+"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _lintel; printf '%s\\n' \"${COMPREPLY[@]}\"").CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if got := strings.Fields(string(out)); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if out, err := exec.Command("bash", "-c", "source "+file+"; complete -p lintel").CombinedOutput(); err != nil || !strings.Contains(string(out), "-F _lintel lintel") {
		t.Errorf("the script does not register its function for lintel: %s %v", out, err)
	}
}

func TestZshCompletion(t *testing.T) {
	needShell(t, "zsh")
	file := script(t, "zsh")
	if b, _ := os.ReadFile(file); !strings.HasPrefix(string(b), "#compdef lintel\n") {
		t.Fatalf("the zsh script is not a #compdef file:\n%.200s", b)
	}
	for _, tc := range completions {
		t.Run(strings.Join(tc.words, " "), func(t *testing.T) {
			var words strings.Builder
			for _, w := range append([]string{"lintel"}, tc.words...) {
				words.WriteString(" '" + w + "'")
			}
			// compadd and _files stand in for zsh's completion system,
			// which needs a terminal: they print what would be offered.
			prog := `compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@" }; _files() { print -r -- "<files>" }; ` +
				`words=(` + words.String() + `); CURRENT=${#words}; PREFIX=${words[CURRENT]}; source ` + file
			out, err := exec.Command("zsh", "-c", prog).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			var got []string
			for _, w := range strings.Fields(string(out)) {
				if strings.HasPrefix(w, tc.words[len(tc.words)-1]) {
					got = append(got, w) // zsh filters by the prefix itself
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFishCompletion(t *testing.T) {
	needShell(t, "fish")
	file := script(t, "fish")
	for _, tc := range completions {
		t.Run(strings.Join(tc.words, " "), func(t *testing.T) {
			line := "lintel " + strings.Join(tc.words, " ")
			out, err := exec.Command("fish", "--no-config", "-c", "source "+file+"; complete -C '"+line+"'").CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if w, _, _ := strings.Cut(l, "\t"); w != "" {
					got = append(got, w)
				}
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || g == w
				}
				if !found {
					t.Errorf("got %q, want it to offer %q", got, w)
				}
			}
			for _, g := range got {
				if !strings.HasPrefix(g, tc.words[len(tc.words)-1]) {
					t.Errorf("offers %q, which does not start with what was typed", g)
				}
			}
		})
	}
}

func TestCompletionOfAnUnknownShell(t *testing.T) {
	var b bytes.Buffer
	err := cli.Completion(&b, grammar(t), "tcsh")
	if code := cli.Report(&b, err); code != cli.ExitUsage || !strings.Contains(b.String(), `"tcsh" is not a shell this knows (bash, zsh, fish)`) {
		t.Errorf("got exit %d, %q", code, b.String())
	}
}

// TestManPage: the man page documents every command and flag, the
// environment, the files and the exit statuses, and groff reads it
// without a warning.
func TestManPage(t *testing.T) {
	var b bytes.Buffer
	app := grammar(t)
	if err := cli.ManPage(&b, app, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	var walk func(n *kong.Node, path string)
	walk = func(n *kong.Node, path string) {
		for _, f := range n.Flags {
			if !f.Hidden && !strings.Contains(page, `\fB\-\-`+strings.ReplaceAll(f.Name, "-", `\-`)+`\fR`) {
				t.Errorf("flag --%s of %q is not in the man page", f.Name, path)
			}
		}
		for _, c := range n.Children {
			p := strings.TrimSpace(path + " " + c.Name)
			if len(c.Children) == 0 && !strings.Contains(page, `.SS "lintel `+p) {
				t.Errorf("command %q is not in the man page", p)
			}
			walk(c, p)
		}
	}
	walk(app.Node, "")
	for _, want := range []string{".TH LINTEL 1", "lintel 1.2.3", ".SH EXIT STATUS", "LINTEL_CONFIG", `/etc/lintel/lintel.toml`, `/var/lib/lintel/admin.token`} {
		if !strings.Contains(page, want) {
			t.Errorf("the man page lacks %q", want)
		}
	}
	if _, err := exec.LookPath("groff"); err != nil {
		t.Fatal("groff is not installed (Debian's groff-base) to check the man page")
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(page)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff: %v\n%s", err, out)
	}
}
