package gateway

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	_ "time/tzdata" // gateway.timezone works on a box without /usr/share/zoneinfo

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/homeassistant"
	"github.com/lintel-access/lintel/broker/topic"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gpio/door"
	"github.com/lintel-access/lintel/gpio/pins"
	"github.com/lintel-access/lintel/gpio/sim"
	"github.com/lintel-access/lintel/gpio/wiegand"
	"github.com/lintel-access/lintel/sync/uplink"
)

// Config is the whole of lintel.toml. Every field has a documented zero
// value; [Config.Validate] checks the file once, at load, table by table, and
// its errors name the file and the key. A rule about a value that another
// package uses (a pin name, a topic name, a reader mode, the broker's or the
// uplink's settings) is that package's check, called here, never restated.
type Config struct {
	Gateway GatewayConfig `toml:"gateway"`
	API     APIConfig     `toml:"api"`
	Broker  BrokerConfig  `toml:"broker"`
	// Uplink is the connection to the cloud broker; see [uplink.Config].
	// An empty URL means no uplink: the gateway runs on its own.
	Uplink  uplink.Config `toml:"uplink"`
	Journal JournalConfig `toml:"journal"`
	// Access is the gateway-wide access rules; the policy itself (levels,
	// schedules, ...) is in the database, set through the API or sync.
	Access AccessConfig `toml:"access"`
	// Sync says whose changesets the gateway applies; see [SyncConfig].
	Sync SyncConfig `toml:"sync"`
	// HomeAssistant puts the gateway into Home Assistant by MQTT
	// discovery on the embedded broker; see [homeassistant.Config].
	HomeAssistant homeassistant.Config `toml:"homeassistant"`
	// Readers and Doors are keyed by name; the name appears in events,
	// topics and the status page.
	Readers map[string]ReaderConfig `toml:"readers"`
	Doors   map[string]DoorConfig   `toml:"doors"`
	Sim     SimConfig               `toml:"sim"`

	// file is where the config came from, and keys where in it each key
	// is, for error messages.
	file string
	keys keyIndex
	// sim marks the built-in config of `lintel run --sim`.
	sim bool
}

// GatewayConfig is the [gateway] table.
type GatewayConfig struct {
	// ID names the gateway in event ids and MQTT topics. Required: 1-64 of
	// letters, digits, '-', '_', '.', starting with a letter or a digit
	// ([topic.CheckID]).
	ID string `toml:"id"`
	// DataDir holds the database and the admin token. Zero:
	// /var/lib/lintel.
	DataDir string `toml:"data_dir"`
	// KeyFile holds the device key PINs are hashed under; it must lie
	// outside DataDir (docs/security.md). A systemd credential named
	// device.key ($CREDENTIALS_DIRECTORY/device.key) is used instead when
	// there is one. Zero: /etc/lintel/device.key, or for `lintel run
	// --sim` the data directory's name with ".key" beside it
	// (lintel-data.key). See [Config.DeviceKeyFile].
	KeyFile string `toml:"key_file"`
	// MinFreeMiB is the free space, in MiB, on the data directory's
	// filesystem below which the store refuses writes and holds events in
	// memory (see store.Options.MinFree). Zero: 64. -1: no check.
	MinFreeMiB int `toml:"min_free_mib"`
	// LogLevel is debug, info, warn or error. Zero: info.
	LogLevel string `toml:"log_level"`
	// LogFormat is "text" (key=value lines) or "json" (one JSON object a
	// line, for log shippers). Zero: text.
	LogFormat string `toml:"log_format"`
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT) in
	// MiB. Zero: 48. Negative: no limit.
	MemoryLimit int `toml:"memory_limit_mib"`
	// Timezone is the IANA zone schedules are read in, e.g.
	// "Europe/Berlin". Zero: UTC. The zone database is built into the
	// binary.
	Timezone string `toml:"timezone"`
}

// AccessConfig is the [access] table: the rules of the whole gateway that
// are not objects of the policy (see docs/access.md).
type AccessConfig struct {
	// Duress is "off" or "last_digit_plus_one" (a user's PIN with its last
	// digit plus one grants and raises a Duress Alarm). Zero: off.
	Duress access.Duress `toml:"duress"`
	// UntrustedClock is what the time rules do while the clock cannot be
	// believed: "restrict", "deny" or "trust". Zero: restrict.
	UntrustedClock access.UntrustedClock `toml:"untrusted_clock"`
	// GuessAttempts wrong PINs across every reader within GuessWindow
	// lock every keypad for GuessLockout; each lockout that follows
	// another within a day doubles, up to MaxLockout. Zero: 20, 10m, 5m
	// and 1h.
	GuessAttempts int           `toml:"guess_attempts"`
	GuessWindow   time.Duration `toml:"guess_window"`
	GuessLockout  time.Duration `toml:"guess_lockout"`
	MaxLockout    time.Duration `toml:"max_lockout"`
}

