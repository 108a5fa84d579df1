package api

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a [Server]. The zero value of every field has a useful
// meaning, documented on the field; only Tokens must be set for the API to
// let anyone in.
type Config struct {
	// Addr is the TCP address Run listens on. Empty means
	// "127.0.0.1:8080": loopback only.
	Addr string
	// TLSCertFile and TLSKeyFile, both set, make Run serve HTTPS. Both
	// empty serve plain HTTP; one without the other is an error.
	TLSCertFile string
	TLSKeyFile  string
	// Tokens are the bearer tokens that may call the API. Empty means no
	// one can (except GET /healthz).
	Tokens []Token
	// BodyLimit caps a JSON request body in bytes. Zero means 64 KiB.
	BodyLimit int64
	// SyncBodyLimit caps a changeset posted to /api/v1/sync/changes.
	// Zero means 64 MiB, room for a full sync of 100k users.
	SyncBodyLimit int64
	// Metrics is gathered for GET /metrics. Nil serves an empty
	// registry.
	Metrics prometheus.Gatherer
	// Logger receives one line per request and every internal error.
	// Nil discards. No token, PIN or key press is ever logged.
	Logger *slog.Logger
	// Version is shown on the status page and in /api/v1/status when the
	// backend leaves it empty.
	Version string
	// Now is the clock for sessions, uptime and the bad-token limiter.
	// Nil means time.Now.
	Now func() time.Time
	// SessionTTL is how long a status-page sign-in lasts. Zero means 12h.
	SessionTTL time.Duration
	// Heartbeat is the interval of SSE keep-alive comments. Zero means
	// 15s.
	Heartbeat time.Duration
	// MaxStreams caps the event streams open at once (status pages,
	// "lintel events tail -f"); more are refused with 503. Zero means 32.
	MaxStreams int
	// MaxConns caps the HTTP connections open at once, keep-alive and
	// event streams included; one more is answered 503
	// (too_many_connections) and closed. It must be above MaxStreams, so
	// streams cannot take every connection. Zero means 64.
	MaxConns int
	// MaxStreamsPerToken caps the event streams that one token, with the
	// status-page sessions signed in with it, holds open at once; one
	// more is refused with 429 (too_many_streams), so a single leaked or
	// looping client cannot take every stream. Zero means 8.
	MaxStreamsPerToken int
	// Hosts are the names, besides IP addresses and "localhost", that a
	// request may give in its Host header, e.g. "gw1.site.example" (see
	// [CheckHost]). Any other name is refused with 421, so a page whose
	// name an attacker points at the gateway's address (DNS rebinding)
	// cannot read the API or the status page. Empty accepts IP addresses
	// and localhost only.
	Hosts []string
}

// Role is what a token may do.
type Role string

// Roles.
const (
	// RoleAdmin may do everything.
	RoleAdmin Role = "admin"
	// RoleTechnician may read, use the simulator and test-pulse doors.
	RoleTechnician Role = "technician"
	// RolePortal may only sync.
	RolePortal Role = "portal"
	// RoleMonitor may read /metrics and the status, and nothing else: it
	// is the scrape credential of a monitoring system, which must not be
	// able to open a door or read the user table.
	RoleMonitor Role = "monitor"
)

// Roles lists every role, in the order the documentation gives them.
var Roles = []Role{RoleAdmin, RoleTechnician, RolePortal, RoleMonitor}

// Known reports whether r is one of Roles.
func (r Role) Known() bool { return slices.Contains(Roles, r) }

// Token is one API token. Only its hash is kept.
type Token struct {
	// Name identifies the token in logs, e.g. "admin" or "portal".
	Name string `toml:"name" json:"name"`
	Role Role   `toml:"role" json:"role"`
	// Hash is the lower-case hex SHA-256 of the token ([HashToken]).
	// Tokens are 32 random bytes, so a fast hash is enough: there is
	// nothing to guess by brute force.
	Hash string `toml:"hash" json:"hash"`
}

// NewToken makes a fresh random token and its hash for [Token.Hash]. The
// plain token is shown once, to the person who will use it. It is 43
// characters of unpadded base64url, never starting with '-': one in 64
// would otherwise, and `lintel --token -xyz...` reads that as a flag.
func NewToken() (plain, hash string) {
	var b [32]byte
	for plain == "" || plain[0] == '-' {
		if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
			// crypto/rand does not fail on any platform Lintel runs on.
			panic(fmt.Sprintf("api: new token: %v", err))
		}
		plain = base64.RawURLEncoding.EncodeToString(b[:])
	}
	return plain, HashToken(plain)
}

