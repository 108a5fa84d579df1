package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gateway/store/storetest"
)

func officeHours() access.Schedule {
	return access.Schedule{ID: "office", Name: "Office", Intervals: []access.Interval{
		{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "08:00", End: "18:00", Holidays: []int{}}}}
}

// putPolicy writes a small policy: a schedule, a holiday, a level on it,
// a door policy and an override.
func putPolicy(t *testing.T, s *store.Store) {
	t.Helper()
	until := time.Date(2027, 1, 1, 18, 0, 0, 0, time.UTC)
	update(t, s, func(tx *store.Tx) error {
		return errors.Join(
			tx.PutSchedule(officeHours()),
			tx.PutHoliday(access.Holiday{ID: "ny", Name: "New Year", Date: "2027-01-01", Type: 1}),
			tx.PutLevel(access.Level{ID: "staff", Name: "Staff", Doors: []access.LevelDoor{{Door: "front", Schedule: "office"}, {Door: "side", Schedule: "always"}}}),
			tx.SetDoorPolicy(access.DoorPolicy{Door: "front", Modes: []access.PolicyMode{{Schedule: "office", Mode: access.ModeUnlocked, FirstIn: "staff"}}}),
			tx.SetOverride(access.Override{ID: "snow", Doors: []string{"*"}, Mode: access.ModeLocked, Rank: 10, Until: &until}),
		)
	})
}

