package pkgtest

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sandbox is a temporary root that dpkg installs into, with stubs for the
// commands that would reach the host's running systemd or udev.
type sandbox struct {
	root  string // the dpkg root
	stubs string // directory put first on the maintainer scripts' PATH
	log   string // the stubs append one line per call here
	real  string // the real systemctl, for calls on the sandbox (--root=)
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &sandbox{
		root:  filepath.Join(dir, "root"),
		stubs: filepath.Join(dir, "stubs"),
		log:   filepath.Join(dir, "calls.log"),
	}
	real, err := exec.LookPath("systemctl")
	if err != nil {
		t.Fatal(err)
	}
	s.real = real
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc"} {
		mustMkdir(t, filepath.Join(s.root, d))
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		mustWrite(t, filepath.Join(s.root, f), "", 0o644)
	}
	mustMkdir(t, s.stubs)
	// systemctl --root= acts on the sandbox for real; any other call would
	// reach the host's manager, so it is only recorded.
	mustWrite(t, filepath.Join(s.stubs, "systemctl"), `#!/bin/sh
echo "systemctl $*" >>'`+s.log+`'
case "$*" in *--root=*) exec '`+s.real+`' "$@" ;; esac
exit 0
`, 0o755)
	mustWrite(t, filepath.Join(s.stubs, "udevadm"), `#!/bin/sh
echo "udevadm $*" >>'`+s.log+`'
`, 0o755)
	return s
}

// dpkg runs dpkg on the sandbox and returns the stubbed calls the maintainer
// scripts made, with the sandbox's path written as $ROOT.
func (s *sandbox) dpkg(t *testing.T, args ...string) []string {
	t.Helper()
	if err := os.Remove(s.log); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	full := append([]string{"--root=" + s.root, "--force-script-chrootless", "--force-depends", "--log=/dev/null"}, args...)
	cmd := exec.Command("dpkg", full...)
	cmd.Env = append(os.Environ(), "PATH="+s.stubs+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	b, err := os.ReadFile(s.log)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(strings.ReplaceAll(string(b), s.root, "$ROOT")), "\n")
}

// systemctl runs the real systemctl on the sandbox.
func (s *sandbox) systemctl(t *testing.T, args ...string) {
	t.Helper()
	full := append([]string{"--root=" + s.root}, args...)
	if out, err := exec.Command(s.real, full...).CombinedOutput(); err != nil {
		t.Fatalf("systemctl %s: %v\n%s", strings.Join(full, " "), err, out)
	}
}

func (s *sandbox) path(p string) string { return filepath.Join(s.root, p) }

// account is the lintel user as the sandbox's /etc/passwd and /etc/group see it.
type account struct {
	UID, GID   int
	Home       string
	GPIOMember bool
}

func (s *sandbox) account(t *testing.T) account {
	t.Helper()
	var a account
	found := false
	for _, fields := range colonFile(t, s.path("etc/passwd")) {
		if fields[0] == "lintel" && len(fields) == 7 {
			a.UID, _ = strconv.Atoi(fields[2])
			a.GID, _ = strconv.Atoi(fields[3])
			a.Home = fields[5]
			found = true
		}
	}
	if !found {
		t.Fatalf("no user lintel in the sandbox's /etc/passwd")
	}
	for _, fields := range colonFile(t, s.path("etc/group")) {
		if fields[0] == "gpio" && len(fields) == 4 {
			a.GPIOMember = slices.Contains(strings.Split(fields[3], ","), "lintel")
		}
	}
	return a
}

// node is what the checks want of an installed path.
type node struct {
	Exists   bool
	Mode     fs.FileMode
	UID, GID int
}

func (s *sandbox) stat(t *testing.T, p string) node {
	t.Helper()
	fi, err := os.Lstat(s.path(p))
	if errors.Is(err, fs.ErrNotExist) {
		return node{}
	}
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return node{Exists: true, Mode: fi.Mode() & (fs.ModePerm | fs.ModeDir | fs.ModeSymlink), UID: int(st.Uid), GID: int(st.Gid)}
}

const wants = "etc/systemd/system/multi-user.target.wants/lintel.service"

