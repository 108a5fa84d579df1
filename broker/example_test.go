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
	b, err := broker.New(broker.SimConfig("gw1"), log)
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

	changes, _ := topic.SyncChanges("gw1")
	acks, _ := topic.SyncAcks("gw1")
	b.Subscribe(changes, func(_ string, changeset []byte) { //nolint:errcheck // an example.
		b.Publish(acks, []byte(`{"applied":true}`), false) //nolint:errcheck // an example.
	})
}
