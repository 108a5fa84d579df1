package homeassistant

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lintel-access/lintel/broker/topic"
)

// DefaultDiscoveryPrefix is Home Assistant's own default discovery prefix.
const DefaultDiscoveryPrefix = "homeassistant"

// Config is the [homeassistant] table of lintel.toml. The zero value is
// off.
type Config struct {
	// Enabled publishes the discovery configs on the embedded broker.
	Enabled bool `toml:"enabled"`
	// DiscoveryPrefix is the first level of the discovery topics, as
	// configured in Home Assistant's MQTT integration. Zero:
	// DefaultDiscoveryPrefix.
	DiscoveryPrefix string `toml:"discovery_prefix"`
	// AllowUnlock lets the lock entities unlock: "UNLOCK" on a door's
	// command topic pulses the door for its unlock time. Zero: false, and
	// every command is refused and journaled.
	AllowUnlock bool `toml:"allow_unlock"`
}

// WithDefaults returns c with its zero values replaced by the defaults.
func (c Config) WithDefaults() Config {
	c.DiscoveryPrefix = cmp.Or(c.DiscoveryPrefix, DefaultDiscoveryPrefix)
	return c
}

// Validate checks c; its errors name the key as lintel.toml spells it,
// e.g. `homeassistant.discovery_prefix: "ha/#" ...`.
func (c Config) Validate() error {
	p := c.WithDefaults().DiscoveryPrefix
	if !topic.ValidName(p) || strings.HasPrefix(p, "$") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || topic.InNamespace(p) {
		return fmt.Errorf("homeassistant.discovery_prefix: %q is not a topic prefix: want topic levels without wildcards, not starting with '$' or '/', outside %s/ (Home Assistant's default is %q)", p, topic.Prefix, DefaultDiscoveryPrefix)
	}
	return nil
}

// StatusTopic is where Home Assistant announces itself ("online", its
// birth message) and says goodbye ("offline", its will).
func (c Config) StatusTopic() string { return c.WithDefaults().DiscoveryPrefix + "/status" }

// ReservedFilter matches the discovery topics of gateway gw, which only the
// gateway may publish on (broker.Config.Reserved).
func ReservedFilter(c Config, gw string) string {
	return c.WithDefaults().DiscoveryPrefix + "/+/" + nodeID(gw) + "/+/config"
}

// Site is what Home Assistant is told about: the gateway, its doors and
// readers, and the event types its journal may carry.
type Site struct {
	Gateway string // the gateway id
	Version string // the gateway's version
	Doors   []Door
	Readers []Reader
	// EventTypes are the event types the door event entities know; an
	// event of another type reaches Home Assistant as "other".
	EventTypes []string
}

// Door is one door of the site.
type Door struct {
	Name string
	// Reader is the reader at the door, whose events topic carries the
	// door's events; empty for a door without one (its events are on the
	// gateway's events topic).
	Reader string
	// Contact says the door has a contact, so that open and closed mean
	// something.
	Contact bool
}

// Reader is one reader of the site.
type Reader struct {
	Name  string
	Model string
}

// Message is one discovery config: its topic and its payload, published
// retained.
type Message struct {
	Topic   string
	Payload []byte
}

// OtherEvent is the event type of an event whose type is not one of
// Site.EventTypes.
const OtherEvent = "other"

// gatewayEvents is the reader level of the topic of events that concern
// no reader (DESIGN.md).
const gatewayEvents = "gateway"

// The templates, in Home Assistant's Jinja. value_json is absent when the
// payload is not JSON (the status topic's plain "online" and "offline"),
// and a template that renders nothing leaves the entity as it was.
const (
	availabilityTemplate = "{{ 'offline' if value == 'offline' else 'online' }}"
	lockedTemplate       = "{{ 'LOCKED' if value_json.locked else 'UNLOCKED' }}"
	openTemplate         = "{{ 'ON' if value_json.open else 'OFF' }}"
	alarmTemplate        = "{{ 'ON' if value_json.alarms else 'OFF' }}"
	alarmAttrsTemplate   = "{{ {'alarms': value_json.alarms} | tojson }}"
)

// Lock payloads, Home Assistant's defaults, spelt out.
const (
	PayloadLock   = "LOCK"
	PayloadUnlock = "UNLOCK"
)

