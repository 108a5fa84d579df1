package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lintel-access/lintel/api"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/sync/changeset"
)

// backend is the gateway as the API sees it. Writes go through the store's
// all-or-nothing transactions, so a PIN set through the API takes effect at
// the door in the same step it becomes durable.
type backend Gateway

var _ api.Backend = (*backend)(nil)

func (b *backend) gw() *Gateway { return (*Gateway)(b) }

func (b *backend) Status() api.Status { return b.gw().status() }

func (b *backend) Healthy() bool { return b.gw().Healthy() }

// The API's changes of the user table and the policy go through the
// store's all-or-nothing transactions and, once committed, journal an
// audit event naming the actor (the token's name) and what changed, never
// a PIN.

func (b *backend) PutUser(actor string, u access.User, set access.UserFields) (created bool, err error) {
	err = b.store.Update(func(tx *store.Tx) error {
		created, err = tx.UpsertUser(u, set)
		return err
	})
	if err == nil {
		name := "User Updated"
		if created {
			name = "User Added"
		}
		b.gw().audit(actor, name, access.Event{User: u.ID}, userChange(u, set))
	}
	return created, err
}

// userChange says what a change of a user set, for its audit event.
func userChange(u access.User, set access.UserFields) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("name %q", u.Name))
	if set&access.FieldEnabled != 0 {
		parts = append(parts, fmt.Sprintf("enabled %v", u.Enabled))
	}
	if !u.ValidFrom.IsZero() || !u.ValidTo.IsZero() {
		parts = append(parts, "validity "+validityText(u))
	}
	if set&access.FieldLevels != 0 {
		parts = append(parts, fmt.Sprintf("levels %v", u.Levels))
	}
	if set&access.FieldOverride != 0 {
		parts = append(parts, fmt.Sprintf("override %v", u.Override))
	}
	return strings.Join(parts, ", ")
}

func validityText(u access.User) string {
	f := func(t time.Time) string {
		if t.IsZero() {
			return "open"
		}
		return t.UTC().Format(time.RFC3339)
	}
	return f(u.ValidFrom) + " to " + f(u.ValidTo)
}

func (b *backend) User(id string) (api.UserView, error) {
	r, err := b.store.User(id)
	if err != nil {
		return api.UserView{}, err
	}
	return api.UserView{User: r.User, HasPIN: r.HasPIN, Credentials: r.Credentials}, nil
}

func (b *backend) DeleteUser(actor, id string) error {
	err := b.store.Update(func(tx *store.Tx) error { return tx.DeleteUser(id) })
	if err == nil {
		b.gw().audit(actor, "User Deleted", access.Event{User: id}, "with their PIN and cards")
	}
	return err
}

func (b *backend) SetPIN(actor, userID, pin string) error {
	err := b.store.Update(func(tx *store.Tx) error { return tx.SetPIN(userID, pin) })
	if err == nil {
		b.gw().audit(actor, "PIN Set", access.Event{User: userID}, "a custom PIN")
	}
	return err
}

func (b *backend) GeneratePIN(actor, userID string, length int) (pin string, err error) {
	err = b.store.Update(func(tx *store.Tx) error {
		pin, err = tx.GeneratePIN(userID, length)
		return err
	})
	if err != nil {
		return "", err
	}
	b.gw().audit(actor, "PIN Generated", access.Event{User: userID}, fmt.Sprintf("a random PIN of %d digits", length))
	return pin, nil
}

func (b *backend) ClearPIN(actor, userID string) error {
	err := b.store.Update(func(tx *store.Tx) error { return tx.ClearPIN(userID) })
	if err == nil {
		b.gw().audit(actor, "PIN Cleared", access.Event{User: userID}, "")
	}
	return err
}

func (b *backend) AddCredential(actor, userID string, c access.Credential) (out access.Credential, err error) {
	c.UserID = userID
	if c.Type == "" {
		c.Type = access.CredentialCard
	}
	err = b.store.Update(func(tx *store.Tx) error {
		out, err = tx.AddCredential(c)
		return err
	})
	if err == nil {
		b.gw().audit(actor, "Card Added", access.Event{User: userID, Credential: out.ID}, "card "+out.Card.String())
	}
	return out, err
}

func (b *backend) Policy() *access.Table { return b.store.Policy() }

// putPolicy runs one policy change and journals it. exists reports
// whether the object was in the table before, for created.
func (b *backend) putPolicy(actor, name string, ev access.Event, detail string, exists bool, fn func(tx *store.Tx) error) (created bool, err error) {
	if err := b.store.Update(fn); err != nil {
		return false, err
	}
	b.gw().audit(actor, name, ev, detail)
	return !exists, nil
}

func (b *backend) PutSchedule(actor string, sc access.Schedule) (bool, error) {
	_, exists := b.store.Policy().Schedules[sc.ID]
	return b.putPolicy(actor, "Schedule Saved", access.Event{}, fmt.Sprintf("schedule %q, %d intervals", sc.ID, len(sc.Intervals)), exists,
		func(tx *store.Tx) error { return tx.PutSchedule(sc) })
}

