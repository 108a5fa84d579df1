package broker_test

import (
	"log/slog"
	"os"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/topic"
)

// The gateway's use of the broker: start it, publish events and retained
// door states, take changesets from local portals, close it at shutdown.
func Example() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	changes, _ := topic.SyncChanges("gw1")
	cfg := broker.SimConfig("gw1")
	hash, _ := broker.HashPassword("the portal's password")
	cfg.Clients = []broker.Client{{
		Username: "portal", Role: broker.RolePortal, PasswordHash: hash,
		Publish: []string{changes},
	}}
	b, err := broker.New(cfg, log)
	if err != nil {
		log.Error("broker config", "error", err)
		return
	}
	if err := b.Start(); err != nil { // retained status "online"
		log.Error("broker start", "error", err)
		return
	}
	defer b.Close() // retained status "offline"

	door, _ := topic.Door("gw1", "front")
	b.Publish(door, []byte(`{"door":"front","locked":true}`), true) //nolint:errcheck // an example.

	acks, _ := topic.SyncAcks("gw1")
	b.SubscribeMessages(changes, func(m broker.Message) { //nolint:errcheck // an example.
		// m.Payload is a changeset; m.Username ("portal") is the portal
		// account that sent it, to journal as the actor.
		b.Publish(acks, []byte(`{"applied":true}`), false) //nolint:errcheck // an example.
	})
}
