package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/client"
	"github.com/lintel-access/lintel/gateway/access"
)

// Where an installed gateway and `lintel run --sim` keep what the CLI
// reads when no flag or environment variable says otherwise.
const (
	// DefaultConfigFile is the config of an installed gateway (the .deb's).
	DefaultConfigFile = "/etc/lintel/lintel.toml"
	// DefaultTokenFile is where `lintel run --sim` keeps the admin token,
	// relative to the directory it runs in.
	DefaultTokenFile = "lintel-data/admin.token"
	// SystemTokenFile is where an installed gateway keeps it.
	SystemTokenFile = "/var/lib/lintel/admin.token"
	// DefaultAddr is the API's address when nothing names another.
	DefaultAddr = "http://" + api.DefaultAddr
)

// DefaultTokenFiles are the data directories' admin tokens the CLI tries,
// in order, when no flag, environment variable or config names a token.
var DefaultTokenFiles = []string{DefaultTokenFile, SystemTokenFile}

// Settings are what the CLI takes from a gateway's config file: the API's
// listen address, whether it serves HTTPS, and the file the gateway keeps
// its admin token in.
type Settings struct {
	Listen         string
	TLS            bool
	AdminTokenFile string
}

// Globals are the flags every API command shares, and where the CLI looks
// for what they leave out. The gateway's address is --addr, else
// LINTEL_ADDR, else the config's api.listen, else http://127.0.0.1:8080.
// The token is --token, else LINTEL_TOKEN, else the file --token-file (or
// LINTEL_TOKEN_FILE) names, else the config's gateway.data_dir/admin.token,
// else the first of DefaultTokenFiles that exists. The config is the file
// LINTEL_CONFIG names, else DefaultConfigFile when it exists; it is read
// only when a setting is left to it.
type Globals struct {
	Addr      string `help:"Address of the gateway's API (default: the config's api.listen, else http://127.0.0.1:8080)." env:"LINTEL_ADDR" placeholder:"URL"`
	Token     string `help:"API token; prefer LINTEL_TOKEN, which other users cannot see." env:"LINTEL_TOKEN"`
	TokenFile string `help:"File holding the API token (default: the config's data_dir/admin.token, else ./lintel-data/admin.token, else /var/lib/lintel/admin.token)." env:"LINTEL_TOKEN_FILE" placeholder:"FILE"`
	// InsecureToken sends the token over plain HTTP to another machine.
	InsecureToken bool `help:"Send the token even over plain HTTP to a gateway on another machine, where anyone on the network path can read it (prefer an https:// address)."`
	// JSON prints what read commands show as JSON.
	JSON bool `name:"json" help:"Print what a read command shows as JSON, for scripts."`

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
	// ConfigFile is the config read when it exists; "" means
	// LINTEL_CONFIG, else DefaultConfigFile. One named by LINTEL_CONFIG
	// must exist.
	ConfigFile string `kong:"-"`
	// TokenFiles replaces DefaultTokenFiles when not nil.
	TokenFiles []string `kong:"-"`
	// LoadConfig reads a gateway config. The lintel binary sets it:
	// package gateway owns the format. Nil reads no config.
	LoadConfig func(path string) (Settings, error) `kong:"-"`
	// Getenv reads the environment (LINTEL_CONFIG); nil means os.Getenv.
	Getenv func(string) string `kong:"-"`

	settings *Settings // read once
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

func (g *Globals) getenv(k string) string {
	if g.Getenv != nil {
		return g.Getenv(k)
	}
	return os.Getenv(k)
}

// config returns the settings of the gateway's config, or nil when there
// is none to read.
func (g *Globals) config() (*Settings, error) {
	if g.settings != nil || g.LoadConfig == nil {
		return g.settings, nil
	}
	path, named := g.ConfigFile, true
	if path == "" {
		path = g.getenv("LINTEL_CONFIG")
	}
	if path == "" {
		path, named = DefaultConfigFile, false
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if named {
			return nil, fmt.Errorf("config %s (LINTEL_CONFIG) does not exist", path)
		}
		return nil, nil
	}
	st, err := g.LoadConfig(path)
	switch {
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("cannot read the gateway's config %s: permission denied: run as root (sudo lintel ...), or give --addr and --token", path)
	case err != nil:
		return nil, fmt.Errorf("%w\nlintel: the CLI reads the API address and the admin token's place from %s: fix it (lintel config check %s), or give --addr and --token", err, path, path)
	}
	g.settings = &st
	return g.settings, nil
}

// addr is the gateway's API address as a URL.
func (g *Globals) addr() (string, error) {
	addr := g.Addr
	if addr == "" {
		st, err := g.config()
		if err != nil {
			return "", err
		}
		if st == nil || st.Listen == "" {
			return DefaultAddr, nil
		}
		return listenURL(st.Listen, st.TLS), nil
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return addr, nil
}

// listenURL is the address a client on this machine reaches a listen
// address at: a wildcard host is reached on loopback.
func listenURL(listen string, tls bool) string {
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return scheme + listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return scheme + net.JoinHostPort(host, port)
}

// token finds the API token (see Globals).
func (g *Globals) token() (string, error) {
	if tok := strings.TrimSpace(g.Token); tok != "" {
		return tok, nil
	}
	if g.TokenFile != "" {
		tok, err := readToken(g.TokenFile)
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("no API token: give --token or LINTEL_TOKEN, or a --token-file that exists: %w", err)
		}
		return tok, err
	}
	var tried []string
	st, err := g.config()
	if err != nil && g.Addr == "" {
		return "", err
	}
	if st != nil && st.AdminTokenFile != "" {
		if tok, err := readToken(st.AdminTokenFile); !errors.Is(err, fs.ErrNotExist) {
			return tok, err
		}
		tried = append(tried, st.AdminTokenFile)
	}
	files := g.TokenFiles
	if files == nil {
		files = DefaultTokenFiles
	}
	for _, f := range files {
		tok, err := readToken(f)
		if !errors.Is(err, fs.ErrNotExist) {
			return tok, err
		}
		tried = append(tried, f)
	}
	return "", fmt.Errorf("no admin token: give --token or LINTEL_TOKEN (a token of the config's [[api.tokens]]; `lintel token new` makes one), "+
		"or start `lintel run --sim` here once to create %s (looked in %s)", DefaultTokenFile, strings.Join(tried, ", "))
}

// readToken reads a token file; a missing file's error wraps
// fs.ErrNotExist.
func readToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%s does not exist: %w", file, fs.ErrNotExist)
	case errors.Is(err, fs.ErrPermission):
		return "", fmt.Errorf("no admin token: cannot read %s (permission denied): run as root (sudo lintel ...), or give --token or LINTEL_TOKEN", file)
	case err != nil:
		return "", fmt.Errorf("no admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("no admin token: %s is empty", file)
	}
	return tok, nil
}