// Discovery returns the discovery config of every entity of site, in a
// stable order. The payloads use Home Assistant's abbreviated keys.
func Discovery(cfg Config, site Site) ([]Message, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(site.EventTypes) == 0 {
		return nil, errors.New("homeassistant: discovery: the site names no event types")
	}
	status, err := topic.Status(site.Gateway)
	if err != nil {
		return nil, fmt.Errorf("homeassistant: discovery: %w", err)
	}
	node := nodeID(site.Gateway)
	device := map[string]any{
		"ids":  []string{"lintel_" + node},
		"name": "Lintel " + site.Gateway,
		"mf":   "Lintel",
		"mdl":  "Access-control gateway",
		"sw":   site.Version,
	}
	origin := map[string]any{"name": "Lintel", "sw": site.Version}
	var out []Message
	add := func(component, object string, entity map[string]any) {
		entity["uniq_id"] = "lintel_" + node + "_" + object
		entity["dev"] = device
		entity["o"] = origin
		entity["avty_t"] = status
		entity["avty_tpl"] = availabilityTemplate
		b, err := json.Marshal(entity)
		if err != nil {
			panic(err) // maps of strings, bools, numbers and lists
		}
		out = append(out, Message{Topic: cfg.DiscoveryPrefix + "/" + component + "/" + node + "/" + object + "/config", Payload: b})
	}
	types := "[" + quoteAll(site.EventTypes) + "]"
	for _, d := range site.Doors {
		state, err := topic.Door(site.Gateway, d.Name)
		if err != nil {
			return nil, fmt.Errorf("homeassistant: discovery: %w", err)
		}
		command, _ := topic.DoorCommand(site.Gateway, d.Name)
		events, err := topic.Events(site.Gateway, cmp.Or(d.Reader, gatewayEvents))
		if err != nil {
			return nil, fmt.Errorf("homeassistant: discovery: %w", err)
		}
		obj := "door_" + objectID(d.Name)
		add("lock", obj, map[string]any{
			"name": d.Name, "stat_t": state, "val_tpl": lockedTemplate,
			"cmd_t": command, "pl_lock": PayloadLock, "pl_unlk": PayloadUnlock,
			"stat_locked": "LOCKED", "stat_unlocked": "UNLOCKED", "qos": 1,
		})
		if d.Contact {
			add("binary_sensor", obj+"_open", map[string]any{
				"name": d.Name + " door", "dev_cla": "door", "stat_t": state, "val_tpl": openTemplate,
			})
		}
		add("binary_sensor", obj+"_alarm", map[string]any{
			"name": d.Name + " alarm", "dev_cla": "problem", "stat_t": state, "val_tpl": alarmTemplate,
			"json_attr_t": state, "json_attr_tpl": alarmAttrsTemplate,
		})
		add("event", obj+"_access", map[string]any{
			"name": d.Name + " access", "stat_t": events, "qos": 1,
			"evt_typ": append(slices.Clone(site.EventTypes), OtherEvent),
			"val_tpl": "{% if value_json.door == " + quote(d.Name) + " %}{% set t = value_json.type %}" +
				"{{ dict(value_json, event_type=t if t in " + types + " else " + quote(OtherEvent) + ") | tojson }}{% endif %}",
		})
	}
	for _, r := range site.Readers {
		if err := topic.CheckID(r.Name); err != nil {
			return nil, fmt.Errorf("homeassistant: discovery: reader name %w", err)
		}
		add("binary_sensor", "reader_"+objectID(r.Name)+"_fault", map[string]any{
			"name": r.Name + " reader fault", "dev_cla": "problem", "ent_cat": "diagnostic", "stat_t": status,
			"val_tpl": "{% if value_json is defined %}{{ 'ON' if " + quote(r.Name) + " in value_json.reader_faults else 'OFF' }}{% endif %}",
		})
	}
	add("sensor", "journal_undelivered", map[string]any{
		"name": "Undelivered events", "stat_t": status, "stat_cla": "measurement", "ent_cat": "diagnostic",
		"val_tpl": "{% if value_json is defined %}{{ value_json.journal_undelivered }}{% endif %}",
	})
	add("sensor", "sync_revision", map[string]any{
		"name": "Sync revision", "stat_t": status, "stat_cla": "measurement", "ent_cat": "diagnostic",
		"val_tpl": "{% if value_json is defined %}{{ value_json.sync_revision }}{% endif %}",
	})
	return out, nil
}

// quote is s as a Jinja string literal. Names and event types are
// topic.CheckID's characters, which need no escaping.
func quote(s string) string { return "'" + s + "'" }

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}

// objectID is name as a level of a discovery topic, which Home Assistant
// allows only letters, digits, '_' and '-' (a Lintel name may also hold
// '.'): name itself when it fits, else name with its other characters
// replaced by '_' and 8 hex digits of its hash appended, so that two
// names never share an id.
func objectID(name string) string {
	ok := true
	b := []byte(name)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			b[i], ok = '_', false
		}
	}
	if ok {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return string(b) + "_" + hex.EncodeToString(sum[:4])
}

// nodeID is the node level of the gateway's discovery topics.
func nodeID(gw string) string { return objectID(gw) }
