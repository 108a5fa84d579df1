package broker_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/lintel-access/lintel/broker"
)

// validateTests are the configuration mistakes an operator can make, with
// the key the error must name. They also seed FuzzValidate.
var validateTests = []struct {
	name    string
	edit    func(*broker.Config)
	wantErr []string // substrings of the error, nil for none
}{
	{"zero value with a gateway id", func(c *broker.Config) { *c = broker.Config{GatewayID: "gw1"} }, nil},
	{"accounts and anonymous", func(c *broker.Config) {}, nil},
	{"sim", func(c *broker.Config) { *c = broker.SimConfig("gw1") }, nil},
	{"sim with a bad gateway id", func(c *broker.Config) { *c = broker.SimConfig("gw/1") }, []string{"gateway id"}},
	{"no gateway id", func(c *broker.Config) { c.GatewayID = "" }, []string{"gateway id empty"}},
	{"listen not host:port", func(c *broker.Config) { c.Listen = "1883" }, []string{"broker.listen: \"1883\": not a host:port address"}},
	{"listen port out of range", func(c *broker.Config) { c.Listen = "127.0.0.1:70000" }, []string{"broker.listen", "0 to 65535"}},
	{"websocket on the tcp address", func(c *broker.Config) {
		c.Listen = "127.0.0.1:1883"
		c.WebSocket.Listen = "127.0.0.1:1883"
	}, []string{"broker.websocket.listen: \"127.0.0.1:1883\" is already used by broker.listen"}},
	{"tls without files", func(c *broker.Config) { c.TLS.Listen = "127.0.0.1:8883" }, []string{"broker.tls.cert_file: missing"}},
	{"tls without key", func(c *broker.Config) { c.TLS = broker.TLSListener{Listen: "127.0.0.1:8883", CertFile: "c.pem"} }, []string{"broker.tls.key_file: missing"}},
	{"tls files without listener", func(c *broker.Config) { c.TLS = broker.TLSListener{CertFile: "c.pem", KeyFile: "k.pem"} }, []string{"broker.tls.listen: missing"}},
	{"tls files missing", func(c *broker.Config) {
		c.TLS = broker.TLSListener{Listen: "127.0.0.1:8883", CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}
	}, []string{"broker.tls: cert_file \"/nonexistent/c.pem\"", "no such file"}},
	{"anonymous acl without allow", func(c *broker.Config) { c.Anonymous.Allow = false }, []string{"broker.anonymous.allow"}},
	{"bad anonymous filter", func(c *broker.Config) { c.Anonymous.Subscribe = []string{"a/#/b"} }, []string{"broker.anonymous.subscribe[0]: \"a/#/b\" is not a valid MQTT topic filter"}},
	{"empty username", func(c *broker.Config) { c.Clients[0].Username = "" }, []string{"broker.clients[0].username: empty"}},
	{"duplicate username", func(c *broker.Config) { c.Clients[1].Username = c.Clients[0].Username }, []string{"broker.clients[1].username: \"portal\" is already broker.clients[0]"}},
	{"plain password", func(c *broker.Config) { c.Clients[1].PasswordHash = "hunter2" }, []string{"broker.clients[1].password_hash: not a bcrypt hash (client \"display\")"}},
	{"bcrypt cost too high", func(c *broker.Config) {
		c.Clients[0].PasswordHash = "$2a$20$abcdefghijklmnopqrstuu5Rk6nHm4yX4tq8b7Q4rH2Uq2c3Yb2aG"
	}, []string{"broker.clients[0].password_hash: bcrypt cost 20 (client \"portal\") is too slow"}},
	{"bad publish filter", func(c *broker.Config) { c.Clients[0].Publish = []string{"ok/#", "a+"} }, []string{"broker.clients[0].publish[1]"}},
	{"a plain account given sync/changes by a wildcard", func(c *broker.Config) {
		c.GatewayID = "gw"
		c.Clients = append(c.Clients, broker.Client{Username: "ann", PasswordHash: c.Clients[1].PasswordHash, Publish: []string{"lintel/v1/#"}})
	}, []string{`broker.clients[2].publish[0]: "lintel/v1/#" would let "ann" publish changesets on lintel/v1/gw/sync/changes; only role = "portal" accounts may`}},
	{"a client account given sync/changes by name", func(c *broker.Config) {
		c.Clients[1].Role = broker.RoleClient
		c.Clients[1].Publish = []string{"display/#", "lintel/v1/gw1/sync/changes"}
	}, []string{`broker.clients[1].publish[1]: "lintel/v1/gw1/sync/changes" would let "display" publish changesets`}},
	{"a client account given everything", func(c *broker.Config) { c.Clients[1].Publish = []string{"#"} },
		[]string{`broker.clients[1].publish[0]: "#" would let "display" publish changesets`}},
	{"a client account given other gateways' changes", func(c *broker.Config) { c.Clients[1].Publish = []string{"lintel/v1/+/sync/changes"} },
		[]string{`broker.clients[1].publish[0]`}},
	{"a client account given another gateway's topics", func(c *broker.Config) { c.Clients[1].Publish = []string{"lintel/v1/gw2/#"} }, nil},
	{"anonymous clients given sync/changes", func(c *broker.Config) { c.Anonymous.Publish = []string{"+/+/+/sync/changes"} },
		[]string{`broker.anonymous.publish[0]: "+/+/+/sync/changes" would let anonymous clients publish changesets on lintel/v1/gw1/sync/changes; only role = "portal" accounts may`}},
	{"a portal account given everything", func(c *broker.Config) { c.Clients[0].Publish = []string{"#"} }, nil},
	{"unknown role", func(c *broker.Config) { c.Clients[0].Role = "admin" },
		[]string{`broker.clients[0].role: "admin" is not a role (client "portal"); use "client" (the default), "portal" or "homeassistant"`}},
	{"role in the wrong case", func(c *broker.Config) { c.Clients[0].Role = "Portal" }, []string{`broker.clients[0].role: "Portal" is not a role`}},
	{"negative max_clients", func(c *broker.Config) { c.MaxClients = -1 }, []string{"broker.max_clients: -1 is out of range"}},
	{"one client slot, shared with anonymous clients", func(c *broker.Config) { c.MaxClients = 1 }, nil},
	{"every slot reserved, no anonymous clients", func(c *broker.Config) {
		c.Anonymous = broker.Anonymous{}
		c.MaxClients, c.ReservedForAccounts = 4, 4
	}, nil},
	{"every slot reserved, anonymous clients allowed", func(c *broker.Config) { c.MaxClients, c.ReservedForAccounts = 4, 4 },
		[]string{"broker.reserved_for_accounts: 4 leaves anonymous clients none of the 4 max_clients slots"}},
	{"more reserved than max_clients", func(c *broker.Config) { c.ReservedForAccounts = 65 },
		[]string{"broker.reserved_for_accounts: 65 is more than max_clients (64)"}},
	{"negative reserved_for_accounts", func(c *broker.Config) { c.ReservedForAccounts = -1 },
		[]string{"broker.reserved_for_accounts: -1 is out of range"}},
	{"queue_limit too big", func(c *broker.Config) { c.QueueLimit = 70000 }, []string{"broker.queue_limit"}},
	{"max_packet_size too big", func(c *broker.Config) { c.MaxPacketSize = 1 << 30 }, []string{"broker.max_packet_size"}},
	{"several mistakes at once", func(c *broker.Config) {
		c.Listen = "x"
		c.Clients[0].PasswordHash = ""
	}, []string{"broker.listen", "broker.clients[0].password_hash"}},
}

