package door

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lintel-access/lintel/gpio/clock"
	"github.com/lintel-access/lintel/gpio/pins"
)

// Event types and their activity-log names.
const (
	EventOpened         = "door.opened"
	EventClosed         = "door.closed"
	EventForced         = "door.forced"
	EventHeld           = "door.held"
	EventHeldPreAlarm   = "door.held_prealarm"
	EventREX            = "door.rex"
	NameOpened          = "Door Opened"
	NameClosed          = "Door Closed"
	NameForced          = "Door Forced Open"
	NameHeld            = "Door Held Open"
	NameHeldPreAlarm    = "Door Held Open Pre-Alarm"
	NameREX             = "Request To Exit"
	DefaultUnlockTime   = 5 * time.Second
	DefaultHeldOpen     = 30 * time.Second
	DefaultHeldPreAlarm = 20 * time.Second
	DefaultDebounce     = 50 * time.Millisecond
	// MaxUnlock bounds any single unlock.
	MaxUnlock = 5 * time.Minute
)

// Event is something that happened at a door.
type Event struct {
	Time time.Time
	Door string
	Type string // one of the Event constants
	Name string // the matching Name constant
}

// Config describes one door. Nil pins are absent hardware; zero durations
// mean the defaults.
type Config struct {
	// Name identifies the door ("front").
	Name string

	// Relay drives the lock. Required.
	Relay pins.Output
	// RelayActiveLow: the relay is energised by driving the line low. Zero
	// (false) means energised by high.
	RelayActiveLow bool
	// FailSafe: the lock is energised to lock (a maglock), so it opens when
	// power fails. Zero (false) means fail-secure: energised to unlock.
	FailSafe bool
	// UnlockTime is how long a grant or REX unlocks. Zero means 5 s.
	UnlockTime time.Duration

	// Contact is the door contact; nil means the door has none, and so no
	// opened, closed, forced or held events.
	Contact pins.Input
	// ContactOpenLow: the contact reads low when the door is open. Zero
	// means open reads high (a closed reed switch to ground, pulled up).
	ContactOpenLow bool
	// REX is the request-to-exit button; nil means none.
	REX pins.Input
	// REXPressedHigh: the button reads high when pressed. Zero means
	// pressed reads low (a button to ground, pulled up).
	REXPressedHigh bool
	// REXNoUnlock: a REX press only shunts the forced alarm (mechanical
	// egress) instead of unlocking. Zero means a REX press unlocks.
	REXNoUnlock bool
	// Debounce is how long an input must be stable to count. Zero means
	// 50 ms.
	Debounce time.Duration
	// HeldOpen is how long the door may stay open before door.held. Zero
	// means 30 s.
	HeldOpen time.Duration
	// HeldPreAlarm is when door.held_prealarm fires after opening; it must
	// be below HeldOpen. Zero means 20 s (or 2/3 of a shorter HeldOpen).
	HeldPreAlarm time.Duration

	// Green, Red and Beeper are the reader's indicator lines; nil means
	// absent.
	Green, Red, Beeper pins.Output
	// IndicatorsActiveHigh: driving a line high lights the LED or sounds
	// the beeper. Zero means active low, as on HID-style readers.
	IndicatorsActiveHigh bool

	// Clock runs the door's timers; nil means the real clock.
	Clock clock.Clock
	// OnEvent receives door events; nil drops them. It must not call
	// back into the door synchronously with blocking work.
	OnEvent func(Event)
	// OnChange is called whenever what Status reports about the lock,
	// the contact or an alarm changes (a grant's unlock and its relock,
	// a mode holding it open, an opening, a forced or held alarm, an
	// output error), after the door's lock is released; nil means none.
	// The gateway republishes the door's retained state from it.
	OnChange func()
	// Logger logs output failures; nil discards.
	Logger *slog.Logger
}

// LockedRelayLevel is the relay line's level when the door is locked: the
// level to request the output at, before New drives it again.
func (c Config) LockedRelayLevel() bool {
	energised := c.FailSafe // locked: energised only for a fail-safe lock
	return energised != c.RelayActiveLow
}

// IndicatorOffLevel is the level of an LED or beeper line when off.
func (c Config) IndicatorOffLevel() bool { return !c.IndicatorsActiveHigh }

// Status is a snapshot of a door.
type Status struct {
	Name          string    `json:"name"`
	Locked        bool      `json:"locked"`
	UnlockedUntil time.Time `json:"unlocked_until,omitzero"`
	// KeptUnlocked says a door mode (a schedule, an override) holds the
	// strike released, until KeepUnlocked(false).
	KeptUnlocked bool   `json:"kept_unlocked"`
	HasContact   bool   `json:"has_contact"`
	Open         bool   `json:"open"`
	Forced       bool   `json:"forced"`
	Held         bool   `json:"held"`
	HeldPreAlarm bool   `json:"held_prealarm"`
	Pattern      string `json:"pattern"`
	RelayHigh    bool   `json:"relay_high"`
	Green        bool   `json:"green"`
	Red          bool   `json:"red"`
	Beeper       bool   `json:"beeper"`
	LastError    string `json:"last_error,omitempty"`
}

