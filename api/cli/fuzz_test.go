package cli

import (
	"testing"
	"time"

	"github.com/lintel-access/lintel/api"
)

// FuzzParseInterval: --interval never panics, and what it accepts prints
// back as an interval it reads the same.
func FuzzParseInterval(f *testing.F) {
	for _, s := range []string{"mon-fri 08:00-18:00", "none 10:00-14:00 holidays 1", "fri-mon 09:00-12:00", "sat,sun 10:00-14:00",
		"mon 22:00", "mon-xyz 22:00-23:00", "mon 08:00-18:00 holidays 1,x", "", "- 1-2", "mon-mon 1-2 holidays 3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		iv, err := parseInterval(spec)
		if err != nil {
			return
		}
		again, err := parseInterval(intervalText(iv))
		if err != nil {
			t.Fatalf("%q read as %+v, which prints as %q, which does not read: %v", spec, iv, intervalText(iv), err)
		}
		if intervalText(again) != intervalText(iv) {
			t.Fatalf("%q: %q then %q", spec, intervalText(iv), intervalText(again))
		}
	})
}

// FuzzParseUntil: --until never panics, and what it accepts is after the
// gateway's time.
func FuzzParseUntil(f *testing.F) {
	for _, s := range []string{"18:00", "2027-12-24 13:00", "2027-12-24T13:00", "2027-04-01T10:00:00Z", "90m", "soon", "25:00", "-1h", ""} {
		f.Add(s)
	}
	st := api.Status{Timezone: "Europe/Berlin", LocalTime: "2027-03-27T20:30:00+01:00"}
	now, _ := time.Parse(time.RFC3339, st.LocalTime)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseUntil(s, st)
		if err == nil && !got.After(now) {
			t.Fatalf("%q: %v is not after %v", s, got, now)
		}
	})
}
