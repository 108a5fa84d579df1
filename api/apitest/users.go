package apitest

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gpio/wiegand"
	"github.com/lintel-access/lintel/sync/changeset"
)

// cards are the card formats the fake's readers decode: gpio/wiegand's
// defaults, as the readers of `lintel run --sim`.
var cards = wiegand.CardFormatsOf(decoder)

// checkCard is the gateway's card rule (gpio/wiegand's), with the field
// named as the store names it.
func checkCard(k access.CardKey) error {
	err := cards.Check(k.Format, k.Facility, k.Number)
	var ce *wiegand.CardError
	if errors.As(err, &ce) {
		return &access.FieldError{Field: "card." + ce.Field, Err: access.Invalidf("%s", ce.Msg)}
	}
	return err
}

// ListUsers implements api.Backend.
func (b *Backend) ListUsers(after string, fn func(api.UserView) bool) error {
	b.mu.Lock()
	ids := sortedKeys(b.users)
	b.mu.Unlock()
	i, found := slices.BinarySearch(ids, after)
	if found {
		i++
	}
	for _, id := range ids[i:] {
		v, err := b.User(id)
		if errors.Is(err, access.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if !fn(v) {
			return nil
		}
	}
	return nil
}

// RemoveCredential implements api.Backend.
func (b *Backend) RemoveCredential(actor, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.users {
		i := slices.IndexFunc(u.creds, func(c access.Credential) bool { return c.ID == id })
		if i < 0 {
			continue
		}
		c := u.creds[i]
		u.creds = slices.Delete(u.creds, i, i+1)
		delete(b.cards, c.Card)
		delete(b.credIDs, c.ID)
		b.auditLocked(actor, "Card Removed", u.u.ID)
		return nil
	}
	return fmt.Errorf("apitest: remove credential %q: %w", id, access.ErrNotFound)
}

// enrolBusy is the error of a second enrolment at one reader.
type enrolBusy struct{ reader, user string }

func (e enrolBusy) Error() string {
	return fmt.Sprintf("reader %q is already waiting for a card to enrol for user %q", e.reader, e.user)
}
func (e enrolBusy) Unwrap() error { return access.ErrInUse }

// enrolment is a reader waiting for a card to enrol.
type enrolment struct {
	user  string
	cards chan access.CardKey // buffered: the first card read
}

// EnrolCard implements api.Backend: the next card Sim sends to the
// reader goes to the user instead of to the engine.
func (b *Backend) EnrolCard(ctx context.Context, actor, userID, reader string) (access.Credential, error) {
	if _, ok := b.engine.Reader(reader); !ok {
		return access.Credential{}, access.ErrUnknownReader(reader)
	}
	b.mu.Lock()
	if _, ok := b.users[userID]; !ok {
		b.mu.Unlock()
		return access.Credential{}, fmt.Errorf("apitest: enrol for %q: %w", userID, access.ErrNotFound)
	}
	if e, ok := b.enrolments[reader]; ok {
		b.mu.Unlock()
		return access.Credential{}, enrolBusy{reader, e.user}
	}
	e := &enrolment{user: userID, cards: make(chan access.CardKey, 1)}
	b.enrolments[reader] = e
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.enrolments, reader)
		b.mu.Unlock()
	}()
	select {
	case k := <-e.cards:
		return b.AddCredential(actor, userID, access.Credential{Type: access.CredentialCard, Card: k})
	case <-ctx.Done():
		return access.Credential{}, ctx.Err()
	}
}

// takeEnrolment hands a card read at reader to an enrolment waiting
// there, and reports whether one took it.
func (b *Backend) takeEnrolment(reader string, k access.CardKey) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.enrolments[reader]
	if !ok {
		return false
	}
	select {
	case e.cards <- k:
		return true
	default:
		return false // it has its card; this one is decided
	}
}

// Export implements api.Backend with the snapshot format of
// sync/changeset.
func (b *Backend) Export() ([]byte, []string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cs := changeset.Changeset{Snapshot: true, Revision: max(b.revision, 1), Users: []changeset.SnapshotUser{},
		Policy: changeset.PolicyOf(b.policy)}
	var withPIN []string
	for _, id := range sortedKeys(b.users) {
		u := b.users[id]
		cs.Users = append(cs.Users, changeset.SnapshotUser{User: u.u, Credentials: slices.Clone(u.creds)})
		if u.pin != "" {
			withPIN = append(withPIN, id)
		}
	}
	out, err := changeset.Encode(cs)
	return out, withPIN, err
}

// Import implements api.Backend: the snapshot is decoded by
// sync/changeset and replaces the table whole, or nothing changes. A user
// keeps the PIN the fake held for their id.
func (b *Backend) Import(actor string, snapshot []byte) (api.ImportResult, error) {
	cs, err := changeset.Decode(snapshot)
	if err != nil {
		return api.ImportResult{}, fmt.Errorf("%w: table: %v", api.ErrInvalid, err)
	}
	if !cs.Snapshot {
		return api.ImportResult{}, fmt.Errorf("%w: table: is a delta; an import is a snapshot", api.ErrInvalid)
	}
	table, err := cs.Policy.Table(b.engine.Site())
	if err != nil {
		return api.ImportResult{}, fmt.Errorf("%w: table: %v", api.ErrInvalid, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	users := make(map[string]*user, len(cs.Users))
	pins := make(map[string]string)
	cardsSeen := make(map[access.CardKey]access.Credential)
	credIDs := make(map[string]bool)
	res := api.ImportResult{Schedules: len(table.Schedules), Holidays: len(table.Holidays), Levels: len(table.Levels),
		DoorPolicies: len(table.Policies), Overrides: len(table.Overrides)}
	for i, su := range cs.Users {
		bad := func(format string, args ...any) (api.ImportResult, error) {
			return api.ImportResult{}, fmt.Errorf("%w: table: users[%d]: %s", api.ErrInvalid, i, fmt.Sprintf(format, args...))
		}
		u := su.User
		if u.Levels == nil {
			u.Levels = access.DefaultLevels()
		}
		if err := table.CheckUserLevels(u.Levels); err != nil {
			return bad("%v", err)
		}
		nu := &user{u: u, pin: su.PIN}
		if old, ok := b.users[u.ID]; ok && old.pin != "" && su.PIN == "" {
			nu.pin = old.pin
		}
		if nu.pin != "" {
			if _, taken := pins[nu.pin]; taken {
				return bad("pin: %v", access.ErrPINInUse)
			}
			pins[nu.pin] = u.ID
			res.PINs++
		}
		for j, c := range su.Credentials {
			if err := checkCard(c.Card); err != nil {
				return bad("credentials[%d].%v", j, err)
			}
			if _, dup := cardsSeen[c.Card]; dup || credIDs[c.ID] {
				return bad("credentials[%d]: %v", j, access.ErrCredentialInUse)
			}
			c.UserID, c.Type = u.ID, access.CredentialCard
			cardsSeen[c.Card], credIDs[c.ID] = c, true
			nu.creds = append(nu.creds, c)
		}
		users[u.ID] = nu
		res.Users++
		res.Credentials += len(nu.creds)
	}
	b.users, b.pins, b.cards, b.credIDs, b.policy = users, pins, cardsSeen, credIDs, table
	b.engine.SetPolicy(table)
	b.auditLocked(actor, "Table Imported", "")
	return res, nil
}