func (b *backend) DeleteSchedule(actor, id string) error {
	_, err := b.putPolicy(actor, "Schedule Deleted", access.Event{}, fmt.Sprintf("schedule %q", id), true,
		func(tx *store.Tx) error { return tx.DeleteSchedule(id) })
	return err
}

func (b *backend) PutHoliday(actor string, h access.Holiday) (bool, error) {
	_, exists := b.store.Policy().Holidays[h.ID]
	span := h.Date
	if h.Until != "" {
		span += " to " + h.Until
	}
	return b.putPolicy(actor, "Holiday Saved", access.Event{}, fmt.Sprintf("holiday %q, %s, type %d", h.ID, span, h.Type), exists,
		func(tx *store.Tx) error { return tx.PutHoliday(h) })
}

func (b *backend) DeleteHoliday(actor, id string) error {
	_, err := b.putPolicy(actor, "Holiday Deleted", access.Event{}, fmt.Sprintf("holiday %q", id), true,
		func(tx *store.Tx) error { return tx.DeleteHoliday(id) })
	return err
}

func (b *backend) PutLevel(actor string, l access.Level) (bool, error) {
	_, exists := b.store.Policy().Levels[l.ID]
	return b.putPolicy(actor, "Level Saved", access.Event{}, fmt.Sprintf("level %q, %d doors", l.ID, len(l.Doors)), exists,
		func(tx *store.Tx) error { return tx.PutLevel(l) })
}

func (b *backend) DeleteLevel(actor, id string) error {
	_, err := b.putPolicy(actor, "Level Deleted", access.Event{}, fmt.Sprintf("level %q", id), true,
		func(tx *store.Tx) error { return tx.DeleteLevel(id) })
	return err
}

func (b *backend) SetDoorPolicy(actor string, p access.DoorPolicy) error {
	detail := fmt.Sprintf("%d modes", len(p.Modes))
	if len(p.Modes) == 0 {
		detail = "removed: the door runs its reader's mode"
	}
	_, err := b.putPolicy(actor, "Door Policy Set", access.Event{Door: p.Door}, detail, true,
		func(tx *store.Tx) error { return tx.SetDoorPolicy(p) })
	return err
}

func (b *backend) SetOverride(actor string, o access.Override) (bool, error) {
	_, exists := b.store.Policy().Overrides[o.ID]
	detail := fmt.Sprintf("override %q: %s on %v", o.ID, o.Mode, o.Doors)
	if o.Until != nil {
		detail += " until " + o.Until.UTC().Format(time.RFC3339)
	}
	return b.putPolicy(actor, "Override Set", access.Event{}, detail, exists,
		func(tx *store.Tx) error { return tx.SetOverride(o) })
}

func (b *backend) ClearOverride(actor, id string) error {
	_, err := b.putPolicy(actor, "Override Cleared", access.Event{}, fmt.Sprintf("override %q", id), true,
		func(tx *store.Tx) error { return tx.ClearOverride(id) })
	return err
}

func (b *backend) Events(after uint64, limit int) ([]access.Event, error) {
	return b.store.Events(after, limit)
}

func (b *backend) WaitEvents(ctx context.Context, after uint64) error {
	return b.store.Wait(ctx, after)
}

// HandleChanges submits a changeset posted to the API to the sync inbox,
// the one path of every changeset, and waits for its ack.
func (b *backend) HandleChanges(ctx context.Context, actor string, payload []byte) (api.SyncResult, error) {
	done := make(chan changeset.Ack, 1)
	b.inbox.Submit(actor, payload, func(a changeset.Ack) { done <- a })
	select {
	case a := <-done:
		res := api.SyncResult{Ack: changeset.MarshalAck(a), Status: string(a.Status)}
		if a.Error != nil {
			res.Code = string(a.Error.Code)
		}
		return res, nil
	case <-ctx.Done():
		return api.SyncResult{}, ctx.Err()
	}
}

func (b *backend) CurrentAck() []byte { return b.sync.CurrentAck() }

// ResetSync resets the sync revision for an operator and journals it.
func (b *backend) ResetSync(_ context.Context, actor string, revision uint64) ([]byte, error) {
	ack, err := b.gw().resetSync(actor, revision)
	if errors.Is(err, changeset.ErrResetAhead) {
		return nil, invalid{err}
	}
	return ack, err
}

// invalid is an error the API answers 422 with its own text.
type invalid struct{ err error }

func (e invalid) Error() string   { return e.err.Error() }
func (e invalid) Unwrap() []error { return []error{api.ErrInvalid, e.err} }

func (b *backend) PulseDoor(actor, door string) error {
	d, ok := b.hw.door(door)
	if !ok {
		return fmt.Errorf("door %q: %w", door, access.ErrNotFound)
	}
	return b.gw().testPulse(actor, d)
}

func digestHex(d [32]byte) string { return hex.EncodeToString(d[:]) }

