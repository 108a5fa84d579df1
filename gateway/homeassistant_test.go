package gateway

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/homeassistant"
	"github.com/lintel-access/lintel/broker/homeassistant/homeassistanttest"
	"github.com/lintel-access/lintel/broker/topic"
)

const haPassword = "home assistant's password"

// withHomeAssistant turns discovery on, with allow_unlock as given, and
// gives the embedded broker the account Home Assistant connects with.
func withHomeAssistant(t testing.TB, allowUnlock bool) func(*Config) {
	t.Helper()
	hash, err := broker.HashPassword(haPassword)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) {
		c.HomeAssistant = homeassistant.Config{Enabled: true, AllowUnlock: allowUnlock}
		c.Broker.Clients = append(c.Broker.Clients, broker.Client{Username: "homeassistant", Role: broker.RoleHomeAssistant, PasswordHash: hash,
			Publish:   []string{"lintel/v1/lintel-sim/doors/+/set", "homeassistant/status"},
			Subscribe: []string{"homeassistant/#", "lintel/v1/lintel-sim/#"}})
	}
}

// haClient connects to the embedded broker as Home Assistant does: with
// its account and a will of "offline" on homeassistant/status, and
// subscribes to filter; messages arrive on the returned channel.
func haClient(t testing.TB, g *Gateway, filter string) (mqtt.Client, <-chan mqtt.Message) {
	t.Helper()
	got := make(chan mqtt.Message, 256)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://"+g.broker.TCPAddr()).SetClientID("homeassistant").
		SetUsername("homeassistant").SetPassword(haPassword).SetWill("homeassistant/status", "offline", 1, false).
		SetOrderMatters(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect as Home Assistant: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	if tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { got <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return c, got
}

// collect reads n messages, failing after a deadline.
func collect(t testing.TB, got <-chan mqtt.Message, n int, what string) []mqtt.Message {
	t.Helper()
	var out []mqtt.Message
	deadline := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case m := <-got:
			out = append(out, m)
		case <-deadline:
			t.Fatalf("got %d of the %d %s", len(out), n, what)
		}
	}
	return out
}

// The sim's three doors and readers give 17 entities: per door a lock, a
// contact, an alarm and an event entity, per reader a fault sensor, and
// the two gateway sensors.
const simEntities = 3*4 + 3 + 2

// TestHomeAssistantDiscovery reads every discovery config the running
// gateway publishes, as Home Assistant would on connecting: each follows
// Home Assistant's schema, all make one device, each template reads
// fields the real payloads on its topics have, and Home Assistant's
// birth message has them published again.
func TestHomeAssistantDiscovery(t *testing.T) {
	g := startSim(t, withHomeAssistant(t, false))
	ha, configs := haClient(t, g, "homeassistant/+/+/+/config")
	_, states := haClient2(t, g, "lintel/v1/lintel-sim/#")

	// The real payloads: retained door states and status, and one event
	// of a door (a test pulse at the front).
	payloads := map[string]map[string]any{}
	if err := (*backend)(g).PulseDoor("test", "front"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for payloads["lintel/v1/lintel-sim/events/front"] == nil || payloads["lintel/v1/lintel-sim/status"] == nil ||
		len(payloads) < 5 {
		select {
		case m := <-states:
			var v map[string]any
			if json.Unmarshal(m.Payload(), &v) == nil {
				payloads[m.Topic()] = v
			}
		case <-deadline:
			t.Fatalf("the door states, the status's health summary and an event did not all arrive: got %v", keys(payloads))
		}
	}

	msgs := collect(t, configs, simEntities, "discovery configs")
	count := map[string]int{}
	var device any
	for _, m := range msgs {
		if !m.Retained() {
			t.Errorf("%s: not retained; Home Assistant would lose it on a restart", m.Topic())
		}
		c, err := homeassistanttest.Check("homeassistant", m.Topic(), m.Payload())
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		count[c.Component]++
		if device == nil {
			device = c.Keys["device"]
		} else if fmt.Sprint(device) != fmt.Sprint(c.Keys["device"]) {
			t.Errorf("%s: device %v, want the one device %v", m.Topic(), c.Keys["device"], device)
		}
		state := c.Keys["state_topic"].(string)
		if strings.HasPrefix(state, "lintel/v1/lintel-sim/events/") {
			state = "lintel/v1/lintel-sim/events/front" // the payload of every events topic
		}
		p, ok := payloads[state]
		if !ok {
			t.Errorf("%s: state_topic %s carries no payload Lintel publishes", m.Topic(), state)
			continue
		}
		for _, key := range []string{"value_template", "json_attributes_template"} {
			tpl, _ := c.Keys[key].(string)
			for _, f := range homeassistanttest.TemplateFields(tpl) {
				if _, ok := p[f]; !ok {
					t.Errorf("%s: %s reads value_json.%s, which the payload on %s lacks: %v", m.Topic(), key, f, state, p)
				}
			}
		}
	}
	want := map[string]int{"lock": 3, "binary_sensor": 3 + 3 + 3, "event": 3, "sensor": 2}
	if fmt.Sprint(count) != fmt.Sprint(want) {
		t.Errorf("entities by component: got %v, want %v", count, want)
	}

	// Home Assistant's birth message has every config published again.
	if tok := ha.Publish("homeassistant/status", 1, false, "online"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish Home Assistant's birth: %v", tok.Error())
	}
	again := collect(t, configs, simEntities, "configs republished after Home Assistant's birth message")
	for _, m := range again {
		if _, err := homeassistanttest.Check("homeassistant", m.Topic(), m.Payload()); err != nil {
			t.Errorf("republished: %v", err)
		}
	}
}

// haClient2 is a second client of Home Assistant's account, with its own
// client id.
func haClient2(t testing.TB, g *Gateway, filter string) (mqtt.Client, <-chan mqtt.Message) {
	t.Helper()
	got := make(chan mqtt.Message, 256)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + g.broker.TCPAddr()).SetClientID("homeassistant-states").
		SetUsername("homeassistant").SetPassword(haPassword))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect as Home Assistant: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	if tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { got <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return c, got
}

