package access

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Holder is who a card or PIN belongs to, as the [Directory] knows it.
type Holder struct {
	User User
	// Credential is the id of the card that matched; empty for a PIN.
	Credential string
	// HasPIN reports whether the user holds a PIN.
	HasPIN bool
}

// Directory answers the engine's lookups. Implementations must be safe for
// concurrent use and fast: a lookup sits on the decision path, so it should
// be served from memory. PIN must not retain or log the digits it is given.
type Directory interface {
	// Card returns the holder of a card.
	Card(key CardKey) (Holder, bool)
	// PIN returns the user holding exactly these digits as their PIN.
	PIN(digits []byte) (Holder, bool)
}

// Action tells the gateway what to do with the door and the reader.
type Action uint8

// Actions, in the order a reader's LED shows them.
const (
	ActionNone     Action = iota // nothing to show: a key was buffered, or input ignored
	ActionGrant                  // pulse the strike and show the grant pattern
	ActionDeny                   // show the deny pattern
	ActionAwaitPIN               // flash "waiting for PIN" (card_and_pin, R8)
	ActionLockout                // show the lockout pattern
	ActionIdle                   // return the reader to idle (a lockout ended)
)

var actionNames = [...]string{"none", "grant", "deny", "await_pin", "lockout", "idle"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// Result is the outcome of one input at one reader.
type Result struct {
	Reader string
	Door   string
	Action Action
	// Events to journal, in order. A decision yields exactly one grant or
	// denial; a wrong PIN that trips a lockout adds the lockout, a duress
	// PIN adds the alarm right after the grant, a first person in adds
	// that.
	Events []Event
	// FirstIn is set when this grant was the door's first person in
	// today: the gateway keeps it across restarts ([Engine.RestoreFirstIn])
	// and re-evaluates the doors' modes ([Engine.UpdateModes]).
	FirstIn *FirstIn
	// SaveLockouts is set when the input changed a wrong-PIN count or a
	// lockout: the gateway saves [Engine.Lockouts], so a restart does not
	// clear them.
	SaveLockouts bool
}

// FirstIn records the first person in at a door on a local date.
type FirstIn struct {
	Door string `json:"door"`
	Date string `json:"date"` // YYYY-MM-DD in the gateway's time zone
	User string `json:"user"`
}

// EngineConfig configures an [Engine]. Zero values are documented per
// field.
type EngineConfig struct {
	// Directory looks users up. Required.
	Directory Directory
	// Readers are the readers, which must validate and have distinct
	// names.
	Readers []ReaderConfig
	// Doors are every configured door, with or without a reader. Nil
	// means the readers' doors.
	Doors []string
	// Location is the time zone schedules are read in. Nil means UTC.
	Location *time.Location
	// Duress turns on access.duress = "last_digit_plus_one": a user's PIN
	// with its last digit plus one (9 → 0) grants as usual and raises a
	// Duress Alarm. The store must then keep such neighbours unique.
	Duress bool
	// UntrustedClock is what time rules do while the clock cannot be
	// believed. Zero means ClockRestrict.
	UntrustedClock UntrustedClock
	// Guesses is the gateway-wide budget of wrong PINs across readers.
	// Zero fields take their defaults.
	Guesses GuessBudget
}

// Engine is the decision state machine of all readers and the mode of
// every door. It is safe for concurrent use; calls are serialised
// internally and never block on anything but the [Directory].
type Engine struct {
	dir     Directory
	site    Site
	loc     *time.Location
	duress  bool
	untrust UntrustedClock
	guesses GuessBudget

	mu sync.Mutex // guards everything below
	// readers by name; the map itself is fixed after NewEngine.
	readers map[string]*readerState
	// users holds per-user wrong-PIN counters and lockouts.
	users map[string]*attempts
	// gateway counts wrong PINs across all readers.
	gateway attempts
	policy  *Policy
	clock   ClockState
	// firstIn is each door's last first person in.
	firstIn map[string]FirstIn
	// modes are the door states UpdateModes last reported, by door index.
	modes []DoorState
}

// readerState is one reader's keypad buffer, card+PIN window and lockout.
type readerState struct {
	cfg  ReaderConfig
	door int // index of the reader's door in the site

	keys    [MaxPINLength]byte
	n       int
	lastKey time.Time
	// mode is the reader mode the last input was decided by; a change of
	// the door's mode ends an entry or a card+PIN window in progress.
	mode Mode

	pending     bool // a card_and_pin window is open
	pendingUser string
	pendingCred string
	pendingEnd  time.Time

	fails attempts
}

// NewEngine returns an engine for the given configuration, with the empty
// policy: every user on the level "all" opens every door.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Directory == nil {
		return nil, fmt.Errorf("access: engine: no directory")
	}
	untrust := cmp.Or(cfg.UntrustedClock, ClockRestrict)
	if !untrust.Known() {
		return nil, fmt.Errorf("access: engine: untrusted clock %q is not one of %v", untrust, UntrustedClocks)
	}
	e := &Engine{
		dir: cfg.Directory, loc: cfg.Location, duress: cfg.Duress, untrust: untrust,
		guesses: cfg.Guesses.withDefaults(),
		readers: make(map[string]*readerState, len(cfg.Readers)),
		users:   make(map[string]*attempts),
		firstIn: make(map[string]FirstIn),
	}
	if e.loc == nil {
		e.loc = time.UTC
	}
	doors := cfg.Doors
	if doors == nil {
		for _, rc := range cfg.Readers {
			if !slices.Contains(doors, rc.Door) {
				doors = append(doors, rc.Door)
			}
		}
	}
	for i, rc := range cfg.Readers {
		if err := rc.Validate(); err != nil {
			return nil, fmt.Errorf("access: reader %d (%q): %w", i, rc.Name, err)
		}
		if _, dup := e.readers[rc.Name]; dup {
			return nil, fmt.Errorf("access: reader %q is defined twice", rc.Name)
		}
		if !slices.Contains(doors, rc.Door) {
			return nil, fmt.Errorf("access: reader %q opens door %q, which is not a configured door", rc.Name, rc.Door)
		}
		for _, other := range e.readers {
			if other.cfg.Door == rc.Door {
				return nil, fmt.Errorf("access: door %q is read by both %q and %q", rc.Door, other.cfg.Name, rc.Name)
			}
		}
		e.readers[rc.Name] = &readerState{cfg: rc.WithDefaults(), door: slices.Index(doors, rc.Door), mode: rc.Mode}
	}
	e.site = NewSite(doors, cfg.Readers)
	e.policy = Compile(NewTable(), e.site, e.loc)
	e.modes = make([]DoorState, len(e.site.Doors))
	return e, nil
}

