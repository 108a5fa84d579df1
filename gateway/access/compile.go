package access

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Policy is a [Table] compiled for decisions against a [Site] in a time
// zone: schedules as bit sets, holidays as a map of days, levels as lists
// of door and schedule indices. It is immutable, so a decision reads it
// without a lock; a change builds a new one, which the engine swaps in.
type Policy struct {
	loc   *time.Location
	table *Table
	site  Site

	doorIdx  map[string]int
	doors    []cdoor
	scheds   map[string]*cschedule
	always   *cschedule
	holidays map[int64]uint8 // day number → holiday type bits
	levels   map[string]*clevel
	// warnings are the parts of the table that did not fit the site when
	// it was compiled (a door removed from the config since), and were
	// left out.
	warnings []string
}

type cschedule struct {
	id     string
	always bool
	ivs    []interval
	// bounds are the minutes of the day at which the schedule may change,
	// sorted: every interval's start and end.
	bounds []int
}

type clevel struct {
	all     bool
	entries []levelEntry // sorted by door
}

type levelEntry struct {
	door  int
	sched *cschedule
}

type cdoor struct {
	site      SiteDoor
	modes     []cmode
	overrides []*coverride // in the order they win
	// firstIn: some mode of the door waits for a first person in.
	firstIn bool
}

type cmode struct {
	sched   *cschedule
	mode    DoorMode
	firstIn string
}

type coverride struct {
	id    string
	mode  DoorMode
	rank  int
	until time.Time // zero: none
}

// Compile builds the policy of a table for a site in loc. Objects that name
// a door the site does not have, or a mode its reader cannot run, are left
// out and listed in Warnings: a door removed from the configuration must
// not stop the gateway from starting. Writes are checked strictly by the
// Table's methods before they reach a table.
func Compile(t *Table, site Site, loc *time.Location) *Policy {
	if loc == nil {
		loc = time.UTC
	}
	p := &Policy{
		loc: loc, table: t, site: site,
		doorIdx:  make(map[string]int, len(site.Doors)),
		doors:    make([]cdoor, len(site.Doors)),
		scheds:   make(map[string]*cschedule, len(t.Schedules)+1),
		holidays: map[int64]uint8{},
		levels:   make(map[string]*clevel, len(t.Levels)+1),
	}
	for i, d := range site.Doors {
		p.doorIdx[d.Name] = i
		p.doors[i].site = d
	}
	p.always = &cschedule{id: ScheduleAlways, always: true}
	p.scheds[ScheduleAlways] = p.always
	for _, s := range sortedValues(t.Schedules) {
		cs := &cschedule{id: s.ID}
		for _, iv := range s.Intervals {
			c, err := iv.compile()
			if err != nil {
				p.warnf("schedule %q: %v; interval left out", s.ID, err)
				continue
			}
			cs.ivs = append(cs.ivs, c)
			cs.bounds = append(cs.bounds, c.start, c.end)
		}
		slices.Sort(cs.bounds)
		cs.bounds = slices.Compact(cs.bounds)
		p.scheds[s.ID] = cs
	}
	for _, h := range sortedValues(t.Holidays) {
		first, last, err := h.span()
		if err != nil {
			p.warnf("holiday %q: %v; left out", h.ID, err)
			continue
		}
		for d := first.days(); d <= last.days(); d++ {
			p.holidays[d] |= 1 << (h.Type - 1)
		}
	}
	p.levels[LevelAll] = &clevel{all: true}
	for _, l := range sortedValues(t.Levels) {
		cl := &clevel{}
		for _, d := range l.Doors {
			di, ok := p.doorIdx[d.Door]
			if !ok {
				p.warnf("level %q names door %q, which is not configured; that entry is left out", l.ID, d.Door)
				continue
			}
			s, ok := p.scheds[d.Schedule]
			if !ok {
				p.warnf("level %q names schedule %q, which does not exist; that entry is left out", l.ID, d.Schedule)
				continue
			}
			cl.entries = append(cl.entries, levelEntry{door: di, sched: s})
		}
		slices.SortStableFunc(cl.entries, func(a, b levelEntry) int { return cmp.Compare(a.door, b.door) })
		p.levels[l.ID] = cl
	}
	for _, dp := range sortedValues(t.Policies) {
		di, ok := p.doorIdx[dp.Door]
		if !ok {
			p.warnf("the policy of door %q is left out: the door is not configured", dp.Door)
			continue
		}
		// The table's own check, against today's site.
		if err := t.checkDoorPolicy(dp, site); err != nil {
			p.warnf("the policy of door %q is left out: %v", dp.Door, err)
			continue
		}
		for _, m := range dp.Modes {
			p.doors[di].modes = append(p.doors[di].modes, cmode{sched: p.scheds[m.Schedule], mode: m.Mode, firstIn: m.FirstIn})
			p.doors[di].firstIn = p.doors[di].firstIn || m.FirstIn != ""
		}
	}
	for _, o := range sortedValues(t.Overrides) {
		co := &coverride{id: o.ID, mode: o.Mode, rank: o.EffectiveRank()}
		if o.Until != nil {
			co.until = *o.Until
		}
		for _, d := range o.Doors {
			if d == AllDoors {
				for i := range p.doors {
					p.doors[i].overrides = append(p.doors[i].overrides, co)
				}
				continue
			}
			di, ok := p.doorIdx[d]
			if !ok {
				p.warnf("override %q names door %q, which is not configured; it applies to the others", o.ID, d)
				continue
			}
			p.doors[di].overrides = append(p.doors[di].overrides, co)
		}
	}
	for i := range p.doors {
		slices.SortFunc(p.doors[i].overrides, func(a, b *coverride) int {
			return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(severity(a.mode), severity(b.mode)), cmp.Compare(a.id, b.id))
		})
	}
	return p
}

