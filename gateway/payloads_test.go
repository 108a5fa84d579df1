package gateway

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/broker/homeassistant"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/sync/changeset"
)

// update rewrites the golden files of the MQTT payloads:
// go test ./gateway -run TestMQTTPayloadsMatchGolden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/mqtt from the payload structs")

// goldenTime is the time of every golden payload.
var goldenTime = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// goldenPayload is one payload the gateway sends, built from the real
// struct it sends it from, and the AsyncAPI message it is one of.
type goldenPayload struct {
	file    string // in testdata/mqtt
	message string // the message of docs/asyncapi.yaml's components
	value   any
}

func goldenPayloads(t testing.TB) []goldenPayload {
	op := 1
	sim := SimDefaults()
	g := &Gateway{cfg: sim, hw: &hardware{}}
	site := g.haSite()
	for i, d := range site.Doors {
		for name, r := range sim.Readers {
			if r.Door == d.Name {
				site.Doors[i].Reader = name // what the running gateway's hardware says
			}
		}
	}
	site.Version = "v1.0.0"
	discovery, err := homeassistant.Discovery(homeassistant.Config{Enabled: true}, site)
	if err != nil {
		t.Fatal(err)
	}
	configs := map[string]json.RawMessage{}
	for _, m := range discovery {
		configs[m.Topic] = m.Payload
	}
	return []goldenPayload{
		{"event-denied.json", "Event", access.Event{Seq: 12, ID: "lintel-01-12", Time: goldenTime, Type: access.TypeDenied,
			Name: access.NameDenyWrongPIN, Reader: "front", Door: "front", User: "u1", Credential: "01JDQ8Z5N1V6W3X0Y2A4B6C8D0"}},
		{"event-remote-unlock.json", "Event", access.Event{Seq: 13, ID: "lintel-01-13", Time: goldenTime, ClockUntrusted: true,
			Type: TypeRemoteUnlock, Name: NameRemoteUnlock, Reader: "front", Door: "front", Actor: "local-broker:homeassistant",
			Detail: "Home Assistant lock command"}},
		{"event-gateway.json", "Event", access.Event{Seq: 1, ID: "lintel-01-1", Time: goldenTime, Type: "gateway.started",
			Name: "Gateway Started", Detail: "version v1.0.0"}},
		{"status.json", "Health", health{State: "online", Gateway: "lintel-01", Version: "v1.0.0", Time: goldenTime,
			UptimeSeconds: 3600, Healthy: true, ClockTrusted: true, DoorsLocked: 2, DoorsAlarmed: []string{"front"},
			ReaderFaults: []string{}, Undelivered: 3, Pending: 0, Lost: 0, Revision: 42}},
		{"door.json", "DoorState", doorState{Door: "front", Locked: true, Open: true, Alarms: []string{"held_open"},
			Mode: access.DoorMode(access.ModeCardAndPIN), ModeSource: "reader", ModeReason: `reader "front"'s configured mode (card_and_pin)`, Time: goldenTime}},
		{"door-scheduled.json", "DoorState", doorState{Door: "lobby", Locked: false, Open: false, Alarms: []string{},
			Mode: access.ModeUnlocked, ModeSource: "schedule", ModeReason: `schedule "office" (unlocked)`, Schedule: "office",
			NextChange: goldenTime.Add(9 * time.Hour), NextMode: access.DoorMode(access.ModeCardOnly), Time: goldenTime}},
		{"ack-applied.json", "Ack", changeset.Ack{Status: changeset.StatusApplied, Revision: 12, Received: 12, Time: goldenTime,
			Counts: changeset.Counts{Users: 2481, Credentials: 2630, PINs: 2244},
			Digest: "9c1f0e6b2d4a58c3f7e21b9a0d6c4e8f1a3b5c7d9e0f2a4b6c8d0e1f3a5b7c9d",
			PINs:   []changeset.GeneratedPIN{{Op: 2, User: "u2", PIN: "507316"}}}},
		{"ack-refused.json", "Ack", changeset.Ack{Status: changeset.StatusRefused, Revision: 11, Received: 12, Time: goldenTime,
			Counts: changeset.Counts{Users: 2481, Credentials: 2630, PINs: 2244},
			Digest: "9c1f0e6b2d4a58c3f7e21b9a0d6c4e8f1a3b5c7d9e0f2a4b6c8d0e1f3a5b7c9d",
			Error:  &changeset.Error{Code: changeset.CodePINInUse, Op: &op, Path: "ops[1].pin", Message: `pin.set user "u3": set pin for "u3": pin is held by another user`}}},
		{"ack-current.json", "Ack", changeset.Ack{Status: changeset.StatusCurrent, Revision: 0, Time: goldenTime,
			Digest: "0000000000000000000000000000000000000000000000000000000000000000"}},
		{"discovery.json", "HomeAssistantDiscovery", configs},
	}
}

// TestMQTTPayloadsMatchGolden holds the payload structs the gateway
// publishes (events, the health summary, door states, acks, Home
// Assistant's discovery configs) to the golden files in testdata/mqtt,
// which TestGoldenPayloadsFollowAsyncAPI holds to docs/asyncapi.yaml. A
// change of a payload is made on purpose: rerun with -update and read the
// diff.
func TestMQTTPayloadsMatchGolden(t *testing.T) {
	for _, p := range goldenPayloads(t) {
		t.Run(p.file, func(t *testing.T) {
			b := mustJSON(p.value)
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", "mqtt", p.file)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./gateway -run TestMQTTPayloadsMatchGolden -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), pretty.String()); diff != "" {
				t.Errorf("%s changed (-golden +now); if on purpose, rerun with -update:\n%s", path, diff)
			}
		})
	}
}