// Client returns an API client for the gateway the flags name.
func (g *Globals) Client() (*client.Client, error) {
	addr, err := g.addr()
	if err != nil {
		return nil, err
	}
	if !g.InsecureToken {
		if err := client.CheckTokenTransport(addr); err != nil {
			return nil, fmt.Errorf("%w; give an https:// address (the gateway serves HTTPS with api.tls_cert and api.tls_key), or pass --insecure-token to send it anyway", err)
		}
	}
	tok, err := g.token()
	if err != nil {
		return nil, err
	}
	c := client.New(addr, tok)
	c.HTTP, c.InsecureToken = g.HTTP, g.InsecureToken
	return c, nil
}

// print writes v as indented JSON with --json, and otherwise calls text.
func (g *Globals) print(v any, text func(w io.Writer) error) error {
	if g.JSON {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(g.out(), "%s\n", b)
		return err
	}
	return text(g.out())
}

// Exit statuses of the lintel command.
const (
	ExitOK    = 0 // done
	ExitError = 1 // the command failed: the gateway refused it, or could not be reached
	ExitUsage = 2 // the command line is wrong: an unknown command or flag, a missing or bad argument
)

// UsageError is a command line that cannot be run: it exits ExitUsage.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

func usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// Report prints err the way the API stated it, "lintel: <code>:
// <message>", with advice where there is some (a gateway that does not
// answer, a token refused), and returns the exit status: ExitOK for nil,
// ExitUsage for a UsageError, ExitError otherwise.
func Report(w io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Fprintf(w, "lintel: %s: %s\n", e.Code, e.Message)
		switch e.Code {
		case api.CodeUnauthorized:
			fmt.Fprintln(w, "lintel: the gateway refused the token: give the admin token of its data dir (admin.token) or one of its [[api.tokens]], with --token or LINTEL_TOKEN")
		case api.CodeForbidden:
			fmt.Fprintln(w, "lintel: this token's role may not do that: it needs an admin token")
		}
	} else {
		fmt.Fprintf(w, "lintel: %v\n", err)
	}
	var op *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &op) && op.Op == "dial":
		fmt.Fprintln(w, "lintel: the gateway does not answer there: is lintel running? systemctl status lintel (or start `lintel run --sim`); give its address with --addr or LINTEL_ADDR")
	}
	var ue UsageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return ExitError
}

