// Package clock is the time seam of Lintel's door and reader logic.
//
// Door timing (unlock pulses, held-open alarms, debounce, LED patterns) is
// written against Clock so tests can drive it with clocktest.Fake instead
// of sleeping. Real returns the wall clock.
package clock

import "time"

// Clock tells the time and runs functions later. Implementations are safe
// for concurrent use; f runs on a goroutine of the clock's choosing, never
// while the caller of AfterFunc holds the clock's internal locks.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop cancels the call; it reports whether the call was still pending.
	Stop() bool
}

// Real returns the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

var _ Clock = realClock{}
