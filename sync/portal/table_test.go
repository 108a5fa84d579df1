package portal_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/portal"
)

func TestDiff(t *testing.T) {
	ann := user("ann", "Ann", "482913", 100)
	bob := user("bob", "Bob", "507316", 200)
	tests := []struct {
		name     string
		old, new users
		want     []string // op.String() of each op
	}{
		{"nothing to do", []portal.User{ann, bob}, []portal.User{bob, ann}, nil},
		{"add a user", []portal.User{ann}, []portal.User{ann, bob}, []string{
			`user.upsert user "bob"`, `pin.set user "bob"`, `credential.add "c-bob-0" for user "bob"`}},
		{"delete a user", []portal.User{ann, bob}, []portal.User{ann}, []string{`user.delete user "bob"`}},
		{"rename", []portal.User{ann}, []portal.User{user("ann", "Ann Lee", "482913", 100)}, []string{`user.upsert user "ann"`}},
		{"disable", []portal.User{ann}, []portal.User{func() portal.User { u := ann; u.User.Enabled = false; return u }()},
			[]string{`user.upsert user "ann"`}},
		{"new validity", []portal.User{ann}, []portal.User{func() portal.User {
			u := ann
			u.User.ValidTo = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
			return u
		}()}, []string{`user.upsert user "ann"`}},
		{"same validity in another zone", []portal.User{func() portal.User {
			u := ann
			u.User.ValidTo = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
			return u
		}()}, []portal.User{func() portal.User {
			u := ann
			u.User.ValidTo = time.Date(2027, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600))
			return u
		}()}, nil},
		{"clear a PIN", []portal.User{ann}, []portal.User{user("ann", "Ann", "", 100)}, []string{`pin.clear user "ann"`}},
		{"change a PIN", []portal.User{ann}, []portal.User{user("ann", "Ann", "8264", 100)}, []string{
			`pin.clear user "ann"`, `pin.set user "ann"`}},
		{"swap PINs", []portal.User{ann, bob}, []portal.User{user("ann", "Ann", "507316", 100), user("bob", "Bob", "482913", 200)}, []string{
			`pin.clear user "ann"`, `pin.clear user "bob"`, `pin.set user "ann"`, `pin.set user "bob"`}},
		{"a PIN moves to a new user", []portal.User{ann}, []portal.User{user("ann", "Ann", "", 100), user("cy", "Cy", "482913")}, []string{
			`pin.clear user "ann"`, `user.upsert user "cy"`, `pin.set user "cy"`}},
		{"a card moves from a deleted user", []portal.User{ann}, []portal.User{user("cy", "Cy", "", 100)}, []string{
			`user.delete user "ann"`, `user.upsert user "cy"`, `credential.add "c-cy-0" for user "cy"`}},
		{"a card is replaced", []portal.User{ann}, []portal.User{user("ann", "Ann", "482913", 101)}, []string{
			`credential.remove "c-ann-0"`, `credential.add "c-ann-0" for user "ann"`}},
		{"a credential id moves to another user", []portal.User{ann, user("bob", "Bob", "")},
			[]portal.User{user("ann", "Ann", "482913"), {User: bob.User, Credentials: ann.Credentials}}, []string{
				`credential.remove "c-ann-0"`, `credential.add "c-ann-0" for user "bob"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkDiff(t, portal.Table{Users: tc.old}, portal.Table{Users: tc.new}, tc.want)
		})
	}
}

type users = []portal.User

// checkDiff checks the ops Diff finds from old to new, then that a real
// gateway holding old takes them and ends up holding new.
func checkDiff(t *testing.T, old, new portal.Table, want []string) {
	t.Helper()
	ops, err := portal.Diff(old, new)
	if err != nil {
		t.Fatalf("Diff() = %v", err)
	}
	var got []string
	for _, op := range ops {
		got = append(got, op.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff() ops (-want +got):\n%s", diff)
	}
	g := newGateway(t)
	if ack := g.apply(portal.Snapshot(1, old)); ack.Status != changeset.StatusApplied {
		t.Fatalf("snapshot of old: %+v", ack.Error)
	}
	ack := g.apply(changeset.Changeset{Revision: 2, Base: 1, Ops: ops})
	if ack.Status != changeset.StatusApplied {
		t.Fatalf("delta refused: %+v", ack.Error)
	}
	if ack.Digest != portal.Digest(new) {
		t.Errorf("digest after the delta %s, want Digest(new) %s", ack.Digest, portal.Digest(new))
	}
}

func TestDiffPolicy(t *testing.T) {
	office := access.Schedule{ID: "office", Intervals: []access.Interval{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "08:00", End: "18:00"}}}
	late := access.Schedule{ID: "late", Intervals: []access.Interval{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "18:00", End: "22:00"}}}
	xmas := access.Holiday{ID: "xmas", Date: "2026-12-25", Type: 1}
	staff := access.Level{ID: "staff", Doors: []access.LevelDoor{{Door: "front", Schedule: "office"}}}
	staffLate := access.Level{ID: "staff", Doors: []access.LevelDoor{{Door: "front", Schedule: "late"}}}
	cleaners := access.Level{ID: "cleaners", Doors: []access.LevelDoor{{Door: "side", Schedule: "late"}}}
	frontOpen := access.DoorPolicy{Door: "front", Modes: []access.PolicyMode{{Schedule: "office", Mode: access.ModeUnlocked, FirstIn: "staff"}}}
	until := testStart.Add(48 * time.Hour)
	lockdown := access.Override{ID: "lockdown", Doors: []string{"front", "side"}, Mode: access.ModeLocked, Until: &until}
	withLevels := func(u portal.User, levels ...string) portal.User {
		u.User.Levels = levels
		return u
	}
	ann := user("ann", "Ann", "482913", 100)
	policy := func(p changeset.Policy, us ...portal.User) portal.Table { return portal.Table{Policy: p, Users: us} }
	tests := []struct {
		name     string
		old, new portal.Table
		want     []string
	}{
		{"nothing to do",
			policy(changeset.Policy{Schedules: []access.Schedule{office}, Levels: []access.Level{staff}}, withLevels(ann, "staff")),
			policy(changeset.Policy{Schedules: []access.Schedule{office}, Levels: []access.Level{staff}}, withLevels(ann, "staff")),
			nil},
		{"nil levels are the default levels",
			policy(changeset.Policy{}, ann), policy(changeset.Policy{}, withLevels(ann, access.LevelAll)), nil},
		{"a level on a new schedule, and a user in it",
			policy(changeset.Policy{}, ann),
			policy(changeset.Policy{Schedules: []access.Schedule{office}, Holidays: []access.Holiday{xmas}, Levels: []access.Level{staff}}, withLevels(ann, "staff")),
			[]string{`schedule.upsert "office"`, `holiday.upsert "xmas"`, `level.upsert "staff"`, `user.upsert user "ann"`}},
		{"a level moves to another schedule and the old one goes",
			policy(changeset.Policy{Schedules: []access.Schedule{office}, Levels: []access.Level{staff}}, withLevels(ann, "staff")),
			policy(changeset.Policy{Schedules: []access.Schedule{late}, Levels: []access.Level{staffLate}}, withLevels(ann, "staff")),
			[]string{`schedule.upsert "late"`, `level.upsert "staff"`, `schedule.delete "office"`}},
		{"a level goes once nobody holds it",
			policy(changeset.Policy{Schedules: []access.Schedule{late}, Levels: []access.Level{cleaners}}, withLevels(ann, "cleaners")),
			policy(changeset.Policy{Schedules: []access.Schedule{late}}, withLevels(ann)),
			[]string{`user.upsert user "ann"`, `level.delete "cleaners"`}},
		{"a door policy with a first-in level",
			policy(changeset.Policy{Schedules: []access.Schedule{office}, Levels: []access.Level{staff}}),
			policy(changeset.Policy{Schedules: []access.Schedule{office}, Levels: []access.Level{staff}, DoorPolicies: []access.DoorPolicy{frontOpen}}),
			[]string{`door.policy of door "front"`}},
		{"a door policy goes with the level it names",
			policy(changeset.Policy{Schedules: []access.Schedule{office}, Levels: []access.Level{staff}, DoorPolicies: []access.DoorPolicy{frontOpen}}),
			policy(changeset.Policy{}),
			[]string{`door.policy of door "front"`, `level.delete "staff"`, `schedule.delete "office"`}},
		{"an override set",
			policy(changeset.Policy{}), policy(changeset.Policy{Overrides: []access.Override{lockdown}}),
			[]string{`override.set "lockdown"`}},
		{"an override cleared",
			policy(changeset.Policy{Overrides: []access.Override{lockdown}}), policy(changeset.Policy{}),
			[]string{`override.clear "lockdown"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkDiff(t, tc.old, tc.new, tc.want) })
	}
}

