package gateway

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/topic"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gpio/pins"
)

func TestExampleConfigIsValid(t *testing.T) {
	c, err := ParseConfig("lintel.example.toml", ExampleConfig())
	if err != nil {
		t.Fatalf("the example config does not load: %v", err)
	}
	if got := c.ReaderNames(); len(got) != 1 || got[0] != "front" {
		t.Errorf("readers = %v, want [front]", got)
	}
}

// TestExampleConfigIsComplete checks that every key the decoder knows is
// shown in the example, so operators never meet an undocumented setting.
func TestExampleConfigIsComplete(t *testing.T) {
	var c Config
	md, err := toml.Decode(string(ExampleConfig()), &c)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range md.Keys() {
		// Normalise map keys (readers.front → readers.*) and array tables.
		parts := []string(k)
		if len(parts) > 1 && (parts[0] == "readers" || parts[0] == "doors") {
			parts[1] = "*"
		}
		have[strings.Join(parts, ".")] = true
	}
	var want []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("toml")
			if f.Anonymous && tag == "" {
				walk(prefix, f.Type)
				continue
			}
			if tag == "" || tag == "-" {
				continue
			}
			key := tag
			if prefix != "" {
				key = prefix + "." + tag
			}
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Map:
				walk(key+".*", ft.Elem())
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(key, ft.Elem())
			case ft.Kind() == reflect.Struct && ft.String() != "time.Duration":
				walk(key, ft)
			default:
				want = append(want, key)
			}
		}
	}
	walk("", reflect.TypeOf(Config{}))
	sort.Strings(want)
	for _, k := range want {
		if !have[k] {
			t.Errorf("the example config does not show key %q", k)
		}
	}
}

// withoutLines is err's text with the line numbers taken out
// ("lintel.toml:12: ..." → "lintel.toml: ..."), for tests about the rest.
func withoutLines(err error) string {
	if err == nil {
		return ""
	}
	return lineRe.ReplaceAllString(err.Error(), "$1:")
}

var lineRe = regexp.MustCompile(`(?m)^([^:\n]+\.toml):[0-9]+:`)

