package access

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The built-in policy objects. They exist on every gateway, are never
// stored and cannot be changed or deleted.
const (
	// ScheduleAlways is active at every moment.
	ScheduleAlways = "always"
	// LevelAll opens every door on ScheduleAlways.
	LevelAll = "all"
	// AllDoors, in an override's door list, stands for every door.
	AllDoors = "*"
)

// DefaultLevels are the levels of a user created without any: before access
// levels existed every enabled user opened every door, and a user added
// without thinking about levels still does.
func DefaultLevels() []string { return []string{LevelAll} }

// Limits of the policy model. They keep one decision, one compile and one
// changeset small on a Raspberry Pi; docs/access.md states each of them.
const (
	MaxSchedules            = 1024
	MaxIntervalsPerSchedule = 32
	MaxHolidays             = 1024
	MaxHolidayDays          = 366 // the longest range one holiday may span
	MaxLevels               = 4096
	MaxDoorsPerLevel        = 128
	MaxLevelsPerUser        = 32
	MaxModesPerDoor         = 8
	MaxOverrides            = 256
	MaxOverrideDoors        = 128
	MaxNameBytes            = 256
	// HolidayTypes is the number of holiday types: a holiday has a type
	// from 1 to HolidayTypes, and an interval names the types it applies on.
	HolidayTypes = 3
	// DefaultRank is the rank of an override that gives none; lower ranks
	// win. Ranks run from 1 to MaxRank.
	DefaultRank = 100
	MaxRank     = 1000
)

// Errors of the policy model that callers act on. Every error a policy
// check returns wraps one of them (or ErrNotFound), inside a [FieldError]
// when a field is to blame.
var (
	// ErrInvalid: a field breaks a rule of the model.
	ErrInvalid = errors.New("invalid")
	// ErrInUse: the object is still named by another (a schedule by a
	// level or a door policy, a level by a user or a door policy).
	ErrInUse = errors.New("is in use")
	// ErrBuiltIn: the object is built in and cannot be changed or deleted.
	ErrBuiltIn = errors.New("is built in")
)

// FieldError says which field of an object broke a rule. Field is a path
// relative to the object, in the notation of the JSON it came in:
// "intervals[1].end", "doors[0].schedule".
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// ruleError is a broken rule: its message says what, kind is the sentinel
// callers match (ErrInvalid, ErrBuiltIn), without repeating it in the text.
type ruleError struct {
	msg  string
	kind error
}

func (e *ruleError) Error() string { return e.msg }
func (e *ruleError) Unwrap() error { return e.kind }

// Invalidf returns an error of kind ErrInvalid with the message given, for
// the rules of other packages (the store's limits) in the same vocabulary.
func Invalidf(format string, args ...any) error { return invalidf(format, args...) }

// invalidf is a ruleError of kind ErrInvalid.
func invalidf(format string, args ...any) error {
	return &ruleError{msg: fmt.Sprintf(format, args...), kind: ErrInvalid}
}

// fieldErr builds a FieldError whose Err is of kind ErrInvalid.
func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: invalidf(format, args...)}
}

// under prefixes the field of a FieldError with a parent path.
func under(parent string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		f := fe.Field
		switch {
		case f == "":
			f = parent
		case strings.HasPrefix(f, "["):
			f = parent + f
		default:
			f = parent + "." + f
		}
		return &FieldError{Field: f, Err: fe.Err}
	}
	return &FieldError{Field: parent, Err: err}
}

