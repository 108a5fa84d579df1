package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
)

// The access policy's commands (docs/access.md): schedules, holidays and
// levels. Every rule of the objects is the gateway's (gateway/access); the
// CLI only turns flags into the REST bodies and prints the answers.

// ScheduleCmd manages schedules.
type ScheduleCmd struct {
	List ScheduleListCmd `cmd:"" help:"List the schedules (\"always\" is built in)."`
	Show ScheduleShowCmd `cmd:"" help:"Show a schedule's intervals."`
	Set  ScheduleSetCmd  `cmd:"" help:"Create or replace a schedule."`
	Rm   ScheduleRmCmd   `cmd:"" help:"Delete a schedule no level or door policy uses."`
}

// ScheduleListCmd is `lintel schedule list`.
type ScheduleListCmd struct{}

// Run lists the schedules.
func (c *ScheduleListCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	l, err := cl.Schedules(g.ctx())
	if err != nil {
		return err
	}
	return g.print(api.ScheduleList{Schedules: l}, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCHEDULE\tNAME\tINTERVALS")
		for _, s := range l {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", s.ID, s.Name, intervalsText(s.Intervals))
		}
		return tw.Flush()
	})
}

// intervalsText writes intervals as --interval takes them, "; " apart.
func intervalsText(ivs []access.Interval) string {
	parts := make([]string, 0, len(ivs))
	for _, iv := range ivs {
		parts = append(parts, intervalText(iv))
	}
	return orNone(strings.Join(parts, "; "))
}

func intervalText(iv access.Interval) string {
	days := "none"
	if len(iv.Days) > 0 {
		days = strings.Join(iv.Days, ",")
	}
	s := days + " " + iv.Start + "-" + iv.End
	if len(iv.Holidays) > 0 {
		types := make([]string, len(iv.Holidays))
		for i, h := range iv.Holidays {
			types[i] = strconv.Itoa(h)
		}
		s += " holidays " + strings.Join(types, ",")
	}
	return s
}

// ScheduleShowCmd is `lintel schedule show ID`.
type ScheduleShowCmd struct {
	ID string `arg:"" help:"Schedule id."`
}

// Run prints the schedule.
func (c *ScheduleShowCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	s, err := cl.Schedule(g.ctx(), c.ID)
	if err != nil {
		return err
	}
	return g.print(s, func(w io.Writer) error {
		fmt.Fprintf(w, "schedule %s", s.ID)
		if s.Name != "" {
			fmt.Fprintf(w, " (%s)", s.Name)
		}
		fmt.Fprintln(w)
		for _, iv := range s.Intervals {
			fmt.Fprintf(w, "  %s\n", intervalText(iv))
		}
		return nil
	})
}

// ScheduleSetCmd is `lintel schedule set ID --interval "mon-fri
// 08:00-18:00" ...`.
type ScheduleSetCmd struct {
	ID        string   `arg:"" help:"Schedule id."`
	Name      string   `help:"A name for people."`
	Intervals []string `name:"interval" sep:"none" help:"An interval: DAYS START-END [holidays TYPES], e.g. \"mon-fri 08:00-18:00\", \"sat,sun 10:00-14:00\", \"none 10:00-14:00 holidays 1\" (no weekday: only on type-1 holidays). Repeat for more; none empties the schedule." placeholder:"SPEC"`
}

// Run sets the schedule.
func (c *ScheduleSetCmd) Run(g *Globals) error {
	ivs := make([]access.Interval, 0, len(c.Intervals))
	for i, spec := range c.Intervals {
		iv, err := parseInterval(spec)
		if err != nil {
			return usagef("schedule set: --interval %d (%q): %v", i+1, spec, err)
		}
		ivs = append(ivs, iv)
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	created, err := cl.PutSchedule(g.ctx(), c.ID, api.ScheduleBody{Name: c.Name, Intervals: &ivs})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "%s schedule %s: %s\n", savedVerb(created), c.ID, intervalsText(ivs))
	return nil
}

func savedVerb(created bool) string {
	if created {
		return "added"
	}
	return "replaced"
}

// weekday names, Sunday first, as time.Weekday counts them; the gateway
// checks them.
func weekday(i int) string { return strings.ToLower(time.Weekday(i % 7).String()[:3]) }