// Site returns the doors the engine decides for.
func (e *Engine) Site() Site { return e.site }

// Location returns the time zone of the engine's schedules.
func (e *Engine) Location() *time.Location { return e.loc }

// Reader returns the effective configuration of a reader.
func (e *Engine) Reader(name string) (ReaderConfig, bool) {
	rs, ok := e.readers[name]
	if !ok {
		return ReaderConfig{}, false
	}
	return rs.cfg, true
}

// SetPolicy compiles a table for the engine's site and decides by it from
// the next input on. It returns what the compile left out (see [Compile]).
// Call [Engine.UpdateModes] after it to carry out door mode changes.
func (e *Engine) SetPolicy(t *Table) []string {
	p := Compile(t, e.site, e.loc)
	e.mu.Lock()
	e.policy = p
	e.mu.Unlock()
	return p.Warnings()
}

// Policy returns the policy the engine decides by.
func (e *Engine) Policy() *Policy {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.policy
}

// SetClock tells the engine what is known about the clock.
func (e *Engine) SetClock(c ClockState) {
	e.mu.Lock()
	e.clock = c
	e.mu.Unlock()
}

func (e *Engine) clockLocked() clockView { return clockView{ClockState: e.clock, choice: e.untrust} }

// RestoreFirstIn gives back a first person in saved from an earlier run.
func (e *Engine) RestoreFirstIn(f FirstIn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.firstIn[f.Door] = f
}

// ErrUnknownReader is returned for input from a reader the engine was not
// configured with.
type ErrUnknownReader string

func (e ErrUnknownReader) Error() string { return fmt.Sprintf("access: unknown reader %q", string(e)) }

