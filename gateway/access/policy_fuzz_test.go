package access_test

import (
	"errors"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/lintel-access/lintel/gateway/access"
)

// fuzzPolicy is what FuzzPolicy reads: policy objects in their JSON shapes
// and the moment to look at the doors.
type fuzzPolicy struct {
	Schedules    []access.Schedule   `json:"schedules"`
	Holidays     []access.Holiday    `json:"holidays"`
	Levels       []access.Level      `json:"levels"`
	DoorPolicies []access.DoorPolicy `json:"door_policies"`
	Overrides    []access.Override   `json:"overrides"`
	At           time.Time           `json:"at"`
}

// FuzzPolicy feeds policy objects to the table, which must take them or
// refuse them with one of the model's errors, then checks the compiled
// policy's promise about time: a door's next change (DST and override
// ends included) is after now, nothing changes at any minute before it
// (looked at over two days at most), and at it the door is in the mode
// announced.
func FuzzPolicy(f *testing.F) {
	for _, s := range []string{
		`{"schedules":[{"id":"office","intervals":[{"days":["mon","tue","wed","thu","fri"],"start":"08:00","end":"18:00","holidays":[]}]}],
		  "door_policies":[{"door":"front","modes":[{"schedule":"office","mode":"unlocked"}]}],"at":"2026-03-29T00:30:00Z"}`,
		`{"schedules":[{"id":"late","intervals":[{"days":["sat","sun"],"start":"01:30","end":"24:00","holidays":[1]}]}],
		  "holidays":[{"id":"x","date":"2026-10-25","until":"2026-10-26","type":1}],
		  "door_policies":[{"door":"side","modes":[{"schedule":"late","mode":"card_and_pin"}]}],"at":"2026-10-24T23:00:00Z"}`,
		`{"overrides":[{"id":"drill","doors":["*"],"mode":"lockdown","until":"2026-06-01T10:00:30.5Z"}],"at":"2026-06-01T09:59:00Z"}`,
		`{"schedules":[{"id":"a","intervals":[{"days":["mon"],"start":"25:00","end":"24:00"}]}],"at":"2026-01-05T00:00:00Z"}`,
		`{"levels":[{"id":"staff","doors":[{"door":"front","schedule":"nope"}]}],"door_policies":[{"door":"garage","modes":[{"schedule":"always","mode":"pin_only"}]}]}`,
		`{"schedules":[{"id":"always","intervals":[]}],"levels":[{"id":"all","doors":[]}]}`,
	} {
		f.Add([]byte(s))
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var in fuzzPolicy
		if json.Unmarshal(data, &in) != nil {
			return
		}
		site := testSite()
		tb := access.NewTable()
		refused := func(what string, err error) {
			if err == nil {
				return
			}
			var fe *access.FieldError
			if err.Error() == "" || !(errors.As(err, &fe) || errors.Is(err, access.ErrInvalid) || errors.Is(err, access.ErrBuiltIn) ||
				errors.Is(err, access.ErrInUse) || errors.Is(err, access.ErrNotFound)) {
				t.Fatalf("%s refused with %v (%T), not one of the model's errors", what, err, err)
			}
		}
		for _, s := range in.Schedules {
			refused("schedule", tb.PutSchedule(s))
		}
		for _, h := range in.Holidays {
			refused("holiday", tb.PutHoliday(h))
		}
		for _, l := range in.Levels {
			refused("level", tb.PutLevel(l, site))
		}
		for _, p := range in.DoorPolicies {
			refused("door policy", tb.PutDoorPolicy(p, site))
		}
		for _, o := range in.Overrides {
			refused("override", tb.SetOverride(o, site))
		}
		now := in.At
		if now.IsZero() || now.Year() < 2000 || now.Year() > 2100 {
			now = time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)
		}
		e := policyEngine(t, berlin, tb)
		for _, door := range []string{"front", "side", "garage", "store"} {
			st, ok := e.DoorStatus(now, door)
			if !ok {
				t.Fatalf("no door %s", door)
			}
			if st.Next.IsZero() {
				continue
			}
			if !st.Next.After(now) {
				t.Fatalf("door %s at %v: next change %v is not after now", door, now, st.Next)
			}
			end := now.Add(48 * time.Hour)
			if st.Next.Before(end) {
				end = st.Next
			}
			for at := now.Truncate(time.Minute).Add(time.Minute); at.Before(end); at = at.Add(time.Minute) {
				if got, _ := e.DoorStatus(at, door); got.Mode != st.Mode || got.Source != st.Source || got.Override != st.Override {
					t.Fatalf("door %s: %s (%s) at %v, then %s (%s) at %v, before the announced change at %v",
						door, st.Mode, st.Source, now, got.Mode, got.Source, at, st.Next)
				}
			}
			if at, _ := e.DoorStatus(st.Next, door); at.Mode != st.NextMode {
				t.Fatalf("door %s: announced %s at %v, found %s", door, st.NextMode, st.Next, at.Mode)
			}
		}
	})
}