func TestValidate(t *testing.T) {
	for _, tc := range validateTests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Anonymous = broker.Anonymous{Allow: true, Subscribe: []string{"#"}}
			tc.edit(&cfg)
			err := cfg.Validate()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := broker.New(cfg, discard()); err != nil {
					t.Fatalf("New with a valid config: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %v\nwant it to contain %q", err, want)
				}
			}
			if _, err := broker.New(cfg, discard()); err == nil {
				t.Fatal("New accepted a config Validate refuses")
			}
		})
	}
}

func TestValidateTLSFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSignedCert(t, dir)
	cfg := testConfig(t)
	cfg.TLS = broker.TLSListener{Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	// The key of another certificate does not match.
	other := filepath.Join(dir, "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := selfSignedCert(t, other)
	cfg.TLS.KeyFile = otherKey
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "broker.tls:") {
		t.Fatalf("Validate() = %v, want a broker.tls error for a key that does not match", err)
	}
}

func TestConfigFromTOML(t *testing.T) {
	const doc = `
listen = "127.0.0.1:1884"
max_clients = 10
reserved_for_accounts = 3
queue_limit = 100
max_packet_size = 65536

[tls]
listen = "0.0.0.0:8883"
cert_file = "/etc/lintel/broker.crt"
key_file = "/etc/lintel/broker.key"

[websocket]
listen = "127.0.0.1:8083"

[anonymous]
allow = true
subscribe = ["lintel/v1/+/events/+"]

[[clients]]
username = "portal"
role = "portal"
password_hash = "$2a$10$abcdefghijklmnopqrstuu5Rk6nHm4yX4tq8b7Q4rH2Uq2c3Yb2aG"
publish = ["lintel/v1/gw1/sync/changes"]
subscribe = ["lintel/v1/gw1/#"]

[[clients]]
username = "display"
password_hash = "$2a$10$abcdefghijklmnopqrstuu5Rk6nHm4yX4tq8b7Q4rH2Uq2c3Yb2aG"
subscribe = ["lintel/v1/gw1/events/+"]
`
	var got broker.Config
	md, err := toml.Decode(doc, &got)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("keys without a field: %v", u)
	}
	want := broker.Config{
		Listen:              "127.0.0.1:1884",
		MaxClients:          10,
		ReservedForAccounts: 3,
		QueueLimit:          100,
		MaxPacketSize:       65536,
		TLS:                 broker.TLSListener{Listen: "0.0.0.0:8883", CertFile: "/etc/lintel/broker.crt", KeyFile: "/etc/lintel/broker.key"},
		WebSocket:           broker.WebSocketListener{Listen: "127.0.0.1:8083"},
		Anonymous:           broker.Anonymous{Allow: true, Subscribe: []string{"lintel/v1/+/events/+"}},
		Clients: []broker.Client{{
			Username:     "portal",
			Role:         broker.RolePortal,
			PasswordHash: "$2a$10$abcdefghijklmnopqrstuu5Rk6nHm4yX4tq8b7Q4rH2Uq2c3Yb2aG",
			Publish:      []string{"lintel/v1/gw1/sync/changes"},
			Subscribe:    []string{"lintel/v1/gw1/#"},
		}, {
			Username:     "display",
			PasswordHash: "$2a$10$abcdefghijklmnopqrstuu5Rk6nHm4yX4tq8b7Q4rH2Uq2c3Yb2aG",
			Subscribe:    []string{"lintel/v1/gw1/events/+"},
		}},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("decoded config mismatch (-got +want):\n%s", diff)
	}
}