func (e *Engine) reader(name string) (*readerState, error) {
	rs, ok := e.readers[name]
	if !ok {
		return nil, ErrUnknownReader(name)
	}
	return rs, nil
}

// presentation is one input being decided: the moment, the door's state
// and the reader mode that decides it.
type presentation struct {
	now  time.Time
	lt   localTime
	clk  clockView
	door DoorState
	mode Mode
}

// at runs fn for one input at a reader, under the engine's lock, with the
// reader's finished card+PIN window and lockout already expired into res
// and the door's effective mode worked out.
func (e *Engine) at(now time.Time, reader string, fn func(rs *readerState, p presentation, res Result) (Result, error)) (Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rs, err := e.reader(reader)
	if err != nil {
		return Result{}, err
	}
	res := e.newResult(rs)
	e.expireLocked(now, rs, &res)
	p := presentation{now: now, lt: e.policy.local(now), clk: e.clockLocked()}
	p.door = e.policy.doorState(rs.door, now, p.lt, p.clk, e.firstInDateLocked(rs.door), false)
	p.mode = rs.cfg.Mode
	if m, ok := p.door.Mode.readerMode(); ok {
		p.mode = m
	}
	if p.mode != rs.mode {
		// The door's mode changed since the last input: nothing begun
		// under the old one carries over.
		rs.mode, rs.pending = p.mode, false
		rs.clearKeys()
	}
	return fn(rs, p, res)
}

func (e *Engine) firstInDateLocked(door int) Date {
	f, ok := e.firstIn[e.site.Doors[door].Name]
	if !ok {
		return Date{}
	}
	d, err := ParseDate(f.Date)
	if err != nil {
		return Date{}
	}
	return d
}

// Card decides a card presented at a reader.
func (e *Engine) Card(now time.Time, reader string, key CardKey) (Result, error) {
	return e.at(now, reader, func(rs *readerState, p presentation, res Result) (Result, error) {
		return e.cardLocked(rs, p, res, key), nil
	})
}

func (e *Engine) cardLocked(rs *readerState, p presentation, res Result, key CardKey) Result {
	if p.mode == ModePINOnly {
		return e.denyLocked(p.now, rs, res, NameDenyCardNotAllowed, "", "", key.String())
	}
	h, ok := e.dir.Card(key)
	if !ok {
		return e.denyLocked(p.now, rs, res, NameDenyCardNotFound, "", "", key.String())
	}
	if why, detail := e.admitLocked(rs, p, h.User); why != "" {
		return e.denyLocked(p.now, rs, res, why, h.User.ID, h.Credential, detail)
	}
	if p.mode != ModeCardAndPIN {
		return e.grantLocked(rs, p, res, NameGrantCard, h.User, h.Credential, false)
	}
	// card_and_pin: the card opens a window for the holder's PIN (R8).
	switch {
	case e.userLocked(h.User.ID, p.now):
		return e.denyLocked(p.now, rs, res, NameDenyUserLocked, h.User.ID, h.Credential, "")
	case !h.HasPIN:
		return e.denyLocked(p.now, rs, res, NameDenyNoPIN, h.User.ID, h.Credential, "")
	case e.keypadLocked(rs, p.now):
		return e.denyLocked(p.now, rs, res, NameDenyKeypadLocked, h.User.ID, h.Credential, "")
	}
	rs.clearKeys()
	rs.pending, rs.pendingUser, rs.pendingCred = true, h.User.ID, h.Credential
	rs.pendingEnd = p.now.Add(rs.cfg.PINWindow)
	res.Action = ActionAwaitPIN
	res.Events = append(res.Events, e.event(p.now, rs, TypeAwaitPIN, NameAwaitingPIN, h.User.ID, h.Credential, ""))
	return res
}

