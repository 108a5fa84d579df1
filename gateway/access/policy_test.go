package access_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lintel-access/lintel/gateway/access"
)

// testSite is three doors as `lintel run --sim` has them, plus a door
// without a reader.
func testSite() access.Site {
	return access.NewSite([]string{"front", "side", "garage", "store"}, []access.ReaderConfig{
		{Name: "front", Door: "front", Model: access.ModelRPK40, Mode: access.ModeCardAndPIN},
		{Name: "side", Door: "side", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN},
		{Name: "garage", Door: "garage", Model: access.ModelRP40, Mode: access.ModeCardOnly},
	})
}

func weekdays() []string { return []string{"mon", "tue", "wed", "thu", "fri"} }

func office() access.Schedule {
	return access.Schedule{ID: "office", Name: "Office", Intervals: []access.Interval{
		{Days: weekdays(), Start: "08:00", End: "18:00", Holidays: []int{}},
	}}
}

// wantFieldErr checks that err is a FieldError for field wrapping target,
// with a message that contains each of words.
func wantFieldErr(t *testing.T, err error, field string, target error, words ...string) {
	t.Helper()
	var fe *access.FieldError
	switch {
	case err == nil:
		t.Fatalf("err = nil, want a %s error on %q", target, field)
	case !errors.As(err, &fe):
		t.Fatalf("err = %v (%T), want a FieldError on %q", err, err, field)
	case fe.Field != field:
		t.Fatalf("err = %v: field %q, want %q", err, fe.Field, field)
	case !errors.Is(err, target):
		t.Fatalf("err = %v, want it to wrap %v", err, target)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("err = %q, want it to mention %q", err, w)
		}
	}
}

func TestScheduleRules(t *testing.T) {
	iv := func(days []string, start, end string, hol ...int) access.Interval {
		return access.Interval{Days: days, Start: start, End: end, Holidays: hol}
	}
	tests := []struct {
		name   string
		ivs    []access.Interval
		field  string
		target error
		words  []string
	}{
		{"reversed interval", []access.Interval{iv(weekdays(), "18:00", "08:00")}, "intervals[0].end", access.ErrInvalid, []string{"not after start"}},
		{"empty interval", []access.Interval{iv(weekdays(), "08:00", "08:00")}, "intervals[0].end", access.ErrInvalid, nil},
		{"25:00", []access.Interval{iv(weekdays(), "08:00", "25:00")}, "intervals[0].end", access.ErrInvalid, []string{`"25:00"`}},
		{"24:30", []access.Interval{iv(weekdays(), "08:00", "24:30")}, "intervals[0].end", access.ErrInvalid, nil},
		{"minutes out of range", []access.Interval{iv(weekdays(), "08:60", "09:00")}, "intervals[0].start", access.ErrInvalid, nil},
		{"one-digit hour", []access.Interval{iv(weekdays(), "8:00", "09:00")}, "intervals[0].start", access.ErrInvalid, []string{"HH:MM"}},
		{"start at 24:00", []access.Interval{iv(weekdays(), "24:00", "24:00")}, "intervals[0].start", access.ErrInvalid, []string{"end of a day"}},
		{"unknown day", []access.Interval{iv([]string{"mon", "mun"}, "08:00", "09:00")}, "intervals[0].days[1]", access.ErrInvalid, []string{`"mun"`}},
		{"day written in full", []access.Interval{iv([]string{"monday"}, "08:00", "09:00")}, "intervals[0].days[0]", access.ErrInvalid, nil},
		{"day twice", []access.Interval{iv([]string{"mon", "mon"}, "08:00", "09:00")}, "intervals[0].days[1]", access.ErrInvalid, []string{"twice"}},
		{"no day at all", []access.Interval{iv(nil, "08:00", "09:00")}, "intervals[0].days", access.ErrInvalid, []string{"no day"}},
		{"holiday type 4", []access.Interval{iv(nil, "08:00", "09:00", 4)}, "intervals[0].holidays[0]", access.ErrInvalid, []string{"1 to 3"}},
		{"holiday type 0", []access.Interval{iv(nil, "08:00", "09:00", 0)}, "intervals[0].holidays[0]", access.ErrInvalid, nil},
		{"overlapping on a shared day", []access.Interval{iv(weekdays(), "08:00", "12:00"), iv([]string{"fri", "sat"}, "11:00", "13:00")},
			"intervals[1]", access.ErrInvalid, []string{"overlaps intervals[0]"}},
		{"overlapping on a shared holiday type", []access.Interval{iv(nil, "08:00", "12:00", 1, 2), iv(nil, "11:00", "13:00", 2)},
			"intervals[1]", access.ErrInvalid, []string{"overlaps"}},
		{"too many intervals", make([]access.Interval, access.MaxIntervalsPerSchedule+1), "intervals", access.ErrInvalid, []string{"at most 32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := access.Schedule{ID: "s1", Name: "S", Intervals: tt.ivs}
			wantFieldErr(t, s.Validate(), tt.field, tt.target, tt.words...)
		})
	}
	t.Run("fine", func(t *testing.T) {
		s := access.Schedule{ID: "s1", Intervals: []access.Interval{
			iv(weekdays(), "08:00", "12:00"), iv(weekdays(), "12:00", "24:00"), // adjacent is not overlapping
			iv([]string{"sat"}, "08:00", "12:00"), iv(nil, "09:00", "10:00", 1),
		}}
		if err := s.Validate(); err != nil {
			t.Fatalf("Validate = %v, want nil", err)
		}
	})
	t.Run("always is built in", func(t *testing.T) {
		s := office()
		s.ID = access.ScheduleAlways
		wantFieldErr(t, s.Validate(), "id", access.ErrBuiltIn)
	})
	t.Run("bidi override in a name", func(t *testing.T) {
		s := office()
		s.Name = "Office\u202e"
		wantFieldErr(t, s.Validate(), "name", access.ErrInvalid, "U+202E")
	})
}

