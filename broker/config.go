package broker

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/lintel-access/lintel/broker/topic"
)

// Defaults for the zero values of Config.
const (
	DefaultListen        = "127.0.0.1:1883"
	DefaultMaxClients    = 64
	DefaultQueueLimit    = 1024
	DefaultMaxPacketSize = 1 << 20 // 1 MiB

	// DefaultReservedForAccounts is how many of the MaxClients slots are
	// kept for accounts when ReservedForAccounts is zero, or half of
	// MaxClients (rounded down) when that is fewer.
	DefaultReservedForAccounts = 8
)

// maxMQTTPacket is the largest packet MQTT can express.
const maxMQTTPacket = 268435455

// maxBcryptCost bounds password hash costs: each step doubles the time a
// connection takes to check, and cost 14 is already about a second on a
// Raspberry Pi.
const maxBcryptCost = 14

// Config is the embedded broker's configuration, the [broker] section of
// lintel.toml. Every zero value is usable: the zero Config (with GatewayID
// set) is a TCP listener on 127.0.0.1:1883 that refuses every client, since
// there are neither accounts nor anonymous access.
type Config struct {
	// GatewayID is the gateway's id, the {gw} of every topic. The gateway
	// sets it from its own configuration; it is not a key of the section.
	GatewayID string `toml:"-"`

	// Listen is the plain TCP listener's host:port. Empty means
	// DefaultListen, loopback only: reaching the broker from the network
	// takes a deliberate address here, or the TLS listener.
	Listen string `toml:"listen"`

	// TLS is the optional MQTT-over-TLS listener. The zero value has none.
	TLS TLSListener `toml:"tls"`

	// WebSocket is the optional MQTT-over-WebSocket listener (ws://, any
	// path). The zero value has none.
	WebSocket WebSocketListener `toml:"websocket"`

	// Anonymous says whether clients without a username may connect and
	// what they may do. The zero value refuses them.
	Anonymous Anonymous `toml:"anonymous"`

	// Clients are the accounts that may connect, each with its topics.
	Clients []Client `toml:"clients"`

	// MaxClients is how many clients may be connected at once, accounts
	// and anonymous clients together. Zero means DefaultMaxClients.
	MaxClients int `toml:"max_clients"`

	// ReservedForAccounts is how many of the MaxClients slots anonymous
	// clients may not take: they may hold at most MaxClients -
	// ReservedForAccounts, so a portal account can still connect when
	// anonymous clients have filled the rest. Accounts may use every slot.
	// Zero means DefaultReservedForAccounts, or half of MaxClients (rounded
	// down) when that is fewer. With anonymous access allowed it must leave
	// them at least one slot.
	ReservedForAccounts int `toml:"reserved_for_accounts"`

	// QueueLimit is how many QoS 1 messages one subscriber may have
	// unacknowledged, and how many may wait to be written to its socket.
	// A subscriber that falls further behind loses messages until it
	// catches up (they are counted in Stats.MessagesDropped); the journal,
	// read through the API, is where a client recovers what it missed. Zero
	// means DefaultQueueLimit; at most 65535.
	QueueLimit int `toml:"queue_limit"`

	// MaxPacketSize is the largest MQTT packet, in bytes, a client may send;
	// a larger one closes its connection. Zero means DefaultMaxPacketSize.
	MaxPacketSize int `toml:"max_packet_size"`

	// Reserved are topic filters outside lintel/v1/ whose topics the
	// gateway alone publishes on, as it does its own namespace: no client
	// may publish on a topic they match, whatever its ACL says. The gateway
	// sets them (its Home Assistant discovery topics); they are not keys
	// of the section.
	Reserved []string `toml:"-"`
}

// TLSListener is an MQTT-over-TLS listener. It is enabled when Listen is not
// empty, and then needs both files.
type TLSListener struct {
	Listen   string `toml:"listen"`    // host:port, e.g. "0.0.0.0:8883"
	CertFile string `toml:"cert_file"` // PEM certificate chain
	KeyFile  string `toml:"key_file"`  // PEM private key
}

// WebSocketListener is an MQTT-over-WebSocket listener. It is enabled when
// Listen is not empty.
type WebSocketListener struct {
	Listen string `toml:"listen"` // host:port, e.g. "127.0.0.1:8083"
}

