package store_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gateway/store/storetest"
)

// listIDs lists the ids Users yields after after, at most n of them.
func listIDs(t *testing.T, s *store.Store, after string, n int) []string {
	t.Helper()
	var ids []string
	for r, err := range s.Users(after) {
		if err != nil {
			t.Fatalf("Users(%q): %v", after, err)
		}
		ids = append(ids, r.User.ID)
		if len(ids) == n {
			break
		}
	}
	return ids
}

func TestUsersInIDOrderFromAfter(t *testing.T) {
	s := newStore(t)
	ids := []string{"bob", "ann", "Zed", "ann.b", "carl", "a", "ann-2"}
	for _, id := range ids {
		putUser(t, s, id)
	}
	update(t, s, func(tx *store.Tx) error {
		_, err := tx.AddCredential(access.Credential{ID: "c1", UserID: "ann", Card: card(100)})
		return err
	})
	sorted := slices.Sorted(slices.Values(ids))
	tests := []struct {
		name  string
		after string
		n     int
		want  []string
	}{
		{"all", "", 0, sorted},
		{"first page", "", 3, sorted[:3]},
		{"after an id", sorted[2], 3, sorted[3:6]},
		{"after an id that is not there", "ann.a", 2, []string{"ann.b", "bob"}},
		{"after the last", "carl", 0, nil},
		{"after everything", "zzz", 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, listIDs(t, s, tc.after, tc.n)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	for r, err := range s.Users("") {
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.User(r.User.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(got, r); diff != "" {
			t.Errorf("Users' record of %s differs from User's (-User +Users):\n%s", r.User.ID, diff)
		}
	}
}

// TestUsersIsOneView: a listing sees the table as it was when it started,
// whatever is committed while it runs, a snapshot included.
func TestUsersIsOneView(t *testing.T) {
	s := newStore(t)
	for i := range 50 {
		putUser(t, s, fmt.Sprintf("u%02d", i))
	}
	var got []string
	changed := false
	for r, err := range s.Users("") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.User.ID)
		if !changed {
			changed = true
			update(t, s, func(tx *store.Tx) error { return tx.DeleteUser("u49") })
			putUser(t, s, "u99")
			if err := s.ReplaceAll(7, nil, []store.SnapshotUser{{User: access.User{ID: "other", Name: "O", Enabled: true}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(got) != 50 || got[49] != "u49" {
		t.Errorf("got %d users ending %q, want the 50 there were when the listing started", len(got), got[len(got)-1])
	}
	if diff := cmp.Diff([]string{"other"}, listIDs(t, s, "", 0)); diff != "" {
		t.Errorf("a new listing (-want +got):\n%s", diff)
	}
}

func TestUsersOfAClosedStore(t *testing.T) {
	o := storetest.Options(t)
	s, err := store.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, err := range s.Users("") {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("got %v, want ErrClosed", err)
		}
	}
}

// TestCheckCard: a card the site's readers cannot present is refused by
// Update and ReplaceAll with the field named, through Options.CheckCard
// (issue 12, finding 9).
func TestCheckCard(t *testing.T) {
	s := newStore(t, func(o *store.Options) { o.CheckCard = storetest.CheckCard })
	putUser(t, s, "ann")
	tests := []struct {
		name  string
		card  access.CardKey
		field string
	}{
		{"unknown format", access.CardKey{Format: "FOO", Facility: 1, Number: 1}, "card.format"},
		{"wrong case", access.CardKey{Format: "h10301", Facility: 1, Number: 1}, "card.format"},
		{"facility 300", access.CardKey{Format: "H10301", Facility: 300, Number: 1}, "card.facility"},
		{"number 70000", access.CardKey{Format: "H10301", Facility: 1, Number: 70000}, "card.number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Update(func(tx *store.Tx) error {
				_, err := tx.AddCredential(access.Credential{UserID: "ann", Card: tc.card})
				return err
			})
			var fe *access.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, access.ErrInvalid) {
				t.Fatalf("AddCredential: got %v, want an invalid %s", err, tc.field)
			}
			err = s.ReplaceAll(1, nil, []store.SnapshotUser{{User: access.User{ID: "bo", Name: "Bo", Enabled: true},
				Credentials: []access.Credential{{ID: "ok", Card: card(1)}, {ID: "bad", Card: tc.card}}}})
			if !errors.As(err, &fe) || fe.Field != "credentials[1]."+tc.field {
				t.Fatalf("ReplaceAll: got %v, want credentials[1].%s", err, tc.field)
			}
		})
	}
	update(t, s, func(tx *store.Tx) error {
		_, err := tx.AddCredential(access.Credential{ID: "c1", UserID: "ann", Card: card(65535)})
		return err
	})
	if r, _ := s.User("ann"); len(r.Credentials) != 1 || s.Revision() != 0 {
		t.Errorf("got %+v at revision %d, want the one good card and nothing of the refused snapshots", r.Credentials, s.Revision())
	}
}

func TestTxCredential(t *testing.T) {
	s := newStore(t)
	putUser(t, s, "ann")
	update(t, s, func(tx *store.Tx) error {
		_, err := tx.AddCredential(access.Credential{ID: "c1", UserID: "ann", Card: card(1)})
		return err
	})
	update(t, s, func(tx *store.Tx) error {
		c, err := tx.Credential("c1")
		if err != nil || c.UserID != "ann" || c.Card != card(1) {
			t.Errorf("Credential(c1) = %+v, %v; want ann's card 1", c, err)
		}
		if _, err := tx.AddCredential(access.Credential{ID: "c2", UserID: "ann", Card: card(2)}); err != nil {
			return err
		}
		if c, err := tx.Credential("c2"); err != nil || c.Card != card(2) {
			t.Errorf("Credential(c2) in the Tx that added it = %+v, %v", c, err)
		}
		if err := tx.RemoveCredential("c1"); err != nil {
			return err
		}
		if _, err := tx.Credential("c1"); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("Credential(c1) after its removal: got %v, want ErrNotFound", err)
		}
		return nil
	})
}

