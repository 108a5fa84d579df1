package access_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/access/accesstest"
)

// The building of the policy tests, on Monday 4 January 2027 (UTC):
//
//	ann  staff            card 1:100  PIN 482913
//	bob  cleaners         card 1:200  PIN 739164
//	sec  all, override    card 1:300  PIN 615283
//	tom  no level at all  card 1:400
//	val  staff, valid to Tuesday 12:00, card 1:500
//
//	staff     front on office (Mon-Fri 08-18), side always
//	cleaners  front and garage on evening (Mon-Fri 18-22)
//	front's policy: unlocked during office once a staff member is in
//	side's policy: card and PIN at night (22-06)
var (
	monday = time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC)

	pAnn = access.CardKey{Format: "H10301", Facility: 1, Number: 100}
	pBob = access.CardKey{Format: "H10301", Facility: 1, Number: 200}
	pSec = access.CardKey{Format: "H10301", Facility: 1, Number: 300}
	pTom = access.CardKey{Format: "H10301", Facility: 1, Number: 400}
	pVal = access.CardKey{Format: "H10301", Facility: 1, Number: 500}
)

func building(t *testing.T) (*accesstest.Directory, *access.Table) {
	t.Helper()
	d := accesstest.New()
	for _, u := range []struct {
		user access.User
		card access.CardKey
		pin  string
	}{
		{access.User{ID: "ann", Enabled: true, Levels: []string{"staff"}}, pAnn, "482913"},
		{access.User{ID: "bob", Enabled: true, Levels: []string{"cleaners"}}, pBob, "739164"},
		{access.User{ID: "sec", Enabled: true, Levels: []string{"all"}, Override: true}, pSec, "615283"},
		{access.User{ID: "tom", Enabled: true, Levels: []string{}}, pTom, ""},
		{access.User{ID: "val", Enabled: true, Levels: []string{"staff"}, ValidTo: monday.Add(36 * time.Hour)}, pVal, ""},
	} {
		d.PutUser(u.user)
		must(t, d.AddCard(u.user.ID, "c-"+u.user.ID, u.card))
		if u.pin != "" {
			must(t, d.SetPIN(u.user.ID, u.pin))
		}
	}
	site := testSite()
	tb := access.NewTable()
	must(t, tb.PutSchedule(office()))
	must(t, tb.PutSchedule(access.Schedule{ID: "evening", Intervals: []access.Interval{{Days: weekdays(), Start: "18:00", End: "22:00"}}}))
	every := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	must(t, tb.PutSchedule(access.Schedule{ID: "night", Intervals: []access.Interval{
		{Days: every, Start: "22:00", End: "24:00"}, {Days: every, Start: "00:00", End: "06:00"}}}))
	must(t, tb.PutLevel(access.Level{ID: "staff", Doors: []access.LevelDoor{{Door: "front", Schedule: "office"}, {Door: "side", Schedule: "always"}}}, site))
	must(t, tb.PutLevel(access.Level{ID: "cleaners", Doors: []access.LevelDoor{{Door: "front", Schedule: "evening"}, {Door: "garage", Schedule: "evening"}}}, site))
	must(t, tb.PutDoorPolicy(access.DoorPolicy{Door: "front", Modes: []access.PolicyMode{{Schedule: "office", Mode: access.ModeUnlocked, FirstIn: "staff"}}}, site))
	must(t, tb.PutDoorPolicy(access.DoorPolicy{Door: "side", Modes: []access.PolicyMode{{Schedule: "night", Mode: access.DoorMode(access.ModeCardAndPIN)}}}, site))
	return d, tb
}

