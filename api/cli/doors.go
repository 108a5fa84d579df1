package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/client"
	"github.com/lintel-access/lintel/gateway/access"
)

// DoorCmd is the doors: their state, their policies and the overrides an
// operator holds them in.
type DoorCmd struct {
	List     DoorListCmd     `cmd:"" help:"List the doors: lock, contact, alarms and the effective mode with why."`
	Policy   DoorPolicyCmd   `cmd:"" help:"A door's policy: the modes it runs on schedules."`
	Lockdown DoorLockdownCmd `cmd:"" help:"Lock doors down: only override users get in, every unlock ends."`
	Lock     DoorLockCmd     `cmd:"" help:"Hold doors locked: only override users get in."`
	Unlock   DoorUnlockCmd   `cmd:"" help:"Hold doors unlocked (the strike released), until a time or until released."`
	Release  DoorReleaseCmd  `cmd:"" help:"End the overrides holding doors, so they run their policy or reader mode again."`
	Pulse    DoorPulseCmd    `cmd:"" help:"Open a door's strike for its unlock time, as a test."`
}

// DoorListCmd is `lintel door list`.
type DoorListCmd struct{}

// Run lists the doors from the status.
func (c *DoorListCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	st, err := cl.Status(g.ctx())
	if err != nil {
		return err
	}
	doors := st.Doors
	if doors == nil {
		doors = []api.DoorStatus{}
	}
	return g.print(doors, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DOOR\tMODE\tWHY\tLOCK\tCONTACT\tALARMS\tNEXT")
		for _, d := range doors {
			lock, contact := "unlocked", "closed"
			if d.Locked {
				lock = "locked"
			}
			if d.Open {
				contact = "open"
			}
			next := "none"
			if !d.NextChange.IsZero() {
				next = fmt.Sprintf("%s at %s", d.NextMode, d.NextChange.Format("2006-01-02 15:04 MST"))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, orNone(string(d.Mode)), orNone(d.ModeReason), lock, contact,
				orNone(strings.Join(d.Alarms, ", ")), next)
		}
		return tw.Flush()
	})
}

// DoorPolicyCmd manages door policies.
type DoorPolicyCmd struct {
	Show DoorPolicyShowCmd `cmd:"" help:"Show a door's policy."`
	Set  DoorPolicySetCmd  `cmd:"" help:"Set a door's policy: the first listed mode whose schedule is active wins."`
	Rm   DoorPolicyRmCmd   `cmd:"" help:"Remove a door's policy: it runs its reader's mode."`
}

// DoorPolicyShowCmd is `lintel door policy show DOOR`.
type DoorPolicyShowCmd struct {
	Door string `arg:"" help:"Door name."`
}

// Run prints the policy.
func (c *DoorPolicyShowCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	p, err := cl.DoorPolicy(g.ctx(), c.Door)
	if err != nil {
		return err
	}
	return g.print(p, func(w io.Writer) error {
		if len(p.Modes) == 0 {
			_, err := fmt.Fprintf(w, "door %s has no policy: it runs its reader's mode\n", p.Door)
			return err
		}
		fmt.Fprintf(w, "door %s\n", p.Door)
		for _, m := range p.Modes {
			fmt.Fprintf(w, "  %s\n", policyModeText(m))
		}
		return nil
	})
}

func policyModeText(m access.PolicyMode) string {
	s := fmt.Sprintf("%s while %s is active", m.Mode, m.Schedule)
	if m.FirstIn != "" {
		s += fmt.Sprintf(", once a holder of level %s has come in", m.FirstIn)
	}
	return s
}

// DoorPolicySetCmd is `lintel door policy set DOOR --mode
// office=unlocked@staff`.
type DoorPolicySetCmd struct {
	Door  string   `arg:"" help:"Door name."`
	Modes []string `name:"mode" sep:"none" required:"" help:"SCHEDULE=MODE[@LEVEL]: while SCHEDULE is active the door runs MODE (a reader mode, unlocked or locked), with @LEVEL only once a holder of LEVEL has been granted there that day. Repeat for more; the first active one wins." placeholder:"SCHEDULE=MODE"`
}

// Run sets the policy.
func (c *DoorPolicySetCmd) Run(g *Globals) error {
	modes := make([]access.PolicyMode, 0, len(c.Modes))
	for i, spec := range c.Modes {
		sched, rest, ok := strings.Cut(spec, "=")
		if !ok || sched == "" || rest == "" {
			return usagef("door policy set: --mode %d (%q): want SCHEDULE=MODE[@LEVEL], e.g. office=unlocked@staff", i+1, spec)
		}
		mode, firstIn, _ := strings.Cut(rest, "@")
		modes = append(modes, access.PolicyMode{Schedule: sched, Mode: access.DoorMode(mode), FirstIn: firstIn})
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if err := cl.SetDoorPolicy(g.ctx(), c.Door, modes); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "set the policy of door %s\n", c.Door)
	return nil
}

