package portal

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/lintel-access/lintel/broker/topic"
)

// Event is one journal event of a gateway, as it arrived from the cloud
// broker.
type Event struct {
	// Gateway is the gateway the event belongs to, taken from the topic:
	// the broker's ACL lets a gateway publish on its own topics only, so
	// the topic, not the payload, says who sent it.
	Gateway string
	// Reader is the topic's last level: the event's reader, or "gateway".
	Reader string
	// Seq is the gateway's journal sequence: gap-free and increasing per
	// gateway. ID is "<gateway>-<seq>", the key to de-duplicate on.
	Seq uint64
	ID  string
	// Payload is the event JSON exactly as the gateway journaled it (see
	// docs/mqtt.md).
	Payload []byte
}

// ParseEvent reads an event message: a topic lintel/v1/{gw}/events/{reader}
// and a payload whose seq is at least 1 and whose id is "{gw}-{seq}". An
// event whose id names another gateway, or another seq, is refused: it is
// not what the gateway journaled. Other fields of the payload are not
// looked at, so events may gain fields without the portal breaking.
func ParseEvent(topicName string, payload []byte) (Event, error) {
	t, err := topic.Parse(topicName)
	if err != nil {
		return Event{}, fmt.Errorf("portal: event: %w", err)
	}
	if t.Kind != topic.KindEvents {
		return Event{}, fmt.Errorf("portal: event: topic %q is a %s topic, not an events topic", topicName, t.Kind)
	}
	var head struct {
		Seq *uint64 `json:"seq"`
		ID  *string `json:"id"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		return Event{}, fmt.Errorf("portal: event on %q: not a JSON event: %w", topicName, err)
	}
	switch {
	case head.Seq == nil:
		return Event{}, fmt.Errorf("portal: event on %q: no seq", topicName)
	case *head.Seq == 0:
		return Event{}, fmt.Errorf("portal: event on %q: seq 0 (sequences start at 1)", topicName)
	case head.ID == nil:
		return Event{}, fmt.Errorf("portal: event %d on %q: no id", *head.Seq, topicName)
	}
	if want := t.Gateway + "-" + strconv.FormatUint(*head.Seq, 10); *head.ID != want {
		return Event{}, fmt.Errorf("portal: event %d on %q: id %q, want %q", *head.Seq, topicName, *head.ID, want)
	}
	return Event{Gateway: t.Gateway, Reader: t.Name, Seq: *head.Seq, ID: *head.ID, Payload: payload}, nil
}
