// Package homeassistanttest checks MQTT discovery configs against Home
// Assistant's documented schema, as Home Assistant itself would read them:
// the discovery topic's form, the abbreviations it expands, the keys each
// component (lock, binary_sensor, sensor, event) takes, those it requires,
// their types and enumerations, and the device and origin blocks.
//
// The schema is written here from Home Assistant's MQTT documentation
// ("MQTT Discovery", with its table of supported abbreviations, and the
// pages of the MQTT lock, binary sensor, sensor and event) and its
// discovery schemas (homeassistant/components/mqtt: the entity common
// schema, MQTT_RO_SCHEMA and MQTT_RW_SCHEMA, and each platform's
// schema), for the components Lintel publishes. Home Assistant accepts
// unknown keys in a discovery payload and drops them; Check refuses them,
// since an unknown key here is a typo that Home Assistant would silently
// ignore.
package homeassistanttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/lintel-access/lintel/broker/topic"
)

// Abbreviations are the abbreviated keys Home Assistant expands in a
// discovery payload (the part of its table for the components below).
var Abbreviations = map[string]string{
	"avty":           "availability",
	"avty_mode":      "availability_mode",
	"avty_t":         "availability_topic",
	"avty_tpl":       "availability_template",
	"cmd_t":          "command_topic",
	"cmd_tpl":        "command_template",
	"dev":            "device",
	"dev_cla":        "device_class",
	"e":              "encoding",
	"en":             "enabled_by_default",
	"ent_cat":        "entity_category",
	"ent_pic":        "entity_picture",
	"evt_typ":        "event_types",
	"exp_aft":        "expire_after",
	"frc_upd":        "force_update",
	"ic":             "icon",
	"json_attr_t":    "json_attributes_topic",
	"json_attr_tpl":  "json_attributes_template",
	"lrst_val_tpl":   "last_reset_value_template",
	"o":              "origin",
	"obj_id":         "object_id",
	"off_dly":        "off_delay",
	"ops":            "options",
	"opt":            "optimistic",
	"pl_avail":       "payload_available",
	"pl_lock":        "payload_lock",
	"pl_not_avail":   "payload_not_available",
	"pl_off":         "payload_off",
	"pl_on":          "payload_on",
	"pl_open":        "payload_open",
	"pl_unlk":        "payload_unlock",
	"ret":            "retain",
	"stat_cla":       "state_class",
	"stat_jam":       "state_jammed",
	"stat_locked":    "state_locked",
	"stat_locking":   "state_locking",
	"stat_t":         "state_topic",
	"stat_unlocked":  "state_unlocked",
	"stat_unlocking": "state_unlocking",
	"sug_dsp_prc":    "suggested_display_precision",
	"t":              "topic",
	"uniq_id":        "unique_id",
	"unit_of_meas":   "unit_of_measurement",
	"val_tpl":        "value_template",
}

// DeviceAbbreviations are those of the device block.
var DeviceAbbreviations = map[string]string{
	"cns": "connections", "cu": "configuration_url", "ids": "identifiers", "name": "name",
	"mf": "manufacturer", "mdl": "model", "mdl_id": "model_id", "hw": "hw_version",
	"sw": "sw_version", "sa": "suggested_area", "sn": "serial_number",
}

// OriginAbbreviations are those of the origin block.
var OriginAbbreviations = map[string]string{"name": "name", "sw": "sw_version", "url": "support_url"}

// kind is the JSON type a key takes.
type kind int

const (
	str kind = iota
	boolean
	integer
	qos
	strList
	object
	availabilityList
	subscribeTopic
	publishTopic
)

// common are the keys every entity component takes: the entity common
// schema (availability, device, origin, ...) and the base schema (qos,
// encoding).
var common = map[string]kind{
	"availability": availabilityList, "availability_mode": str, "availability_template": str,
	"availability_topic": subscribeTopic, "payload_available": str, "payload_not_available": str,
	"device": object, "origin": object, "enabled_by_default": boolean, "entity_category": str,
	"entity_picture": str, "icon": str, "json_attributes_topic": subscribeTopic,
	"json_attributes_template": str, "object_id": str, "default_entity_id": str, "unique_id": str,
	"name": str, "qos": qos, "encoding": str,
}

