package apitest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gpio/door"
	"github.com/lintel-access/lintel/gpio/wiegand"
)

// GatewayID is the id the fake reports.
const GatewayID = "gw-test"

// Readers are the simulated site of `lintel run --sim`.
var Readers = []access.ReaderConfig{
	{Name: "front", Door: "front", Model: access.ModelRPK40, Mode: access.ModeCardAndPIN},
	{Name: "side", Door: "side", Model: access.ModelRPK40, Mode: access.ModeCardOrPIN},
	{Name: "garage", Door: "garage", Model: access.ModelRP40, Mode: access.ModeCardOnly},
}

// Backend is an in-memory api.Backend. It is safe for concurrent use.
type Backend struct {
	now     func() time.Time
	started time.Time
	engine  *access.Engine

	mu       sync.Mutex // guards everything below
	policy   *access.Table
	users    map[string]*user
	pins     map[string]string // PIN → user id
	cards    map[access.CardKey]access.Credential
	credIDs  map[string]bool
	nextCred int
	events   []access.Event // events[i].Seq == i+1
	changed  chan struct{}  // closed and replaced when an event is added
	doors    map[string]*api.DoorStatus
	readers  map[string]*api.ReaderStatus
	pulses   []string
	// pulsing holds the end of each door's test pulse in progress.
	pulsing  map[string]time.Time
	clock    access.ClockState
	untrust  access.UntrustedClock
	storage  api.StorageStatus
	warnings []string
	guessing access.GuessRisk
	healthy  bool
	uplink   api.UplinkStatus
	revision uint64
	// syncBusy makes HandleChanges refuse everything as busy; syncActors
	// are the actors of the changesets applied and the resets.
	syncBusy   bool
	syncActors []string
	// enrolments are the readers waiting for a card to enrol.
	enrolments map[string]*enrolment
}

type user struct {
	u     access.User
	pin   string
	creds []access.Credential
}

var (
	_ api.Backend      = (*Backend)(nil)
	_ access.Directory = directory{}
)

// Options are the fake's settings beyond its clock, as the gateway's
// configuration gives them. The zero value is the gateway's default.
type Options struct {
	// Location is gateway.timezone; nil means UTC.
	Location *time.Location
	// UntrustedClock is access.untrusted_clock; zero means restrict.
	UntrustedClock access.UntrustedClock
}

// New returns a healthy, empty backend reading time from now (nil means
// time.Now), with a trusted clock, in UTC.
func New(now func() time.Time) *Backend { return NewWith(now, Options{}) }

// NewWith is [New] with options.
func NewWith(now func() time.Time, o Options) *Backend {
	if now == nil {
		now = time.Now
	}
	b := &Backend{
		now:        now,
		started:    now(),
		users:      make(map[string]*user),
		pins:       make(map[string]string),
		cards:      make(map[access.CardKey]access.Credential),
		credIDs:    make(map[string]bool),
		changed:    make(chan struct{}),
		doors:      make(map[string]*api.DoorStatus),
		readers:    make(map[string]*api.ReaderStatus),
		healthy:    true,
		policy:     access.NewTable(),
		enrolments: make(map[string]*enrolment),
		uplink:     api.UplinkStatus{Configured: true, LastError: "cloud broker not reachable"},
		pulsing:    make(map[string]time.Time),
		clock:      access.ClockState{Trusted: true},
		untrust:    cmp.Or(o.UntrustedClock, access.ClockRestrict),
	}
	e, err := access.NewEngine(access.EngineConfig{Directory: directory{b}, Readers: Readers,
		Location: o.Location, UntrustedClock: o.UntrustedClock})
	if err != nil {
		panic(fmt.Sprintf("apitest: the built-in readers do not validate: %v", err))
	}
	e.SetClock(b.clock)
	b.engine = e
	for _, r := range Readers {
		b.doors[r.Door] = &api.DoorStatus{Name: r.Door, Locked: true, Alarms: []string{}}
		// The causes the gateway reports, each from zero (see wiegand.Cause).
		rejects := map[string]uint64{}
		for _, c := range []wiegand.Cause{wiegand.CauseLength, wiegand.CauseParity, wiegand.CauseInvalid, wiegand.CauseBothLow, wiegand.CausePartial} {
			rejects[string(c)] = 0
		}
		b.readers[r.Name] = &api.ReaderStatus{Name: r.Name, Door: r.Door, Model: r.Model, Mode: r.Mode, Rejects: rejects}
	}
	return b
}