// admitLocked applies, to an identified user, the rules that follow
// identification in the evaluation order: enabled and valid (judged by the
// clock policy), the door held locked to all but override users, then the
// user's levels and their schedules. It returns the denial's name and
// detail, or "" to grant.
func (e *Engine) admitLocked(rs *readerState, p presentation, u User) (name, detail string) {
	if why := e.validity(u, p); why != "" {
		return why, ""
	}
	switch p.door.Mode {
	case ModeLockdown, ModeLocked:
		if u.Override {
			break
		}
		name, by := NameDenyDoorLocked, "schedule "+p.door.Schedule
		if p.door.Mode == ModeLockdown {
			name = NameDenyLockdown
		}
		if p.door.Source == SourceOverride {
			by = "override " + p.door.Override
		}
		return name, "only override users may enter (" + by + ")"
	}
	switch e.policy.authorize(u.Levels, rs.door, p.lt, p.clk.timeRules()) {
	case NotAuthorized:
		return NameDenyNotAuthorized, ""
	case OutsideSchedule:
		return NameDenyOutsideSchedule, ""
	case ClockNeeded:
		return NameDenyClockUntrusted, "only levels on the schedule \"always\" grant while the clock is untrusted"
	}
	return "", ""
}

// validity decides whether a user may be granted at all: enabled and
// within their validity. While the clock cannot be believed the validity
// bounds are judged against the last trusted time, the least the true time
// can be: a user who expired before it is expired; a user whose bounds it
// cannot decide is denied, since a wrong clock must not let in someone
// whose access has ended.
func (e *Engine) validity(u User, p presentation) string {
	if !u.Enabled {
		return NameDenyDisabled
	}
	if p.clk.timeRules() {
		return u.Validity(p.now)
	}
	if p.clk.choice == ClockDeny && !u.Override {
		return NameDenyClockUntrusted
	}
	floor := p.clk.LastTrusted
	if !u.ValidTo.IsZero() {
		if !floor.Before(u.ValidTo) {
			return NameDenyExpired
		}
		return NameDenyClockUntrusted
	}
	if !u.ValidFrom.IsZero() && floor.Before(u.ValidFrom) {
		return NameDenyClockUntrusted
	}
	return ""
}

// Key handles one key press: '0'-'9', '*' or '#'. A key that completes an
// entry ('#', or the eighth digit, R7) submits it as a PIN.
func (e *Engine) Key(now time.Time, reader string, key byte) (Result, error) {
	return e.at(now, reader, func(rs *readerState, p presentation, res Result) (Result, error) {
		if !p.mode.NeedsKeypad() {
			return res, nil // a card_only reader ignores its keypad
		}
		if rs.n > 0 && now.Sub(rs.lastKey) >= rs.cfg.KeyTimeout {
			rs.clearKeys()
		}
		rs.lastKey = now
		switch {
		case key >= '0' && key <= '9':
			rs.keys[rs.n] = key
			rs.n++
			if rs.n < MaxPINLength {
				return res, nil
			}
		case key == '*':
			rs.clearKeys()
			return res, nil
		case key == '#':
			if rs.n == 0 {
				return res, nil
			}
		default:
			return res, fmt.Errorf("access: reader %q: key %q is not a keypad key", reader, key)
		}
		var digits [MaxPINLength]byte
		n := copy(digits[:], rs.keys[:rs.n])
		rs.clearKeys()
		res = e.submitLocked(rs, p, res, digits[:n])
		clear(digits[:])
		return res, nil
	})
}

// PIN decides a whole PIN sent at once, as a buffered keypad does.
func (e *Engine) PIN(now time.Time, reader string, digits []byte) (Result, error) {
	return e.at(now, reader, func(rs *readerState, p presentation, res Result) (Result, error) {
		if !p.mode.NeedsKeypad() {
			return res, nil
		}
		rs.clearKeys()
		return e.submitLocked(rs, p, res, digits), nil
	})
}

// KeypadError records a keypad that reported an error instead of a PIN.
func (e *Engine) KeypadError(now time.Time, reader string) (Result, error) {
	return e.at(now, reader, func(rs *readerState, p presentation, res Result) (Result, error) {
		rs.clearKeys()
		return e.denyLocked(now, rs, res, NameDenyKeypadError, "", "", ""), nil
	})
}

