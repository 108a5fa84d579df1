package uplink

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config says where the cloud broker is and how the uplink talks to it. It
// is read from the [uplink] table of the gateway's configuration; the toml
// tags are the key names used there and in Validate's errors.
//
// Every field but URL may be left at its zero value, which means the
// documented default.
type Config struct {
	// URL is the cloud broker: tcp://host[:port] (plain MQTT, default port
	// 1883), ssl://, tls:// (MQTT over TLS, default port 8883), ws://
	// host[:port][/path] or wss:// (MQTT over a WebSocket, default ports 80
	// and 443). Required. Credentials do not belong in the URL; use Username
	// and Password (or PasswordFile).
	URL string `toml:"url"`

	// ClientID is the MQTT client identifier. Empty means the gateway id.
	// Two gateways with the same client id would take turns kicking each
	// other off the broker.
	ClientID string `toml:"client_id"`

	// Username and Password authenticate to the broker. Empty Username
	// means no credentials are sent. The password is never logged.
	Username string `toml:"username"`
	Password string `toml:"password"`

	// PasswordFile names a file holding the password instead, so that the
	// secret need not sit in the configuration file: the password is the
	// file's content without one trailing newline ("\n" or "\r\n"). It is
	// read when the configuration is checked and when the uplink is
	// created, that is at every start; change the file, then restart.
	// Mutually exclusive with Password.
	PasswordFile string `toml:"password_file"`

	// CAFile is a PEM file of the certificate authorities trusted for the
	// broker's certificate (ssl, tls and wss only). Empty means the
	// system's roots.
	CAFile string `toml:"ca_file"`

	// CertFile and KeyFile are the PEM client certificate and its key for
	// brokers that authenticate clients by certificate (ssl, tls and wss
	// only). Both or neither. Empty means no client certificate.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`

	// KeepAlive is the MQTT keep-alive interval, and also how long the
	// uplink waits for a PINGRESP before it declares the connection dead.
	// Zero means 30 s; at least 1 s, whole seconds.
	KeepAlive time.Duration `toml:"keepalive"`

	// ConnectTimeout bounds one connection attempt, from dialling to the
	// broker's CONNACK. Zero means 10 s.
	ConnectTimeout time.Duration `toml:"connect_timeout"`

	// AckTimeout is how long the oldest unacknowledged publish may wait for
	// its PUBACK (and a subscribe for its SUBACK) before the uplink gives up
	// on the connection and reconnects. It also bounds how long one publish
	// may wait to be written. Zero means 30 s.
	AckTimeout time.Duration `toml:"ack_timeout"`

	// BackoffMin and BackoffMax bound the wait between connection attempts:
	// it doubles from BackoffMin after each failure up to BackoffMax, with
	// jitter. Zero means 500 ms and 60 s (or BackoffMin, if that is
	// larger). BackoffMax must not be below BackoffMin.
	BackoffMin time.Duration `toml:"backoff_min"`
	BackoffMax time.Duration `toml:"backoff_max"`

	// Window is how many event publishes may await their PUBACK at once.
	// Zero means 256; at most 10000. A backlog drains at most a window per
	// round trip to the broker: with 50 ms to it, 256 is about 4,000
	// events a second (3,900 measured), 1024 about 15,000. A larger window
	// holds more in memory while a backlog drains (two windows of events:
	// one in flight, one read ahead), resends more after a dropped
	// connection, and makes a broker that acknowledges fewer than Window
	// events per AckTimeout look stalled.
	Window int `toml:"window"`
}

// Defaults for the zero values of Config.
const (
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultAckTimeout     = 30 * time.Second
	DefaultBackoffMin     = 500 * time.Millisecond
	DefaultBackoffMax     = 60 * time.Second
	DefaultWindow         = 256
	maxWindow             = 10000
)

// schemes maps each URL scheme the uplink accepts to its default port and
// whether it runs over TLS.
var schemes = map[string]struct {
	port string
	tls  bool
}{
	"tcp": {"1883", false},
	"ssl": {"8883", true},
	"tls": {"8883", true},
	"ws":  {"80", false},
	"wss": {"443", true},
}