func index(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

// CheckName checks a display name of a user or a policy object: at most
// MaxNameBytes bytes of UTF-8, without control characters, line or
// paragraph separators, or the invisible format characters (category Cf:
// bidi embeddings, overrides and isolates, zero-width spaces, the soft
// hyphen, the byte-order mark) that make a name on the status page and in
// the activity log read as something it is not. The zero-width non-joiner
// and joiner (U+200C, U+200D) are allowed: Persian, the Indic scripts and
// emoji sequences need them to spell names. Every path that takes a name
// (API, CLI, changesets, the store) calls it.
func CheckName(name string) error {
	if len(name) > MaxNameBytes {
		return invalidf("name is %d bytes long, at most %d allowed", len(name), MaxNameBytes)
	}
	if !utf8.ValidString(name) {
		return invalidf("name is not valid UTF-8")
	}
	for i, r := range name {
		switch {
		case r == '\u200c' || r == '\u200d':
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == '\u2028', r == '\u2029':
			return invalidf("name has an invisible or control character (U+%04X) at byte %d, which could make it display as something else", r, i)
		}
	}
	return nil
}

// Weekday names as schedules spell them.
var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func parseDay(s string) (time.Weekday, bool) {
	for d, n := range dayNames {
		if s == n {
			return time.Weekday(d), true
		}
	}
	return 0, false
}

// ParseTimeOfDay reads "HH:MM" (00:00 to 24:00) as minutes after midnight.
func ParseTimeOfDay(s string) (int, error) {
	bad := invalidf("%q is not a time of day (HH:MM from 00:00 to 24:00)", s)
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || s[0] == '+' || s[3] == '+' || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, bad
	}
	return h*60 + m, nil
}

// FormatTimeOfDay writes minutes after midnight as "HH:MM".
func FormatTimeOfDay(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// Date is a calendar date in the gateway's time zone, "2027-01-01".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, invalidf("%q is not a date (YYYY-MM-DD)", s)
	}
	return DateOf(t), nil
}

// DateOf is the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// days numbers a date: days since 1970-01-01.
func (d Date) days() int64 {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// Schedule is a weekly pattern of intervals in local time. It is active at
// a moment when one of its intervals is.
type Schedule struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Intervals []Interval `json:"intervals"`
}

