package gateway

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
)

// Access policy at run time: the gateway builds the engine for the
// configured site and zone, gives it the stored policy and whatever it
// kept across the last restart (first person in, lockouts, the latest
// trusted time), hands it every policy change the store commits, keeps it
// told about the clock, and carries out the door modes it works out. The
// rules themselves are the engine's (gateway/access); this file only
// wires them.

// Runtime records the gateway keeps in the store.
const (
	runtimeClock    = "clock"     // the latest trusted time, RFC 3339
	runtimeLockouts = "lockouts"  // access.LockoutState, JSON
	runtimeFirstIn  = "first-in." // + door: access.FirstIn, JSON
)

// Event types of the gateway's own.
const (
	typeClock      = "gateway.clock"
	typeDoorFault  = "door.fault"
	typePolicyWarn = "policy.warning"
)

// site is the configured doors and their readers, as the access engine and
// the store check policy against.
func (c *Config) site() access.Site {
	return access.NewSite(c.DoorNames(), c.accessReaders())
}

func (c *Config) accessReaders() []access.ReaderConfig {
	readers := make([]access.ReaderConfig, 0, len(c.Readers))
	for _, name := range c.ReaderNames() {
		readers = append(readers, c.AccessReader(name))
	}
	return readers
}

// openAccess builds the engine over the open store and gives it the policy
// and the state of the last run.
func (g *Gateway) openAccess() error {
	cfg := g.cfg
	loc, err := cfg.Gateway.location()
	if err != nil {
		return fmt.Errorf("gateway: gateway.timezone: %w", err)
	}
	g.engine, err = access.NewEngine(access.EngineConfig{
		Directory:      g.store,
		Readers:        cfg.accessReaders(),
		Doors:          cfg.DoorNames(),
		Location:       loc,
		Duress:         cfg.Access.Duress == access.DuressLastDigitPlusOne,
		UntrustedClock: cfg.Access.UntrustedClock,
		Guesses:        cfg.Access.guessBudget(),
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if b, ok, err := g.store.Runtime(runtimeClock); err != nil {
		return fmt.Errorf("gateway: %w", err)
	} else if ok {
		if t, err := time.Parse(time.RFC3339Nano, string(b)); err == nil {
			g.clock.restore(t)
		}
	}
	g.guessesPerDay = access.GuessesPerDay(cfg.accessReaders(), cfg.Access.guessBudget())
	g.restoreRuntime()
	g.setPolicy(g.store.Policy())
	g.store.OnPolicyChange(func(t *access.Table) {
		g.setPolicy(t)
		g.kickModes()
	})
	return nil
}

// restoreRuntime gives the engine the lockouts and first-ins of the last
// run. A record that cannot be read is logged and skipped: it is state to
// carry over, not the table.
func (g *Gateway) restoreRuntime() {
	if b, ok, err := g.store.Runtime(runtimeLockouts); err != nil || ok {
		var st access.LockoutState
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err != nil {
			g.log.Warn("keypad lockouts of the last run are lost", "err", err)
		} else {
			g.engine.RestoreLockouts(st)
		}
	}
	for _, d := range g.cfg.DoorNames() {
		b, ok, err := g.store.Runtime(runtimeFirstIn + d)
		if !ok && err == nil {
			continue
		}
		var f access.FirstIn
		if err == nil {
			err = json.Unmarshal(b, &f)
		}
		if err != nil || f.Door != d {
			g.log.Warn("the first person in of the last run is lost", "door", d, "err", err)
			continue
		}
		g.engine.RestoreFirstIn(f)
	}
}

// setPolicy hands a policy table to the engine and reports what did not
// fit the configured site.
func (g *Gateway) setPolicy(t *access.Table) {
	for _, w := range g.engine.SetPolicy(t) {
		g.log.Warn("policy: "+w, "component", "access")
	}
}

// guessRisk is how likely a day of PIN guessing at this gateway's keypads
// is to find some user's PIN (see access.GuessRiskOf).
func (g *Gateway) guessRisk() access.GuessRisk {
	return access.GuessRiskOf(g.store.PINsByLength(), g.guessesPerDay)
}

// PolicyWarnings lists what the stored policy names that the configuration
// does not have, for the status page.
func (g *Gateway) PolicyWarnings() []string { return g.engine.Policy().Warnings() }

// saveClock persists the latest trusted time.
func (g *Gateway) saveClock(t time.Time) error {
	if g.store == nil {
		return nil
	}
	return g.store.SetRuntime(runtimeClock, []byte(t.UTC().Format(time.RFC3339Nano)))
}

// refreshClock asks the clock again and, when its trust changed, tells the
// engine, journals it and re-evaluates the doors' modes.
func (g *Gateway) refreshClock() {
	st, changed, err := g.clock.refresh()
	if err != nil {
		g.log.Warn("saving the latest trusted time", "err", err)
	}
	if !changed {
		return
	}
	g.engine.SetClock(st)
	switch {
	case !st.Trusted:
		detail := "the clock has not been synchronised since boot"
		if !st.LastTrusted.IsZero() && time.Now().Before(st.LastTrusted) {
			detail = "the clock reads earlier than the latest time known to be right, " + st.LastTrusted.UTC().Format(time.RFC3339)
		}
		detail += "; access.untrusted_clock = " + string(g.cfg.Access.UntrustedClock)
		g.appendEvent(access.Event{Type: typeClock, Name: "Clock Untrusted", Detail: detail})
		g.clockWasUntrusted = true
	case g.clockWasUntrusted:
		g.appendEvent(access.Event{Type: typeClock, Name: "Clock Trusted", Detail: "the clock is synchronised; schedules run again"})
		g.clockWasUntrusted = false
	}
	g.kickModes()
}

// kickModes asks the decision loop to re-evaluate the doors' modes.
func (g *Gateway) kickModes() {
	select {
	case g.modeKick <- struct{}{}:
	default:
	}
}

// updateModes carries out the doors' mode changes at now: hold a strike
// released for an unlocked mode, end every unlock for a locked one, journal
// the change and publish the door's state.
func (g *Gateway) updateModes(now time.Time) {
	for _, ch := range g.engine.UpdateModes(now) {
		d, ok := g.hw.door(ch.To.Door)
		if !ok {
			continue
		}
		var err error
		if ch.To.Secured() {
			err = d.door.Lock()
		} else {
			err = d.door.KeepUnlocked(ch.To.Unlocked())
		}
		if ch.Event.Name != "" {
			g.appendEvent(ch.Event)
		}
		if err != nil {
			g.doorFault(d, "carrying out mode "+string(ch.To.Mode), err)
		}
		g.publishDoor(d)
	}
}

// modeWake is how long the decision loop may sleep before the doors'
// modes must be looked at again: until the next change, and no longer
// than to the next minute, so that a step of the wall clock is caught up.
func (g *Gateway) modeWake(now time.Time) time.Duration {
	wake := now.Truncate(time.Minute).Add(time.Minute)
	if next, ok := g.engine.NextModeChange(now); ok && next.Before(wake) {
		wake = next
	}
	return max(wake.Sub(now), 0)
}

// keepDecisionState saves what a decision changed that must survive a
// restart: a first person in, the lockouts. It runs after the door was
// driven and the events journaled.
func (g *Gateway) keepDecisionState(res access.Result) {
	if res.FirstIn != nil {
		if b, err := json.Marshal(res.FirstIn); err == nil {
			if err := g.store.SetRuntime(runtimeFirstIn+res.FirstIn.Door, b); err != nil {
				g.log.Warn("saving the first person in", "door", res.FirstIn.Door, "err", err)
			}
		}
		g.kickModes()
	}
	if res.SaveLockouts {
		if b, err := json.Marshal(g.engine.Lockouts()); err == nil {
			if err := g.store.SetRuntime(runtimeLockouts, b); err != nil {
				g.log.Warn("saving the keypad lockouts", "err", err)
			}
		}
	}
}

// doorFault journals an output that could not be driven. The door's status
// shows the error too (output_error).
func (g *Gateway) doorFault(d *doorUnit, what string, err error) {
	g.log.Error("door output fault", "door", d.name, "what", what, "err", err)
	g.appendEvent(access.Event{Type: typeDoorFault, Name: "Door Output Fault", Door: d.name, Reader: d.reader,
		Detail: what + ": " + err.Error()})
}

// audit journals a change to the user table or the policy made by actor:
// ev carries the user or door it concerns, name says what kind of change,
// detail what changed. Never a PIN.
func (g *Gateway) audit(actor, name string, ev access.Event, detail string) {
	ev.Type, ev.Name, ev.Actor = access.TypeAudit, name, actor
	ev.Detail = detail
	if actor != "" {
		if ev.Detail != "" {
			ev.Detail = "by " + actor + ": " + ev.Detail
		} else {
			ev.Detail = "by " + actor
		}
	}
	g.appendEvent(ev)
}
