package homeassistant

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/topic"
)

// Broker is what a Bridge needs of the embedded broker (*broker.Broker):
// publishing as the gateway, and the messages clients publish, with who
// published them. Both must be safe for concurrent use.
type Broker interface {
	Publish(topic string, payload []byte, retain bool) error
	SubscribeMessages(filter string, handler func(broker.Message)) error
}

var _ Broker = (*broker.Broker)(nil)

// Doors carries out the door commands a Bridge accepts, and records those
// it refuses. Its methods are called from the publishing client's
// goroutine, for several clients at once, so they must be safe for
// concurrent use.
type Doors interface {
	// Unlock pulses door for its configured unlock time at the request of
	// the broker account named, or returns why it did not (no such door,
	// a door locked down).
	Unlock(door, account string) error
	// Refused records a command the bridge, or Unlock, refused, and why.
	Refused(door, account, reason string)
}

// Bridge publishes a site's discovery configs on the embedded broker, again
// whenever Home Assistant comes online, and takes the lock entities'
// commands. Make one with New and Start it once the broker has started.
type Bridge struct {
	cfg       Config
	gateway   string
	discovery []Message
	broker    Broker
	doors     Doors
	log       *slog.Logger
}

// New builds the bridge of site; nothing is published until Start.
func New(cfg Config, site Site, b Broker, doors Doors, log *slog.Logger) (*Bridge, error) {
	cfg = cfg.WithDefaults()
	msgs, err := Discovery(cfg, site)
	if err != nil {
		return nil, err
	}
	if b == nil || doors == nil {
		return nil, errors.New("homeassistant: new bridge: a broker and the doors are needed")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bridge{cfg: cfg, gateway: site.Gateway, discovery: msgs, broker: b, doors: doors, log: log}, nil
}

// Discovery returns the configs the bridge publishes.
func (br *Bridge) Discovery() []Message { return br.discovery }

// Start publishes the discovery configs, retained, and subscribes to Home
// Assistant's status and to the doors' command topics.
func (br *Bridge) Start() error {
	if err := br.Publish(); err != nil {
		return err
	}
	if err := br.broker.SubscribeMessages(br.cfg.StatusTopic(), br.onStatus); err != nil {
		return fmt.Errorf("homeassistant: %w", err)
	}
	commands, err := topic.DoorCommandsFilter(br.gateway)
	if err != nil {
		return fmt.Errorf("homeassistant: %w", err)
	}
	if err := br.broker.SubscribeMessages(commands, br.onCommand); err != nil {
		return fmt.Errorf("homeassistant: %w", err)
	}
	br.log.Info("homeassistant: discovery published", "configs", len(br.discovery), "prefix", br.cfg.DiscoveryPrefix, "allow_unlock", br.cfg.AllowUnlock)
	return nil
}

// Publish (re)publishes every discovery config, retained.
func (br *Bridge) Publish() error {
	var errs []error
	for _, m := range br.discovery {
		if err := br.broker.Publish(m.Topic, m.Payload, true); err != nil {
			errs = append(errs, fmt.Errorf("homeassistant: publish %s: %w", m.Topic, err))
		}
	}
	return errors.Join(errs...)
}

// onStatus republishes the configs when Home Assistant announces itself.
func (br *Bridge) onStatus(m broker.Message) {
	if string(m.Payload) != "online" {
		return
	}
	if err := br.Publish(); err != nil {
		br.log.Warn("homeassistant: republishing discovery", "err", err)
		return
	}
	br.log.Debug("homeassistant: discovery republished for Home Assistant's birth", "client", m.ClientID)
}

// onCommand obeys or refuses a door command. The broker has already made
// sure it comes from a homeassistant account.
func (br *Bridge) onCommand(m broker.Message) {
	t, err := topic.Parse(m.Topic)
	if err != nil || t.Kind != topic.KindDoorCommand {
		return // the filter is doors/+/set: not reached
	}
	switch cmd := string(m.Payload); {
	case cmd == PayloadLock:
		// A pulse ends by itself; a door a schedule or an override
		// holds open is not Home Assistant's to close.
	case cmd != PayloadUnlock:
		br.doors.Refused(t.Name, m.Username, fmt.Sprintf("%.20q is not a door command (want %s or %s)", cmd, PayloadUnlock, PayloadLock))
	case !br.cfg.AllowUnlock:
		br.doors.Refused(t.Name, m.Username, "homeassistant.allow_unlock is false")
	default:
		if err := br.doors.Unlock(t.Name, m.Username); err != nil {
			br.doors.Refused(t.Name, m.Username, err.Error())
		}
	}
}