// parseInterval reads "DAYS START-END [holidays TYPES]". DAYS is "none" (no
// weekday) or a comma list of days and ranges ("mon-fri", "fri-mon"
// wraps). The gateway checks the days, times and types themselves.
func parseInterval(spec string) (access.Interval, error) {
	f := strings.Fields(spec)
	if len(f) != 2 && !(len(f) == 4 && f[2] == "holidays") {
		return access.Interval{}, fmt.Errorf(`want DAYS START-END [holidays TYPES], e.g. "mon-fri 08:00-18:00"`)
	}
	iv := access.Interval{Days: []string{}, Holidays: []int{}}
	if f[0] != "none" {
		for _, d := range strings.Split(f[0], ",") {
			from, to, isRange := strings.Cut(d, "-")
			if !isRange {
				iv.Days = append(iv.Days, d)
				continue
			}
			a, b := dayIndex(from), dayIndex(to)
			if a < 0 || b < 0 {
				return iv, fmt.Errorf("%q is not a range of days such as mon-fri", d)
			}
			for i := a; ; i = (i + 1) % 7 {
				iv.Days = append(iv.Days, weekday(i))
				if i == b {
					break
				}
			}
		}
	}
	var ok bool
	if iv.Start, iv.End, ok = strings.Cut(f[1], "-"); !ok {
		return iv, fmt.Errorf("%q is not START-END such as 08:00-18:00", f[1])
	}
	if len(f) == 4 {
		for _, t := range strings.Split(f[3], ",") {
			n, err := strconv.Atoi(t)
			if err != nil {
				return iv, fmt.Errorf("holiday type %q is not a number", t)
			}
			iv.Holidays = append(iv.Holidays, n)
		}
	}
	return iv, nil
}

func dayIndex(d string) int {
	for i := range 7 {
		if weekday(i) == d {
			return i
		}
	}
	return -1
}

// ScheduleRmCmd is `lintel schedule rm ID`.
type ScheduleRmCmd struct {
	ID string `arg:"" help:"Schedule id."`
}

// Run deletes the schedule.
func (c *ScheduleRmCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if err := cl.DeleteSchedule(g.ctx(), c.ID); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "deleted schedule %s\n", c.ID)
	return nil
}

// HolidayCmd manages holidays.
type HolidayCmd struct {
	List HolidayListCmd `cmd:"" help:"List the holidays."`
	Show HolidayShowCmd `cmd:"" help:"Show a holiday."`
	Set  HolidaySetCmd  `cmd:"" help:"Create or replace a holiday."`
	Rm   HolidayRmCmd   `cmd:"" help:"Delete a holiday."`
}

// HolidayListCmd is `lintel holiday list`.
type HolidayListCmd struct{}

// Run lists the holidays.
func (c *HolidayListCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	l, err := cl.Holidays(g.ctx())
	if err != nil {
		return err
	}
	return g.print(api.HolidayList{Holidays: l}, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "HOLIDAY\tNAME\tDATES\tTYPE")
		for _, h := range l {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", h.ID, h.Name, holidayDates(h), h.Type)
		}
		return tw.Flush()
	})
}

func holidayDates(h access.Holiday) string {
	if h.Until != "" {
		return h.Date + " to " + h.Until
	}
	return h.Date
}

// HolidayShowCmd is `lintel holiday show ID`.
type HolidayShowCmd struct {
	ID string `arg:"" help:"Holiday id."`
}

// Run prints the holiday.
func (c *HolidayShowCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	h, err := cl.Holiday(g.ctx(), c.ID)
	if err != nil {
		return err
	}
	return g.print(h, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "holiday %s (%s): %s, type %d\n", h.ID, orNone(h.Name), holidayDates(h), h.Type)
		return err
	})
}

// HolidaySetCmd is `lintel holiday set ID --date 2027-01-01 --type 1`.
type HolidaySetCmd struct {
	ID    string `arg:"" help:"Holiday id."`
	Name  string `help:"A name for people."`
	Date  string `required:"" help:"The day (YYYY-MM-DD, in the gateway's time zone)." placeholder:"DATE"`
	Until string `help:"The last day of a range, inclusive." placeholder:"DATE"`
	Type  int    `required:"" help:"Holiday type, 1 to 3 (which intervals apply that day)."`
}