func TestPolicySurvivesReopen(t *testing.T) {
	opts := storetest.Options(t)
	s, err := store.Open(opts)
	must(s, err)
	var told []*access.Table
	s.OnPolicyChange(func(t *access.Table) { told = append(told, t) })
	empty := s.Digest()
	putPolicy(t, s)
	if len(told) != 1 || told[0] != s.Policy() {
		t.Fatalf("OnPolicyChange was called %d times, want once with the new table", len(told))
	}
	want, dig := s.Policy(), s.Digest()
	if dig == empty {
		t.Fatalf("the digest does not cover the policy")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = storetest.Open(t, opts)
	if diff := cmp.Diff(want, s.Policy()); diff != "" {
		t.Errorf("policy after reopening (-want +got):\n%s", diff)
	}
	if s.Digest() != dig {
		t.Errorf("digest after reopening differs")
	}
	// Deleting everything brings the digest back.
	update(t, s, func(tx *store.Tx) error {
		return errors.Join(tx.SetDoorPolicy(access.DoorPolicy{Door: "front"}), tx.ClearOverride("snow"),
			tx.DeleteLevel("staff"), tx.DeleteSchedule("office"), tx.DeleteHoliday("ny"))
	})
	if s.Digest() != empty {
		t.Errorf("digest of an emptied policy is not that of an empty table")
	}
}

// TestPolicyChangeAllOrNothing: a failed op fails the whole Update; the
// schedule written before it in the same Update is not kept.
func TestPolicyChangeAllOrNothing(t *testing.T) {
	s := storetest.New(t)
	err := s.Update(func(tx *store.Tx) error {
		if err := tx.PutSchedule(officeHours()); err != nil {
			return err
		}
		return tx.PutLevel(access.Level{ID: "l", Doors: []access.LevelDoor{{Door: "lobby", Schedule: "office"}}})
	})
	var fe *access.FieldError
	if !errors.As(err, &fe) || fe.Field != "doors[0].door" || !errors.Is(err, access.ErrInvalid) {
		t.Fatalf("PutLevel on an unknown door = %v, want an ErrInvalid FieldError on doors[0].door", err)
	}
	if len(s.Policy().Schedules) != 0 {
		t.Errorf("the failed Update left %d schedules", len(s.Policy().Schedules))
	}
}

func TestUserLevels(t *testing.T) {
	s := storetest.New(t)
	putPolicy(t, s)
	put := func(u access.User, set access.UserFields) error {
		return s.Update(func(tx *store.Tx) error { _, err := tx.UpsertUser(u, set); return err })
	}
	get := func(id string) access.User {
		r, err := s.User(id)
		if err != nil {
			t.Fatal(err)
		}
		return r.User
	}
	// Created without levels: the default.
	must(0, put(access.User{ID: "ann", Name: "Ann"}, 0))
	if u := get("ann"); !cmp.Equal(u.Levels, []string{"all"}) || !u.Enabled || u.Override {
		t.Errorf("a new user without fields: %+v, want enabled, levels [all], no override", u)
	}
	// Given: set, sorted.
	must(0, put(access.User{ID: "ann", Name: "Ann", Levels: []string{"staff", "all"}, Override: true}, store.FieldLevels|store.FieldOverride))
	if u := get("ann"); !cmp.Equal(u.Levels, []string{"all", "staff"}) || !u.Override {
		t.Errorf("after setting levels and override: %+v", u)
	}
	// Disabled, then updated without enabled: stays disabled (and keeps
	// levels and override).
	must(0, put(access.User{ID: "ann", Name: "Ann", Enabled: false}, store.FieldEnabled))
	must(0, put(access.User{ID: "ann", Name: "Ann B"}, 0))
	if u := get("ann"); u.Enabled || !u.Override || u.Name != "Ann B" || len(u.Levels) != 2 {
		t.Errorf("an update without enabled, levels or override: %+v, want them kept", u)
	}
	// No door at all.
	must(0, put(access.User{ID: "ann", Name: "Ann", Levels: []string{}}, store.FieldLevels))
	if u := get("ann"); u.Levels == nil || len(u.Levels) != 0 {
		t.Errorf("levels [] became %#v, want an empty list", u.Levels)
	}
	// A level that does not exist.
	err := put(access.User{ID: "bob", Name: "Bob", Levels: []string{"boss"}}, store.FieldLevels)
	if !errors.Is(err, access.ErrInvalid) || !strings.Contains(err.Error(), `levels[0]`) {
		t.Errorf("a user with an unknown level = %v, want ErrInvalid on levels[0]", err)
	}
	// Deleting a level users hold is refused, in the same Update that
	// moves them off it too.
	must(0, put(access.User{ID: "cy", Name: "Cy", Levels: []string{"staff"}}, store.FieldLevels))
	update(t, s, func(tx *store.Tx) error {
		return tx.SetDoorPolicy(access.DoorPolicy{Door: "front"}) // the first_in no longer names staff
	})
	if err := s.Update(func(tx *store.Tx) error { return tx.DeleteLevel("staff") }); !errors.Is(err, access.ErrInUse) || !strings.Contains(err.Error(), "1 users") {
		t.Errorf("DeleteLevel held by cy = %v, want ErrInUse naming 1 user", err)
	}
	update(t, s, func(tx *store.Tx) error {
		if _, err := tx.UpsertUser(access.User{ID: "cy", Name: "Cy", Levels: []string{}}, store.FieldLevels); err != nil {
			return err
		}
		return tx.DeleteLevel("staff")
	})
	if s.LevelHolders("staff") != 0 {
		t.Errorf("LevelHolders(staff) = %d after it was deleted", s.LevelHolders("staff"))
	}
}

// TestDecisionSeesLevels: a holder's levels come from memory, shared
// between users with the same list.
func TestDecisionSeesLevels(t *testing.T) {
	s := storetest.New(t)
	putPolicy(t, s)
	update(t, s, func(tx *store.Tx) error {
		for _, id := range []string{"a", "b"} {
			if _, err := tx.UpsertUser(access.User{ID: id, Enabled: true, Levels: []string{"staff"}, Override: id == "b"}, store.AllFields); err != nil {
				return err
			}
			if _, err := tx.AddCredential(access.Credential{ID: "c-" + id, UserID: id, Card: card(map[string]uint64{"a": 1, "b": 2}[id])}); err != nil {
				return err
			}
		}
		return nil
	})
	ha, _ := s.Card(card(1))
	hb, _ := s.Card(card(2))
	if !cmp.Equal(ha.User.Levels, []string{"staff"}) || ha.User.Override || !hb.User.Override {
		t.Fatalf("holders %+v and %+v", ha.User, hb.User)
	}
	if &ha.User.Levels[0] != &hb.User.Levels[0] {
		t.Errorf("two users with the same levels do not share the list")
	}
}

func TestSnapshotCarriesPolicy(t *testing.T) {
	opts := storetest.Options(t)
	s := storetest.Open(t, opts)
	putPolicy(t, s)
	tb := access.NewTable()
	must(0, tb.PutSchedule(officeHours()))
	must(0, tb.PutLevel(access.Level{ID: "day", Doors: []access.LevelDoor{{Door: "garage", Schedule: "office"}}}, storetest.Site()))
	users := []store.SnapshotUser{{User: access.User{ID: "u1", Enabled: true, Levels: []string{"day"}}}}
	if err := s.ReplaceAll(7, tb, users); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tb, s.Policy()); diff != "" {
		t.Errorf("policy after the snapshot (-want +got):\n%s", diff)
	}
	// A user naming a level the snapshot does not have refuses it whole.
	bad := []store.SnapshotUser{{User: access.User{ID: "u2", Enabled: true, Levels: []string{"staff"}}}}
	if err := s.ReplaceAll(8, tb, bad); !errors.Is(err, access.ErrInvalid) || s.Revision() != 7 {
		t.Errorf("snapshot with an unknown level = %v at revision %d, want ErrInvalid and revision 7", err, s.Revision())
	}
	// A policy that does not fit the site refuses it whole.
	wrong := tb.Clone()
	wrong.Levels["x"] = access.Level{ID: "x", Doors: []access.LevelDoor{{Door: "lobby", Schedule: "always"}}}
	if err := s.ReplaceAll(9, wrong, nil); !errors.Is(err, access.ErrInvalid) {
		t.Errorf("snapshot naming an unknown door = %v, want ErrInvalid", err)
	}
	dig := s.Digest()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = storetest.Open(t, opts)
	if diff := cmp.Diff(tb, s.Policy()); diff != "" || s.Digest() != dig {
		t.Errorf("after reopening: policy diff %s, digest equal %v", diff, s.Digest() == dig)
	}
}