// Door is one door's I/O. Create it with New.
type Door struct {
	cfg Config
	clk clock.Clock
	log *slog.Logger

	mu sync.Mutex // guards everything below
	// unlocked is the commanded lock state; unlockGen invalidates stale
	// relock timers.
	unlocked    bool
	unlockUntil time.Time
	// kept holds the strike released for a door mode, apart from any
	// timed unlock; only KeepUnlocked(false), Lock and Secure end it.
	kept        bool
	unlockTimer clock.Timer
	unlockGen   uint64
	// rexUntil is the end of the current REX shunt window.
	rexUntil time.Time
	// open is the debounced contact; the raw levels and their debounce
	// timers per input.
	open       bool
	inputs     [2]inputState
	heldTimers []clock.Timer
	forced     bool
	held       bool
	prealarm   bool
	// pattern is the indicator pattern playing; patGen invalidates stale
	// steps.
	pattern  Pattern
	patGen   uint64
	patTimer clock.Timer
	leds     [3]bool // green, red, beeper as commanded (on = true)
	relayHi  bool
	lastErr  error
	pending  []Event // events to deliver once mu is released
	// lastSig is the state OnChange last reported (see sigLocked).
	lastSig uint8
	// openGen numbers openings so a held timer of an earlier opening is
	// ignored.
	openGen uint64
}

// inputState is one debounced input.
type inputState struct {
	raw    bool // true = active (open, pressed)
	stable bool
	seen   bool // a first level was reported
	timer  clock.Timer
	gen    uint64
}

const (
	inContact = 0
	inREX     = 1
)

