package changeset

import (
	"fmt"
	"slices"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/lintel-access/lintel/gateway/access"
)

// Encode renders a changeset in its wire form, the inverse of [Decode] for
// every changeset Decode accepts. Portals written in Go, tests and tools
// use it; the gateway itself only decodes. Encode does not check the
// changeset: Decode does, on arrival.
func Encode(cs Changeset) ([]byte, error) {
	if cs.Snapshot {
		w := wireSnapshot{Revision: cs.Revision, Base: cs.Base, Snapshot: true, Users: make([]wireUser, len(cs.Users)),
			wirePolicy: encodePolicy(cs.Policy)}
		for i, u := range cs.Users {
			w.Users[i] = encodeUser(u)
		}
		return json.Marshal(w)
	}
	w := wireDelta{Revision: cs.Revision, Base: cs.Base, Ops: make([]any, len(cs.Ops))}
	for i, op := range cs.Ops {
		v, err := encodeOp(op)
		if err != nil {
			return nil, fmt.Errorf("changeset: encode ops[%d]: %w", i, err)
		}
		w.Ops[i] = v
	}
	return json.Marshal(w)
}

func encodeOp(op Op) (any, error) {
	switch op.Kind {
	case OpUserUpsert:
		w := wireUserUpsert{Op: op.Kind, User: op.User, Name: op.Name, Enabled: &op.Enabled,
			ValidFrom: timeString(op.ValidFrom), ValidTo: timeString(op.ValidTo), Override: op.Override}
		if op.LevelsSet {
			levels := op.Levels
			if levels == nil {
				levels = []string{}
			}
			w.Levels = &levels
		}
		return w, nil
	case OpUserDelete, OpPINClear:
		return wireUserRef{Op: op.Kind, User: op.User}, nil
	case OpPINSet:
		return wirePINSet{Op: op.Kind, User: op.User, PIN: &op.PIN}, nil
	case OpPINGenerate:
		return wirePINGenerate{Op: op.Kind, User: op.User, Length: &op.Length}, nil
	case OpCredentialAdd:
		return wireCredentialAdd{Op: op.Kind, User: op.User, ID: op.Credential,
			Card: &wireCard{Format: op.Card.Format, Facility: &op.Card.Facility, Number: &op.Card.Number}}, nil
	case OpCredentialRemove:
		return wireCredentialRemove{Op: op.Kind, ID: op.Credential}, nil
	case OpScheduleDelete, OpHolidayDelete, OpLevelDelete, OpOverrideClear:
		return wireIDRef{Op: op.Kind, ID: op.ID}, nil
	case OpScheduleUpsert:
		return opSchedule{Op: op.Kind, wireSchedule: encodeSchedule(op.Schedule)}, nil
	case OpHolidayUpsert:
		return opHoliday{Op: op.Kind, wireHoliday: encodeHoliday(op.Holiday)}, nil
	case OpLevelUpsert:
		return opLevel{Op: op.Kind, wireLevel: encodeLevel(op.Level)}, nil
	case OpDoorPolicy:
		return opDoorPolicy{Op: op.Kind, wireDoorPolicy: encodeDoorPolicy(op.DoorPolicy)}, nil
	case OpOverrideSet:
		return opOverride{Op: op.Kind, wireOverride: encodeOverride(op.DoorOverride)}, nil
	}
	return nil, fmt.Errorf("unknown op %q", op.Kind)
}

func encodeUser(u SnapshotUser) wireUser {
	w := wireUser{ID: u.User.ID, Name: u.User.Name, Enabled: &u.User.Enabled,
		ValidFrom: timeString(u.User.ValidFrom), ValidTo: timeString(u.User.ValidTo), Override: u.User.Override}
	if u.User.Levels != nil {
		w.Levels = &u.User.Levels
	}
	if u.PIN != "" {
		w.PIN = &u.PIN
	}
	for _, c := range u.Credentials {
		w.Credentials = append(w.Credentials, wireCredential{ID: c.ID,
			Card: &wireCard{Format: c.Card.Format, Facility: &c.Card.Facility, Number: &c.Card.Number}})
	}
	return w
}

func timeString(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.Format(time.RFC3339Nano)
	return &s
}

func encodeSchedule(s access.Schedule) wireSchedule {
	ivs := s.Intervals
	if ivs == nil {
		ivs = []access.Interval{}
	}
	for i := range ivs {
		if ivs[i].Days == nil || ivs[i].Holidays == nil {
			ivs = slices.Clone(ivs)
			break
		}
	}
	for i := range ivs {
		if ivs[i].Days == nil {
			ivs[i].Days = []string{}
		}
		if ivs[i].Holidays == nil {
			ivs[i].Holidays = []int{}
		}
	}
	return wireSchedule{ID: s.ID, Name: s.Name, Intervals: &ivs}
}

func encodeHoliday(h access.Holiday) wireHoliday {
	return wireHoliday{ID: h.ID, Name: h.Name, Date: h.Date, Until: h.Until, Type: &h.Type}
}

func encodeLevel(l access.Level) wireLevel {
	doors := l.Doors
	if doors == nil {
		doors = []access.LevelDoor{}
	}
	return wireLevel{ID: l.ID, Name: l.Name, Doors: &doors}
}

func encodeDoorPolicy(p access.DoorPolicy) wireDoorPolicy {
	modes := p.Modes
	if modes == nil {
		modes = []access.PolicyMode{}
	}
	return wireDoorPolicy{Door: p.Door, Modes: &modes}
}

func encodeOverride(o access.Override) wireOverride {
	w := wireOverride{ID: o.ID, Doors: o.Doors, Mode: o.Mode, Rank: o.Rank}
	if o.Until != nil {
		w.Until = timeString(*o.Until)
	}
	return w
}

func encodePolicy(p Policy) wirePolicy {
	var w wirePolicy
	for _, s := range p.Schedules {
		w.Schedules = append(w.Schedules, encodeSchedule(s))
	}
	for _, h := range p.Holidays {
		w.Holidays = append(w.Holidays, encodeHoliday(h))
	}
	for _, l := range p.Levels {
		w.Levels = append(w.Levels, encodeLevel(l))
	}
	for _, dp := range p.DoorPolicies {
		w.DoorPolicies = append(w.DoorPolicies, encodeDoorPolicy(dp))
	}
	for _, o := range p.Overrides {
		w.Overrides = append(w.Overrides, encodeOverride(o))
	}
	return w
}