// Interval is part of a schedule: from Start up to, not including, End, on
// the listed days, or on holidays of the listed types.
//
// On a day that is a holiday (of any type) the interval applies only if it
// lists that holiday's type, whatever its days; on any other day it applies
// on its days. So {"days":["mon",...,"fri"],"holidays":[]} is a working
// week closed on holidays, {"days":[],"holidays":[1]} applies on type-1
// holidays only, and {"days":["mon",...,"fri"],"holidays":[1]} also on
// type-1 holidays.
type Interval struct {
	Days     []string `json:"days"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Holidays []int    `json:"holidays"`
}

// Validate checks a schedule on its own: its id, name and intervals. An
// interval runs forward within one day (start before end, end at most
// 24:00), names known days at most once and holiday types 1 to 3 at most
// once, applies on some day, and overlaps no other interval of the
// schedule on a day or holiday type they share.
func (s Schedule) Validate() error {
	if err := CheckID(s.ID); err != nil {
		return &FieldError{Field: "id", Err: invalidf("%v", err)}
	}
	if s.ID == ScheduleAlways {
		return &FieldError{Field: "id", Err: &ruleError{msg: fmt.Sprintf("schedule %q is built in and cannot be changed", s.ID), kind: ErrBuiltIn}}
	}
	if err := CheckName(s.Name); err != nil {
		return &FieldError{Field: "name", Err: err}
	}
	if len(s.Intervals) > MaxIntervalsPerSchedule {
		return fieldErr("intervals", "%d intervals, at most %d allowed", len(s.Intervals), MaxIntervalsPerSchedule)
	}
	compiled := make([]interval, len(s.Intervals))
	for i, iv := range s.Intervals {
		c, err := iv.compile()
		if err != nil {
			return under(index("intervals", i), err)
		}
		for j := range i {
			if o := compiled[j]; c.overlaps(o) {
				return fieldErr(index("intervals", i), "%s-%s overlaps intervals[%d] (%s-%s) on a day they share; merge them or move one",
					iv.Start, iv.End, j, s.Intervals[j].Start, s.Intervals[j].End)
			}
		}
		compiled[i] = c
	}
	return nil
}

// interval is a checked Interval: days as a bit set (bit d for
// time.Weekday d), holiday types as bits (bit t-1), minutes after midnight.
type interval struct {
	days       uint8
	holidays   uint8
	start, end int
}

func (iv Interval) compile() (interval, error) {
	var c interval
	for j, d := range iv.Days {
		wd, ok := parseDay(d)
		if !ok {
			return c, fieldErr(index("days", j), "%q is not a day (want mon, tue, wed, thu, fri, sat or sun)", d)
		}
		if c.days&(1<<wd) != 0 {
			return c, fieldErr(index("days", j), "%q is listed twice", d)
		}
		c.days |= 1 << wd
	}
	for j, t := range iv.Holidays {
		if t < 1 || t > HolidayTypes {
			return c, fieldErr(index("holidays", j), "%d is not a holiday type (1 to %d)", t, HolidayTypes)
		}
		if c.holidays&(1<<(t-1)) != 0 {
			return c, fieldErr(index("holidays", j), "type %d is listed twice", t)
		}
		c.holidays |= 1 << (t - 1)
	}
	if c.days == 0 && c.holidays == 0 {
		return c, fieldErr("days", "the interval applies on no day: list days, holiday types, or both")
	}
	var err error
	if c.start, err = ParseTimeOfDay(iv.Start); err != nil {
		return c, &FieldError{Field: "start", Err: err}
	}
	if c.end, err = ParseTimeOfDay(iv.End); err != nil {
		return c, &FieldError{Field: "end", Err: err}
	}
	if c.start == 24*60 {
		return c, fieldErr("start", "24:00 is the end of a day, not a start")
	}
	if c.end <= c.start {
		return c, fieldErr("end", "%s is not after start %s; an interval ends on the day it starts (split one that crosses midnight into two)", iv.End, iv.Start)
	}
	return c, nil
}

// overlaps reports whether two intervals are active at a common minute on
// some day: a shared weekday, or a shared holiday type.
func (c interval) overlaps(o interval) bool {
	if c.days&o.days == 0 && c.holidays&o.holidays == 0 {
		return false
	}
	return c.start < o.end && o.start < c.end
}

// applies reports whether the interval is active at minute of a day with
// weekday wd whose holiday types are hol (zero on a working day).
func (c interval) applies(wd time.Weekday, hol uint8, minute int) bool {
	if hol != 0 {
		if c.holidays&hol == 0 {
			return false
		}
	} else if c.days&(1<<wd) == 0 {
		return false
	}
	return c.start <= minute && minute < c.end
}

// Holiday is a day, or a range of days, on which schedules follow their
// holiday intervals.
type Holiday struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Date is the first day, "2027-01-01".
	Date string `json:"date"`
	// Until is the last day of a range, inclusive; empty for one day.
	Until string `json:"until,omitempty"`
	// Type is 1, 2 or 3; intervals name the types they apply on.
	Type int `json:"type"`
}

// Validate checks a holiday on its own.
func (h Holiday) Validate() error {
	_, _, err := h.span()
	return err
}

// span returns the holiday's first and last day.
func (h Holiday) span() (first, last Date, err error) {
	if err := CheckID(h.ID); err != nil {
		return first, last, &FieldError{Field: "id", Err: invalidf("%v", err)}
	}
	if err := CheckName(h.Name); err != nil {
		return first, last, &FieldError{Field: "name", Err: err}
	}
	if first, err = ParseDate(h.Date); err != nil {
		return first, last, &FieldError{Field: "date", Err: err}
	}
	last = first
	if h.Until != "" {
		if last, err = ParseDate(h.Until); err != nil {
			return first, last, &FieldError{Field: "until", Err: err}
		}
		n := last.days() - first.days() + 1
		switch {
		case n < 1:
			return first, last, fieldErr("until", "%s is before date %s", h.Until, h.Date)
		case n > MaxHolidayDays:
			return first, last, fieldErr("until", "the range is %d days long, at most %d allowed", n, MaxHolidayDays)
		}
	}
	if h.Type < 1 || h.Type > HolidayTypes {
		return first, last, fieldErr("type", "%d is not a holiday type (1 to %d)", h.Type, HolidayTypes)
	}
	return first, last, nil
}

// Level is an access level: the doors its holders may open, each on a
// schedule. A user's levels are unioned: a user may open a door when any of
// their levels lists it with a schedule that is active.
type Level struct {
	ID    string      `json:"id"`
	Name  string      `json:"name"`
	Doors []LevelDoor `json:"doors"`
}

// LevelDoor is one door of a level and the schedule it opens on.
type LevelDoor struct {
	Door     string `json:"door"`
	Schedule string `json:"schedule"`
}

// Validate checks a level on its own; [Table.PutLevel] also checks that its
// doors and schedules exist.
func (l Level) Validate() error {
	if err := CheckID(l.ID); err != nil {
		return &FieldError{Field: "id", Err: invalidf("%v", err)}
	}
	if l.ID == LevelAll {
		return &FieldError{Field: "id", Err: &ruleError{msg: fmt.Sprintf("level %q is built in and cannot be changed", l.ID), kind: ErrBuiltIn}}
	}
	if err := CheckName(l.Name); err != nil {
		return &FieldError{Field: "name", Err: err}
	}
	if len(l.Doors) > MaxDoorsPerLevel {
		return fieldErr("doors", "%d doors, at most %d allowed", len(l.Doors), MaxDoorsPerLevel)
	}
	for i, d := range l.Doors {
		if err := CheckID(d.Door); err != nil {
			return fieldErr(index("doors", i)+".door", "%v", err)
		}
		if err := CheckID(d.Schedule); err != nil {
			return fieldErr(index("doors", i)+".schedule", "%v", err)
		}
		for j := range i {
			if l.Doors[j] == d {
				return fieldErr(index("doors", i), "door %q on schedule %q is listed twice (also doors[%d])", d.Door, d.Schedule, j)
			}
		}
	}
	return nil
}

// DoorMode is how a door runs: one of the reader modes, or ModeUnlocked,
// ModeLocked or ModeLockdown.
type DoorMode string

// The door modes beyond the reader modes.
const (
	// ModeUnlocked holds the strike released: the door is open to anyone.
	ModeUnlocked DoorMode = "unlocked"
	// ModeLocked holds the door locked to everyone but override users.
	ModeLocked DoorMode = "locked"
	// ModeLockdown is ModeLocked raised as an alarm, by an override only.
	ModeLockdown DoorMode = "lockdown"
)

// readerMode returns the reader mode m names, if it names one.
func (m DoorMode) readerMode() (Mode, bool) {
	rm := Mode(m)
	return rm, rm.Known()
}

// policyModes are the modes a door policy may schedule: the reader modes,
// unlocked and locked (lockdown is an override's).
func policyModes() string {
	s := make([]string, 0, len(Modes)+2)
	for _, m := range Modes {
		s = append(s, string(m))
	}
	return strings.Join(append(s, string(ModeUnlocked), string(ModeLocked)), ", ")
}

// DoorPolicy runs a door in another mode than its reader's while a
// schedule is active. The first listed mode whose schedule is active wins;
// when none is, the door runs its reader's configured mode.
type DoorPolicy struct {
	Door  string       `json:"door"`
	Modes []PolicyMode `json:"modes"`
}

// PolicyMode is one scheduled mode of a door.
type PolicyMode struct {
	Schedule string   `json:"schedule"`
	Mode     DoorMode `json:"mode"`
	// FirstIn, when set, names a level: the scheduled mode starts only
	// once a holder of that level has been granted at the door that day
	// (first person in); until then the door runs its reader's mode.
	FirstIn string `json:"first_in,omitempty"`
}

// Validate checks a door policy on its own; [Table.PutDoorPolicy] also
// checks it against the door and the table.
func (p DoorPolicy) Validate() error {
	if err := CheckID(p.Door); err != nil {
		return &FieldError{Field: "door", Err: invalidf("%v", err)}
	}
	if len(p.Modes) > MaxModesPerDoor {
		return fieldErr("modes", "%d modes, at most %d allowed", len(p.Modes), MaxModesPerDoor)
	}
	for i, m := range p.Modes {
		at := index("modes", i)
		if err := CheckID(m.Schedule); err != nil {
			return fieldErr(at+".schedule", "%v", err)
		}
		if _, ok := m.Mode.readerMode(); !ok && m.Mode != ModeUnlocked && m.Mode != ModeLocked {
			return fieldErr(at+".mode", "%q is not a door policy mode (want one of %s)", m.Mode, policyModes())
		}
		if m.FirstIn != "" {
			if err := CheckID(m.FirstIn); err != nil {
				return fieldErr(at+".first_in", "%v", err)
			}
		}
		for j := range i {
			if p.Modes[j].Schedule == m.Schedule {
				return fieldErr(at+".schedule", "schedule %q is listed twice (also modes[%d])", m.Schedule, j)
			}
		}
	}
	return nil
}

// Override puts doors in a mode whatever their policies say, until it is
// cleared or its Until passes. Of several overrides on one door the lowest
// Rank wins; at equal rank the stricter mode (lockdown, then locked, then
// unlocked), then the lower id.
type Override struct {
	ID string `json:"id"`
	// Doors are door names, or "*" for every door.
	Doors []string `json:"doors"`
	// Mode is lockdown, locked or unlocked.
	Mode DoorMode `json:"mode"`
	// Rank orders overrides, 1 to 1000; zero means DefaultRank.
	Rank int `json:"rank,omitzero"`
	// Until ends the override by itself; nil lasts until it is cleared.
	Until *time.Time `json:"until"`
}

// EffectiveRank is the override's rank with the default applied.
func (o Override) EffectiveRank() int {
	if o.Rank == 0 {
		return DefaultRank
	}
	return o.Rank
}

// Validate checks an override on its own; [Table.SetOverride] also checks
// its doors exist.
func (o Override) Validate() error {
	if err := CheckID(o.ID); err != nil {
		return &FieldError{Field: "id", Err: invalidf("%v", err)}
	}
	switch o.Mode {
	case ModeLockdown, ModeLocked, ModeUnlocked:
	default:
		return fieldErr("mode", "%q is not an override mode (want lockdown, locked or unlocked)", o.Mode)
	}
	if len(o.Doors) == 0 {
		return fieldErr("doors", `names no door (list doors, or "*" for every door)`)
	}
	if len(o.Doors) > MaxOverrideDoors {
		return fieldErr("doors", "%d doors, at most %d allowed", len(o.Doors), MaxOverrideDoors)
	}
	for i, d := range o.Doors {
		if d == AllDoors {
			if len(o.Doors) > 1 {
				return fieldErr(index("doors", i), `"*" already means every door; list it alone`)
			}
			continue
		}
		if err := CheckID(d); err != nil {
			return fieldErr(index("doors", i), "%v", err)
		}
		if slices.Contains(o.Doors[:i], d) {
			return fieldErr(index("doors", i), "door %q is listed twice", d)
		}
	}
	if o.Rank < 0 || o.Rank > MaxRank {
		return fieldErr("rank", "%d is not a rank (1 to %d, lower wins; absent means %d)", o.Rank, MaxRank, DefaultRank)
	}
	if o.Until != nil && o.Until.IsZero() {
		return fieldErr("until", "is the zero time; use null for an override without an end")
	}
	return nil
}

// severity orders override modes at equal rank: the stricter wins.
func severity(m DoorMode) int {
	switch m {
	case ModeLockdown:
		return 0
	case ModeLocked:
		return 1
	}
	return 2
}
