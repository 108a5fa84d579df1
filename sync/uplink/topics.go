package uplink

import (
	"fmt"

	"github.com/lintel-access/lintel/broker/topic"
)

// topics are the fixed topics of one gateway, from the topic contract
// (package broker/topic, after DESIGN.md).
type topics struct {
	status, changes, acks string
}

func newTopics(gw string) (topics, error) {
	var t topics
	var err error
	if t.status, err = topic.Status(gw); err != nil {
		return t, err
	}
	if t.changes, err = topic.SyncChanges(gw); err != nil {
		return t, err
	}
	if t.acks, err = topic.SyncAcks(gw); err != nil {
		return t, err
	}
	return t, nil
}

// readerNone is the topic segment of events that have no reader.
const readerNone = "gateway"

// eventTopics builds and remembers the events topic of each reader, for
// one session.
type eventTopics struct {
	u     *Uplink
	known map[string]string // reader → topic
}

// maxKnownReaders bounds eventTopics' memory; a gateway has a handful.
const maxKnownReaders = 256

// of returns the events topic of reader. A reader name that cannot be a
// topic level (the gateway's configuration should have refused it) is
// published under "gateway", rather than dropped or allowed to spill into
// other topics, and logged once.
func (e *eventTopics) of(reader string) string {
	if t, ok := e.known[reader]; ok {
		return t
	}
	t, err := topic.Events(e.u.gw, reader)
	if err != nil {
		e.u.log.Warn("event published under "+readerNone, "err", err)
		t, _ = topic.Events(e.u.gw, readerNone) // the gateway id was checked by New
	}
	if len(e.known) < maxKnownReaders {
		e.known[reader] = t
	}
	return t
}

// checkRetained reports whether name is a retained topic of gateway gw:
// its status or a door's state.
func checkRetained(gw, name string) error {
	t, err := topic.Parse(name)
	if err != nil {
		return err
	}
	if t.Gateway != gw {
		return fmt.Errorf("topic %q belongs to gateway %q, not %q", name, t.Gateway, gw)
	}
	if t.Kind != topic.KindStatus && t.Kind != topic.KindDoor {
		return fmt.Errorf("topic %q is not a status or door topic (it is %s)", name, t.Kind)
	}
	return nil
}
