// Package accesstest provides an in-memory [access.Directory] for tests of
// the decision engine and of code built on it. It enforces the same table
// rules as the real store (one PIN per user, PINs unique across users) but
// keeps PINs in plain text, so it must never hold real data.
package accesstest

import (
	"fmt"
	"sync"

	"github.com/lintel-access/lintel/gateway/access"
)

// Directory is a map-backed user table. It is safe for concurrent use.
type Directory struct {
	mu    sync.RWMutex // guards the maps
	users map[string]access.User
	cards map[access.CardKey]string // card → credential id
	creds map[string]access.Credential
	pins  map[string]string // pin → user id
	byPIN map[string]string // user id → pin
}

var _ access.Directory = (*Directory)(nil)

// New returns an empty directory.
func New() *Directory {
	return &Directory{
		users: map[string]access.User{},
		cards: map[access.CardKey]string{},
		creds: map[string]access.Credential{},
		pins:  map[string]string{},
		byPIN: map[string]string{},
	}
}

// PutUser adds or replaces a user. A user without levels (nil) gets
// access.DefaultLevels, as the store gives a user created without them;
// an empty, non-nil list means no door.
func (d *Directory) PutUser(u access.User) {
	if u.Levels == nil {
		u.Levels = access.DefaultLevels()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users[u.ID] = u
}

// AddCard enrolls a card for a user under credential id cred.
func (d *Directory) AddCard(user, cred string, key access.CardKey) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.users[user]; !ok {
		return fmt.Errorf("user %q: %w", user, access.ErrNotFound)
	}
	if _, ok := d.cards[key]; ok {
		return fmt.Errorf("card %s: %w", key, access.ErrCredentialInUse)
	}
	d.cards[key] = cred
	d.creds[cred] = access.Credential{ID: cred, UserID: user, Type: access.CredentialCard, Card: key}
	return nil
}

// SetPIN gives a user a PIN, replacing their old one (R1). It refuses a PIN
// another user holds (R3) and an invalid one (R2).
func (d *Directory) SetPIN(user, pin string) error {
	if err := access.ValidatePIN(pin); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.users[user]; !ok {
		return fmt.Errorf("user %q: %w", user, access.ErrNotFound)
	}
	if holder, ok := d.pins[pin]; ok && holder != user {
		return access.ErrPINInUse
	}
	if old, ok := d.byPIN[user]; ok {
		delete(d.pins, old)
	}
	d.pins[pin] = user
	d.byPIN[user] = pin
	return nil
}

// Taken reports whether a PIN is held; it fits [access.GeneratePIN].
func (d *Directory) Taken(pin string) bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	_, ok := d.pins[pin]
	return ok
}

// ClearPIN removes a user's PIN.
func (d *Directory) ClearPIN(user string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.byPIN[user]; ok {
		delete(d.pins, old)
		delete(d.byPIN, user)
	}
}

// Card implements [access.Directory].
func (d *Directory) Card(key access.CardKey) (access.Holder, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	cred, ok := d.cards[key]
	if !ok {
		return access.Holder{}, false
	}
	c := d.creds[cred]
	_, hasPIN := d.byPIN[c.UserID]
	return access.Holder{User: d.users[c.UserID], Credential: cred, HasPIN: hasPIN}, true
}

// PIN implements [access.Directory].
func (d *Directory) PIN(digits []byte) (access.Holder, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	user, ok := d.pins[string(digits)]
	if !ok {
		return access.Holder{}, false
	}
	return access.Holder{User: d.users[user], HasPIN: true}, true
}