// TestReplaceAllKeepPIN: a restored backup carries no PINs; KeepPIN keeps
// the ones the live table holds for the same user ids, still unique.
func TestReplaceAllKeepPIN(t *testing.T) {
	s := newStore(t)
	for _, id := range []string{"ann", "bob", "cat"} {
		putUser(t, s, id)
	}
	update(t, s, func(tx *store.Tx) error {
		if err := tx.SetPIN("ann", "482913"); err != nil {
			return err
		}
		return tx.SetPIN("bob", "730518")
	})
	u := func(id string) access.User { return access.User{ID: id, Name: id, Enabled: true} }
	err := s.ReplaceAll(0, nil, []store.SnapshotUser{
		{User: u("ann"), KeepPIN: true},
		{User: u("bob")},                // no KeepPIN: the PIN goes
		{User: u("cat"), KeepPIN: true}, // had none
		{User: u("dan"), KeepPIN: true}, // new here
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for r, err := range s.Users("") {
		if err != nil {
			t.Fatal(err)
		}
		got[r.User.ID] = r.HasPIN
	}
	if diff := cmp.Diff(map[string]bool{"ann": true, "bob": false, "cat": false, "dan": false}, got); diff != "" {
		t.Errorf("has PIN (-want +got):\n%s", diff)
	}
	if h, ok := s.PIN([]byte("482913")); !ok || h.User.ID != "ann" {
		t.Errorf("ann's kept PIN finds %+v, %v", h, ok)
	}
	if _, ok := s.PIN([]byte("730518")); ok {
		t.Errorf("bob's PIN still opens")
	}
	// A kept PIN is still unique across the new table.
	err = s.ReplaceAll(0, nil, []store.SnapshotUser{{User: u("ann"), KeepPIN: true}, {User: u("eve"), PIN: "482913"}})
	if !errors.Is(err, access.ErrPINInUse) {
		t.Errorf("a snapshot giving ann's kept PIN to eve: got %v, want ErrPINInUse", err)
	}
}