// submitLocked decides a complete keypad entry.
func (e *Engine) submitLocked(rs *readerState, p presentation, res Result, digits []byte) Result {
	now := p.now
	if e.keypadLocked(rs, now) {
		rs.pending = false
		return e.denyLocked(now, rs, res, NameDenyKeypadLocked, "", "", "")
	}
	if p.mode == ModeCardAndPIN {
		if !rs.pending {
			return e.denyLocked(now, rs, res, NameDenyPINWithoutCard, "", "", "")
		}
		user, cred := rs.pendingUser, rs.pendingCred
		rs.pending = false // right or wrong, the card must be shown again
		h, duress, ok := e.lookupPIN(digits, user)
		if !ok {
			return e.wrongPINLocked(now, rs, res, NameDenyWrongPIN, user, cred) // R9
		}
		if why, detail := e.admitLocked(rs, p, h.User); why != "" {
			return e.denyLocked(now, rs, res, why, user, cred, detail)
		}
		return e.grantLocked(rs, p, res, NameGrantCardAndPIN, h.User, cred, duress) // R5
	}
	h, duress, ok := e.lookupPIN(digits, "")
	if !ok {
		return e.wrongPINLocked(now, rs, res, NameDenyCardPINNotFound, "", "") // R10
	}
	if e.userLocked(h.User.ID, now) {
		return e.denyLocked(now, rs, res, NameDenyUserLocked, h.User.ID, "", "")
	}
	if why, detail := e.admitLocked(rs, p, h.User); why != "" {
		return e.denyLocked(now, rs, res, why, h.User.ID, "", detail)
	}
	return e.grantLocked(rs, p, res, NameGrantPIN, h.User, "", duress)
}

// lookupPIN finds the holder of an entry, and with duress on, the holder
// whose PIN the entry is the duress neighbour of. want, when set, is the
// user whose PIN is expected (card+PIN): a PIN of anyone else is wrong.
// Only entries that can be PINs reach the directory.
func (e *Engine) lookupPIN(digits []byte, want string) (h Holder, duress, ok bool) {
	if len(digits) < MinPINLength || len(digits) > MaxPINLength {
		return Holder{}, false, false
	}
	if h, ok := e.dir.PIN(digits); ok && (want == "" || h.User.ID == want) {
		return h, false, true
	}
	if !e.duress {
		return Holder{}, false, false
	}
	var buf [MaxPINLength]byte
	orig := duressOriginal(buf[:0], digits)
	h, ok = e.dir.PIN(orig)
	clear(buf[:])
	if ok && (want == "" || h.User.ID == want) {
		return h, true, true
	}
	return Holder{}, false, false
}

// wrongPINLocked denies a wrong PIN and counts it against the reader, the
// gateway as a whole and, when known, the user whose card opened the
// window.
func (e *Engine) wrongPINLocked(now time.Time, rs *readerState, res Result, name, user, cred string) Result {
	res = e.denyLocked(now, rs, res, name, user, cred, "")
	res.SaveLockouts = true
	l := rs.cfg.Lockout
	if user != "" {
		ua := e.users[user]
		if ua == nil {
			ua = &attempts{}
			e.users[user] = ua
		}
		if d, ok := ua.fail(now, l, e.guesses); ok {
			res.SaveLockouts = true
			res.Events = append(res.Events, e.event(now, rs, TypeUserLock, NameUserLocked, user, cred,
				fmt.Sprintf("PIN locked for %s", d)))
		}
	}
	if d, ok := rs.fails.fail(now, l, e.guesses); ok {
		res.Action, res.SaveLockouts = ActionLockout, true
		res.Events = append(res.Events, e.event(now, rs, TypeLockout, NameKeypadLocked, "", "",
			fmt.Sprintf("keypad locked for %s", d)))
	}
	if d, ok := e.gateway.fail(now, e.guesses.lockout(), e.guesses); ok {
		res.Action, res.SaveLockouts = ActionLockout, true
		ev := e.event(now, rs, TypeLockout, NameKeypadsLocked, "", "",
			fmt.Sprintf("%d wrong PINs across the gateway's readers within %s: every keypad locked for %s",
				e.guesses.Attempts, e.guesses.Window, d))
		ev.Reader, ev.Door = "", ""
		res.Events = append(res.Events, ev)
	}
	return res
}

func (e *Engine) userLocked(user string, now time.Time) bool {
	ua := e.users[user]
	return ua != nil && ua.locked(now)
}

// keypadLocked reports whether a reader's keypad refuses PINs: its own
// lockout, or the gateway-wide one.
func (e *Engine) keypadLocked(rs *readerState, now time.Time) bool {
	return rs.fails.locked(now) || e.gateway.locked(now)
}