func keys[V any](m map[string]V) []string { return sortedKeys(m) }

// TestHomeAssistantLockPulsesTheDoor sends the lock entity's UNLOCK as Home
// Assistant would: with allow_unlock the real door's strike is energised
// for its pulse and the journal names the account; without it the strike
// stays locked and the refusal is journaled. An anonymous client's command
// never reaches the door.
func TestHomeAssistantLockPulsesTheDoor(t *testing.T) {
	for _, allow := range []bool{true, false} {
		t.Run(fmt.Sprintf("allow_unlock=%v", allow), func(t *testing.T) {
			g := startSim(t, withHomeAssistant(t, allow))
			ha, _ := haClient(t, g, "homeassistant/status")
			relay := simRelay(t, g.hw, "side")
			changes := relay.Watch()
			command, _ := topic.DoorCommand("lintel-sim", "side")
			start := g.store.JournalStats().Last

			anon := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + g.broker.TCPAddr()).SetClientID("anon"))
			if tok := anon.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("connect anonymously: %v", tok.Error())
			}
			defer anon.Disconnect(100)
			refused := g.broker.Stats().PublishesRefused
			anon.Publish(command, 0, false, homeassistant.PayloadUnlock).WaitTimeout(10 * time.Second)

			if tok := ha.Publish(command, 1, false, homeassistant.PayloadUnlock); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatalf("publish UNLOCK: %v", tok.Error())
			}
			if allow {
				waitLevel(t, changes, true)
				ev := waitEvent(t, g, start, named(NameRemoteUnlock))
				if ev.Door != "side" || ev.Actor != "local-broker:homeassistant" {
					t.Errorf("remote unlock event %+v, want door side by local-broker:homeassistant", ev)
				}
				waitLevel(t, changes, false) // the pulse ends by itself
			} else {
				ev := waitEvent(t, g, start, named(NameRemoteUnlockRefused))
				if ev.Door != "side" || ev.Actor != "local-broker:homeassistant" || ev.Detail != "homeassistant.allow_unlock is false" {
					t.Errorf("refusal event %+v, want door side by local-broker:homeassistant, allow_unlock false", ev)
				}
				if relay.High() {
					t.Error("the strike is energised after a refused command")
				}
				select {
				case c := <-changes:
					t.Errorf("the strike changed (%+v) after a refused command", c)
				default:
				}
			}
			if got := g.broker.Stats().PublishesRefused - refused; got != 1 {
				t.Errorf("PublishesRefused grew by %d, want 1 (the anonymous command)", got)
			}
			evs, err := g.store.Events(start, 100)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, ev := range evs {
				if ev.Type == TypeRemoteUnlock || ev.Type == TypeRemoteUnlockRefused {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d remote unlock events, want 1 (Home Assistant's command, not the anonymous one)", n)
			}
		})
	}
}

// TestDocsListEveryEventType holds docs/mqtt.md's list of event types to
// the list Home Assistant's event entities are given.
func TestDocsListEveryEventType(t *testing.T) {
	doc, err := os.ReadFile("../docs/mqtt.md")
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(string(doc), "\nTypes: ")
	if !ok {
		t.Fatal("docs/mqtt.md has no list of event types")
	}
	list, _, _ = strings.Cut(list, "\n\n")
	var documented []string
	for _, m := range regexp.MustCompile("`([a-z_]+\\.[a-z_]+)`").FindAllStringSubmatch(list, -1) {
		documented = append(documented, m[1])
	}
	if diff := cmp.Diff(sortedSet(documented), sortedSet(eventTypes)); diff != "" {
		t.Errorf("event types in docs/mqtt.md (-) and in the gateway's list (+) differ:\n%s", diff)
	}
}

func sortedSet(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