func TestHolidayRules(t *testing.T) {
	tests := []struct {
		name  string
		h     access.Holiday
		field string
	}{
		{"bad date", access.Holiday{ID: "h", Date: "2027-02-30", Type: 1}, "date"},
		{"date with time", access.Holiday{ID: "h", Date: "2027-01-01T00:00:00Z", Type: 1}, "date"},
		{"until before date", access.Holiday{ID: "h", Date: "2027-01-05", Until: "2027-01-04", Type: 1}, "until"},
		{"range too long", access.Holiday{ID: "h", Date: "2027-01-01", Until: "2028-01-02", Type: 1}, "until"},
		{"type 0", access.Holiday{ID: "h", Date: "2027-01-01"}, "type"},
		{"type 4", access.Holiday{ID: "h", Date: "2027-01-01", Type: 4}, "type"},
		{"bad id", access.Holiday{ID: "new year", Date: "2027-01-01", Type: 1}, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantFieldErr(t, tt.h.Validate(), tt.field, access.ErrInvalid)
		})
	}
	ok := access.Holiday{ID: "xmas", Name: "Christmas closure", Date: "2027-12-24", Until: "2027-12-31", Type: 2}
	if err := ok.Validate(); err != nil {
		t.Errorf("a range holiday: %v", err)
	}
}