// Commands are the API commands of the lintel binary.
type Commands struct {
	User     UserCmd     `cmd:"" help:"Add, list, show, enable, disable and remove users."`
	Pin      PinCmd      `cmd:"" help:"Set or clear a user's PIN."`
	Card     CardCmd     `cmd:"" help:"Enrol and remove cards."`
	Schedule ScheduleCmd `cmd:"" help:"Weekly schedules the access levels and door policies use."`
	Holiday  HolidayCmd  `cmd:"" help:"Holidays, which change which schedule intervals apply."`
	Level    LevelCmd    `cmd:"" help:"Access levels: which doors, on which schedules."`
	Door     DoorCmd     `cmd:"" help:"Doors: list them, their policies, lockdown, hold them locked or unlocked, release, test pulse."`
	Events   EventsCmd   `cmd:"" help:"Read the activity log."`
	Status   StatusCmd   `cmd:"" help:"Show the gateway's status."`
	Export   ExportCmd   `cmd:"" help:"Print the whole table (users, cards, policy; never a PIN) as JSON, for a backup."`
	Import   ImportCmd   `cmd:"" help:"Replace the whole table with an export."`
	Sync     SyncCmd     `cmd:"" help:"Show the portal sync revision, or reset it."`
	Sim      SimCmd      `cmd:"" help:"Drive the simulated readers and doors of 'lintel run --sim'."`
}

// Run parses args as the API commands alone and runs the chosen one,
// printing to stdout and stderr; it returns the exit status. The lintel
// binary embeds the structs instead; Run serves tests and tools that only
// talk to a gateway.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return RunWith(ctx, Globals{}, args, stdout, stderr)
}

// RunWith is Run with base's fields that are no flags (ConfigFile,
// LoadConfig, TokenFiles, Getenv, HTTP, Stdin).
func RunWith(ctx context.Context, base Globals, args []string, stdout, stderr io.Writer) int {
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
		return ExitUsage
	}
	g := &grammar.Globals
	g.ConfigFile, g.LoadConfig, g.TokenFiles, g.Getenv, g.HTTP, g.Stdin = base.ConfigFile, base.LoadConfig, base.TokenFiles, base.Getenv, base.HTTP, base.Stdin
	g.Context, g.Stdout = ctx, stdout
	return Report(stderr, kctx.Run(g))
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
			g.printEvent(ev)
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
		g.printEvent(ev)
		return nil
	})
}

// printEvent prints one event on one line: with --json as one JSON object
// a line (as the API and MQTT carry it), else for people.
func (g *Globals) printEvent(ev access.Event) {
	w := g.out()
	if g.JSON {
		b, _ := json.Marshal(ev)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
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
	if g.JSON {
		return g.print(st, nil)
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
	if g.JSON {
		_, err := fmt.Fprintf(g.out(), "%s\n", b)
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
		return usagef("sim card: give --bits, or --facility and --number, not both")
	case c.Bits == "" && (c.Facility == nil || c.Number == nil):
		return usagef("sim card: give --facility and --number, or --bits")
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
