package main

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/api/client"
	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/homeassistant/homeassistanttest"
	"github.com/lintel-access/lintel/gateway/access"
)

// TestHomeAssistantOverMosquittoClients runs the real binary with Home
// Assistant discovery on and reads it as Home Assistant's MQTT
// integration would, with the real mosquitto clients on the embedded
// broker: every retained discovery config follows Home Assistant's schema,
// Home Assistant's birth message has them all published again, and its
// UNLOCK command pulses the door, journaled with the account that sent
// it.
func TestHomeAssistantOverMosquittoClients(t *testing.T) {
	const (
		gw       = "lintel-ha"
		password = "ha-secret-e2e"
		entities = 3*4 + 3 + 2 // per door 4, per reader 1, the gateway 2
	)
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		t.Fatal("mosquitto_pub is not installed; build/test installs Debian's mosquitto-clients")
	}
	hash, err := broker.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	token, tokenHash := api.NewToken()
	mqtt := freePort(t)
	g := startSimConfig(t, gw, tokenHash, mqtt, fmt.Sprintf(`[gateway]
log_level = "warn"

[broker]
listen = %q
[[broker.clients]]
username = "homeassistant"
role = "homeassistant"
password_hash = %q
publish = ["lintel/v1/%[3]s/doors/+/set", "homeassistant/status"]
subscribe = ["homeassistant/#", "lintel/v1/%[3]s/#"]

[homeassistant]
enabled = true
allow_unlock = true
`, mqtt, hash, gw))
	account := []string{"-u", "homeassistant", "-P", password}
	configs := subscribeAs(t, g, append(account, "-F", "%t %r %p"), "homeassistant/#")
	// subscribeAs has read one config to know the subscription is live;
	// the test counts all of them again from the republish below.
	doors := subscribeAs(t, g, account, "lintel/v1/"+gw+"/doors/garage")

	read := func(what string, retained string, n int) map[string]homeassistanttest.Config {
		t.Helper()
		got := map[string]homeassistanttest.Config{}
		for len(got) < n {
			configs.next(t, fmt.Sprintf("%s (%d of %d)", what, len(got)+1, n), func(topic, rest string) bool {
				flag, payload, _ := strings.Cut(rest, " ")
				if flag != retained || !strings.HasSuffix(topic, "/config") {
					return false
				}
				c, err := homeassistanttest.Check("homeassistant", topic, []byte(payload))
				if err != nil {
					t.Errorf("%v", err)
				}
				got[topic] = c
				return true
			})
		}
		return got
	}
	host, port, _ := net.SplitHostPort(mqtt)
	publish := func(topic, msg string) {
		t.Helper()
		out, err := exec.Command(pub, append([]string{"-h", host, "-p", port, "-q", "1", "-t", topic, "-m", msg}, account...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_pub %s: %v\n%s", topic, err, out)
		}
	}

	// Home Assistant comes online: every config again, to this live
	// subscription (so not as retained).
	publish("homeassistant/status", "online")
	again := read("config republished after homeassistant/status online", "0", entities)
	components := map[string]int{}
	for _, c := range again {
		components[c.Component]++
	}
	if want := map[string]int{"lock": 3, "binary_sensor": 3 + 3 + 3, "event": 3, "sensor": 2}; fmt.Sprint(components) != fmt.Sprint(want) {
		t.Errorf("components %v, want %v", components, want)
	}

	// A lock's UNLOCK, on the command topic its config names.
	var cmd string
	var lock homeassistanttest.Config
	for _, c := range again {
		if tp, _ := c.Keys["command_topic"].(string); c.Component == "lock" && strings.HasSuffix(tp, "/doors/garage/set") {
			cmd, lock = tp, c
		}
	}
	if cmd == "" {
		t.Fatalf("no lock of the garage among the configs")
	}
	unlock, _ := lock.Keys["payload_unlock"].(string)
	if unlock == "" {
		unlock = "UNLOCK"
	}
	publish(cmd, unlock)
	doors.next(t, "the garage unlocked by Home Assistant", func(_, payload string) bool { return strings.Contains(payload, `"locked":false`) })

	pc := &policyClient{t: t, g: g, c: client.New("http://"+g.api, token)}
	pc.wait("door.remote_unlock by local-broker:homeassistant", func(ev access.Event) bool {
		return ev.Door == "garage" && ev.Type == "door.remote_unlock" && ev.Actor == "local-broker:homeassistant"
	})
	g.stop(t)
}