// New checks cfg, drives the relay to locked and the indicators off, and
// returns the door. Call Run to watch its inputs.
func New(cfg Config) (*Door, error) {
	if cfg.Name == "" {
		return nil, errors.New("door: config needs a name")
	}
	if cfg.Relay == nil {
		return nil, fmt.Errorf("door %s: no relay output", cfg.Name)
	}
	if cfg.UnlockTime <= 0 {
		cfg.UnlockTime = DefaultUnlockTime
	}
	if cfg.UnlockTime > MaxUnlock {
		return nil, fmt.Errorf("door %s: unlock time %v is over the %v limit", cfg.Name, cfg.UnlockTime, MaxUnlock)
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.HeldOpen <= 0 {
		cfg.HeldOpen = DefaultHeldOpen
	}
	if cfg.HeldPreAlarm <= 0 {
		cfg.HeldPreAlarm = min(DefaultHeldPreAlarm, cfg.HeldOpen*2/3)
	}
	if cfg.HeldPreAlarm >= cfg.HeldOpen {
		return nil, fmt.Errorf("door %s: held pre-alarm %v must come before held open %v", cfg.Name, cfg.HeldPreAlarm, cfg.HeldOpen)
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Door{cfg: cfg, clk: clk, log: log.With("door", cfg.Name)}
	if err := d.Secure(); err != nil {
		return nil, err
	}
	return d, nil
}

// Name returns the door's name.
func (d *Door) Name() string { return d.cfg.Name }

// Secure drives the relay to locked and the indicators off, and cancels
// every unlock, pattern and alarm timer. Call it first thing at start (New
// does) and on every shutdown path. The door keeps working afterwards.
func (d *Door) Secure() error {
	d.mu.Lock()
	d.unlockGen++
	stop(d.unlockTimer)
	d.unlocked, d.unlockUntil, d.rexUntil, d.kept = false, time.Time{}, time.Time{}, false
	err := d.driveRelayLocked()
	d.patGen++
	stop(d.patTimer)
	d.pattern = PatternIdle
	if e := d.driveIndicatorsLocked(step{}); err == nil {
		err = e
	}
	for _, t := range d.heldTimers {
		stop(t)
	}
	d.heldTimers = nil
	d.openGen++
	d.flush()
	if err != nil {
		return fmt.Errorf("door %s: secure: %w", d.cfg.Name, err)
	}
	return nil
}

// Grant unlocks the door for UnlockTime and plays the grant pattern.
func (d *Door) Grant() error {
	if err := d.Unlock(0); err != nil {
		return err
	}
	d.Indicate(PatternGrant, d.cfg.UnlockTime)
	return nil
}

// Unlock energises the strike for dur (zero means UnlockTime; capped at
// MaxUnlock) and relocks when it ends or the door closes after opening.
// A new unlock while unlocked extends to the later end.
func (d *Door) Unlock(dur time.Duration) error {
	if dur <= 0 {
		dur = d.cfg.UnlockTime
	}
	dur = min(dur, MaxUnlock)
	d.mu.Lock()
	err := d.unlockLocked(dur)
	d.flush()
	if err != nil {
		return fmt.Errorf("door %s: unlock: %w", d.cfg.Name, err)
	}
	return nil
}

func (d *Door) unlockLocked(dur time.Duration) error {
	until := d.clk.Now().Add(dur)
	if d.unlocked && d.unlockUntil.After(until) {
		return nil
	}
	d.unlockGen++
	gen := d.unlockGen
	stop(d.unlockTimer)
	d.unlocked, d.unlockUntil = true, until
	d.unlockTimer = d.clk.AfterFunc(dur, func() { d.relock(gen) })
	return d.driveRelayLocked()
}

// KeepUnlocked holds the strike released (on) or ends that (off), for a
// door mode that stands the door open: a schedule's "unlocked", an
// override. While kept unlocked, opening the door is not forced and
// staying open is not held open; a timed unlock may still come and go.
// When it ends with the door open, the held-open timer starts. Every way
// out of the process drives the strike locked (Secure), so a crash never
// leaves the door open.
func (d *Door) KeepUnlocked(on bool) error {
	d.mu.Lock()
	if d.kept == on {
		d.mu.Unlock()
		return nil
	}
	d.kept = on
	err := d.driveRelayLocked()
	switch {
	case on:
		d.forced, d.held, d.prealarm = false, false, false
		for _, t := range d.heldTimers {
			stop(t)
		}
		d.heldTimers = nil
	case d.open:
		d.startHeldLocked()
	}
	d.flush()
	if err != nil {
		return fmt.Errorf("door %s: keep unlocked %v: %w", d.cfg.Name, on, err)
	}
	return nil
}

// Lock ends every unlock at once, timed or kept: what a lockdown does to a
// door that was open.
func (d *Door) Lock() error {
	d.mu.Lock()
	wasKept := d.kept
	d.unlockGen++
	stop(d.unlockTimer)
	d.unlocked, d.unlockUntil, d.kept = false, time.Time{}, false
	err := d.driveRelayLocked()
	if wasKept && d.open {
		d.startHeldLocked()
	}
	d.flush()
	if err != nil {
		return fmt.Errorf("door %s: lock: %w", d.cfg.Name, err)
	}
	return nil
}

// relock ends the unlock numbered gen, unless a later one replaced it.
func (d *Door) relock(gen uint64) {
	d.mu.Lock()
	if gen == d.unlockGen && d.unlocked {
		d.relockLocked()
	}
	d.flush()
}

func (d *Door) relockLocked() {
	d.unlockGen++
	stop(d.unlockTimer)
	d.unlocked, d.unlockUntil = false, time.Time{}
	if err := d.driveRelayLocked(); err != nil {
		d.log.Error("relock failed", "err", err)
	}
}

// driveRelayLocked sets the relay line for the commanded state.
func (d *Door) driveRelayLocked() error {
	energised := (d.unlocked || d.kept) != d.cfg.FailSafe
	high := energised != d.cfg.RelayActiveLow
	d.relayHi = high
	if err := d.cfg.Relay.Out(high); err != nil {
		d.lastErr = err
		return err
	}
	return nil
}

// Run watches the contact and REX inputs until ctx ends, then secures the
// door. It returns nil on cancellation or the first input error.
func (d *Door) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	watch := func(in pins.Input, which int, activeHigh bool) {
		if in == nil {
			return
		}
		g.Go(func() error {
			err := pins.Watch(ctx, in, func(high bool) { d.input(which, high == activeHigh) })
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		})
	}
	watch(d.cfg.Contact, inContact, !d.cfg.ContactOpenLow)
	watch(d.cfg.REX, inREX, d.cfg.REXPressedHigh)
	err := g.Wait()
	if err != nil {
		err = fmt.Errorf("door %s: %w", d.cfg.Name, err)
	}
	if serr := d.Secure(); err == nil {
		err = serr // names the door already
	}
	return err
}

// SetContact reports the door contact's raw state (true = open) and SetREX
// the REX button's (true = pressed). Run calls them from its input
// watchers; a simulator or test may call them directly. The first report of
// each input is taken as is; later changes count once stable for Debounce.
func (d *Door) SetContact(open bool) { d.input(inContact, open) }

// SetREX reports the REX button's raw state; see SetContact.
func (d *Door) SetREX(pressed bool) { d.input(inREX, pressed) }

func (d *Door) input(which int, active bool) {
	d.mu.Lock()
	in := &d.inputs[which]
	if !in.seen {
		in.seen, in.raw, in.stable = true, active, active
		if which == inContact {
			d.open = active
			if active {
				d.startHeldLocked()
			}
		}
		d.flush()
		return
	}
	in.raw = active
	in.gen++
	gen := in.gen
	stop(in.timer)
	in.timer = d.clk.AfterFunc(d.cfg.Debounce, func() { d.settle(which, gen) })
	d.mu.Unlock()
}

// settle applies an input's level once it has been stable for Debounce.
func (d *Door) settle(which int, gen uint64) {
	d.mu.Lock()
	in := &d.inputs[which]
	if gen != in.gen || in.raw == in.stable {
		d.mu.Unlock()
		return
	}
	in.stable = in.raw
	if which == inContact {
		d.contactLocked(in.stable)
	} else if in.stable {
		d.rexLocked()
	}
	d.flush()
}

// flush releases mu, delivers pending events and, when the state Status
// reports changed since the last call, calls OnChange. Every path that
// changes the door's state ends in it.
func (d *Door) flush() {
	evs := d.pending
	d.pending = nil
	sig := d.sigLocked()
	changed := sig != d.lastSig
	d.lastSig = sig
	d.mu.Unlock()
	if d.cfg.OnEvent != nil {
		for _, ev := range evs {
			d.cfg.OnEvent(ev)
		}
	}
	if changed && d.cfg.OnChange != nil {
		d.cfg.OnChange()
	}
}

// sigLocked packs the state OnChange reports changes of.
func (d *Door) sigLocked() uint8 {
	var s uint8
	for i, b := range []bool{d.unlocked || d.kept, d.kept, d.open, d.forced, d.held, d.prealarm, d.lastErr != nil} {
		if b {
			s |= 1 << i
		}
	}
	return s
}

func (d *Door) emitLocked(typ, name string) {
	d.pending = append(d.pending, Event{Time: d.clk.Now(), Door: d.cfg.Name, Type: typ, Name: name})
}

func (d *Door) contactLocked(open bool) {
	d.open = open
	if open {
		d.emitLocked(EventOpened, NameOpened)
		if !d.unlocked && !d.kept && !d.clk.Now().Before(d.rexUntil) {
			d.forced = true
			d.emitLocked(EventForced, NameForced)
		}
		if !d.kept {
			d.startHeldLocked()
		}
		return
	}
	d.emitLocked(EventClosed, NameClosed)
	d.openGen++
	for _, t := range d.heldTimers {
		stop(t)
	}
	d.heldTimers = nil
	d.forced, d.held, d.prealarm = false, false, false
	if d.unlocked {
		d.relockLocked()
	}
}

// startHeldLocked arms the held-open pre-alarm and alarm for this opening.
func (d *Door) startHeldLocked() {
	for _, t := range d.heldTimers {
		stop(t)
	}
	d.openGen++
	gen := d.openGen
	d.heldTimers = []clock.Timer{
		d.clk.AfterFunc(d.cfg.HeldPreAlarm, func() { d.heldAlarm(gen, true) }),
		d.clk.AfterFunc(d.cfg.HeldOpen, func() { d.heldAlarm(gen, false) }),
	}
}

func (d *Door) heldAlarm(gen uint64, pre bool) {
	d.mu.Lock()
	if !d.open || gen != d.openGen {
		d.mu.Unlock()
		return
	}
	if pre {
		d.prealarm = true
		d.emitLocked(EventHeldPreAlarm, NameHeldPreAlarm)
	} else {
		d.held = true
		d.emitLocked(EventHeld, NameHeld)
	}
	d.flush()
}

func (d *Door) rexLocked() {
	d.emitLocked(EventREX, NameREX)
	d.rexUntil = d.clk.Now().Add(d.cfg.UnlockTime)
	if d.cfg.REXNoUnlock {
		return
	}
	if err := d.unlockLocked(d.cfg.UnlockTime); err != nil {
		d.log.Error("unlock for REX failed", "err", err)
	}
}

// Status returns a snapshot; safe for concurrent use.
func (d *Door) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{
		Name: d.cfg.Name, Locked: !d.unlocked && !d.kept, UnlockedUntil: d.unlockUntil, KeptUnlocked: d.kept,
		HasContact: d.cfg.Contact != nil || d.inputs[inContact].seen, Open: d.open,
		Forced: d.forced, Held: d.held, HeldPreAlarm: d.prealarm,
		Pattern: d.pattern.String(), RelayHigh: d.relayHi,
		Green: d.leds[0], Red: d.leds[1], Beeper: d.leds[2],
	}
	if d.lastErr != nil {
		s.LastError = d.lastErr.Error()
	}
	return s
}

func stop(t clock.Timer) {
	if t != nil {
		t.Stop()
	}
}
