package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
)

// UserCmd manages users.
type UserCmd struct {
	Add     UserAddCmd     `cmd:"" help:"Add a user, or update one."`
	List    UserListCmd    `cmd:"" help:"List users in id order, optionally searching ids and names."`
	Show    UserShowCmd    `cmd:"" help:"Show a user, whether they have a PIN, their levels and their cards."`
	Enable  UserEnableCmd  `cmd:"" help:"Let a disabled user in again, keeping everything else."`
	Disable UserDisableCmd `cmd:"" help:"Keep a user out (their cards and PIN stop working), keeping everything else."`
	Rm      UserRmCmd      `cmd:"" help:"Remove a user with their PIN and cards."`
}

// UserAddCmd is `lintel user add ID --name N [--disabled] [--levels a,b]
// [--override]`.
type UserAddCmd struct {
	ID        string  `arg:"" help:"User id (letters, digits, - _ . @ :)."`
	Name      string  `required:"" help:"The user's name."`
	Disabled  bool    `help:"Add the user disabled: their cards and PIN do not open doors. An update without it keeps the user's flag (lintel user enable and disable change it)."`
	ValidFrom string  `help:"First moment the user may enter (RFC 3339)." placeholder:"TIME"`
	ValidTo   string  `help:"Moment the user's access ends (RFC 3339)." placeholder:"TIME"`
	Levels    *string `help:"Access levels, comma-separated (\"\" for no door). A new user without it gets \"all\"; an update without it keeps theirs." placeholder:"LEVEL,..."`
	Override  *bool   `negatable:"" help:"May enter during a lockdown and through a door held locked (--no-override takes it away). An update without it keeps theirs."`
}

// Run adds or updates the user.
func (c *UserAddCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	body := api.UserBody{Name: c.Name, ValidFrom: c.ValidFrom, ValidTo: c.ValidTo, Override: c.Override}
	if c.Disabled {
		body.Enabled = new(bool) // false; without it a new user is enabled and an update keeps the flag
	}
	if c.Levels != nil {
		levels := splitList(*c.Levels)
		body.Levels = &levels
	}
	_, created, err := cl.PutUser(g.ctx(), c.ID, body)
	if err != nil {
		return err
	}
	verb := "updated"
	if created {
		verb = "added"
	}
	fmt.Fprintf(g.out(), "%s user %s\n", verb, c.ID)
	return nil
}

