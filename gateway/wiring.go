package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/broker"
	"github.com/lintel-access/lintel/broker/homeassistant"
	"github.com/lintel-access/lintel/broker/topic"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gpio/door"
	"github.com/lintel-access/lintel/gpio/reader"
)

// runDoor watches one door's contact and REX inputs.
func (g *Gateway) runDoor(ctx context.Context, d *doorUnit) error {
	g.publishDoor(d)
	return d.door.Run(ctx)
}

// onDoorEvent journals a door event. It runs on the door's goroutines; the
// door's retained state is republished by onDoorChange.
func (g *Gateway) onDoorEvent(ev door.Event) {
	reader := ""
	if d, ok := g.hw.door(ev.Door); ok {
		reader = d.reader
	}
	g.appendEvent(access.Event{Time: ev.Time, Type: ev.Type, Name: ev.Name, Door: ev.Door, Reader: reader})
}

// onDoorChange republishes a door's retained state whenever its lock,
// contact or alarms change: a grant and its relock, an opening, an alarm.
func (g *Gateway) onDoorChange(name string) {
	if d, ok := g.hw.door(name); ok {
		g.publishDoor(d)
	}
}

// onReaderEvent journals a reader fault or its clearing.
func (g *Gateway) onReaderEvent(ev reader.Event) {
	door := ""
	if r, ok := g.hw.reader(ev.Reader); ok && r.door != nil {
		door = r.door.name
	}
	g.appendEvent(access.Event{Time: ev.Time, Type: ev.Type, Name: ev.Name, Reader: ev.Reader, Door: door,
		Detail: ev.Detail})
	g.kickHealth() // the status's reader_faults changed
}

// kickHealth asks the health loop to publish the status now.
func (g *Gateway) kickHealth() {
	select {
	case g.healthKick <- struct{}{}:
	default:
	}
}

// testPulse unlocks a door for its configured time at a technician's
// request, and says so in the journal.
func (g *Gateway) testPulse(actor string, d *doorUnit) error {
	if err := d.door.Unlock(0); err != nil {
		return err
	}
	g.appendEvent(access.Event{Type: "door.test_pulse", Name: "Door Test Pulse", Door: d.name, Reader: d.reader, Actor: actor})
	return nil
}

// doorState is the retained payload of lintel/v1/{gw}/doors/{door}: the
// door's lock, contact and alarms, and its effective mode and why.
type doorState struct {
	Door   string   `json:"door"`
	Locked bool     `json:"locked"`
	Open   bool     `json:"open"`
	Alarms []string `json:"alarms"`
	// Mode, ModeSource and ModeReason are the door's effective mode (see
	// api.DoorStatus); NextChange when it next changes by itself.
	Mode       access.DoorMode `json:"mode"`
	ModeSource string          `json:"mode_source"`
	ModeReason string          `json:"mode_reason"`
	Override   string          `json:"override,omitempty"`
	Schedule   string          `json:"schedule,omitempty"`
	NextChange time.Time       `json:"next_change,omitzero"`
	NextMode   access.DoorMode `json:"next_mode,omitempty"`
	Time       time.Time       `json:"time"`
}

func alarms(st door.Status) []string {
	a := []string{}
	if st.Forced {
		a = append(a, "forced_open")
	}
	if st.Held {
		a = append(a, "held_open")
	} else if st.HeldPreAlarm {
		a = append(a, "held_open_prealarm")
	}
	if st.LastError != "" {
		a = append(a, "output_error")
	}
	return a
}

// publishDoor sends a door's state, retained, to the local broker and the
// uplink.
func (g *Gateway) publishDoor(d *doorUnit) {
	now := time.Now()
	st := d.door.Status()
	ds := doorState{Door: d.name, Locked: st.Locked, Open: st.Open, Alarms: alarms(st), Time: now}
	if g.engine != nil {
		if m, ok := g.engine.DoorStatus(now, d.name); ok {
			ds.Mode, ds.ModeSource, ds.ModeReason, ds.Override, ds.Schedule = m.Mode, m.Source, m.Reason, m.Override, m.Schedule
			ds.NextChange, ds.NextMode = m.Next, m.NextMode
			if m.Mode == access.ModeLockdown {
				ds.Alarms = append(ds.Alarms, "lockdown")
			}
		}
	}
	payload := mustJSON(ds)
	name, err := topic.Door(g.cfg.Gateway.ID, d.name)
	if err != nil {
		g.log.Error("door topic", "door", d.name, "err", err)
		return
	}
	if g.broker != nil {
		if err := g.broker.Publish(name, payload, true); err != nil {
			g.log.Warn("publishing door state", "door", d.name, "err", err)
		}
	}
	if g.uplink != nil {
		g.uplink.SetRetained(name, payload)
	}
}

