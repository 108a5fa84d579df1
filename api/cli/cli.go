package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/client"
	"github.com/lintel-access/lintel/gateway/access"
)

// DefaultTokenFile is where `lintel run --sim` keeps the admin token.
const DefaultTokenFile = "lintel-data/admin.token"

// Globals are the flags every API command shares.
type Globals struct {
	Addr      string `help:"Address of the gateway's API." env:"LINTEL_ADDR" default:"http://127.0.0.1:8080"`
	Token     string `help:"API token; prefer LINTEL_TOKEN, which other users cannot see." env:"LINTEL_TOKEN"`
	TokenFile string `help:"File holding the API token, read when no token is given." default:"lintel-data/admin.token" placeholder:"FILE"`
	// InsecureToken sends the token over plain HTTP to another machine.
	InsecureToken bool `help:"Send the token even over plain HTTP to a gateway on another machine, where anyone on the network path can read it (prefer an https:// address)."`

	// Context bounds every request; nil means context.Background. The
	// main binary sets it to its signal context so Ctrl-C ends
	// "events tail --follow".
	Context context.Context `kong:"-"`
	// Stdout and Stdin are where commands print and read; nil means the
	// process's own.
	Stdout io.Writer `kong:"-"`
	Stdin  io.Reader `kong:"-"`
	// HTTP is the client requests go through; nil means
	// http.DefaultClient.
	HTTP *http.Client `kong:"-"`
}

func (g *Globals) ctx() context.Context {
	if g.Context != nil {
		return g.Context
	}
	return context.Background()
}

func (g *Globals) out() io.Writer {
	if g.Stdout != nil {
		return g.Stdout
	}
	return os.Stdout
}

func (g *Globals) in() io.Reader {
	if g.Stdin != nil {
		return g.Stdin
	}
	return os.Stdin
}

// Client returns an API client for the gateway the flags name.
func (g *Globals) Client() (*client.Client, error) {
	addr := g.Addr
	if addr == "" {
		addr = "http://127.0.0.1:8080"
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	if !g.InsecureToken {
		if err := client.CheckTokenTransport(addr); err != nil {
			return nil, fmt.Errorf("%w; give an https:// address (the gateway serves HTTPS with api.tls_cert and api.tls_key), or pass --insecure-token to send it anyway", err)
		}
	}
	tok := strings.TrimSpace(g.Token)
	if tok == "" {
		file := g.TokenFile
		if file == "" {
			file = DefaultTokenFile
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("no API token: give --token or LINTEL_TOKEN, or start `lintel run --sim` here once to create %s (%w)", file, err)
		}
		tok = strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("no API token: %s is empty", file)
		}
	}
	c := client.New(addr, tok)
	c.HTTP, c.InsecureToken = g.HTTP, g.InsecureToken
	return c, nil
}

// Report prints err the way the API stated it, "lintel: <code>:
// <message>", and returns the exit status: 0 for nil, 1 otherwise.
func Report(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Fprintf(w, "lintel: %s: %s\n", e.Code, e.Message)
	} else {
		fmt.Fprintf(w, "lintel: %v\n", err)
	}
	return 1
}

// Commands are the API commands of the lintel binary.
type Commands struct {
	User   UserCmd   `cmd:"" help:"Add, show and remove users."`
	Pin    PinCmd    `cmd:"" help:"Set or clear a user's PIN."`
	Card   CardCmd   `cmd:"" help:"Enrol cards."`
	Events EventsCmd `cmd:"" help:"Read the activity log."`
	Status StatusCmd `cmd:"" help:"Show the gateway's status."`
	Sync   SyncCmd   `cmd:"" help:"Show the portal sync revision, or reset it."`
	Sim    SimCmd    `cmd:"" help:"Drive the simulated readers and doors of 'lintel run --sim'."`
}

