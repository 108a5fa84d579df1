package store_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/logtest"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gateway/store/storetest"
)

func TestPutUser(t *testing.T) {
	from := time.Date(2026, 1, 1, 8, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name    string
		user    access.User
		wantErr string
	}{
		{"plain", access.User{ID: "u1", Name: "Ada", Enabled: true}, ""},
		{"validity", access.User{ID: "u2", Name: "Bob", ValidFrom: from, ValidTo: from.Add(time.Hour)}, ""},
		{"open end", access.User{ID: "u3", ValidTo: from}, ""},
		{"empty id", access.User{Name: "x"}, "id is empty"},
		{"bad id", access.User{ID: "a b"}, "not allowed"},
		{"long id", access.User{ID: strings.Repeat("a", 65)}, "at most 64"},
		{"control char", access.User{ID: "u4", Name: "a\nb"}, "control character"},
		{"long name", access.User{ID: "u5", Name: strings.Repeat("n", 257)}, "at most 256"},
		{"bad utf8", access.User{ID: "u6", Name: "\xff"}, "UTF-8"},
		{"to before from", access.User{ID: "u7", ValidFrom: from, ValidTo: from.Add(-time.Second)}, "not after"},
		{"to equals from", access.User{ID: "u8", ValidFrom: from, ValidTo: from}, "not after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			var created bool
			err := s.Update(func(tx *store.Tx) error {
				var err error
				created, err = tx.PutUser(tt.user)
				return err
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("PutUser(%+v) = %v, want an error containing %q", tt.user, err, tt.wantErr)
				}
				if got := s.Counts().Users; got != 0 {
					t.Errorf("after a failed PutUser the table has %d users, want 0", got)
				}
				return
			}
			if err != nil || !created {
				t.Fatalf("PutUser = %v, %v; want true, nil", created, err)
			}
			got, err := s.User(tt.user.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.user
			want.Levels = access.DefaultLevels() // created without levels
			if !want.ValidFrom.IsZero() {
				want.ValidFrom = want.ValidFrom.UTC()
			}
			if !want.ValidTo.IsZero() {
				want.ValidTo = want.ValidTo.UTC()
			}
			if diff := cmp.Diff(store.UserRecord{User: want}, got); diff != "" {
				t.Errorf("User (-want +got):\n%s", diff)
			}
		})
	}
}

// enrolU1 adds user u1 with PIN 482915 and card c1 (card(7)).
func enrolU1(t *testing.T, s *store.Store) {
	t.Helper()
	putUser(t, s, "u1")
	update(t, s, func(tx *store.Tx) error {
		if err := tx.SetPIN("u1", "482915"); err != nil {
			return err
		}
		_, err := tx.AddCredential(access.Credential{ID: "c1", UserID: "u1", Card: card(7)})
		return err
	})
}

func TestPutUserKeepsPINAndCredentials(t *testing.T) {
	s := newStore(t)
	enrolU1(t, s)
	var created bool
	update(t, s, func(tx *store.Tx) (err error) {
		created, err = tx.PutUser(access.User{ID: "u1", Name: "Renamed"})
		return err
	})
	if created {
		t.Errorf("PutUser of an existing user reported created")
	}
	h, ok := s.PIN([]byte("482915"))
	if !ok || h.User.ID != "u1" || h.User.Enabled {
		t.Errorf("PIN lookup = %+v, %v; want u1, now disabled", h, ok)
	}
	if rec, err := s.User("u1"); err != nil || rec.User.Name != "Renamed" || !rec.HasPIN || len(rec.Credentials) != 1 {
		t.Errorf("User = %+v, %v; want the renamed user with their PIN and card", rec, err)
	}
	if h, ok := s.Card(card(7)); !ok || h.Credential != "c1" || !h.HasPIN {
		t.Errorf("Card lookup = %+v, %v; want credential c1 with a PIN", h, ok)
	}
}

func TestDeleteUser(t *testing.T) {
	s := newStore(t)
	enrolU1(t, s)
	update(t, s, func(tx *store.Tx) error { return tx.DeleteUser("u1") })
	if _, err := s.User("u1"); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("User after delete = %v, want ErrNotFound", err)
	}
	if _, ok := s.PIN([]byte("482915")); ok {
		t.Errorf("the deleted user's PIN still grants")
	}
	if _, ok := s.Card(card(7)); ok {
		t.Errorf("the deleted user's card still grants")
	}
	if got, want := s.Counts(), (store.Counts{}); got != want {
		t.Errorf("Counts = %+v, want %+v", got, want)
	}
	// The PIN, card and credential id are free again.
	putUser(t, s, "u2")
	update(t, s, func(tx *store.Tx) error {
		if err := tx.SetPIN("u2", "482915"); err != nil {
			return err
		}
		_, err := tx.AddCredential(access.Credential{ID: "c1", UserID: "u2", Card: card(7)})
		return err
	})
	err := s.Update(func(tx *store.Tx) error { return tx.DeleteUser("nobody") })
	if !errors.Is(err, access.ErrNotFound) {
		t.Errorf("DeleteUser(nobody) = %v, want ErrNotFound", err)
	}
}

