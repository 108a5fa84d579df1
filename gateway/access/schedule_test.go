package access_test

import (
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has

	"github.com/lintel-access/lintel/gateway/access"
)

func loadZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// policyOf compiles schedules and holidays for the test site in loc.
func policyOf(t *testing.T, loc *time.Location, scheds []access.Schedule, hols []access.Holiday) *access.Policy {
	t.Helper()
	tb := access.NewTable()
	for _, s := range scheds {
		must(t, tb.PutSchedule(s))
	}
	for _, h := range hols {
		must(t, tb.PutHoliday(h))
	}
	p := access.Compile(tb, testSite(), loc)
	if w := p.Warnings(); len(w) > 0 {
		t.Fatalf("compile warnings: %v", w)
	}
	return p
}

func daily(id, start, end string) access.Schedule {
	return access.Schedule{ID: id, Intervals: []access.Interval{{
		Days: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}, Start: start, End: end}}}
}

func TestScheduleActive(t *testing.T) {
	berlin := loadZone(t, "Europe/Berlin")
	newYork := loadZone(t, "America/New_York")
	tests := []struct {
		name   string
		loc    *time.Location
		scheds []access.Schedule
		hols   []access.Holiday
		sched  string
		at     map[string]bool // RFC 3339 instant → active
	}{
		{"office hours in Berlin winter time", berlin, []access.Schedule{office()}, nil, "office", map[string]bool{
			"2027-01-04T06:59:59Z": false, // Mon 07:59:59 CET
			"2027-01-04T07:00:00Z": true,  // Mon 08:00 CET
			"2027-01-04T16:59:59Z": true,
			"2027-01-04T17:00:00Z": false, // 18:00: end is not included
			"2027-01-09T10:00:00Z": false, // Saturday
		}},
		{"spring forward in Berlin: 02:30 does not exist, so the interval starts at 03:00", berlin,
			[]access.Schedule{daily("early", "02:30", "04:00")}, nil, "early", map[string]bool{
				"2027-03-28T00:59:59Z": false, // 01:59:59 CET
				"2027-03-28T01:00:00Z": true,  // 03:00 CEST, the jump
				"2027-03-28T01:59:59Z": true,  // 03:59:59 CEST
				"2027-03-28T02:00:00Z": false, // 04:00 CEST
			}},
		{"spring forward in Berlin: an interval inside the missing hour never happens", berlin,
			[]access.Schedule{daily("gap", "02:10", "02:50")}, nil, "gap", map[string]bool{
				"2027-03-28T00:59:59Z": false,
				"2027-03-28T01:00:00Z": false,
				"2027-03-29T00:30:00Z": true, // the next night, 02:30 CEST
			}},
		{"fall back in Berlin: 02:00-02:30 happens twice", berlin,
			[]access.Schedule{daily("twice", "02:00", "02:30")}, nil, "twice", map[string]bool{
				"2027-10-30T23:59:59Z": false, // 01:59:59 CEST
				"2027-10-31T00:00:00Z": true,  // 02:00 CEST
				"2027-10-31T00:30:00Z": false, // 02:30 CEST
				"2027-10-31T01:00:00Z": true,  // 02:00 CET, the second time
				"2027-10-31T01:29:59Z": true,
				"2027-10-31T01:30:00Z": false, // 02:30 CET
			}},
		{"spring forward in New York", newYork, []access.Schedule{daily("early", "02:00", "03:30")}, nil, "early", map[string]bool{
			"2027-03-14T06:59:59Z": false, // 01:59:59 EST
			"2027-03-14T07:00:00Z": true,  // 03:00 EDT
			"2027-03-14T07:30:00Z": false, // 03:30 EDT
		}},
		{"fall back in New York: 01:00-01:30 happens twice", newYork, []access.Schedule{daily("night", "01:00", "01:30")}, nil, "night", map[string]bool{
			"2027-11-07T05:00:00Z": true,  // 01:00 EDT
			"2027-11-07T05:30:00Z": false, // 01:30 EDT
			"2027-11-07T06:00:00Z": true,  // 01:00 EST
			"2027-11-07T06:30:00Z": false,
		}},
		{"a schedule ending 24:00 runs to midnight", time.UTC,
			[]access.Schedule{{ID: "evening", Intervals: []access.Interval{{Days: []string{"fri"}, Start: "18:00", End: "24:00"}}}}, nil, "evening",
			map[string]bool{
				"2027-01-08T17:59:59Z": false,
				"2027-01-08T18:00:00Z": true,
				"2027-01-08T23:59:59Z": true,
				"2027-01-09T00:00:00Z": false, // Saturday
			}},
		{"an interval across a holiday: the office is shut on New Year's Day, the holiday interval applies", time.UTC,
			[]access.Schedule{
				office(),
				{ID: "cover", Intervals: []access.Interval{{Days: []string{}, Start: "10:00", End: "14:00", Holidays: []int{1}}}},
				{ID: "plus", Intervals: []access.Interval{{Days: weekdays(), Start: "09:00", End: "17:00", Holidays: []int{1}}}},
			},
			[]access.Holiday{{ID: "ny", Name: "New Year", Date: "2027-01-01", Type: 1}}, "office",
			map[string]bool{
				"2026-12-31T12:00:00Z": true,  // Thursday, a working day
				"2027-01-01T12:00:00Z": false, // Friday, a holiday
				"2027-01-04T12:00:00Z": true,  // Monday
			}},
		{"a range holiday shuts every day of it", time.UTC, []access.Schedule{office()},
			[]access.Holiday{{ID: "xmas", Date: "2027-12-24", Until: "2027-12-31", Type: 2}}, "office",
			map[string]bool{
				"2027-12-23T12:00:00Z": true,
				"2027-12-24T12:00:00Z": false,
				"2027-12-27T12:00:00Z": false, // a Monday inside the range
				"2027-12-31T17:59:00Z": false, // the last day is included
				"2028-01-03T12:00:00Z": true,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policyOf(t, tt.loc, tt.scheds, tt.hols)
			for at, want := range tt.at {
				if got := p.ScheduleActive(tt.sched, utc(at)); got != want {
					t.Errorf("at %s (%s): active = %v, want %v", at, utc(at).In(tt.loc).Format("Mon 15:04 MST"), got, want)
				}
			}
		})
	}
	t.Run("holiday intervals", func(t *testing.T) {
		p := policyOf(t, time.UTC, []access.Schedule{
			{ID: "cover", Intervals: []access.Interval{{Start: "10:00", End: "14:00", Holidays: []int{1}}}},
			{ID: "plus", Intervals: []access.Interval{{Days: weekdays(), Start: "09:00", End: "17:00", Holidays: []int{1}}}},
		}, []access.Holiday{{ID: "ny", Date: "2027-01-01", Type: 1}, {ID: "sat", Date: "2027-01-09", Type: 1}, {ID: "t2", Date: "2027-01-11", Type: 2}})
		for _, c := range []struct {
			sched, at string
			want      bool
		}{
			{"cover", "2027-01-01T11:00:00Z", true},  // a type-1 holiday
			{"cover", "2027-01-04T11:00:00Z", false}, // a working Monday: holiday-only interval
			{"plus", "2027-01-04T11:00:00Z", true},   // a working Monday
			{"plus", "2027-01-09T11:00:00Z", true},   // a Saturday that is a type-1 holiday
			{"plus", "2027-01-11T11:00:00Z", false},  // a Monday that is a type-2 holiday
		} {
			if got := p.ScheduleActive(c.sched, utc(c.at)); got != c.want {
				t.Errorf("%s at %s: active = %v, want %v", c.sched, c.at, got, c.want)
			}
		}
	})
}