// Run parses args as the API commands alone and runs the chosen one,
// printing to stdout and stderr; it returns the exit status. The lintel
// binary embeds the structs instead; Run serves tests and tools that only
// talk to a gateway.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var grammar struct {
		Globals
		Commands
	}
	exit := -1
	parser, err := kong.New(&grammar, kong.Name("lintel"), kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exit = code }))
	if err != nil {
		return Report(stderr, err)
	}
	kctx, err := parser.Parse(args)
	if exit >= 0 {
		return exit // --help
	}
	if err != nil {
		fmt.Fprintf(stderr, "lintel: %v\n", err)
		return 2
	}
	grammar.Context, grammar.Stdout = ctx, stdout
	return Report(stderr, kctx.Run(&grammar.Globals))
}

// UserCmd manages users.
type UserCmd struct {
	Add  UserAddCmd  `cmd:"" help:"Add a user, or update one."`
	Show UserShowCmd `cmd:"" help:"Show a user, whether they have a PIN and their cards."`
	Rm   UserRmCmd   `cmd:"" help:"Remove a user with their PIN and cards."`
}

// UserAddCmd is `lintel user add ID --name N [--disabled]`.
type UserAddCmd struct {
	ID        string `arg:"" help:"User id (letters, digits, - _ . @ :)."`
	Name      string `required:"" help:"The user's name."`
	Disabled  bool   `help:"Add the user disabled: their cards and PIN do not open doors."`
	ValidFrom string `help:"First moment the user may enter (RFC 3339)." placeholder:"TIME"`
	ValidTo   string `help:"Moment the user's access ends (RFC 3339)." placeholder:"TIME"`
}

// Run adds or updates the user.
func (c *UserAddCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	enabled := !c.Disabled
	_, created, err := cl.PutUser(g.ctx(), c.ID, api.UserBody{Name: c.Name, Enabled: &enabled, ValidFrom: c.ValidFrom, ValidTo: c.ValidTo})
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
	tw := tabwriter.NewWriter(g.out(), 0, 4, 2, ' ', 0)
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
	if len(u.Credentials) == 0 {
		fmt.Fprintf(tw, "cards\tnone\n")
	}
	for _, cr := range u.Credentials {
		fmt.Fprintf(tw, "card\t%s\t%s facility %d number %d\n", cr.ID, cr.Card.Format, cr.Card.Facility, cr.Card.Number)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
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
		return errors.New("pin set: give --generate DIGITS or --pin DIGITS")
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
	Add CardAddCmd `cmd:"" help:"Enrol a card for a user."`
}

// CardAddCmd is `lintel card add ID --format H10301 --facility 1 --number 100`.
type CardAddCmd struct {
	ID       string `arg:"" help:"User id."`
	Format   string `default:"H10301" help:"Wiegand card format."`
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

// EventsCmd reads the journal.
type EventsCmd struct {
	Tail EventsTailCmd `cmd:"" help:"Print the last events, or those after a seq, and optionally follow new ones."`
}

// EventsTailCmd is `lintel events tail [--after N] [--follow]`.
type EventsTailCmd struct {
	After  *uint64 `help:"Print the events after this seq instead of the last ones." placeholder:"SEQ"`
	Lines  int     `short:"n" default:"20" help:"How many of the last events to print without --after."`
	Follow bool    `short:"f" help:"Keep printing new events as they happen."`
}

// Run prints events.
func (c *EventsTailCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	ctx := g.ctx()
	var after uint64
	if c.After != nil {
		after = *c.After
	} else {
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		if n := uint64(max(c.Lines, 0)); st.Journal.Last > n {
			after = st.Journal.Last - n
		}
	}
	for {
		page, err := cl.Events(ctx, after, 1000)
		if err != nil {
			return err
		}
		for _, ev := range page.Events {
			printEvent(g.out(), ev)
		}
		after = page.Next
		if len(page.Events) < 1000 {
			break
		}
	}
	if !c.Follow {
		return nil
	}
	return cl.StreamEvents(ctx, after, false, func(ev access.Event) error {
		printEvent(g.out(), ev)
		return nil
	})
}

// printEvent prints one event on one line.
func printEvent(w io.Writer, ev access.Event) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d  %s  %s  %s", ev.Seq, ev.Time.Format(time.RFC3339), ev.Type, ev.Name)
	for _, kv := range [][2]string{{"reader", ev.Reader}, {"door", ev.Door}, {"user", ev.User}, {"credential", ev.Credential}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "  %s=%s", kv[0], kv[1])
		}
	}
	if ev.Detail != "" {
		fmt.Fprintf(&b, "  (%s)", ev.Detail)
	}
	if ev.ClockUntrusted {
		b.WriteString("  [clock not synchronised]")
	}
	fmt.Fprintln(w, b.String())
}

