package sdnotify_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/sdnotify"
	"github.com/lintel-access/lintel/gateway/sdnotify/sdnotifytest"
)

var newCases = []struct {
	name     string
	env      sdnotify.Env
	enabled  bool
	watchdog time.Duration
	err      string // substring; empty means no error
}{
	{name: "unset", env: sdnotify.Env{}},
	{name: "path", env: sdnotify.Env{Socket: "/run/systemd/notify"}, enabled: true},
	{name: "abstract", env: sdnotify.Env{Socket: "@/org/freedesktop/systemd1/notify"}, enabled: true},
	{name: "relative path", env: sdnotify.Env{Socket: "run/notify"}, err: "neither an absolute path"},
	{name: "bare at", env: sdnotify.Env{Socket: "@"}, err: "names no socket"},
	{
		name:     "watchdog for this process",
		env:      sdnotify.Env{Socket: "/run/n", WatchdogUSec: "10000000", WatchdogPID: "42", PID: 42},
		enabled:  true,
		watchdog: 10 * time.Second,
	},
	{
		name:     "watchdog without pid",
		env:      sdnotify.Env{Socket: "/run/n", WatchdogUSec: "1500"},
		enabled:  true,
		watchdog: 1500 * time.Microsecond,
	},
	{
		name:    "watchdog for another process",
		env:     sdnotify.Env{Socket: "/run/n", WatchdogUSec: "10000000", WatchdogPID: "7", PID: 42},
		enabled: true,
	},
	{
		name: "watchdog without socket",
		env:  sdnotify.Env{WatchdogUSec: "10000000", PID: 42},
	},
	{name: "watchdog zero", env: sdnotify.Env{Socket: "/run/n", WatchdogUSec: "0"}, err: "must be positive"},
	{name: "watchdog negative", env: sdnotify.Env{Socket: "/run/n", WatchdogUSec: "-5"}, err: "not a whole number"},
	{name: "watchdog unit", env: sdnotify.Env{Socket: "/run/n", WatchdogUSec: "10s"}, err: "WATCHDOG_USEC"},
	{name: "watchdog overflow", env: sdnotify.Env{Socket: "/run/n", WatchdogUSec: "9223372036854775807"}, err: "too long"},
	{name: "watchdog pid junk", env: sdnotify.Env{Socket: "/run/n", WatchdogUSec: "5", WatchdogPID: "me"}, err: "WATCHDOG_PID"},
	{name: "watchdog pid zero", env: sdnotify.Env{Socket: "/run/n", WatchdogUSec: "5", WatchdogPID: "0"}, err: "not a process id"},
}