// guessBudget is the [access] table's guess budget as the engine takes it.
func (a AccessConfig) guessBudget() access.GuessBudget {
	return access.GuessBudget{Attempts: a.GuessAttempts, Window: a.GuessWindow, Duration: a.GuessLockout, MaxLockout: a.MaxLockout}
}

func (a AccessConfig) validate(p *problems) {
	if !a.Duress.Known() {
		p.add("access.duress", "%q is not one of %s", a.Duress, joinNames(access.Duresses))
	}
	if !a.UntrustedClock.Known() {
		p.add("access.untrusted_clock", "%q is not one of %s", a.UntrustedClock, joinNames(access.UntrustedClocks))
	}
	if a.GuessAttempts < 0 {
		p.add("access.guess_attempts", "%d must not be negative", a.GuessAttempts)
	}
	for key, d := range map[string]time.Duration{"guess_window": a.GuessWindow, "guess_lockout": a.GuessLockout, "max_lockout": a.MaxLockout} {
		if d < 0 {
			p.add("access."+key, "%s must not be negative", d)
		}
	}
}

// location loads the gateway's time zone; "" is UTC.
func (g GatewayConfig) location() (*time.Location, error) {
	if g.Timezone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(g.Timezone)
	if err != nil || g.Timezone == "Local" {
		return nil, fmt.Errorf("%q is not an IANA time zone name (e.g. \"Europe/Berlin\", \"America/New_York\", \"UTC\")", g.Timezone)
	}
	return loc, nil
}

// APIConfig is the [api] table: the local REST API and status page.
type APIConfig struct {
	// Listen is the address of the HTTP server. Zero: 127.0.0.1:8080.
	Listen string `toml:"listen"`
	// TLSCert and TLSKey, both set, serve HTTPS instead of HTTP.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Tokens may call the API. An admin token kept in DataDir/admin.token
	// is added on first start when the list has no admin.
	Tokens []TokenConfig `toml:"tokens"`
	// Hosts are the names, besides IP addresses and localhost, that
	// requests may call the gateway by (the Host header); see
	// [api.Config.Hosts]. Zero: none.
	Hosts []string `toml:"hosts"`
	// MaxConnections caps open HTTP connections; see [api.Config.MaxConns].
	// Zero: 64.
	MaxConnections int `toml:"max_connections"`
	// MaxStreamsPerToken caps one token's event streams; see
	// [api.Config.MaxStreamsPerToken]. Zero: 8.
	MaxStreamsPerToken int `toml:"max_streams_per_token"`
}

// TokenConfig is one API bearer token, stored as the hex SHA-256 of the
// token (make one with `lintel token new`).
type TokenConfig struct {
	Name   string `toml:"name"`
	Role   string `toml:"role"` // admin, technician, portal or monitor (api.Roles)
	SHA256 string `toml:"sha256"`
}

// BrokerConfig is the [broker] table: the embedded MQTT broker, see
// [broker.Config].
type BrokerConfig struct {
	// Disabled turns the embedded broker off.
	Disabled bool `toml:"disabled"`
	broker.Config
}

// JournalConfig is the [journal] table.
type JournalConfig struct {
	// MaxEvents and MaxAge bound the journal. Zero: 1,000,000 and 90 days
	// (2160h). Delivered events go first.
	MaxEvents int           `toml:"max_events"`
	MaxAge    time.Duration `toml:"max_age"`
	// CommitInterval groups journal writes. Zero: 10ms.
	CommitInterval time.Duration `toml:"commit_interval"`
}

