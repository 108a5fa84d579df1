package store_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/logtest"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gateway/store/storetest"
)

// snapshotUsers returns n users whose cards and PINs are derived from tag,
// so two snapshots with different tags share no card or PIN.
func snapshotUsers(n int, tag uint32) []store.SnapshotUser {
	users := make([]store.SnapshotUser, n)
	for i := range users {
		users[i] = store.SnapshotUser{
			User: access.User{ID: fmt.Sprintf("user-%07d", i), Name: fmt.Sprintf("User %d", i), Enabled: true},
			PIN:  snapshotPIN(tag, i),
			Credentials: []access.Credential{
				{ID: fmt.Sprintf("card-%d-%07d", tag, i), Card: access.CardKey{Format: "H10301", Facility: tag, Number: uint64(i)}},
			},
		}
	}
	return users
}

// snapshotPIN is user i's PIN in snapshot tag: the tag digit and i. The
// few such numbers that are trivial PINs (10001000, 12345678) start with
// another digit instead, which no other PIN of the tag starts with.
func snapshotPIN(tag uint32, i int) string {
	pin := fmt.Sprintf("%d%07d", tag, i)
	if access.IsTrivial(pin) {
		pin = fmt.Sprintf("%d%07d", (tag+5)%10, i)
	}
	return pin
}

func TestReplaceAllAtomic(t *testing.T) {
	n := bigTable()
	opts := storetest.Options(t)
	s, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceAll(1, nil, snapshotUsers(n, 1)); err != nil {
		t.Fatal(err)
	}
	oldDigest := s.Digest()

	// While the second snapshot is written, decisions see the old table or
	// the new one: once a goroutine has seen a new card, it finds no old
	// card again.
	stop := make(chan struct{})
	var mixed atomic.Int64
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			seenNew := false
			for i := g; ; i += 7919 {
				select {
				case <-stop:
					return
				default:
				}
				runtime.Gosched() // leave the writer its share of the CPU
				k := uint64(i % n)
				next := uint64((i + 1) % n)
				_, newOK := s.Card(access.CardKey{Format: "H10301", Facility: 2, Number: k})
				_, oldOK := s.Card(access.CardKey{Format: "H10301", Facility: 1, Number: next})
				seenNew = seenNew || newOK
				if oldOK && seenNew {
					mixed.Add(1)
				}
			}
		})
	}
	err = s.ReplaceAll(2, nil, snapshotUsers(n, 2))
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if m := mixed.Load(); m > 0 {
		t.Errorf("%d decisions found an old card after a new one", m)
	}
	if got := s.Counts(); got != (store.Counts{Users: n, Credentials: n, PINs: n}) {
		t.Errorf("Counts = %+v", got)
	}
	if s.Revision() != 2 || s.Digest() == oldDigest {
		t.Errorf("revision %d (want 2), digest changed %v", s.Revision(), s.Digest() != oldDigest)
	}
	if h, ok := s.PIN([]byte("20000042")); !ok || h.User.ID != "user-0000042" {
		t.Errorf("PIN lookup in the new table = %+v, %v", h, ok)
	}
	if _, ok := s.PIN([]byte("10000042")); ok {
		t.Errorf("an old PIN survived the snapshot")
	}
	digest := s.Digest()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = storetest.Open(t, opts)
	if got := s.Counts(); got != (store.Counts{Users: n, Credentials: n, PINs: n}) || s.Digest() != digest || s.Revision() != 2 {
		t.Errorf("after reopen: counts %+v, revision %d, digest equal %v", got, s.Revision(), s.Digest() == digest)
	}
}

