package gateway

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// clockFloor is a date the gateway's clock is certainly past once it has
// been set: a Pi without a real-time clock boots in 1970 until NTP answers.
var clockFloor = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clockTrusted reports whether the wall clock can be believed: it is past
// the floor and the kernel (or systemd-timesyncd) says it is synchronised.
// Events stamped while it is false carry clock_untrusted, so a portal knows
// their times are an order, not dates.
func clockTrusted() bool {
	if time.Now().Before(clockFloor) {
		return false
	}
	if _, err := os.Stat("/run/systemd/timesync/synchronized"); err == nil {
		return true
	}
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	return err == nil && state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
}