// Tick expires card+PIN windows and ends lockouts due by now. The gateway
// calls it at [Engine.NextDeadline] (or periodically); input calls expire
// the reader they touch on their own, so a late Tick loses nothing.
func (e *Engine) Tick(now time.Time) []Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Result
	for _, name := range e.readerNames() {
		rs := e.readers[name]
		res := e.newResult(rs)
		e.expireLocked(now, rs, &res)
		if len(res.Events) > 0 {
			out = append(out, res)
		}
	}
	if !e.gateway.lockedUntil.IsZero() && !e.gateway.locked(now) {
		end := e.gateway.lockedUntil
		e.gateway.lockedUntil = time.Time{}
		out = append(out, Result{Action: ActionIdle, SaveLockouts: true, Events: []Event{
			{Time: end, Type: TypeUnlocked, Name: NameKeypadsUnlocked}}})
	}
	for id, ua := range e.users {
		if ua.idle(now, e.guesses.StreakReset) {
			delete(e.users, id)
		}
	}
	return out
}

func (e *Engine) readerNames() []string {
	names := make([]string, 0, len(e.readers))
	for n := range e.readers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// NextDeadline returns the earliest time at which Tick has work to do.
func (e *Engine) NextDeadline() (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, rs := range e.readers {
		if rs.pending {
			consider(rs.pendingEnd)
		}
		consider(rs.fails.lockedUntil)
	}
	consider(e.gateway.lockedUntil)
	return next, !next.IsZero()
}

// expireLocked closes a card+PIN window whose time is up (R8) and ends a
// finished lockout, adding their events to res.
func (e *Engine) expireLocked(now time.Time, rs *readerState, res *Result) {
	if rs.pending && !now.Before(rs.pendingEnd) {
		rs.pending = false
		rs.clearKeys()
		res.Action = ActionDeny
		res.Events = append(res.Events, e.event(rs.pendingEnd, rs, TypeDenied, NameDenyPINTimeout,
			rs.pendingUser, rs.pendingCred, fmt.Sprintf("no PIN within %s", rs.cfg.PINWindow)))
	}
	if !rs.fails.lockedUntil.IsZero() && !rs.fails.locked(now) {
		end := rs.fails.lockedUntil
		rs.fails.lockedUntil = time.Time{}
		if res.Action == ActionNone {
			res.Action = ActionIdle
		}
		res.SaveLockouts = true
		res.Events = append(res.Events, e.event(end, rs, TypeUnlocked, NameKeypadUnlocked, "", "", ""))
	}
}

func (rs *readerState) clearKeys() {
	clear(rs.keys[:])
	rs.n = 0
}

func (e *Engine) newResult(rs *readerState) Result {
	return Result{Reader: rs.cfg.Name, Door: rs.cfg.Door}
}

// grantLocked grants u at the reader: the grant event, then the duress
// alarm when the PIN was the duress code, then the door's first person in
// when u is the first holder of a first-in level granted there today.
func (e *Engine) grantLocked(rs *readerState, p presentation, res Result, name string, u User, cred string, duress bool) Result {
	res.Action = ActionGrant
	res.Events = append(res.Events, e.event(p.now, rs, TypeGranted, name, u.ID, cred, ""))
	if duress {
		res.Events = append(res.Events, e.event(p.now, rs, TypeDuress, NameDuressAlarm, u.ID, cred,
			"the user entered their duress code; the reader showed a normal grant"))
	}
	if !e.policy.doors[rs.door].firstIn {
		return res
	}
	door := e.site.Doors[rs.door].Name
	today := p.lt.date.String()
	if f, ok := e.firstIn[door]; !ok || f.Date != today {
		for _, m := range e.policy.doors[rs.door].modes {
			if m.firstIn != "" && holdsLevel(u.Levels, m.firstIn) {
				f := FirstIn{Door: door, Date: today, User: u.ID}
				e.firstIn[door] = f
				res.FirstIn = &f
				res.Events = append(res.Events, e.event(p.now, rs, TypeFirstIn, NameFirstPersonIn, u.ID, cred,
					fmt.Sprintf("first holder of level %q granted here today", m.firstIn)))
				break
			}
		}
	}
	return res
}

func (e *Engine) denyLocked(now time.Time, rs *readerState, res Result, name, user, cred, detail string) Result {
	res.Action = ActionDeny
	res.Events = append(res.Events, e.event(now, rs, TypeDenied, name, user, cred, detail))
	return res
}

func (e *Engine) event(t time.Time, rs *readerState, typ, name, user, cred, detail string) Event {
	return Event{Time: t, Type: typ, Name: name, Reader: rs.cfg.Name, Door: rs.cfg.Door, User: user, Credential: cred, Detail: detail}
}

// ModeChange is a door whose effective mode changed: what the gateway
// must carry out (hold the strike released, end an unlock, show it) and
// the event that says so.
type ModeChange struct {
	From, To DoorState
	// Event is the change's activity-log entry; its Name is empty for a
	// door that starts in its reader's configured mode.
	Event Event
}

// UpdateModes works out every door's effective mode at now and returns
// the doors whose mode changed since the last call. The first call reports
// every door, so the gateway drives each to its starting state. Call it
// at [Engine.NextModeChange], after SetPolicy, SetClock or a first person
// in, and once a minute besides, so that a step of the wall clock is
// caught up with.
func (e *Engine) UpdateModes(now time.Time) []ModeChange {
	e.mu.Lock()
	defer e.mu.Unlock()
	lt := e.policy.local(now)
	clk := e.clockLocked()
	var out []ModeChange
	for i := range e.site.Doors {
		st := e.policy.doorState(i, now, lt, clk, e.firstInDateLocked(i), true)
		old := e.modes[i]
		if old.Door != "" && old.same(st) {
			e.modes[i] = st // the reason's words may change (an override's end)
			continue
		}
		e.modes[i] = st
		ch := ModeChange{From: old, To: st}
		ev := Event{Time: now, Door: st.Door, Reader: e.site.Doors[i].Reader}
		switch {
		case old.Door == "" && st.Source == SourceReader && st.AwaitingFirstIn == "":
		case old.Door == "":
			ev.Type, ev.Name = transition(DoorState{Mode: DoorMode(e.site.Doors[i].Mode), Source: SourceReader}, st)
			ev.Detail = "at start: " + st.Reason
		default:
			ev.Type, ev.Name = transition(old, st)
			ev.Detail = describe(old, st)
		}
		if ev.Name != "" {
			ch.Event = ev
		}
		out = append(out, ch)
	}
	return out
}

// DoorStatus is a door's effective mode and when and how it next changes.
type DoorStatus struct {
	DoorState
	// Next is when the mode next changes by itself (a schedule boundary,
	// an override's end), zero when not within a week.
	Next     time.Time `json:"next_change,omitzero"`
	NextMode DoorMode  `json:"next_mode,omitempty"`
}

// DoorStatuses returns every door's effective mode at now, with its next
// change, in site order.
func (e *Engine) DoorStatuses(now time.Time) []DoorStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]DoorStatus, len(e.site.Doors))
	for i := range e.site.Doors {
		out[i] = e.doorStatusLocked(i, now)
	}
	return out
}

// DoorStatus returns one door's effective mode at now and its next change.
func (e *Engine) DoorStatus(now time.Time, door string) (DoorStatus, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, d := range e.site.Doors {
		if d.Name == door {
			return e.doorStatusLocked(i, now), true
		}
	}
	return DoorStatus{}, false
}

func (e *Engine) doorStatusLocked(i int, now time.Time) DoorStatus {
	clk := e.clockLocked()
	fi := e.firstInDateLocked(i)
	st := e.policy.doorState(i, now, e.policy.local(now), clk, fi, true)
	out := DoorStatus{DoorState: st}
	if t, next, ok := e.policy.nextChange(i, now, st, clk, fi); ok {
		out.Next, out.NextMode = t, next.Mode
	}
	return out
}

// NextModeChange returns the earliest moment after now at which a door's
// mode changes by itself.
func (e *Engine) NextModeChange(now time.Time) (time.Time, bool) {
	var next time.Time
	for _, d := range e.DoorStatuses(now) {
		if !d.Next.IsZero() && (next.IsZero() || d.Next.Before(next)) {
			next = d.Next
		}
	}
	return next, !next.IsZero()
}
