package store

import (
	"fmt"
	"hash/maphash"
	"strings"
	"testing"

	"github.com/lintel-access/lintel/gateway/access"
)

func TestIDMapCollision(t *testing.T) {
	ids := map[uint32]string{1: "a", 2: "b", 3: "c"}
	idOf := func(s uint32) string { return ids[s] }
	m := newIDMap(0)
	m.add("a", 1)
	// Make "b" collide with "a": its hash's primary entry holds a's slot.
	hb := maphash.String(m.seed, "b")
	m.primary[hb] = 1
	m.add("b", 2) // the primary entry is taken: b goes to the overflow map
	if slot, ok := m.get("b", idOf); !ok || slot != 2 {
		t.Errorf("get(b) = %d, %v; want 2 from the overflow map", slot, ok)
	}
	if slot, ok := m.get("a", idOf); !ok || slot != 1 {
		t.Errorf("get(a) = %d, %v; want 1", slot, ok)
	}
	m.del("b", 2)
	if _, ok := m.get("b", idOf); ok {
		t.Errorf("b found after del")
	}
	if _, ok := m.primary[hb]; !ok {
		t.Errorf("deleting the overflowed b removed the primary entry it collided with")
	}
	if _, ok := m.get("c", idOf); ok {
		t.Errorf("c found, never added")
	}
}

func TestIndexCompact(t *testing.T) {
	ix := newIndex(0, 0)
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
