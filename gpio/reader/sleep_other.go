//go:build !linux

package reader

import "time"

// sleepPrecisely sleeps for d, but at most preciseWait. Off Linux, where
// Lintel does not run doors, a Go timer does.
func sleepPrecisely(d time.Duration) {
	if d > 0 {
		time.Sleep(min(d, preciseWait))
	}
}