// directory is the engine's view of the user table.
type directory struct{ b *Backend }

func (d directory) Card(key access.CardKey) (access.Holder, bool) {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	c, ok := d.b.cards[key]
	if !ok {
		return access.Holder{}, false
	}
	u := d.b.users[c.UserID]
	return access.Holder{User: u.u, Credential: c.ID, HasPIN: u.pin != ""}, true
}

func (d directory) PIN(digits []byte) (access.Holder, bool) {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	id, ok := d.b.pins[string(digits)]
	if !ok {
		return access.Holder{}, false
	}
	return access.Holder{User: d.b.users[id].u, HasPIN: true}, true
}

// SetHealthy sets what Healthy reports.
func (b *Backend) SetHealthy(ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.healthy = ok
}

// SetUplink sets the uplink part of Status.
func (b *Backend) SetUplink(u api.UplinkStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.uplink = u
}

// SetClock sets what the gateway knows about its clock: the status shows
// it and the engine decides by it.
func (b *Backend) SetClock(c access.ClockState) {
	b.mu.Lock()
	b.clock = c
	b.mu.Unlock()
	b.engine.SetClock(c)
}

// SetDoorAlarms sets a door's alarms from its hardware ("forced_open",
// "held_open", "output_error"; see api.DoorStatus), as the door would
// raise them. A lockdown is the engine's, from an override.
func (b *Backend) SetDoorAlarms(door string, alarms ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.doors[door].Alarms = append([]string{}, alarms...)
}

// SetReaderFault sets a reader's fault ("" when healthy).
func (b *Backend) SetReaderFault(reader, fault string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readers[reader].Fault = fault
}

// SetStorage sets the disk's state in the status.
func (b *Backend) SetStorage(s api.StorageStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.storage = s
}

// SetPolicyWarnings sets what the status says of stored policy that does
// not fit the site.
func (b *Backend) SetPolicyWarnings(w ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.warnings = w
}

// SetPINGuessing sets the status's PIN guessing risk; it warns at
// access.RiskWarn, as the gateway's does.
func (b *Backend) SetPINGuessing(r access.GuessRisk) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.guessing = r
}

// Pulses returns the doors test-pulsed so far, in order.
func (b *Backend) Pulses() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.pulses)
}

// Emit journals events and returns them with their Seq and ID.
func (b *Backend) Emit(evs ...access.Event) []access.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.emitLocked(evs...)
}

func (b *Backend) emitLocked(evs ...access.Event) []access.Event {
	out := make([]access.Event, 0, len(evs))
	for _, ev := range evs {
		ev.Seq = uint64(len(b.events)) + 1
		ev.ID = GatewayID + "-" + strconv.FormatUint(ev.Seq, 10)
		if ev.Time.IsZero() {
			ev.Time = b.now()
		}
		b.events = append(b.events, ev)
		out = append(out, ev)
	}
	if len(out) > 0 {
		close(b.changed)
		b.changed = make(chan struct{})
	}
	return out
}

