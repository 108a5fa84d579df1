package portal

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/sync/changeset"
)

// User is one user of a gateway's table as the portal holds it: the shape
// of a snapshot user. PIN is the plain PIN ("" for none); every credential
// needs its id, since the id is part of the table's digest. Levels nil
// means the default levels (["all"]), as on the gateway.
type User = changeset.SnapshotUser

// Table is a gateway's whole table as the portal holds it: its access
// policy and its users.
type Table struct {
	Policy changeset.Policy
	Users  []User
}

// Snapshot returns the snapshot changeset that makes a gateway hold
// exactly t, at revision rev.
func Snapshot(rev uint64, t Table) changeset.Changeset {
	return changeset.Changeset{Revision: rev, Snapshot: true, Users: t.Users, Policy: t.Policy}
}

// Delta returns the changeset that takes a gateway from old, at revision
// base, to new, at revision rev: a delta of the ops [Diff] finds when it
// fits the gateway's limits for a delta ([changeset.MaxOps] ops,
// [changeset.MaxDeltaPayload] bytes), otherwise a snapshot of new. Either
// way the gateway ends up holding new.
func Delta(base, rev uint64, old, new Table) (changeset.Changeset, error) {
	ops, err := Diff(old, new)
	if err != nil {
		return changeset.Changeset{}, err
	}
	cs := changeset.Changeset{Revision: rev, Base: base, Ops: ops}
	if len(ops) > changeset.MaxOps {
		return Snapshot(rev, new), nil
	}
	b, err := changeset.Encode(cs)
	if err != nil {
		return changeset.Changeset{}, fmt.Errorf("portal: delta %d: %w", rev, err)
	}
	if len(b) > changeset.MaxDeltaPayload {
		return Snapshot(rev, new), nil
	}
	return cs, nil
}

// Diff returns the ops that turn a gateway holding old into one holding
// new, in an order the gateway accepts, since each op is checked against
// what the ops before it left:
//
//  1. schedules and holidays that are new or changed (levels and door
//     policies may name them);
//  2. levels that are new or changed (users and door policies name them);
//  3. door policies that are new, changed or gone (door.policy without
//     modes), then overrides set and cleared;
//  4. everything that frees a PIN, a card or a credential id (user.delete,
//     pin.clear, credential.remove), then everything that takes one
//     (user.upsert, pin.set, credential.add), so a PIN or a card that
//     moves from one user to another never collides with itself;
//  5. levels that are gone (no user and no door policy holds them now),
//     then schedules and holidays that are gone.
//
// Objects keep the order they have in old (for what is removed) and in new
// (for the rest), so the same tables always give the same ops.
//
// Diff checks that ids are unique within each table and that every
// credential has an id; the rules for values (PIN length, id syntax,
// which doors exist, ...) are the gateway's to check.
func Diff(old, new Table) ([]changeset.Op, error) {
	if err := checkPolicy(old.Policy, "old"); err != nil {
		return nil, err
	}
	if err := checkPolicy(new.Policy, "new"); err != nil {
		return nil, err
	}
	before, err := index(old.Users, "old")
	if err != nil {
		return nil, err
	}
	after, err := index(new.Users, "new")
	if err != nil {
		return nil, err
	}
	op, np := old.Policy, new.Policy
	var ops []changeset.Op
	ops = appendPuts(ops, op.Schedules, np.Schedules, scheduleID, store.CanonicalSchedule,
		func(s access.Schedule) changeset.Op {
			return changeset.Op{Kind: changeset.OpScheduleUpsert, Schedule: s}
		})
	ops = appendPuts(ops, op.Holidays, np.Holidays, holidayID, store.CanonicalHoliday,
		func(h access.Holiday) changeset.Op { return changeset.Op{Kind: changeset.OpHolidayUpsert, Holiday: h} })
	ops = appendPuts(ops, op.Levels, np.Levels, levelID, store.CanonicalLevel,
		func(l access.Level) changeset.Op { return changeset.Op{Kind: changeset.OpLevelUpsert, Level: l} })
	ops = appendPuts(ops, op.DoorPolicies, np.DoorPolicies, doorPolicyID, store.CanonicalDoorPolicy,
		func(p access.DoorPolicy) changeset.Op {
			return changeset.Op{Kind: changeset.OpDoorPolicy, DoorPolicy: p}
		})
	ops = appendGone(ops, op.DoorPolicies, np.DoorPolicies, doorPolicyID, func(door string) changeset.Op {
		return changeset.Op{Kind: changeset.OpDoorPolicy, DoorPolicy: access.DoorPolicy{Door: door, Modes: []access.PolicyMode{}}}
	})
	ops = appendPuts(ops, op.Overrides, np.Overrides, overrideID, store.CanonicalOverride,
		func(o access.Override) changeset.Op {
			return changeset.Op{Kind: changeset.OpOverrideSet, DoorOverride: o}
		})
	ops = appendGone(ops, op.Overrides, np.Overrides, overrideID, func(id string) changeset.Op {
		return changeset.Op{Kind: changeset.OpOverrideClear, ID: id}
	})
	ops = append(ops, userOps(old.Users, new.Users, before, after)...)
	ops = appendGone(ops, op.Levels, np.Levels, levelID, func(id string) changeset.Op {
		return changeset.Op{Kind: changeset.OpLevelDelete, ID: id}
	})
	ops = appendGone(ops, op.Schedules, np.Schedules, scheduleID, func(id string) changeset.Op {
		return changeset.Op{Kind: changeset.OpScheduleDelete, ID: id}
	})
	ops = appendGone(ops, op.Holidays, np.Holidays, holidayID, func(id string) changeset.Op {
		return changeset.Op{Kind: changeset.OpHolidayDelete, ID: id}
	})
	return ops, nil
}

