package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/go-json-experiment/json"

	"github.com/lintel-access/lintel/gateway/access"
)

// The policy table (schedules, holidays, levels, door policies, overrides)
// is small — a few thousand objects at most — and lives beside the users:
// each object is one record, JSON as the API shows it, under the table's
// generation, so a snapshot replaces policy and users in one switch. The
// store holds it in memory as an access.Table, which it never changes in
// place: a transaction changes a copy, and the copy is published with the
// users in one step.
//
//	p GEN(4) KIND(1) ID    one policy object; KIND is s, h, l, d or o

const kindPolicy = 'p'

// Kinds of policy records.
const (
	polSchedule = 's'
	polHoliday  = 'h'
	polLevel    = 'l'
	polDoor     = 'd' // a door policy, keyed by the door
	polOverride = 'o'
)

func policyPrefix(gen uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{kindPolicy}, gen)
}

func policyKey(gen uint32, kind byte, id string) []byte {
	return append(append(policyPrefix(gen), kind), id...)
}

// policyRecord is one policy object on its way to or from Badger.
type policyRecord struct {
	kind byte
	id   string
}

// encodePolicy returns the stored form of the object kind/id in t, and
// false when t does not hold it (it was deleted).
func encodePolicy(t *access.Table, kind byte, id string) ([]byte, bool) {
	var v any
	var ok bool
	switch kind {
	case polSchedule:
		v, ok = t.Schedules[id]
	case polHoliday:
		v, ok = t.Holidays[id]
	case polLevel:
		v, ok = t.Levels[id]
	case polDoor:
		v, ok = t.Policies[id]
	case polOverride:
		v, ok = t.Overrides[id]
	}
	if !ok {
		return nil, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Plain structs of strings, numbers and times: only a time
		// outside years 0-9999 fails, and Validate refuses none.
		panic(fmt.Sprintf("store: encode policy %c %q: %v", kind, id, err))
	}
	return b, true
}

var strictJSON = json.RejectUnknownMembers(true)

// decodePolicy adds one stored policy object to t, checking the object on
// its own (whether it fits the site is Compile's concern).
func decodePolicy(t *access.Table, kind byte, id string, b []byte) error {
	var err error
	switch kind {
	case polSchedule:
		var s access.Schedule
		if err = json.Unmarshal(b, &s, strictJSON); err == nil && s.ID == id {
			err = s.Validate()
			t.Schedules[id] = s
		}
	case polHoliday:
		var h access.Holiday
		if err = json.Unmarshal(b, &h, strictJSON); err == nil && h.ID == id {
			err = h.Validate()
			t.Holidays[id] = h
		}
	case polLevel:
		var l access.Level
		if err = json.Unmarshal(b, &l, strictJSON); err == nil && l.ID == id {
			err = l.Validate()
			t.Levels[id] = l
		}
	case polDoor:
		var p access.DoorPolicy
		if err = json.Unmarshal(b, &p, strictJSON); err == nil && p.Door == id {
			err = p.Validate()
			t.Policies[id] = p
		}
	case polOverride:
		var o access.Override
		if err = json.Unmarshal(b, &o, strictJSON); err == nil && o.ID == id {
			err = o.Validate()
			t.Overrides[id] = o
		}
	default:
		return fmt.Errorf("policy record of unknown kind %q", kind)
	}
	if err != nil {
		return fmt.Errorf("policy record %c %q: %w", kind, id, err)
	}
	return nil
}

// loadPolicy reads table generation gen's policy objects.
func (s *Store) loadPolicy(gen uint32) (*access.Table, error) {
	t := access.NewTable()
	prefix := policyPrefix(gen)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			key := it.Item().Key()[len(prefix):]
			if len(key) < 2 {
				return fmt.Errorf("policy record with a short key %q", key)
			}
			kind, id := key[0], string(key[1:])
			if err := it.Item().Value(func(v []byte) error { return decodePolicy(t, kind, id, v) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load policy of table generation %d: %w", gen, err)
	}
	return t, nil
}

// Policy returns the policy table the doors decide by. It must not be
// changed; it is replaced, never modified, by a committed change.
func (s *Store) Policy() *access.Table {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.policy
}

// OnPolicyChange sets fn to be called with the new table after every
// committed change of the policy (an Update that changed it, a snapshot).
// fn runs on the writer's goroutine while writes are held back, so it must
// be quick and must not write to the store. Set it before any write.
func (s *Store) OnPolicyChange(fn func(*access.Table)) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.onPolicy = fn
}

