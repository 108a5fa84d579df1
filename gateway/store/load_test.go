package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/lintel-access/lintel/gateway/access"
)

// TestRecordSizes holds the index to the sizes its memory figures are
// worked out from (see the package documentation).
func TestRecordSizes(t *testing.T) {
	if got := unsafe.Sizeof(userRec{}); got != 32 {
		t.Errorf("a user record takes %d bytes, want 32", got)
	}
	if got := unsafe.Sizeof(credRec{}); got != 24 {
		t.Errorf("a credential record takes %d bytes, want 24", got)
	}
}

// loadUsers fills a fresh index from users' stored records, in id order,
// as Open does.
func loadUsers(users map[string]*userState) (*index, error) {
	ix := newIndex(0, 0, 0)
	var rv recordView
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range users {
			if !yield(id) {
				return
			}
		}
	}) {
		if _, err := ix.loadRecord(&rv, []byte(id), encodeUser(nil, users[id])); err != nil {
			return nil, err
		}
	}
	return ix, ix.buildTables()
}

// TestLoadedIndexAgainstAModel loads random tables from their stored
// records, as Open does, and checks every lookup against a plain map of
// the users; a table in which two users share a PIN, a card or a
// credential id must fail to load.
func TestLoadedIndexAgainstAModel(t *testing.T) {
	h := newPINHasher([]byte("model key"))
	rapid.Check(t, func(rt *rapid.T) {
		users := map[string]*userState{}
		clash := false
		pins := map[pinKey]bool{}
		cards := map[access.CardKey]bool{}
		// Ids, PINs and cards from the ranges checkIndex looks up.
		for range rapid.IntRange(0, 13).Draw(rt, "users") {
			id := fmt.Sprintf("u%d", rapid.IntRange(0, 12).Draw(rt, "id"))
			if users[id] != nil {
				continue
			}
			st := &userState{user: access.User{ID: id, Enabled: rapid.Bool().Draw(rt, "enabled"),
				Override: rapid.Bool().Draw(rt, "override"), Levels: access.DefaultLevels()}}
			switch rapid.IntRange(0, 2).Draw(rt, "levels") {
			case 1:
				st.user.Levels = []string{}
			case 2:
				st.user.Levels = []string{"l" + fmt.Sprint(rapid.IntRange(0, 2).Draw(rt, "level")), "staff"}
			}
			if rapid.Bool().Draw(rt, "has from") {
				st.user.ValidFrom = time.Unix(rapid.Int64Range(0, 1e9-1).Draw(rt, "from"), 5).UTC()
			}
			if rapid.Bool().Draw(rt, "has to") {
				st.user.ValidTo = time.Unix(rapid.Int64Range(1e9, 2e9).Draw(rt, "to"), 0).UTC()
			}
			if rapid.IntRange(0, 2).Draw(rt, "has pin") == 0 {
				st.hasPIN, st.pinLen = true, 4
				st.pin = h.keyString(fmt.Sprintf("%04d", rapid.IntRange(0, 9).Draw(rt, "pin")))
				clash = clash || pins[st.pin]
				pins[st.pin] = true
			}
			for j := range rapid.IntRange(0, 2).Draw(rt, "cards") {
				c := access.Credential{ID: fmt.Sprintf("%s-c%d", id, j), UserID: id, Type: access.CredentialCard,
					Card: access.CardKey{Format: "H10301", Facility: 1, Number: uint64(rapid.IntRange(0, 20).Draw(rt, "card"))}}
				clash = clash || cards[c.Card]
				cards[c.Card] = true
				st.creds = append(st.creds, c)
			}
			users[id] = st
		}
		ix, err := loadUsers(users)
		if clash {
			if err == nil {
				rt.Fatalf("a table with a PIN or card held twice loaded")
			}
			return
		}
		if err != nil {
			rt.Fatalf("load: %v", err)
		}
		checkIndex(rt, ix, users, h)
		// The loaded index goes on working as one filled by inserts.
		for id, st := range users {
			if rapid.Bool().Draw(rt, "remove "+id) {
				ix.remove(st)
				delete(users, id)
			}
		}
		checkIndex(rt, ix, users, h)
	})
}

// TestLoadRecordRepeatedCredentialID: two users holding one credential id
// is damage, and the load says which.
func TestLoadRecordRepeatedCredentialID(t *testing.T) {
	users := map[string]*userState{}
	for _, id := range []string{"a", "b"} {
		users[id] = &userState{user: access.User{ID: id, Levels: access.DefaultLevels()},
			creds: []access.Credential{{ID: "c1", UserID: id, Card: access.CardKey{Format: "H10301", Number: uint64(len(id) + int(id[0]))}}}}
	}
	_, err := loadUsers(users)
	if err == nil || !strings.Contains(err.Error(), `credential id "c1"`) {
		t.Errorf("load = %v, want an error naming credential id c1", err)
	}
}

// FuzzLoadRecord feeds damaged records to the loader. It must never panic;
// it must read every record decodeUser accepts, into the user decodeUser
// reads; and it may only accept more than decodeUser in what the index
// does not keep (the name).
func FuzzLoadRecord(f *testing.F) {
	for _, c := range recordCases {
		f.Add(c.user.ID, encodeUser(nil, &c))
	}
	f.Fuzz(func(t *testing.T, id string, b []byte) {
		ix := newIndex(0, 0, 0)
		var rv recordView
		slot, lerr := ix.loadRecord(&rv, []byte(id), b)
		st, derr := decodeUser(id, b)
		if derr == nil && access.CheckID(id) == nil {
			if lerr != nil {
				t.Fatalf("decodeUser reads the record, loadRecord does not: %v", lerr)
			}
			if err := ix.buildTables(); err != nil {
				if !hasRepeatedCard(&st) {
					t.Fatalf("buildTables: %v", err)
				}
				return
			}
			got := ix.holder(slot, "")
			want := access.Holder{User: st.user, HasPIN: st.hasPIN}
			want.User.Name = ""
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("loaded user (-decodeUser +loadRecord):\n%s", diff)
			}
			for _, c := range st.creds {
				if h, ok := ix.card(c.Card); !ok || h.Credential != c.ID {
					t.Errorf("card %v of credential %s: %+v, %v", c.Card, c.ID, h, ok)
				}
			}
			return
		}
		if lerr == nil {
			// Only the name may be what decodeUser refused.
			if err := ix.buildTables(); err == nil && ix.counts().Users != 1 {
				t.Fatalf("loaded %d users from one record", ix.counts().Users)
			}
		}
	})
}
