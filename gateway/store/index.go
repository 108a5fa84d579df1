package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"hash/maphash"
	"slices"
	"strings"
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

// pooledHMAC is one pooled hasher with the buffer its sum goes to, so the
// sum does not escape to the heap through the hash.Hash interface.
type pooledHMAC struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func newPINHasher(deviceKey []byte) *pinHasher {
	k := slices.Clone(deviceKey)
	return &pinHasher{pool: sync.Pool{New: func() any { return &pooledHMAC{h: hmac.New(sha256.New, k)} }}}
}

var zeroDigits [access.MaxPINLength]byte

func (p *pinHasher) key(digits []byte) pinKey {
	ph := p.pool.Get().(*pooledHMAC)
	ph.h.Write(digits)
	ph.h.Sum(ph.sum[:0])
	var k pinKey
	copy(k[:], ph.sum[:])
	// Overwrite the digits left in the hash's block buffer.
	ph.h.Reset()
	ph.h.Write(zeroDigits[:])
	ph.h.Reset()
	clear(ph.sum[:])
	p.pool.Put(ph)
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

// cardKey is an access.CardKey with its format interned by the index and
// its number in two halves, so that a credential record packs into 24
// bytes.
type cardKey struct {
	lo, hi   uint32 // the card number
	facility uint32
	format   uint16
}

// noSlot marks a user without credentials and a free credential slot.
const noSlot = ^uint32(0)

const (
	uLive = 1 << iota
	uEnabled
	uHasPIN
	uFrom
	uTo
	uOverride
)

// userRec is one user in the index: what a decision needs and no more, in
// 32 bytes. A user's credentials are a run of consecutive credential
// records. The name stays in Badger; the validity window, which most
// users do not have, is kept in index.windows. Records live in one slice
// and point at each other by slot number, and ids live in one byte arena,
// so the index holds no pointers for the garbage collector to chase: at a
// million users a collection costs the decision path nothing.
type userRec struct {
	pin       pinKey // valid with uHasPIN
	id        uint32 // the id's offset in the arena
	firstCred uint32 // the first of the user's credentials, noSlot if none
	levels    uint32 // the user's list in levelLists
	flags     uint8
	pinLen    uint8 // digits of the PIN, 0 when unknown
	nCreds    uint8 // at most maxCredentialsPerUser
}

// credRange is the slots of a user's credentials.
func (r *userRec) credRange() (from, to uint32) {
	if r.nCreds == 0 {
		return 0, 0
	}
	return r.firstCred, r.firstCred + uint32(r.nCreds)
}

// levelList is one distinct list of levels that users hold. Users share
// lists: a site has a handful of combinations however many users it has,
// so a user costs the index four bytes for their levels, and a decision
// hands the engine the shared slice without copying it.
type levelList struct {
	names []string // sorted; shared with decisions, never changed
	refs  int      // users holding exactly this list
}

// window is a user's validity, kept apart from userRec because most users
// have none; uFrom and uTo say which bounds are set.
type window struct {
	fromS, toS int64
	fromN, toN int32
}

// credRec is one credential in the index, in 24 bytes.
type credRec struct {
	id   uint32 // the id's offset in the arena
	user uint32 // slot of the holder, noSlot for a free slot
	card cardKey
}

// index is the in-memory copy of the user table that decisions read. It
// answers every lookup a decision makes, and every existence and
// uniqueness check a transaction makes, without Badger.
//
// An index is not safe for concurrent use by itself: the Store guards the
// current one with its RWMutex.
type index struct {
	// arena holds the ids of users and credentials, each as a length byte
	// and the id's bytes (an id is at most 64 bytes). It is only appended
	// to (or replaced by compact), never changed in place, so strings made
	// over it stay valid for as long as anyone holds them.
	arena   []byte
	garbage int // arena bytes of removed ids
	seed    maphash.Seed

	users     []userRec
	freeUsers []uint32
	creds     []credRec
	// freeRuns[n] are the first slots of free runs of n credentials, for
	// the next user with n: most users have one, so runs of one are
	// nearly all there is to reuse.
	freeRuns [maxCredentialsPerUser + 1][]uint32
	// windows are the validity windows of the users that have one, by
	// user slot.
	windows map[uint32]window

	byID     slotTable // users by id
	pins     slotTable // users by PIN key
	credByID slotTable // credentials by id
	cards    slotTable // credentials by card

	formats  []string
	formatOf map[string]uint16
	// levelLists are the distinct level lists users hold; listOf finds a
	// list by its names joined with NUL. List 0 is the default levels.
	levelLists []levelList
	listOf     map[string]uint32
	keyBuf     []byte // internLevels' scratch
	// pinsByLen counts PINs by their number of digits; index 0 counts PINs
	// of unknown length.
	pinsByLen [access.MaxPINLength + 1]int
	digest    digest
}

// newIndex returns an empty index with room for the given numbers of users
// and credentials and bytes of ids (length bytes included), so that
// loading a table of known size allocates once.
func newIndex(users, creds, idBytes int) *index {
	return &index{
		arena:      make([]byte, 0, idBytes),
		seed:       maphash.MakeSeed(),
		users:      make([]userRec, 0, users),
		creds:      make([]credRec, 0, creds),
		windows:    make(map[uint32]window),
		formatOf:   make(map[string]uint16),
		levelLists: []levelList{{names: access.DefaultLevels()}},
		listOf:     map[string]uint32{access.LevelAll: 0},
	}
}

// presize gives the hash tables room for the records the index was made
// with room for. An index filled by buildTables does without.
func (ix *index) presize() *index {
	ix.byID = newSlotTable(cap(ix.users))
	ix.pins = newSlotTable(cap(ix.users))
	ix.credByID = newSlotTable(cap(ix.creds))
	ix.cards = newSlotTable(cap(ix.creds))
	return ix
}

// internLevels returns the list id of levels (sorted), adding the list
// when it is new, and counts one more holder. Looking up a known list
// allocates nothing: a snapshot of a million users meets a few hundred
// lists.
func (ix *index) internLevels(levels []string) uint32 {
	ix.keyBuf = ix.keyBuf[:0]
	for i, l := range levels {
		if i > 0 {
			ix.keyBuf = append(ix.keyBuf, 0)
		}
		ix.keyBuf = append(ix.keyBuf, l...)
	}
	id, ok := ix.listOf[string(ix.keyBuf)]
	if !ok {
		id = ix.addLevelList(levels)
	}
	ix.levelLists[id].refs++
	return id
}

// addLevelList adds the list whose key is in keyBuf.
func (ix *index) addLevelList(levels []string) uint32 {
	id := uint32(len(ix.levelLists))
	names := make([]string, len(levels))
	for i, l := range levels {
		names[i] = strings.Clone(l) // not the caller's memory
	}
	ix.levelLists = append(ix.levelLists, levelList{names: names})
	ix.listOf[string(ix.keyBuf)] = id
	return id
}

// levelHolders counts the users holding level id.
func (ix *index) levelHolders(id string) int {
	n := 0
	for _, l := range ix.levelLists {
		if l.refs > 0 && slices.Contains(l.names, id) {
			n += l.refs
		}
	}
	return n
}

// idBytes is the arena space the live ids take.
func (ix *index) idBytes() int { return len(ix.arena) - ix.garbage }

// Hashes of the four keys. A PIN key is already an HMAC under the device
// key, so its first bytes are as good as any hash of it.
func (ix *index) idHash(id string) uint64 { return maphash.String(ix.seed, id) }

func pinHash(k pinKey) uint64 { return binary.LittleEndian.Uint64(k[:8]) }

func (ix *index) cardHash(k cardKey) uint64 {
	var b [14]byte
	binary.LittleEndian.PutUint32(b[0:], k.lo)
	binary.LittleEndian.PutUint32(b[4:], k.hi)
	binary.LittleEndian.PutUint32(b[8:], k.facility)
	binary.LittleEndian.PutUint16(b[12:], k.format)
	return maphash.Bytes(ix.seed, b[:])
}

func (ix *index) userIDHash(slot uint32) uint64   { return ix.idHash(ix.userID(slot)) }
func (ix *index) userPINHash(slot uint32) uint64  { return pinHash(ix.users[slot].pin) }
func (ix *index) credIDHash(slot uint32) uint64   { return ix.idHash(ix.credID(slot)) }
func (ix *index) cardSlotHash(slot uint32) uint64 { return ix.cardHash(ix.creds[slot].card) }

// Lookups by key; each returns a slot.

func (ix *index) userSlot(id string) (uint32, bool) {
	return ix.byID.find(ix.idHash(id), func(s uint32) bool { return ix.userID(s) == id })
}

func (ix *index) pinSlot(k pinKey) (uint32, bool) {
	return ix.pins.find(pinHash(k), func(s uint32) bool { return ix.users[s].pin == k })
}

func (ix *index) credSlot(id string) (uint32, bool) {
	return ix.credByID.find(ix.idHash(id), func(s uint32) bool { return ix.credID(s) == id })
}

func (ix *index) cardSlot(k cardKey) (uint32, bool) {
	return ix.cards.find(ix.cardHash(k), func(s uint32) bool { return ix.creds[s].card == k })
}

// maxArena bounds the arena: offsets are 32 bits.
const maxArena = 1<<32 - 1

// intern copies an id into the arena and returns its offset.
func (ix *index) intern(id string) uint32 {
	switch {
	case len(id) > 0xFF:
		// Never reached: access.CheckID allows 64 bytes.
		panic("store: an id of more than 255 bytes")
	case uint64(len(ix.arena))+1+uint64(len(id)) > maxArena:
		// Never reached: four billion bytes of ids would not fit the
		// memory of any gateway.
		panic("store: more than 4 GiB of ids")
	}
	off := uint32(len(ix.arena))
	ix.arena = append(ix.arena, byte(len(id)))
	ix.arena = append(ix.arena, id...)
	return off
}

// str returns an interned id without copying it.
func (ix *index) str(off uint32) string {
	n := ix.arena[off]
	if n == 0 {
		return ""
	}
	return unsafe.String(&ix.arena[off+1], int(n))
}

// strSize is the arena space of the id at off.
func (ix *index) strSize(off uint32) int { return 1 + int(ix.arena[off]) }

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
	move := func(off uint32) uint32 {
		n := int(old[off])
		return ix.intern(string(old[off+1 : int(off)+1+n]))
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

// internFormat returns the number of a card format, adding it to the
// index when add is set. ok is false for a format the index does not
// know.
func (ix *index) internFormat(format string, add bool) (uint16, bool) {
	f, ok := ix.formatOf[format]
	if ok || !add {
		return f, ok
	}
	if len(ix.formats) > 0xFFFF {
		// Never reached by readers: there are a handful of formats.
		panic("store: more than 65536 card formats")
	}
	format = strings.Clone(format) // not the caller's memory
	f = uint16(len(ix.formats))
	ix.formats = append(ix.formats, format)
	ix.formatOf[format] = f
	return f, true
}

// internCard returns the index's form of a card, adding its format to the
// index when add is set. ok is false for a format the index does not know.
func (ix *index) internCard(k access.CardKey, add bool) (cardKey, bool) {
	f, ok := ix.internFormat(k.Format, add)
	if !ok {
		return cardKey{}, false
	}
	return cardKey{lo: uint32(k.Number), hi: uint32(k.Number >> 32), facility: k.Facility, format: f}, true
}

// accessUser rebuilds the access.User of a slot, without the name. Its
// Levels are the index's shared slice, which must not be changed.
func (ix *index) accessUser(slot uint32) access.User {
	r := &ix.users[slot]
	u := access.User{ID: ix.str(r.id), Enabled: r.flags&uEnabled != 0, Override: r.flags&uOverride != 0,
		Levels: ix.levelLists[r.levels].names}
	if r.flags&(uFrom|uTo) == 0 {
		return u
	}
	w := ix.windows[slot]
	if r.flags&uFrom != 0 {
		u.ValidFrom = time.Unix(w.fromS, int64(w.fromN)).UTC()
	}
	if r.flags&uTo != 0 {
		u.ValidTo = time.Unix(w.toS, int64(w.toN)).UTC()
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
	cs, ok := ix.cardSlot(ck)
	if !ok {
		return access.Holder{}, false
	}
	c := &ix.creds[cs]
	return ix.holder(c.user, ix.str(c.id)), true
}

// pin looks up a PIN key for a decision.
func (ix *index) pin(k pinKey) (access.Holder, bool) {
	us, ok := ix.pinSlot(k)
	if !ok {
		return access.Holder{}, false
	}
	return ix.holder(us, ""), true
}

// exists reports whether the index holds a user.
func (ix *index) exists(id string) bool {
	_, ok := ix.userSlot(id)
	return ok
}

// pinHolder returns the id of the user holding a PIN key.
func (ix *index) pinHolder(k pinKey) (string, bool) {
	slot, ok := ix.pinSlot(k)
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
	cs, ok := ix.cardSlot(ck)
	if !ok {
		return "", false
	}
	return ix.credID(cs), true
}

// credUser returns the id of the user holding a credential id.
func (ix *index) credUser(id string) (string, bool) {
	cs, ok := ix.credSlot(id)
	if !ok {
		return "", false
	}
	return ix.userID(ix.creds[cs].user), true
}

// insert adds a user and returns their slot. The caller has checked that
// the user's id, PIN, credential ids and cards are all free (checkFree).
func (ix *index) insert(st *userState) uint32 {
	slot, _ := ix.insertHashed(st, hashRecord(st))
	return slot
}

// insertHashed is insert with the record's hash already computed. It
// reports whether every key of the user was free. When one was not, the
// user is in the index only in part and the index must be thrown away;
// a caller that ran checkFree first never sees that.
func (ix *index) insertHashed(st *userState, h digest) (uint32, bool) {
	slot := ix.addUser(st)
	free := ix.byID.insert(ix.idHash(st.user.ID), slot,
		func(s uint32) bool { return ix.userID(s) == st.user.ID }, ix.userIDHash)
	if st.hasPIN {
		free = ix.pins.insert(pinHash(st.pin), slot,
			func(s uint32) bool { return ix.users[s].pin == st.pin }, ix.userPINHash) && free
	}
	from, to := ix.users[slot].credRange()
	for cs := from; cs < to; cs++ {
		ck := ix.creds[cs].card
		id := ix.credID(cs)
		free = ix.credByID.insert(ix.idHash(id), cs,
			func(s uint32) bool { return ix.credID(s) == id }, ix.credIDHash) && free
		free = ix.cards.insert(ix.cardHash(ck), cs,
			func(s uint32) bool { return ix.creds[s].card == ck }, ix.cardSlotHash) && free
	}
	ix.digest.add(h)
	return slot, free
}

// addUser puts a user's records into the index, without its hash
// tables, and returns the user's slot.
func (ix *index) addUser(st *userState) uint32 {
	slot := takeSlot(&ix.users, &ix.freeUsers)
	r := userRec{id: ix.intern(st.user.ID), firstCred: noSlot, flags: uLive,
		levels: ix.internLevels(st.user.Levels)}
	if st.user.Enabled {
		r.flags |= uEnabled
	}
	if st.user.Override {
		r.flags |= uOverride
	}
	from, to := st.user.ValidFrom, st.user.ValidTo
	if !from.IsZero() || !to.IsZero() {
		var w window
		if !from.IsZero() {
			r.flags |= uFrom
			w.fromS, w.fromN = from.Unix(), int32(from.Nanosecond())
		}
		if !to.IsZero() {
			r.flags |= uTo
			w.toS, w.toN = to.Unix(), int32(to.Nanosecond())
		}
		ix.windows[slot] = w
	}
	if st.hasPIN {
		r.flags |= uHasPIN
		r.pin, r.pinLen = st.pin, st.pinLen
		ix.pinsByLen[st.pinLen]++
	}
	if n := len(st.creds); n > 0 {
		r.firstCred, r.nCreds = ix.takeRun(n), uint8(n)
		for i := range st.creds {
			c := &st.creds[i]
			ck, _ := ix.internCard(c.Card, true)
			ix.creds[r.firstCred+uint32(i)] = credRec{id: ix.intern(c.ID), user: slot, card: ck}
		}
	}
	ix.users[slot] = r
	return slot
}

// takeRun returns the first slot of n consecutive free credential slots,
// reusing a freed run of n first.
func (ix *index) takeRun(n int) uint32 {
	if free := ix.freeRuns[n]; len(free) > 0 {
		ix.freeRuns[n] = free[:len(free)-1]
		return free[len(free)-1]
	}
	first := uint32(len(ix.creds))
	ix.creds = append(ix.creds, make([]credRec, n)...)
	return first
}

// takeSlot returns a free slot of recs, reusing a freed one first.
func takeSlot[T any](recs *[]T, free *[]uint32) uint32 {
	if n := len(*free); n > 0 {
		slot := (*free)[n-1]
		*free = (*free)[:n-1]
		return slot
	}
	var zero T
	*recs = append(*recs, zero)
	return uint32(len(*recs) - 1)
}

// remove deletes a user, as old describes them, with their PIN and
// credentials.
func (ix *index) remove(old *userState) {
	ix.removeHashed(old, hashRecord(old))
}

// removeHashed is remove with the record's hash already computed.
func (ix *index) removeHashed(old *userState, h digest) {
	slot, ok := ix.userSlot(old.user.ID)
	if !ok {
		return
	}
	r := &ix.users[slot]
	if r.flags&uHasPIN != 0 {
		ix.pins.remove(pinHash(r.pin), slot, ix.userPINHash)
		ix.pinsByLen[r.pinLen]--
	}
	ix.levelLists[r.levels].refs--
	from, to := r.credRange()
	for cs := from; cs < to; cs++ {
		c := &ix.creds[cs]
		ix.credByID.remove(ix.credIDHash(cs), cs, ix.credIDHash)
		ix.cards.remove(ix.cardSlotHash(cs), cs, ix.cardSlotHash)
		ix.garbage += ix.strSize(c.id)
		*c = credRec{user: noSlot}
	}
	if r.nCreds > 0 {
		ix.freeRuns[r.nCreds] = append(ix.freeRuns[r.nCreds], r.firstCred)
	}
	ix.byID.remove(ix.userIDHash(slot), slot, ix.userIDHash)
	if r.flags&(uFrom|uTo) != 0 {
		delete(ix.windows, slot)
	}
	ix.garbage += ix.strSize(r.id)
	*r = userRec{firstCred: noSlot}
	ix.freeUsers = append(ix.freeUsers, slot)
	ix.digest.sub(h)
}

// counts returns the index's sizes.
func (ix *index) counts() Counts {
	return Counts{Users: ix.byID.n, Credentials: ix.credByID.n, PINs: ix.pins.n}
}

// credCount returns the number of credentials of a user and whether the
// user exists.
func (ix *index) credCount(id string) (int, bool) {
	slot, ok := ix.userSlot(id)
	if !ok {
		return 0, false
	}
	return int(ix.users[slot].nCreds), true
}

// userKeys returns the Badger keys of the index's users under table
// generation gen.
func (ix *index) userKeys(gen uint32) packedKeys {
	prefix := userPrefix(gen)
	n := ix.byID.n
	keys := packedKeys{buf: make([]byte, 0, n*(len(prefix)-1)+ix.idBytes()), ends: make([]uint32, 0, n)}
	for i := range ix.users {
		if r := &ix.users[i]; r.flags&uLive != 0 {
			id := ix.str(r.id)
			keys.add(prefix, unsafe.Slice(unsafe.StringData(id), len(id)))
		}
	}
	return keys
}