// brokerConfig is the embedded broker's configuration: the file's, with
// the gateway's id and, for Home Assistant, its discovery topics reserved.
func brokerConfig(cfg *Config) broker.Config {
	bc := cfg.Broker.Config
	bc.GatewayID = cfg.Gateway.ID
	if cfg.HomeAssistant.Enabled {
		bc.Reserved = append(slices.Clip(bc.Reserved), homeassistant.ReservedFilter(cfg.HomeAssistant, cfg.Gateway.ID))
	}
	return bc
}

func (g *Gateway) brokerAddr() string {
	if g.broker == nil {
		return "off"
	}
	return g.broker.TCPAddr()
}

// startBroker binds the embedded broker and takes changesets from portals
// connected to it.
func (g *Gateway) startBroker() error {
	if err := g.broker.Start(); err != nil {
		return err
	}
	changes, _ := topic.SyncChanges(g.cfg.Gateway.ID)
	err := g.broker.SubscribeMessages(changes, func(m broker.Message) {
		// Only portal accounts may publish here (the broker's rule), so
		// the audit names one: "local-broker:<username>".
		g.onBrokerChanges(m.Username, m.Payload)
	})
	if err != nil {
		return err
	}
	if g.ha != nil {
		if err := g.ha.Start(); err != nil {
			return err
		}
	}
	acks, _ := topic.SyncAcks(g.cfg.Gateway.ID)
	return g.broker.Publish(acks, g.sync.CurrentAck(), false)
}

func (g *Gateway) stopBroker() {
	if err := g.broker.Close(); err != nil {
		g.log.Warn("closing the broker", "err", err)
	}
}

// brokerFanOut publishes every new journal entry on the embedded broker,
// from its own cursor, starting with events appended after start.
func (g *Gateway) brokerFanOut(ctx context.Context) error {
	cursor := g.store.JournalStats().Last
	for {
		if err := g.store.Wait(ctx, cursor); err != nil {
			return nil
		}
		evs, err := g.store.Events(cursor, 256)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			name, err := topic.Events(g.cfg.Gateway.ID, eventReader(ev))
			if err == nil {
				err = g.broker.Publish(name, mustJSON(ev), false)
			}
			if err != nil {
				g.log.Warn("publishing event", "seq", ev.Seq, "err", err)
			}
			cursor = ev.Seq
		}
	}
}

// status is the appliance's snapshot for the API.
func (g *Gateway) status() api.Status {
	now := time.Now()
	loc := g.engine.Location()
	risk := g.guessRisk()
	st := api.Status{
		GatewayID:       g.cfg.Gateway.ID,
		Version:         Version,
		Started:         g.started,
		ClockTrusted:    g.clock.Trusted(),
		UntrustedClock:  string(g.cfg.Access.UntrustedClock),
		Timezone:        loc.String(),
		LocalTime:       now.In(loc).Format(time.RFC3339),
		PolicyWarnings:  g.engine.Policy().Warnings(),
		PINGuessing:     risk,
		PINGuessingWarn: risk.Warn(),
	}
	modes := g.engine.DoorStatuses(now)
	for _, d := range g.hw.doors {
		ds := d.door.Status()
		out := api.DoorStatus{Name: d.name, Locked: ds.Locked, Open: ds.Open, Alarms: alarms(ds),
			RelayEnergised: ds.RelayHigh != d.relayActiveLow, Indicator: ds.Pattern}
		if !ds.Locked && !ds.KeptUnlocked {
			out.UnlockedUntil = ds.UnlockedUntil // a timed unlock, not a mode
		}
		for _, m := range modes {
			if m.Door == d.name {
				out.Mode, out.ModeSource, out.ModeReason = m.Mode, m.Source, m.Reason
				out.Override, out.Schedule, out.AwaitingFirstIn = m.Override, m.Schedule, m.AwaitingFirstIn
				if m.Until != nil {
					out.OverrideUntil = *m.Until
				}
				out.ClockHeld = m.ClockHeld
				out.NextChange, out.NextMode = m.Next, m.NextMode
				if m.Mode == access.ModeLockdown {
					out.Alarms = append(out.Alarms, "lockdown")
				}
			}
		}
		st.Doors = append(st.Doors, out)
	}
	for _, r := range g.hw.readers {
		rc := g.cfg.Readers[r.name]
		rs := r.reader.Status()
		c := rs.Counters
		out := api.ReaderStatus{
			Name: r.name, Door: rc.Door, Model: access.Model(rc.Model), Mode: access.Mode(rc.Mode),
			Rejects: map[string]uint64{"length": c.Length, "parity": c.Parity, "invalid": c.Invalid,
				"both_low": c.BothLow, "partial": c.Partial},
			Enrolling: g.enrol.waiting(r.name),
		}
		if f := rs.LastFrame; f != nil {
			out.LastFrame = &api.Frame{Time: f.Time, Bits: f.Bits, Length: f.Length, ParityOK: f.ParityOK,
				Keypad: f.Kind == "key" || f.Kind == "pin", Format: f.Format, Facility: f.Facility,
				Number: f.Number, Error: f.Reject}
		}
		for i, f := range rs.Faults {
			if i > 0 {
				out.Fault += "; "
			}
			out.Fault += f.Cause + ": " + f.Detail
		}
		st.Readers = append(st.Readers, out)
	}
	js := g.store.JournalStats()
	st.Journal = api.JournalStatus{First: js.First, Last: js.Last, Count: js.Count, Undelivered: js.Undelivered,
		Pending: js.Pending, Lost: js.Lost}
	ds := g.store.DiskStats()
	st.Storage = api.StorageStatus{Full: ds.Full, Since: ds.Since, Fault: ds.Fault, FreeBytes: ds.Free, MinFreeBytes: ds.MinFree}
	st.Sync = api.SyncStatus{Revision: g.store.Revision(), Digest: digestHex(g.store.Digest())}
	if g.uplink != nil {
		us := g.uplink.State()
		st.Uplink = api.UplinkStatus{Configured: true, Connected: us.Connected, Since: us.Since,
			Cursor: us.Cursor, LastError: us.LastError}
	}
	if g.broker != nil {
		st.Broker = api.BrokerStatus{Clients: int(g.broker.Stats().ClientsConnected)}
	}
	return st
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled here
	}
	return b
}