// ReaderConfig is one [readers.NAME] table.
type ReaderConfig struct {
	Model access.Model `toml:"model"` // one of access.Models: RPK40, RP10, RP15 or RP40
	Mode  access.Mode  `toml:"mode"`  // one of access.Modes: card_only, pin_only, card_or_pin or card_and_pin
	Door  string       `toml:"door"`  // name of a [doors.NAME] table
	// Format37 says how 37-bit cards decode: a 37-bit card format of
	// package wiegand, H10302 (no facility) or H10304. Zero: H10304.
	Format37 string `toml:"format_37"`
	// KeypadBuffered says the keypad sends a whole PIN as one 26-bit
	// frame (facility 0) after '#', instead of one burst per key. PINs
	// with a leading zero cannot be told apart in that mode. Zero: false.
	KeypadBuffered bool `toml:"keypad_buffered"`
	// D0 and D1 are the Wiegand data lines, by kernel line name
	// ("GPIO17") or chip and offset ("gpiochip0:17"), as [pins.CheckName]
	// accepts them; so are the other pins.
	D0 string `toml:"d0"`
	D1 string `toml:"d1"`
	// GreenLED, RedLED and Beeper drive the reader's control lines; empty
	// when not wired.
	GreenLED string `toml:"green_led"`
	RedLED   string `toml:"red_led"`
	Beeper   string `toml:"beeper"`
	// PINWindow, KeyTimeout and the lockout settings of the keypad. Zero:
	// 15s, 5s, 5 attempts in 60s lock for 60s.
	PINWindow       time.Duration `toml:"pin_window"`
	KeyTimeout      time.Duration `toml:"key_timeout"`
	LockoutAttempts int           `toml:"lockout_attempts"`
	LockoutWindow   time.Duration `toml:"lockout_window"`
	LockoutDuration time.Duration `toml:"lockout_duration"`
	// GapMin and GapMax bound the adaptive end-of-frame gap. Zero:
	// wiegand.DefaultMinGap and DefaultMaxGap (3ms and 25ms).
	GapMin time.Duration `toml:"gap_min"`
	GapMax time.Duration `toml:"gap_max"`
}

// DoorConfig is one [doors.NAME] table.
type DoorConfig struct {
	// Strike is the relay output. StrikeActive is the level that
	// energises the relay. Zero: high.
	Strike       string `toml:"strike"`
	StrikeActive Level  `toml:"strike_active"`
	// Fail is secure (locked when unpowered; energise to unlock) or safe
	// (unlocked when unpowered; energise to lock). Zero: secure.
	Fail FailMode `toml:"fail"`
	// Unlock is how long a grant releases the strike, at most
	// door.MaxUnlock (5m). Zero: door.DefaultUnlockTime (5s).
	Unlock time.Duration `toml:"unlock"`
	// Contact and REX are inputs; ContactOpen is the level that means
	// open (zero: high). Empty when not wired.
	Contact     string `toml:"contact"`
	ContactOpen Level  `toml:"contact_open"`
	REX         string `toml:"rex"`
	// HeldOpen raises an alarm when the door stays open this long, with a
	// pre-alarm PreAlarm before. Zero: door.DefaultHeldOpen (30s) and 10s.
	HeldOpen time.Duration `toml:"held_open"`
	PreAlarm time.Duration `toml:"pre_alarm"`
}

// SimConfig is the [sim] table: the simulated hardware of `lintel run --sim`.
type SimConfig struct {
	// PulseWidth and Interval of the simulated Wiegand pulses. Zero:
	// sim.DefaultPulseWidth and DefaultInterval (50us and 2ms).
	PulseWidth time.Duration `toml:"pulse_width"`
	Interval   time.Duration `toml:"interval"`
}

// Level is a line level in lintel.toml: "high" or "low". The zero value is
// high.
type Level uint8

// The levels.
const (
	High Level = iota
	Low
)

var levelNames = []string{High: "high", Low: "low"}

func (l Level) String() string                { return enumString(levelNames, l) }
func (l Level) MarshalText() ([]byte, error)  { return []byte(l.String()), nil }
func (l *Level) UnmarshalText(b []byte) error { return parseEnum(levelNames, b, l) }

// FailMode is what a door's lock does without power: "secure" (stays
// locked; an electric strike) or "safe" (opens; a maglock). The zero value
// is secure.
type FailMode uint8

// The fail modes.
const (
	FailSecure FailMode = iota
	FailSafe
)

var failModeNames = []string{FailSecure: "secure", FailSafe: "safe"}

func (f FailMode) String() string                { return enumString(failModeNames, f) }
func (f FailMode) MarshalText() ([]byte, error)  { return []byte(f.String()), nil }
func (f *FailMode) UnmarshalText(b []byte) error { return parseEnum(failModeNames, b, f) }

func enumString[E ~uint8](names []string, e E) string {
	if int(e) < len(names) {
		return names[e]
	}
	return fmt.Sprintf("%T(%d)", e, uint8(e))
}

