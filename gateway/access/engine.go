package access

import (
	"fmt"
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
	// Events to journal, in order. A decision yields exactly one event; a
	// wrong PIN that trips a lockout yields the denial and the lockout.
	Events []Event
}

// Engine is the decision state machine of all readers. It is safe for
// concurrent use; calls are serialised internally and never block on
// anything but the [Directory].
type Engine struct {
	dir Directory

	mu sync.Mutex // guards everything below
	// readers by name; the map itself is fixed after NewEngine.
	readers map[string]*readerState
	// users holds per-user wrong-PIN counters and lockouts.
	users map[string]*attempts
}

// readerState is one reader's keypad buffer, card+PIN window and lockout.
type readerState struct {
	cfg ReaderConfig

	keys    [MaxPINLength]byte
	n       int
	lastKey time.Time

	pending     bool // a card_and_pin window is open
	pendingUser string
	pendingCred string
	pendingEnd  time.Time

	fails attempts
}

// attempts counts wrong PINs in a sliding window and holds a lockout.
type attempts struct {
	times       []time.Time
	lockedUntil time.Time
}

// locked reports whether a lockout is in force at now.
func (a *attempts) locked(now time.Time) bool { return now.Before(a.lockedUntil) }

// fail records a wrong PIN at now and reports whether it starts a lockout.
func (a *attempts) fail(now time.Time, l Lockout) bool {
	keep := a.times[:0]
	for _, t := range a.times {
		if now.Sub(t) < l.Window {
			keep = append(keep, t)
		}
	}
	a.times = append(keep, now)
	if len(a.times) < l.Attempts {
		return false
	}
	a.times = a.times[:0]
	a.lockedUntil = now.Add(l.Duration)
	return true
}

// NewEngine returns an engine for the given readers, which must validate and
// have distinct names.
func NewEngine(dir Directory, readers []ReaderConfig) (*Engine, error) {
	e := &Engine{dir: dir, readers: make(map[string]*readerState, len(readers)), users: make(map[string]*attempts)}
	for i, rc := range readers {
		if err := rc.Validate(); err != nil {
			return nil, fmt.Errorf("access: reader %d (%q): %w", i, rc.Name, err)
		}
		if _, dup := e.readers[rc.Name]; dup {
			return nil, fmt.Errorf("access: reader %q is defined twice", rc.Name)
		}
		e.readers[rc.Name] = &readerState{cfg: rc.WithDefaults()}
	}
	return e, nil
}

