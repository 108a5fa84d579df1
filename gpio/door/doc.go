// Package door drives one door: its strike relay, the reader's green and
// red LEDs and beeper, and watches its door contact and request-to-exit
// (REX) button.
//
// # Relay
//
// The relay is configured active-high or active-low, and fail-secure (the
// default: energise to unlock, an electric strike that stays locked without
// power) or fail-safe (energise to lock, a maglock). An unlock is always
// timed (UnlockTime, 5 s by default, at most MaxUnlock) and is never
// latched: no call leaves the door unlocked without a timer to relock it.
// New drives the relay to its locked state before it returns; Secure drives
// it locked again and cancels every timer, and the owner calls it on every
// shutdown path. The door relocks as soon as it closes after being opened.
//
// A door mode that stands the door open (a schedule's "unlocked", an
// override) holds the strike released with KeepUnlocked(true) until
// KeepUnlocked(false): the one untimed unlock, and it lives only in the
// process, so Secure (on every exit path) and a crash both leave the door
// locked, and the gateway holds it open again on restart if the mode still
// says so. Meanwhile opening is not forced and staying open is not held
// open. Lock ends every unlock at once, timed or kept, as a lockdown must.
//
// # Door contact and REX
//
// Both inputs are debounced (a change counts once it has been stable for
// Debounce, 50 ms by default) and produce events: door.opened, door.closed,
// door.rex, door.forced (opened while locked and not within a REX window),
// door.held_prealarm and door.held (open for HeldPreAlarm and HeldOpen,
// 20 s and 30 s by default). A REX press unlocks the door for UnlockTime
// (unless REXNoUnlock) and shunts the forced-open alarm meanwhile.
//
// # Indicators
//
// Indicate plays a pattern on the reader's LEDs and beeper: grant (green and
// a beep), deny (red and two beeps), waiting for a PIN (flashing green) and
// lockout (flashing red with a chirp). A new pattern replaces the current
// one; at its end the indicators go dark.
//
// # Time and concurrency
//
// Every timer runs on the injected clock.Clock, so tests use
// clocktest.Fake and never sleep. A Door is safe for concurrent use: the
// gateway's decision loop, the input watchers in Run and the clock's timers
// all call into it. Events are delivered to OnEvent after the door's lock is
// released, from whichever goroutine caused them.
package door
