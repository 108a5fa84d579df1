package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/lintel-access/lintel/broker/homeassistant"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gpio/door"
	"github.com/lintel-access/lintel/gpio/reader"
)

// Events of Home Assistant's door commands. They name the broker account
// that sent the command.
const (
	TypeRemoteUnlock        = "door.remote_unlock"
	NameRemoteUnlock        = "Door Unlocked Remotely"
	TypeRemoteUnlockRefused = "door.remote_unlock_refused"
	NameRemoteUnlockRefused = "Door Remote Unlock Refused"
)

// eventTypes are the event types the journal may carry, for consumers that
// must list them (Home Assistant's event entities); docs/mqtt.md lists the
// same, and a test holds the two together.
var eventTypes = []string{
	access.TypeGranted, access.TypeDenied, access.TypeAwaitPIN, access.TypeDuress,
	access.TypeLockout, access.TypeUnlocked, access.TypeUserLock,
	reader.EventFault, reader.EventFaultCleared,
	door.EventOpened, door.EventClosed, door.EventForced, door.EventHeldPreAlarm, door.EventHeld, door.EventREX,
	"door.test_pulse", TypeRemoteUnlock, TypeRemoteUnlockRefused, typeDoorFault,
	access.TypeDoorMode, access.TypeLockdown, access.TypeFirstIn,
	access.TypeAudit, TypeSyncApplied, TypeSyncReset, typePolicyWarn, typeClock,
	store.TypeJournalOverflow, store.TypeStorageFull, store.TypeStorageRecovered,
	"gateway.started", "gateway.stopped",
}

// haSite is the gateway as Home Assistant is told about it.
func (g *Gateway) haSite() homeassistant.Site {
	site := homeassistant.Site{Gateway: g.cfg.Gateway.ID, Version: Version, EventTypes: eventTypes}
	for _, name := range g.cfg.DoorNames() {
		reader := ""
		if d, ok := g.hw.door(name); ok {
			reader = d.reader
		}
		site.Doors = append(site.Doors, homeassistant.Door{Name: name, Reader: reader, Contact: g.cfg.Doors[name].Contact != ""})
	}
	for _, name := range g.cfg.ReaderNames() {
		site.Readers = append(site.Readers, homeassistant.Reader{Name: name, Model: string(g.cfg.Readers[name].Model)})
	}
	return site
}

// haDoors carries out Home Assistant's door commands.
type haDoors struct{ g *Gateway }

var _ homeassistant.Doors = haDoors{}

// errNoDoor is a command for a door the gateway does not have.
var errNoDoor = errors.New("no such door")

// Unlock pulses a door for its unlock time, as a test pulse does, unless
// the door is locked or locked down: a remote command is no override.
func (h haDoors) Unlock(name, account string) error {
	g := h.g
	d, ok := g.hw.door(name)
	if !ok {
		return errNoDoor
	}
	if m, ok := g.engine.DoorStatus(time.Now(), name); ok && (m.Mode == access.ModeLocked || m.Mode == access.ModeLockdown) {
		return fmt.Errorf("the door is in %s mode", m.Mode)
	}
	if err := d.door.Unlock(0); err != nil {
		return err
	}
	g.appendEvent(access.Event{Type: TypeRemoteUnlock, Name: NameRemoteUnlock, Door: d.name, Reader: d.reader,
		Actor: localBrokerActor(account), Detail: "Home Assistant lock command"})
	return nil
}

// Refused journals a command that was not obeyed, so it shows in the
// journal and on the door's event entity; a door the gateway does not
// have is only logged.
func (h haDoors) Refused(name, account, reason string) {
	g := h.g
	d, ok := g.hw.door(name)
	if !ok {
		g.log.Warn("homeassistant: command for a door this gateway does not have", "door", name, "account", account)
		return
	}
	g.appendEvent(access.Event{Type: TypeRemoteUnlockRefused, Name: NameRemoteUnlockRefused, Door: d.name, Reader: d.reader,
		Actor: localBrokerActor(account), Detail: reason})
	g.publishDoor(d) // Home Assistant shows the door as it is: locked
}
