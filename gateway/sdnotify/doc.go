// Package sdnotify tells systemd how the gateway is doing, over the
// notification socket of a Type=notify unit (sd_notify(3)).
//
// # Protocol
//
// systemd passes the socket's address in $NOTIFY_SOCKET: a file system path
// ("/run/systemd/notify") or, with a leading '@', a name in the abstract
// socket namespace. Each notification is one datagram of newline-separated
// VAR=value assignments. Lintel uses four of them:
//
//	READY=1     startup is complete; systemd marks the unit active
//	STOPPING=1  shutdown has begun
//	WATCHDOG=1  the service is healthy; restarts the watchdog timer
//	STATUS=...  one line of text that `systemctl status lintel` shows
//
// When $NOTIFY_SOCKET is unset (a shell, a test, `lintel run --sim` on a
// laptop) every method is a no-op that returns nil, so callers never branch on
// whether they run under systemd.
//
// The watchdog is armed by WatchdogSec= in the unit; systemd then sets
// $WATCHDOG_USEC to the interval in microseconds and $WATCHDOG_PID to the
// process the watchdog is meant for. [Notifier.WatchdogInterval] reports the
// interval, or zero when no watchdog is meant for this process. A service
// should ping at half the interval: a ping that arrives late gets the process
// killed with SIGABRT (which makes the Go runtime print every goroutine's
// stack to the journal) and restarted.
//
// # How the gateway must use it
//
// Readiness means the doors are operational, not that the process is up:
// send [Notifier.Ready] only after every strike relay has been driven to its
// locked state, the store is open and the decision loop is taking frames.
// Until then systemd keeps the unit in "activating", and units ordered after
// lintel.service wait.
//
// Watchdog pings come only from the decision loop's health check, never from
// a free-running ticker of their own. A ticker goroutine keeps ticking while
// the decision loop is deadlocked, which would hide exactly the hang the
// watchdog exists to catch. The health check should ask the decision loop to
// answer (a probe sent through the same channel as frames, answered by the
// loop itself) and call [Notifier.Watchdog] only when the answer arrives in
// time. If the loop is unhealthy the check sends nothing and lets systemd
// restart the process.
//
// On shutdown, send [Notifier.Stopping] as soon as the signal arrives, before
// draining components, so that systemd reports "deactivating" rather than a
// hang. [Notifier.Status] carries short operator-facing text ("3 doors
// operational", "store: opening"); it must never carry a PIN, a key press or
// a token.
//
// # Concurrency
//
// A Notifier is safe for concurrent use. Each notification opens its own
// datagram socket, sends one datagram and closes it, as sd_notify(3) does, so
// there is no connection to keep or to lose when systemd restarts.
package sdnotify