func TestSimDefaultsAreValid(t *testing.T) {
	c := SimDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		model access.Model
		mode  access.Mode
	}{"front": {"RPK40", "card_and_pin"}, "side": {"RPK40", "card_or_pin"}, "garage": {"RP40", "card_only"}}
	for name, mm := range want {
		r := c.Readers[name]
		if r.Model != mm.model || r.Mode != mm.mode || r.Door != name {
			t.Errorf("sim reader %s = %+v, want model %s mode %s door %s", name, r, mm.model, mm.mode, name)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	base := string(ExampleConfig())
	tests := []struct {
		name    string
		mutate  func(string) string
		wantErr string
	}{
		{"unknown key", func(s string) string {
			return strings.Replace(s, `mode = "card_and_pin"`, "mode = \"card_and_pin\"\nmodee = \"x\"", 1)
		}, `lintel.toml: readers.front.modee: unknown key`},
		{"PIN mode on a card-only model", func(s string) string {
			return strings.Replace(s, `model = "RPK40"`, `model = "RP40"`, 1)
		}, `lintel.toml: readers.front.mode: "card_and_pin" needs a keypad reader (RPK40), got RP40`},
		{"unknown model", func(s string) string { return strings.Replace(s, `model = "RPK40"`, `model = "RPK41"`, 1) },
			`lintel.toml: readers.front.model: "RPK41" is not a known reader model`},
		{"unknown mode", func(s string) string {
			return strings.Replace(s, `mode = "card_and_pin"`, `mode = "card_and_face"`, 1)
		}, `lintel.toml: readers.front.mode: "card_and_face" is not a known mode`},
		{"syntax error with a line", func(s string) string { return strings.Replace(s, `id = "lintel-01"`, `id = lintel-01"`, 1) },
			fmt.Sprintf("lintel.toml:%d: expected value", exampleLine(`id = "lintel-01"`))},
		{"wrong type", func(s string) string {
			return strings.Replace(s, `lockout_attempts = 5`, `lockout_attempts = "five"`, 1)
		},
			`lintel.toml:`},
		{"missing door", func(s string) string { return strings.Replace(s, `door = "front"`, `door = "back"`, 1) },
			`lintel.toml: readers.front.door: "back" is not a configured door`},
		{"pin used twice", func(s string) string { return strings.Replace(s, `beeper = "GPIO24"`, `beeper = "GPIO17"`, 1) },
			`lintel.toml: readers.front.beeper: GPIO17 is already used by readers.front.d0`},
		{"bad pin name", func(s string) string { return strings.Replace(s, `strike = "GPIO5"`, `strike = "pin 5"`, 1) },
			`lintel.toml: doors.front.strike: pin "pin 5": ' ' is not allowed in a line name`},
		{"pin used twice in another case", func(s string) string { return strings.Replace(s, `beeper = "GPIO24"`, `beeper = "gpio17"`, 1) },
			`lintel.toml: readers.front.beeper: gpio17 is already used by readers.front.d0`},
		{"bad gateway id", func(s string) string { return strings.Replace(s, `id = "lintel-01"`, `id = "a/b"`, 1) },
			`lintel.toml: gateway.id: "a/b": '/' is not allowed`},
		{"bad uplink scheme", func(s string) string { return strings.Replace(s, `url = ""`, `url = "http://cloud:80"`, 1) },
			`lintel.toml: uplink.url: unsupported scheme "http"`},
		{"host with a port", func(s string) string { return strings.Replace(s, `hosts = []`, `hosts = ["gw1.site.example:8080"]`, 1) },
			`lintel.toml: api: hosts[0]: "gw1.site.example:8080" is not a host name`},
		{"connections below streams", func(s string) string { return strings.Replace(s, `max_connections = 64`, `max_connections = 16`, 1) },
			`lintel.toml: api: max streams (32) must be fewer than max connections (16)`},
		{"bad token role", func(s string) string { return strings.Replace(s, `role = "portal"`, `role = "root"`, 1) },
			`lintel.toml: api: tokens[0] ("portal"): role: "root" is not a role (want admin, technician, portal or monitor)`},
		{"bad token hash", func(s string) string {
			return strings.Replace(s, `sha256 = "0d6f`, `sha256 = "xx6f`, 1)
		}, `lintel.toml: api: tokens[0] ("portal"): hash: want the 64 hex digits of the token's SHA-256`},
		{"plain password instead of hash", func(s string) string {
			return strings.Replace(s, `password_hash = "$2a$10$hfs7MwaGf0PBJPbZ3rPTOOcTDE0J1TDWo5YIg67rMYlFQG7KFs3Pm"`, `password_hash = "secret"`, 1)
		}, `lintel.toml: broker.clients[0].password_hash:`},
		{"latched unlock", func(s string) string { return strings.Replace(s, `unlock = "5s"`, `unlock = "10m"`, 1) },
			`lintel.toml: doors.front.unlock: 10m0s must be between 0 and 5m`},
		{"bad fail mode", func(s string) string { return strings.Replace(s, `fail = "secure"`, `fail = "open"`, 1) },
			`doors.front.fail: "open" is not one of secure, safe`},
		{"bad format_37", func(s string) string { return strings.Replace(s, `format_37 = "H10304"`, `format_37 = "H10301"`, 1) },
			`lintel.toml: readers.front.format_37: "H10301" is not a 37-bit card format (want one of H10302, H10304)`},
		{"bad api listen", func(s string) string { return strings.Replace(s, `listen = "127.0.0.1:8080"`, `listen = "8080"`, 1) },
			`lintel.toml: api.listen: "8080" is not host:port`},
		{"negative lockout", func(s string) string { return strings.Replace(s, `lockout_attempts = 5`, `lockout_attempts = -1`, 1) },
			`lintel.toml: readers.front: lockout attempts must not be negative`},
		{"pre-alarm after the alarm", func(s string) string { return strings.Replace(s, `pre_alarm = "10s"`, `pre_alarm = "40s"`, 1) },
			`lintel.toml: doors.front.pre_alarm: 40s must be shorter than held_open`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.mutate(base)
			if in == base {
				t.Fatal("the mutation changed nothing; the test is stale")
			}
			_, err := ParseConfig("lintel.toml", []byte(in))
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) && !strings.Contains(withoutLines(err), tt.wantErr) {
				t.Fatalf("error %q, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(ExampleConfig())
	f.Add([]byte("[gateway]\nid = \"x\"\n[readers.a]\nmodel=\"RP10\"\nmode=\"card_only\"\ndoor=\"a\"\nd0=\"GPIO1\"\nd1=\"GPIO2\"\n[doors.a]\nstrike=\"GPIO3\"\n"))
	f.Add([]byte("[[api.tokens]]\nrole=1"))
	f.Add([]byte("[doors.a]\nunlock = 5\n[readers.\"a.b\"]\nmode = 1\n[[broker.clients]]\nx = 1\n[[broker.clients]]\ny = 2"))
	f.Add([]byte("readers = 1\ndoors = [1]\n[sim]\ninterval = 1.5\npulse_width = \"x\""))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig("fuzz.toml", b)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.toml") {
					t.Fatalf("error line %q of %q does not name the file", line, err)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("a loaded config fails validation: %v", err)
		}
	})
}

// TestConfigPinNamesAreTheResolvers is the finding that the docs recommend
// "gpiochip0:17" and config refused it: config must accept a pin name
// exactly when the pins package, which resolves it, does.
func TestConfigPinNamesAreTheResolvers(t *testing.T) {
	for _, name := range []string{
		"GPIO5", "gpio5", "gpiochip0:17", "gpiochip1:0", "ID_SDA", "SIM5", "PWR_LED.1",
		"", "5", "pin 5", "GPIO 5", "gpiochip0:x", "chip0:5", "GPIO5#", strings.Repeat("G", 40),
	} {
		t.Run(name, func(t *testing.T) {
			in := strings.Replace(string(ExampleConfig()), `strike = "GPIO5"`, fmt.Sprintf("strike = %q", name), 1)
			_, err := ParseConfig("lintel.toml", []byte(in))
			perr := pins.CheckName(name)
			if (err == nil) != (perr == nil) {
				t.Fatalf("config says %v, pins.CheckName says %v; want them to agree", err, perr)
			}
			if perr != nil && !strings.Contains(err.Error(), "doors.front.strike: "+perr.Error()) {
				t.Errorf("config error %q, want it to name doors.front.strike and give the pins error %q", err, perr)
			}
		})
	}
}

// TestConfigReaderAndDoorNamesFitTopics is the finding that config took a
// reader named "door@1", which MQTT topics refuse, so the broker dropped
// its events: a reader or door name must pass the topic package's check as
// well as access's, and the error names the key.
func TestConfigReaderAndDoorNamesFitTopics(t *testing.T) {
	base := string(ExampleConfig())
	tests := []struct {
		name, from, to, wantErr string
	}{
		{"reader", "[readers.front]", `[readers."door@1"]`, `lintel.toml: readers."door@1": bad reader name: "door@1": '@' is not allowed`},
		{"door", "[doors.front]", `[doors."door:1"]`, `lintel.toml: doors."door:1": bad door name: "door:1": ':' is not allowed`},
		{"leading dot", "[readers.front]", `[readers.".front"]`, `lintel.toml: readers.".front": bad reader name: ".front": must start with a letter or a digit`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(base, tt.from, tt.to, 1)
			if tt.name == "door" {
				in = strings.Replace(in, `door = "front"`, `door = "door:1"`, 1)
			}
			_, err := ParseConfig("lintel.toml", []byte(in))
			if err == nil || !strings.Contains(withoutLines(err), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	for _, name := range []string{"door@1", "door:1", ".front"} {
		if _, terr := topic.Events("gw", name); terr == nil {
			t.Errorf("topic.Events accepts %q; the test no longer shows the finding", name)
		}
	}
}

// TestConfigValidateDoesNotMutate is the finding that Validate set
// c.Broker.GatewayID: checking a config must leave it as it was, so a
// config checked twice, or checked and then changed, means one thing.
func TestConfigValidateDoesNotMutate(t *testing.T) {
	for _, tt := range []struct {
		name string
		load func(t *testing.T) *Config
	}{
		{"example", func(t *testing.T) *Config {
			c, err := ParseConfig("lintel.toml", ExampleConfig())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{"sim", func(*testing.T) *Config { return SimDefaults() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, want := tt.load(t), tt.load(t)
			c.Broker.GatewayID, want.Broker.GatewayID = "", ""
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, c, cmp.AllowUnexported(Config{}, keyPos{})); diff != "" {
				t.Errorf("Validate changed the config (-before +after):\n%s", diff)
			}
		})
	}
}

// TestConfigEnumsAreTyped is the finding that levels and fail modes were
// strings compared in several places: they are types that decode from
// TOML, encode back, and refuse anything else with the key and the allowed
// values.
func TestConfigEnumsAreTyped(t *testing.T) {
	tests := []struct {
		line        string
		wantActive  Level
		wantOpen    Level
		wantFail    FailMode
		wantErrPart string
	}{
		{line: `strike_active = "low"`, wantActive: Low},
		{line: `contact_open = "low"`, wantOpen: Low},
		{line: `fail = "safe"`, wantFail: FailSafe},
		{line: `strike_active = "HIGH"`, wantErrPart: `doors.front.strike_active: "HIGH" is not one of high, low`},
		{line: `contact_open = "open"`, wantErrPart: `doors.front.contact_open: "open" is not one of high, low`},
		{line: `fail = "open"`, wantErrPart: `doors.front.fail: "open" is not one of secure, safe`},
		{line: `fail = ""`, wantErrPart: `doors.front.fail: "" is not one of secure, safe`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			key, _, _ := strings.Cut(tt.line, " = ")
			base := string(ExampleConfig())
			i := strings.Index(base, "\n"+key+" = ")
			if i < 0 {
				t.Fatalf("the example has no %s", key)
			}
			end := i + 1 + strings.Index(base[i+1:], "\n")
			in := base[:i+1] + tt.line + base[end:]
			c, err := ParseConfig("lintel.toml", []byte(in))
			if tt.wantErrPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrPart) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErrPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d := c.Doors["front"]
			if d.StrikeActive != tt.wantActive || d.ContactOpen != tt.wantOpen || d.Fail != tt.wantFail {
				t.Errorf("got strike_active %v, contact_open %v, fail %v; want %v, %v, %v",
					d.StrikeActive, d.ContactOpen, d.Fail, tt.wantActive, tt.wantOpen, tt.wantFail)
			}
			var out bytes.Buffer
			if err := toml.NewEncoder(&out).Encode(d); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.line) {
				t.Errorf("encoded door:\n%s\nwant it to contain %s", out.String(), tt.line)
			}
		})
	}
}

// TestConfigRefusesPortOutOfRange is the finding that api.listen took
// "127.0.0.1:99999": every address key the config checks itself goes
// through checkAddr, which refuses a port out of range, and port 0 where a
// port is needed.
func TestConfigRefusesPortOutOfRange(t *testing.T) {
	tests := []struct {
		addr    string
		use     addrUse
		wantErr string // "" for none
	}{
		{"127.0.0.1:8080", listenAddr, ""},
		{"[::1]:8080", listenAddr, ""},
		{":8080", listenAddr, ""},
		{"127.0.0.1:65535", dialAddr, ""},
		{"127.0.0.1:0", listenAddr, ""},
		{"127.0.0.1:0", dialAddr, `"127.0.0.1:0": port 0 is no port to connect to (want 1 to 65535)`},
		{"127.0.0.1:99999", listenAddr, `"127.0.0.1:99999": port 99999 is out of range (1 to 65535)`},
		{"127.0.0.1:65536", dialAddr, `"127.0.0.1:65536": port 65536 is out of range (1 to 65535)`},
		{"127.0.0.1:99999999999999999999", listenAddr, `port 99999999999999999999 is out of range (1 to 65535)`},
		{"127.0.0.1:-1", listenAddr, `"127.0.0.1:-1": port "-1" is not a number from 1 to 65535`},
		{"127.0.0.1:http", listenAddr, `port "http" is not a number from 1 to 65535`},
		{"127.0.0.1:", listenAddr, `"127.0.0.1:" has no port`},
		{"8080", listenAddr, `"8080" is not host:port`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/listen=%v", tt.addr, tt.use), func(t *testing.T) {
			err := checkAddr(tt.addr, tt.use)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkAddr = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("checkAddr = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("api.listen", func(t *testing.T) {
		in, line := setInExample(t, "api.listen", `"127.0.0.1:99999"`)
		_, err := ParseConfig("lintel.toml", []byte(in))
		want := fmt.Sprintf(`lintel.toml:%d: api.listen: "127.0.0.1:99999": port 99999 is out of range (1 to 65535)`, line)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want one containing %q", err, want)
		}
	})
}

// exampleLine returns the number of the example config's first line that
// is line, or 0.
func exampleLine(line string) int {
	for n, l := range strings.Split(string(ExampleConfig()), "\n") {
		if l == line {
			return n + 1
		}
	}
	return 0
}

// setInExample returns the example config with key (readers.front.unlock,
// uplink.keepalive) set to the TOML value, and the line it is on.
func setInExample(t *testing.T, key, value string) (string, int) {
	t.Helper()
	i := strings.LastIndex(key, ".")
	table, leaf := "["+key[:i]+"]", key[i+1:]
	lines := strings.Split(string(ExampleConfig()), "\n")
	in := ""
	for n, l := range lines {
		if strings.HasPrefix(l, "[") {
			in = strings.Trim(l, "[]")
			in = "[" + in + "]"
			continue
		}
		if in == table && strings.HasPrefix(l, leaf+" = ") {
			lines[n] = leaf + " = " + value
			return strings.Join(lines, "\n"), n + 1
		}
	}
	t.Fatalf("the example config has no %s", key)
	return "", 0
}

// durationKeys lists every key of Config whose type is time.Duration, as
// the example spells it (readers.* as readers.front).
func durationKeys() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if f.Anonymous && tag == "" {
				walk(prefix, f.Type)
				continue
			}
			if tag == "" || tag == "-" {
				continue
			}
			switch ft := f.Type; {
			case ft == reflect.TypeFor[time.Duration]():
				keys = append(keys, prefix+tag)
			case ft.Kind() == reflect.Map:
				walk(prefix+tag+".front.", ft.Elem())
			case ft.Kind() == reflect.Struct:
				walk(prefix+tag+".", ft)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	return keys
}

// TestConfigRefusesBareNumberDurations is the finding that unlock = 5
// loaded as 5 ns, so every grant was journaled and the door never opened:
// every duration key, the uplink's too, refuses a TOML number.
func TestConfigRefusesBareNumberDurations(t *testing.T) {
	keys := durationKeys()
	if len(keys) < 15 {
		t.Fatalf("found only %d duration keys: %v", len(keys), keys)
	}
	for _, key := range keys {
		for _, v := range []string{"5", "0", "1.5"} {
			t.Run(key+"="+v, func(t *testing.T) {
				in, line := setInExample(t, key, v)
				_, err := ParseConfig("lintel.toml", []byte(in))
				want := fmt.Sprintf("lintel.toml:%d: %s: %s is a bare number; write a duration such as \"5s\"", line, key, v)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want one containing %q", err, want)
				}
			})
		}
	}
	t.Run("no unit", func(t *testing.T) {
		in, line := setInExample(t, "doors.front.unlock", `"5"`)
		_, err := ParseConfig("lintel.toml", []byte(in))
		want := fmt.Sprintf(`lintel.toml:%d: doors.front.unlock: "5" is not a duration; write one such as "5s", "250ms" or "2h"`, line)
		if err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
	})
}

// TestConfigReportsEveryError is the finding that config check stopped at
// the first problem, so fixing a file took one run per mistake: every
// problem is reported at once, in file order, with its key and line, and a
// value that cannot be decoded is reported once, not again by validation.
func TestConfigReportsEveryError(t *testing.T) {
	t.Run("example", func(t *testing.T) {
		lines := strings.Split(string(ExampleConfig()), "\n")
		set := func(old, new string) int {
			for n, l := range lines {
				if l == old {
					lines[n] = new
					return n + 1
				}
			}
			t.Fatalf("the example has no line %q", old)
			return 0
		}
		idLine := set(`id = "lintel-01"`, `id = "a/b"`)
		listenLine := set(`listen = "127.0.0.1:8080"`, `listen = "127.0.0.1:99999"`)
		modeLine := set(`mode = "card_and_pin"`, `mode = 5`)
		extraLine := set(`keypad_buffered = false`, `keypad_bufferd = false`)
		failLine := set(`fail = "secure"`, `fail = "open"`)
		unlockLine := set(`unlock = "5s"`, `unlock = 5`)
		preLine := set(`pre_alarm = "10s"`, `pre_alarm = "40s"`)
		_, err := ParseConfig("lintel.toml", []byte(strings.Join(lines, "\n")))
		if err == nil {
			t.Fatal("no error")
		}
		want := []string{
			fmt.Sprintf(`lintel.toml:%d: gateway.id: "a/b": '/' is not allowed; use letters, digits, '.', '_' and '-'`, idLine),
			fmt.Sprintf(`lintel.toml:%d: api.listen: "127.0.0.1:99999": port 99999 is out of range (1 to 65535)`, listenLine),
			fmt.Sprintf(`lintel.toml:%d: readers.front.mode: want a string, got the number 5`, modeLine),
			fmt.Sprintf(`lintel.toml:%d: readers.front.keypad_bufferd: unknown key`, extraLine),
			fmt.Sprintf(`lintel.toml:%d: doors.front.fail: "open" is not one of secure, safe`, failLine),
			fmt.Sprintf(`lintel.toml:%d: doors.front.unlock: 5 is a bare number; write a duration such as "5s"`, unlockLine),
			fmt.Sprintf(`lintel.toml:%d: doors.front.pre_alarm: 40s must be shorter than held_open (30s)`, preLine),
		}
		if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
			t.Errorf("errors mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("file order across tables", func(t *testing.T) {
		in := strings.Join([]string{
			`[gateway]`,
			`id = "gw"`,
			`[doors.b]`,
			`strike = "GPIO5"`,
			`unlock = "10m"`,
			`[readers.a]`,
			`model = "RP40"`,
			`mode = "card_and_pin"`,
			`door = "b"`,
			`d0 = "GPIO5"`,
			`[[broker.clients]]`,
			`username = "portal"`,
			`password_hash = "x"`,
			`[journal]`,
			`commit_interval = "2s"`,
			`[readers.c]`,
			`model = "RP40"`,
			`mode = "card_only"`,
			`door = "b"`,
			`d0 = "GPIO6"`,
			`d1 = "GPIO7"`,
		}, "\n")
		_, err := ParseConfig("lintel.toml", []byte(in))
		if err == nil {
			t.Fatal("no error")
		}
		want := []string{
			`lintel.toml:5: doors.b.unlock: 10m0s must be between 0 and 5m0s: a grant is always timed`,
			`lintel.toml: readers.a.d1: empty pin name; name a line as the kernel does ("GPIO17") or by chip and offset ("gpiochip0:17")`,
			`lintel.toml:8: readers.a.mode: "card_and_pin" needs a keypad reader (RPK40), got RP40`,
			`lintel.toml:10: readers.a.d0: GPIO5 is already used by doors.b.strike`,
			"lintel.toml:13: broker.clients[0].password_hash: not a bcrypt hash (client \"portal\"); make one with `lintel broker passwd`",
			`lintel.toml:15: journal.commit_interval: 2s is out of range: events would wait that long to be durable (0 to 1s)`,
			`lintel.toml:19: readers.c.door: door "b" is already read by reader "a"`,
		}
		if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
			t.Errorf("errors mismatch (-want +got):\n%s", diff)
		}
	})
}

// TestREADMEConfigCheckIsTrue runs the README's `lintel config check`
// example: the example config with an RP40 at the front and unlock = 5
// gives exactly the lines shown there.
func TestREADMEConfigCheckIsTrue(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "$ lintel config check lintel.toml\n")
	if !ok {
		t.Fatal("README.md shows no `lintel config check lintel.toml`")
	}
	block, _, _ = strings.Cut(block, "```")
	in := strings.Replace(string(ExampleConfig()), `model = "RPK40"`, `model = "RP40"`, 1)
	in = strings.Replace(in, "\nunlock = \"5s\"", "\nunlock = 5", 1)
	_, err = ParseConfig("lintel.toml", []byte(in))
	if err == nil {
		t.Fatal("no error")
	}
	got := "lintel: " + strings.ReplaceAll(err.Error(), "\n", "\nlintel: ") + "\n"
	if diff := cmp.Diff(block, got); diff != "" {
		t.Errorf("README.md's config check output is not what the check prints (-readme +got):\n%s", diff)
	}
}

