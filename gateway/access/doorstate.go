package access

import (
	"fmt"
	"slices"
	"time"
)

// UntrustedClock says what the time rules do while the gateway's clock
// cannot be believed: after a power cut a Raspberry Pi without a real-time
// clock comes up at the last time it saved, or in 1970, until NTP answers.
type UntrustedClock string

// The choices of access.untrusted_clock.
const (
	// ClockRestrict, the default: only level entries on the schedule
	// "always" grant; no scheduled door mode runs (doors run their
	// reader's mode, a scheduled unlock does not happen); an override
	// with an end stays in force if it locks and ends if it unlocks; a
	// user's validity is judged against the last trusted time, and a user
	// whose validity that cannot decide is denied.
	ClockRestrict UntrustedClock = "restrict"
	// ClockDeny denies everyone but override users, and runs doors as
	// ClockRestrict does.
	ClockDeny UntrustedClock = "deny"
	// ClockTrust believes the clock anyway: for a site that has decided a
	// wrong clock is the lesser risk.
	ClockTrust UntrustedClock = "trust"
)

// UntrustedClocks lists the choices in a stable order.
var UntrustedClocks = []UntrustedClock{ClockRestrict, ClockDeny, ClockTrust}

// Known reports whether c is one of the choices.
func (c UntrustedClock) Known() bool { return slices.Contains(UntrustedClocks, c) }

// Duress is the choice of access.duress.
type Duress string

// The choices of access.duress.
const (
	DuressOff = Duress("off")
	// DuressLastDigitPlusOne: a user's PIN with its last digit plus one
	// (9 → 0) is their duress code ([DuressPIN]).
	DuressLastDigitPlusOne = Duress("last_digit_plus_one")
)

// Duresses lists the choices in a stable order.
var Duresses = []Duress{DuressOff, DuressLastDigitPlusOne}

// Known reports whether d is one of the choices.
func (d Duress) Known() bool { return slices.Contains(Duresses, d) }

// ClockState is what the gateway knows about its clock.
type ClockState struct {
	// Trusted: the clock is synchronised and not behind LastTrusted.
	Trusted bool
	// LastTrusted is the latest time the gateway has known to be right
	// (persisted across restarts). The true time is at least this, so an
	// untrusted clock can still rule out what ended before it.
	LastTrusted time.Time
}

// Where a door's mode comes from.
const (
	SourceOverride = "override"
	SourceSchedule = "schedule"
	SourceReader   = "reader" // the reader's configured mode
)

