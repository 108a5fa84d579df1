package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variables set by systemd for the service's main process.
const (
	EnvNotifySocket = "NOTIFY_SOCKET"
	EnvWatchdogUSec = "WATCHDOG_USEC"
	EnvWatchdogPID  = "WATCHDOG_PID"
)

// sendTimeout bounds one notification. systemd drains its socket promptly;
// a send that blocks longer means the manager is wedged, and the gateway must
// not hang with it.
const sendTimeout = time.Second

// Env is what a Notifier is made from: the values of the environment variables
// systemd sets, as strings, so that callers and tests need not touch the
// process environment.
type Env struct {
	// Socket is $NOTIFY_SOCKET: an absolute path, or '@' followed by an
	// abstract socket name. Empty makes every notification a no-op.
	Socket string
	// WatchdogUSec is $WATCHDOG_USEC, the watchdog interval in microseconds.
	// Empty means no watchdog.
	WatchdogUSec string
	// WatchdogPID is $WATCHDOG_PID, the process the watchdog is meant for.
	// Empty means this process.
	WatchdogPID string
	// PID is this process's id, compared with WatchdogPID. Zero means
	// os.Getpid().
	PID int
}

// Notifier sends notifications to systemd. The zero value and a nil
// *Notifier are valid no-op notifiers.
type Notifier struct {
	addr     *net.UnixAddr // nil: not running under a Type=notify unit
	watchdog time.Duration // zero: no watchdog for this process
}

// FromEnv makes a Notifier from the process environment. It returns an error
// when systemd's variables are malformed; an unset $NOTIFY_SOCKET is not an
// error and gives a no-op Notifier.
func FromEnv() (*Notifier, error) {
	return New(Env{
		Socket:       os.Getenv(EnvNotifySocket),
		WatchdogUSec: os.Getenv(EnvWatchdogUSec),
		WatchdogPID:  os.Getenv(EnvWatchdogPID),
	})
}

// New makes a Notifier from env.
func New(env Env) (*Notifier, error) {
	n := &Notifier{}
	if env.Socket != "" {
		if env.Socket[0] != '/' && env.Socket[0] != '@' {
			return nil, fmt.Errorf("sdnotify: $%s: %q is neither an absolute path nor an abstract socket name ('@...')", EnvNotifySocket, env.Socket)
		}
		if len(env.Socket) == 1 {
			return nil, fmt.Errorf("sdnotify: $%s: %q names no socket", EnvNotifySocket, env.Socket)
		}
		// The net package turns a leading '@' into the NUL byte that
		// selects the abstract namespace.
		n.addr = &net.UnixAddr{Name: env.Socket, Net: "unixgram"}
	}
	d, err := watchdogInterval(env)
	if err != nil {
		return nil, err
	}
	n.watchdog = d
	return n, nil
}

func watchdogInterval(env Env) (time.Duration, error) {
	if env.WatchdogUSec == "" {
		return 0, nil
	}
	usec, err := strconv.ParseUint(env.WatchdogUSec, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("sdnotify: $%s: %q is not a whole number of microseconds", EnvWatchdogUSec, env.WatchdogUSec)
	}
	if usec == 0 {
		return 0, fmt.Errorf("sdnotify: $%s: the interval must be positive", EnvWatchdogUSec)
	}
	if usec > uint64(time.Duration(1<<63-1)/time.Microsecond) {
		return 0, fmt.Errorf("sdnotify: $%s: %s microseconds is too long an interval", EnvWatchdogUSec, env.WatchdogUSec)
	}
	if env.WatchdogPID != "" {
		pid, err := strconv.Atoi(env.WatchdogPID)
		if err != nil || pid <= 0 {
			return 0, fmt.Errorf("sdnotify: $%s: %q is not a process id", EnvWatchdogPID, env.WatchdogPID)
		}
		self := env.PID
		if self == 0 {
			self = os.Getpid()
		}
		if pid != self {
			// The watchdog belongs to another process (our parent
			// passed its environment on); it is not ours to feed.
			return 0, nil
		}
	}
	return time.Duration(usec) * time.Microsecond, nil
}

// Enabled reports whether notifications go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// WatchdogInterval returns the watchdog interval systemd expects pings within,
// or zero when no watchdog is armed for this process. Ping at half of it.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil || n.addr == nil {
		return 0
	}
	return n.watchdog
}

// Ready tells systemd that startup is complete: the doors are operational.
func (n *Notifier) Ready() error { return n.send("READY=1") }

// Stopping tells systemd that shutdown has begun.
func (n *Notifier) Stopping() error { return n.send("STOPPING=1") }

// Watchdog tells systemd that the service is healthy.
func (n *Notifier) Watchdog() error { return n.send("WATCHDOG=1") }

// Status sets the one line of status text systemd shows for the unit. Line
// breaks in text become spaces, so text can never inject another assignment.
func (n *Notifier) Status(text string) error {
	return n.send("STATUS=" + strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, text))
}

func (n *Notifier) send(state string) error {
	if !n.Enabled() {
		return nil
	}
	if err := n.write([]byte(state)); err != nil {
		name, _, _ := strings.Cut(state, "=")
		return fmt.Errorf("sdnotify: send %s to %s: %w", name, n.addr.Name, err)
	}
	return nil
}

func (n *Notifier) write(b []byte) error {
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
		return err
	}
	_, err = conn.Write(b)
	return err
}
