package store

import (
	"errors"
	"fmt"
	"iter"

	badger "github.com/dgraph-io/badger/v4"
)

// errStopListing ends a listing whose caller stopped.
var errStopListing = errors.New("store: listing stopped")

// Users yields the users whose ids sort after after ("" for all of them),
// in id order, with their credentials, until the caller stops. It reads
// Badger one record at a time, from where after sorts, in one consistent
// view: the table as it was when the listing started, whatever is
// committed meanwhile (a snapshot included). A page of n users therefore
// costs about n records read, never the whole table in memory. An error
// (a closed store, a damaged record) is yielded once, last.
func (s *Store) Users(after string) iter.Seq2[UserRecord, error] {
	return func(yield func(UserRecord, error) bool) {
		s.mu.RLock()
		gen, closed := s.gen, s.closed
		s.mu.RUnlock()
		if closed {
			yield(UserRecord{}, fmt.Errorf("store: list users: %w", ErrClosed))
			return
		}
		prefix := userPrefix(gen)
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: prefix})
			defer it.Close()
			for it.Seek(userKey(gen, after)); it.Valid(); it.Next() {
				item := it.Item()
				id := string(item.Key()[len(prefix):])
				if id == after {
					continue
				}
				var st userState
				err := item.Value(func(v []byte) error {
					var err error
					st, err = decodeUser(id, v)
					return err
				})
				if err != nil {
					return fmt.Errorf("user %q: %w", id, err)
				}
				if !yield(st.record(), nil) {
					return errStopListing
				}
			}
			return nil
		})
		switch {
		case err == nil, errors.Is(err, errStopListing):
		case errors.Is(err, badger.ErrDBClosed):
			yield(UserRecord{}, fmt.Errorf("store: list users: %w", ErrClosed))
		default:
			yield(UserRecord{}, fmt.Errorf("store: list users: %w", err))
		}
	}
}
