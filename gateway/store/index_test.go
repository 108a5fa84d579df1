package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/lintel-access/lintel/gateway/access"
)

func TestIndexCompact(t *testing.T) {
	ix := newIndex(0, 0, 0)
	long := strings.Repeat("x", 50)
	n := 30_000
	for i := range n {
		ix.insert(&userState{
			user:  access.User{ID: fmt.Sprintf("%s%06d", long, i), Enabled: true},
			creds: []access.Credential{{ID: fmt.Sprintf("c%s%06d", long, i), Card: access.CardKey{Format: "H10301", Number: uint64(i)}}},
		})
	}
	kept, _ := ix.card(access.CardKey{Format: "H10301", Number: 5})
	for i := 10; i < n; i++ {
		id := fmt.Sprintf("%s%06d", long, i)
		ix.remove(&userState{user: access.User{ID: id, Enabled: true},
			creds: []access.Credential{{ID: "c" + id, Card: access.CardKey{Format: "H10301", Number: uint64(i)}}}})
	}
	before := len(ix.arena)
	ix.compact()
	if len(ix.arena) >= before || ix.garbage != 0 {
		t.Fatalf("compact left the arena at %d bytes (was %d), garbage %d", len(ix.arena), before, ix.garbage)
	}
	for i := range 10 {
		id := fmt.Sprintf("%s%06d", long, i)
		h, ok := ix.card(access.CardKey{Format: "H10301", Number: uint64(i)})
		if !ok || h.User.ID != id || h.Credential != "c"+id || !ix.exists(id) {
			t.Errorf("user %d after compact: %+v, %v", i, h, ok)
		}
	}
	if want := fmt.Sprintf("%s%06d", long, 5); kept.User.ID != want {
		t.Errorf("a string handed out before compact changed to %q", kept.User.ID)
	}
	if got := ix.counts(); got != (Counts{Users: 10, Credentials: 10}) {
		t.Errorf("counts = %+v", got)
	}
}

// TestIndexAgainstAModel inserts and removes random users, with PINs,
// cards and validity windows drawn from small sets so that keys are
// reused, and checks every lookup a decision or a transaction makes
// against a plain map of the users.
func TestIndexAgainstAModel(t *testing.T) {
	h := newPINHasher([]byte("model key"))
	rapid.Check(t, func(rt *rapid.T) {
		ix := newIndex(rapid.IntRange(0, 8).Draw(rt, "users"), rapid.IntRange(0, 8).Draw(rt, "creds"), 0)
		users := map[string]*userState{}
		for range rapid.IntRange(1, 200).Draw(rt, "steps") {
			id := fmt.Sprintf("u%d", rapid.IntRange(0, 12).Draw(rt, "id"))
			if old, ok := users[id]; ok && rapid.Bool().Draw(rt, "remove") {
				ix.remove(old)
				delete(users, id)
			} else if !ok {
				st := &userState{user: access.User{ID: id, Enabled: rapid.Bool().Draw(rt, "enabled")}}
				if rapid.Bool().Draw(rt, "has from") {
					st.user.ValidFrom = time.Unix(rapid.Int64Range(0, 2e9).Draw(rt, "from"), 5).UTC()
				}
				if rapid.Bool().Draw(rt, "has to") {
					st.user.ValidTo = time.Unix(rapid.Int64Range(0, 2e9).Draw(rt, "to"), 0).UTC()
				}
				if rapid.Bool().Draw(rt, "has pin") {
					st.hasPIN, st.pin = true, h.keyString(fmt.Sprintf("%04d", rapid.IntRange(0, 9).Draw(rt, "pin")))
				}
				for j := range rapid.IntRange(0, 3).Draw(rt, "cards") {
					st.creds = append(st.creds, access.Credential{ID: fmt.Sprintf("%s-c%d", id, j), UserID: id,
						Card: access.CardKey{Format: "H10301", Facility: 1, Number: uint64(rapid.IntRange(0, 20).Draw(rt, "card"))}})
				}
				if ix.checkFree(st) == nil && !hasRepeatedCard(st) {
					ix.insert(st)
					users[id] = st
				}
			}
			checkIndex(rt, ix, users, h)
		}
	})
}

func hasRepeatedCard(st *userState) bool {
	for i := range st.creds {
		for j := range i {
			if st.creds[i].Card == st.creds[j].Card {
				return true
			}
		}
	}
	return false
}

func checkIndex(rt *rapid.T, ix *index, users map[string]*userState, h *pinHasher) {
	var want Counts
	for _, st := range users {
		want.Users++
		want.Credentials += len(st.creds)
		if st.hasPIN {
			want.PINs++
		}
	}
	if got := ix.counts(); got != want {
		rt.Fatalf("counts %+v, want %+v", got, want)
	}
	for i := range 13 {
		id := fmt.Sprintf("u%d", i)
		st, ok := users[id]
		if ix.exists(id) != ok {
			rt.Fatalf("exists(%s) = %v, want %v", id, !ok, ok)
		}
		if n, found := ix.credCount(id); found != ok || (ok && n != len(st.creds)) {
			rt.Fatalf("credCount(%s) = %d, %v", id, n, found)
		}
	}
	for p := range 10 {
		k := h.keyString(fmt.Sprintf("%04d", p))
		var holder *userState
		for _, st := range users {
			if st.hasPIN && st.pin == k {
				holder = st
			}
		}
		got, ok := ix.pin(k)
		switch {
		case holder == nil && ok:
			rt.Fatalf("PIN %d found for %s, held by nobody", p, got.User.ID)
		case holder != nil && (!ok || !equalUsers(got.User, holder.user) || !got.HasPIN):
			rt.Fatalf("PIN %d: got %+v, %v; want %+v", p, got, ok, holder.user)
		}
	}
	for n := range uint64(21) {
		card := access.CardKey{Format: "H10301", Facility: 1, Number: n}
		var holder *userState
		var cred string
		for _, st := range users {
			for _, c := range st.creds {
				if c.Card == card {
					holder, cred = st, c.ID
				}
			}
		}
		got, ok := ix.card(card)
		switch {
		case holder == nil && ok:
			rt.Fatalf("card %d found for %s, held by nobody", n, got.User.ID)
		case holder != nil && (!ok || !equalUsers(got.User, holder.user) || got.Credential != cred || got.HasPIN != holder.hasPIN):
			rt.Fatalf("card %d: got %+v, %v; want %+v %s", n, got, ok, holder.user, cred)
		}
		if holder != nil {
			if u, ok := ix.credUser(cred); !ok || u != holder.user.ID {
				rt.Fatalf("credUser(%s) = %s, %v", cred, u, ok)
			}
		}
	}
}

// equalUsers compares users as the index returns them: an absent and an
// empty level list are the same.
func equalUsers(a, b access.User) bool {
	return cmp.Equal(a, b, cmpopts.EquateEmpty())
}