// Status implements api.Backend. Doors carry the engine's effective mode
// as the gateway's do: an unlocked mode or a test pulse in progress shows
// the door unlocked, a lockdown raises the "lockdown" alarm.
func (b *Backend) Status() api.Status {
	now := b.now()
	modes := b.engine.DoorStatuses(now) // before b.mu: the engine calls into the directory
	loc := b.engine.Location()
	b.mu.Lock()
	defer b.mu.Unlock()
	st := api.Status{
		GatewayID:       GatewayID,
		Started:         b.started,
		ClockTrusted:    b.clock.Trusted,
		UntrustedClock:  string(b.untrust),
		Timezone:        loc.String(),
		LocalTime:       now.In(loc).Format(time.RFC3339),
		Uplink:          b.uplink,
		Storage:         b.storage,
		PolicyWarnings:  slices.Clone(b.warnings),
		PINGuessing:     b.guessing,
		PINGuessingWarn: b.guessing.Warn(),
		Sync:            api.SyncStatus{Revision: b.revision},
		Broker:          api.BrokerStatus{Clients: 1},
	}
	if n := uint64(len(b.events)); n > 0 {
		st.Journal = api.JournalStatus{First: 1, Last: n, Count: n, Undelivered: n - b.uplink.Cursor}
	}
	for _, name := range sortedKeys(b.doors) {
		d := *b.doors[name]
		d.Alarms = slices.Clone(d.Alarms)
		for _, m := range modes {
			if m.Door != name {
				continue
			}
			d.Mode, d.ModeSource, d.ModeReason = m.Mode, m.Source, m.Reason
			d.Override, d.Schedule, d.AwaitingFirstIn, d.ClockHeld = m.Override, m.Schedule, m.AwaitingFirstIn, m.ClockHeld
			if m.Until != nil {
				d.OverrideUntil = *m.Until
			}
			d.NextChange, d.NextMode = m.Next, m.NextMode
			if m.Mode == access.ModeLockdown {
				d.Alarms = append(d.Alarms, "lockdown")
			}
		}
		if until, ok := b.pulsing[name]; ok && now.Before(until) {
			d.UnlockedUntil = until
		}
		d.Locked = d.UnlockedUntil.IsZero() && d.Mode != access.ModeUnlocked
		d.RelayEnergised = !d.Locked // fail-secure strikes
		st.Doors = append(st.Doors, d)
	}
	for _, name := range sortedKeys(b.readers) {
		r := *b.readers[name]
		r.Rejects = maps(r.Rejects)
		if e, ok := b.enrolments[name]; ok {
			r.Enrolling = e.user
		}
		if r.LastFrame != nil {
			f := *r.LastFrame
			r.LastFrame = &f
		}
		st.Readers = append(st.Readers, r)
	}
	return st
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func maps(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Healthy implements api.Backend.
func (b *Backend) Healthy() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.healthy
}

// PutUser implements api.Backend. Its rules are the store's: fields not
// set keep their values (or take access's defaults on a new user), and the
// levels must exist in the policy table (access.Table.CheckUserLevels).
func (b *Backend) PutUser(actor string, u access.User, set access.UserFields) (bool, error) {
	if err := access.CheckID(u.ID); err != nil {
		return false, fmt.Errorf("apitest: put user: %w: %w", api.ErrInvalid, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old, exists := b.users[u.ID]
	switch {
	case set&access.FieldLevels != 0:
	case exists:
		u.Levels = old.u.Levels
	default:
		u.Levels = access.DefaultLevels()
	}
	if set&access.FieldEnabled == 0 {
		u.Enabled = !exists || old.u.Enabled
	}
	if set&access.FieldOverride == 0 {
		u.Override = exists && old.u.Override
	}
	if u.Levels == nil {
		u.Levels = access.DefaultLevels() // nil is the default, [] no door
	}
	if err := b.policy.CheckUserLevels(u.Levels); err != nil {
		return false, fmt.Errorf("apitest: put user %q: %w", u.ID, err)
	}
	u.Levels = append([]string{}, slices.Sorted(slices.Values(u.Levels))...) // never nil: [] is no door, nil the default
	if exists {
		old.u = u
		b.auditLocked(actor, "User Updated", u.ID)
		return false, nil
	}
	b.users[u.ID] = &user{u: u}
	b.auditLocked(actor, "User Added", u.ID)
	return true, nil
}

// auditLocked journals a change as the gateway does: an audit event
// naming the actor.
func (b *Backend) auditLocked(actor, name, user string) {
	b.emitLocked(access.Event{Type: access.TypeAudit, Name: name, User: user, Actor: actor})
}

// User implements api.Backend.
func (b *Backend) User(id string) (api.UserView, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.users[id]
	if !ok {
		return api.UserView{}, fmt.Errorf("apitest: user %q: %w", id, access.ErrNotFound)
	}
	return api.UserView{User: u.u, HasPIN: u.pin != "", Credentials: slices.Clone(u.creds)}, nil
}

// DeleteUser implements api.Backend.
func (b *Backend) DeleteUser(actor, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.users[id]
	if !ok {
		return fmt.Errorf("apitest: delete user %q: %w", id, access.ErrNotFound)
	}
	delete(b.pins, u.pin)
	for _, c := range u.creds {
		delete(b.cards, c.Card)
		delete(b.credIDs, c.ID)
	}
	delete(b.users, id)
	b.auditLocked(actor, "User Deleted", id)
	return nil
}

// SetPIN implements api.Backend.
func (b *Backend) SetPIN(actor, userID, pin string) error {
	if err := access.CheckCustomPIN(pin); err != nil {
		return fmt.Errorf("apitest: set pin of %q: %w", userID, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.users[userID]
	if !ok {
		return fmt.Errorf("apitest: set pin of %q: %w", userID, access.ErrNotFound)
	}
	if holder, taken := b.pins[pin]; taken && holder != userID {
		return fmt.Errorf("apitest: set pin of %q: %w", userID, access.ErrPINInUse)
	}
	b.setPINLocked(u, pin)
	b.auditLocked(actor, "PIN Set", userID)
	return nil
}

func (b *Backend) setPINLocked(u *user, pin string) {
	delete(b.pins, u.pin) // R1: a user has at most one PIN
	u.pin = pin
	b.pins[pin] = u.u.ID
}

// GeneratePIN implements api.Backend.
func (b *Backend) GeneratePIN(actor, userID string, length int) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.users[userID]
	if !ok {
		return "", fmt.Errorf("apitest: generate pin for %q: %w", userID, access.ErrNotFound)
	}
	pin, err := access.GeneratePIN(nil, length, func(p string) bool { _, taken := b.pins[p]; return taken })
	if err != nil {
		return "", fmt.Errorf("apitest: generate pin for %q: %w", userID, err)
	}
	b.setPINLocked(u, pin)
	b.auditLocked(actor, "PIN Generated", userID)
	return pin, nil
}

// ClearPIN implements api.Backend.
func (b *Backend) ClearPIN(actor, userID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.users[userID]
	if !ok {
		return fmt.Errorf("apitest: clear pin of %q: %w", userID, access.ErrNotFound)
	}
	delete(b.pins, u.pin)
	u.pin = ""
	b.auditLocked(actor, "PIN Cleared", userID)
	return nil
}

// AddCredential implements api.Backend.
func (b *Backend) AddCredential(actor, userID string, c access.Credential) (access.Credential, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.users[userID]
	if !ok {
		return access.Credential{}, fmt.Errorf("apitest: add credential to %q: %w", userID, access.ErrNotFound)
	}
	if err := checkCard(c.Card); err != nil {
		return access.Credential{}, fmt.Errorf("apitest: add card to %q: %w", userID, err)
	}
	if _, taken := b.cards[c.Card]; taken {
		return access.Credential{}, fmt.Errorf("apitest: add card %s to %q: %w", c.Card, userID, access.ErrCredentialInUse)
	}
	if c.ID == "" {
		for c.ID == "" || b.credIDs[c.ID] {
			b.nextCred++
			c.ID = "c" + strconv.Itoa(b.nextCred)
		}
	} else if b.credIDs[c.ID] {
		return access.Credential{}, fmt.Errorf("apitest: add credential %q to %q: %w", c.ID, userID, access.ErrCredentialInUse)
	}
	c.UserID, c.Type = userID, access.CredentialCard
	b.cards[c.Card] = c
	b.credIDs[c.ID] = true
	u.creds = append(u.creds, c)
	b.auditLocked(actor, "Card Added", userID)
	return c, nil
}

// Events implements api.Backend.
func (b *Backend) Events(after uint64, limit int) ([]access.Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if after >= uint64(len(b.events)) || limit <= 0 {
		return nil, nil
	}
	end := min(after+uint64(limit), uint64(len(b.events)))
	return slices.Clone(b.events[after:end]), nil
}

// WaitEvents implements api.Backend.
func (b *Backend) WaitEvents(ctx context.Context, after uint64) error {
	for {
		b.mu.Lock()
		n, ch := uint64(len(b.events)), b.changed
		b.mu.Unlock()
		if n > after {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// HandleChanges implements api.Backend with a stand-in for the changeset
// apply: a JSON object with a "revision" greater than the current one is
// applied; one at or below it is refused with code gap, anything else with
// code malformed; while SetSyncBusy is on, everything is refused with code
// busy. It records the actor of every changeset applied.
func (b *Backend) HandleChanges(ctx context.Context, actor string, payload []byte) (api.SyncResult, error) {
	if err := ctx.Err(); err != nil {
		return api.SyncResult{}, err
	}
	var cs struct {
		Revision uint64 `json:"revision"`
	}
	if err := json.Unmarshal(payload, &cs); err != nil {
		return api.SyncResult{Ack: ack(0, false, "changeset: "+err.Error()), Status: "refused", Code: "malformed"}, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.syncBusy {
		return api.SyncResult{Ack: ack(b.revision, false, "busy"), Status: "refused", Code: "busy"}, nil
	}
	if cs.Revision <= b.revision {
		return api.SyncResult{Ack: ack(b.revision, false, fmt.Sprintf("revision: %d is not after the current %d", cs.Revision, b.revision)),
			Status: "refused", Code: "gap"}, nil
	}
	b.revision = cs.Revision
	b.syncActors = append(b.syncActors, actor)
	return api.SyncResult{Ack: ack(b.revision, true, ""), Status: "applied"}, nil
}

// SetSyncBusy makes HandleChanges refuse every changeset as busy, or not.
func (b *Backend) SetSyncBusy(busy bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.syncBusy = busy
}

// SyncActors returns the actors of the changesets applied, in order, and
// of the resets.
func (b *Backend) SyncActors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.syncActors)
}

// CurrentAck implements api.Backend.
func (b *Backend) CurrentAck() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return ack(b.revision, true, "")
}

// ResetSync implements api.Backend: the revision goes back to revision,
// which may not be above it.
func (b *Backend) ResetSync(ctx context.Context, actor string, revision uint64) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if revision > b.revision {
		return nil, fmt.Errorf("%d is above the current revision %d (%w)", revision, b.revision, api.ErrInvalid)
	}
	b.revision = revision
	b.syncActors = append(b.syncActors, "reset by "+actor)
	return ack(b.revision, true, ""), nil
}

func ack(rev uint64, applied bool, msg string) []byte {
	out, _ := json.Marshal(struct {
		Revision uint64 `json:"revision"`
		Applied  bool   `json:"applied"`
		Error    string `json:"error,omitempty"`
	}{rev, applied, msg})
	return out
}

// Event names of the fake's door events.
const (
	TypeDoor          = "door.test_pulse"
	NameDoorTestPulse = "Door Test Pulse"
	TypeContact       = "door.contact"
	NameDoorOpened    = "Door Opened"
	NameDoorClosed    = "Door Closed"
)

// PulseDoor implements api.Backend: the door is unlocked at once, for
// door.DefaultUnlockTime by the fake's clock, as a gateway's door with the
// default unlock time is.
func (b *Backend) PulseDoor(actor, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.doors[name]; !ok {
		return fmt.Errorf("apitest: pulse door %q: %w", name, access.ErrNotFound)
	}
	b.pulses = append(b.pulses, name)
	b.pulsing[name] = b.now().Add(door.DefaultUnlockTime)
	b.emitLocked(access.Event{Type: TypeDoor, Name: NameDoorTestPulse, Door: name, Reader: name, Actor: actor})
	return nil
}

// Policy implements api.Backend.
func (b *Backend) Policy() *access.Table {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.policy.Clone()
}

// changePolicy runs one change of the policy on a copy of the table, with
// access.Table's rules, and keeps the copy when it succeeds, as the store
// does.
func (b *Backend) changePolicy(actor, name string, fn func(t *access.Table) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.policy.Clone()
	if err := fn(t); err != nil {
		return err // access's error, as the store passes it on
	}
	b.policy = t
	b.auditLocked(actor, name, "")
	b.engine.SetPolicy(t)
	return nil
}

func (b *Backend) has(m func(t *access.Table) bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return m(b.policy)
}

// PutSchedule implements api.Backend.
func (b *Backend) PutSchedule(actor string, s access.Schedule) (bool, error) {
	exists := b.has(func(t *access.Table) bool { _, ok := t.Schedules[s.ID]; return ok })
	return !exists, b.changePolicy(actor, "Schedule Saved", func(t *access.Table) error { return t.PutSchedule(s) })
}

// DeleteSchedule implements api.Backend.
func (b *Backend) DeleteSchedule(actor, id string) error {
	return b.changePolicy(actor, "Schedule Deleted", func(t *access.Table) error { return t.DeleteSchedule(id) })
}

// PutHoliday implements api.Backend.
func (b *Backend) PutHoliday(actor string, h access.Holiday) (bool, error) {
	exists := b.has(func(t *access.Table) bool { _, ok := t.Holidays[h.ID]; return ok })
	return !exists, b.changePolicy(actor, "Holiday Saved", func(t *access.Table) error { return t.PutHoliday(h) })
}

// DeleteHoliday implements api.Backend.
func (b *Backend) DeleteHoliday(actor, id string) error {
	return b.changePolicy(actor, "Holiday Deleted", func(t *access.Table) error { return t.DeleteHoliday(id) })
}

// PutLevel implements api.Backend.
func (b *Backend) PutLevel(actor string, l access.Level) (bool, error) {
	exists := b.has(func(t *access.Table) bool { _, ok := t.Levels[l.ID]; return ok })
	return !exists, b.changePolicy(actor, "Level Saved", func(t *access.Table) error { return t.PutLevel(l, b.engine.Site()) })
}

// DeleteLevel implements api.Backend.
func (b *Backend) DeleteLevel(actor, id string) error {
	return b.changePolicy(actor, "Level Deleted", func(t *access.Table) error { return t.DeleteLevel(id, b.holdersLocked(id)) })
}

// holdersLocked counts the users holding a level; b.mu is held.
func (b *Backend) holdersLocked(id string) int {
	n := 0
	for _, u := range b.users {
		if slices.Contains(u.u.Levels, id) {
			n++
		}
	}
	return n
}

// SetDoorPolicy implements api.Backend.
func (b *Backend) SetDoorPolicy(actor string, p access.DoorPolicy) error {
	return b.changePolicy(actor, "Door Policy Set", func(t *access.Table) error { return t.PutDoorPolicy(p, b.engine.Site()) })
}

// SetOverride implements api.Backend.
func (b *Backend) SetOverride(actor string, o access.Override) (bool, error) {
	exists := b.has(func(t *access.Table) bool { _, ok := t.Overrides[o.ID]; return ok })
	return !exists, b.changePolicy(actor, "Override Set", func(t *access.Table) error { return t.SetOverride(o, b.engine.Site()) })
}

// ClearOverride implements api.Backend.
func (b *Backend) ClearOverride(actor, id string) error {
	return b.changePolicy(actor, "Override Cleared", func(t *access.Table) error { return t.ClearOverride(id) })
}