// Anonymous is the policy for clients that send no username. The zero value
// refuses them.
type Anonymous struct {
	// Allow lets clients without a username connect, from loopback
	// addresses only unless AllowRemote is also set.
	Allow bool `toml:"allow"`

	// AllowRemote lets anonymous clients connect from any address. Without
	// it an anonymous client whose remote address is not loopback
	// (127.0.0.0/8 or ::1) is refused, so a broker opened to the network
	// for accounts does not also open to strangers.
	AllowRemote bool `toml:"allow_remote"`

	// Publish and Subscribe are the topic filters anonymous clients may
	// publish to and subscribe to. Empty lists allow nothing. Anonymous
	// clients never publish changesets: Validate refuses a publish filter
	// that matches the gateway's sync/changes topic.
	Publish   []string `toml:"publish"`
	Subscribe []string `toml:"subscribe"`
}

// Role says what an account may do beyond what its topic filters say.
type Role string

// The roles of an account. The zero value, "", is RoleClient.
const (
	// RoleClient is a plain client: it may publish and subscribe where its
	// filters allow, but never publish a changeset.
	RoleClient Role = "client"

	// RolePortal is a portal account: besides what a client may do, it may
	// publish changesets on the gateway's sync/changes topic, when its
	// publish filters list that topic. A changeset rewrites the user table,
	// so this is the one role that can let someone in or lock them out.
	RolePortal Role = "portal"

	// RoleHomeAssistant is a home-automation account (Home Assistant):
	// besides what a client may do, it may publish door commands on the
	// gateway's lintel/v1/{gw}/doors/{door}/set topics, when its publish
	// filters list them. A command unlocks a door for its pulse, so no
	// other account, and no anonymous client, may publish there; whether
	// the gateway obeys is its own choice (homeassistant.allow_unlock).
	RoleHomeAssistant Role = "homeassistant"
)

// orDefault is r with the zero value spelt out as RoleClient.
func (r Role) orDefault() Role { return cmp.Or(r, RoleClient) }

// Client is one account on the broker.
type Client struct {
	// Username is the MQTT username, unique in the list.
	Username string `toml:"username"`

	// Role is RoleClient (the default, also when empty) or RolePortal.
	// Only a portal account may have a publish filter that matches the
	// gateway's sync/changes topic; Validate refuses any other account
	// (and the anonymous policy) whose filters would.
	Role Role `toml:"role"`

	// PasswordHash is the bcrypt hash of the password, as HashPassword
	// (`lintel broker passwd`) prints it. The password itself is never
	// stored.
	PasswordHash string `toml:"password_hash"`

	// Publish and Subscribe are the topic filters the client may publish
	// to and subscribe to (MQTT wildcards allowed). A subscription must lie
	// within one of the Subscribe filters. Empty lists allow nothing.
	// Whatever they say, no client may publish under lintel/v1/ except on
	// the gateway's own sync/changes: not on the gateway's event, status,
	// door or sync acknowledgement topics, nor under another gateway's id.
	Publish   []string `toml:"publish"`
	Subscribe []string `toml:"subscribe"`
}

// SimConfig is the broker of `lintel run --sim`: the default loopback
// listener, open to anonymous clients from loopback addresses, which may
// subscribe to every topic (so a plain `mosquitto_sub -t '#'` works). They
// may not publish changesets: only a portal account may (see Role), and the
// simulator has none; its changesets go through the REST API.
func SimConfig(gatewayID string) Config {
	return Config{
		GatewayID: gatewayID,
		Anonymous: Anonymous{
			Allow:     true,
			Subscribe: []string{"#"},
		},
	}
}

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	c.Listen = cmp.Or(c.Listen, DefaultListen)
	c.MaxClients = cmp.Or(c.MaxClients, DefaultMaxClients)
	c.ReservedForAccounts = cmp.Or(c.ReservedForAccounts, min(DefaultReservedForAccounts, c.MaxClients/2))
	c.QueueLimit = cmp.Or(c.QueueLimit, DefaultQueueLimit)
	c.MaxPacketSize = cmp.Or(c.MaxPacketSize, DefaultMaxPacketSize)
	return c
}