func scheduleID(s access.Schedule) string     { return s.ID }
func holidayID(h access.Holiday) string       { return h.ID }
func levelID(l access.Level) string           { return l.ID }
func doorPolicyID(p access.DoorPolicy) string { return p.Door }
func overrideID(o access.Override) string     { return o.ID }

// appendPuts appends an op for every object of new that old does not
// have, or has with another canonical record.
func appendPuts[T any](ops []changeset.Op, old, new []T, id func(T) string, canonical func(T) []byte, put func(T) changeset.Op) []changeset.Op {
	had := make(map[string][]byte, len(old))
	for _, o := range old {
		had[id(o)] = canonical(o)
	}
	for _, n := range new {
		if rec, ok := had[id(n)]; !ok || !bytes.Equal(rec, canonical(n)) {
			ops = append(ops, put(n))
		}
	}
	return ops
}

// appendGone appends an op for every object of old that new does not
// have.
func appendGone[T any](ops []changeset.Op, old, new []T, id func(T) string, gone func(string) changeset.Op) []changeset.Op {
	has := make(map[string]bool, len(new))
	for _, n := range new {
		has[id(n)] = true
	}
	for _, o := range old {
		if !has[id(o)] {
			ops = append(ops, gone(id(o)))
		}
	}
	return ops
}

// userOps are the users' ops: first those that free a PIN, a card or a
// credential id, then those that take one.
func userOps(old, new []User, before, after map[string]User) []changeset.Op {
	var free, take []changeset.Op
	for _, o := range old {
		n, kept := after[o.User.ID]
		if !kept {
			free = append(free, changeset.Op{Kind: changeset.OpUserDelete, User: o.User.ID})
			continue
		}
		if o.PIN != "" && o.PIN != n.PIN {
			free = append(free, changeset.Op{Kind: changeset.OpPINClear, User: o.User.ID})
		}
		newCards := cards(n.Credentials)
		for _, c := range o.Credentials {
			if card, ok := newCards[c.ID]; !ok || card != c.Card {
				free = append(free, changeset.Op{Kind: changeset.OpCredentialRemove, Credential: c.ID})
			}
		}
	}
	// A credential id that moves to another user is removed above (it is
	// not among the old user's new cards) and added below.
	for _, n := range new {
		o, existed := before[n.User.ID]
		if !existed || !sameRecord(o.User, n.User) {
			override := n.User.Override
			take = append(take, changeset.Op{Kind: changeset.OpUserUpsert, User: n.User.ID,
				Name: n.User.Name, Enabled: n.User.Enabled, ValidFrom: n.User.ValidFrom, ValidTo: n.User.ValidTo,
				Levels: levelsOf(n.User), LevelsSet: true, Override: &override})
		}
		if n.PIN != "" && (!existed || n.PIN != o.PIN) {
			take = append(take, changeset.Op{Kind: changeset.OpPINSet, User: n.User.ID, PIN: n.PIN})
		}
		oldCards := map[string]access.CardKey{}
		if existed {
			oldCards = cards(o.Credentials)
		}
		for _, c := range n.Credentials {
			if card, ok := oldCards[c.ID]; !ok || card != c.Card {
				take = append(take, changeset.Op{Kind: changeset.OpCredentialAdd, User: n.User.ID, Credential: c.ID, Card: c.Card})
			}
		}
	}
	return append(free, take...)
}

