package access

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// GuessBudget bounds PIN guessing across the whole gateway, on top of each
// reader's [Lockout]: an attacker who moves from keypad to keypad meets the
// same count. Every lockout, of a reader, a user or the gateway, doubles in
// length with each one that follows within StreakReset, up to MaxLockout.
type GuessBudget struct {
	// Attempts wrong PINs across all readers within Window lock every
	// keypad for Duration. Zero fields mean 20, 10 minutes and 5 minutes.
	Attempts int
	Window   time.Duration
	Duration time.Duration
	// MaxLockout caps a doubled lockout. Zero means an hour.
	MaxLockout time.Duration
	// StreakReset is how long without a lockout ends the doubling. Zero
	// means 24 hours.
	StreakReset time.Duration
}

// Defaults of GuessBudget fields left zero.
const (
	DefaultGuessAttempts   = 20
	DefaultGuessWindow     = 10 * time.Minute
	DefaultGuessDuration   = 5 * time.Minute
	DefaultMaxLockout      = time.Hour
	DefaultLockoutStreakTo = 24 * time.Hour
)

func (g GuessBudget) withDefaults() GuessBudget {
	g.Attempts = cmp.Or(g.Attempts, DefaultGuessAttempts)
	g.Window = cmp.Or(g.Window, DefaultGuessWindow)
	g.Duration = cmp.Or(g.Duration, DefaultGuessDuration)
	g.MaxLockout = cmp.Or(g.MaxLockout, DefaultMaxLockout)
	g.StreakReset = cmp.Or(g.StreakReset, DefaultLockoutStreakTo)
	return g
}

// lockout is the gateway-wide budget as a Lockout.
func (g GuessBudget) lockout() Lockout {
	return Lockout{Attempts: g.Attempts, Window: g.Window, Duration: g.Duration}
}

// Validate checks a budget's fields.
func (g GuessBudget) Validate() error {
	if g.Attempts < 0 || g.Window < 0 || g.Duration < 0 || g.MaxLockout < 0 || g.StreakReset < 0 {
		return fieldErr("", "guess budget values must not be negative")
	}
	return nil
}

// attempts counts wrong PINs in a sliding window and holds a lockout, and
// how many lockouts came one after another.
type attempts struct {
	times       []time.Time
	lockedUntil time.Time
	streak      int
	lastLockout time.Time
}

// locked reports whether a lockout is in force at now.
func (a *attempts) locked(now time.Time) bool { return now.Before(a.lockedUntil) }

// fail records a wrong PIN at now. When it starts a lockout it reports how
// long: l.Duration doubled for each lockout of the streak so far, at most
// max.
func (a *attempts) fail(now time.Time, l Lockout, g GuessBudget) (time.Duration, bool) {
	keep := a.times[:0]
	for _, t := range a.times {
		if now.Sub(t) < l.Window {
			keep = append(keep, t)
		}
	}
	a.times = append(keep, now)
	if len(a.times) < l.Attempts {
		return 0, false
	}
	a.times = a.times[:0]
	if !a.lastLockout.IsZero() && now.Sub(a.lastLockout) >= g.StreakReset {
		a.streak = 0
	}
	d := l.Duration
	for range a.streak {
		if d >= g.MaxLockout {
			break
		}
		d *= 2
	}
	d = min(d, max(g.MaxLockout, l.Duration))
	a.streak++
	a.lastLockout = now
	a.lockedUntil = now.Add(d)
	return d, true
}

// idle reports whether a holds nothing worth keeping at now.
func (a *attempts) idle(now time.Time, reset time.Duration) bool {
	return !a.locked(now) && len(a.times) == 0 && (a.streak == 0 || now.Sub(a.lastLockout) >= reset)
}

// AttemptState is a wrong-PIN counter as saved across restarts.
type AttemptState struct {
	Failures    []time.Time `json:"failures,omitempty"`
	LockedUntil time.Time   `json:"locked_until,omitzero"`
	Streak      int         `json:"streak,omitempty"`
	LastLockout time.Time   `json:"last_lockout,omitzero"`
}

func (a *attempts) state() AttemptState {
	return AttemptState{Failures: slices.Clone(a.times), LockedUntil: a.lockedUntil, Streak: a.streak, LastLockout: a.lastLockout}
}

func (s AttemptState) attempts() attempts {
	return attempts{times: slices.Clone(s.Failures), lockedUntil: s.LockedUntil, streak: s.Streak, lastLockout: s.LastLockout}
}

func (s AttemptState) empty() bool {
	return len(s.Failures) == 0 && s.LockedUntil.IsZero() && s.Streak == 0
}

// LockoutState is every wrong-PIN counter and lockout of an engine: what
// the gateway saves so that a restart does not hand a guesser a fresh
// budget.
type LockoutState struct {
	Readers map[string]AttemptState `json:"readers,omitempty"`
	Users   map[string]AttemptState `json:"users,omitempty"`
	Gateway AttemptState            `json:"gateway,omitzero"`
}

// Lockouts returns the engine's wrong-PIN counters and lockouts.
func (e *Engine) Lockouts() LockoutState {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := LockoutState{Gateway: e.gateway.state()}
	for name, rs := range e.readers {
		if st := rs.fails.state(); !st.empty() {
			if s.Readers == nil {
				s.Readers = map[string]AttemptState{}
			}
			s.Readers[name] = st
		}
	}
	for id, ua := range e.users {
		if st := ua.state(); !st.empty() {
			if s.Users == nil {
				s.Users = map[string]AttemptState{}
			}
			s.Users[id] = st
		}
	}
	return s
}

// RestoreLockouts gives back counters saved by an earlier run. Readers the
// engine does not have are ignored.
func (e *Engine) RestoreLockouts(s LockoutState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gateway = s.Gateway.attempts()
	for _, name := range slices.Sorted(maps.Keys(s.Readers)) {
		if rs, ok := e.readers[name]; ok {
			rs.fails = s.Readers[name].attempts()
		}
	}
	for id, st := range s.Users {
		a := st.attempts()
		e.users[id] = &a
	}
}
