package portal

import (
	"crypto/sha256"
	"fmt"
	"math/big"
	"reflect"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/sync/changeset"
)

// User is one user of a gateway's table as the portal holds it: the shape
// of a snapshot user. PIN is the plain PIN ("" for none); every credential
// needs its id, since the id is part of the table's digest.
type User = changeset.SnapshotUser

// Snapshot returns the snapshot changeset that makes a gateway hold
// exactly users, at revision rev.
func Snapshot(rev uint64, users []User) changeset.Changeset {
	return changeset.Changeset{Revision: rev, Snapshot: true, Users: users}
}

// Delta returns the changeset that takes a gateway from old, at revision
// base, to new, at revision rev: a delta of the ops [Diff] finds when it
// fits the gateway's limits for a delta ([changeset.MaxOps] ops,
// [changeset.MaxDeltaPayload] bytes), otherwise a snapshot of new. Either
// way the gateway ends up holding new.
func Delta(base, rev uint64, old, new []User) (changeset.Changeset, error) {
	ops, err := Diff(old, new)
	if err != nil {
		return changeset.Changeset{}, err
	}
	cs := changeset.Changeset{Revision: rev, Base: base, Ops: ops}
	if len(ops) > changeset.MaxOps {
		return Snapshot(rev, new), nil
	}
	b, err := changeset.Encode(cs)
	if err != nil {
		return changeset.Changeset{}, fmt.Errorf("portal: delta %d: %w", rev, err)
	}
	if len(b) > changeset.MaxDeltaPayload {
		return Snapshot(rev, new), nil
	}
	return cs, nil
}

// Diff returns the ops that turn a table holding old into one holding
// new, in an order the gateway accepts: first everything that frees a
// PIN, a card or a credential id (user.delete, pin.clear,
// credential.remove), then everything that takes one (user.upsert,
// pin.set, credential.add). So a PIN or a card that moves from one user to
// another within the change never collides with itself. Users keep the
// order they have in old (for what is removed) and in new (for the rest),
// so the same tables always give the same ops.
//
// Diff checks that user and credential ids are unique within each table
// and that every credential has an id; the rules for values (PIN length,
// id syntax, ...) are the gateway's to check.
func Diff(old, new []User) ([]changeset.Op, error) {
	before, err := index(old, "old")
	if err != nil {
		return nil, err
	}
	after, err := index(new, "new")
	if err != nil {
		return nil, err
	}
	var free, take []changeset.Op
	for _, o := range old {
		n, kept := after[o.User.ID]
		if !kept {
			free = append(free, changeset.Op{Kind: changeset.OpUserDelete, User: o.User.ID})
			continue
		}
		if o.PIN != "" && o.PIN != n.PIN {
			free = append(free, changeset.Op{Kind: changeset.OpPINClear, User: o.User.ID})
		}
		newCards := cards(n.Credentials)
		for _, c := range o.Credentials {
			if card, ok := newCards[c.ID]; !ok || card != c.Card {
				free = append(free, changeset.Op{Kind: changeset.OpCredentialRemove, Credential: c.ID})
			}
		}
	}
	// A credential id that moves to another user is removed above (it is
	// not among the old user's new cards) and added below.
	for _, n := range new {
		o, existed := before[n.User.ID]
		if !existed || !sameRecord(o.User, n.User) {
			take = append(take, changeset.Op{Kind: changeset.OpUserUpsert, User: n.User.ID,
				Name: n.User.Name, Enabled: n.User.Enabled, ValidFrom: n.User.ValidFrom, ValidTo: n.User.ValidTo})
		}
		if n.PIN != "" && (!existed || n.PIN != o.PIN) {
			take = append(take, changeset.Op{Kind: changeset.OpPINSet, User: n.User.ID, PIN: n.PIN})
		}
		oldCards := map[string]access.CardKey{}
		if existed {
			oldCards = cards(o.Credentials)
		}
		for _, c := range n.Credentials {
			if card, ok := oldCards[c.ID]; !ok || card != c.Card {
				take = append(take, changeset.Op{Kind: changeset.OpCredentialAdd, User: n.User.ID, Credential: c.ID, Card: c.Card})
			}
		}
	}
	return append(free, take...), nil
}

// index maps users by id, refusing repeated user or credential ids and
// credentials without an id.
func index(users []User, which string) (map[string]User, error) {
	m := make(map[string]User, len(users))
	creds := make(map[string]string)
	for i, u := range users {
		if _, dup := m[u.User.ID]; dup {
			return nil, fmt.Errorf("portal: diff: %s users[%d]: user %q is listed twice", which, i, u.User.ID)
		}
		m[u.User.ID] = u
		for j, c := range u.Credentials {
			if c.ID == "" {
				return nil, fmt.Errorf("portal: diff: %s users[%d].credentials[%d]: a credential needs an id", which, i, j)
			}
			if other, dup := creds[c.ID]; dup {
				return nil, fmt.Errorf("portal: diff: %s users[%d].credentials[%d]: credential %q is also user %q's", which, i, j, c.ID, other)
			}
			creds[c.ID] = u.User.ID
		}
	}
	return m, nil
}

func cards(creds []access.Credential) map[string]access.CardKey {
	m := make(map[string]access.CardKey, len(creds))
	for _, c := range creds {
		m[c.ID] = c.Card
	}
	return m
}

// sameRecord says whether a user.upsert would change nothing. Every field
// counts, so one the user record gains is compared without a change here;
// the times are compared as instants.
func sameRecord(a, b access.User) bool {
	a.ValidFrom, a.ValidTo = a.ValidFrom.UTC(), a.ValidTo.UTC()
	b.ValidFrom, b.ValidTo = b.ValidFrom.UTC(), b.ValidTo.UTC()
	return reflect.DeepEqual(a, b)
}

// Digest returns the digest of a table holding users, as docs/sync.md
// defines it and as a gateway holding them reports it in its acks: the
// sum, modulo 2^256, of the SHA-256 of every user's canonical record
// ([store.CanonicalRecord]), in 64 lower-case hex digits.
func Digest(users []User) string {
	sum := new(big.Int)
	for _, u := range users {
		h := sha256.Sum256(store.CanonicalRecord(u.User, u.PIN != "", u.Credentials))
		sum.Add(sum, new(big.Int).SetBytes(h[:]))
	}
	sum.Mod(sum, new(big.Int).Lsh(big.NewInt(1), 256))
	return fmt.Sprintf("%064x", sum)
}
