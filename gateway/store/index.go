package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"hash/maphash"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/lintel-access/lintel/gateway/access"
)

// pinKey is how the table knows a PIN: HMAC-SHA256 under the device key,
// truncated to its first 128 bits (HMAC-SHA-256-128, as RFC 4868 uses it).
// 128 bits keep a collision between two PINs out of reach and halve the
// index's memory.
type pinKey [16]byte

// pinHasher computes PIN keys. Hashers are pooled so that the decision path
// does not allocate; each is scrubbed before it goes back to the pool, so
// no digits linger in a pooled buffer.
type pinHasher struct {
	pool sync.Pool
}

func newPINHasher(deviceKey []byte) *pinHasher {
	k := slices.Clone(deviceKey)
	return &pinHasher{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
}

var zeroDigits [access.MaxPINLength]byte

func (p *pinHasher) key(digits []byte) pinKey {
	h := p.pool.Get().(hash.Hash)
	h.Write(digits)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	// Overwrite the digits left in the hash's block buffer.
	h.Reset()
	h.Write(zeroDigits[:])
	h.Reset()
	p.pool.Put(h)
	var k pinKey
	copy(k[:], sum[:])
	return k
}

func (p *pinHasher) keyString(pin string) pinKey {
	var buf [access.MaxPINLength]byte
	if len(pin) > len(buf) {
		return p.key([]byte(pin))
	}
	n := copy(buf[:], pin)
	k := p.key(buf[:n])
	clear(buf[:])
	return k
}

// cardKey is an access.CardKey with its format interned by the index.
type cardKey struct {
	number   uint64
	facility uint32
	format   uint16
}

// noSlot ends a credential list and marks a free slot.
const noSlot = ^uint32(0)

const (
	uLive = 1 << iota
	uEnabled
	uHasPIN
	uFrom
	uTo
)

// strRef is a string kept in the index's arena.
type strRef struct {
	off uint32
	n   uint32
}

// userRec is one user in the index: what a decision needs and no more.
// The name and the PIN key stay in Badger. Records live in one slice and
// point at each other by slot number, and ids live in one byte arena, so
// the index holds no pointers for the garbage collector to chase: at a
// million users a collection costs the decision path nothing.
type userRec struct {
	id         strRef
	fromS, toS int64
	fromN, toN int32
	firstCred  uint32 // head of the user's credential list, noSlot if none
	flags      uint8
}

// credRec is one credential in the index.
type credRec struct {
	id   strRef
	user uint32 // slot of the holder
	next uint32 // next credential of the same user, noSlot at the end
	card cardKey
}

// index is the in-memory copy of the user table that decisions read. It
// answers every lookup a decision makes, and every existence and
// uniqueness check a transaction makes, without Badger.
//
// An index is not safe for concurrent use by itself: the Store guards the
// current one with its RWMutex.
type index struct {
	// arena holds the ids of users and credentials. It is only appended
	// to (or replaced by compact), never changed in place, so strings made
	// over it stay valid for as long as anyone holds them.
	arena   []byte
	garbage int // arena bytes of removed ids

	users     []userRec
	freeUsers []uint32
	byID      idMap             // user id → user slot
	pins      map[pinKey]uint32 // → user slot
	creds     []credRec
	freeCreds []uint32
	credByID  idMap              // credential id → credential slot
	cards     map[cardKey]uint32 // → credential slot
	formats   []string
	formatOf  map[string]uint16
	digest    digest
}

// idMap finds a slot by id through a 64-bit hash of the id, which keeps
// strings out of the map. Ids whose hash another id already holds (about
// one in 10^7 tables of a million) go to a small map keyed by the id.
type idMap struct {
	seed    maphash.Seed
	primary map[uint64]uint32
	more    map[string]uint32
}

func newIDMap(n int) idMap {
	return idMap{seed: maphash.MakeSeed(), primary: make(map[uint64]uint32, n)}
}

// get finds id; idOf returns the id stored at a slot.
func (m *idMap) get(id string, idOf func(uint32) string) (uint32, bool) {
	if slot, ok := m.primary[maphash.String(m.seed, id)]; ok && idOf(slot) == id {
		return slot, true
	}
	slot, ok := m.more[id]
	return slot, ok
}

func (m *idMap) add(id string, slot uint32) {
	h := maphash.String(m.seed, id)
	if _, taken := m.primary[h]; !taken {
		m.primary[h] = slot
		return
	}
	if m.more == nil {
		m.more = make(map[string]uint32)
	}
	m.more[id] = slot
}

func (m *idMap) del(id string, slot uint32) {
	h := maphash.String(m.seed, id)
	if s, ok := m.primary[h]; ok && s == slot {
		delete(m.primary, h)
		return
	}
	delete(m.more, id)
}

func (m *idMap) len() int { return len(m.primary) + len(m.more) }

// newIndex returns an empty index with room for the given numbers of users
// and credentials, so that loading a table of known size allocates once.
func newIndex(users, creds int) *index {
	return &index{
		// Room for ids of about 12 bytes; a longer table grows it.
		arena:    make([]byte, 0, 12*(users+creds)),
		users:    make([]userRec, 0, users),
		byID:     newIDMap(users),
		pins:     make(map[pinKey]uint32, users),
		creds:    make([]credRec, 0, creds),
		credByID: newIDMap(creds),
		cards:    make(map[cardKey]uint32, creds),
		formatOf: make(map[string]uint16),
	}
}

// intern copies s into the arena.
func (ix *index) intern(s string) strRef {
	r := strRef{off: uint32(len(ix.arena)), n: uint32(len(s))}
	ix.arena = append(ix.arena, s...)
	return r
}

// str returns an interned string without copying it.
func (ix *index) str(r strRef) string {
	if r.n == 0 {
		return ""
	}
	return unsafe.String(&ix.arena[r.off], int(r.n))
}

func (ix *index) userID(slot uint32) string { return ix.str(ix.users[slot].id) }
func (ix *index) credID(slot uint32) string { return ix.str(ix.creds[slot].id) }

// compact copies the live ids to a new arena once removed ones take more
// than half of it. Strings handed out keep the old arena alive until
// their holders let go.
func (ix *index) compact() {
	if ix.garbage < 1<<20 || ix.garbage < len(ix.arena)/2 {
		return
	}
	old := ix.arena
	ix.arena = make([]byte, 0, len(old)-ix.garbage)
	ix.garbage = 0
	move := func(r strRef) strRef {
		if r.n == 0 {
			return r
		}
		return ix.intern(string(old[r.off : r.off+r.n]))
	}
	for i := range ix.users {
		if ix.users[i].flags&uLive != 0 {
			ix.users[i].id = move(ix.users[i].id)
		}
	}
	for i := range ix.creds {
		if ix.creds[i].user != noSlot {
			ix.creds[i].id = move(ix.creds[i].id)
		}
	}
}

// internCard returns the index's form of a card, adding its format to the
// index when add is set. ok is false for a format the index does not know.
func (ix *index) internCard(k access.CardKey, add bool) (cardKey, bool) {
	f, ok := ix.formatOf[k.Format]
	if !ok {
		if !add {
			return cardKey{}, false
		}
		if len(ix.formats) > 0xFFFF {
			// Never reached by readers: there are a handful of formats.
			panic("store: more than 65536 card formats")
		}
		f = uint16(len(ix.formats))
		ix.formats = append(ix.formats, k.Format)
		ix.formatOf[k.Format] = f
	}
	return cardKey{number: k.Number, facility: k.Facility, format: f}, true
}

// accessUser rebuilds the access.User of a slot, without the name.
func (ix *index) accessUser(slot uint32) access.User {
	r := &ix.users[slot]
	u := access.User{ID: ix.str(r.id), Enabled: r.flags&uEnabled != 0}
	if r.flags&uFrom != 0 {
		u.ValidFrom = time.Unix(r.fromS, int64(r.fromN)).UTC()
	}
	if r.flags&uTo != 0 {
		u.ValidTo = time.Unix(r.toS, int64(r.toN)).UTC()
	}
	return u
}

func (ix *index) holder(userSlot uint32, cred string) access.Holder {
	return access.Holder{User: ix.accessUser(userSlot), Credential: cred, HasPIN: ix.users[userSlot].flags&uHasPIN != 0}
}

// card looks up a card for a decision.
func (ix *index) card(k access.CardKey) (access.Holder, bool) {
	ck, ok := ix.internCard(k, false)
	if !ok {
		return access.Holder{}, false
	}
	cs, ok := ix.cards[ck]
	if !ok {
		return access.Holder{}, false
	}
	c := &ix.creds[cs]
	return ix.holder(c.user, ix.str(c.id)), true
}

// pin looks up a PIN key for a decision.
func (ix *index) pin(k pinKey) (access.Holder, bool) {
	us, ok := ix.pins[k]
	if !ok {
		return access.Holder{}, false
	}
	return ix.holder(us, ""), true
}

// exists reports whether the index holds a user.
func (ix *index) exists(id string) bool {
	_, ok := ix.byID.get(id, ix.userID)
	return ok
}

// pinHolder returns the id of the user holding a PIN key.
func (ix *index) pinHolder(k pinKey) (string, bool) {
	slot, ok := ix.pins[k]
	if !ok {
		return "", false
	}
	return ix.userID(slot), true
}

// cardHolder returns the id of the credential holding a card.
func (ix *index) cardHolder(k access.CardKey) (string, bool) {
	ck, ok := ix.internCard(k, false)
	if !ok {
		return "", false
	}
	cs, ok := ix.cards[ck]
	if !ok {
		return "", false
	}
	return ix.credID(cs), true
}

// credUser returns the id of the user holding a credential id.
func (ix *index) credUser(id string) (string, bool) {
	cs, ok := ix.credByID.get(id, ix.credID)
	if !ok {
		return "", false
	}
	return ix.userID(ix.creds[cs].user), true
}

// insert adds a user. The caller has checked that the user's id, PIN,
// credential ids and cards are all free.
func (ix *index) insert(st *userState) {
	ix.insertHashed(st, hashRecord(st))
}

// insertHashed is insert with the record's hash already computed.
func (ix *index) insertHashed(st *userState, h digest) {
	var slot uint32
	if n := len(ix.freeUsers); n > 0 {
		slot = ix.freeUsers[n-1]
		ix.freeUsers = ix.freeUsers[:n-1]
	} else {
		slot = uint32(len(ix.users))
		ix.users = append(ix.users, userRec{})
	}
	r := userRec{id: ix.intern(st.user.ID), firstCred: noSlot, flags: uLive}
	if st.user.Enabled {
		r.flags |= uEnabled
	}
	if t := st.user.ValidFrom; !t.IsZero() {
		r.flags |= uFrom
		r.fromS, r.fromN = t.Unix(), int32(t.Nanosecond())
	}
	if t := st.user.ValidTo; !t.IsZero() {
		r.flags |= uTo
		r.toS, r.toN = t.Unix(), int32(t.Nanosecond())
	}
	if st.hasPIN {
		r.flags |= uHasPIN
		ix.pins[st.pin] = slot
	}
	for i := len(st.creds) - 1; i >= 0; i-- {
		c := st.creds[i]
		ck, _ := ix.internCard(c.Card, true)
		var cs uint32
		if n := len(ix.freeCreds); n > 0 {
			cs = ix.freeCreds[n-1]
			ix.freeCreds = ix.freeCreds[:n-1]
		} else {
			cs = uint32(len(ix.creds))
			ix.creds = append(ix.creds, credRec{})
		}
		ix.creds[cs] = credRec{id: ix.intern(c.ID), user: slot, next: r.firstCred, card: ck}
		r.firstCred = cs
		ix.credByID.add(c.ID, cs)
		ix.cards[ck] = cs
	}
	ix.users[slot] = r
	ix.byID.add(st.user.ID, slot)
	ix.digest.add(h)
}

// remove deletes a user, as old describes them, with their PIN and
// credentials.
func (ix *index) remove(old *userState) {
	slot, ok := ix.byID.get(old.user.ID, ix.userID)
	if !ok {
		return
	}
	r := &ix.users[slot]
	if old.hasPIN {
		delete(ix.pins, old.pin)
	}
	for cs := r.firstCred; cs != noSlot; {
		c := &ix.creds[cs]
		next := c.next
		ix.credByID.del(ix.str(c.id), cs)
		ix.garbage += int(c.id.n)
		delete(ix.cards, c.card)
		*c = credRec{user: noSlot, next: noSlot}
		ix.freeCreds = append(ix.freeCreds, cs)
		cs = next
	}
	ix.byID.del(old.user.ID, slot)
	ix.garbage += int(r.id.n)
	*r = userRec{firstCred: noSlot}
	ix.freeUsers = append(ix.freeUsers, slot)
	ix.digest.sub(hashRecord(old))
}

// counts returns the index's sizes.
func (ix *index) counts() Counts {
	return Counts{Users: ix.byID.len(), Credentials: ix.credByID.len(), PINs: len(ix.pins)}
}

// credCount returns the number of credentials of a user and whether the
// user exists.
func (ix *index) credCount(id string) (int, bool) {
	slot, ok := ix.byID.get(id, ix.userID)
	if !ok {
		return 0, false
	}
	n := 0
	for cs := ix.users[slot].firstCred; cs != noSlot; cs = ix.creds[cs].next {
		n++
	}
	return n, true
}