// rebuildTable checks a whole table, as a snapshot brings it, by putting
// its objects into a new one in the order their references need. Errors
// name the object.
func rebuildTable(t *access.Table, site access.Site) (*access.Table, error) {
	out := access.NewTable()
	if t == nil {
		return out, nil
	}
	for _, id := range sortedKeys(t.Schedules) {
		if err := out.PutSchedule(t.Schedules[id]); err != nil {
			return nil, fmt.Errorf("schedule %q: %w", id, err)
		}
	}
	for _, id := range sortedKeys(t.Holidays) {
		if err := out.PutHoliday(t.Holidays[id]); err != nil {
			return nil, fmt.Errorf("holiday %q: %w", id, err)
		}
	}
	for _, id := range sortedKeys(t.Levels) {
		if err := out.PutLevel(t.Levels[id], site); err != nil {
			return nil, fmt.Errorf("level %q: %w", id, err)
		}
	}
	for _, id := range sortedKeys(t.Policies) {
		if err := out.PutDoorPolicy(t.Policies[id], site); err != nil {
			return nil, fmt.Errorf("door policy %q: %w", id, err)
		}
	}
	for _, id := range sortedKeys(t.Overrides) {
		if err := out.SetOverride(t.Overrides[id], site); err != nil {
			return nil, fmt.Errorf("override %q: %w", id, err)
		}
	}
	return out, nil
}

// policyRecords lists every object of t as a record.
func policyRecords(t *access.Table) []policyRecord {
	var out []policyRecord
	add := func(kind byte, ids []string) {
		for _, id := range ids {
			out = append(out, policyRecord{kind, id})
		}
	}
	add(polSchedule, sortedKeys(t.Schedules))
	add(polHoliday, sortedKeys(t.Holidays))
	add(polLevel, sortedKeys(t.Levels))
	add(polDoor, sortedKeys(t.Policies))
	add(polOverride, sortedKeys(t.Overrides))
	return out
}

// policyDigest is the policy's part of [Store.Digest]: the sum of the
// SHA-256 of every object's [CanonicalPolicy] record.
func policyDigest(t *access.Table) digest {
	var d digest
	for _, r := range policyRecords(t) {
		d.add(digestOf(sha256.Sum256(canonicalPolicy(t, r.kind, r.id))))
	}
	return d
}

// CanonicalSchedule, CanonicalHoliday, CanonicalLevel, CanonicalDoorPolicy
// and CanonicalOverride return the canonical records of policy objects,
// which [Store.Digest] sums with the users' (see [CanonicalRecord] and
// docs/sync.md). Each is an ASCII tag followed by fields written as their
// length (4 bytes, big-endian) and their bytes. Lists whose order does not
// matter are sorted; a door policy's modes keep their order, which decides
// which mode wins.
func CanonicalSchedule(s access.Schedule) []byte {
	b := append([]byte(nil), "lintel.schedule.v1"...)
	b = appendField(b, s.ID)
	b = appendField(b, s.Name)
	ivs := slices.Clone(s.Intervals)
	keys := make([]string, len(ivs))
	for i, iv := range ivs {
		keys[i] = canonicalInterval(iv)
	}
	slices.Sort(keys)
	b = appendCount(b, len(keys))
	for _, k := range keys {
		b = append(b, k...)
	}
	return b
}

