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
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/sync/uplink"
)

// Config is the whole of lintel.toml. Every field has a documented zero
// value; [Config.Validate] checks the file once, at load, and its errors name
// the file and the key.
type Config struct {
	Gateway GatewayConfig `toml:"gateway"`
	API     APIConfig     `toml:"api"`
	Broker  BrokerConfig  `toml:"broker"`
	// Uplink is the connection to the cloud broker; see [uplink.Config].
	// An empty URL means no uplink: the gateway runs on its own.
	Uplink  uplink.Config `toml:"uplink"`
	Journal JournalConfig `toml:"journal"`
	// Readers and Doors are keyed by name; the name appears in events,
	// topics and the status page.
	Readers map[string]ReaderConfig `toml:"readers"`
	Doors   map[string]DoorConfig   `toml:"doors"`
	Sim     SimConfig               `toml:"sim"`

	// file is where the config came from, for error messages.
	file string
	// sim marks the built-in config of `lintel run --sim`.
	sim bool
}

// GatewayConfig is the [gateway] table.
type GatewayConfig struct {
	// ID names the gateway in event ids and MQTT topics. Required: 1-64 of
	// letters, digits, '-', '_', '.'.
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
	// MemoryLimit is the Go runtime's soft memory limit (GOMEMLIMIT) in
	// MiB. Zero: 48. Negative: no limit.
	MemoryLimit int `toml:"memory_limit_mib"`
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
}

// TokenConfig is one API bearer token, stored as the hex SHA-256 of the
// token (make one with `lintel token new`).
type TokenConfig struct {
	Name   string `toml:"name"`
	Role   string `toml:"role"` // admin, technician or portal
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
	Model string `toml:"model"` // RPK40, RP10, RP15 or RP40
	Mode  string `toml:"mode"`  // card_only, pin_only, card_or_pin or card_and_pin
	Door  string `toml:"door"`  // name of a [doors.NAME] table
	// Format37 says how 37-bit cards decode: H10302 (no facility) or
	// H10304. Zero: H10304.
	Format37 string `toml:"format_37"`
	// KeypadBuffered says the keypad sends a whole PIN as one 26-bit
	// frame (facility 0) after '#', instead of one burst per key. PINs
	// with a leading zero cannot be told apart in that mode. Zero: false.
	KeypadBuffered bool `toml:"keypad_buffered"`
	// D0 and D1 are the Wiegand data lines, by GPIO name (GPIO17).
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
	// GapMin and GapMax bound the adaptive end-of-frame gap. Zero: 4ms
	// and 25ms.
	GapMin time.Duration `toml:"gap_min"`
	GapMax time.Duration `toml:"gap_max"`
}

// DoorConfig is one [doors.NAME] table.
type DoorConfig struct {
	// Strike is the relay output. StrikeActive is "high" or "low": the
	// level that energises the relay. Zero: high.
	Strike       string `toml:"strike"`
	StrikeActive string `toml:"strike_active"`
	// Fail is "secure" (locked when unpowered; energise to unlock) or
	// "safe" (unlocked when unpowered; energise to lock). Zero: secure.
	Fail string `toml:"fail"`
	// Unlock is how long a grant releases the strike. Zero: 5s.
	Unlock time.Duration `toml:"unlock"`
	// Contact and REX are inputs; ContactOpen is the level that means
	// open ("high" or "low", zero: high). Empty when not wired.
	Contact     string `toml:"contact"`
	ContactOpen string `toml:"contact_open"`
	REX         string `toml:"rex"`
	// HeldOpen raises an alarm when the door stays open this long, with a
	// pre-alarm PreAlarm before. Zero: 30s and 10s.
	HeldOpen time.Duration `toml:"held_open"`
	PreAlarm time.Duration `toml:"pre_alarm"`
}

// SimConfig is the [sim] table: the simulated hardware of `lintel run --sim`.
type SimConfig struct {
	// PulseWidth and Interval of the simulated Wiegand pulses. Zero: 50us
	// and 2ms.
	PulseWidth time.Duration `toml:"pulse_width"`
	Interval   time.Duration `toml:"interval"`
}

