// Package storetest opens real Lintel stores for tests: a Badger database
// in a test's temporary directory, its device key beside it, closed when
// the test ends. Other packages' tests use it to run against the store the
// gateway runs, not a fake of it.
package storetest

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// GatewayID is the gateway id of stores opened by this package.
const GatewayID = "gw-test"

// Readers are the readers of the site stores of this package are opened
// for: `lintel run --sim`'s three.
var Readers = []access.ReaderConfig{
	{Name: "front", Door: "front", Model: access.ModelRPK40, Mode: access.ModeCardAndPIN},
	{Name: "side", Door: "side", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN},
	{Name: "garage", Door: "garage", Model: access.ModelRP40, Mode: access.ModeCardOnly},
}

// Site is the doors of those readers, which policy writes are checked
// against.
func Site() access.Site { return access.NewSite([]string{"front", "side", "garage"}, Readers) }

// Options returns options for a store in a new temporary directory of t.
func Options(t testing.TB) store.Options {
	t.Helper()
	dir := t.TempDir()
	return store.Options{
		Dir:       filepath.Join(dir, "db"),
		KeyFile:   filepath.Join(dir, "device.key"),
		GatewayID: GatewayID,
		Site:      Site(),
	}
}

// Open opens a store with opts, closing it when the test ends.
func Open(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(opts)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("store.Close: %v", err)
		}
	})
	return s
}

// New opens a store in a new temporary directory, with opts applied to
// its options first.
func New(t testing.TB, opts ...func(*store.Options)) *store.Store {
	t.Helper()
	o := Options(t)
	for _, f := range opts {
		f(&o)
	}
	return Open(t, o)
}

// The benchmark site and policy: what a large building holds, for the
// decision, snapshot and memory benchmarks. BenchDoors doors d00..d63, a
// card-or-PIN reader on d00 ("front") and a card-and-PIN reader on d01
// ("cp"); BenchSchedules schedules of 8 intervals; BenchLevels levels of 8
// doors each; a user holds 1 to 8 of them.
const (
	BenchDoors     = 64
	BenchSchedules = 256
	BenchLevels    = 1000
)

// BenchReaders are the benchmark site's readers.
var BenchReaders = []access.ReaderConfig{
	{Name: "front", Door: "d00", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN},
	{Name: "cp", Door: "d01", Model: access.ModelRPK40, Mode: access.ModeCardAndPIN},
}

// BenchSite is the benchmark site's doors.
func BenchSite() access.Site {
	doors := make([]string, BenchDoors)
	for i := range doors {
		doors[i] = fmt.Sprintf("d%02d", i)
	}
	return access.NewSite(doors, BenchReaders)
}

// BenchNow is a Monday noon: a quarter of the benchmark schedules are
// active then (those numbered 2 modulo 4).
var BenchNow = time.Date(2027, 1, 4, 12, 0, 0, 0, time.UTC)

// BenchPolicy is the benchmark policy for site, whose first two doors are
// the readers' (BenchSite, or `lintel run --sim`'s three doors). Schedule
// s covers, on each weekday, five hours from (s mod 4) × 6 h, and an hour
// before midnight on one more day. Level l lists the first two doors on
// schedule l mod 256, active at BenchNow when l is 2 modulo 4, and six more
// doors on other schedules.
func BenchPolicy(site access.Site) *access.Table {
	t := access.NewTable()
	for s := range BenchSchedules {
		start := (s % 4) * 6
		sc := access.Schedule{ID: fmt.Sprintf("s%03d", s), Name: fmt.Sprintf("Schedule %d", s)}
		for j := range 7 {
			sc.Intervals = append(sc.Intervals, access.Interval{Days: []string{weekday(j)},
				Start: fmt.Sprintf("%02d:00", start), End: fmt.Sprintf("%02d:00", start+5), Holidays: []int{}})
		}
		sc.Intervals = append(sc.Intervals, access.Interval{Days: []string{weekday(s % 7)}, Start: "23:00", End: "24:00", Holidays: []int{1}})
		if err := t.PutSchedule(sc); err != nil {
			panic(err)
		}
	}
	n := len(site.Doors)
	for l := range BenchLevels {
		lv := access.Level{ID: fmt.Sprintf("l%04d", l), Name: fmt.Sprintf("Level %d", l)}
		seen := map[access.LevelDoor]bool{}
		add := func(door int, sched int) {
			ld := access.LevelDoor{Door: site.Doors[door%n].Name, Schedule: fmt.Sprintf("s%03d", sched%BenchSchedules)}
			if !seen[ld] {
				seen[ld] = true
				lv.Doors = append(lv.Doors, ld)
			}
		}
		add(0, l)
		add(1, l)
		for k := range 6 {
			add(2+(l+k)%max(n-2, 1), l*8+k+1)
		}
		if err := t.PutLevel(lv, site); err != nil {
			panic(err)
		}
	}
	return t
}

// BenchUserLevels are the levels of benchmark user i: 1 to 8 of them, the
// last on a schedule active at BenchNow; they depend on i mod 1000 only, as
// a site has a few combinations of levels however many users it has.
func BenchUserLevels(i int) []string {
	k := i % 1000
	count := 1 + k%8
	var out []string
	add := func(l int) {
		id := fmt.Sprintf("l%04d", l%BenchLevels)
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	for j := range count - 1 {
		add(k*37 + j*4 + 1)
	}
	add(((k*13)%250)*4 + 2)
	return out
}

// BenchUserTwoLevels are the levels of benchmark user i in the memory and
// decision budget's table (a million users, each with one card, one PIN
// and two levels): one whose schedules are not active at BenchNow (a level
// 1 modulo 4) and one whose are (2 modulo 4), sorted, so that half the
// decisions look at a level that does not grant before one that does.
// Like BenchUserLevels they depend on i mod 1000 only.
func BenchUserTwoLevels(i int) []string {
	k := i % 1000
	out := []string{fmt.Sprintf("l%04d", (k*37%250)*4+1), fmt.Sprintf("l%04d", (k*13%250)*4+2)}
	slices.Sort(out)
	return out
}

func weekday(i int) string { return []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}[i%7] }

// CheckCard is the card rule of a gateway whose readers decode
// gpio/wiegand's default formats, as the gateway passes it to
// store.Options.CheckCard: a card that does not fit is refused with an
// *access.FieldError naming "format", "facility" or "number".
func CheckCard(k access.CardKey) error {
	err := defaultCards.Check(k.Format, k.Facility, k.Number)
	var ce *wiegand.CardError
	if errors.As(err, &ce) {
		return &access.FieldError{Field: ce.Field, Err: access.Invalidf("%s", ce.Msg)}
	}
	return err
}

var defaultCards = wiegand.CardFormatsOf()