// Run sets the holiday.
func (c *HolidaySetCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	typ := c.Type
	created, err := cl.PutHoliday(g.ctx(), c.ID, api.HolidayBody{Name: c.Name, Date: c.Date, Until: c.Until, Type: &typ})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "%s holiday %s: %s, type %d\n", savedVerb(created), c.ID, holidayDates(access.Holiday{Date: c.Date, Until: c.Until}), typ)
	return nil
}

// HolidayRmCmd is `lintel holiday rm ID`.
type HolidayRmCmd struct {
	ID string `arg:"" help:"Holiday id."`
}

// Run deletes the holiday.
func (c *HolidayRmCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if err := cl.DeleteHoliday(g.ctx(), c.ID); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "deleted holiday %s\n", c.ID)
	return nil
}

// LevelCmd manages access levels.
type LevelCmd struct {
	List LevelListCmd `cmd:"" help:"List the access levels (\"all\" is built in)."`
	Show LevelShowCmd `cmd:"" help:"Show a level's doors and schedules."`
	Set  LevelSetCmd  `cmd:"" help:"Create or replace an access level."`
	Rm   LevelRmCmd   `cmd:"" help:"Delete a level no user holds and no door policy names."`
}

// LevelListCmd is `lintel level list`.
type LevelListCmd struct{}

// Run lists the levels.
func (c *LevelListCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	l, err := cl.Levels(g.ctx())
	if err != nil {
		return err
	}
	return g.print(api.LevelList{Levels: l}, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LEVEL\tNAME\tDOORS")
		for _, lv := range l {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", lv.ID, lv.Name, levelDoorsText(lv.Doors))
		}
		return tw.Flush()
	})
}

func levelDoorsText(ds []access.LevelDoor) string {
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		parts = append(parts, d.Door+"="+d.Schedule)
	}
	return orNone(strings.Join(parts, ", "))
}

// LevelShowCmd is `lintel level show ID`.
type LevelShowCmd struct {
	ID string `arg:"" help:"Level id."`
}

// Run prints the level.
func (c *LevelShowCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	lv, err := cl.Level(g.ctx(), c.ID)
	if err != nil {
		return err
	}
	return g.print(lv, func(w io.Writer) error {
		fmt.Fprintf(w, "level %s", lv.ID)
		if lv.Name != "" {
			fmt.Fprintf(w, " (%s)", lv.Name)
		}
		fmt.Fprintln(w)
		for _, d := range lv.Doors {
			fmt.Fprintf(w, "  door %s on schedule %s\n", d.Door, d.Schedule)
		}
		return nil
	})
}

// LevelSetCmd is `lintel level set ID --door front=office --door side`.
type LevelSetCmd struct {
	ID    string   `arg:"" help:"Level id."`
	Name  string   `help:"A name for people."`
	Doors []string `name:"door" sep:"none" help:"A door and the schedule it opens on, DOOR=SCHEDULE; DOOR alone means always. Repeat for more." placeholder:"DOOR=SCHEDULE"`
}

// Run sets the level.
func (c *LevelSetCmd) Run(g *Globals) error {
	doors := make([]access.LevelDoor, 0, len(c.Doors))
	for _, d := range c.Doors {
		door, sched, ok := strings.Cut(d, "=")
		if !ok {
			sched = access.ScheduleAlways
		}
		doors = append(doors, access.LevelDoor{Door: door, Schedule: sched})
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	created, err := cl.PutLevel(g.ctx(), c.ID, api.LevelBody{Name: c.Name, Doors: &doors})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "%s level %s: %s\n", savedVerb(created), c.ID, levelDoorsText(doors))
	return nil
}

// LevelRmCmd is `lintel level rm ID`.
type LevelRmCmd struct {
	ID string `arg:"" help:"Level id."`
}

// Run deletes the level.
func (c *LevelRmCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if err := cl.DeleteLevel(g.ctx(), c.ID); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "deleted level %s\n", c.ID)
	return nil
}
