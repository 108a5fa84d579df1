package gateway

import (
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// clockFloor is a date the gateway's clock is certainly past once it has
// been set: a Pi without a real-time clock boots in 1970 until NTP answers.
var clockFloor = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clockRecheck is how often an untrusted clock is asked again.
const clockRecheck = time.Second

// clockTrust remembers whether the wall clock can be believed. Every
// journal append asks, so the answer is cached: once the clock is
// synchronised it is taken to stay so, and until then the kernel is asked
// at most once per clockRecheck. Safe for concurrent use.
type clockTrust struct {
	trusted atomic.Bool
	checked atomic.Int64 // Unix nanoseconds of the last check while untrusted
}

// Trusted reports whether the clock is past the floor and the kernel (or
// systemd-timesyncd) says it is synchronised. Events stamped while it is
// false carry clock_untrusted, so a portal knows their times are an order,
// not dates.
func (c *clockTrust) Trusted() bool {
	if c.trusted.Load() {
		return true
	}
	now := time.Now()
	last := c.checked.Load()
	if last != 0 && now.UnixNano()-last < int64(clockRecheck) {
		return false
	}
	c.checked.Store(now.UnixNano())
	if clockSynchronised(now) {
		c.trusted.Store(true)
		return true
	}
	return false
}

func clockSynchronised(now time.Time) bool {
	if now.Before(clockFloor) {
		return false
	}
	if _, err := os.Stat("/run/systemd/timesync/synchronized"); err == nil {
		return true
	}
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	return err == nil && state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
}