// parseEnum sets *dst to the value named b; its error lists the allowed
// names, and the decoder puts the key in front.
func parseEnum[E ~uint8](names []string, b []byte, dst *E) error {
	for i, n := range names {
		if string(b) == n {
			*dst = E(i)
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", b, strings.Join(names, ", "))
}

// Defaults applied by [Config.withDefaults] that no other package owns; the
// rest are the using package's (api.DefaultAddr, broker.DefaultListen,
// door.DefaultUnlockTime, ...).
const (
	DefaultDataDir   = "/var/lib/lintel"
	DefaultKeyFile   = "/etc/lintel/device.key"
	DefaultAPIListen = api.DefaultAddr
	DefaultMQTT      = broker.DefaultListen
	DefaultMemoryMiB = 48
	// DefaultPreAlarm is how long before the held-open alarm its
	// pre-alarm sounds.
	DefaultPreAlarm = 10 * time.Second
)

//go:embed lintel.example.toml
var exampleConfig []byte

// ExampleConfig returns the complete, commented example configuration.
func ExampleConfig() []byte { return bytes.Clone(exampleConfig) }

// LoadConfig reads, strictly decodes and validates a TOML file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(filepath.Base(path), b)
}

// ParseConfig decodes and validates a config; name is used in errors. The
// error reports every problem in the file at once, in file order, each with
// its key and, where the TOML decoder knows it, its line:
// "lintel.toml:12: readers.front.mode: ...". A TOML syntax error is reported
// alone, since nothing after it can be read.
func ParseConfig(name string, b []byte) (*Config, error) {
	var c Config
	var p problems
	keys, err := decodeConfig(b, &c, &p)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", name, pe.Position.Line, oneLine(pe.Message))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.file, c.keys = name, keys
	c.withDefaults()
	var vp problems
	c.validate(&vp)
	p.addUnlessDecoded(vp.errs)
	if err := p.err(c.file, c.keys); err != nil {
		return nil, err
	}
	return &c, nil
}

// SimDefaults returns the built-in configuration of `lintel run --sim`: three
// simulated readers and doors as DESIGN.md lists them, data under
// ./lintel-data, the broker open to anonymous clients on loopback, the time
// zone UTC and the machine's clock believed (access.untrusted_clock =
// "trust").
func SimDefaults() *Config {
	c := &Config{
		Gateway: GatewayConfig{ID: "lintel-sim", DataDir: "lintel-data"},
		Broker:  BrokerConfig{Config: broker.SimConfig("lintel-sim")},
		Readers: map[string]ReaderConfig{
			"front":  {Model: access.ModelRPK40, Mode: access.ModeCardAndPIN, Door: "front", D0: "SIM0", D1: "SIM1", GreenLED: "SIM2", RedLED: "SIM3", Beeper: "SIM4"},
			"side":   {Model: access.ModelRPK40, Mode: access.ModeCardOrPIN, Door: "side", D0: "SIM10", D1: "SIM11", GreenLED: "SIM12", RedLED: "SIM13", Beeper: "SIM14"},
			"garage": {Model: access.ModelRP40, Mode: access.ModeCardOnly, Door: "garage", D0: "SIM20", D1: "SIM21", GreenLED: "SIM22", RedLED: "SIM23", Beeper: "SIM24"},
		},
		Doors: map[string]DoorConfig{
			"front":  {Strike: "SIM5", Contact: "SIM6", REX: "SIM7"},
			"side":   {Strike: "SIM15", Contact: "SIM16", REX: "SIM17"},
			"garage": {Strike: "SIM25", Contact: "SIM26", REX: "SIM27"},
		},
		// A simulator runs on a workstation whose clock its OS keeps,
		// synchronised or not as far as the kernel can tell (a container
		// never is): schedules run by it.
		Access: AccessConfig{UntrustedClock: access.ClockTrust},
		file:   "--sim",
		sim:    true,
	}
	c.withDefaults()
	return c
}

// DeviceKeyFile is where the device key is kept when systemd passes no
// credential: gateway.key_file; when that is empty, /etc/lintel/device.key,
// or for `lintel run --sim` a file beside the data directory, named after
// it (lintel-data.key): never inside it, so that copying lintel-data
// copies no key.
func (c *Config) DeviceKeyFile() string {
	switch {
	case c.Gateway.KeyFile != "":
		return c.Gateway.KeyFile
	case c.sim:
		return filepath.Clean(c.Gateway.DataDir) + ".key"
	}
	return DefaultKeyFile
}

// MinFree is gateway.min_free_mib in bytes, as the store takes it.
func (c *Config) MinFree() int64 { return int64(c.Gateway.MinFreeMiB) << 20 }

// withDefaults fills the zero values at load. It is the only place a
// loaded config changes; Validate only reads.
func (c *Config) withDefaults() {
	c.Gateway.DataDir = cmp.Or(c.Gateway.DataDir, DefaultDataDir)
	c.Gateway.LogLevel = cmp.Or(c.Gateway.LogLevel, "info")
	c.Gateway.LogFormat = cmp.Or(c.Gateway.LogFormat, "text")
	c.Gateway.MemoryLimit = cmp.Or(c.Gateway.MemoryLimit, DefaultMemoryMiB)
	c.API.Listen = cmp.Or(c.API.Listen, DefaultAPIListen)
	c.Broker.Listen = cmp.Or(c.Broker.Listen, DefaultMQTT)
	c.Access.Duress = cmp.Or(c.Access.Duress, access.DuressOff)
	c.Access.UntrustedClock = cmp.Or(c.Access.UntrustedClock, access.ClockRestrict)
	for name, r := range c.Readers {
		r.Format37 = cmp.Or(r.Format37, "H10304")
		r.GapMin = cmp.Or(r.GapMin, wiegand.DefaultMinGap)
		r.GapMax = cmp.Or(r.GapMax, wiegand.DefaultMaxGap)
		c.Readers[name] = r
	}
	for name, d := range c.Doors {
		d.Unlock = cmp.Or(d.Unlock, door.DefaultUnlockTime)
		d.HeldOpen = cmp.Or(d.HeldOpen, door.DefaultHeldOpen)
		d.PreAlarm = cmp.Or(d.PreAlarm, DefaultPreAlarm)
		c.Doors[name] = d
	}
	c.Sim.PulseWidth = cmp.Or(c.Sim.PulseWidth, sim.DefaultPulseWidth)
	c.Sim.Interval = cmp.Or(c.Sim.Interval, sim.DefaultInterval)
}

// ReaderNames returns the reader names in a stable order.
func (c *Config) ReaderNames() []string { return sortedKeys(c.Readers) }

// DoorNames returns the door names in a stable order.
func (c *Config) DoorNames() []string { return sortedKeys(c.Doors) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// AccessReader returns a reader's settings as the access engine takes them.
func (c *Config) AccessReader(name string) access.ReaderConfig {
	r := c.Readers[name]
	return access.ReaderConfig{
		Name: name, Door: r.Door, Model: r.Model, Mode: r.Mode,
		PINWindow: r.PINWindow, KeyTimeout: r.KeyTimeout,
		Lockout: access.Lockout{Attempts: r.LockoutAttempts, Window: r.LockoutWindow, Duration: r.LockoutDuration},
	}
}

// apiConfig is the part of the API server's configuration that comes from
// the file, the tokens without the admin token file's; the gateway adds
// the rest at start.
func apiConfig(c *Config) api.Config {
	return api.Config{
		Addr:        c.API.Listen,
		TLSCertFile: c.API.TLSCert,
		TLSKeyFile:  c.API.TLSKey,
		Tokens:      apiTokens(c, ""),

		Hosts:              c.API.Hosts,
		MaxConns:           c.API.MaxConnections,
		MaxStreamsPerToken: c.API.MaxStreamsPerToken,
	}
}

// Warnings returns what the config allows that is safe to run but unsafe
// to leave, in file order, each naming the file, the line where it is
// known and the key: "lintel.toml:132: warning: broker.clients[0].password_hash:
// ...". Each table's owner says what is unsafe about its settings (the
// API server, the broker, the uplink): a password printed in the example,
// anonymous clients from the network, an API or an uplink in plain text
// off this machine. `lintel config check` prints them (and fails on them
// with --strict); `lintel run` logs them at start. Warnings assumes c is
// valid.
func (c *Config) Warnings() []error {
	var p problems
	var api []error
	for _, w := range apiConfig(c).Warnings() {
		api = append(api, fmt.Errorf("api.%w", w))
	}
	p.section("api", errors.Join(api...))
	if !c.Broker.Disabled {
		p.section("broker", errors.Join(brokerConfig(c).Warnings()...))
	}
	if c.Uplink.URL != "" {
		p.section("uplink", errors.Join(c.Uplink.Warnings()...))
	}
	if ha := c.HomeAssistant; ha.Enabled && ha.AllowUnlock && !c.Broker.Disabled && !slices.ContainsFunc(c.Broker.Clients,
		func(cl broker.Client) bool { return cl.Role == broker.RoleHomeAssistant }) {
		p.add("homeassistant.allow_unlock", "true, but no [[broker.clients]] account has role = %q, the only role that may send door commands: Home Assistant's locks cannot unlock", broker.RoleHomeAssistant)
	}
	ws := p.placed(c.file, c.keys)
	for _, w := range ws {
		w.(*keyError).warning = true
	}
	return ws
}

// Validate checks the whole config, one table at a time, and returns every
// problem it finds (joined with errors.Join, in file order), each naming the
// file, the key and, for a loaded file, the line. It does not change c.
func (c *Config) Validate() error {
	var p problems
	c.validate(&p)
	return p.err(c.file, c.keys)
}

func (c *Config) validate(p *problems) {
	c.Gateway.validate(p)
	c.validateKeyFile(p)
	c.Access.validate(p)
	c.API.validate(p, c)
	c.validateBroker(p)
	c.validateHomeAssistant(p)
	c.validateUplink(p)
	c.Sync.validate(p)
	c.Journal.validate(p)
	var used pinClaims
	c.validateReaders(p, &used)
	c.validateDoors(p, &used)
	used.check(p, c.keys)
	c.Sim.validate(p)
}

func (g GatewayConfig) validate(p *problems) {
	p.check("gateway.id", topic.CheckID(g.ID))
	switch g.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p.add("gateway.log_level", "%q is not one of debug, info, warn, error", g.LogLevel)
	}
	switch g.LogFormat {
	case "text", "json":
	default:
		p.add("gateway.log_format", "%q is not one of text, json", g.LogFormat)
	}
	if _, err := g.location(); err != nil {
		p.check("gateway.timezone", err)
	}
}

// validateKeyFile checks where the device key goes (the store's rule: never
// inside the data directory) and the free-space reserve.
func (c *Config) validateKeyFile(p *problems) {
	if err := store.CheckKeyFile(c.DeviceKeyFile(), c.Gateway.DataDir); err != nil {
		p.add("gateway.key_file", "%v (gateway.data_dir is %s)", err, c.Gateway.DataDir)
	}
	if c.Gateway.MinFreeMiB < -1 {
		p.add("gateway.min_free_mib", "%d: give a number of MiB, 0 for the default (64) or -1 for no check", c.Gateway.MinFreeMiB)
	} else {
		p.check("gateway.min_free_mib", store.CheckMinFree(c.MinFree()))
	}
}

// validate checks the address the gateway listens on, and hands TLS and
// tokens to the API server's own check.
func (a APIConfig) validate(p *problems, c *Config) {
	p.check("api.listen", checkAddr(a.Listen, listenAddr))
	p.check("api", apiConfig(c).Validate())
}

func (c *Config) validateBroker(p *problems) {
	if c.Broker.Disabled {
		return
	}
	bc := brokerConfig(c)
	if topic.CheckID(bc.GatewayID) != nil {
		// gateway.id has its error already; the broker's own keys are
		// checked with a stand-in id so that both are reported at once.
		bc.GatewayID = "gateway"
	}
	p.section("broker", bc.Validate())
}

func (c *Config) validateHomeAssistant(p *problems) {
	if !c.HomeAssistant.Enabled {
		return
	}
	if c.Broker.Disabled {
		p.add("homeassistant.enabled", "Home Assistant discovery is published on the embedded broker, and broker.disabled is true")
	}
	p.section("homeassistant", c.HomeAssistant.Validate())
}

func (c *Config) validateUplink(p *problems) {
	if c.Uplink.URL == "" {
		return
	}
	p.section("uplink", c.Uplink.Validate())
}

func (j JournalConfig) validate(p *problems) {
	if j.MaxEvents < 0 {
		p.add("journal.max_events", "%d must not be negative", j.MaxEvents)
	}
	if j.MaxAge < 0 {
		p.add("journal.max_age", "%s must not be negative", j.MaxAge)
	}
	if j.CommitInterval < 0 || j.CommitInterval > time.Second {
		p.add("journal.commit_interval", "%s is out of range: events would wait that long to be durable (0 to 1s)", j.CommitInterval)
	}
}

// pinClaims are the pins the readers and doors name, each with its key.
type pinClaims []pinClaim

type pinClaim struct{ key, pin string }

// use checks the pin named at key with the pins package's rule and claims
// it.
func (u *pinClaims) use(p *problems, key, pin string, required bool) {
	if pin == "" && !required {
		return
	}
	if err := pins.CheckName(pin); err != nil {
		p.check(key, err)
		return
	}
	*u = append(*u, pinClaim{key, pin})
}

// check reports every pin claimed twice, at the later of its keys in the
// file, comparing pins by pins.NameKey.
func (u pinClaims) check(p *problems, keys keyIndex) {
	claims := slices.Clone(u)
	slices.SortStableFunc(claims, func(a, b pinClaim) int {
		_, oa := keys.where(a.key)
		_, ob := keys.where(b.key)
		return cmp.Compare(oa, ob)
	})
	first := map[string]string{}
	for _, c := range claims {
		k := pins.NameKey(c.pin)
		if other, ok := first[k]; ok {
			p.add(c.key, "%s is already used by %s", c.pin, other)
			continue
		}
		first[k] = c.key
	}
}

func (c *Config) validateReaders(p *problems, used *pinClaims) {
	if len(c.Readers) == 0 {
		p.add("readers", "no reader is configured")
	}
	doorsUsed := map[string]string{}
	for _, name := range c.ReaderNames() {
		r := c.Readers[name]
		key := toml.Key{"readers", name}.String()
		nameErr := checkName(name)
		if nameErr != nil {
			p.add(key, "bad reader name: %v", nameErr)
		}
		knownModel, knownMode := r.Model.Known(), r.Mode.Known()
		if !knownModel {
			p.add(key+".model", "%q is not a known reader model (want one of %s)", r.Model, joinNames(access.Models))
		}
		if !knownMode {
			p.add(key+".mode", "%q is not a known mode (want one of %s)", r.Mode, joinNames(access.Modes))
		}
		fits := knownModel && knownMode && !(r.Mode.NeedsKeypad() && !r.Model.HasKeypad())
		if knownModel && knownMode && !fits {
			p.add(key+".mode", "%q needs a keypad reader (RPK40), got %s", r.Mode, r.Model)
		}
		switch _, configured := c.Doors[r.Door]; {
		case r.Door == "":
			p.add(key+".door", "must name a door")
		case !configured:
			p.add(key+".door", "%q is not a configured door (add a [%s] table)", r.Door, toml.Key{"doors", r.Door})
		case doorsUsed[r.Door] != "":
			p.add(key+".door", "door %q is already read by reader %q", r.Door, doorsUsed[r.Door])
		default:
			doorsUsed[r.Door] = name
		}
		if f, err := wiegand.Lookup(r.Format37); err != nil || f.Length != 37 || f.Kind != wiegand.KindCard {
			p.add(key+".format_37", "%q is not a 37-bit card format (want one of %s)", r.Format37, strings.Join(cardFormats(37), ", "))
		}
		if nameErr == nil && doorsUsed[r.Door] == name && fits {
			// The rest of access's rules about the reader as a whole
			// (durations, lockout); the ones above have their own keys.
			p.check(key, c.AccessReader(name).Validate())
		}
		if r.GapMin <= 0 || r.GapMax < r.GapMin || r.GapMax > time.Second {
			p.add(key+".gap_min", "the end-of-frame gap must satisfy 0 < gap_min <= gap_max <= 1s (got %s, %s)", r.GapMin, r.GapMax)
		}
		used.use(p, key+".d0", r.D0, true)
		used.use(p, key+".d1", r.D1, true)
		used.use(p, key+".green_led", r.GreenLED, false)
		used.use(p, key+".red_led", r.RedLED, false)
		used.use(p, key+".beeper", r.Beeper, false)
	}
}

func (c *Config) validateDoors(p *problems, used *pinClaims) {
	for _, name := range c.DoorNames() {
		d := c.Doors[name]
		key := toml.Key{"doors", name}.String()
		if err := checkName(name); err != nil {
			p.add(key, "bad door name: %v", err)
		}
		used.use(p, key+".strike", d.Strike, true)
		used.use(p, key+".contact", d.Contact, false)
		used.use(p, key+".rex", d.REX, false)
		if d.Unlock <= 0 || d.Unlock > door.MaxUnlock {
			p.add(key+".unlock", "%s must be between 0 and %s: a grant is always timed", d.Unlock, door.MaxUnlock)
		}
		if d.HeldOpen <= 0 {
			p.add(key+".held_open", "%s must be positive", d.HeldOpen)
		}
		if d.PreAlarm < 0 || d.PreAlarm >= d.HeldOpen {
			p.add(key+".pre_alarm", "%s must be shorter than held_open (%s)", d.PreAlarm, d.HeldOpen)
		}
	}
}

func (s SimConfig) validate(p *problems) {
	if s.PulseWidth <= 0 {
		p.add("sim.pulse_width", "%s must be positive", s.PulseWidth)
	}
	if s.Interval <= s.PulseWidth {
		p.add("sim.interval", "%s must be longer than sim.pulse_width (%s)", s.Interval, s.PulseWidth)
	}
}

// checkName checks a reader or door name with the rules of every place it
// goes: events and the user table (access) and MQTT topics (topic), whose
// builders would refuse it and so drop that reader's events.
func checkName(name string) error {
	if err := topic.CheckID(name); err != nil {
		return err
	}
	return access.CheckID(name)
}

// addrUse says what an address is for, which decides whether port 0 is
// allowed.
type addrUse bool

const (
	// listenAddr is an address the gateway listens on: port 0 asks the
	// kernel for a free port (tests do; the broker's own check allows it
	// too).
	listenAddr addrUse = true
	// dialAddr is an address the gateway connects to: it needs a port.
	dialAddr addrUse = false
)

// checkAddr is the one check of a host:port address for every address key
// the gateway config checks itself (the broker and the uplink check their
// own): the port is a decimal number from 1 to 65535, or 0 for a listener.
func checkAddr(addr string, use addrUse) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. \"127.0.0.1:8080\"): %v", addr, err)
	}
	if port == "" {
		return fmt.Errorf("%q has no port", addr)
	}
	n, err := strconv.ParseUint(port, 10, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange), err == nil && n > 65535:
		return fmt.Errorf("%q: port %s is out of range (1 to 65535)", addr, port)
	case err != nil:
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535", addr, port)
	case n == 0 && use == dialAddr:
		return fmt.Errorf("%q: port 0 is no port to connect to (want 1 to 65535)", addr)
	}
	return nil
}