// DoorPolicyRmCmd is `lintel door policy rm DOOR`.
type DoorPolicyRmCmd struct {
	Door string `arg:"" help:"Door name."`
}

// Run removes the policy.
func (c *DoorPolicyRmCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if err := cl.DeleteDoorPolicy(g.ctx(), c.Door); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "removed the policy of door %s: it runs its reader's mode\n", c.Door)
	return nil
}

// overrideFlags are what lockdown, lock and unlock share.
type overrideFlags struct {
	Doors []string `arg:"" optional:"" help:"Door names."`
	All   bool     `help:"Every door of the gateway."`
	Until string   `help:"When it ends by itself, in the gateway's time zone: 18:00 (the next 18:00), \"2027-01-04 18:00\", an RFC 3339 time, or a duration such as 2h. Without it, until released." placeholder:"TIME"`
}

// CLI overrides are named after their mode and door: "lockdown-all",
// "unlocked-front", so that the CLI finds its own again.
func overrideID(mode access.DoorMode, door string) string { return string(mode) + "-" + door }

var overrideModes = []access.DoorMode{access.ModeLockdown, access.ModeLocked, access.ModeUnlocked}

// hold sets one override per door (or one for every door) in mode, after
// clearing the CLI's overrides of the other modes on those doors, and says
// when a door's effective mode is still another.
func hold(g *Globals, f overrideFlags, mode access.DoorMode, verb string) error {
	switch {
	case f.All && len(f.Doors) > 0:
		return usagef("give door names or --all, not both")
	case !f.All && len(f.Doors) == 0:
		return usagef("give the doors, or --all for every door")
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	st, err := cl.Status(g.ctx())
	if err != nil {
		return err
	}
	var until *string
	if f.Until != "" {
		t, err := ParseUntil(f.Until, st)
		if err != nil {
			return usagef("--until: %v", err)
		}
		s := t.Format(time.RFC3339)
		until = &s
	}
	targets := f.Doors
	if f.All {
		targets = []string{"all"}
	}
	existing, err := cl.Overrides(g.ctx())
	if err != nil {
		return err
	}
	for _, door := range targets {
		for _, other := range overrideModes {
			id := overrideID(other, door)
			if other != mode && slices.ContainsFunc(existing, func(o access.Override) bool { return o.ID == id }) {
				if err := cl.ClearOverride(g.ctx(), id); err != nil {
					return err
				}
			}
		}
		doors := []string{door}
		if f.All {
			doors = []string{"*"}
		}
		if _, err := cl.SetOverride(g.ctx(), overrideID(mode, door), api.OverrideBody{Doors: doors, Mode: mode, Until: until}); err != nil {
			return err
		}
	}
	what := strings.Join(f.Doors, ", ")
	if f.All {
		what = "every door"
	}
	end := "until released (lintel door release)"
	if until != nil {
		t, _ := time.Parse(time.RFC3339, *until)
		end = "until " + t.In(zoneOf(st)).Format("2006-01-02 15:04 MST")
	}
	fmt.Fprintf(g.out(), "%s %s %s\n", verb, what, end)
	return stillHeld(g, cl, f, mode)
}

// stillHeld says which of the doors do not run the mode asked for: an
// override of lower rank, or a stricter one, still holds them.
func stillHeld(g *Globals, cl *client.Client, f overrideFlags, mode access.DoorMode) error {
	st, err := cl.Status(g.ctx())
	if err != nil {
		return err
	}
	for _, d := range st.Doors {
		if (f.All || slices.Contains(f.Doors, d.Name)) && d.Mode != mode && d.ModeSource == "override" {
			fmt.Fprintf(g.out(), "note: door %s is still %s by override %q, which wins; lintel door release --id %s ends it\n", d.Name, d.Mode, d.Override, d.Override)
		}
	}
	return nil
}

// zoneOf is the gateway's time zone, as its status names it.
func zoneOf(st api.Status) *time.Location {
	if loc, err := time.LoadLocation(st.Timezone); err == nil && st.Timezone != "" {
		return loc
	}
	if t, err := time.Parse(time.RFC3339, st.LocalTime); err == nil {
		return t.Location()
	}
	return time.UTC
}

// ParseUntil reads an --until in the gateway's zone, from the gateway's
// own time: "HH:MM" is the next such time (today if it is still to come,
// else tomorrow), "YYYY-MM-DD HH:MM" (or with a T) that moment, an RFC
// 3339 time as it is, and a duration that long from now. It must be in the
// future.
func ParseUntil(s string, st api.Status) (time.Time, error) {
	loc := zoneOf(st)
	now, err := time.Parse(time.RFC3339, st.LocalTime)
	if err != nil {
		now = time.Now()
	}
	now = now.In(loc)
	var t time.Time
	if d, err := time.ParseDuration(s); err == nil {
		t = now.Add(d)
	} else if hm, err := time.ParseInLocation("15:04", s, loc); err == nil {
		t = time.Date(now.Year(), now.Month(), now.Day(), hm.Hour(), hm.Minute(), 0, 0, loc)
		if !t.After(now) {
			t = time.Date(now.Year(), now.Month(), now.Day()+1, hm.Hour(), hm.Minute(), 0, 0, loc)
		}
	} else if t, err = time.Parse(time.RFC3339, s); err != nil {
		for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04"} {
			if t, err = time.ParseInLocation(layout, s, loc); err == nil {
				break
			}
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a time: give 18:00, \"2027-01-04 18:00\", an RFC 3339 time or a duration such as 2h", s)
		}
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("%s is not in the future (the gateway's time is %s)", t.Format("2006-01-02 15:04 MST"), now.Format("2006-01-02 15:04 MST"))
	}
	return t, nil
}