// splitList splits a comma-separated list; "" is the empty list.
func splitList(s string) []string {
	out := []string{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// UserListCmd is `lintel user list [--search TEXT] [--after ID] [--limit N]`.
type UserListCmd struct {
	Search string `short:"s" help:"Only users whose id or name contains this, without regard to case." placeholder:"TEXT"`
	After  string `help:"Start after this user id (a page's next)." placeholder:"ID"`
	Limit  int    `help:"At most this many users (default: all of them, a page of 1000 at a time)." placeholder:"N"`
}

// Run lists users, fetching pages until the limit or the end.
func (c *UserListCmd) Run(g *Globals) error {
	if c.Limit < 0 {
		return usagef("user list: --limit must be positive")
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	page := api.UserPage{Users: []api.UserDoc{}}
	after := c.After
	for {
		n := 1000
		if c.Limit > 0 {
			n = min(n, c.Limit-len(page.Users))
		}
		p, err := cl.Users(g.ctx(), after, n, c.Search)
		if err != nil {
			return err
		}
		page.Users = append(page.Users, p.Users...)
		page.Next, after = p.Next, p.Next
		if p.Next == "" || (c.Limit > 0 && len(page.Users) >= c.Limit) {
			break
		}
	}
	return g.print(page, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tNAME\tENABLED\tPIN\tCARDS\tLEVELS")
		for _, u := range page.Users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", u.ID, u.Name, yesNo(u.Enabled), yesNo(u.HasPIN), len(u.Credentials), levelsText(u.Levels))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if page.Next != "" {
			fmt.Fprintf(w, "more after %s: lintel user list --after %s\n", page.Next, page.Next)
		}
		return nil
	})
}

func levelsText(l []string) string {
	if len(l) == 0 {
		return "none (no door)"
	}
	return strings.Join(l, ",")
}

// UserShowCmd is `lintel user show ID`.
type UserShowCmd struct {
	ID string `arg:"" help:"User id."`
}

// Run prints the user.
func (c *UserShowCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	u, err := cl.User(g.ctx(), c.ID)
	if err != nil {
		return err
	}
	return g.print(u, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "user\t%s\n", u.ID)
		fmt.Fprintf(tw, "name\t%s\n", u.Name)
		fmt.Fprintf(tw, "enabled\t%s\n", yesNo(u.Enabled))
		if !u.ValidFrom.IsZero() {
			fmt.Fprintf(tw, "valid from\t%s\n", u.ValidFrom.Format(time.RFC3339))
		}
		if !u.ValidTo.IsZero() {
			fmt.Fprintf(tw, "valid to\t%s\n", u.ValidTo.Format(time.RFC3339))
		}
		fmt.Fprintf(tw, "pin\t%s\n", yesNo(u.HasPIN))
		fmt.Fprintf(tw, "levels\t%s\n", levelsText(u.Levels))
		if u.Override {
			fmt.Fprintf(tw, "override\tyes\n")
		}
		if len(u.Credentials) == 0 {
			fmt.Fprintf(tw, "cards\tnone\n")
		}
		for _, cr := range u.Credentials {
			fmt.Fprintf(tw, "card\t%s\t%s facility %d number %d\n", cr.ID, cr.Card.Format, cr.Card.Facility, cr.Card.Number)
		}
		return tw.Flush()
	})
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// UserEnableCmd is `lintel user enable ID`.
type UserEnableCmd struct {
	ID string `arg:"" help:"User id."`
}

// Run enables the user.
func (c *UserEnableCmd) Run(g *Globals) error { return setEnabled(g, c.ID, true) }

// UserDisableCmd is `lintel user disable ID`.
type UserDisableCmd struct {
	ID string `arg:"" help:"User id."`
}

// Run disables the user.
func (c *UserDisableCmd) Run(g *Globals) error { return setEnabled(g, c.ID, false) }

// setEnabled changes a user's enabled flag alone: PUT keeps the levels and
// the override it is not given; the name and validity it must be given,
// so they are read first.
func setEnabled(g *Globals, id string, enabled bool) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	u, err := cl.User(g.ctx(), id)
	if err != nil {
		return err
	}
	body := api.UserBody{Name: u.Name, Enabled: &enabled}
	if !u.ValidFrom.IsZero() {
		body.ValidFrom = u.ValidFrom.Format(time.RFC3339Nano)
	}
	if !u.ValidTo.IsZero() {
		body.ValidTo = u.ValidTo.Format(time.RFC3339Nano)
	}
	if _, _, err := cl.PutUser(g.ctx(), id, body); err != nil {
		return err
	}
	verb := "disabled"
	if enabled {
		verb = "enabled"
	}
	fmt.Fprintf(g.out(), "%s user %s\n", verb, id)
	return nil
}

// UserRmCmd is `lintel user rm ID`.
type UserRmCmd struct {
	ID string `arg:"" help:"User id."`
}

// Run removes the user.
func (c *UserRmCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if err := cl.DeleteUser(g.ctx(), c.ID); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "removed user %s\n", c.ID)
	return nil
}

// PinCmd manages PINs.
type PinCmd struct {
	Set   PinSetCmd   `cmd:"" help:"Generate a PIN (--generate 6) or set one (--pin 12345678, or --pin - to read it from stdin)."`
	Clear PinClearCmd `cmd:"" help:"Remove a user's PIN."`
}

