package topic

import (
	"errors"
	"fmt"
	"strings"
)

// Prefix is the first two levels of every Lintel topic. The version level
// changes only with an incompatible change of the contract.
const Prefix = "lintel/v1"

// The two fixed payloads of the status topic. While the gateway runs, the
// status topic may also carry a JSON health summary; StatusOffline is what
// it says when it stops cleanly and what a broker publishes as its last will.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// MaxIDLen is the longest id CheckID accepts, in bytes.
const MaxIDLen = 64

// Kind says which topic of the contract a topic is.
type Kind int

// The kinds of topic in the contract. KindUnknown is the zero value.
const (
	KindUnknown     Kind = iota
	KindEvents           // lintel/v1/{gw}/events/{reader}
	KindStatus           // lintel/v1/{gw}/status
	KindDoor             // lintel/v1/{gw}/doors/{door}
	KindSyncChanges      // lintel/v1/{gw}/sync/changes
	KindSyncAcks         // lintel/v1/{gw}/sync/acks
	KindDoorCommand      // lintel/v1/{gw}/doors/{door}/set
)

// String names the kind as its topic's levels after the gateway id.
func (k Kind) String() string {
	switch k {
	case KindEvents:
		return "events"
	case KindStatus:
		return "status"
	case KindDoor:
		return "doors"
	case KindSyncChanges:
		return "sync/changes"
	case KindSyncAcks:
		return "sync/acks"
	case KindDoorCommand:
		return "doors/set"
	default:
		return "unknown"
	}
}

// CheckID reports whether id can be a gateway id, reader name or door name
// in a topic: 1 to MaxIDLen bytes of ASCII letters, digits, '.', '_' and '-',
// starting with a letter or a digit. The error quotes the id and says what
// is wrong with it.
func CheckID(id string) error {
	if id == "" {
		return errors.New("empty; use letters, digits, '.', '_' and '-'")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%.20q...: longer than %d bytes", id, MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		case c == '.' || c == '_' || c == '-':
			return fmt.Errorf("%q: must start with a letter or a digit", id)
		default:
			return fmt.Errorf("%q: %q is not allowed; use letters, digits, '.', '_' and '-'", id, rune(c))
		}
	}
	return nil
}

func join(gw string, levels ...string) (string, error) {
	if err := CheckID(gw); err != nil {
		return "", fmt.Errorf("topic: gateway id %w", err)
	}
	return Prefix + "/" + gw + "/" + strings.Join(levels, "/"), nil
}

func joinNamed(gw, what, name string, levels ...string) (string, error) {
	if err := CheckID(name); err != nil {
		return "", fmt.Errorf("topic: %s %w", what, err)
	}
	return join(gw, append(levels, name)...)
}

// Events is the topic the gateway publishes reader's events on.
func Events(gw, reader string) (string, error) {
	return joinNamed(gw, "reader name", reader, "events")
}

// Status is the gateway's retained status topic.
func Status(gw string) (string, error) { return join(gw, "status") }

// Door is the retained state topic of door.
func Door(gw, door string) (string, error) {
	return joinNamed(gw, "door name", door, "doors")
}

// DoorCommand is the topic a command to door arrives on ("UNLOCK": a
// timed pulse), as Home Assistant's lock entity sends it. Only accounts
// the embedded broker lets command doors may publish there.
func DoorCommand(gw, door string) (string, error) {
	name, err := Door(gw, door)
	if err != nil {
		return "", err
	}
	return name + "/set", nil
}

// DoorCommandsFilter matches the command topics of every door of the
// gateway.
func DoorCommandsFilter(gw string) (string, error) { return join(gw, "doors", "+", "set") }

// SyncChanges is the topic changesets for the gateway arrive on.
func SyncChanges(gw string) (string, error) { return join(gw, "sync", "changes") }

// SyncAcks is the topic the gateway answers changesets on.
func SyncAcks(gw string) (string, error) { return join(gw, "sync", "acks") }

// EventsFilter matches the events of every reader of the gateway.
func EventsFilter(gw string) (string, error) { return join(gw, "events", "+") }

// DoorsFilter matches the state of every door of the gateway.
func DoorsFilter(gw string) (string, error) { return join(gw, "doors", "+") }

// GatewayFilter matches every topic of the gateway.
func GatewayFilter(gw string) (string, error) { return join(gw, "#") }

// AllEventsFilter matches the events of every reader of every gateway, as a
// portal or a technician's mosquitto_sub would subscribe.
const AllEventsFilter = Prefix + "/+/events/+"

// InNamespace reports whether name is in Lintel's topic namespace: Prefix
// itself or any topic under it. Every topic of the contract is; a topic
// outside it is none of Lintel's business.
func InNamespace(name string) bool {
	return name == Prefix || strings.HasPrefix(name, Prefix+"/")
}

// Topic is a parsed topic of the contract.
type Topic struct {
	Kind    Kind
	Gateway string // the gateway id
	Name    string // the reader for KindEvents, the door for KindDoor and KindDoorCommand, else empty
}

// String builds the topic again.
func (t Topic) String() string {
	var s string
	switch t.Kind {
	case KindEvents:
		s, _ = Events(t.Gateway, t.Name)
	case KindStatus:
		s, _ = Status(t.Gateway)
	case KindDoor:
		s, _ = Door(t.Gateway, t.Name)
	case KindSyncChanges:
		s, _ = SyncChanges(t.Gateway)
	case KindSyncAcks:
		s, _ = SyncAcks(t.Gateway)
	case KindDoorCommand:
		s, _ = DoorCommand(t.Gateway, t.Name)
	}
	return s
}

// Parse names the kind of a topic of the contract and the ids in it. A topic
// outside the contract (another prefix, an unknown kind, a malformed id) is
// an error that says where it differs.
func Parse(topic string) (Topic, error) {
	rest, ok := strings.CutPrefix(topic, Prefix+"/")
	if !ok {
		return Topic{}, fmt.Errorf("topic: %q does not start with %q", topic, Prefix+"/")
	}
	levels := strings.Split(rest, "/")
	gw := levels[0]
	if err := CheckID(gw); err != nil {
		return Topic{}, fmt.Errorf("topic: %q: gateway id %w", topic, err)
	}
	t := Topic{Gateway: gw}
	switch tail := levels[1:]; {
	case len(tail) == 2 && tail[0] == "events":
		t.Kind, t.Name = KindEvents, tail[1]
	case len(tail) == 2 && tail[0] == "doors":
		t.Kind, t.Name = KindDoor, tail[1]
	case len(tail) == 3 && tail[0] == "doors" && tail[2] == "set":
		t.Kind, t.Name = KindDoorCommand, tail[1]
	case len(tail) == 1 && tail[0] == "status":
		t.Kind = KindStatus
	case len(tail) == 2 && tail[0] == "sync" && tail[1] == "changes":
		t.Kind = KindSyncChanges
	case len(tail) == 2 && tail[0] == "sync" && tail[1] == "acks":
		t.Kind = KindSyncAcks
	default:
		return Topic{}, fmt.Errorf("topic: %q: %q is not a topic of the contract", topic, strings.Join(tail, "/"))
	}
	if t.Kind == KindEvents || t.Kind == KindDoor || t.Kind == KindDoorCommand {
		if err := CheckID(t.Name); err != nil {
			return Topic{}, fmt.Errorf("topic: %q: %s name %w", topic, t.Kind, err)
		}
	}
	return t, nil
}