// DoorLockdownCmd is `lintel door lockdown --all | DOOR...`.
type DoorLockdownCmd struct {
	overrideFlags
}

// Run locks the doors down.
func (c *DoorLockdownCmd) Run(g *Globals) error {
	return hold(g, c.overrideFlags, access.ModeLockdown, "locked down")
}

// DoorLockCmd is `lintel door lock DOOR... | --all`.
type DoorLockCmd struct {
	overrideFlags
}

// Run holds the doors locked.
func (c *DoorLockCmd) Run(g *Globals) error {
	return hold(g, c.overrideFlags, access.ModeLocked, "holding locked")
}

// DoorUnlockCmd is `lintel door unlock DOOR... [--until 18:00]`.
type DoorUnlockCmd struct {
	overrideFlags
}

// Run holds the doors unlocked.
func (c *DoorUnlockCmd) Run(g *Globals) error {
	return hold(g, c.overrideFlags, access.ModeUnlocked, "holding unlocked")
}

// DoorReleaseCmd is `lintel door release DOOR... | --all | --id ID`.
type DoorReleaseCmd struct {
	Doors []string `arg:"" optional:"" help:"Door names: end every override that names them."`
	All   bool     `help:"End every override."`
	ID    []string `name:"id" help:"End the override with this id (see lintel door list)." placeholder:"ID"`
}

// Run ends the overrides.
func (c *DoorReleaseCmd) Run(g *Globals) error {
	given := 0
	for _, b := range []bool{len(c.Doors) > 0, c.All, len(c.ID) > 0} {
		if b {
			given++
		}
	}
	if given != 1 {
		return usagef("door release: give door names, --all or --id")
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	l, err := cl.Overrides(g.ctx())
	if err != nil {
		return err
	}
	var ended []string
	for _, o := range l {
		end := c.All || slices.Contains(c.ID, o.ID)
		for _, d := range c.Doors {
			end = end || slices.Contains(o.Doors, d)
		}
		if !end {
			continue
		}
		if err := cl.ClearOverride(g.ctx(), o.ID); err != nil {
			return err
		}
		ended = append(ended, o.ID)
	}
	for _, id := range c.ID {
		if !slices.Contains(ended, id) {
			return fmt.Errorf("door release: there is no override %q (lintel door list shows the ones in force)", id)
		}
	}
	if len(ended) == 0 {
		fmt.Fprintln(g.out(), "no override held those doors")
	} else {
		fmt.Fprintf(g.out(), "ended %s\n", strings.Join(ended, ", "))
	}
	for _, o := range l {
		if !slices.Contains(ended, o.ID) && slices.Contains(o.Doors, "*") && len(c.Doors) > 0 {
			fmt.Fprintf(g.out(), "note: override %q (%s) still holds every door; lintel door release --id %s ends it\n", o.ID, o.Mode, o.ID)
		}
	}
	return nil
}

// DoorPulseCmd is `lintel door pulse DOOR`.
type DoorPulseCmd struct {
	Door string `arg:"" help:"Door name."`
}

// Run pulses the door.
func (c *DoorPulseCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if err := cl.PulseDoor(g.ctx(), c.Door); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "pulsed door %s\n", c.Door)
	return nil
}