func TestReplaceAllInvalid(t *testing.T) {
	good := func() []store.SnapshotUser { return snapshotUsers(50, 3) }
	tests := []struct {
		name    string
		edit    func(u []store.SnapshotUser) []store.SnapshotUser
		wantErr string
		is      error
	}{
		{"R2 short PIN", func(u []store.SnapshotUser) []store.SnapshotUser { u[7].PIN = "123"; return u }, `user 7 ("user-0000007")`, access.ErrPINLength},
		{"R2 letters", func(u []store.SnapshotUser) []store.SnapshotUser { u[8].PIN = "12a45"; return u }, "user 8 ", access.ErrPINNotDigits},
		{"R3 shared PIN", func(u []store.SnapshotUser) []store.SnapshotUser { u[40].PIN = u[3].PIN; return u }, "user 40 ", access.ErrPINInUse},
		{"duplicate user", func(u []store.SnapshotUser) []store.SnapshotUser { u[20].User.ID = u[2].User.ID; return u }, "user 20 (\"user-0000002\"): listed before as user 2", store.ErrUserRepeated},
		{"shared card", func(u []store.SnapshotUser) []store.SnapshotUser {
			u[30].Credentials[0].Card = u[1].Credentials[0].Card
			return u
		}, "user 30 ", access.ErrCredentialInUse},
		{"shared credential id", func(u []store.SnapshotUser) []store.SnapshotUser {
			u[31].Credentials[0].ID = u[1].Credentials[0].ID
			return u
		}, "user 31 ", access.ErrCredentialInUse},
		{"card twice for one user", func(u []store.SnapshotUser) []store.SnapshotUser {
			u[5].Credentials = append(u[5].Credentials, access.Credential{ID: "x", Card: u[5].Credentials[0].Card})
			return u
		}, "user 5 ", access.ErrCredentialInUse},
		{"credential of another user", func(u []store.SnapshotUser) []store.SnapshotUser {
			u[6].Credentials[0].UserID = "someone"
			return u
		}, "names user", nil},
		{"bad user id", func(u []store.SnapshotUser) []store.SnapshotUser { u[49].User.ID = "a/b"; return u }, "user 49 ", nil},
		{"bad format", func(u []store.SnapshotUser) []store.SnapshotUser { u[0].Credentials[0].Card.Format = ""; return u }, "user 0 ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := &logtest.Buffer{}
			s := newStore(t, withLog(lb))
			if err := s.ReplaceAll(5, nil, snapshotUsers(20, 1)); err != nil {
				t.Fatal(err)
			}
			digest, counts := s.Digest(), s.Counts()
			users := tt.edit(good())
			err := s.ReplaceAll(6, nil, users)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("ReplaceAll = %v, want an error containing %q (is %v)", err, tt.wantErr, tt.is)
			}
			if s.Digest() != digest || s.Counts() != counts || s.Revision() != 5 {
				t.Errorf("a refused snapshot changed the table: counts %+v, revision %d", s.Counts(), s.Revision())
			}
			if h, ok := s.PIN([]byte("10000003")); !ok || h.User.ID != "user-0000003" {
				t.Errorf("the old table's PIN lookup = %+v, %v", h, ok)
			}
			var pins []string
			for _, u := range users {
				pins = append(pins, u.PIN)
			}
			assertNoSecret(t, lb, pins...)
		})
	}
}

func TestReplaceAllEmpty(t *testing.T) {
	s := newStore(t)
	if err := s.ReplaceAll(1, nil, snapshotUsers(10, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceAll(2, nil, nil); err != nil {
		t.Fatal(err)
	}
	if s.Counts() != (store.Counts{}) || s.Digest() != ([32]byte{}) || s.Revision() != 2 {
		t.Errorf("after an empty snapshot: counts %+v, revision %d", s.Counts(), s.Revision())
	}
	// Transactions work on the new generation.
	putUser(t, s, "u1")
	if got := s.Counts().Users; got != 1 {
		t.Errorf("%d users after a put on the new generation", got)
	}
}

// TestReplaceAllRemovesTheOldGeneration: the replaced generation is
// removed in the background from the keys its index names, including
// users changed by transactions since it was written, so the next Open
// finds nothing left over to remove.
func TestReplaceAllRemovesTheOldGeneration(t *testing.T) {
	opts := storetest.Options(t)
	s, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceAll(1, nil, snapshotUsers(3000, 1)); err != nil {
		t.Fatal(err)
	}
	// Change the table in place: the new keys must go with the old table.
	putUser(t, s, "added-later")
	if err := s.Update(func(tx *store.Tx) error { return tx.DeleteUser("user-0000007") }); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceAll(2, nil, snapshotUsers(2000, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // Close waits for the removal
		t.Fatal(err)
	}
	lb := &logtest.Buffer{}
	opts.Logger = nil
	withLog(lb)(&opts)
	s = storetest.Open(t, opts)
	if strings.Contains(lb.String(), "removing an unfinished or replaced table generation") {
		t.Errorf("Open found records of the replaced generation:\n%s", lb)
	}
	if got := s.Counts(); got != (store.Counts{Users: 2000, Credentials: 2000, PINs: 2000}) {
		t.Errorf("counts after reopen %+v", got)
	}
}