// Validate checks c without touching the network. It reads the CA,
// certificate and key files, since a file that cannot be loaded is a
// configuration error best reported at start. Errors name the key, e.g.
// `uplink.url: unsupported scheme "http"`; the caller adds the file name.
func (c Config) Validate() error {
	if _, err := c.brokerURL(); err != nil {
		return err
	}
	if c.ClientID != "" {
		if err := checkUTF8Field("uplink.client_id", c.ClientID); err != nil {
			return err
		}
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("uplink.password: set without uplink.username")
	}
	if _, err := c.password(); err != nil {
		return err
	}
	if c.Username != "" {
		if err := checkUTF8Field("uplink.username", c.Username); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"uplink.keepalive", c.KeepAlive},
		{"uplink.connect_timeout", c.ConnectTimeout},
		{"uplink.ack_timeout", c.AckTimeout},
		{"uplink.backoff_min", c.BackoffMin},
		{"uplink.backoff_max", c.BackoffMax},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s: must not be negative, got %v", d.key, d.v)
		}
	}
	if c.KeepAlive != 0 && (c.KeepAlive < time.Second || c.KeepAlive%time.Second != 0) {
		return fmt.Errorf("uplink.keepalive: must be whole seconds, at least 1s, got %v", c.KeepAlive)
	}
	if c.KeepAlive > 65535*time.Second {
		return fmt.Errorf("uplink.keepalive: at most 18h12m15s (65535 s), got %v", c.KeepAlive)
	}
	d := c.withDefaults()
	if d.BackoffMax < d.BackoffMin {
		return fmt.Errorf("uplink.backoff_max: %v is below uplink.backoff_min %v", d.BackoffMax, d.BackoffMin)
	}
	if c.Window < 0 || c.Window > maxWindow {
		return fmt.Errorf("uplink.window: must be between 1 and %d (0 for %d), got %d", maxWindow, DefaultWindow, c.Window)
	}
	if _, err := c.tlsConfig(); err != nil {
		return err
	}
	return nil
}

// maxPassword is the longest password MQTT can carry.
const maxPassword = 65535