// levelsOf is a user's levels as a user.upsert carries them: nil, the
// default, spelt out.
func levelsOf(u access.User) []string {
	if u.Levels == nil {
		return access.DefaultLevels()
	}
	return u.Levels
}

// checkPolicy refuses a policy object listed twice.
func checkPolicy(p changeset.Policy, which string) error {
	check := func(section string, ids []string) error {
		seen := make(map[string]int, len(ids))
		for i, id := range ids {
			if j, dup := seen[id]; dup {
				return fmt.Errorf("portal: diff: %s %s[%d]: %q is listed twice (also %s[%d])", which, section, i, id, section, j)
			}
			seen[id] = i
		}
		return nil
	}
	return errors.Join(
		check("schedules", ids(p.Schedules, scheduleID)),
		check("holidays", ids(p.Holidays, holidayID)),
		check("levels", ids(p.Levels, levelID)),
		check("door_policies", ids(p.DoorPolicies, doorPolicyID)),
		check("overrides", ids(p.Overrides, overrideID)),
	)
}

func ids[T any](objs []T, id func(T) string) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = id(o)
	}
	return out
}

// index maps users by id, refusing repeated user or credential ids and
// credentials without an id.
func index(users []User, which string) (map[string]User, error) {
	m := make(map[string]User, len(users))
	creds := make(map[string]string)
	for i, u := range users {
		if _, dup := m[u.User.ID]; dup {
			return nil, fmt.Errorf("portal: diff: %s users[%d]: user %q is listed twice", which, i, u.User.ID)
		}
		m[u.User.ID] = u
		for j, c := range u.Credentials {
			if c.ID == "" {
				return nil, fmt.Errorf("portal: diff: %s users[%d].credentials[%d]: a credential needs an id", which, i, j)
			}
			if other, dup := creds[c.ID]; dup {
				return nil, fmt.Errorf("portal: diff: %s users[%d].credentials[%d]: credential %q is also user %q's", which, i, j, c.ID, other)
			}
			creds[c.ID] = u.User.ID
		}
	}
	return m, nil
}

func cards(creds []access.Credential) map[string]access.CardKey {
	m := make(map[string]access.CardKey, len(creds))
	for _, c := range creds {
		m[c.ID] = c.Card
	}
	return m
}

// sameRecord says whether a user.upsert would change nothing. Every field
// counts, so one the user record gains is compared without a change here;
// the times are compared as instants, levels as sets with nil the
// default.
func sameRecord(a, b access.User) bool {
	a.ValidFrom, a.ValidTo = a.ValidFrom.UTC(), a.ValidTo.UTC()
	b.ValidFrom, b.ValidTo = b.ValidFrom.UTC(), b.ValidTo.UTC()
	a.Levels = slices.Sorted(slices.Values(levelsOf(a)))
	b.Levels = slices.Sorted(slices.Values(levelsOf(b)))
	return reflect.DeepEqual(a, b)
}

// Digest returns the digest of a gateway holding t, as docs/sync.md
// defines it and as the gateway reports it in its acks: the sum, modulo
// 2^256, of the SHA-256 of every user's canonical record
// ([store.CanonicalRecord]) and every policy object's
// ([store.CanonicalSchedule] and the others), in 64 lower-case hex digits.
func Digest(t Table) string {
	sum := new(big.Int)
	add := func(rec []byte) {
		h := sha256.Sum256(rec)
		sum.Add(sum, new(big.Int).SetBytes(h[:]))
	}
	for _, u := range t.Users {
		add(store.CanonicalRecord(u.User, u.PIN != "", u.Credentials))
	}
	p := t.Policy
	for _, s := range p.Schedules {
		add(store.CanonicalSchedule(s))
	}
	for _, h := range p.Holidays {
		add(store.CanonicalHoliday(h))
	}
	for _, l := range p.Levels {
		add(store.CanonicalLevel(l))
	}
	for _, dp := range p.DoorPolicies {
		add(store.CanonicalDoorPolicy(dp))
	}
	for _, o := range p.Overrides {
		add(store.CanonicalOverride(o))
	}
	sum.Mod(sum, new(big.Int).Lsh(big.NewInt(1), 256))
	return fmt.Sprintf("%064x", sum)
}