func TestHashPassword(t *testing.T) {
	t.Parallel() // bcrypt at its real cost is slow under -race; let it overlap the rest.
	h, err := broker.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost != bcrypt.DefaultCost {
		t.Fatalf("hash cost = %d (%v), want %d", cost, err, bcrypt.DefaultCost)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("correct horse")); err != nil {
		t.Fatalf("the hash does not match its password: %v", err)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("the hash contains the password")
	}
	cfg := broker.Config{GatewayID: "gw1", Clients: []broker.Client{{Username: "u", PasswordHash: h}}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate with a HashPassword hash: %v", err)
	}
	for _, bad := range []string{"", strings.Repeat("x", 73)} {
		if _, err := broker.HashPassword(bad); err == nil {
			t.Errorf("HashPassword(%d bytes) = nil error, want one", len(bad))
		}
	}
}

// FuzzValidate feeds Validate the strings an operator's file can hold: it
// must never panic, and a config it accepts must start a broker.
func FuzzValidate(f *testing.F) {
	for _, tc := range validateTests {
		cfg := testConfig(f)
		tc.edit(&cfg)
		username, hash, filter := "portal", "not a hash", "a/+/#"
		if len(cfg.Clients) > 0 {
			username, hash = cfg.Clients[0].Username, cfg.Clients[0].PasswordHash
			if len(cfg.Clients[0].Publish) > 0 {
				filter = cfg.Clients[0].Publish[len(cfg.Clients[0].Publish)-1]
			}
		}
		f.Add(cfg.GatewayID, cfg.Listen, cfg.WebSocket.Listen, username, hash, filter)
	}
	f.Fuzz(func(t *testing.T, gw, listen, ws, username, passwordHash, filter string) {
		cfg := broker.Config{
			GatewayID: gw,
			Listen:    listen,
			WebSocket: broker.WebSocketListener{Listen: ws},
			Clients:   []broker.Client{{Username: username, PasswordHash: passwordHash, Publish: []string{filter}, Subscribe: []string{filter}}},
		}
		err := cfg.Validate()
		if err != nil {
			if !strings.Contains(err.Error(), "broker.") && !strings.Contains(err.Error(), "gateway id") {
				t.Fatalf("Validate() = %v: the error names no key", err)
			}
			return
		}
		b, err := broker.New(cfg, discard())
		if err != nil {
			t.Fatalf("New refused a config Validate accepted: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewRefusesWithConfigError(t *testing.T) {
	_, err := broker.New(broker.Config{}, discard())
	if err == nil || !strings.HasPrefix(err.Error(), "broker: config: ") {
		t.Fatalf("New(zero Config) = %v, want a config error", err)
	}
	var target interface{ Unwrap() []error }
	if !errors.As(err, &target) {
		t.Fatalf("New's error does not carry the list of problems: %v", err)
	}
}

// TestWarnings checks what the broker's configuration warns about: an
// account with the example configuration's password, and anonymous
// clients allowed from any address; not a password of its own, nor
// anonymous clients on loopback.
func TestWarnings(t *testing.T) {
	example, err := bcrypt.GenerateFromPassword([]byte("change-me"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	own, err := bcrypt.GenerateFromPassword([]byte("a password of its own"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  broker.Config
		want []string
	}{
		{"own password", broker.Config{GatewayID: "gw", Clients: []broker.Client{{Username: "a", PasswordHash: string(own)}}}, nil},
		{"example password", broker.Config{GatewayID: "gw", Clients: []broker.Client{{Username: "a", PasswordHash: string(own)}, {Username: "portal", PasswordHash: string(example)}}},
			[]string{`broker.clients[1].password_hash: the password of "portal" is "change-me"`}},
		{"anonymous on loopback", broker.SimConfig("gw"), nil},
		{"anonymous from anywhere", broker.Config{GatewayID: "gw", Anonymous: broker.Anonymous{Allow: true, AllowRemote: true}},
			[]string{"broker.anonymous.allow_remote: anonymous clients may connect from any address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := tc.cfg.Warnings()
			if len(ws) != len(tc.want) {
				t.Fatalf("got warnings %v, want %q", ws, tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(ws[i].Error(), w) {
					t.Errorf("warning %d: got %q, want it to start with %q", i, ws[i], w)
				}
			}
		})
	}
}

// TestValidateDoorCommandFilters: only homeassistant accounts may have
// publish filters that reach the door command topics, and reserved filters
// must lie outside lintel/v1/ and '$' topics.
func TestValidateDoorCommandFilters(t *testing.T) {
	h := hash(t, "pw")
	for _, tc := range []struct {
		name string
		cfg  broker.Config
		want string
	}{
		{"homeassistant account", broker.Config{GatewayID: "gw1", Clients: []broker.Client{{Username: "ha", Role: broker.RoleHomeAssistant, PasswordHash: h, Publish: []string{"lintel/v1/gw1/doors/+/set"}}}}, ""},
		{"plain client", broker.Config{GatewayID: "gw1", Clients: []broker.Client{{Username: "ann", PasswordHash: h, Publish: []string{"lintel/v1/gw1/doors/front/set"}}}},
			`broker.clients[0].publish[0]: "lintel/v1/gw1/doors/front/set" would let "ann" publish door commands on lintel/v1/gw1/doors/+/set; only role = "homeassistant" accounts may`},
		{"anonymous", broker.Config{GatewayID: "gw1", Anonymous: broker.Anonymous{Allow: true, Publish: []string{"lintel/v1/+/doors/#"}}},
			`broker.anonymous.publish[0]: "lintel/v1/+/doors/#" would let anonymous clients publish door commands`},
		{"homeassistant account and changesets", broker.Config{GatewayID: "gw1", Clients: []broker.Client{{Username: "ha", Role: broker.RoleHomeAssistant, PasswordHash: h, Publish: []string{"lintel/v1/gw1/#"}}}},
			`broker.clients[0].publish[0]: "lintel/v1/gw1/#" would let "ha" publish changesets`},
		{"reserved in the namespace", broker.Config{GatewayID: "gw1", Reserved: []string{"lintel/v1/gw1/ha/#"}}, `reserved[0]: "lintel/v1/gw1/ha/#" is not a topic filter outside`},
		{"reserved outside", broker.Config{GatewayID: "gw1", Reserved: []string{"homeassistant/+/gw1/+/config"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