func (p *Policy) warnf(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

// Warnings lists what Compile left out, for the log and the status page.
func (p *Policy) Warnings() []string { return slices.Clone(p.warnings) }

// Table returns the table the policy was compiled from. It must not be
// changed.
func (p *Policy) Table() *Table { return p.table }

// Location is the time zone schedules are read in.
func (p *Policy) Location() *time.Location { return p.loc }

// Site returns the doors the policy was compiled for.
func (p *Policy) Site() Site { return p.site }

// localTime is a moment as schedules see it.
type localTime struct {
	day    int64 // days since 1970-01-01, in local time
	date   Date
	wd     time.Weekday
	minute int
	hol    uint8 // holiday types of the day
}

func (p *Policy) local(now time.Time) localTime {
	t := now.In(p.loc)
	d := DateOf(t)
	lt := localTime{day: d.days(), date: d, wd: t.Weekday(), minute: t.Hour()*60 + t.Minute()}
	lt.hol = p.holidays[lt.day]
	return lt
}

func (s *cschedule) active(lt localTime) bool {
	if s.always {
		return true
	}
	for _, iv := range s.ivs {
		if iv.applies(lt.wd, lt.hol, lt.minute) {
			return true
		}
	}
	return false
}

// ScheduleActive reports whether a schedule is active at now; false for
// an unknown schedule.
func (p *Policy) ScheduleActive(id string, now time.Time) bool {
	s, ok := p.scheds[id]
	return ok && s.active(p.local(now))
}

// Authorization is what the levels of a user say about one door at one
// moment.
type Authorization uint8

// Authorizations, from the most to the least permissive.
const (
	// Authorized: a level lists the door with a schedule active now.
	Authorized Authorization = iota
	// OutsideSchedule: a level lists the door, but none of its schedules
	// is active now.
	OutsideSchedule
	// ClockNeeded: only entries with a time-dependent schedule list the
	// door, and the clock cannot be believed.
	ClockNeeded
	// NotAuthorized: no level lists the door.
	NotAuthorized
)

// authorize decides a user's levels at a door. With schedulesOK false
// (an untrusted clock) only entries on the schedule "always" count.
func (p *Policy) authorize(levels []string, door int, lt localTime, schedulesOK bool) Authorization {
	best := NotAuthorized
	for _, id := range levels {
		l, ok := p.levels[id]
		if !ok {
			continue
		}
		if l.all {
			return Authorized
		}
		i, _ := slices.BinarySearchFunc(l.entries, door, func(e levelEntry, d int) int { return cmp.Compare(e.door, d) })
		for ; i < len(l.entries) && l.entries[i].door == door; i++ {
			s := l.entries[i].sched
			switch {
			case s.always:
				return Authorized
			case !schedulesOK:
				best = min(best, ClockNeeded)
			case s.active(lt):
				return Authorized
			default:
				best = min(best, OutsideSchedule)
			}
		}
	}
	return best
}

// holdsLevel reports whether levels include id.
func holdsLevel(levels []string, id string) bool { return slices.Contains(levels, id) }