// PinSetCmd is `lintel pin set ID --generate 6 | --pin 12345678`.
type PinSetCmd struct {
	ID       string `arg:"" help:"User id."`
	Generate int    `xor:"pin" placeholder:"DIGITS" help:"Generate a random PIN of 4 to 8 digits and print it, once."`
	PIN      string `name:"pin" xor:"pin" placeholder:"DIGITS" help:"Set this PIN (4 to 8 digits); - reads it from stdin."`
}

// Run sets the PIN.
func (c *PinSetCmd) Run(g *Globals) error {
	if (c.Generate == 0) == (c.PIN == "") {
		return usagef("pin set: give --generate DIGITS or --pin DIGITS")
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if c.Generate != 0 {
		pin, err := cl.GeneratePIN(g.ctx(), c.ID, c.Generate)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.out(), "PIN of %s: %s\n", c.ID, pin)
		return nil
	}
	pin := c.PIN
	if pin == "-" {
		line, err := bufio.NewReader(g.in()).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("pin set: read the PIN from stdin: %w", err)
		}
		pin = strings.TrimSpace(line)
	}
	if err := cl.SetPIN(g.ctx(), c.ID, pin); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "set the PIN of %s\n", c.ID)
	return nil
}

// PinClearCmd is `lintel pin clear ID`.
type PinClearCmd struct {
	ID string `arg:"" help:"User id."`
}

// Run clears the PIN.
func (c *PinClearCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if err := cl.ClearPIN(g.ctx(), c.ID); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "cleared the PIN of %s\n", c.ID)
	return nil
}

// CardCmd manages cards.
type CardCmd struct {
	Add   CardAddCmd   `cmd:"" help:"Enrol a card for a user by its format, facility and number."`
	Enrol CardEnrolCmd `cmd:"" help:"Enrol the next card presented at a reader for a user."`
	Rm    CardRmCmd    `cmd:"" help:"Remove one card (a lost one) by its credential id, keeping the user; 'lintel user show' lists the ids."`
}

// CardAddCmd is `lintel card add ID --format H10301 --facility 1 --number 100`.
type CardAddCmd struct {
	ID       string `arg:"" help:"User id."`
	Format   string `default:"H10301" help:"Wiegand card format, as the readers report it."`
	Facility uint32 `required:"" help:"Facility code."`
	Number   uint64 `required:"" help:"Card number."`
}

// Run enrols the card.
func (c *CardAddCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	cred, err := cl.AddCard(g.ctx(), c.ID, access.CardKey{Format: c.Format, Facility: c.Facility, Number: c.Number})
	if err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "enrolled card %s (%s) for %s\n", cred.ID, cred.Card, c.ID)
	return nil
}

// CardEnrolCmd is `lintel card enrol ID --reader front [--wait 30s]`.
type CardEnrolCmd struct {
	ID     string        `arg:"" help:"User id."`
	Reader string        `required:"" help:"The reader the card will be presented at."`
	Wait   time.Duration `default:"30s" help:"How long to wait for the card (at most 2m)."`
}

// Run waits for the card and enrols it.
func (c *CardEnrolCmd) Run(g *Globals) error {
	secs := int(c.Wait / time.Second)
	if secs < 1 || secs > api.MaxEnrolWait {
		return usagef("card enrol: --wait must be from 1s to %ds, got %s", api.MaxEnrolWait, c.Wait)
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if !g.JSON {
		fmt.Fprintf(g.out(), "present the card at reader %s (waiting up to %s) ...\n", c.Reader, c.Wait)
	}
	doc, err := cl.EnrolCard(g.ctx(), c.ID, c.Reader, secs)
	if err != nil {
		return err
	}
	return g.print(doc, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "enrolled card %s (%s) read at reader %s for %s\n", doc.ID, doc.Card, doc.Reader, c.ID)
		return err
	})
}

// CardRmCmd is `lintel card rm CREDENTIAL`.
type CardRmCmd struct {
	Credential string `arg:"" help:"Credential id of the card (see lintel user show)."`
}

// Run removes the card.
func (c *CardRmCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if err := cl.RemoveCredential(g.ctx(), c.Credential); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "removed card %s\n", c.Credential)
	return nil
}