func joinNames[S ~string](names []S) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

// cardFormats names package wiegand's card formats of n bits.
func cardFormats(n int) []string {
	var out []string
	for _, f := range wiegand.Formats() {
		if f.Length == n && f.Kind == wiegand.KindCard {
			out = append(out, f.Name)
		}
	}
	return out
}

// problems collects what is wrong with a config, in the order found.
type problems struct{ errs []error }

// add records a problem with key.
func (p *problems) add(key, format string, args ...any) {
	p.errs = append(p.errs, &keyError{Key: key, Err: fmt.Errorf(format, args...)})
}

// check records err, when not nil, as a problem with key.
func (p *problems) check(key string, err error) {
	if err != nil {
		p.errs = append(p.errs, &keyError{Key: key, Err: err})
	}
}

// section records the errors of a table whose own check names its keys
// in full (the broker's and the uplink's), one problem each. A message
// that starts with its key ("broker.clients[1].password_hash: ...") is
// filed under that key, so that it gets the key's line.
func (p *problems) section(table string, err error) {
	if err == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		key, rest, ok := strings.Cut(e.Error(), ": ")
		if ok && !strings.ContainsAny(key, " \t") && (strings.HasPrefix(key, table+".") || strings.HasPrefix(key, table+"[")) {
			p.errs = append(p.errs, &keyError{Key: key, Err: errors.New(rest)})
			continue
		}
		p.errs = append(p.errs, &keyError{Table: table, Err: e})
	}
}