// Validate checks the configuration and returns every problem found, each
// naming its key the way lintel.toml spells it, e.g.
// `broker.clients[1].password_hash: not a bcrypt hash (client "portal")`.
// It reads the TLS certificate and key files.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("broker.%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if err := topic.CheckID(c.GatewayID); err != nil {
		errs = append(errs, fmt.Errorf("gateway id %w", err))
	}
	// checkChanges refuses publish filters that would let a non-portal
	// account, or anonymous clients, publish changesets. The hook refuses
	// such publishes anyway; a filter that asks for them is a mistake
	// worth saying at load.
	checkChanges := func(string, string, []string) {}
	if changes, err := topic.SyncChanges(c.GatewayID); err == nil {
		checkChanges = func(key, who string, filters []string) {
			for i, f := range filters {
				if topic.ValidFilter(f) && topic.Match(f, changes) {
					add(fmt.Sprintf("%s[%d]", key, i), "%q would let %s publish changesets on %s; only role = %q accounts may", f, who, changes, RolePortal)
				}
			}
		}
	}
	// checkCommands does the same for door commands, which only
	// homeassistant accounts may publish.
	checkCommands := func(string, string, []string) {}
	if commands, err := topic.DoorCommandsFilter(c.GatewayID); err == nil {
		checkCommands = func(key, who string, filters []string) {
			for i, f := range filters {
				if topic.ValidFilter(f) && topic.Overlap(f, commands) {
					add(fmt.Sprintf("%s[%d]", key, i), "%q would let %s publish door commands on %s; only role = %q accounts may", f, who, commands, RoleHomeAssistant)
				}
			}
		}
	}

	d := c.withDefaults()
	addrs := map[string]string{} // address -> the key that claimed it
	checkAddr := func(key, addr string) {
		if err := checkListenAddr(addr); err != nil {
			add(key, "%q: %v", addr, err)
			return
		}
		if _, port, _ := net.SplitHostPort(addr); port == "0" {
			return // a port picked by the kernel never collides
		}
		if other, ok := addrs[addr]; ok {
			add(key, "%q is already used by broker.%s", addr, other)
			return
		}
		addrs[addr] = key
	}
	checkAddr("listen", d.Listen)

	if c.TLS != (TLSListener{}) {
		if c.TLS.Listen == "" {
			add("tls.listen", "missing; cert_file and key_file are set but the listener has no address")
		} else {
			checkAddr("tls.listen", c.TLS.Listen)
		}
		switch {
		case c.TLS.CertFile == "":
			add("tls.cert_file", "missing")
		case c.TLS.KeyFile == "":
			add("tls.key_file", "missing")
		default:
			if _, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile); err != nil {
				add("tls", "cert_file %q and key_file %q: %v", c.TLS.CertFile, c.TLS.KeyFile, err)
			}
		}
	}
	if c.WebSocket.Listen != "" {
		checkAddr("websocket.listen", c.WebSocket.Listen)
	}

	a := c.Anonymous
	if !a.Allow && (a.AllowRemote || len(a.Publish) > 0 || len(a.Subscribe) > 0) {
		add("anonymous.allow", "false, but anonymous clients are given allow_remote, publish or subscribe; set allow = true or remove them")
	}
	checkFilters(add, "anonymous.publish", a.Publish)
	checkFilters(add, "anonymous.subscribe", a.Subscribe)
	checkChanges("anonymous.publish", "anonymous clients", a.Publish)
	checkCommands("anonymous.publish", "anonymous clients", a.Publish)

	seen := map[string]int{}
	for i, cl := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		who := fmt.Sprintf(" (client %q)", cl.Username)
		switch {
		case cl.Username == "":
			add(key+".username", "empty; anonymous access is configured under broker.anonymous")
			who = ""
		case len(cl.Username) > 65535 || !utf8.ValidString(cl.Username):
			add(key+".username", "not a UTF-8 string of at most 65535 bytes")
			who = ""
		default:
			if j, dup := seen[cl.Username]; dup {
				add(key+".username", "%q is already broker.clients[%d]", cl.Username, j)
			}
			seen[cl.Username] = i
		}
		if cost, err := bcrypt.Cost([]byte(cl.PasswordHash)); err != nil {
			add(key+".password_hash", "not a bcrypt hash%s; make one with `lintel broker passwd`", who)
		} else if cost > maxBcryptCost {
			add(key+".password_hash", "bcrypt cost %d%s is too slow to check at every connection (at most %d)", cost, who, maxBcryptCost)
		}
		checkFilters(add, key+".publish", cl.Publish)
		checkFilters(add, key+".subscribe", cl.Subscribe)
		switch cl.Role {
		case "", RoleClient:
			checkChanges(key+".publish", strconv.Quote(cl.Username), cl.Publish)
			checkCommands(key+".publish", strconv.Quote(cl.Username), cl.Publish)
		case RolePortal:
		case RoleHomeAssistant:
			checkChanges(key+".publish", strconv.Quote(cl.Username), cl.Publish)
		default:
			add(key+".role", "%q is not a role%s; use %q (the default), %q or %q", cl.Role, who, RoleClient, RolePortal, RoleHomeAssistant)
		}
	}

	for i, f := range c.Reserved {
		if !topic.ValidFilter(f) || strings.HasPrefix(f, "$") || topic.Overlap(f, topic.Prefix+"/#") {
			errs = append(errs, fmt.Errorf("reserved[%d]: %q is not a topic filter outside '$' topics and %s/", i, f, topic.Prefix))
		}
	}

	checkRange := func(key string, v, max int) {
		if v < 0 || v > max {
			add(key, "%d is out of range 0..%d (0 means the default)", v, max)
		}
	}
	checkRange("max_clients", c.MaxClients, 1<<20)
	checkRange("reserved_for_accounts", c.ReservedForAccounts, 1<<20)
	switch {
	case c.ReservedForAccounts < 0 || c.MaxClients < 0:
	case d.ReservedForAccounts > d.MaxClients:
		add("reserved_for_accounts", "%d is more than max_clients (%d)", d.ReservedForAccounts, d.MaxClients)
	case a.Allow && d.ReservedForAccounts == d.MaxClients:
		add("reserved_for_accounts", "%d leaves anonymous clients none of the %d max_clients slots; lower it, raise max_clients or set anonymous.allow = false", d.ReservedForAccounts, d.MaxClients)
	}
	checkRange("queue_limit", c.QueueLimit, 65535)
	checkRange("max_packet_size", c.MaxPacketSize, maxMQTTPacket)

	return errors.Join(errs...)
}