func TestSetPIN(t *testing.T) {
	tests := []struct {
		name    string
		user    string
		pin     string
		wantErr error
	}{
		{"R2 four digits", "u1", "4829", nil},
		{"R2 eight digits", "u1", "48291573", nil},
		{"R2 three digits", "u1", "482", access.ErrPINLength},
		{"R2 nine digits", "u1", "482915730", access.ErrPINLength},
		{"R2 empty", "u1", "", access.ErrPINLength},
		{"R2 letter", "u1", "48a9", access.ErrPINNotDigits},
		{"R2 hash", "u1", "4829#", access.ErrPINNotDigits},
		{"R3 held by u2", "u1", "735102", access.ErrPINInUse},
		{"R1 own PIN again", "u2", "735102", nil},
		{"unknown user", "nobody", "5829", access.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := &logtest.Buffer{}
			s := newStore(t, withLog(lb))
			putUser(t, s, "u1")
			putUser(t, s, "u2")
			update(t, s, func(tx *store.Tx) error { return tx.SetPIN("u2", "735102") })
			err := s.Update(func(tx *store.Tx) error { return tx.SetPIN(tt.user, tt.pin) })
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SetPIN(%q) = %v, want %v", tt.user, err, tt.wantErr)
			}
			if err != nil && tt.pin != "" && strings.Contains(err.Error(), tt.pin) {
				t.Errorf("error %q holds the PIN", err)
			}
			if tt.wantErr == nil {
				h, ok := s.PIN([]byte(tt.pin))
				if !ok || h.User.ID != tt.user || !h.HasPIN {
					t.Errorf("PIN lookup = %+v, %v; want %s", h, ok, tt.user)
				}
			}
			if h, ok := s.PIN([]byte("735102")); !ok || h.User.ID != "u2" {
				t.Errorf("u2's PIN lookup = %+v, %v; want u2", h, ok)
			}
			assertNoSecret(t, lb, "735102", tt.pin)
		})
	}
}

func TestSetPINReplacesOld(t *testing.T) { // R1
	s := newStore(t)
	putUser(t, s, "u1")
	update(t, s, func(tx *store.Tx) error { return tx.SetPIN("u1", "482915") })
	update(t, s, func(tx *store.Tx) error { return tx.SetPIN("u1", "735102") })
	if _, ok := s.PIN([]byte("482915")); ok {
		t.Errorf("R1: the old PIN still grants after a new one was set")
	}
	if h, ok := s.PIN([]byte("735102")); !ok || h.User.ID != "u1" {
		t.Errorf("R1: new PIN lookup = %+v, %v", h, ok)
	}
	if got := s.Counts().PINs; got != 1 {
		t.Errorf("R1: %d PINs in the table, want 1", got)
	}
	// The old PIN is free for someone else.
	putUser(t, s, "u2")
	update(t, s, func(tx *store.Tx) error { return tx.SetPIN("u2", "482915") })
}

func TestSetPINConcurrentUniqueness(t *testing.T) { // R3
	s := newStore(t)
	const n = 32
	update(t, s, func(tx *store.Tx) error {
		for i := range n {
			if _, err := tx.PutUser(access.User{ID: fmt.Sprintf("u%d", i), Enabled: true}); err != nil {
				return err
			}
		}
		return nil
	})
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.Update(func(tx *store.Tx) error { return tx.SetPIN(fmt.Sprintf("u%d", i), "902714") })
		})
	}
	close(start)
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, access.ErrPINInUse):
			t.Errorf("goroutine %d: SetPIN = %v, want nil or ErrPINInUse", i, err)
		}
	}
	if winners != 1 {
		t.Errorf("R3: %d goroutines got the same PIN, want exactly 1", winners)
	}
	if got := s.Counts().PINs; got != 1 {
		t.Errorf("R3: %d PINs in the table, want 1", got)
	}
}