// Component is what one component's discovery config takes beyond common.
type Component struct {
	Keys     map[string]kind
	Required []string
	// DeviceClasses are the values device_class may take; nil when the
	// component has none.
	DeviceClasses []string
}

// Components are the components Lintel publishes.
var Components = map[string]Component{
	"lock": {Keys: map[string]kind{
		"command_topic": publishTopic, "optimistic": boolean, "retain": boolean, "state_topic": subscribeTopic,
		"code_format": str, "command_template": str, "payload_lock": str, "payload_unlock": str,
		"payload_open": str, "state_jammed": str, "state_locked": str, "state_locking": str,
		"state_unlocked": str, "state_unlocking": str, "value_template": str,
	}, Required: []string{"command_topic"}},
	"binary_sensor": {Keys: map[string]kind{
		"state_topic": subscribeTopic, "value_template": str, "device_class": str, "expire_after": integer,
		"force_update": boolean, "off_delay": integer, "payload_off": str, "payload_on": str,
	}, Required: []string{"state_topic"}, DeviceClasses: []string{
		"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door",
		"gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug",
		"power", "presence", "problem", "running", "safety", "smoke", "sound", "tamper", "update",
		"vibration", "window",
	}},
	"sensor": {Keys: map[string]kind{
		"state_topic": subscribeTopic, "value_template": str, "device_class": str, "expire_after": integer,
		"force_update": boolean, "last_reset_value_template": str, "state_class": str,
		"unit_of_measurement": str, "suggested_display_precision": integer, "options": strList,
	}, Required: []string{"state_topic"}},
	"event": {Keys: map[string]kind{
		"state_topic": subscribeTopic, "value_template": str, "device_class": str, "event_types": strList,
	}, Required: []string{"state_topic", "event_types"}, DeviceClasses: []string{"button", "doorbell", "motion"}},
}

var (
	entityCategories = []string{"config", "diagnostic"}
	stateClasses     = []string{"measurement", "measurement_angle", "total", "total_increasing"}
	idLevel          = `[a-zA-Z0-9_-]+`
)

// Config is a discovery config as Home Assistant reads it: its component,
// node and object ids, and its keys expanded.
type Config struct {
	Component, Node, Object string
	Keys                    map[string]any // full key names; device and origin expanded too
}

// Check reads a discovery message published under prefix and returns the
// config, or every way it breaks the schema.
func Check(prefix, name string, payload []byte) (Config, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `/([a-z_]+)/(?:(` + idLevel + `)/)?(` + idLevel + `)/config$`)
	m := re.FindStringSubmatch(name)
	if m == nil {
		return Config{}, fmt.Errorf("%s: not a discovery topic <%s>/<component>/[<node_id>/]<object_id>/config with ids of [a-zA-Z0-9_-]", name, prefix)
	}
	c := Config{Component: m[1], Node: m[2], Object: m[3]}
	comp, ok := Components[c.Component]
	if !ok {
		return c, fmt.Errorf("%s: component %q is not one of those checked", name, c.Component)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return c, fmt.Errorf("%s: the payload is not a JSON object: %v", name, err)
	}
	c.Keys = map[string]any{}
	for _, k := range sortedKeys(raw) {
		full := k
		if f, ok := Abbreviations[k]; ok {
			full = f
		}
		if _, dup := c.Keys[full]; dup {
			fail("%s: %q is given twice, abbreviated and in full", name, full)
			continue
		}
		kd, known := common[full]
		if !known {
			kd, known = comp.Keys[full]
		}
		if !known {
			fail("%s: %q is not a key of %s (nor an abbreviation of one)", name, k, c.Component)
			continue
		}
		v, err := checkValue(full, kd, raw[k])
		if err != nil {
			fail("%s: %s: %v", name, full, err)
			continue
		}
		c.Keys[full] = v
	}
	for _, r := range comp.Required {
		if _, ok := c.Keys[r]; !ok {
			fail("%s: %s requires %q", name, c.Component, r)
		}
	}
	if dc, ok := c.Keys["device_class"].(string); ok && !slices.Contains(comp.DeviceClasses, dc) && comp.DeviceClasses != nil {
		fail("%s: device_class %q is not one of %s's", name, dc, c.Component)
	}
	if ec, ok := c.Keys["entity_category"].(string); ok && !slices.Contains(entityCategories, ec) {
		fail("%s: entity_category %q is not one of %v", name, ec, entityCategories)
	}
	if sc, ok := c.Keys["state_class"].(string); ok && !slices.Contains(stateClasses, sc) {
		fail("%s: state_class %q is not one of %v", name, sc, stateClasses)
	}
	if _, both := c.Keys["availability"]; both {
		if _, t := c.Keys["availability_topic"]; t {
			fail("%s: availability and availability_topic are exclusive", name)
		}
	}
	if d, ok := c.Keys["device"]; ok {
		dev, err := expandBlock(d, DeviceAbbreviations)
		switch {
		case err != nil:
			fail("%s: device: %v", name, err)
		case dev["identifiers"] == nil && dev["connections"] == nil:
			fail("%s: device: needs identifiers or connections", name)
		default:
			c.Keys["device"] = dev
		}
		if _, ok := c.Keys["unique_id"]; !ok {
			fail("%s: a device is only kept with a unique_id", name)
		}
	}
	if o, ok := c.Keys["origin"]; ok {
		org, err := expandBlock(o, OriginAbbreviations)
		switch {
		case err != nil:
			fail("%s: origin: %v", name, err)
		case org["name"] == nil:
			fail("%s: origin: requires name", name)
		default:
			c.Keys["origin"] = org
		}
	}
	if c.Component == "event" {
		if ts, _ := c.Keys["event_types"].([]string); len(ts) == 0 {
			fail("%s: event_types is empty", name)
		}
	}
	return c, errors.Join(errs...)
}

