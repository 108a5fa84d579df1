package store

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"slices"
	"sync"
	"time"

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

// userRec is one user in the index. Records live in one slice and point at
// each other by slot number, so a million users cost a few allocations and
// little for the garbage collector to scan.
type userRec struct {
	id, name   string
	fromS, toS int64
	fromN, toN int32
	firstCred  uint32 // head of the user's credential list, noSlot if none
	flags      uint8
	pin        pinKey
}

// credRec is one credential in the index.
type credRec struct {
	id   string
	user uint32 // slot of the holder
	next uint32 // next credential of the same user, noSlot at the end
	card cardKey
}

// index is the in-memory copy of the user table that decisions read. It
// answers every lookup a decision or a transaction makes without Badger.
//
// An index is not safe for concurrent use by itself: the Store guards the
// current one with its RWMutex.
type index struct {
	users     []userRec
	freeUsers []uint32
	byID      map[string]uint32
	pins      map[pinKey]uint32 // → user slot
	creds     []credRec
	freeCreds []uint32
	credByID  map[string]uint32
	cards     map[cardKey]uint32 // → credential slot
	formats   []string
	formatOf  map[string]uint16
	digest    digest
}

// newIndex returns an empty index with room for the given numbers of users
// and credentials, so that loading a table of known size allocates once.
func newIndex(users, creds int) *index {
	return &index{
		users:    make([]userRec, 0, users),
		byID:     make(map[string]uint32, users),
		pins:     make(map[pinKey]uint32, users),
		creds:    make([]credRec, 0, creds),
		credByID: make(map[string]uint32, creds),
		cards:    make(map[cardKey]uint32, creds),
		formatOf: make(map[string]uint16),
	}
}

// credCount returns the number of credentials of a user and whether the
// user exists.
func (ix *index) credCount(id string) (int, bool) {
	slot, ok := ix.byID[id]
	if !ok {
		return 0, false
	}
	n := 0
	for cs := ix.users[slot].firstCred; cs != noSlot; cs = ix.creds[cs].next {
		n++
	}
	return n, true
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

func (ix *index) cardOf(c cardKey) access.CardKey {
	return access.CardKey{Format: ix.formats[c.format], Facility: c.facility, Number: c.number}
}

// accessUser rebuilds the access.User of a slot.
func (ix *index) accessUser(slot uint32) access.User {
	r := &ix.users[slot]
	u := access.User{ID: r.id, Name: r.name, Enabled: r.flags&uEnabled != 0}
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
	return ix.holder(c.user, c.id), true
}

// pin looks up a PIN key for a decision.
func (ix *index) pin(k pinKey) (access.Holder, bool) {
	us, ok := ix.pins[k]
	if !ok {
		return access.Holder{}, false
	}
	return ix.holder(us, ""), true
}

// get materialises a user.
func (ix *index) get(id string) (userState, bool) {
	slot, ok := ix.byID[id]
	if !ok {
		return userState{}, false
	}
	r := &ix.users[slot]
	st := userState{user: ix.accessUser(slot), hasPIN: r.flags&uHasPIN != 0, pin: r.pin}
	for cs := r.firstCred; cs != noSlot; cs = ix.creds[cs].next {
		c := &ix.creds[cs]
		st.creds = append(st.creds, access.Credential{ID: c.id, UserID: r.id, Type: access.CredentialCard, Card: ix.cardOf(c.card)})
	}
	slices.SortFunc(st.creds, func(a, b access.Credential) int { return cmp.Compare(a.ID, b.ID) })
	return st, true
}

// pinHolder returns the id of the user holding a PIN key.
func (ix *index) pinHolder(k pinKey) (string, bool) {
	slot, ok := ix.pins[k]
	if !ok {
		return "", false
	}
	return ix.users[slot].id, true
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
	return ix.creds[cs].id, true
}

// credUser returns the id of the user holding a credential id.
func (ix *index) credUser(id string) (string, bool) {
	cs, ok := ix.credByID[id]
	if !ok {
		return "", false
	}
	return ix.users[ix.creds[cs].user].id, true
}

// insert adds a user. The caller has checked that the user's id, PIN,
// credential ids and cards are all free.
func (ix *index) insert(st *userState) {
	var slot uint32
	if n := len(ix.freeUsers); n > 0 {
		slot = ix.freeUsers[n-1]
		ix.freeUsers = ix.freeUsers[:n-1]
	} else {
		slot = uint32(len(ix.users))
		ix.users = append(ix.users, userRec{})
	}
	r := userRec{id: st.user.ID, name: st.user.Name, firstCred: noSlot, flags: uLive}
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
		r.pin = st.pin
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
		ix.creds[cs] = credRec{id: c.ID, user: slot, next: r.firstCred, card: ck}
		r.firstCred = cs
		ix.credByID[c.ID] = cs
		ix.cards[ck] = cs
	}
	ix.users[slot] = r
	ix.byID[r.id] = slot
	ix.digest.add(hashRecord(st))
}

// remove deletes a user with its PIN and credentials; it reports whether
// the user existed.
func (ix *index) remove(id string) bool {
	st, ok := ix.get(id)
	if !ok {
		return false
	}
	slot := ix.byID[id]
	r := &ix.users[slot]
	if r.flags&uHasPIN != 0 {
		delete(ix.pins, r.pin)
	}
	for cs := r.firstCred; cs != noSlot; {
		c := &ix.creds[cs]
		next := c.next
		delete(ix.credByID, c.id)
		delete(ix.cards, c.card)
		*c = credRec{user: noSlot, next: noSlot}
		ix.freeCreds = append(ix.freeCreds, cs)
		cs = next
	}
	*r = userRec{firstCred: noSlot}
	ix.freeUsers = append(ix.freeUsers, slot)
	delete(ix.byID, id)
	ix.digest.sub(hashRecord(&st))
	return true
}

// counts returns the index's sizes.
func (ix *index) counts() Counts {
	return Counts{Users: len(ix.byID), Credentials: len(ix.credByID), PINs: len(ix.pins)}
}