// TestConfigWarnings checks what `lintel config check` warns about, each
// with its line and key, from its table's owner: the example's broker
// password, an API off loopback without TLS, anonymous clients from the
// network, a plain-text uplink; and that a file without them has none.
func TestConfigWarnings(t *testing.T) {
	example := string(ExampleConfig())
	const passwordWarning = `warning: broker.clients[0].password_hash: the password of "portal" is "change-me"`
	for _, tc := range []struct {
		name   string
		mutate func(string) string
		want   []string // substrings, one per warning, in file order
	}{
		{"the example", func(s string) string { return s }, []string{passwordWarning}},
		{"API on the network without TLS", func(s string) string {
			return strings.Replace(s, `listen = "127.0.0.1:8080"`, `listen = "0.0.0.0:8080"`, 1)
		}, []string{`lintel.toml:62: warning: api.listen: "0.0.0.0:8080" is reachable from the network and serves plain HTTP`, passwordWarning}},
		{"API on localhost", func(s string) string {
			return strings.Replace(s, `listen = "127.0.0.1:8080"`, `listen = "localhost:8080"`, 1)
		}, []string{passwordWarning}},
		{"anonymous clients from the network", func(s string) string {
			return strings.Replace(strings.Replace(s, "allow = false\n", "allow = true\n", 1), "allow_remote = false", "allow_remote = true", 1)
		}, []string{`warning: broker.anonymous.allow_remote: anonymous clients may connect from any address`, passwordWarning}},
		{"plain-text uplink", func(s string) string {
			return strings.Replace(s, `url = ""`, `url = "tcp://broker.example.com:1883"`, 1)
		}, []string{passwordWarning, `warning: uplink.url: tcp:// is plain text`}},
		{"TLS uplink", func(s string) string {
			return strings.Replace(s, `url = ""`, `url = "ssl://broker.example.com:8883"`, 1)
		}, []string{passwordWarning}},
		{"a password of its own", func(s string) string {
			h, err := broker.HashPassword("a long password of its own")
			if err != nil {
				t.Fatal(err)
			}
			return strings.Replace(s, `$2a$10$hfs7MwaGf0PBJPbZ3rPTOOcTDE0J1TDWo5YIg67rMYlFQG7KFs3Pm`, h, 1)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig("lintel.toml", []byte(tc.mutate(example)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range c.Warnings() {
				got = append(got, w.Error())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got warnings %q, want %d: %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) || !strings.HasPrefix(got[i], "lintel.toml:") {
					t.Errorf("warning %d: got %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// TestREADMEConfigWarningsAreTrue runs the README's warning example: the
// example config as it is gives exactly the warning shown there.
func TestREADMEConfigWarningsAreTrue(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "$ lintel config check /etc/lintel/lintel.toml\n")
	if !ok {
		t.Fatal("README.md shows no `lintel config check /etc/lintel/lintel.toml`")
	}
	block, _, _ = strings.Cut(block, "```")
	c, err := ParseConfig("lintel.toml", ExampleConfig())
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, w := range c.Warnings() {
		got += "lintel: " + w.Error() + "\n"
	}
	got += "/etc/lintel/lintel.toml: ok, with 1 warning\n"
	if diff := cmp.Diff(block, got); diff != "" {
		t.Errorf("README.md's config check warnings are not what the check prints (-readme +got):\n%s", diff)
	}
}

// TestConfigHomeAssistant checks the [homeassistant] table: its own check
// (the discovery prefix), the embedded broker it needs, and the warning
// when the locks may unlock but no account may send them the command.
func TestConfigHomeAssistant(t *testing.T) {
	on := func(s string) string {
		return strings.Replace(s, "[homeassistant]\nenabled = false", "[homeassistant]\nenabled = true", 1)
	}
	for _, tc := range []struct {
		name, err, warning string
		mutate             func(string) string
	}{
		{"on", "", "", on},
		{"bad prefix", `homeassistant.discovery_prefix: "ha/#" is not a topic prefix`, "", func(s string) string {
			return strings.Replace(on(s), `discovery_prefix = "homeassistant"`, `discovery_prefix = "ha/#"`, 1)
		}},
		{"no broker", "homeassistant.enabled: Home Assistant discovery is published on the embedded broker, and broker.disabled is true", "", func(s string) string {
			return strings.Replace(on(s), "disabled = false", "disabled = true", 1)
		}},
		{"unlock without an account", "", `warning: homeassistant.allow_unlock: true, but no [[broker.clients]] account has role = "homeassistant"`, func(s string) string {
			return strings.Replace(on(s), "allow_unlock = false", "allow_unlock = true", 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.mutate(string(ExampleConfig()))
			c, err := ParseConfig("lintel.toml", []byte(in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !regexp.MustCompile(`lintel\.toml:\d+: homeassistant`).MatchString(err.Error()) {
					t.Fatalf("got %v, want an error with its line containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ws []string
			for _, w := range c.Warnings() {
				if strings.Contains(w.Error(), "homeassistant") {
					ws = append(ws, w.Error())
				}
			}
			if tc.warning == "" && len(ws) > 0 || tc.warning != "" && (len(ws) != 1 || !strings.Contains(ws[0], tc.warning)) {
				t.Errorf("got Home Assistant warnings %q, want %q", ws, tc.warning)
			}
		})
	}
}
