package store

import (
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/lintel-access/lintel/gateway/access"
)

// Runtime state is what the gateway keeps across restarts that is neither
// the table nor the journal: the latest trusted time, the doors' first
// person in, the keypads' lockouts. Each is one small record, written
// durably on its own; none is part of the digest or a snapshot.
//
//	r NAME    a runtime record

const kindRuntime = 'r'

func runtimeKey(name string) []byte { return append([]byte{kindRuntime}, name...) }

// SetRuntime stores value under name, durably.
func (s *Store) SetRuntime(name string, value []byte) error {
	if err := access.CheckID(name); err != nil {
		return fmt.Errorf("store: runtime record %q: %w", name, err)
	}
	if err := s.disk.allow(); err != nil {
		return fmt.Errorf("store: runtime record %q: %w", name, err)
	}
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(runtimeKey(name), value) })
	if err != nil {
		return fmt.Errorf("store: runtime record %q: %w", name, err)
	}
	return nil
}

// Runtime returns the value stored under name; ok is false when there is
// none.
func (s *Store) Runtime(name string) (value []byte, ok bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(runtimeKey(name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		value, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: runtime record %q: %w", name, err)
	}
	return value, ok, nil
}