func TestTableReferences(t *testing.T) {
	site := testSite()
	newTable := func(t *testing.T) *access.Table {
		t.Helper()
		tb := access.NewTable()
		must(t, tb.PutSchedule(office()))
		must(t, tb.PutLevel(access.Level{ID: "staff", Doors: []access.LevelDoor{{Door: "front", Schedule: "office"}, {Door: "side", Schedule: "always"}}}, site))
		must(t, tb.PutDoorPolicy(access.DoorPolicy{Door: "front", Modes: []access.PolicyMode{{Schedule: "office", Mode: access.ModeUnlocked, FirstIn: "staff"}}}, site))
		return tb
	}
	t.Run("a level naming an unknown door", func(t *testing.T) {
		err := newTable(t).PutLevel(access.Level{ID: "l", Doors: []access.LevelDoor{{Door: "lobby", Schedule: "always"}}}, site)
		wantFieldErr(t, err, "doors[0].door", access.ErrInvalid, `"lobby"`, `"front"`)
	})
	t.Run("a level naming an unknown schedule", func(t *testing.T) {
		err := newTable(t).PutLevel(access.Level{ID: "l", Doors: []access.LevelDoor{{Door: "side", Schedule: "always"}, {Door: "front", Schedule: "night"}}}, site)
		wantFieldErr(t, err, "doors[1].schedule", access.ErrInvalid, `"night"`)
	})
	t.Run("a level listing a door twice on one schedule", func(t *testing.T) {
		err := newTable(t).PutLevel(access.Level{ID: "l", Doors: []access.LevelDoor{{Door: "side", Schedule: "always"}, {Door: "side", Schedule: "always"}}}, site)
		wantFieldErr(t, err, "doors[1]", access.ErrInvalid, "twice")
	})
	t.Run("the level all is built in", func(t *testing.T) {
		err := newTable(t).PutLevel(access.Level{ID: "all"}, site)
		wantFieldErr(t, err, "id", access.ErrBuiltIn)
		if err := newTable(t).DeleteLevel("all", 0); !errors.Is(err, access.ErrBuiltIn) {
			t.Errorf("DeleteLevel(all) = %v, want ErrBuiltIn", err)
		}
	})
	t.Run("deleting a schedule a level and a policy use", func(t *testing.T) {
		tb := newTable(t)
		err := tb.DeleteSchedule("office")
		if !errors.Is(err, access.ErrInUse) || !strings.Contains(err.Error(), `level "staff"`) || !strings.Contains(err.Error(), `door "front"`) {
			t.Fatalf("DeleteSchedule(office) = %v, want ErrInUse naming the level and the policy", err)
		}
		if _, ok := tb.Schedules["office"]; !ok {
			t.Fatalf("the refused delete removed the schedule")
		}
	})
	t.Run("deleting always", func(t *testing.T) {
		if err := newTable(t).DeleteSchedule("always"); !errors.Is(err, access.ErrBuiltIn) {
			t.Fatalf("DeleteSchedule(always) = %v, want ErrBuiltIn", err)
		}
	})
	t.Run("deleting an unknown schedule", func(t *testing.T) {
		if err := newTable(t).DeleteSchedule("nope"); !errors.Is(err, access.ErrNotFound) {
			t.Fatalf("DeleteSchedule(nope) = %v, want ErrNotFound", err)
		}
	})
	t.Run("deleting a level users hold or a policy names", func(t *testing.T) {
		tb := newTable(t)
		if err := tb.DeleteLevel("staff", 0); !errors.Is(err, access.ErrInUse) || !strings.Contains(err.Error(), "first_in") {
			t.Fatalf("DeleteLevel(staff) named by a first_in = %v, want ErrInUse", err)
		}
		must(t, tb.PutDoorPolicy(access.DoorPolicy{Door: "front"}, site)) // no modes: removed
		if err := tb.DeleteLevel("staff", 3); !errors.Is(err, access.ErrInUse) || !strings.Contains(err.Error(), "3 users") {
			t.Fatalf("DeleteLevel(staff) held by 3 users = %v, want ErrInUse", err)
		}
		must(t, tb.DeleteLevel("staff", 0))
	})
	t.Run("a PIN mode on a card-only reader", func(t *testing.T) {
		err := newTable(t).PutDoorPolicy(access.DoorPolicy{Door: "garage", Modes: []access.PolicyMode{{Schedule: "office", Mode: access.DoorMode(access.ModeCardOrPIN)}}}, site)
		wantFieldErr(t, err, "modes[0].mode", access.ErrInvalid, "needs a keypad reader", "RP40")
	})
	t.Run("a reader mode on a door without a reader", func(t *testing.T) {
		err := newTable(t).PutDoorPolicy(access.DoorPolicy{Door: "store", Modes: []access.PolicyMode{{Schedule: "office", Mode: "card_only"}}}, site)
		wantFieldErr(t, err, "modes[0].mode", access.ErrInvalid, "no reader")
	})
	t.Run("lockdown is not a policy mode", func(t *testing.T) {
		err := newTable(t).PutDoorPolicy(access.DoorPolicy{Door: "front", Modes: []access.PolicyMode{{Schedule: "office", Mode: access.ModeLockdown}}}, site)
		wantFieldErr(t, err, "modes[0].mode", access.ErrInvalid, "unlocked, locked")
	})
	t.Run("a policy on an unknown door or with an unknown first_in level", func(t *testing.T) {
		wantFieldErr(t, newTable(t).PutDoorPolicy(access.DoorPolicy{Door: "lobby", Modes: []access.PolicyMode{{Schedule: "office", Mode: access.ModeUnlocked}}}, site),
			"door", access.ErrInvalid)
		wantFieldErr(t, newTable(t).PutDoorPolicy(access.DoorPolicy{Door: "side", Modes: []access.PolicyMode{{Schedule: "office", Mode: access.ModeUnlocked, FirstIn: "boss"}}}, site),
			"modes[0].first_in", access.ErrInvalid, `"boss"`)
	})
	t.Run("overrides", func(t *testing.T) {
		tb := newTable(t)
		wantFieldErr(t, tb.SetOverride(access.Override{ID: "o", Doors: []string{"*", "front"}, Mode: access.ModeLockdown}, site), "doors[0]", access.ErrInvalid)
		wantFieldErr(t, tb.SetOverride(access.Override{ID: "o", Doors: []string{"lobby"}, Mode: access.ModeLockdown}, site), "doors[0]", access.ErrInvalid)
		wantFieldErr(t, tb.SetOverride(access.Override{ID: "o", Doors: nil, Mode: access.ModeLockdown}, site), "doors", access.ErrInvalid)
		wantFieldErr(t, tb.SetOverride(access.Override{ID: "o", Doors: []string{"*"}, Mode: "card_only"}, site), "mode", access.ErrInvalid)
		wantFieldErr(t, tb.SetOverride(access.Override{ID: "o", Doors: []string{"*"}, Mode: access.ModeLocked, Rank: 1001}, site), "rank", access.ErrInvalid)
		if err := tb.ClearOverride("o"); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("ClearOverride of an unknown id = %v, want ErrNotFound", err)
		}
	})
	t.Run("user levels", func(t *testing.T) {
		tb := newTable(t)
		wantFieldErr(t, tb.CheckUserLevels([]string{"staff", "boss"}), "levels[1]", access.ErrInvalid, `"boss"`)
		wantFieldErr(t, tb.CheckUserLevels([]string{"staff", "staff"}), "levels[1]", access.ErrInvalid, "twice")
		many := make([]string, access.MaxLevelsPerUser+1)
		for i := range many {
			many[i] = fmt.Sprintf("l%d", i)
		}
		wantFieldErr(t, tb.CheckUserLevels(many), "levels", access.ErrInvalid)
		must(t, tb.CheckUserLevels([]string{"all", "staff"}))
		must(t, tb.CheckUserLevels([]string{}))
	})
	t.Run("limits", func(t *testing.T) {
		tb := access.NewTable()
		for i := range access.MaxSchedules {
			must(t, tb.PutSchedule(access.Schedule{ID: fmt.Sprintf("s%d", i), Intervals: office().Intervals}))
		}
		if err := tb.PutSchedule(access.Schedule{ID: "one-more", Intervals: office().Intervals}); !errors.Is(err, access.ErrInvalid) {
			t.Fatalf("schedule %d: %v, want ErrInvalid", access.MaxSchedules+1, err)
		}
		must(t, tb.PutSchedule(access.Schedule{ID: "s0"})) // replacing one is fine
	})
}
