package access

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// SiteDoor is a door as the gateway's configuration has it: its name and
// the reader that opens it, if any. Policies are checked against the site:
// a level or policy may only name doors the site has, and a PIN mode only
// on a door whose reader has a keypad.
type SiteDoor struct {
	Name string
	// Reader is the name of the door's reader; empty when it has none.
	Reader string
	// Model and Mode are the reader's; zero when it has none.
	Model Model
	Mode  Mode
}

// Site is the configured doors, in a stable order.
type Site struct {
	Doors []SiteDoor
}

// NewSite describes the doors named by doors (every configured door) and
// the readers that open them.
func NewSite(doors []string, readers []ReaderConfig) Site {
	s := Site{Doors: make([]SiteDoor, 0, len(doors))}
	for _, d := range doors {
		sd := SiteDoor{Name: d}
		for _, r := range readers {
			if r.Door == d {
				sd.Reader, sd.Model, sd.Mode = r.Name, r.Model, r.Mode
			}
		}
		s.Doors = append(s.Doors, sd)
	}
	return s
}

// Door returns a door of the site.
func (s Site) Door(name string) (SiteDoor, bool) {
	for _, d := range s.Doors {
		if d.Name == name {
			return d, true
		}
	}
	return SiteDoor{}, false
}

// Table is the gateway's policy objects by id: what the store keeps and a
// changeset or the API changes. Its methods enforce every rule that spans
// objects (a level names doors and schedules that exist, a schedule in use
// cannot be deleted, the limits on counts); the objects' own Validate
// methods enforce the rest. A Table is not safe for concurrent use; the
// store changes a copy (Clone) inside a transaction.
//
// The built-in schedule "always" and level "all" are never in the maps.
type Table struct {
	Schedules map[string]Schedule
	Holidays  map[string]Holiday
	Levels    map[string]Level
	// Policies are keyed by door.
	Policies  map[string]DoorPolicy
	Overrides map[string]Override
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{
		Schedules: map[string]Schedule{},
		Holidays:  map[string]Holiday{},
		Levels:    map[string]Level{},
		Policies:  map[string]DoorPolicy{},
		Overrides: map[string]Override{},
	}
}

// Clone returns a copy whose maps may be changed independently. Objects
// are values; their slices are shared, and no method changes them in place.
func (t *Table) Clone() *Table {
	return &Table{
		Schedules: maps.Clone(t.Schedules),
		Holidays:  maps.Clone(t.Holidays),
		Levels:    maps.Clone(t.Levels),
		Policies:  maps.Clone(t.Policies),
		Overrides: maps.Clone(t.Overrides),
	}
}

// HasSchedule reports whether id names a schedule, built in or not.
func (t *Table) HasSchedule(id string) bool {
	_, ok := t.Schedules[id]
	return ok || id == ScheduleAlways
}

// HasLevel reports whether id names a level, built in or not.
func (t *Table) HasLevel(id string) bool {
	_, ok := t.Levels[id]
	return ok || id == LevelAll
}

// PutSchedule creates or replaces a schedule.
func (t *Table) PutSchedule(s Schedule) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if _, ok := t.Schedules[s.ID]; !ok && len(t.Schedules) >= MaxSchedules {
		return invalidf("schedule %q: the gateway already holds %d schedules, the most allowed", s.ID, MaxSchedules)
	}
	t.Schedules[s.ID] = s
	return nil
}