func TestNew(t *testing.T) {
	for _, tc := range newCases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := sdnotify.New(tc.env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("New(%+v) error = %v, want one containing %q", tc.env, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v): %v", tc.env, err)
			}
			if got := n.Enabled(); got != tc.enabled {
				t.Errorf("Enabled() = %v, want %v", got, tc.enabled)
			}
			if got := n.WatchdogInterval(); got != tc.watchdog {
				t.Errorf("WatchdogInterval() = %v, want %v", got, tc.watchdog)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	s := sdnotifytest.Listen(t)
	t.Setenv(sdnotify.EnvNotifySocket, s.Addr())
	t.Setenv(sdnotify.EnvWatchdogUSec, "4000000")
	t.Setenv(sdnotify.EnvWatchdogPID, strconv.Itoa(os.Getpid()))
	n, err := sdnotify.FromEnv()
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	if got, want := n.WatchdogInterval(), 4*time.Second; got != want {
		t.Errorf("WatchdogInterval() = %v, want %v", got, want)
	}
	if err := n.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if diff := cmp.Diff([]string{"READY=1"}, s.Pending(t)); diff != "" {
		t.Errorf("datagrams (-want +got):\n%s", diff)
	}

	t.Setenv(sdnotify.EnvWatchdogPID, strconv.Itoa(os.Getpid()+1))
	n, err = sdnotify.FromEnv()
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	if got := n.WatchdogInterval(); got != 0 {
		t.Errorf("WatchdogInterval() with another process's WATCHDOG_PID = %v, want 0", got)
	}
}

func TestSend(t *testing.T) {
	sockets := []struct {
		name   string
		listen func(testing.TB) *sdnotifytest.Socket
	}{
		{"path", sdnotifytest.Listen},
		{"abstract", sdnotifytest.ListenAbstract},
	}
	for _, sock := range sockets {
		t.Run(sock.name, func(t *testing.T) {
			s := sock.listen(t)
			n := s.Notifier(t)
			steps := []struct {
				send func() error
				want string
			}{
				{func() error { return n.Status("store: opening") }, "STATUS=store: opening"},
				{n.Ready, "READY=1"},
				{n.Watchdog, "WATCHDOG=1"},
				{func() error { return n.Status("3 doors\noperational\r\nREADY=1") }, "STATUS=3 doors operational  READY=1"},
				{n.Stopping, "STOPPING=1"},
			}
			var want []string
			for _, st := range steps {
				if err := st.send(); err != nil {
					t.Fatalf("send %q: %v", st.want, err)
				}
				want = append(want, st.want)
			}
			if diff := cmp.Diff(want, s.Pending(t)); diff != "" {
				t.Errorf("datagrams (-want +got):\n%s", diff)
			}
			if got := s.Pending(t); got != nil {
				t.Errorf("second Pending() = %q, want nothing", got)
			}
		})
	}
}

func TestNoOp(t *testing.T) {
	var nilNotifier *sdnotify.Notifier
	notifiers := map[string]*sdnotify.Notifier{
		"nil":   nilNotifier,
		"zero":  {},
		"unset": mustNew(t, sdnotify.Env{WatchdogUSec: "1000000"}),
	}
	for name, n := range notifiers {
		t.Run(name, func(t *testing.T) {
			for i, err := range []error{n.Ready(), n.Watchdog(), n.Status("x"), n.Stopping()} {
				if err != nil {
					t.Errorf("notification %d: %v, want nil", i, err)
				}
			}
			if n.Enabled() {
				t.Error("Enabled() = true, want false")
			}
			if got := n.WatchdogInterval(); got != 0 {
				t.Errorf("WatchdogInterval() = %v, want 0", got)
			}
		})
	}
}

func TestSendFails(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone")
	n := mustNew(t, sdnotify.Env{Socket: missing})
	err := n.Ready()
	if err == nil {
		t.Fatal("Ready to a missing socket: nil error")
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("Ready error = %v, want it to wrap ENOENT", err)
	}
	if want := "sdnotify: send READY to " + missing; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Ready error = %q, want prefix %q", err, want)
	}
}

func mustNew(t *testing.T, env sdnotify.Env) *sdnotify.Notifier {
	t.Helper()
	n, err := sdnotify.New(env)
	if err != nil {
		t.Fatalf("New(%+v): %v", env, err)
	}
	return n
}

func FuzzNew(f *testing.F) {
	for _, tc := range newCases {
		f.Add(tc.env.Socket, tc.env.WatchdogUSec, tc.env.WatchdogPID, tc.env.PID)
	}
	f.Fuzz(func(t *testing.T, socket, usec, wpid string, pid int) {
		n, err := sdnotify.New(sdnotify.Env{Socket: socket, WatchdogUSec: usec, WatchdogPID: wpid, PID: pid})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "sdnotify: $") {
				t.Fatalf("error %q does not name the variable", err)
			}
			return
		}
		if got := n.Enabled(); got != (socket != "") {
			t.Fatalf("Enabled() = %v for socket %q", got, socket)
		}
		if d := n.WatchdogInterval(); d < 0 || (d > 0 && (socket == "" || usec == "")) {
			t.Fatalf("WatchdogInterval() = %v for socket %q, usec %q", d, socket, usec)
		}
	})
}

func BenchmarkWatchdog(b *testing.B) {
	s := sdnotifytest.Listen(b)
	n := s.Notifier(b)
	for i := 0; b.Loop(); i++ {
		if err := n.Watchdog(); err != nil {
			b.Fatal(err)
		}
		if i%8 == 7 {
			s.Pending(b) // a unixgram queue holds about ten datagrams
		}
	}
}