// canonicalInterval writes an interval: its days in week order from
// Monday, start, end, its holiday types ascending.
func canonicalInterval(iv access.Interval) string {
	var b []byte
	week := []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	var days []string
	for _, d := range week {
		if slices.Contains(iv.Days, d) {
			days = append(days, d)
		}
	}
	b = appendCount(b, len(days))
	for _, d := range days {
		b = appendField(b, d)
	}
	b = appendField(b, iv.Start)
	b = appendField(b, iv.End)
	hol := slices.Sorted(slices.Values(iv.Holidays))
	b = appendCount(b, len(hol))
	for _, h := range hol {
		b = appendField(b, strconv.Itoa(h))
	}
	return string(b)
}

// CanonicalHoliday: see CanonicalSchedule.
func CanonicalHoliday(h access.Holiday) []byte {
	b := append([]byte(nil), "lintel.holiday.v1"...)
	b = appendField(b, h.ID)
	b = appendField(b, h.Name)
	b = appendField(b, h.Date)
	until := h.Until
	if until == "" {
		until = h.Date
	}
	b = appendField(b, until)
	return appendField(b, strconv.Itoa(h.Type))
}

// CanonicalLevel: see CanonicalSchedule. Doors are sorted by door, then
// schedule.
func CanonicalLevel(l access.Level) []byte {
	b := append([]byte(nil), "lintel.level.v1"...)
	b = appendField(b, l.ID)
	b = appendField(b, l.Name)
	doors := slices.Clone(l.Doors)
	slices.SortFunc(doors, func(x, y access.LevelDoor) int {
		if x.Door != y.Door {
			return compareStrings(x.Door, y.Door)
		}
		return compareStrings(x.Schedule, y.Schedule)
	})
	b = appendCount(b, len(doors))
	for _, d := range doors {
		b = appendField(b, d.Door)
		b = appendField(b, d.Schedule)
	}
	return b
}

// CanonicalDoorPolicy: see CanonicalSchedule. Modes keep their order.
func CanonicalDoorPolicy(p access.DoorPolicy) []byte {
	b := append([]byte(nil), "lintel.door_policy.v1"...)
	b = appendField(b, p.Door)
	b = appendCount(b, len(p.Modes))
	for _, m := range p.Modes {
		b = appendField(b, m.Schedule)
		b = appendField(b, string(m.Mode))
		b = appendField(b, m.FirstIn)
	}
	return b
}

// CanonicalOverride: see CanonicalSchedule. Doors are sorted; rank is the
// effective rank; until is RFC 3339 in UTC as in [CanonicalRecord], or
// empty.
func CanonicalOverride(o access.Override) []byte {
	b := append([]byte(nil), "lintel.override.v1"...)
	b = appendField(b, o.ID)
	doors := slices.Sorted(slices.Values(o.Doors))
	b = appendCount(b, len(doors))
	for _, d := range doors {
		b = appendField(b, d)
	}
	b = appendField(b, string(o.Mode))
	b = appendField(b, strconv.Itoa(o.EffectiveRank()))
	var until time.Time
	if o.Until != nil {
		until = *o.Until
	}
	return appendStamp(b, until)
}

func canonicalPolicy(t *access.Table, kind byte, id string) []byte {
	switch kind {
	case polSchedule:
		return CanonicalSchedule(t.Schedules[id])
	case polHoliday:
		return CanonicalHoliday(t.Holidays[id])
	case polLevel:
		return CanonicalLevel(t.Levels[id])
	case polDoor:
		return CanonicalDoorPolicy(t.Policies[id])
	}
	return CanonicalOverride(t.Overrides[id])
}

func appendCount(b []byte, n int) []byte { return appendField(b, strconv.Itoa(n)) }

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ErrDuressConflict: with duress on, some user's PIN is another user's
// duress code, or cannot be checked (set before the store kept duress
// neighbours). The error lists the users whose PINs to re-issue.
var ErrDuressConflict = errors.New("duress codes would be ambiguous")

// PINsByLength counts the table's PINs by their number of digits: element
// n counts n-digit PINs, element 0 PINs whose length the table does not
// know (set before lengths were kept). The gateway uses it to warn when a
// keypad's PIN space is dense enough for guessing to pay.
func (s *Store) PINsByLength() [access.MaxPINLength + 1]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.pinsByLen
}

// Site returns the doors policy writes are checked against.
func (s *Store) Site() access.Site { return s.opts.Site }