func checkValue(key string, kd kind, raw json.RawMessage) (any, error) {
	switch kd {
	case str, subscribeTopic, publishTopic:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("want a string, got %s", raw)
		}
		switch {
		case kd == subscribeTopic && !topic.ValidFilter(s):
			return nil, fmt.Errorf("%q is not a topic to subscribe to", s)
		case kd == publishTopic && !topic.ValidName(s):
			return nil, fmt.Errorf("%q is not a topic to publish on (no wildcards)", s)
		}
		return s, nil
	case boolean:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fmt.Errorf("want true or false, got %s", raw)
		}
		return b, nil
	case integer, qos:
		var n int
		if err := json.Unmarshal(raw, &n); err != nil || n < 0 || kd == qos && n > 2 {
			return nil, fmt.Errorf("want a whole number (a QoS of 0, 1 or 2), got %s", raw)
		}
		return n, nil
	case strList:
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("want a list of strings, got %s", raw)
		}
		return l, nil
	case object:
		var o map[string]json.RawMessage
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, fmt.Errorf("want an object, got %s", raw)
		}
		return o, nil
	case availabilityList:
		var l []map[string]any
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("want a list of objects, got %s", raw)
		}
		return l, nil
	}
	return nil, fmt.Errorf("no rule for %s", key)
}

// expandBlock expands the keys of a device or origin block, refusing
// unknown ones.
func expandBlock(v any, abbr map[string]string) (map[string]any, error) {
	raw := v.(map[string]json.RawMessage)
	out := map[string]any{}
	full := map[string]bool{}
	for _, f := range abbr {
		full[f] = true
	}
	for _, k := range sortedKeys(raw) {
		name := k
		if f, ok := abbr[k]; ok {
			name = f
		} else if !full[k] {
			return nil, fmt.Errorf("%q is not a key (nor an abbreviation of one)", k)
		}
		var x any
		if err := json.Unmarshal(raw[k], &x); err != nil {
			return nil, err
		}
		if name == "identifiers" {
			if s, ok := x.(string); ok {
				x = []any{s}
			}
		}
		out[name] = x
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TemplateFields returns the fields of the state payload a template
// reads (value_json.NAME), so a test can check them against the payload.
func TemplateFields(tpl string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`value_json\.([a-z_]+)`).FindAllStringSubmatch(tpl, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// String lists a config's keys, for failure messages.
func (c Config) String() string {
	return fmt.Sprintf("%s %s/%s %s", c.Component, c.Node, c.Object, strings.Join(sortedKeys(c.Keys), ","))
}