// password returns the password to send: Password, or the content of
// PasswordFile. Its errors name the key and the file, never the content.
func (c Config) password() (string, error) {
	if c.PasswordFile == "" {
		return c.Password, nil
	}
	if c.Password != "" {
		return "", errors.New("uplink.password_file: set together with uplink.password; give the password one way or the other")
	}
	if c.Username == "" {
		return "", errors.New("uplink.password_file: set without uplink.username")
	}
	f, err := os.Open(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("uplink.password_file: %w", err)
	}
	defer f.Close()
	// Read one byte more than a password with its newline can take, so an
	// oversized file (the wrong file) is noticed without reading all of it.
	b, err := io.ReadAll(io.LimitReader(f, maxPassword+3))
	if err != nil {
		return "", fmt.Errorf("uplink.password_file: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	switch {
	case pw == "":
		return "", fmt.Errorf("uplink.password_file: %s is empty", c.PasswordFile)
	case len(pw) > maxPassword:
		return "", fmt.Errorf("uplink.password_file: %s is longer than MQTT's %d bytes", c.PasswordFile, maxPassword)
	case strings.ContainsAny(pw, "\r\n"):
		return "", fmt.Errorf("uplink.password_file: %s holds more than one line; the password is the whole file but for one trailing newline", c.PasswordFile)
	}
	return pw, nil
}

func checkUTF8Field(key, v string) error {
	if len(v) > 65535 {
		return fmt.Errorf("%s: longer than MQTT's 65535 bytes", key)
	}
	if strings.ContainsRune(v, 0) {
		return fmt.Errorf("%s: contains a NUL character", key)
	}
	if strings.ToValidUTF8(v, "\uFFFD") != v {
		return fmt.Errorf("%s: not valid UTF-8", key)
	}
	return nil
}

// brokerURL parses and checks URL and returns it with the default port
// filled in, the form paho is given.
func (c Config) brokerURL() (*url.URL, error) {
	if strings.TrimSpace(c.URL) == "" {
		return nil, errors.New("uplink.url: required (e.g. ssl://broker.example.com:8883)")
	}
	shown := redactURL(c.URL)
	u, err := url.Parse(c.URL)
	if err != nil {
		// url.Error repeats the whole URL; the parse reason is enough.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("uplink.url: %q is not a URL: %w", shown, err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("uplink.url: %q has no scheme (want tcp://, ssl://, tls://, ws:// or wss://)", shown)
	}
	sch, ok := schemes[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("uplink.url: unsupported scheme %q (want tcp, ssl, tls, ws or wss)", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, fmt.Errorf("uplink.url: %q: write %s://host:port", shown, u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("uplink.url: must not carry credentials; use uplink.username and uplink.password")
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("uplink.url: %q has no host", shown)
	}
	bracketed := strings.HasPrefix(u.Host, "[")
	if !bracketed && strings.Count(u.Host, ":") > 1 {
		return nil, fmt.Errorf("uplink.url: %q: an IPv6 address must be in brackets, as in tcp://[::1]:1883", shown)
	}
	if err := checkHost(host, bracketed); err != nil {
		return nil, fmt.Errorf("uplink.url: %q: %w", shown, err)
	}
	port := u.Port()
	if port == "" {
		if strings.HasSuffix(u.Host, ":") {
			return nil, fmt.Errorf("uplink.url: %q has an empty port", shown)
		}
		port = sch.port
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, fmt.Errorf("uplink.url: port %q is not a number from 1 to 65535", port)
	}
	websocket := u.Scheme == "ws" || u.Scheme == "wss"
	if !websocket && u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("uplink.url: a path (%q) is only meaningful for ws:// and wss://", u.Path)
	}
	if !websocket && u.RawQuery != "" {
		return nil, fmt.Errorf("uplink.url: a query (%q) is only meaningful for ws:// and wss://", u.RawQuery)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("uplink.url: a fragment (%q) has no meaning for a broker", u.Fragment)
	}
	out := *u
	out.Host = net.JoinHostPort(host, port)
	if !websocket {
		out.Path, out.RawPath, out.RawQuery, out.ForceQuery = "", "", "", false
	}
	return &out, nil
}

// checkHost accepts an IP address (IPv6 in brackets) or a DNS name in
// ASCII (an internationalised name in its xn-- form).
func checkHost(host string, bracketed bool) error {
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is6() && !a.Is4In6() && !bracketed {
			return fmt.Errorf("IPv6 address %s must be in brackets, as in [%s]:1883", host, host)
		}
		if bracketed && !a.Is6() {
			return fmt.Errorf("host %q in brackets is not an IPv6 address", host)
		}
		return nil
	}
	if bracketed {
		return fmt.Errorf("host %q in brackets is not an IPv6 address", host)
	}
	if len(host) > 253 {
		return fmt.Errorf("host name longer than 253 characters")
	}
	for _, r := range host {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_'
		if !ok {
			return fmt.Errorf("host %q: %q is not allowed in a host name (use the xn-- form of an international name)", host, r)
		}
	}
	return nil
}

// tlsConfig builds the TLS configuration the URL's scheme needs, or nil
// for a plain connection. TLS files with a plain scheme are an error: the
// operator meant something and it would silently not happen.
func (c Config) tlsConfig() (*tls.Config, error) {
	u, err := c.brokerURL()
	if err != nil {
		return nil, err
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		if c.CertFile == "" {
			return nil, errors.New("uplink.cert_file: required when uplink.key_file is set")
		}
		return nil, errors.New("uplink.key_file: required when uplink.cert_file is set")
	}
	if !schemes[u.Scheme].tls {
		for _, f := range []struct{ key, v string }{
			{"uplink.ca_file", c.CAFile},
			{"uplink.cert_file", c.CertFile},
		} {
			if f.v != "" {
				return nil, fmt.Errorf("%s: set, but uplink.url scheme %q does not use TLS (use ssl://, tls:// or wss://)", f.key, u.Scheme)
			}
		}
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("uplink.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("uplink.ca_file: %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("uplink.cert_file, uplink.key_file: load %s and %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.KeepAlive = cmp.Or(c.KeepAlive, DefaultKeepAlive)
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, DefaultConnectTimeout)
	c.AckTimeout = cmp.Or(c.AckTimeout, DefaultAckTimeout)
	c.BackoffMin = cmp.Or(c.BackoffMin, DefaultBackoffMin)
	c.BackoffMax = cmp.Or(c.BackoffMax, max(DefaultBackoffMax, c.BackoffMin))
	c.Window = cmp.Or(c.Window, DefaultWindow)
	return c
}

// redactURL hides anything that may be credentials (user info before an
// "@") in a URL quoted in an error message.
func redactURL(s string) string {
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + len("://")
	}
	if at := strings.LastIndex(s, "@"); at >= start {
		return s[:start] + "REDACTED@" + s[at+1:]
	}
	return s
}

// Warnings lists what c allows that is unsafe without being wrong, each
// naming its key like Validate's errors: a plain-text connection (tcp://,
// ws://) to a broker that is not on this machine, over which changesets
// carrying PINs, the events and the broker password travel readable by
// anyone on the path. It assumes c is valid.
func (c Config) Warnings() []error {
	u, err := url.Parse(c.URL)
	if err != nil || c.URL == "" {
		return nil
	}
	if sch, ok := schemes[u.Scheme]; !ok || sch.tls || isLoopbackHost(u.Hostname()) {
		return nil
	}
	return []error{fmt.Errorf("uplink.url: %s:// is plain text: changesets with PINs, the events and the broker password cross the network readable; use ssl:// (or wss://) and the broker's TLS port", u.Scheme)}
}

// isLoopbackHost reports whether host names this machine: "localhost" or
// a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
