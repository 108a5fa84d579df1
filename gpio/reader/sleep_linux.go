package reader

import (
	"time"

	"golang.org/x/sys/unix"
)

// sleepPrecisely blocks the calling goroutine's thread for d, but at most
// preciseWait, on the kernel's high-resolution timer (nanosleep), which
// wakes within tens of microseconds where a Go timer may take a
// millisecond.
func sleepPrecisely(d time.Duration) {
	if d <= 0 {
		return
	}
	ts := unix.NsecToTimespec(min(d, preciseWait).Nanoseconds())
	for {
		var rem unix.Timespec
		if err := unix.Nanosleep(&ts, &rem); err != unix.EINTR {
			return
		}
		ts = rem
	}
}