// addUnlessDecoded adds the problems of validation, but not those about a
// key whose value could not be decoded, or a key inside it: its decode
// error says what is wrong, and its zero value would only add noise.
func (p *problems) addUnlessDecoded(errs []error) {
	var bad []string
	for _, e := range p.errs {
		if ke := e.(*keyError); ke.decode {
			bad = append(bad, ke.Key)
		}
	}
	for _, e := range errs {
		key := e.(*keyError).Key
		if slices.ContainsFunc(bad, func(b string) bool { return key == b || slices.Contains(keyPrefixes(key), b) }) {
			continue
		}
		p.errs = append(p.errs, e)
	}
}

// err returns every problem in file order, each naming file and, where
// keys knows it, the line; or nil.
func (p *problems) err(file string, keys keyIndex) error {
	return errors.Join(p.placed(file, keys)...)
}

// placed returns every problem in file order, each with file and, where
// keys knows it, the line.
func (p *problems) placed(file string, keys keyIndex) []error {
	type placed struct {
		err   *keyError
		order int
	}
	all := make([]placed, len(p.errs))
	for i, e := range p.errs {
		ke := *e.(*keyError)
		ke.File = file
		key := cmp.Or(ke.Key, ke.Table)
		line, order := keys.where(key)
		if ke.Key != "" && ke.Line == 0 {
			ke.Line = line
		}
		all[i] = placed{&ke, order}
	}
	slices.SortStableFunc(all, func(a, b placed) int { return cmp.Compare(a.order, b.order) })
	errs := make([]error, len(all))
	for i, pl := range all {
		errs[i] = pl.err
	}
	return errs
}

// keyError is one problem with one key of the file:
// "lintel.toml:12: readers.front.mode: ...".
type keyError struct {
	File string
	// Line is the key's line in the file, 0 when unknown.
	Line int
	// Key is the key the problem is about, as TOML writes it
	// (readers."door@1".mode, api.tokens[0].name).
	Key string
	// Table is set instead of Key when Err names its key itself (the
	// broker's and the uplink's checks do): "broker", "uplink".
	Table string
	Err   error
	// decode marks a value that could not be decoded.
	decode bool
	// warning marks what is allowed but unsafe (see Config.Warnings).
	warning bool
}

func (e *keyError) Error() string {
	where := e.File
	if e.Line > 0 {
		where += ":" + strconv.Itoa(e.Line)
	}
	if e.warning {
		where += ": warning"
	}
	if e.Key == "" {
		return where + ": " + oneLine(e.Err.Error())
	}
	return where + ": " + e.Key + ": " + oneLine(e.Err.Error())
}

// oneLine keeps a problem on one line, so that each line of an error says
// which file it is about, whatever bytes a message quotes.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

func (e *keyError) Unwrap() error { return e.Err }