// TestDoorModeAcrossDST drives a door that a schedule unlocks every night
// from 02:00 to 02:30 through the fall-back night in Berlin, and checks the
// changes the engine reports by the minute agree with its next-change
// prediction.
func TestDoorModeAcrossDST(t *testing.T) {
	berlin := loadZone(t, "Europe/Berlin")
	for _, tt := range []struct {
		name       string
		sched      access.Schedule
		from       string
		wantChange []string // RFC 3339 instants of the changes, in order
	}{
		{"fall back", daily("twice", "02:00", "02:30"), "2027-10-30T22:00:00Z", []string{
			"2027-10-31T00:00:00Z", "2027-10-31T00:30:00Z", "2027-10-31T01:00:00Z", "2027-10-31T01:30:00Z",
		}},
		{"spring forward", daily("early", "02:30", "04:00"), "2027-03-27T22:00:00Z", []string{
			"2027-03-28T01:00:00Z", "2027-03-28T02:00:00Z",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tb := access.NewTable()
			must(t, tb.PutSchedule(tt.sched))
			must(t, tb.PutDoorPolicy(access.DoorPolicy{Door: "front", Modes: []access.PolicyMode{{Schedule: tt.sched.ID, Mode: access.ModeUnlocked}}}, testSite()))
			e := policyEngine(t, berlin, tb)
			from := utc(tt.from)
			e.UpdateModes(from)
			// By the minute.
			var byMinute []string
			for m := time.Duration(0); m < 6*time.Hour; m += time.Minute {
				for _, ch := range e.UpdateModes(from.Add(m)) {
					if ch.To.Door == "front" {
						byMinute = append(byMinute, from.Add(m).UTC().Format(time.RFC3339))
					}
				}
			}
			// By prediction.
			var predicted []string
			for now := from; len(predicted) < len(tt.wantChange); {
				next := doorStatus(t, e, now, "front").Next
				if next.IsZero() {
					break
				}
				predicted = append(predicted, next.UTC().Format(time.RFC3339))
				now = next
			}
			if !equalStrings(byMinute, tt.wantChange) || !equalStrings(predicted, tt.wantChange) {
				t.Fatalf("changes by the minute %v, predicted %v, want %v", byMinute, predicted, tt.wantChange)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
