package changeset

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/lintel-access/lintel/gateway/access"
)

// Policy objects arrive in ops (schedule.upsert, level.upsert, ...) and in
// a snapshot's sections (schedules, levels, ...), in the shapes of
// gateway/access, whose Validate methods own the field rules. This file
// turns their wire forms into access values and their errors into the
// changeset's codes and paths. Whether an object fits the gateway (its
// doors exist, the schedules it names exist, it is not in use) is decided
// against the store at apply time, by access.Table.

// policyError turns an error of the policy model into an *Error whose path
// is the failing field.
func policyError(err error) *Error {
	code := storeCode(err, CodeInvalid)
	var fe *access.FieldError
	if errors.As(err, &fe) {
		return &Error{Code: code, Path: fe.Field, Message: fe.Err.Error()}
	}
	return &Error{Code: code, Message: err.Error()}
}

func scheduleOf(w wireSchedule) (access.Schedule, error) {
	if w.Intervals == nil {
		return access.Schedule{}, missing("intervals")
	}
	s := access.Schedule{ID: w.ID, Name: w.Name, Intervals: *w.Intervals}
	if err := s.Validate(); err != nil {
		return s, policyError(err)
	}
	return s, nil
}

func holidayOf(w wireHoliday) (access.Holiday, error) {
	if w.Type == nil {
		return access.Holiday{}, missing("type")
	}
	if w.Date == "" {
		return access.Holiday{}, missing("date")
	}
	h := access.Holiday{ID: w.ID, Name: w.Name, Date: w.Date, Until: w.Until, Type: *w.Type}
	if err := h.Validate(); err != nil {
		return h, policyError(err)
	}
	return h, nil
}

func levelOf(w wireLevel) (access.Level, error) {
	if w.Doors == nil {
		return access.Level{}, missing("doors")
	}
	l := access.Level{ID: w.ID, Name: w.Name, Doors: *w.Doors}
	if err := l.Validate(); err != nil {
		return l, policyError(err)
	}
	return l, nil
}

func doorPolicyOf(w wireDoorPolicy) (access.DoorPolicy, error) {
	if w.Modes == nil {
		return access.DoorPolicy{}, missing("modes")
	}
	p := access.DoorPolicy{Door: w.Door, Modes: *w.Modes}
	if err := p.Validate(); err != nil {
		return p, policyError(err)
	}
	return p, nil
}

func overrideOf(w wireOverride) (access.Override, error) {
	o := access.Override{ID: w.ID, Doors: w.Doors, Mode: w.Mode, Rank: w.Rank}
	if w.Until != nil {
		t, err := parseTime(w.Until, "until")
		if err != nil {
			return o, err
		}
		o.Until = &t
	}
	if err := o.Validate(); err != nil {
		return o, policyError(err)
	}
	return o, nil
}

// checkLevels checks the shape of a user's levels; whether they exist is
// the store's check.
func checkLevels(levels []string) error {
	if len(levels) > access.MaxLevelsPerUser {
		return &Error{Code: CodeInvalid, Path: "levels", Message: fmt.Sprintf(
			"%d levels, at most %d allowed", len(levels), access.MaxLevelsPerUser)}
	}
	for i, l := range levels {
		at := func() string { return "levels[" + strconv.Itoa(i) + "]" }
		if err := access.CheckID(l); err != nil {
			return &Error{Code: CodeInvalid, Path: at(), Message: err.Error()}
		}
		if slices.Contains(levels[:i], l) {
			return &Error{Code: CodeInvalid, Path: at(), Message: fmt.Sprintf("level %q is listed twice", l)}
		}
	}
	return nil
}

// policySection reads one policy section of a snapshot into p, each
// object strictly and checked on its own, and refuses an id listed twice.
func (d *decoder) policySection(name string, p *Policy) error {
	if k := d.dec.PeekKind(); k != '[' {
		return d.notKind(k, name, name+" is a JSON array")
	}
	raw, err := d.dec.ReadValue()
	if err != nil {
		return jsonError(err, "")
	}
	var items []jsontext.Value
	if err := json.Unmarshal(raw, &items); err != nil {
		return jsonError(err, name)
	}
	var ids []string
	for i, item := range items {
		at := name + "[" + strconv.Itoa(i) + "]"
		if k := item.Kind(); k != '{' {
			return &Error{Code: CodeMalformed, Path: at, Message: "want an object, got " + kindName(k)}
		}
		id, err := decodeSectionItem(name, bytes.Clone(item), p)
		if err != nil {
			return asError(err, at)
		}
		if j := slices.Index(ids, id); j >= 0 {
			field := "id"
			if name == "door_policies" {
				field = "door"
			}
			return &Error{Code: CodeInvalid, Path: at + "." + field, Message: fmt.Sprintf(
				"%q is listed twice (also %s[%d])", id, name, j)}
		}
		ids = append(ids, id)
	}
	return nil
}