// Reader returns the effective configuration of a reader.
func (e *Engine) Reader(name string) (ReaderConfig, bool) {
	rs, ok := e.readers[name]
	if !ok {
		return ReaderConfig{}, false
	}
	return rs.cfg, true
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

// at runs fn for one input at a reader, under the engine's lock, with the
// reader's finished card+PIN window and lockout already expired into res.
func (e *Engine) at(now time.Time, reader string, fn func(rs *readerState, res Result) (Result, error)) (Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rs, err := e.reader(reader)
	if err != nil {
		return Result{}, err
	}
	res := e.newResult(rs)
	e.expireLocked(now, rs, &res)
	return fn(rs, res)
}

// Card decides a card presented at a reader.
func (e *Engine) Card(now time.Time, reader string, key CardKey) (Result, error) {
	return e.at(now, reader, func(rs *readerState, res Result) (Result, error) {
		return e.cardLocked(now, rs, res, key), nil
	})
}

func (e *Engine) cardLocked(now time.Time, rs *readerState, res Result, key CardKey) Result {
	if rs.cfg.Mode == ModePINOnly {
		return e.denyLocked(now, rs, res, NameDenyCardNotAllowed, "", "", key.String())
	}
	h, ok := e.dir.Card(key)
	if !ok {
		return e.denyLocked(now, rs, res, NameDenyCardNotFound, "", "", key.String())
	}
	if why := h.User.Validity(now); why != "" {
		return e.denyLocked(now, rs, res, why, h.User.ID, h.Credential, "")
	}
	if rs.cfg.Mode != ModeCardAndPIN {
		return e.grantLocked(now, rs, res, NameGrantCard, h.User.ID, h.Credential)
	}
	// card_and_pin: the card opens a window for the holder's PIN (R8).
	switch {
	case e.userLocked(h.User.ID, now):
		return e.denyLocked(now, rs, res, NameDenyUserLocked, h.User.ID, h.Credential, "")
	case !h.HasPIN:
		return e.denyLocked(now, rs, res, NameDenyNoPIN, h.User.ID, h.Credential, "")
	case rs.fails.locked(now):
		return e.denyLocked(now, rs, res, NameDenyKeypadLocked, h.User.ID, h.Credential, "")
	}
	rs.clearKeys()
	rs.pending, rs.pendingUser, rs.pendingCred = true, h.User.ID, h.Credential
	rs.pendingEnd = now.Add(rs.cfg.PINWindow)
	res.Action = ActionAwaitPIN
	res.Events = append(res.Events, e.event(now, rs, TypeAwaitPIN, NameAwaitingPIN, h.User.ID, h.Credential, ""))
	return res
}

// Key handles one key press: '0'-'9', '*' or '#'. A key that completes an
// entry ('#', or the eighth digit, R7) submits it as a PIN.
func (e *Engine) Key(now time.Time, reader string, key byte) (Result, error) {
	return e.at(now, reader, func(rs *readerState, res Result) (Result, error) {
		if !rs.cfg.Mode.NeedsKeypad() {
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
		res = e.submitLocked(now, rs, res, digits[:n])
		clear(digits[:])
		return res, nil
	})
}

// PIN decides a whole PIN sent at once, as a buffered keypad does.
func (e *Engine) PIN(now time.Time, reader string, digits []byte) (Result, error) {
	return e.at(now, reader, func(rs *readerState, res Result) (Result, error) {
		if !rs.cfg.Mode.NeedsKeypad() {
			return res, nil
		}
		rs.clearKeys()
		return e.submitLocked(now, rs, res, digits), nil
	})
}

// KeypadError records a keypad that reported an error instead of a PIN.
func (e *Engine) KeypadError(now time.Time, reader string) (Result, error) {
	return e.at(now, reader, func(rs *readerState, res Result) (Result, error) {
		rs.clearKeys()
		return e.denyLocked(now, rs, res, NameDenyKeypadError, "", "", ""), nil
	})
}

// submitLocked decides a complete keypad entry.
func (e *Engine) submitLocked(now time.Time, rs *readerState, res Result, digits []byte) Result {
	if rs.fails.locked(now) {
		rs.pending = false
		return e.denyLocked(now, rs, res, NameDenyKeypadLocked, "", "", "")
	}
	if rs.cfg.Mode == ModeCardAndPIN {
		if !rs.pending {
			return e.denyLocked(now, rs, res, NameDenyPINWithoutCard, "", "", "")
		}
		user, cred := rs.pendingUser, rs.pendingCred
		rs.pending = false // right or wrong, the card must be shown again
		h, ok := e.lookupPIN(digits)
		if !ok || h.User.ID != user {
			return e.wrongPINLocked(now, rs, res, NameDenyWrongPIN, user, cred) // R9
		}
		if why := h.User.Validity(now); why != "" {
			return e.denyLocked(now, rs, res, why, user, cred, "")
		}
		return e.grantLocked(now, rs, res, NameGrantCardAndPIN, user, cred) // R5
	}
	h, ok := e.lookupPIN(digits)
	if !ok {
		return e.wrongPINLocked(now, rs, res, NameDenyCardPINNotFound, "", "") // R10
	}
	if e.userLocked(h.User.ID, now) {
		return e.denyLocked(now, rs, res, NameDenyUserLocked, h.User.ID, "", "")
	}
	if why := h.User.Validity(now); why != "" {
		return e.denyLocked(now, rs, res, why, h.User.ID, "", "")
	}
	return e.grantLocked(now, rs, res, NameGrantPIN, h.User.ID, "")
}

// lookupPIN asks the directory only about entries that can be PINs.
func (e *Engine) lookupPIN(digits []byte) (Holder, bool) {
	if len(digits) < MinPINLength || len(digits) > MaxPINLength {
		return Holder{}, false
	}
	return e.dir.PIN(digits)
}

// wrongPINLocked denies a wrong PIN and counts it against the reader and,
// when known, the user whose card opened the window.
func (e *Engine) wrongPINLocked(now time.Time, rs *readerState, res Result, name, user, cred string) Result {
	res = e.denyLocked(now, rs, res, name, user, cred, "")
	l := rs.cfg.Lockout
	if user != "" {
		ua := e.users[user]
		if ua == nil {
			ua = &attempts{}
			e.users[user] = ua
		}
		if ua.fail(now, l) {
			res.Events = append(res.Events, e.event(now, rs, TypeUserLock, NameUserLocked, user, cred,
				fmt.Sprintf("PIN locked for %s", l.Duration)))
		}
	}
	if rs.fails.fail(now, l) {
		res.Action = ActionLockout
		res.Events = append(res.Events, e.event(now, rs, TypeLockout, NameKeypadLocked, "", "",
			fmt.Sprintf("keypad locked for %s", l.Duration)))
	}
	return res
}

func (e *Engine) userLocked(user string, now time.Time) bool {
	ua := e.users[user]
	return ua != nil && ua.locked(now)
}

// Tick expires card+PIN windows and ends lockouts due by now. The gateway
// calls it at [Engine.NextDeadline] (or periodically); input calls expire
// the reader they touch on their own, so a late Tick loses nothing.
func (e *Engine) Tick(now time.Time) []Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Result
	for _, rs := range e.readers {
		res := e.newResult(rs)
		e.expireLocked(now, rs, &res)
		if len(res.Events) > 0 {
			out = append(out, res)
		}
	}
	for id, ua := range e.users {
		if !ua.locked(now) && len(ua.times) == 0 {
			delete(e.users, id)
		}
	}
	return out
}

// NextDeadline returns the earliest time at which Tick has work to do.
func (e *Engine) NextDeadline() (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, rs := range e.readers {
		if rs.pending {
			consider(rs.pendingEnd)
		}
		if !rs.fails.lockedUntil.IsZero() {
			consider(rs.fails.lockedUntil)
		}
	}
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

func (e *Engine) grantLocked(now time.Time, rs *readerState, res Result, name, user, cred string) Result {
	res.Action = ActionGrant
	res.Events = append(res.Events, e.event(now, rs, TypeGranted, name, user, cred, ""))
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
