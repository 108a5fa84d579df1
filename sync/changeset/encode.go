package changeset

import (
	"fmt"
	"time"

	"github.com/go-json-experiment/json"
)

// Encode renders a changeset in its wire form, the inverse of [Decode] for
// every changeset Decode accepts. Portals written in Go, tests and tools
// use it; the gateway itself only decodes. Encode does not check the
// changeset: Decode does, on arrival.
func Encode(cs Changeset) ([]byte, error) {
	if cs.Snapshot {
		w := wireSnapshot{Revision: cs.Revision, Base: cs.Base, Snapshot: true, Users: make([]wireUser, len(cs.Users))}
		for i, u := range cs.Users {
			w.Users[i] = encodeUser(u)
		}
		return json.Marshal(w)
	}
	w := wireDelta{Revision: cs.Revision, Base: cs.Base, Ops: make([]any, len(cs.Ops))}
	for i, op := range cs.Ops {
		v, err := encodeOp(op)
		if err != nil {
			return nil, fmt.Errorf("changeset: encode ops[%d]: %w", i, err)
		}
		w.Ops[i] = v
	}
	return json.Marshal(w)
}

func encodeOp(op Op) (any, error) {
	switch op.Kind {
	case OpUserUpsert:
		return wireUserUpsert{Op: op.Kind, User: op.User, Name: op.Name, Enabled: &op.Enabled,
			ValidFrom: timeString(op.ValidFrom), ValidTo: timeString(op.ValidTo)}, nil
	case OpUserDelete, OpPINClear:
		return wireUserRef{Op: op.Kind, User: op.User}, nil
	case OpPINSet:
		return wirePINSet{Op: op.Kind, User: op.User, PIN: &op.PIN}, nil
	case OpPINGenerate:
		return wirePINGenerate{Op: op.Kind, User: op.User, Length: &op.Length}, nil
	case OpCredentialAdd:
		return wireCredentialAdd{Op: op.Kind, User: op.User, ID: op.Credential,
			Card: &wireCard{Format: op.Card.Format, Facility: &op.Card.Facility, Number: &op.Card.Number}}, nil
	case OpCredentialRemove:
		return wireCredentialRemove{Op: op.Kind, ID: op.Credential}, nil
	}
	return nil, fmt.Errorf("unknown op %q", op.Kind)
}

func encodeUser(u SnapshotUser) wireUser {
	w := wireUser{ID: u.User.ID, Name: u.User.Name, Enabled: &u.User.Enabled,
		ValidFrom: timeString(u.User.ValidFrom), ValidTo: timeString(u.User.ValidTo)}
	if u.PIN != "" {
		w.PIN = &u.PIN
	}
	for _, c := range u.Credentials {
		w.Credentials = append(w.Credentials, wireCredential{ID: c.ID,
			Card: &wireCard{Format: c.Card.Format, Facility: &c.Card.Facility, Number: &c.Card.Number}})
	}
	return w
}

func timeString(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.Format(time.RFC3339Nano)
	return &s
}
