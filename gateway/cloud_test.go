package gateway

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/lintel-access/lintel/broker/mosquittotest"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/uplink"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

// cloudConfig points a sim gateway's uplink at a test mosquitto.
func cloudConfig(url string) func(*Config) {
	return func(c *Config) {
		c.Uplink = uplink.Config{URL: url, BackoffMin: 100 * time.Millisecond, BackoffMax: 500 * time.Millisecond}
	}
}

// eventNames extracts the activity-log names of event messages.
func eventNames(t testing.TB, msgs []uplinktest.Message) []string {
	var out []string
	for _, m := range msgs {
		var ev access.Event
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			t.Fatalf("event on %s is not JSON: %v", m.Topic, err)
		}
		out = append(out, ev.Name)
	}
	return out
}

// TestCloudUplinkDeliversAcrossOutage is the journal's promise at the door:
// events made while the cloud broker is down arrive, in order, once it is
// back.
func TestCloudUplinkDeliversAcrossOutage(t *testing.T) {
	cloud := mosquittotest.StartWith(t, mosquittotest.Config{Persist: true})
	// Subscribed before the gateway starts: its first events go up at once.
	sub := uplinktest.SubscribePersistent(t, cloud.URL(), "portal-events", "lintel/v1/lintel-sim/events/#")
	g := startSim(t, cloudConfig(cloud.URL()))

	if err := g.hw.sim.Card("garage", "H10301", 9, 1); err != nil {
		t.Fatal(err)
	}
	sub.WaitFor(t, 20*time.Second, "the first denial", func(m []uplinktest.Message) bool {
		for _, n := range eventNames(t, m) {
			if n == access.NameDenyCardNotFound {
				return true
			}
		}
		return false
	})

	cloud.Stop()
	before := g.store.JournalStats().Last
	for i := range 5 {
		if err := g.hw.sim.Card("garage", "H10301", 9, uint64(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent(t, g, before, func(ev access.Event) bool { return ev.Seq >= before+5 })
	if st := g.uplink.State(); st.Connected {
		t.Errorf("uplink says connected while the cloud broker is down")
	}
	last := g.store.JournalStats().Last
	cloud.Restart()

	msgs := sub.WaitFor(t, 30*time.Second, "every event made during the outage", func(m []uplinktest.Message) bool {
		seqs := uplinktest.Seqs(t, m)
		return len(seqs) > 0 && seqs[len(seqs)-1] >= last
	})
	if err := uplinktest.CheckDelivery(uplinktest.Seqs(t, msgs), 1, last); err != nil {
		t.Fatalf("delivery after the outage: %v", err)
	}
	// The cursor moves once the PUBACKs are in; give it a moment.
	deadline := time.Now().Add(10 * time.Second)
	for g.store.JournalStats().Undelivered > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("journal still says %d undelivered after the drain", g.store.JournalStats().Undelivered)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCloudChangesetRevokesPIN is the sync promise: a changeset published on
// the cloud broker that clears a user's PIN makes that PIN fail at the door,
// and the ack on sync/acks says which revision is applied.
func TestCloudChangesetRevokesPIN(t *testing.T) {
	cloud := mosquittotest.Start(t)
	g := startSim(t, cloudConfig(cloud.URL()))
	acks := uplinktest.Subscribe(t, cloud.URL(), "lintel/v1/lintel-sim/sync/acks")

	publish := func(payload string) {
		t.Helper()
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(cloud.URL()).SetClientID("portal"))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("portal connect: %v", tok.Error())
		}
		defer c.Disconnect(100)
		if tok := c.Publish("lintel/v1/lintel-sim/sync/changes", 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("portal publish: %v", tok.Error())
		}
	}
	waitAck := func(rev uint64) changeset.Ack {
		t.Helper()
		var ack changeset.Ack
		acks.WaitFor(t, 20*time.Second, fmt.Sprintf("an ack of revision %d", rev), func(m []uplinktest.Message) bool {
			for _, msg := range m {
				var a changeset.Ack
				if json.Unmarshal(msg.Payload, &a) == nil && a.Revision == rev && a.Status == changeset.StatusApplied {
					ack = a
					return true
				}
			}
			return false
		})
		return ack
	}

	publish(`{"revision":1,"base":0,"ops":[
		{"op":"user.upsert","user":"dan","name":"Dan","enabled":true},
		{"op":"pin.set","user":"dan","pin":"24680"}]}`)
	waitAck(1)
	start := g.store.JournalStats().Last
	if err := g.hw.sim.Keys("side", "24680#"); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, g, start, decision); ev.Name != access.NameGrantPIN {
		t.Fatalf("PIN before the revocation: %q, want a grant", ev.Name)
	}

	publish(`{"revision":2,"base":1,"ops":[{"op":"pin.clear","user":"dan"}]}`)
	ack := waitAck(2)
	if ack.Counts.PINs != 0 {
		t.Errorf("ack of revision 2 counts %d PINs, want 0", ack.Counts.PINs)
	}
	// Each changeset from the cloud is audited as the portal's.
	var audit []string
	for _, ev := range syncEvents(t, g, 0) {
		audit = append(audit, ev.Detail)
	}
	if want := []string{
		`revision 1 applied by portal: user.upsert user "dan"; pin.set user "dan" (now 1 users, 0 credentials, 1 PINs)`,
		`revision 2 applied by portal: pin.clear user "dan" (now 1 users, 0 credentials, 0 PINs)`,
	}; !slices.Equal(audit, want) {
		t.Errorf("audit events: got %q, want %q", audit, want)
	}
	start = g.store.JournalStats().Last
	if err := g.hw.sim.Keys("side", "24680#"); err != nil {
		t.Fatal(err)
	}
	if ev := waitEvent(t, g, start, decision); ev.Name != access.NameDenyCardPINNotFound {
		t.Fatalf("PIN after the revocation: %q, want %q", ev.Name, access.NameDenyCardPINNotFound)
	}
}

func decision(ev access.Event) bool {
	return ev.Type == access.TypeGranted || ev.Type == access.TypeDenied
}
