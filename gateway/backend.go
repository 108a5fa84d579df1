package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

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

func (b *backend) PutUser(u access.User) (created bool, err error) {
	err = b.store.Update(func(tx *store.Tx) error {
		created, err = tx.PutUser(u)
		return err
	})
	return created, domainErr(err)
}

func (b *backend) User(id string) (api.UserView, error) {
	r, err := b.store.User(id)
	if err != nil {
		return api.UserView{}, domainErr(err)
	}
	return api.UserView{User: r.User, HasPIN: r.HasPIN, Credentials: r.Credentials}, nil
}

func (b *backend) DeleteUser(id string) error {
	return domainErr(b.store.Update(func(tx *store.Tx) error { return tx.DeleteUser(id) }))
}

func (b *backend) SetPIN(userID, pin string) error {
	return domainErr(b.store.Update(func(tx *store.Tx) error { return tx.SetPIN(userID, pin) }))
}

func (b *backend) GeneratePIN(userID string, length int) (pin string, err error) {
	err = b.store.Update(func(tx *store.Tx) error {
		pin, err = tx.GeneratePIN(userID, length)
		return err
	})
	if err != nil {
		return "", domainErr(err)
	}
	return pin, nil
}

func (b *backend) ClearPIN(userID string) error {
	return domainErr(b.store.Update(func(tx *store.Tx) error { return tx.ClearPIN(userID) }))
}

func (b *backend) AddCredential(userID string, c access.Credential) (out access.Credential, err error) {
	c.UserID = userID
	if c.Type == "" {
		c.Type = access.CredentialCard
	}
	err = b.store.Update(func(tx *store.Tx) error {
		out, err = tx.AddCredential(c)
		return err
	})
	return out, domainErr(err)
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

func (b *backend) PulseDoor(door string) error {
	d, ok := b.hw.door(door)
	if !ok {
		return fmt.Errorf("door %q: %w", door, access.ErrNotFound)
	}
	return b.gw().testPulse(d)
}

// domainErr maps the store's errors onto the core's, which the API and the
// changeset layer act on.
func domainErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, access.ErrNotFound) && !errors.Is(err, access.ErrNotFound):
		return fmt.Errorf("%w (%w)", access.ErrNotFound, err)
	case errors.Is(err, access.ErrCredentialInUse) && !errors.Is(err, access.ErrCredentialInUse):
		return fmt.Errorf("%w (%w)", access.ErrCredentialInUse, err)
	}
	return err
}

func digestHex(d [32]byte) string { return hex.EncodeToString(d[:]) }
