package homeassistant_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/homeassistant"
	"github.com/lintel-access/lintel/broker/homeassistant/homeassistanttest"
	"github.com/lintel-access/lintel/broker/topic"
)

var site = homeassistant.Site{
	Gateway: "gw.1",
	Version: "v1.2.3",
	Doors: []homeassistant.Door{
		{Name: "front", Reader: "front", Contact: true},
		{Name: "back.door", Reader: "back"},
		{Name: "store"},
	},
	Readers:    []homeassistant.Reader{{Name: "front", Model: "RPK40"}, {Name: "back", Model: "RP40"}},
	EventTypes: []string{"access.granted", "access.denied", "door.forced"},
}

// The fields of the payloads the templates read.
var (
	doorFields   = []string{"door", "locked", "open", "alarms", "mode", "time"}
	statusFields = []string{"state", "reader_faults", "journal_undelivered", "sync_revision", "doors_alarmed"}
	eventFields  = []string{"seq", "id", "time", "type", "name", "reader", "door", "user", "detail", "actor"}
)

// TestDiscoveryFollowsHomeAssistantsSchema reads every discovery config
// as Home Assistant would and checks it against its schema, then what
// Lintel promises: one device, one entity per thing, the right topics,
// and templates that read fields the payloads have.
func TestDiscoveryFollowsHomeAssistantsSchema(t *testing.T) {
	msgs, err := homeassistant.Discovery(homeassistant.Config{Enabled: true}, site)
	if err != nil {
		t.Fatal(err)
	}
	status, _ := topic.Status(site.Gateway)
	byKind := map[string][]string{}
	uniq := map[string]bool{}
	var device any
	for _, m := range msgs {
		c, err := homeassistanttest.Check("homeassistant", m.Topic, m.Payload)
		if err != nil {
			t.Errorf("%s", err)
			continue
		}
		byKind[c.Component] = append(byKind[c.Component], c.Object)
		id := c.Keys["unique_id"].(string)
		if uniq[id] {
			t.Errorf("%s: unique_id %q is used twice", m.Topic, id)
		}
		uniq[id] = true
		if device == nil {
			device = c.Keys["device"]
		} else if diff := cmp.Diff(device, c.Keys["device"]); diff != "" {
			t.Errorf("%s: another device than the first config's (-first +this):\n%s", m.Topic, diff)
		}
		if c.Node != "gw_1_"+c.Node[5:] || !strings.HasPrefix(c.Node, "gw_1_") {
			t.Errorf("%s: node %q, want the gateway id made a topic level (gw_1_ and a hash)", m.Topic, c.Node)
		}
		if got := c.Keys["availability_topic"]; got != status {
			t.Errorf("%s: availability_topic %v, want %s", m.Topic, got, status)
		}
		state := c.Keys["state_topic"].(string)
		kind, _ := topic.Parse(state)
		fields := map[topic.Kind][]string{topic.KindDoor: doorFields, topic.KindStatus: statusFields, topic.KindEvents: eventFields}[kind.Kind]
		if fields == nil {
			t.Errorf("%s: state_topic %s is not a door, status or events topic", m.Topic, state)
		}
		for _, key := range []string{"value_template", "json_attributes_template"} {
			tpl, _ := c.Keys[key].(string)
			for _, f := range homeassistanttest.TemplateFields(tpl) {
				if !slices.Contains(fields, f) {
					t.Errorf("%s: %s reads value_json.%s, which the %s payload does not have", m.Topic, key, f, kind.Kind)
				}
			}
		}
		if c.Component == "lock" {
			door := kind.Name
			want, _ := topic.DoorCommand(site.Gateway, door)
			if got := c.Keys["command_topic"]; got != want {
				t.Errorf("%s: command_topic %v, want %s", m.Topic, got, want)
			}
		}
	}
	want := map[string][]string{
		"lock":          {"door_front", "door_back_door_" + byKind["lock"][1][len("door_back_door_"):], "door_store"},
		"binary_sensor": nil,
		"event":         nil,
		"sensor":        {"journal_undelivered", "sync_revision"},
	}
	if n := len(byKind["lock"]); n != 3 {
		t.Errorf("got %d locks, want one per door (3)", n)
	} else if diff := cmp.Diff(byKind["lock"], want["lock"]); diff != "" {
		t.Errorf("locks (-got +want):\n%s", diff)
	}
	// front: open and alarm; back.door and store: alarm; two readers.
	if n := len(byKind["binary_sensor"]); n != 1+3+2 {
		t.Errorf("got %d binary sensors, want 6 (a contact, 3 alarms, 2 reader faults): %v", n, byKind["binary_sensor"])
	}
	if n := len(byKind["event"]); n != 3 {
		t.Errorf("got %d event entities, want one per door (3)", n)
	}
	if diff := cmp.Diff(byKind["sensor"], want["sensor"]); diff != "" {
		t.Errorf("sensors (-got +want):\n%s", diff)
	}
}