func checkFilters(add func(key, format string, args ...any), key string, filters []string) {
	for i, f := range filters {
		if !topic.ValidFilter(f) {
			add(fmt.Sprintf("%s[%d]", key, i), "%q is not a valid MQTT topic filter ('+' and '#' must fill a whole level, '#' only the last)", f)
		}
	}
}

func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("not a host:port address")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// HashPassword returns the bcrypt hash of password for Client.PasswordHash.
// It refuses an empty password and one longer than bcrypt's 72 bytes.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("broker: hash password: the password is empty")
	}
	if len(password) > 72 {
		return "", errors.New("broker: hash password: longer than 72 bytes, which bcrypt cannot use")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("broker: hash password: %w", err)
	}
	return string(h), nil
}

// knownPasswords are passwords printed in Lintel's own documents, the
// example configuration's "change-me" first: anyone who has read them
// knows them.
var knownPasswords = []string{"change-me"}

// Warnings lists what c allows that is unsafe without being wrong, each
// naming its key as Validate's errors do: an account whose password is
// one printed in Lintel's documents, and anonymous clients allowed from
// any address. It assumes c is valid, and costs one bcrypt comparison
// per account.
func (c Config) Warnings() []error {
	var out []error
	for i, cl := range c.Clients {
		for _, pw := range knownPasswords {
			if bcrypt.CompareHashAndPassword([]byte(cl.PasswordHash), []byte(pw)) == nil {
				out = append(out, fmt.Errorf("broker.clients[%d].password_hash: the password of %q is %q, the example configuration's, which anyone can read; make a new one with `lintel broker passwd`", i, cl.Username, pw))
			}
		}
	}
	if a := c.Anonymous; a.Allow && a.AllowRemote {
		out = append(out, errors.New("broker.anonymous.allow_remote: anonymous clients may connect from any address, so anyone on the network may subscribe and publish as broker.anonymous allows; give them accounts instead"))
	}
	return out
}