// decodeSectionItem decodes one object of a policy section into p and
// returns its id.
func decodeSectionItem(section string, item []byte, p *Policy) (string, error) {
	// A JSON error is returned as it is: the caller's asError turns it
	// into an *Error with the item's path in front.
	unmarshal := func(v any) error { return json.Unmarshal(item, v, strict) }
	switch section {
	case "schedules":
		var w wireSchedule
		if err := unmarshal(&w); err != nil {
			return "", err
		}
		s, err := scheduleOf(w)
		p.Schedules = append(p.Schedules, s)
		return s.ID, err
	case "holidays":
		var w wireHoliday
		if err := unmarshal(&w); err != nil {
			return "", err
		}
		h, err := holidayOf(w)
		p.Holidays = append(p.Holidays, h)
		return h.ID, err
	case "levels":
		var w wireLevel
		if err := unmarshal(&w); err != nil {
			return "", err
		}
		l, err := levelOf(w)
		p.Levels = append(p.Levels, l)
		return l.ID, err
	case "door_policies":
		var w wireDoorPolicy
		if err := unmarshal(&w); err != nil {
			return "", err
		}
		dp, err := doorPolicyOf(w)
		p.DoorPolicies = append(p.DoorPolicies, dp)
		return dp.Door, err
	default:
		var w wireOverride
		if err := unmarshal(&w); err != nil {
			return "", err
		}
		o, err := overrideOf(w)
		p.Overrides = append(p.Overrides, o)
		return o.ID, err
	}
}

// Table builds the access table of a snapshot's policy for site, in the
// order references need (schedules and holidays, then levels, door
// policies and overrides). An object that does not fit the site or names
// what the snapshot does not have is refused with its path.
func (p Policy) Table(site access.Site) (*access.Table, error) {
	t := access.NewTable()
	for i, s := range p.Schedules {
		if err := t.PutSchedule(s); err != nil {
			return nil, asError(policyError(err), "schedules["+strconv.Itoa(i)+"]")
		}
	}
	for i, h := range p.Holidays {
		if err := t.PutHoliday(h); err != nil {
			return nil, asError(policyError(err), "holidays["+strconv.Itoa(i)+"]")
		}
	}
	for i, l := range p.Levels {
		if err := t.PutLevel(l, site); err != nil {
			return nil, asError(policyError(err), "levels["+strconv.Itoa(i)+"]")
		}
	}
	for i, dp := range p.DoorPolicies {
		if err := t.PutDoorPolicy(dp, site); err != nil {
			return nil, asError(policyError(err), "door_policies["+strconv.Itoa(i)+"]")
		}
	}
	for i, o := range p.Overrides {
		if err := t.SetOverride(o, site); err != nil {
			return nil, asError(policyError(err), "overrides["+strconv.Itoa(i)+"]")
		}
	}
	return t, nil
}

// PolicyOf lists a table's objects as a snapshot carries them, ordered by
// id: what a portal sends, and what export writes.
func PolicyOf(t *access.Table) Policy {
	var p Policy
	for _, id := range sortedIDs(t.Schedules) {
		p.Schedules = append(p.Schedules, t.Schedules[id])
	}
	for _, id := range sortedIDs(t.Holidays) {
		p.Holidays = append(p.Holidays, t.Holidays[id])
	}
	for _, id := range sortedIDs(t.Levels) {
		p.Levels = append(p.Levels, t.Levels[id])
	}
	for _, id := range sortedIDs(t.Policies) {
		p.DoorPolicies = append(p.DoorPolicies, t.Policies[id])
	}
	for _, id := range sortedIDs(t.Overrides) {
		p.Overrides = append(p.Overrides, t.Overrides[id])
	}
	return p
}

func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