func TestDiffRefuses(t *testing.T) {
	ann := user("ann", "Ann", "", 100)
	noID := ann
	noID.Credentials = []access.Credential{{Card: access.CardKey{Format: "H10301", Number: 1}}}
	tests := []struct {
		name     string
		old, new portal.Table
		want     string
	}{
		{"a user twice", portal.Table{}, portal.Table{Users: users{ann, ann}}, `portal: diff: new users[1]: user "ann" is listed twice`},
		{"a credential twice", portal.Table{Users: users{ann, {User: access.User{ID: "bob"}, Credentials: ann.Credentials}}}, portal.Table{},
			`portal: diff: old users[1].credentials[0]: credential "c-ann-0" is also user "ann"'s`},
		{"a credential without id", portal.Table{}, portal.Table{Users: users{noID}}, `portal: diff: new users[0].credentials[0]: a credential needs an id`},
		{"a schedule twice", portal.Table{}, portal.Table{Policy: changeset.Policy{Schedules: []access.Schedule{{ID: "office"}, {ID: "office"}}}},
			`portal: diff: new schedules[1]: "office" is listed twice (also schedules[0])`},
		{"a door policy twice", portal.Table{Policy: changeset.Policy{DoorPolicies: []access.DoorPolicy{{Door: "front"}, {Door: "front"}}}}, portal.Table{},
			`portal: diff: old door_policies[1]: "front" is listed twice (also door_policies[0])`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := portal.Diff(tc.old, tc.new)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Diff() error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDeltaFallsBackToSnapshot(t *testing.T) {
	var many []portal.User
	for i := range changeset.MaxOps + 1 {
		many = append(many, user(fmt.Sprintf("u%04d", i), "", ""))
	}
	tests := []struct {
		name         string
		old, new     users
		wantSnapshot bool
	}{
		{"small", nil, many[:10], false},
		{"as many ops as a delta may carry", nil, many[:changeset.MaxOps], false},
		{"one op more", nil, many, true},
		{"more bytes than a delta may carry", nil, func() users {
			// Names past the gateway's limit, but it is the byte count
			// that Delta must notice here.
			var us users
			for i := range 600 {
				us = append(us, user(fmt.Sprintf("u%04d", i), strings.Repeat("n", 2000), ""))
			}
			return us
		}(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := portal.Delta(4, 5, portal.Table{Users: tc.old}, portal.Table{Users: tc.new})
			if err != nil {
				t.Fatal(err)
			}
			if cs.Snapshot != tc.wantSnapshot || cs.Revision != 5 {
				t.Fatalf("Delta() snapshot %v revision %d, want snapshot %v revision 5", cs.Snapshot, cs.Revision, tc.wantSnapshot)
			}
			if !cs.Snapshot && cs.Base != 4 {
				t.Errorf("delta base %d, want 4", cs.Base)
			}
		})
	}
}

func TestDigestOfEmptyTable(t *testing.T) {
	if got, want := portal.Digest(portal.Table{}), strings.Repeat("0", 64); got != want {
		t.Errorf("Digest(empty) = %s, want %s", got, want)
	}
}

// TestDiffProperty draws pairs of tables from a small world of ids, PINs,
// cards, schedules and levels, so that PINs and cards often move between
// users and levels and schedules come and go under them, and checks
// against a real gateway store that the delta applies and leaves exactly
// the new table (by digest).
func TestDiffProperty(t *testing.T) {
	g := newGateway(t)
	rev := uint64(0)
	ids := []string{"ann", "bob", "cy", "dee", "eve"}
	pins := []string{"", "", "482913", "507316", "8264", "93718"}
	weekdays := []string{"mon", "tue", "wed", "thu", "fri"}
	schedules := []access.Schedule{
		{ID: "office", Intervals: []access.Interval{{Days: weekdays, Start: "08:00", End: "18:00"}}},
		{ID: "late", Intervals: []access.Interval{{Days: weekdays, Start: "18:00", End: "22:00", Holidays: []int{1}}}},
		{ID: "weekend", Intervals: []access.Interval{{Days: []string{"sat", "sun"}, Start: "00:00", End: "24:00"}}},
	}
	table := func(rt *rapid.T, label string) portal.Table {
		var tbl portal.Table
		p := &tbl.Policy
		scheds := []string{access.ScheduleAlways}
		for _, s := range schedules {
			if rapid.Bool().Draw(rt, label+" has schedule "+s.ID) {
				p.Schedules = append(p.Schedules, s)
				scheds = append(scheds, s.ID)
			}
		}
		if rapid.Bool().Draw(rt, label+" has holiday") {
			p.Holidays = append(p.Holidays, access.Holiday{ID: "xmas", Date: "2026-12-25",
				Type: rapid.IntRange(1, 3).Draw(rt, label+" holiday type")})
		}
		levels := []string{access.LevelAll}
		for _, id := range []string{"staff", "cleaners", "night"} {
			if !rapid.Bool().Draw(rt, label+" has level "+id) {
				continue
			}
			door := rapid.SampledFrom([]string{"front", "side", "garage"}).Draw(rt, label+" "+id+" door")
			sched := rapid.SampledFrom(scheds).Draw(rt, label+" "+id+" schedule")
			p.Levels = append(p.Levels, access.Level{ID: id, Doors: []access.LevelDoor{{Door: door, Schedule: sched}}})
			levels = append(levels, id)
		}
		if rapid.Bool().Draw(rt, label+" has door policy") {
			m := access.PolicyMode{Schedule: rapid.SampledFrom(scheds).Draw(rt, label+" policy schedule"),
				Mode: rapid.SampledFrom([]access.DoorMode{access.ModeUnlocked, access.ModeLocked}).Draw(rt, label+" policy mode")}
			if first := rapid.SampledFrom(levels).Draw(rt, label+" first in"); first != access.LevelAll && m.Mode == access.ModeUnlocked {
				m.FirstIn = first
			}
			p.DoorPolicies = append(p.DoorPolicies, access.DoorPolicy{Door: "garage", Modes: []access.PolicyMode{m}})
		}
		if rapid.Bool().Draw(rt, label+" has override") {
			p.Overrides = append(p.Overrides, access.Override{ID: "hold", Doors: []string{"side"},
				Mode: rapid.SampledFrom([]access.DoorMode{access.ModeUnlocked, access.ModeLocked}).Draw(rt, label+" override mode")})
		}
		n := rapid.IntRange(0, len(ids)).Draw(rt, label+" users")
		chosen := rapid.Permutation(ids).Draw(rt, label+" ids")[:n]
		pinOrder := rapid.Permutation(pins[2:]).Draw(rt, label+" pins")
		cardOrder := rapid.Permutation([]uint64{1, 2, 3, 4, 5, 6}).Draw(rt, label+" cards")
		for i, id := range chosen {
			u := portal.User{User: access.User{
				ID: id, Name: rapid.SampledFrom([]string{"", "A", "B"}).Draw(rt, label+" name"),
				Enabled:  rapid.Bool().Draw(rt, label+" enabled"),
				Override: rapid.Bool().Draw(rt, label+" override"),
			}}
			if rapid.Bool().Draw(rt, label+" own levels") {
				held := rapid.SliceOfNDistinct(rapid.SampledFrom(levels), 0, len(levels), func(l string) string { return l }).Draw(rt, label+" levels")
				u.User.Levels = held
			}
			if rapid.Bool().Draw(rt, label+" has pin") && i < len(pinOrder) {
				u.PIN = pinOrder[i]
			}
			if rapid.Bool().Draw(rt, label+" valid_to") {
				u.User.ValidTo = testStart.Add(time.Duration(rapid.IntRange(1, 3).Draw(rt, label+" days")) * 24 * time.Hour)
			}
			// Credential ids are per card number, so a card keeps its id
			// when it moves and the id moves with it.
			if i < len(cardOrder) && rapid.Bool().Draw(rt, label+" has card") {
				num := cardOrder[i]
				u.Credentials = []access.Credential{{ID: fmt.Sprintf("card%d", num), Card: access.CardKey{Format: "H10301", Facility: 1, Number: num}}}
			}
			tbl.Users = append(tbl.Users, u)
		}
		return tbl
	}
	rapid.Check(t, func(rt *rapid.T) {
		old, new := table(rt, "old"), table(rt, "new")
		rev++
		if ack := g.apply(portal.Snapshot(rev, old)); ack.Status != changeset.StatusApplied || ack.Digest != portal.Digest(old) {
			rt.Fatalf("snapshot of old: %s %+v; digest %s, want %s", ack.Status, ack.Error, ack.Digest, portal.Digest(old))
		}
		cs, err := portal.Delta(rev, rev+1, old, new)
		if err != nil {
			rt.Fatal(err)
		}
		rev++
		ack := g.apply(cs)
		if ack.Status != changeset.StatusApplied {
			rt.Fatalf("delta refused: %+v (ops %v)", ack.Error, cs.Ops)
		}
		if ack.Digest != portal.Digest(new) {
			rt.Fatalf("digest after the delta %s, want %s (ops %v)", ack.Digest, portal.Digest(new), cs.Ops)
		}
		if again, _ := portal.Diff(new, new); len(again) != 0 {
			rt.Fatalf("Diff(new, new) = %v, want no ops", again)
		}
	})
}