// HashToken returns the hex SHA-256 of a token.
func HashToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// Defaults of the zero Config fields.
const (
	DefaultAddr          = "127.0.0.1:8080"
	DefaultBodyLimit     = 64 << 10
	DefaultSyncBodyLimit = 64 << 20
	DefaultSessionTTL    = 12 * time.Hour
	DefaultHeartbeat     = 15 * time.Second
	DefaultMaxStreams    = 32
	// DefaultMaxConns is room for the streams and as many requests again.
	DefaultMaxConns           = 64
	DefaultMaxStreamsPerToken = 8
)

func (c Config) withDefaults() Config {
	c.Addr = cmp.Or(c.Addr, DefaultAddr)
	c.BodyLimit = cmp.Or(c.BodyLimit, DefaultBodyLimit)
	c.SyncBodyLimit = cmp.Or(c.SyncBodyLimit, DefaultSyncBodyLimit)
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.SessionTTL = cmp.Or(c.SessionTTL, DefaultSessionTTL)
	c.Heartbeat = cmp.Or(c.Heartbeat, DefaultHeartbeat)
	c.MaxStreams = cmp.Or(c.MaxStreams, DefaultMaxStreams)
	c.MaxConns = cmp.Or(c.MaxConns, DefaultMaxConns)
	c.MaxStreamsPerToken = cmp.Or(c.MaxStreamsPerToken, DefaultMaxStreamsPerToken)
	return c
}

// Validate checks c. Errors name the field.
func (c Config) Validate() error {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("tls: set both the certificate and the key file, or neither")
	}
	if c.BodyLimit < 0 || c.SyncBodyLimit < 0 {
		return fmt.Errorf("body limits must not be negative")
	}
	if c.SessionTTL < 0 || c.Heartbeat < 0 {
		return fmt.Errorf("durations must not be negative")
	}
	if c.MaxStreams < 0 || c.MaxConns < 0 || c.MaxStreamsPerToken < 0 {
		return fmt.Errorf("max streams and max connections must not be negative")
	}
	if d := c.withDefaults(); d.MaxStreams >= d.MaxConns {
		return fmt.Errorf("max streams (%d) must be fewer than max connections (%d), or event streams could take every connection", d.MaxStreams, d.MaxConns)
	}
	for i, h := range c.Hosts {
		if err := CheckHost(h); err != nil {
			return fmt.Errorf("hosts[%d]: %w", i, err)
		}
	}
	names := make(map[string]bool, len(c.Tokens))
	for i, t := range c.Tokens {
		where := fmt.Sprintf("tokens[%d] (%q)", i, t.Name)
		if t.Name == "" {
			return fmt.Errorf("tokens[%d]: name is empty", i)
		}
		if names[t.Name] {
			return fmt.Errorf("%s: name is used twice", where)
		}
		names[t.Name] = true
		if !t.Role.Known() {
			return fmt.Errorf("%s: role: %q is not a role (want admin, technician, portal or monitor)", where, t.Role)
		}
		if b, err := hex.DecodeString(t.Hash); err != nil || len(b) != sha256.Size {
			return fmt.Errorf("%s: hash: want the 64 hex digits of the token's SHA-256", where)
		}
	}
	return nil
}

// Warnings lists what c allows that is unsafe without being wrong, each
// starting with the field's name as the configuration spells it
// ("listen: ..."): an address other than loopback served without TLS, over
// which tokens, session cookies and PINs would cross the network in plain
// text. It assumes c is valid.
func (c Config) Warnings() []error {
	c = c.withDefaults()
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil || c.TLSCertFile != "" {
		return nil
	}
	ip, perr := netip.ParseAddr(host)
	if strings.EqualFold(host, "localhost") || perr == nil && ip.Unmap().IsLoopback() {
		return nil
	}
	return []error{fmt.Errorf("listen: %q is reachable from the network and serves plain HTTP: tokens, session cookies and PINs cross it readable; set tls_cert and tls_key, or listen on 127.0.0.1", c.Addr)}
}