// StatusCmd is `lintel status`.
type StatusCmd struct{}

// Run prints the status.
func (c *StatusCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	st, err := cl.Status(g.ctx())
	if err != nil {
		return err
	}
	w := g.out()
	clock := "synchronised"
	if !st.ClockTrusted {
		clock = "NOT synchronised"
	}
	fmt.Fprintf(w, "gateway %s, version %s, up %s, clock %s\n", st.GatewayID, st.Version, time.Duration(st.UptimeSeconds)*time.Second, clock)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nDOOR\tLOCK\tRELAY\tREADER LEDS\tCONTACT\tALARMS")
	for _, d := range st.Doors {
		lock, relay, contact := "unlocked", "off", "closed"
		if d.Locked {
			lock = "locked"
		}
		if d.RelayEnergised {
			relay = "energised"
		}
		if d.Open {
			contact = "open"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, lock, relay, orNone(d.Indicator), contact, orNone(strings.Join(d.Alarms, ", ")))
	}
	fmt.Fprintln(tw, "\nREADER\tMODEL\tMODE\tLAST FRAME\tREJECTED")
	for _, r := range st.Readers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Model, r.Mode, frameSummary(r.LastFrame), rejects(r.Rejects))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	up := "not configured"
	switch {
	case st.Uplink.Configured && st.Uplink.Connected:
		up = "connected"
	case st.Uplink.Configured:
		up = "disconnected"
		if st.Uplink.LastError != "" {
			up += " (" + st.Uplink.LastError + ")"
		}
	}
	fmt.Fprintf(w, "\nuplink %s; journal %d events, %d undelivered; sync revision %d; broker %d clients\n",
		up, st.Journal.Count, st.Journal.Undelivered, st.Sync.Revision, st.Broker.Clients)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func frameSummary(f *api.Frame) string {
	switch {
	case f == nil:
		return "none"
	case f.Keypad:
		return "key press"
	case f.Error != "":
		return fmt.Sprintf("%d bits, rejected: %s", f.Length, f.Error)
	case f.Format != "":
		return fmt.Sprintf("%d bits %s %d/%d", f.Length, f.Format, f.Facility, f.Number)
	}
	return fmt.Sprintf("%d bits", f.Length)
}

func rejects(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if m[k] > 0 { // the gateway lists every cause, most of them at 0
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	return orNone(strings.Join(parts, ", "))
}

// SyncCmd shows and recovers the portal sync.
type SyncCmd struct {
	Status SyncStatusCmd `cmd:"" help:"Show the sync revision the gateway holds, its counts and digest."`
	Reset  SyncResetCmd  `cmd:"" help:"Set the sync revision back, keeping the table, so the portal can resend from there (admin token)."`
}

// syncAck is what the CLI reads of an ack (docs/sync.md, The ack).
type syncAck struct {
	Revision uint64 `json:"revision"`
	Counts   struct {
		Users       int `json:"users"`
		Credentials int `json:"credentials"`
		PINs        int `json:"pins"`
	} `json:"counts"`
	Digest string `json:"digest"`
}

func readAck(b []byte) (syncAck, error) {
	var a syncAck
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("sync: the gateway's ack is not JSON: %w", err)
	}
	return a, nil
}

func (a syncAck) String() string {
	return fmt.Sprintf("sync revision %d: %d users, %d credentials, %d PINs; digest %s",
		a.Revision, a.Counts.Users, a.Counts.Credentials, a.Counts.PINs, a.Digest)
}