func TestLifecycle(t *testing.T) {
	dir := packages(t)
	requireCommands(t, "dpkg", "systemd-sysusers", "systemd-tmpfiles", "systemctl")
	if os.Geteuid() != 0 {
		t.Fatal("the lifecycle test installs the package into a temporary root with dpkg --root, which needs root")
	}
	// The maintainer scripts are the same in every package; the amd64
	// one unpacks anywhere, and its binary is never run.
	deb := debFile(t, dir, "amd64")
	s := newSandbox(t)

	// installed checks what every installed state shares.
	installed := func(t *testing.T) account {
		t.Helper()
		a := s.account(t)
		if diff := cmp.Diff(account{UID: a.UID, GID: a.GID, Home: "/var/lib/lintel", GPIOMember: true}, a); diff != "" || a.UID == 0 {
			t.Errorf("user lintel (-want +got):\n%s", diff)
		}
		got := map[string]node{
			"/var/lib/lintel":         s.stat(t, "var/lib/lintel"),
			"/etc/lintel/lintel.toml": s.stat(t, "etc/lintel/lintel.toml"),
		}
		want := map[string]node{
			"/var/lib/lintel":         {Exists: true, Mode: fs.ModeDir | 0o750, UID: a.UID, GID: a.GID},
			"/etc/lintel/lintel.toml": {Exists: true, Mode: 0o640, UID: 0, GID: a.GID},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("data dir and config (-want +got):\n%s", diff)
		}
		return a
	}
	enabled := func(t *testing.T, want bool) {
		t.Helper()
		if got := s.stat(t, wants).Exists; got != want {
			t.Errorf("enabled (%s exists): got %v, want %v", wants, got, want)
		}
	}

	steps := []struct {
		name  string
		setup func(t *testing.T)
		dpkg  []string
		calls []string
		check func(t *testing.T)
	}{
		{
			name:  "first install enables but does not start",
			dpkg:  []string{"--install", deb},
			calls: []string{"systemctl --root=$ROOT is-enabled lintel.service", "systemctl --root=$ROOT enable lintel.service"},
			check: func(t *testing.T) {
				installed(t)
				enabled(t, true)
				if !s.stat(t, "usr/bin/lintel").Exists {
					t.Error("/usr/bin/lintel missing")
				}
			},
		},
		{
			name:  "upgrade under a running systemd restarts a running service",
			setup: func(t *testing.T) { mustMkdir(t, s.path("run/systemd/system")) },
			dpkg:  []string{"--install", deb},
			calls: []string{
				"udevadm trigger --subsystem-match=gpio --action=change",
				"systemctl daemon-reload",
				"systemctl --root=$ROOT is-enabled lintel.service",
				"systemctl --root=$ROOT enable lintel.service",
				"systemctl try-restart lintel.service",
			},
			check: func(t *testing.T) {
				installed(t)
				enabled(t, true)
			},
		},
		{
			name: "remove stops and disables, keeps config, data and user",
			setup: func(t *testing.T) {
				mustWrite(t, s.path("var/lib/lintel/KEEP"), "doors", 0o600)
			},
			dpkg: []string{"--remove", "lintel"},
			calls: []string{
				"systemctl stop lintel.service",
				"systemctl --root=$ROOT disable lintel.service",
				"systemctl daemon-reload",
			},
			check: func(t *testing.T) {
				installed(t)
				enabled(t, false)
				if s.stat(t, "usr/bin/lintel").Exists {
					t.Error("/usr/bin/lintel survived removal")
				}
				if !s.stat(t, "var/lib/lintel/KEEP").Exists {
					t.Error("removal deleted the data in /var/lib/lintel")
				}
			},
		},
		{
			name:  "reinstall leaves a masked unit masked",
			setup: func(t *testing.T) { s.systemctl(t, "mask", "lintel.service") },
			dpkg:  []string{"--install", deb},
			calls: []string{
				"udevadm trigger --subsystem-match=gpio --action=change",
				"systemctl daemon-reload",
				"systemctl --root=$ROOT is-enabled lintel.service",
				"systemctl try-restart lintel.service",
			},
			check: func(t *testing.T) {
				installed(t)
				enabled(t, false)
				if !s.stat(t, "var/lib/lintel/KEEP").Exists {
					t.Error("reinstalling lost the data in /var/lib/lintel")
				}
			},
		},
		{
			name: "purge deletes data, device key and config, keeps the user",
			setup: func(t *testing.T) {
				s.systemctl(t, "unmask", "lintel.service")
				mustWrite(t, s.path("etc/lintel/device.key"), "0123456789abcdef0123456789abcdef", 0o600)
			},
			dpkg: []string{"--purge", "lintel"},
			calls: []string{
				"systemctl stop lintel.service",
				"systemctl --root=$ROOT disable lintel.service",
				"systemctl daemon-reload",
				"systemctl daemon-reload",
			},
			check: func(t *testing.T) {
				for _, p := range []string{"var/lib/lintel", "etc/lintel", "usr/bin/lintel", wants} {
					if s.stat(t, p).Exists {
						t.Errorf("/%s survived purge", p)
					}
				}
				s.account(t)
			},
		},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			if st.setup != nil {
				st.setup(t)
			}
			calls := s.dpkg(t, st.dpkg...)
			if diff := cmp.Diff(st.calls, calls); diff != "" {
				t.Errorf("calls to the running system (-want +got):\n%s", diff)
			}
			st.check(t)
		})
		if !ok {
			return // later steps build on this one
		}
	}
}

func colonFile(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rows = append(rows, strings.Split(sc.Text(), ":"))
	}
	return rows
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
