package gateway

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lintel-access/lintel/gateway/access"
)

// clockFloor is a date the gateway's clock is certainly past once it has
// been set: a Pi without a real-time clock boots in 1970 until NTP answers.
var clockFloor = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock trust timings.
const (
	// clockRecheck is how often an unsynchronised clock asks the kernel
	// again.
	clockRecheck = time.Second
	// clockSaveEvery bounds the writes of the latest trusted time: one a
	// minute at most, a few hundred kilobytes a year on the SD card.
	clockSaveEvery = time.Minute
	// clockBehindSlack is how far the wall clock may read behind the
	// latest trusted time before it is untrusted: a small step back by
	// NTP is not a power cut.
	clockBehindSlack = 2 * time.Minute
)

// clockTrust decides whether the wall clock can be believed. It is trusted
// once the kernel (or systemd-timesyncd) has said it is synchronised since
// boot, and while it reads no earlier than the latest trusted time the
// gateway has seen, which it persists (at most once a minute) so that a Pi
// that comes back from a power cut at an old time knows it. The time rules
// of access policy read the result (access.ClockState); so does every
// journal append, which is why Trusted is one atomic load.
//
// Safe for concurrent use.
type clockTrust struct {
	now    func() time.Time
	synced func(now time.Time) bool // the kernel's synchronised flag
	save   func(t time.Time) error  // persists the latest trusted time

	trusted atomic.Bool

	mu sync.Mutex // guards the fields below
	// syncedOnce latches the kernel's answer: a clock once synchronised
	// keeps running right without NTP for the length of a run.
	syncedOnce  bool
	asked       time.Time // when the kernel was last asked, while it said no
	lastTrusted time.Time // the latest trusted time, as loaded or seen
	saved       time.Time // when lastTrusted was last saved
	state       access.ClockState
	refreshed   bool // refresh has run once
}

// newClockTrust returns a clock trust on the real clock and the kernel's
// flag; save persists the latest trusted time, last is the one persisted
// before (zero for none).
func newClockTrust(last time.Time, save func(time.Time) error) *clockTrust {
	return &clockTrust{now: time.Now, synced: kernelSynchronised, save: save, lastTrusted: last, saved: last}
}

// restore sets the latest trusted time persisted by an earlier run.
func (c *clockTrust) restore(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.lastTrusted) {
		c.lastTrusted, c.saved = t, t
	}
}

// Trusted reports the answer of the last refresh. Events stamped while it
// is false carry clock_untrusted, so a portal knows their times are an
// order, not dates.
func (c *clockTrust) Trusted() bool { return c.trusted.Load() }

// refresh asks again and returns the clock's state, and whether its trust
// changed since the last refresh (the first refresh counts as a change). It saves the latest trusted time when a
// minute has passed since the last save. A failed save is returned, the
// state is still right.
func (c *clockTrust) refresh() (access.ClockState, bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.syncedOnce && (c.asked.IsZero() || now.Sub(c.asked) >= clockRecheck || now.Before(c.asked)) {
		c.asked = now
		c.syncedOnce = !now.Before(clockFloor) && c.synced(now)
	}
	trusted := c.syncedOnce && !now.Before(clockFloor) && !now.Before(c.lastTrusted.Add(-clockBehindSlack))
	var err error
	if trusted {
		if now.After(c.lastTrusted) {
			c.lastTrusted = now
		}
		if now.Sub(c.saved) >= clockSaveEvery || now.Before(c.saved) {
			c.saved = now
			err = c.save(now)
		}
	}
	changed := trusted != c.state.Trusted || !c.refreshed
	c.refreshed = true
	c.state = access.ClockState{Trusted: trusted, LastTrusted: c.lastTrusted}
	c.trusted.Store(trusted)
	return c.state, changed, err
}

// kernelSynchronised asks systemd-timesyncd's mark, then the kernel's NTP
// state, whether the clock has been synchronised.
func kernelSynchronised(time.Time) bool {
	if _, err := os.Stat("/run/systemd/timesync/synchronized"); err == nil {
		return true
	}
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	return err == nil && state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
}