// policyEngine is an engine over the building's users for the test site's
// doors, with a trusted clock, deciding by tb.
func policyEngine(t *testing.T, loc *time.Location, tb *access.Table, opts ...func(*access.EngineConfig)) *access.Engine {
	t.Helper()
	d, _ := building(t)
	cfg := access.EngineConfig{
		Directory: d,
		Readers: []access.ReaderConfig{
			{Name: "front", Door: "front", Model: access.ModelRPK40, Mode: access.ModeCardAndPIN},
			{Name: "side", Door: "side", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN},
			{Name: "garage", Door: "garage", Model: access.ModelRP40, Mode: access.ModeCardOnly},
		},
		Doors:    []string{"front", "side", "garage", "store"},
		Location: loc,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e, err := access.NewEngine(cfg)
	must(t, err)
	e.SetClock(access.ClockState{Trusted: true})
	if w := e.SetPolicy(tb); len(w) > 0 {
		t.Fatalf("policy warnings: %v", w)
	}
	return e
}

func doorStatus(t *testing.T, e *access.Engine, now time.Time, door string) access.DoorStatus {
	t.Helper()
	for _, d := range e.DoorStatuses(now) {
		if d.Door == door {
			return d
		}
	}
	t.Fatalf("no door %q", door)
	return access.DoorStatus{}
}

// pstep is one thing that happens in a policy scenario, at an offset from
// Monday midnight.
type pstep struct {
	at     time.Duration
	reader string
	card   *access.CardKey
	keys   string
	// modes, when set, runs UpdateModes instead of an input; the step's
	// names are then the events of the mode changes.
	modes bool
	// do changes the engine before the step (an override, the clock).
	do func(e *access.Engine, tb *access.Table)
}

func pc(at time.Duration, reader string, k access.CardKey) pstep {
	return pstep{at: at, reader: reader, card: &k}
}
func pk(at time.Duration, reader, keys string) pstep {
	return pstep{at: at, reader: reader, keys: keys}
}
func modesAt(at time.Duration) pstep { return pstep{at: at, modes: true} }

func h(hours float64) time.Duration { return time.Duration(hours * float64(time.Hour)) }

// runP runs one step and returns the names of the events it produced (for
// mode changes, "door: name").
func runP(t *testing.T, e *access.Engine, tb *access.Table, s pstep) []string {
	t.Helper()
	now := monday.Add(s.at)
	if s.do != nil {
		s.do(e, tb)
	}
	var names []string
	if s.modes {
		for _, ch := range e.UpdateModes(now) {
			if ch.Event.Name != "" {
				names = append(names, ch.To.Door+": "+ch.Event.Name)
			}
		}
		return names
	}
	var results []access.Result
	if s.card != nil {
		r, err := e.Card(now, s.reader, *s.card)
		must(t, err)
		results = append(results, r)
	}
	for i := 0; i < len(s.keys); i++ {
		r, err := e.Key(now, s.reader, s.keys[i])
		must(t, err)
		results = append(results, r)
	}
	for _, r := range results {
		for _, ev := range r.Events {
			names = append(names, ev.Name)
		}
	}
	return names
}

func setOverride(o access.Override) func(*access.Engine, *access.Table) {
	return func(e *access.Engine, tb *access.Table) {
		if err := tb.SetOverride(o, e.Site()); err != nil {
			panic(err)
		}
		e.SetPolicy(tb)
	}
}

func clearOverride(id string) func(*access.Engine, *access.Table) {
	return func(e *access.Engine, tb *access.Table) {
		if err := tb.ClearOverride(id); err != nil {
			panic(err)
		}
		e.SetPolicy(tb)
	}
}

func TestPolicyRules(t *testing.T) {
	const (
		grantCard  = access.NameGrantCard
		grantPIN   = access.NameGrantPIN
		grantBoth  = access.NameGrantCardAndPIN
		awaitPIN   = access.NameAwaitingPIN
		notAuth    = access.NameDenyNotAuthorized
		outside    = access.NameDenyOutsideSchedule
		lockdown   = access.NameDenyLockdown
		doorLocked = access.NameDenyDoorLocked
	)
	tests := []struct {
		name  string
		steps []pstep
		want  [][]string
	}{
		{"no level lists the door: Not Authorized", []pstep{
			pc(h(10), "front", pTom), pc(h(19), "side", pBob),
		}, [][]string{{notAuth}, {notAuth}}},
		{"a level lists the door, not now: Outside Schedule", []pstep{
			pc(h(10), "garage", pBob), pc(h(19), "garage", pBob), pc(h(5*24+19), "garage", pBob),
		}, [][]string{{outside}, {grantCard}, {outside}}}, // Saturday 19:00
		{"a level on always opens at any hour", []pstep{
			pc(h(3), "side", pAnn), pk(h(3), "side", "482913#"),
		}, [][]string{{awaitPIN}, {grantBoth}}}, // 03:00: side runs card and PIN at night
		{"levels are unioned across a user's levels: all opens every door", []pstep{
			pc(h(23), "garage", pSec), pk(h(10), "side", "615283#"),
		}, [][]string{{grantCard}, {grantPIN}}},
		{"first person in: the lobby stays locked until a staff member is granted, then stands open until 18:00", []pstep{
			modesAt(h(7)),
			modesAt(h(8)), // office starts, but nobody is in yet
			pc(h(8.5), "front", pBob),
			pc(h(8.6), "front", pAnn), pk(h(8.6), "front", "482913#"),
			modesAt(h(8.6)),
			modesAt(h(18)),
			modesAt(h(24 + 8)), // Tuesday: a new day waits again
		}, [][]string{
			nil,
			{"front: " + access.NameAwaitingFirstIn},
			{outside}, // a cleaner at 08:30 is outside their schedule
			{awaitPIN}, {grantBoth, access.NameFirstPersonIn},
			{"front: " + access.NameUnlockedBySchedule},
			{"front: " + access.NameLockedBySchedule},
			{"front: " + access.NameAwaitingFirstIn},
		}},
		{"a scheduled reader mode: side asks for card and PIN at night", []pstep{
			pc(h(21), "side", pAnn), pc(h(23), "side", pAnn), pk(h(23), "side", "482913#"),
			modesAt(h(21.9)), modesAt(h(22)),
		}, [][]string{{grantCard}, {awaitPIN}, {grantBoth}, nil, {"side: " + access.NameDoorModeChanged}}},
		{"lockdown denies everyone but override users, and ends", []pstep{
			{at: h(10), modes: true, do: setOverride(access.Override{ID: "ld", Doors: []string{"*"}, Mode: access.ModeLockdown})},
			pc(h(10), "side", pAnn), pk(h(10), "side", "615283#"), pc(h(10), "garage", pSec),
			{at: h(11), modes: true, do: clearOverride("ld")},
		}, [][]string{
			{"front: " + access.NameLockdownStarted, "side: " + access.NameLockdownStarted, "garage: " + access.NameLockdownStarted, "store: " + access.NameLockdownStarted},
			{lockdown}, {grantPIN}, {grantCard},
			{"front: " + access.NameLockdownEnded, "side: " + access.NameLockdownEnded, "garage: " + access.NameLockdownEnded, "store: " + access.NameLockdownEnded},
		}},
		{"an override beats the policy; the lowest rank wins; until ends it by itself", []pstep{
			{at: h(9), modes: true, do: setOverride(access.Override{ID: "open", Doors: []string{"garage"}, Mode: access.ModeUnlocked, Until: ptime(monday.Add(h(12)))})},
			{at: h(9.5), modes: true, do: setOverride(access.Override{ID: "shut", Doors: []string{"garage"}, Mode: access.ModeLocked, Rank: 50})},
			{at: h(10), modes: true, do: clearOverride("shut")},
			modesAt(h(12)),
			{at: h(19), do: setOverride(access.Override{ID: "shut", Doors: []string{"garage"}, Mode: access.ModeLocked}), reader: "garage", card: &pBob},
			pc(h(19), "garage", pSec),
		}, [][]string{
			{"garage: " + access.NameUnlockedByOverride},
			{"garage: " + access.NameLockedByOverride},
			{"garage: " + access.NameUnlockedByOverride},
			{"garage: " + access.NameOverrideEnded},
			{doorLocked}, {grantCard},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, tb := building(t)
			e := policyEngine(t, time.UTC, tb)
			e.UpdateModes(monday.Add(tt.steps[0].at))
			for i, s := range tt.steps {
				got := runP(t, e, tb, s)
				if diff := cmp.Diff(tt.want[i], got); diff != "" {
					t.Errorf("step %d: events (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func ptime(t time.Time) *time.Time { return &t }

func TestDuress(t *testing.T) {
	_, tb := building(t)
	e := policyEngine(t, time.UTC, tb, func(c *access.EngineConfig) { c.Duress = true })
	// 482913's duress code is 482914.
	got := runP(t, e, tb, pk(h(10), "side", "482914#"))
	if diff := cmp.Diff([]string{access.NameGrantPIN, access.NameDuressAlarm}, got); diff != "" {
		t.Errorf("duress PIN at a card-or-PIN reader (-want +got):\n%s", diff)
	}
	runP(t, e, tb, pc(h(20), "front", pSec))
	got = runP(t, e, tb, pk(h(20), "front", "615284#"))
	if diff := cmp.Diff([]string{access.NameGrantCardAndPIN, access.NameDuressAlarm}, got); diff != "" {
		t.Errorf("duress PIN after the card (-want +got):\n%s", diff)
	}
	// Another user's duress code with this card is a wrong PIN.
	runP(t, e, tb, pc(h(20), "front", pSec))
	if got := runP(t, e, tb, pk(h(20), "front", "482914#")); !slices.Equal(got, []string{access.NameDenyWrongPIN}) {
		t.Errorf("ann's duress code with sec's card: %v, want a wrong PIN", got)
	}
	// Without duress the neighbour is just wrong.
	off := policyEngine(t, time.UTC, tb)
	if got := runP(t, off, tb, pk(h(10), "side", "482914#")); !slices.Equal(got, []string{access.NameDenyCardPINNotFound}) {
		t.Errorf("duress code with duress off: %v, want R10", got)
	}
}

func TestUntrustedClock(t *testing.T) {
	lastTrusted := monday.Add(h(9)) // the clock was last known right on Monday 09:00
	untrusted := func(e *access.Engine, _ *access.Table) {
		e.SetClock(access.ClockState{Trusted: false, LastTrusted: lastTrusted})
	}
	tests := []struct {
		choice access.UntrustedClock
		steps  []pstep
		want   [][]string
	}{
		{access.ClockRestrict, []pstep{
			{at: h(10), do: untrusted, reader: "side", card: &pAnn}, // staff: side on always
			pc(h(10), "garage", pBob),                               // evening schedule: cannot tell
			pc(h(10), "side", pVal),                                 // valid to Tuesday 12:00: cannot tell
			{at: h(10), do: func(e *access.Engine, _ *access.Table) {
				e.SetClock(access.ClockState{LastTrusted: monday.Add(h(40))})
			}, reader: "side", card: &pVal}, // the last trusted time is past her end
		}, [][]string{{access.NameGrantCard}, {access.NameDenyClockUntrusted}, {access.NameDenyClockUntrusted}, {access.NameDenyExpired}}},
		{access.ClockDeny, []pstep{
			{at: h(10), do: untrusted, reader: "side", card: &pAnn},
			pc(h(10), "side", pSec),
		}, [][]string{{access.NameDenyClockUntrusted}, {access.NameGrantCard}}},
		{access.ClockTrust, []pstep{
			{at: h(10), do: untrusted, reader: "garage", card: &pBob},
			pc(h(19), "garage", pBob),
		}, [][]string{{access.NameDenyOutsideSchedule}, {access.NameGrantCard}}},
	}
	for _, tt := range tests {
		t.Run(string(tt.choice), func(t *testing.T) {
			_, tb := building(t)
			e := policyEngine(t, time.UTC, tb, func(c *access.EngineConfig) { c.UntrustedClock = tt.choice })
			for i, s := range tt.steps {
				if got := runP(t, e, tb, s); !slices.Equal(got, tt.want[i]) {
					t.Errorf("step %d: %v, want %v", i, got, tt.want[i])
				}
			}
		})
	}
	t.Run("door modes", func(t *testing.T) {
		_, tb := building(t)
		until := monday.Add(h(12))
		must(t, tb.SetOverride(access.Override{ID: "ld", Doors: []string{"garage"}, Mode: access.ModeLockdown, Until: &until}, testSite()))
		must(t, tb.SetOverride(access.Override{ID: "open", Doors: []string{"store"}, Mode: access.ModeUnlocked, Until: &until}, testSite()))
		e := policyEngine(t, time.UTC, tb)
		e.SetClock(access.ClockState{Trusted: false, LastTrusted: lastTrusted})
		// First-in has happened at front: restrict still runs no schedule.
		e.RestoreFirstIn(access.FirstIn{Door: "front", Date: "2027-01-04", User: "ann"})
		now := monday.Add(h(13)) // after both overrides' end, by the (wrong) clock
		got := map[string]access.DoorMode{}
		held := map[string]bool{}
		for _, d := range e.DoorStatuses(now) {
			got[d.Door] = d.Mode
			held[d.Door] = d.ClockHeld
		}
		want := map[string]access.DoorMode{
			"front":  access.DoorMode(access.ModeCardAndPIN), // no scheduled unlock
			"side":   access.DoorMode(access.ModeCardOrPIN),
			"garage": access.ModeLockdown, // a lockdown whose end cannot be told stays
			"store":  access.ModeLocked,   // an unlock whose end cannot be told ends
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("door modes on an untrusted clock (-want +got):\n%s", diff)
		}
		// The status page says which doors the clock holds back: those
		// with a policy, and the one whose unlock was ended.
		wantHeld := map[string]bool{"front": true, "side": true, "garage": false, "store": true}
		if diff := cmp.Diff(wantHeld, held); diff != "" {
			t.Errorf("doors held back by the clock (-want +got):\n%s", diff)
		}
		e.SetClock(access.ClockState{Trusted: true, LastTrusted: now})
		for _, d := range e.DoorStatuses(now) {
			if d.ClockHeld {
				t.Errorf("door %s: held back by a trusted clock", d.Door)
			}
		}
	})
}

// TestKeypadGuessingGatewayBudget moves from keypad to keypad, four wrong
// PINs at a time so that no reader locks on its own: the twentieth wrong
// PIN across the gateway locks every keypad.
func TestKeypadGuessingGatewayBudget(t *testing.T) {
	d, _ := building(t)
	e, err := access.NewEngine(access.EngineConfig{Directory: d, Readers: []access.ReaderConfig{
		{Name: "a", Door: "a", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN},
		{Name: "b", Door: "b", Model: access.ModelRPK40, Mode: access.ModePINOnly},
	}})
	must(t, err)
	e.SetClock(access.ClockState{Trusted: true})
	var names []string
	now := monday
	for round := range 5 {
		reader := []string{"a", "b"}[round%2]
		for range 4 {
			r, err := e.PIN(now, reader, []byte("10203040"))
			must(t, err)
			for _, ev := range r.Events {
				names = append(names, ev.Name)
			}
		}
		now = now.Add(61 * time.Second)
	}
	if got := names[len(names)-1]; got != access.NameKeypadsLocked {
		t.Fatalf("after 20 wrong PINs across readers the last event is %q, want %q", got, access.NameKeypadsLocked)
	}
	r, err := e.PIN(now, "a", []byte("482913"))
	must(t, err)
	if r.Events[0].Name != access.NameDenyKeypadLocked {
		t.Errorf("a right PIN during the gateway-wide lockout: %q, want %q", r.Events[0].Name, access.NameDenyKeypadLocked)
	}
	out := e.Tick(now.Add(access.DefaultGuessDuration))
	if len(out) != 1 || out[0].Events[0].Name != access.NameKeypadsUnlocked {
		t.Errorf("Tick after the lockout: %+v, want Keypads Unlocked", out)
	}
}

// TestKeypadGuessingBackoff: each lockout of a reader that follows another
// within a day lasts twice as long, up to an hour.
func TestKeypadGuessingBackoff(t *testing.T) {
	d, _ := building(t)
	e, err := access.NewEngine(access.EngineConfig{Directory: d,
		Readers: []access.ReaderConfig{{Name: "a", Door: "a", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN}},
		Guesses: access.GuessBudget{Attempts: 1 << 30}})
	must(t, err)
	e.SetClock(access.ClockState{Trusted: true})
	now := monday
	var got []string
	for range 8 {
		for range 5 {
			r, err := e.PIN(now, "a", []byte("10203040"))
			must(t, err)
			for _, ev := range r.Events {
				if ev.Name == access.NameKeypadLocked {
					got = append(got, ev.Detail)
				}
			}
		}
		next, ok := e.NextDeadline()
		if !ok {
			t.Fatal("no deadline during a lockout")
		}
		e.Tick(next)
		now = next
	}
	want := []string{"1m0s", "2m0s", "4m0s", "8m0s", "16m0s", "32m0s", "1h0m0s", "1h0m0s"}
	for i := range want {
		want[i] = "keypad locked for " + want[i]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lockout lengths (-want +got):\n%s", diff)
	}
}

// TestKeypadGuessingLockoutSurvivesRestart: an engine built afresh from
// the saved lockouts still refuses the locked keypad.
func TestKeypadGuessingLockoutSurvivesRestart(t *testing.T) {
	d, _ := building(t)
	cfg := access.EngineConfig{Directory: d, Readers: []access.ReaderConfig{{Name: "a", Door: "a", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN}}}
	e, err := access.NewEngine(cfg)
	must(t, err)
	e.SetClock(access.ClockState{Trusted: true})
	for range 5 {
		_, err := e.PIN(monday, "a", []byte("10203040"))
		must(t, err)
	}
	saved, err := json.Marshal(e.Lockouts())
	must(t, err)
	var restored access.LockoutState
	must(t, json.Unmarshal(saved, &restored))
	e2, err := access.NewEngine(cfg)
	must(t, err)
	e2.SetClock(access.ClockState{Trusted: true})
	e2.RestoreLockouts(restored)
	r, err := e2.PIN(monday.Add(time.Second), "a", []byte("482913"))
	must(t, err)
	if r.Events[0].Name != access.NameDenyKeypadLocked {
		t.Fatalf("after a restart: %q, want the keypad still locked", r.Events[0].Name)
	}
	if !strings.Contains(string(saved), `"a"`) {
		t.Errorf("saved state %s does not name the reader", saved)
	}
}