func (b *backend) ListUsers(after string, fn func(api.UserView) bool) error {
	for r, err := range b.store.Users(after) {
		if err != nil {
			return err
		}
		if !fn(api.UserView{User: r.User, HasPIN: r.HasPIN, Credentials: r.Credentials}) {
			return nil
		}
	}
	return nil
}

func (b *backend) RemoveCredential(actor, id string) error {
	var c access.Credential
	err := b.store.Update(func(tx *store.Tx) error {
		var err error
		if c, err = tx.Credential(id); err != nil {
			return err
		}
		return tx.RemoveCredential(id)
	})
	if err == nil {
		b.gw().audit(actor, "Card Removed", access.Event{User: c.UserID, Credential: id}, "card "+c.Card.String())
	}
	return err
}

// EnrolCard enrols the next card read at a reader: the reader's goroutine
// hands it over instead of deciding it (operators.go).
func (b *backend) EnrolCard(ctx context.Context, actor, userID, reader string) (access.Credential, error) {
	if _, ok := b.hw.reader(reader); !ok {
		return access.Credential{}, access.ErrUnknownReader(reader)
	}
	if _, err := b.store.User(userID); err != nil {
		return access.Credential{}, err
	}
	key, err := b.gw().enrol.wait(ctx, reader, userID)
	if err != nil {
		return access.Credential{}, err
	}
	var out access.Credential
	err = b.store.Update(func(tx *store.Tx) error {
		out, err = tx.AddCredential(access.Credential{UserID: userID, Type: access.CredentialCard, Card: key})
		return err
	})
	if err != nil {
		return access.Credential{}, err
	}
	b.gw().audit(actor, "Card Enrolled", access.Event{User: userID, Credential: out.ID, Reader: reader},
		fmt.Sprintf("card %s read at reader %s", out.Card, reader))
	return out, nil
}

// Export lists the table as a snapshot: every user with their cards, the
// policy, no PIN (the store holds none it could give).
func (b *backend) Export() ([]byte, []string, error) {
	cs := changeset.Changeset{Snapshot: true, Revision: max(b.store.Revision(), 1),
		Policy: changeset.PolicyOf(b.store.Policy()), Users: []changeset.SnapshotUser{}}
	var withPIN []string
	for r, err := range b.store.Users("") {
		if err != nil {
			return nil, nil, err
		}
		cs.Users = append(cs.Users, changeset.SnapshotUser{User: r.User, Credentials: r.Credentials})
		if r.HasPIN {
			withPIN = append(withPIN, r.User.ID)
		}
	}
	out, err := changeset.Encode(cs)
	if err != nil {
		return nil, nil, fmt.Errorf("export: %w", err)
	}
	return out, withPIN, nil
}

// Import replaces the table with a snapshot, as the portal's snapshots do
// (store.ReplaceAll: all or nothing), keeping the sync revision and the
// PINs of users this gateway already holds, and journals who did.
func (b *backend) Import(actor string, snapshot []byte) (api.ImportResult, error) {
	cs, err := changeset.Decode(snapshot)
	if err != nil {
		return api.ImportResult{}, invalid{fmt.Errorf("table: %w", err)}
	}
	if !cs.Snapshot {
		return api.ImportResult{}, invalid{errors.New("table: is a delta; an import is a snapshot")}
	}
	table, err := cs.Policy.Table(b.store.Site())
	if err != nil {
		return api.ImportResult{}, invalid{fmt.Errorf("table: %w", err)}
	}
	for i := range cs.Users {
		cs.Users[i].KeepPIN = true
	}
	if err := b.store.ReplaceAll(b.store.Revision(), table, cs.Users); err != nil {
		var fe *access.FieldError
		if errors.Is(err, store.ErrDiskFull) || errors.Is(err, store.ErrClosed) ||
			!(errors.As(err, &fe) || errors.Is(err, access.ErrInvalid) || errors.Is(err, access.ErrPINInUse) ||
				errors.Is(err, access.ErrCredentialInUse) || errors.Is(err, store.ErrUserRepeated) || errors.Is(err, store.ErrDuressConflict)) {
			return api.ImportResult{}, err
		}
		return api.ImportResult{}, invalid{fmt.Errorf("table: %s", strings.TrimPrefix(err.Error(), "store: replace all: "))}
	}
	c := b.store.Counts()
	res := api.ImportResult{Users: c.Users, Credentials: c.Credentials, PINs: c.PINs,
		Schedules: len(table.Schedules), Holidays: len(table.Holidays), Levels: len(table.Levels),
		DoorPolicies: len(table.Policies), Overrides: len(table.Overrides)}
	b.gw().audit(actor, "Table Imported", access.Event{}, fmt.Sprintf("%d users, %d cards, %d PINs kept; %d schedules, %d holidays, %d levels, %d door policies, %d overrides",
		res.Users, res.Credentials, res.PINs, res.Schedules, res.Holidays, res.Levels, res.DoorPolicies, res.Overrides))
	return res, nil
}