func TestDuressNeighboursUnique(t *testing.T) {
	s := storetest.New(t, func(o *store.Options) { o.Duress = true })
	putUser(t, s, "ann")
	putUser(t, s, "bob")
	update(t, s, func(tx *store.Tx) error { return tx.SetPIN("ann", "482913") })
	for _, pin := range []string{"482914", "482912"} { // ann's duress code; the PIN whose duress code is ann's PIN
		err := s.Update(func(tx *store.Tx) error { return tx.SetPIN("bob", pin) })
		if !errors.Is(err, access.ErrPINInUse) || !strings.Contains(err.Error(), "duress") {
			t.Errorf("bob's PIN next to ann's = %v, want ErrPINInUse explaining the duress rule", err)
		}
		if strings.Contains(err.Error(), pin) {
			t.Errorf("the error %q holds the PIN", err)
		}
	}
	update(t, s, func(tx *store.Tx) error { return tx.SetPIN("bob", "482915") })

	// Without duress the neighbours are free.
	plain := storetest.New(t)
	putUser(t, plain, "ann")
	putUser(t, plain, "bob")
	update(t, plain, func(tx *store.Tx) error {
		return errors.Join(tx.SetPIN("ann", "482913"), tx.SetPIN("bob", "482914"))
	})
}

// TestDuressRefusedOnAConflictingTable: turning duress on over a table that
// already holds neighbouring PINs is refused at Open, naming whom to
// re-issue; with it off the same table opens.
func TestDuressRefusedOnAConflictingTable(t *testing.T) {
	opts := storetest.Options(t)
	s, err := store.Open(opts)
	must(s, err)
	putUser(t, s, "ann")
	putUser(t, s, "bob")
	update(t, s, func(tx *store.Tx) error {
		return errors.Join(tx.SetPIN("ann", "482913"), tx.SetPIN("bob", "482914"))
	})
	must(0, s.Close())
	opts.Duress = true
	_, err = store.Open(opts)
	if !errors.Is(err, store.ErrDuressConflict) || !strings.Contains(err.Error(), `"ann"`) {
		t.Fatalf("Open with duress over a conflict = %v, want ErrDuressConflict naming ann", err)
	}
	opts.Duress = false
	storetest.Open(t, opts)
}

func TestPINsByLength(t *testing.T) {
	s := storetest.New(t)
	putUser(t, s, "a")
	putUser(t, s, "b")
	putUser(t, s, "c")
	update(t, s, func(tx *store.Tx) error {
		_, err := tx.GeneratePIN("a", 4)
		return errors.Join(err, tx.SetPIN("b", "48291375"), tx.SetPIN("c", "4829"))
	})
	got := s.PINsByLength()
	if got[4] != 2 || got[8] != 1 || got[0] != 0 {
		t.Errorf("PINsByLength = %v, want two of 4 digits and one of 8", got)
	}
}

func TestRuntimeRecords(t *testing.T) {
	opts := storetest.Options(t)
	s, err := store.Open(opts)
	must(s, err)
	if _, ok, err := s.Runtime("clock"); ok || err != nil {
		t.Fatalf("Runtime of nothing = %v, %v", ok, err)
	}
	must(0, s.SetRuntime("clock", []byte("2026-12-03T10:00:00Z")))
	must(0, s.SetRuntime("first-in.front", []byte(`{"date":"2026-12-03"}`)))
	must(0, s.Close())
	s = storetest.Open(t, opts)
	v, ok, err := s.Runtime("clock")
	if !ok || err != nil || string(v) != "2026-12-03T10:00:00Z" {
		t.Errorf("after reopening: %q, %v, %v", v, ok, err)
	}
	if err := s.SetRuntime("bad name", nil); err == nil {
		t.Errorf("SetRuntime with a bad name: no error")
	}
}