// DeleteSchedule removes a schedule that no level or door policy names.
func (t *Table) DeleteSchedule(id string) error {
	if id == ScheduleAlways {
		return &ruleError{msg: fmt.Sprintf("schedule %q is built in and cannot be deleted", id), kind: ErrBuiltIn}
	}
	if _, ok := t.Schedules[id]; !ok {
		return fmt.Errorf("schedule %q: %w", id, ErrNotFound)
	}
	var users []string
	for _, l := range sortedValues(t.Levels) {
		for i, d := range l.Doors {
			if d.Schedule == id {
				users = append(users, fmt.Sprintf("level %q (doors[%d])", l.ID, i))
			}
		}
	}
	for _, p := range sortedValues(t.Policies) {
		for i, m := range p.Modes {
			if m.Schedule == id {
				users = append(users, fmt.Sprintf("the policy of door %q (modes[%d])", p.Door, i))
			}
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("schedule %q %w by %s: change those first", id, ErrInUse, joinAtMost(users, 5))
	}
	delete(t.Schedules, id)
	return nil
}

// PutHoliday creates or replaces a holiday.
func (t *Table) PutHoliday(h Holiday) error {
	if err := h.Validate(); err != nil {
		return err
	}
	if _, ok := t.Holidays[h.ID]; !ok && len(t.Holidays) >= MaxHolidays {
		return invalidf("holiday %q: the gateway already holds %d holidays, the most allowed", h.ID, MaxHolidays)
	}
	t.Holidays[h.ID] = h
	return nil
}

// DeleteHoliday removes a holiday.
func (t *Table) DeleteHoliday(id string) error {
	if _, ok := t.Holidays[id]; !ok {
		return fmt.Errorf("holiday %q: %w", id, ErrNotFound)
	}
	delete(t.Holidays, id)
	return nil
}

// PutLevel creates or replaces a level whose doors the site has and whose
// schedules exist.
func (t *Table) PutLevel(l Level, site Site) error {
	if err := l.Validate(); err != nil {
		return err
	}
	for i, d := range l.Doors {
		if _, ok := site.Door(d.Door); !ok {
			return fieldErr(index("doors", i)+".door", "door %q is not a door of this gateway (it has %s)", d.Door, site.names())
		}
		if !t.HasSchedule(d.Schedule) {
			return fieldErr(index("doors", i)+".schedule", "schedule %q does not exist (create it first, or use %q)", d.Schedule, ScheduleAlways)
		}
	}
	if _, ok := t.Levels[l.ID]; !ok && len(t.Levels) >= MaxLevels {
		return invalidf("level %q: the gateway already holds %d levels, the most allowed", l.ID, MaxLevels)
	}
	t.Levels[l.ID] = l
	return nil
}

// DeleteLevel removes a level that no door policy names; holders is how
// many users hold it, which must be none.
func (t *Table) DeleteLevel(id string, holders int) error {
	if id == LevelAll {
		return &ruleError{msg: fmt.Sprintf("level %q is built in and cannot be deleted", id), kind: ErrBuiltIn}
	}
	if _, ok := t.Levels[id]; !ok {
		return fmt.Errorf("level %q: %w", id, ErrNotFound)
	}
	var users []string
	if holders > 0 {
		users = append(users, fmt.Sprintf("%d users", holders))
	}
	for _, p := range sortedValues(t.Policies) {
		for i, m := range p.Modes {
			if m.FirstIn == id {
				users = append(users, fmt.Sprintf("the policy of door %q (modes[%d].first_in)", p.Door, i))
			}
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("level %q %w by %s: change those first", id, ErrInUse, joinAtMost(users, 5))
	}
	delete(t.Levels, id)
	return nil
}

// PutDoorPolicy sets a door's policy; a policy without modes removes it.
// The door must be the site's, its schedules and first-in levels must
// exist, and a reader mode must suit the door's reader: a door without a
// reader can only be scheduled unlocked or locked, and a PIN mode needs a
// keypad reader.
func (t *Table) PutDoorPolicy(p DoorPolicy, site Site) error {
	if err := t.checkDoorPolicy(p, site); err != nil {
		return err
	}
	if len(p.Modes) == 0 {
		delete(t.Policies, p.Door)
		return nil
	}
	t.Policies[p.Door] = p
	return nil
}

// checkDoorPolicy checks a door policy against the site and the table
// without changing either.
func (t *Table) checkDoorPolicy(p DoorPolicy, site Site) error {
	if err := p.Validate(); err != nil {
		return err
	}
	door, ok := site.Door(p.Door)
	if !ok {
		return fieldErr("door", "door %q is not a door of this gateway (it has %s)", p.Door, site.names())
	}
	for i, m := range p.Modes {
		at := index("modes", i)
		if !t.HasSchedule(m.Schedule) {
			return fieldErr(at+".schedule", "schedule %q does not exist", m.Schedule)
		}
		if m.FirstIn != "" && !t.HasLevel(m.FirstIn) {
			return fieldErr(at+".first_in", "level %q does not exist", m.FirstIn)
		}
		if rm, isReader := m.Mode.readerMode(); isReader {
			switch {
			case door.Reader == "":
				return fieldErr(at+".mode", "door %q has no reader, so it can only be scheduled %s or %s", p.Door, ModeUnlocked, ModeLocked)
			case rm.NeedsKeypad() && !door.Model.HasKeypad():
				return fieldErr(at+".mode", "%q needs a keypad reader (RPK40); door %q's reader %q is an %s", rm, p.Door, door.Reader, door.Model)
			}
		}
	}
	return nil
}

// SetOverride creates or replaces an override on doors the site has.
func (t *Table) SetOverride(o Override, site Site) error {
	if err := o.Validate(); err != nil {
		return err
	}
	for i, d := range o.Doors {
		if d == AllDoors {
			continue
		}
		if _, ok := site.Door(d); !ok {
			return fieldErr(index("doors", i), "door %q is not a door of this gateway (it has %s)", d, site.names())
		}
	}
	if _, ok := t.Overrides[o.ID]; !ok && len(t.Overrides) >= MaxOverrides {
		return invalidf("override %q: the gateway already holds %d overrides, the most allowed", o.ID, MaxOverrides)
	}
	t.Overrides[o.ID] = o
	return nil
}

// ClearOverride removes an override.
func (t *Table) ClearOverride(id string) error {
	if _, ok := t.Overrides[id]; !ok {
		return fmt.Errorf("override %q: %w", id, ErrNotFound)
	}
	delete(t.Overrides, id)
	return nil
}

// CheckUserLevels checks the levels of a user: at most MaxLevelsPerUser,
// each existing, none twice. An empty list is allowed: the user opens no
// door.
func (t *Table) CheckUserLevels(levels []string) error {
	if len(levels) > MaxLevelsPerUser {
		return fieldErr("levels", "%d levels, at most %d allowed", len(levels), MaxLevelsPerUser)
	}
	for i, l := range levels {
		if err := CheckID(l); err != nil {
			return fieldErr(index("levels", i), "%v", err)
		}
		if !t.HasLevel(l) {
			return fieldErr(index("levels", i), "level %q does not exist", l)
		}
		if slices.Contains(levels[:i], l) {
			return fieldErr(index("levels", i), "level %q is listed twice", l)
		}
	}
	return nil
}

func (s Site) names() string {
	n := make([]string, len(s.Doors))
	for i, d := range s.Doors {
		n[i] = fmt.Sprintf("%q", d.Name)
	}
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ", ")
}

// sortedValues returns a map's values ordered by key, so that messages
// and digests do not depend on map order.
func sortedValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

func joinAtMost(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