// SyncStatusCmd is `lintel sync status`.
type SyncStatusCmd struct{}

// Run prints the current sync revision.
func (c *SyncStatusCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	b, err := cl.SyncCurrent(g.ctx())
	if err != nil {
		return err
	}
	a, err := readAck(b)
	if err != nil {
		return err
	}
	fmt.Fprintln(g.out(), a)
	return nil
}

// SyncResetCmd is `lintel sync reset [--revision N]`.
type SyncResetCmd struct {
	Revision uint64 `default:"0" placeholder:"N" help:"Revision to reset to, at most the current one. 0 lets any snapshot apply next; the portal's last good revision keeps every older changeset a duplicate, so none can be replayed."`
}

// Run resets the revision and says from where to where.
func (c *SyncResetCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	before, err := cl.SyncCurrent(g.ctx())
	if err != nil {
		return err
	}
	from, err := readAck(before)
	if err != nil {
		return err
	}
	b, err := cl.ResetSync(g.ctx(), c.Revision)
	if err != nil {
		return err
	}
	a, err := readAck(b)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "reset the sync revision from %d to %d; the table is kept, and the portal resends from there\n%s\n", from.Revision, a.Revision, a)
	return nil
}

// SimCmd drives the simulator.
type SimCmd struct {
	Card SimCardCmd `cmd:"" help:"Present a card at a reader, or send raw Wiegand bits."`
	Keys SimKeysCmd `cmd:"" help:"Press keys on a reader's keypad (0-9, * and #)."`
	Door SimDoorCmd `cmd:"" help:"Open or close a door's contact."`
}

// SimCardCmd is `lintel sim card READER --facility F --number N [--format
// H10301] | --bits 1010...`.
type SimCardCmd struct {
	Reader   string  `arg:"" help:"Reader name."`
	Format   string  `default:"H10301" help:"Card format."`
	Facility *uint32 `help:"Facility code."`
	Number   *uint64 `help:"Card number."`
	Bits     string  `help:"A raw frame, one 0 or 1 per bit, instead of a card."`
}

// Run sends the card or bits.
func (c *SimCardCmd) Run(g *Globals) error {
	card := c.Facility != nil || c.Number != nil
	switch {
	case c.Bits != "" && card:
		return errors.New("sim card: give --bits, or --facility and --number, not both")
	case c.Bits == "" && (c.Facility == nil || c.Number == nil):
		return errors.New("sim card: give --facility and --number, or --bits")
	}
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if c.Bits != "" {
		err = cl.SimBits(g.ctx(), c.Reader, c.Bits)
	} else {
		err = cl.SimCard(g.ctx(), c.Reader, access.CardKey{Format: c.Format, Facility: *c.Facility, Number: *c.Number})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "sent to reader %s\n", c.Reader)
	return nil
}

// SimKeysCmd is `lintel sim keys READER KEYS`.
type SimKeysCmd struct {
	Reader string `arg:"" help:"Reader name."`
	Keys   string `arg:"" help:"Keys to press, e.g. 1234#."`
}

// Run presses the keys. It does not echo them.
func (c *SimKeysCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if err := cl.SimKeys(g.ctx(), c.Reader, c.Keys); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "pressed %d keys on reader %s\n", len(c.Keys), c.Reader)
	return nil
}

// SimDoorCmd is `lintel sim door DOOR open|closed`.
type SimDoorCmd struct {
	Door  string `arg:"" help:"Door name."`
	State string `arg:"" enum:"open,closed" help:"open or closed."`
}

// Run sets the contact.
func (c *SimDoorCmd) Run(g *Globals) error {
	cl, err := g.Client()
	if err != nil {
		return err
	}
	if err := cl.SimDoor(g.ctx(), c.Door, c.State == "open"); err != nil {
		return err
	}
	fmt.Fprintf(g.out(), "door %s %s\n", c.Door, c.State)
	return nil
}