// Defaults applied by [Config.withDefaults].
const (
	DefaultDataDir   = "/var/lib/lintel"
	DefaultKeyFile   = "/etc/lintel/device.key"
	DefaultAPIListen = "127.0.0.1:8080"
	DefaultMQTT      = "127.0.0.1:1883"
	DefaultMemoryMiB = 48
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

// ParseConfig decodes and validates a config; name is used in errors.
func ParseConfig(name string, b []byte) (*Config, error) {
	var c Config
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", name, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("%s: %s: unknown key", name, strings.Join(keys, ", "))
	}
	c.file = name
	c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// SimDefaults returns the built-in configuration of `lintel run --sim`: three
// simulated readers and doors as DESIGN.md lists them, data under
// ./lintel-data, the broker open to anonymous clients on loopback.
func SimDefaults() *Config {
	c := &Config{
		Gateway: GatewayConfig{ID: "lintel-sim", DataDir: "lintel-data"},
		Broker:  BrokerConfig{Config: broker.SimConfig("lintel-sim")},
		Readers: map[string]ReaderConfig{
			"front":  {Model: "RPK40", Mode: "card_and_pin", Door: "front", D0: "SIM0", D1: "SIM1", GreenLED: "SIM2", RedLED: "SIM3", Beeper: "SIM4"},
			"side":   {Model: "RPK40", Mode: "card_or_pin", Door: "side", D0: "SIM10", D1: "SIM11", GreenLED: "SIM12", RedLED: "SIM13", Beeper: "SIM14"},
			"garage": {Model: "RP40", Mode: "card_only", Door: "garage", D0: "SIM20", D1: "SIM21", GreenLED: "SIM22", RedLED: "SIM23", Beeper: "SIM24"},
		},
		Doors: map[string]DoorConfig{
			"front":  {Strike: "SIM5", Contact: "SIM6", REX: "SIM7"},
			"side":   {Strike: "SIM15", Contact: "SIM16", REX: "SIM17"},
			"garage": {Strike: "SIM25", Contact: "SIM26", REX: "SIM27"},
		},
		file: "--sim",
		sim:  true,
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

func (c *Config) withDefaults() {
	c.Gateway.DataDir = cmp.Or(c.Gateway.DataDir, DefaultDataDir)
	c.Gateway.LogLevel = cmp.Or(c.Gateway.LogLevel, "info")
	c.Gateway.MemoryLimit = cmp.Or(c.Gateway.MemoryLimit, DefaultMemoryMiB)
	c.API.Listen = cmp.Or(c.API.Listen, DefaultAPIListen)
	c.Broker.Listen = cmp.Or(c.Broker.Listen, DefaultMQTT)
	c.Broker.GatewayID = c.Gateway.ID
	for name, r := range c.Readers {
		r.Format37 = cmp.Or(r.Format37, "H10304")
		r.GapMin = cmp.Or(r.GapMin, 4*time.Millisecond)
		r.GapMax = cmp.Or(r.GapMax, 25*time.Millisecond)
		c.Readers[name] = r
	}
	for name, d := range c.Doors {
		d.StrikeActive = cmp.Or(d.StrikeActive, "high")
		d.Fail = cmp.Or(d.Fail, "secure")
		d.Unlock = cmp.Or(d.Unlock, 5*time.Second)
		d.ContactOpen = cmp.Or(d.ContactOpen, "high")
		d.HeldOpen = cmp.Or(d.HeldOpen, 30*time.Second)
		d.PreAlarm = cmp.Or(d.PreAlarm, 10*time.Second)
		c.Doors[name] = d
	}
	c.Sim.PulseWidth = cmp.Or(c.Sim.PulseWidth, 50*time.Microsecond)
	c.Sim.Interval = cmp.Or(c.Sim.Interval, 2*time.Millisecond)
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

var (
	gatewayIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	pinNameRe   = regexp.MustCompile(`^(GPIO[0-9]{1,3}|SIM[0-9]{1,3}|[A-Za-z][A-Za-z0-9_]{0,31})$`)
	hexSHA256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// AccessReader returns a reader's settings as the access engine takes them.
func (c *Config) AccessReader(name string) access.ReaderConfig {
	r := c.Readers[name]
	return access.ReaderConfig{
		Name: name, Door: r.Door, Model: access.Model(r.Model), Mode: access.Mode(r.Mode),
		PINWindow: r.PINWindow, KeyTimeout: r.KeyTimeout,
		Lockout: access.Lockout{Attempts: r.LockoutAttempts, Window: r.LockoutWindow, Duration: r.LockoutDuration},
	}
}

// Validate checks the whole config and returns the first problem, naming the
// file and the key.
func (c *Config) Validate() error {
	errf := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: %s: %s", c.file, key, fmt.Sprintf(format, args...))
	}
	if !gatewayIDRe.MatchString(c.Gateway.ID) {
		return errf("gateway.id", "%q must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Gateway.ID)
	}
	switch c.Gateway.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return errf("gateway.log_level", "%q is not one of debug, info, warn, error", c.Gateway.LogLevel)
	}
	if err := store.CheckKeyFile(c.DeviceKeyFile(), c.Gateway.DataDir); err != nil {
		return errf("gateway.key_file", "%v (gateway.data_dir is %s)", err, c.Gateway.DataDir)
	}
	if c.Gateway.MinFreeMiB < -1 {
		return errf("gateway.min_free_mib", "%d: give a number of MiB, 0 for the default (64) or -1 for no check", c.Gateway.MinFreeMiB)
	}
	if err := store.CheckMinFree(c.MinFree()); err != nil {
		return errf("gateway.min_free_mib", "%v", err)
	}
	if err := checkAddr(c.API.Listen); err != nil {
		return errf("api.listen", "%v", err)
	}
	if (c.API.TLSCert == "") != (c.API.TLSKey == "") {
		return errf("api.tls_cert", "tls_cert and tls_key must be set together")
	}
	seenTok := map[string]bool{}
	for i, t := range c.API.Tokens {
		key := fmt.Sprintf("api.tokens[%d]", i)
		switch t.Role {
		case "admin", "technician", "portal":
		default:
			return errf(key+".role", "%q is not one of admin, technician, portal", t.Role)
		}
		if !hexSHA256Re.MatchString(t.SHA256) {
			return errf(key+".sha256", "must be 64 lowercase hex digits (the SHA-256 of the token; see `lintel token new`)")
		}
		if t.Name == "" {
			return errf(key+".name", "must not be empty")
		}
		if seenTok[t.Name] {
			return errf(key+".name", "%q is used twice", t.Name)
		}
		seenTok[t.Name] = true
	}
	if !c.Broker.Disabled {
		c.Broker.GatewayID = c.Gateway.ID
		if err := c.Broker.Validate(); err != nil {
			return fmt.Errorf("%s: %w", c.file, err)
		}
	}
	if c.Uplink.URL != "" {
		if err := c.Uplink.Validate(); err != nil {
			return fmt.Errorf("%s: %w", c.file, err)
		}
	}
	if c.Journal.MaxEvents < 0 || c.Journal.MaxAge < 0 || c.Journal.CommitInterval < 0 {
		return errf("journal", "values must not be negative")
	}
	if c.Journal.CommitInterval > time.Second {
		return errf("journal.commit_interval", "%s is too long: events would wait that long to be durable (at most 1s)", c.Journal.CommitInterval)
	}
	if len(c.Readers) == 0 {
		return errf("readers", "no reader is configured")
	}
	pins := map[string]string{} // pin name → key that uses it
	usePin := func(key, pin string, required bool) error {
		if pin == "" {
			if required {
				return errf(key, "must name a GPIO line, e.g. \"GPIO17\"")
			}
			return nil
		}
		if !pinNameRe.MatchString(pin) {
			return errf(key, "%q is not a GPIO line name (e.g. \"GPIO17\")", pin)
		}
		if other, ok := pins[pin]; ok {
			return errf(key, "%s is already used by %s", pin, other)
		}
		pins[pin] = key
		return nil
	}
	doorsUsed := map[string]string{}
	for _, name := range c.ReaderNames() {
		r := c.Readers[name]
		key := "readers." + name
		ar := c.AccessReader(name)
		if err := access.CheckID(name); err != nil {
			return errf(key, "bad reader name: %v", err)
		}
		if !access.Model(r.Model).Known() {
			return errf(key+".model", "%q is not a known reader model (want RPK40, RP10, RP15 or RP40)", r.Model)
		}
		if !access.Mode(r.Mode).Known() {
			return errf(key+".mode", "%q is not a known mode (want card_only, pin_only, card_or_pin or card_and_pin)", r.Mode)
		}
		if ar.Mode.NeedsKeypad() && !ar.Model.HasKeypad() {
			return errf(key+".mode", "%q needs a keypad reader (RPK40), got %s", r.Mode, r.Model)
		}
		if r.Door == "" {
			return errf(key+".door", "must name a door")
		}
		if _, ok := c.Doors[r.Door]; !ok {
			return errf(key+".door", "%q is not a configured door (add a [doors.%s] table)", r.Door, r.Door)
		}
		if other, ok := doorsUsed[r.Door]; ok {
			return errf(key+".door", "door %q is already read by reader %q", r.Door, other)
		}
		doorsUsed[r.Door] = name
		if r.Format37 != "H10302" && r.Format37 != "H10304" {
			return errf(key+".format_37", "%q is not H10302 or H10304", r.Format37)
		}
		if err := ar.Validate(); err != nil {
			return errf(key, "%v", err)
		}
		if r.GapMin <= 0 || r.GapMax < r.GapMin || r.GapMax > time.Second {
			return errf(key+".gap_min", "the end-of-frame gap must satisfy 0 < gap_min <= gap_max <= 1s (got %s, %s)", r.GapMin, r.GapMax)
		}
		for _, p := range []struct {
			k, v string
			req  bool
		}{{"d0", r.D0, true}, {"d1", r.D1, true}, {"green_led", r.GreenLED, false}, {"red_led", r.RedLED, false}, {"beeper", r.Beeper, false}} {
			if err := usePin(key+"."+p.k, p.v, p.req); err != nil {
				return err
			}
		}
	}
	for _, name := range c.DoorNames() {
		d := c.Doors[name]
		key := "doors." + name
		if err := access.CheckID(name); err != nil {
			return errf(key, "bad door name: %v", err)
		}
		if err := usePin(key+".strike", d.Strike, true); err != nil {
			return err
		}
		if err := usePin(key+".contact", d.Contact, false); err != nil {
			return err
		}
		if err := usePin(key+".rex", d.REX, false); err != nil {
			return err
		}
		if d.StrikeActive != "high" && d.StrikeActive != "low" {
			return errf(key+".strike_active", "%q is not high or low", d.StrikeActive)
		}
		if d.ContactOpen != "high" && d.ContactOpen != "low" {
			return errf(key+".contact_open", "%q is not high or low", d.ContactOpen)
		}
		if d.Fail != "secure" && d.Fail != "safe" {
			return errf(key+".fail", "%q is not secure or safe", d.Fail)
		}
		if d.Unlock <= 0 || d.Unlock > 5*time.Minute {
			return errf(key+".unlock", "%s must be between 0 and 5m: a grant is always timed", d.Unlock)
		}
		if d.PreAlarm >= d.HeldOpen {
			return errf(key+".pre_alarm", "%s must be shorter than held_open (%s)", d.PreAlarm, d.HeldOpen)
		}
	}
	if c.Sim.PulseWidth <= 0 || c.Sim.Interval <= c.Sim.PulseWidth {
		return errf("sim.interval", "must be longer than sim.pulse_width")
	}
	return nil
}

func checkAddr(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %v", a, err)
	}
	if port == "" {
		return fmt.Errorf("%q has no port", a)
	}
	return nil
}