// DoorState is a door's effective mode at a moment and why.
type DoorState struct {
	Door string   `json:"door"`
	Mode DoorMode `json:"mode"`
	// Source is "override", "schedule" or "reader".
	Source string `json:"source"`
	// Override is the id of the override in force; Until its end.
	Override string     `json:"override,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
	// Schedule is the id of the schedule whose door policy mode is active,
	// also while it waits for first-in.
	Schedule string `json:"schedule,omitempty"`
	// AwaitingFirstIn names the level whose holder must be granted before
	// the scheduled mode starts.
	AwaitingFirstIn string `json:"awaiting_first_in,omitempty"`
	// ClockHeld is set when the untrusted clock left out a time rule of
	// this door: its policy's schedules (no scheduled mode runs), or an
	// unlocking override with an end that may have passed.
	ClockHeld bool `json:"clock_held,omitempty"`
	// Reason says the above in words, for the status page.
	Reason string `json:"reason"`
}

// same reports whether two states run the door the same way for the same
// reason.
func (s DoorState) same(o DoorState) bool {
	return s.Mode == o.Mode && s.Source == o.Source && s.Override == o.Override &&
		s.Schedule == o.Schedule && s.AwaitingFirstIn == o.AwaitingFirstIn
}

// Unlocked reports whether the strike is to be held released.
func (s DoorState) Unlocked() bool { return s.Mode == ModeUnlocked }

// Secured reports whether the door is held locked to all but override
// users; any timed unlock in progress is to end at once.
func (s DoorState) Secured() bool { return s.Mode == ModeLocked || s.Mode == ModeLockdown }

// clockView is a ClockState under the site's untrusted-clock choice.
type clockView struct {
	ClockState
	choice UntrustedClock
}

// timeRules reports whether schedules and override ends may be read from
// the clock.
func (c clockView) timeRules() bool { return c.Trusted || c.choice == ClockTrust }

// doorState computes door di's effective state: an override in force,
// else the first policy mode whose schedule is active (held back until
// first-in when it asks for it), else the reader's configured mode.
// firstIn is the local date on which the door last saw its first person in.
// Reason is filled in only with why: a decision does not need the words,
// and building them costs allocations on the decision path.
func (p *Policy) doorState(di int, now time.Time, lt localTime, clk clockView, firstIn Date, why bool) DoorState {
	d := &p.doors[di]
	st := DoorState{Door: d.site.Name}
	for _, o := range d.overrides {
		switch {
		case o.until.IsZero():
		case clk.timeRules():
			if !now.Before(o.until) {
				continue
			}
		case o.mode == ModeUnlocked:
			st.ClockHeld = true
			continue // cannot tell whether it has ended: the safe side is locked
		}
		st.Mode, st.Source, st.Override = o.mode, SourceOverride, o.id
		if !o.until.IsZero() {
			u := o.until
			st.Until = &u
		}
		if why {
			st.Reason = fmt.Sprintf("override %q (%s)", o.id, o.mode)
			if !o.until.IsZero() {
				st.Reason += " until " + o.until.In(p.loc).Format(time.RFC3339)
			}
		}
		return st
	}
	if clk.timeRules() {
		for _, m := range d.modes {
			if !m.sched.active(lt) {
				continue
			}
			st.Schedule = m.sched.id
			if m.firstIn != "" && firstIn != lt.date {
				st.AwaitingFirstIn = m.firstIn
				p.readerMode(d, &st, why)
				if why {
					st.Reason = fmt.Sprintf("schedule %q would run the door %s once a holder of level %q is granted here today; until then %s",
						m.sched.id, m.mode, m.firstIn, st.Reason)
				}
				return st
			}
			st.Mode, st.Source = m.mode, SourceSchedule
			if why {
				st.Reason = fmt.Sprintf("schedule %q (%s)", m.sched.id, m.mode)
			}
			return st
		}
	}
	p.readerMode(d, &st, why)
	if !clk.timeRules() && len(d.modes) > 0 {
		st.ClockHeld = true
		if why {
			st.Reason += "; door schedules are off while the clock is untrusted"
		}
	}
	return st
}

func (p *Policy) readerMode(d *cdoor, st *DoorState, why bool) {
	st.Source = SourceReader
	if d.site.Reader == "" {
		st.Mode = ModeLocked
		if why {
			st.Reason = "no reader: opens by request-to-exit, test pulse, schedule or override"
		}
		return
	}
	st.Mode = DoorMode(d.site.Mode)
	if why {
		st.Reason = fmt.Sprintf("reader %q's configured mode (%s)", d.site.Reader, d.site.Mode)
	}
}

// changeHorizon is how far ahead NextChange looks: a week and a day covers
// every weekly schedule.
const changeHorizon = 8 * 24 * time.Hour

// nextChange returns the first moment after now, within changeHorizon, at
// which door di's state differs from st, and the state it changes to.
func (p *Policy) nextChange(di int, now time.Time, st DoorState, clk clockView, firstIn Date) (time.Time, DoorState, bool) {
	d := &p.doors[di]
	minutes := []int{0} // midnight: holidays and first-in change by day
	var extra []time.Time
	if clk.timeRules() {
		for _, m := range d.modes {
			minutes = append(minutes, m.sched.bounds...)
		}
	}
	for _, o := range d.overrides {
		if !o.until.IsZero() && o.until.After(now) {
			extra = append(extra, o.until)
		}
	}
	slices.Sort(minutes)
	minutes = slices.Compact(minutes)
	for _, t := range p.boundaries(now, now.Add(changeHorizon), minutes, extra) {
		next := p.doorState(di, t, p.local(t), clk, firstIn, true)
		if !next.same(st) {
			return t, next, true
		}
	}
	return time.Time{}, DoorState{}, false
}

// boundaries returns, in order, the instants in (from, to] at which the
// local wall clock reads one of minutes (after midnight), the instants at
// which the zone's offset changes, and extra. Within one period of
// constant offset the wall clock runs with real time, so a wall time maps
// to exactly one instant there; across a DST change a wall time may map to
// none (spring forward) or two (fall back), and the change itself is a
// boundary. This is what makes a schedule evaluated by the minute and one
// evaluated at its boundaries agree.
func (p *Policy) boundaries(from, to time.Time, minutes []int, extra []time.Time) []time.Time {
	var out []time.Time
	for t := from; t.Before(to); {
		lt := t.In(p.loc)
		_, end := lt.ZoneBounds()
		_, off := lt.Zone()
		periodEnd := to
		if !end.IsZero() && end.Before(to) {
			periodEnd = end
		}
		shift := time.Duration(off) * time.Second
		wallFrom, wallTo := t.Add(shift).UTC(), periodEnd.Add(shift).UTC()
		for day := time.Date(wallFrom.Year(), wallFrom.Month(), wallFrom.Day(), 0, 0, 0, 0, time.UTC); !day.After(wallTo); day = day.AddDate(0, 0, 1) {
			for _, m := range minutes {
				inst := day.Add(time.Duration(m) * time.Minute).Add(-shift)
				if inst.After(from) && !inst.Before(t) && inst.Before(periodEnd) {
					out = append(out, inst)
				}
			}
		}
		if periodEnd.Before(to) && periodEnd.After(from) {
			out = append(out, periodEnd)
		}
		t = periodEnd
	}
	for _, e := range extra {
		if e.After(from) && !e.After(to) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return slices.CompactFunc(out, time.Time.Equal)
}

// Door event types and names beyond the reader's and the door's own.
const (
	TypeDoorMode = "door.mode"
	TypeLockdown = "door.lockdown"

	NameLockdownStarted     = "Lockdown Started"
	NameLockdownEnded       = "Lockdown Ended"
	NameUnlockedBySchedule  = "Door Unlocked By Schedule"
	NameLockedBySchedule    = "Door Locked By Schedule"
	NameUnlockedByOverride  = "Door Unlocked By Override"
	NameLockedByOverride    = "Door Locked By Override"
	NameOverrideEnded       = "Door Override Ended"
	NameDoorModeChanged     = "Door Mode Changed"
	NameAwaitingFirstIn     = "Door Waiting For First Person In"
	NameFirstPersonIn       = "First Person In"
	NameDuressAlarm         = "Duress Alarm"
	NameDenyNotAuthorized   = "Deny Access - Not Authorized"
	NameDenyOutsideSchedule = "Deny Access - Outside Schedule"
	NameDenyLockdown        = "Deny Access - Lockdown"
	NameDenyDoorLocked      = "Deny Access - Door Locked"
	NameDenyClockUntrusted  = "Deny Access - Clock Untrusted"
)

// transition names a door's change from one state to another as an event.
func transition(from, to DoorState) (typ, name string) {
	switch {
	case to.Mode == ModeLockdown && from.Mode != ModeLockdown:
		return TypeLockdown, NameLockdownStarted
	case from.Mode == ModeLockdown && to.Mode != ModeLockdown:
		return TypeLockdown, NameLockdownEnded
	case to.Source == SourceOverride && to.Mode == ModeUnlocked:
		return TypeDoorMode, NameUnlockedByOverride
	case to.Source == SourceOverride && to.Mode == ModeLocked:
		return TypeDoorMode, NameLockedByOverride
	case to.Source == SourceSchedule && to.Mode == ModeUnlocked:
		return TypeDoorMode, NameUnlockedBySchedule
	case from.Source == SourceOverride:
		return TypeDoorMode, NameOverrideEnded
	case from.Mode == ModeUnlocked, to.Source == SourceSchedule && to.Mode == ModeLocked:
		return TypeDoorMode, NameLockedBySchedule
	case to.AwaitingFirstIn != "" && from.AwaitingFirstIn == "":
		return TypeDoorMode, NameAwaitingFirstIn
	}
	return TypeDoorMode, NameDoorModeChanged
}

// describe says what a state change was, for an event's detail.
func describe(from, to DoorState) string {
	return fmt.Sprintf("%s → %s: %s", from.Mode, to.Mode, to.Reason)
}