// healthEvery is how often the retained status topic is refreshed.
const healthEvery = 30 * time.Second

// health is the retained payload of lintel/v1/{gw}/status while the gateway
// runs. Its last will, and an orderly shutdown, replace it with "offline".
type health struct {
	State         string    `json:"state"` // "online"
	Gateway       string    `json:"gateway"`
	Version       string    `json:"version"`
	Time          time.Time `json:"time"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	Healthy       bool      `json:"healthy"`
	ClockTrusted  bool      `json:"clock_trusted"`
	DoorsLocked   int       `json:"doors_locked"`
	DoorsAlarmed  []string  `json:"doors_alarmed"`
	ReaderFaults  []string  `json:"reader_faults"`
	Undelivered   uint64    `json:"journal_undelivered"`
	// StorageFull: writes are refused for lack of disk space; Pending
	// events wait in memory, Lost were dropped unwritten.
	StorageFull bool   `json:"storage_full"`
	Pending     int    `json:"journal_pending"`
	Lost        uint64 `json:"journal_lost"`
	Revision    uint64 `json:"sync_revision"`
}

func (g *Gateway) health() health {
	st := g.status()
	h := health{State: "online", Gateway: st.GatewayID, Version: st.Version, Time: time.Now(),
		UptimeSeconds: int64(time.Since(g.started).Seconds()), Healthy: g.Healthy(), ClockTrusted: st.ClockTrusted,
		DoorsAlarmed: []string{}, ReaderFaults: []string{}, Undelivered: st.Journal.Undelivered, Revision: st.Sync.Revision,
		StorageFull: st.Storage.Full, Pending: st.Journal.Pending, Lost: st.Journal.Lost}
	for _, d := range st.Doors {
		if d.Locked {
			h.DoorsLocked++
		}
		if len(d.Alarms) > 0 {
			h.DoorsAlarmed = append(h.DoorsAlarmed, d.Name)
		}
	}
	for _, r := range st.Readers {
		if r.Fault != "" {
			h.ReaderFaults = append(h.ReaderFaults, r.Name)
		}
	}
	return h
}

// healthLoop keeps the retained status current on both brokers: every
// healthEvery, and at once when kicked (a reader fault comes or goes).
func (g *Gateway) healthLoop(ctx context.Context) error {
	name, err := topic.Status(g.cfg.Gateway.ID)
	if err != nil {
		return err
	}
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		payload := mustJSON(g.health())
		if g.broker != nil {
			if err := g.broker.Publish(name, payload, true); err != nil {
				g.log.Warn("publishing status", "err", err)
			}
		}
		if g.uplink != nil {
			g.uplink.SetRetained(name, payload)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-g.healthKick:
		}
	}
}