// TestCheckRefusesWhatHomeAssistantWouldNot makes sure the schema check
// can fail: each payload breaks one rule.
func TestCheckRefusesWhatHomeAssistantWouldNot(t *testing.T) {
	dev := `"dev":{"ids":["x"]},"uniq_id":"u"`
	for _, tc := range []struct {
		name, topic, payload, want string
	}{
		{"ok", "homeassistant/lock/n/o/config", `{"cmd_t":"a/set",` + dev + `}`, ""},
		{"no command topic", "homeassistant/lock/n/o/config", `{"stat_t":"a",` + dev + `}`, `lock requires "command_topic"`},
		{"wildcard command topic", "homeassistant/lock/n/o/config", `{"cmd_t":"a/+",` + dev + `}`, "not a topic to publish on"},
		{"unknown key", "homeassistant/binary_sensor/n/o/config", `{"stat_t":"a","stat_tmpl":"x",` + dev + `}`, `"stat_tmpl" is not a key`},
		{"twice", "homeassistant/binary_sensor/n/o/config", `{"stat_t":"a","state_topic":"a",` + dev + `}`, "given twice"},
		{"device class", "homeassistant/binary_sensor/n/o/config", `{"stat_t":"a","dev_cla":"doorway",` + dev + `}`, `device_class "doorway"`},
		{"event types", "homeassistant/event/n/o/config", `{"stat_t":"a",` + dev + `}`, `event requires "event_types"`},
		{"device without ids", "homeassistant/sensor/n/o/config", `{"stat_t":"a","dev":{"name":"x"},"uniq_id":"u"}`, "needs identifiers"},
		{"device without unique id", "homeassistant/sensor/n/o/config", `{"stat_t":"a","dev":{"ids":"x"}}`, "only kept with a unique_id"},
		{"origin without name", "homeassistant/sensor/n/o/config", `{"stat_t":"a","o":{"sw":"1"},` + dev + `}`, "origin: requires name"},
		{"bad object id", "homeassistant/sensor/n/o.1/config", `{"stat_t":"a"}`, "not a discovery topic"},
		{"qos", "homeassistant/sensor/n/o/config", `{"stat_t":"a","qos":3,` + dev + `}`, "QoS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := homeassistanttest.Check("homeassistant", tc.topic, []byte(tc.payload))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"", true}, {"homeassistant", true}, {"site/ha", true},
		{"ha/#", false}, {"$SYS", false}, {"/ha", false}, {"ha/", false}, {"lintel/v1/gw", false},
	} {
		err := homeassistant.Config{DiscoveryPrefix: tc.prefix}.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("discovery_prefix %q: got %v, want ok %v", tc.prefix, err, tc.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "homeassistant.discovery_prefix: ") {
			t.Errorf("discovery_prefix %q: got %q, want it to name the key", tc.prefix, err)
		}
	}
	if got := homeassistant.ReservedFilter(homeassistant.Config{}, "gw1"); got != "homeassistant/+/gw1/+/config" {
		t.Errorf("ReservedFilter = %q", got)
	}
}

// fakeBroker is the broker's two methods in memory.
type fakeBroker struct {
	mu        sync.Mutex
	published []string // topics, in order
	retained  int
	handlers  map[string]func(broker.Message)
}

func (f *fakeBroker) Publish(name string, _ []byte, retain bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published = append(f.published, name)
	if retain {
		f.retained++
	}
	return nil
}

func (f *fakeBroker) SubscribeMessages(filter string, h func(broker.Message)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.handlers == nil {
		f.handlers = map[string]func(broker.Message){}
	}
	f.handlers[filter] = h
	return nil
}

// deliver hands a client's message to the handler whose filter matches.
func (f *fakeBroker) deliver(t *testing.T, name, payload, username string) {
	t.Helper()
	f.mu.Lock()
	var h func(broker.Message)
	for filter, fn := range f.handlers {
		if topic.Match(filter, name) {
			h = fn
		}
	}
	f.mu.Unlock()
	if h == nil {
		t.Fatalf("nothing subscribed to %s", name)
	}
	h(broker.Message{Topic: name, Payload: []byte(payload), Username: username, Role: broker.RoleHomeAssistant})
}

// fakeDoors records what it is asked.
type fakeDoors struct {
	calls []string
	err   error
}

func (d *fakeDoors) Unlock(door, account string) error {
	d.calls = append(d.calls, "unlock "+door+" by "+account)
	return d.err
}

func (d *fakeDoors) Refused(door, account, reason string) {
	d.calls = append(d.calls, "refused "+door+" by "+account+": "+reason)
}

// TestBridgeRepublishesAndObeysOnlyWhenAllowed: Start publishes every
// config retained, Home Assistant's "online" republishes them, and a lock
// command pulses the door only with allow_unlock.
func TestBridgeRepublishesAndObeysOnlyWhenAllowed(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow_unlock=%v", allow), func(t *testing.T) {
			b, doors := &fakeBroker{}, &fakeDoors{}
			br, err := homeassistant.New(homeassistant.Config{Enabled: true, AllowUnlock: allow}, site, b, doors, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := br.Start(); err != nil {
				t.Fatal(err)
			}
			n := len(br.Discovery())
			if b.retained != n || len(b.published) != n {
				t.Fatalf("Start published %d messages, %d retained; want the %d configs, retained", len(b.published), b.retained, n)
			}
			b.deliver(t, "homeassistant/status", "offline", "ha")
			b.deliver(t, "homeassistant/status", "online", "ha")
			if b.retained != 2*n {
				t.Errorf("after Home Assistant's offline and online: %d retained publishes, want %d (one republish)", b.retained, 2*n)
			}
			cmdTopic, _ := topic.DoorCommand(site.Gateway, "front")
			b.deliver(t, cmdTopic, "UNLOCK", "ha")
			b.deliver(t, cmdTopic, "LOCK", "ha")
			b.deliver(t, cmdTopic, "OPEN", "ha")
			want := []string{`refused front by ha: "OPEN" is not a door command (want UNLOCK or LOCK)`}
			if allow {
				want = append([]string{"unlock front by ha"}, want...)
			} else {
				want = append([]string{"refused front by ha: homeassistant.allow_unlock is false"}, want...)
			}
			if diff := cmp.Diff(doors.calls, want); diff != "" {
				t.Errorf("door calls (-got +want):\n%s", diff)
			}
		})
	}
	b, doors := &fakeBroker{}, &fakeDoors{err: errors.New("the door is in lockdown mode")}
	br, err := homeassistant.New(homeassistant.Config{Enabled: true, AllowUnlock: true}, site, b, doors, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Start(); err != nil {
		t.Fatal(err)
	}
	cmdTopic, _ := topic.DoorCommand(site.Gateway, "store")
	b.deliver(t, cmdTopic, "UNLOCK", "ha")
	if diff := cmp.Diff(doors.calls, []string{"unlock store by ha", "refused store by ha: the door is in lockdown mode"}); diff != "" {
		t.Errorf("a refused unlock (-got +want):\n%s", diff)
	}
}