func TestGeneratePIN(t *testing.T) { // R4
	tests := []struct {
		name    string
		user    string
		length  int
		wantErr error
	}{
		{"R4 length 4", "u1", 4, nil},
		{"R4 length 6", "u1", 6, nil},
		{"R4 length 8", "u1", 8, nil},
		{"R4 length 3", "u1", 3, access.ErrPINLength},
		{"R4 length 9", "u1", 9, access.ErrPINLength},
		{"unknown user", "nobody", 6, access.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lb := &logtest.Buffer{}
			s := newStore(t, withLog(lb))
			putUser(t, s, "u1")
			var pin string
			err := s.Update(func(tx *store.Tx) (err error) {
				pin, err = tx.GeneratePIN(tt.user, tt.length)
				return err
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("GeneratePIN(%q, %d) = %v, want %v", tt.user, tt.length, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(pin) != tt.length || access.ValidatePIN(pin) != nil || access.IsTrivial(pin) {
				t.Errorf("GeneratePIN gave a PIN of %d characters (valid: %v, trivial: %v), want %d non-trivial digits",
					len(pin), access.ValidatePIN(pin), access.IsTrivial(pin), tt.length)
			}
			if h, ok := s.PIN([]byte(pin)); !ok || h.User.ID != tt.user {
				t.Errorf("the generated PIN does not find %s: %+v, %v", tt.user, h, ok)
			}
			assertNoSecret(t, lb, pin)
		})
	}
}

func TestGeneratePINExhausted(t *testing.T) { // R4
	s := newStore(t)
	// Give every non-trivial 4-digit PIN to a user, in one snapshot.
	var users []store.SnapshotUser
	for v := range 10000 {
		pin := fmt.Sprintf("%04d", v)
		if access.IsTrivial(pin) {
			continue
		}
		users = append(users, store.SnapshotUser{User: access.User{ID: "p" + pin, Enabled: true}, PIN: pin})
	}
	users = append(users, store.SnapshotUser{User: access.User{ID: "last", Enabled: true}})
	if err := s.ReplaceAll(1, nil, users); err != nil {
		t.Fatal(err)
	}
	err := s.Update(func(tx *store.Tx) error {
		_, err := tx.GeneratePIN("last", 4)
		return err
	})
	if !errors.Is(err, access.ErrPINSpaceExhausted) {
		t.Fatalf("GeneratePIN(4) with every 4-digit PIN taken = %v, want ErrPINSpaceExhausted", err)
	}
	var pin string
	update(t, s, func(tx *store.Tx) (err error) {
		pin, err = tx.GeneratePIN("last", 5)
		return err
	})
	if len(pin) != 5 {
		t.Errorf("GeneratePIN(5) gave %d digits", len(pin))
	}
	// A PIN freed inside the transaction is the one left to generate.
	update(t, s, func(tx *store.Tx) error {
		if err := tx.ClearPIN("p4711"); err != nil {
			return err
		}
		got, err := tx.GeneratePIN("last", 4)
		if err != nil {
			return err
		}
		if got != "4711" {
			t.Errorf("the only free 4-digit PIN was not the one generated")
		}
		return nil
	})
}

func TestClearPIN(t *testing.T) {
	s := newStore(t)
	putUser(t, s, "u1")
	update(t, s, func(tx *store.Tx) error { return tx.SetPIN("u1", "482915") })
	update(t, s, func(tx *store.Tx) error { return tx.ClearPIN("u1") })
	if _, ok := s.PIN([]byte("482915")); ok {
		t.Errorf("a cleared PIN still grants")
	}
	if rec, _ := s.User("u1"); rec.HasPIN {
		t.Errorf("HasPIN after ClearPIN")
	}
	update(t, s, func(tx *store.Tx) error { return tx.ClearPIN("u1") }) // no PIN: no error
	if err := s.Update(func(tx *store.Tx) error { return tx.ClearPIN("nobody") }); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("ClearPIN(nobody) = %v, want ErrNotFound", err)
	}
}

func TestAddCredential(t *testing.T) {
	tests := []struct {
		name    string
		cred    access.Credential
		wantErr string
		is      error
	}{
		{"with id", access.Credential{ID: "c9", UserID: "u1", Card: card(9)}, "", nil},
		{"generated id", access.Credential{UserID: "u1", Card: card(9)}, "", nil},
		{"explicit type", access.Credential{ID: "c9", UserID: "u1", Type: "card", Card: card(9)}, "", nil},
		{"card held by other user", access.Credential{ID: "c9", UserID: "u1", Card: card(2)}, "already credential \"c2\"", access.ErrCredentialInUse},
		{"card held by same user", access.Credential{ID: "c9", UserID: "u1", Card: card(1)}, "already credential \"c1\"", access.ErrCredentialInUse},
		{"id taken", access.Credential{ID: "c2", UserID: "u1", Card: card(9)}, "already used", access.ErrCredentialInUse},
		{"unknown user", access.Credential{ID: "c9", UserID: "nobody", Card: card(9)}, "nobody", access.ErrNotFound},
		{"bad type", access.Credential{ID: "c9", UserID: "u1", Type: "phone", Card: card(9)}, "not supported", nil},
		{"no format", access.Credential{ID: "c9", UserID: "u1", Card: access.CardKey{Number: 9}}, "format is empty", nil},
		{"bad format", access.Credential{ID: "c9", UserID: "u1", Card: access.CardKey{Format: "H:1", Number: 9}}, "not allowed", nil},
		{"bad id", access.Credential{ID: "c 9", UserID: "u1", Card: card(9)}, "not allowed", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			putUser(t, s, "u1")
			putUser(t, s, "u2")
			update(t, s, func(tx *store.Tx) error {
				if _, err := tx.AddCredential(access.Credential{ID: "c1", UserID: "u1", Card: card(1)}); err != nil {
					return err
				}
				_, err := tx.AddCredential(access.Credential{ID: "c2", UserID: "u2", Card: card(2)})
				return err
			})
			var got access.Credential
			err := s.Update(func(tx *store.Tx) (err error) {
				got, err = tx.AddCredential(tt.cred)
				return err
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || (tt.is != nil && !errors.Is(err, tt.is)) {
					t.Fatalf("AddCredential = %v, want an error containing %q (is %v)", err, tt.wantErr, tt.is)
				}
				if got := s.Counts().Credentials; got != 2 {
					t.Errorf("after a failed AddCredential there are %d credentials, want 2", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("AddCredential = %v", err)
			}
			if tt.cred.ID == "" && len(got.ID) != 26 {
				t.Errorf("generated id %q is not a ULID", got.ID)
			}
			want := tt.cred
			want.ID, want.Type = got.ID, access.CredentialCard
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("AddCredential (-want +got):\n%s", diff)
			}
			h, ok := s.Card(tt.cred.Card)
			if !ok || h.User.ID != "u1" || h.Credential != got.ID {
				t.Errorf("Card lookup = %+v, %v; want u1 with %s", h, ok, got.ID)
			}
			rec, _ := s.User("u1")
			if len(rec.Credentials) != 2 {
				t.Errorf("u1 has %d credentials, want 2", len(rec.Credentials))
			}
		})
	}
}

func TestRemoveCredential(t *testing.T) {
	s := newStore(t)
	putUser(t, s, "u1")
	update(t, s, func(tx *store.Tx) error {
		for i := range uint64(3) {
			if _, err := tx.AddCredential(access.Credential{ID: fmt.Sprintf("c%d", i), UserID: "u1", Card: card(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(tx *store.Tx) error { return tx.RemoveCredential("c1") })
	if _, ok := s.Card(card(1)); ok {
		t.Errorf("a removed card still grants")
	}
	for _, n := range []uint64{0, 2} {
		if _, ok := s.Card(card(n)); !ok {
			t.Errorf("card %d was lost with another", n)
		}
	}
	rec, _ := s.User("u1")
	var ids []string
	for _, c := range rec.Credentials {
		ids = append(ids, c.ID)
	}
	if diff := cmp.Diff([]string{"c0", "c2"}, ids); diff != "" {
		t.Errorf("credentials (-want +got):\n%s", diff)
	}
	if err := s.Update(func(tx *store.Tx) error { return tx.RemoveCredential("c1") }); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("RemoveCredential of a removed id = %v, want ErrNotFound", err)
	}
}

func TestTxSeesOwnWrites(t *testing.T) {
	s := newStore(t)
	update(t, s, func(tx *store.Tx) error {
		if _, err := tx.PutUser(access.User{ID: "u1", Name: "Ada"}); err != nil {
			return err
		}
		if err := tx.SetPIN("u1", "482915"); err != nil {
			return err
		}
		c, err := tx.AddCredential(access.Credential{UserID: "u1", Card: card(5)})
		if err != nil {
			return err
		}
		rec, err := tx.User("u1")
		if err != nil {
			return err
		}
		want := store.UserRecord{User: access.User{ID: "u1", Name: "Ada", Levels: access.DefaultLevels()}, HasPIN: true, Credentials: []access.Credential{c}}
		if diff := cmp.Diff(want, rec); diff != "" {
			t.Errorf("tx.User (-want +got):\n%s", diff)
		}
		// Not visible outside the Tx yet.
		if _, err := s.User("u1"); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("s.User inside an uncommitted Tx = %v, want ErrNotFound", err)
		}
		if _, ok := s.PIN([]byte("482915")); ok {
			t.Errorf("a decision saw an uncommitted PIN")
		}
		// Moving the PIN and card to another user within the Tx.
		if _, err := tx.PutUser(access.User{ID: "u2"}); err != nil {
			return err
		}
		if err := tx.SetPIN("u2", "482915"); !errors.Is(err, access.ErrPINInUse) {
			t.Errorf("SetPIN of a PIN set earlier in the Tx = %v, want ErrPINInUse", err)
		}
		if err := tx.DeleteUser("u1"); err != nil {
			return err
		}
		if err := tx.SetPIN("u2", "482915"); err != nil {
			return err
		}
		_, err = tx.AddCredential(access.Credential{ID: c.ID, UserID: "u2", Card: card(5)})
		return err
	})
	if h, ok := s.PIN([]byte("482915")); !ok || h.User.ID != "u2" {
		t.Errorf("PIN lookup = %+v, %v; want u2", h, ok)
	}
	if h, ok := s.Card(card(5)); !ok || h.User.ID != "u2" {
		t.Errorf("Card lookup = %+v, %v; want u2", h, ok)
	}
}

func TestTxAfterUpdate(t *testing.T) {
	s := newStore(t)
	var kept *store.Tx
	update(t, s, func(tx *store.Tx) error { kept = tx; return nil })
	if _, err := kept.PutUser(access.User{ID: "u1"}); !errors.Is(err, store.ErrTxDone) {
		t.Errorf("PutUser on an ended Tx = %v, want ErrTxDone", err)
	}
}

func TestUpdateRollback(t *testing.T) {
	opts := storetest.Options(t)
	s, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	putUser(t, s, "u1")
	update(t, s, func(tx *store.Tx) error {
		tx.SetRevision(3)
		return tx.SetPIN("u1", "482915")
	})
	before, digest := snapshot(t, s), s.Digest()
	boom := errors.New("boom")
	err = s.Update(func(tx *store.Tx) error {
		tx.SetRevision(4)
		if _, err := tx.PutUser(access.User{ID: "u2"}); err != nil {
			return err
		}
		if err := tx.DeleteUser("u1"); err != nil {
			return err
		}
		if err := tx.SetPIN("u2", "482915"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	check := func(when string) {
		if diff := cmp.Diff(before, snapshot(t, s)); diff != "" {
			t.Errorf("%s: table changed by a failed Update (-want +got):\n%s", when, diff)
		}
		if s.Digest() != digest || s.Revision() != 3 {
			t.Errorf("%s: digest or revision (%d) changed by a failed Update", when, s.Revision())
		}
		if h, ok := s.PIN([]byte("482915")); !ok || h.User.ID != "u1" {
			t.Errorf("%s: PIN lookup = %+v, %v; want u1", when, h, ok)
		}
	}
	check("in memory")
	// A panic rolls back too.
	func() {
		defer func() { recover() }()
		_ = s.Update(func(tx *store.Tx) error {
			_ = tx.DeleteUser("u1")
			panic("fn panics")
		})
	}()
	check("after a panic")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = storetest.Open(t, opts)
	check("after reopen")
}

func TestUpdateTooLarge(t *testing.T) {
	s := newStore(t)
	n := s.MaxTxnEntries() + 1
	err := s.Update(func(tx *store.Tx) error {
		for i := range n {
			if _, err := tx.PutUser(access.User{ID: fmt.Sprintf("user-%06d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Update of %d users = %v, want ErrTooLarge", n, err)
	}
	if got := s.Counts().Users; got != 0 {
		t.Errorf("a too-large Update left %d users", got)
	}
	// 2500 users fit, as the documentation says.
	update(t, s, func(tx *store.Tx) error {
		for i := range 2500 {
			if _, err := tx.PutUser(access.User{ID: fmt.Sprintf("user-%06d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
}

// snapshot reads every user of the table through the public API.
func snapshot(t testing.TB, s *store.Store) map[string]store.UserRecord {
	t.Helper()
	out := map[string]store.UserRecord{}
	for _, id := range allIDs {
		if rec, err := s.User(id); err == nil {
			out[id] = rec
		}
	}
	return out
}

// allIDs are the user ids tests that take snapshots use.
var allIDs = func() []string {
	ids := []string{"u1", "u2", "u3"}
	for i := range 200 {
		ids = append(ids, fmt.Sprintf("r%d", i))
	}
	return ids
}()
