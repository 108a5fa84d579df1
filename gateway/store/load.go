package store

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"sync"
	"unsafe"

	"github.com/lintel-access/lintel/gateway/access"
)

// Open loads the index straight from the stored records: loadRecord reads
// what the index keeps out of a record's bytes without materialising the
// user (no strings, slices or maps per record, so the load makes no
// garbage), and buildTables then builds the four hash tables in one
// sorted pass each. The name is skipped (only its length is checked), and
// the record is not hashed for the digest, which the state record keeps;
// a record whose name is damaged still serves the doors, and [Store.User]
// reports the damage.

// recordView is what loadRecord reads out of a record before it changes
// the index, so that a damaged record leaves the index as it was. Its
// slices point into the record.
type recordView struct {
	flags, version byte
	from, to       stamp
	pin, nbr       pinKey
	pinLen         uint8
	defaultLevels  bool     // recDefaultLevels, or a version 1 record
	levels         [][]byte // unless defaultLevels
	creds          []credView
}

type stamp struct {
	s int64
	n int32
}

type credView struct {
	id, format []byte
	facility   uint32
	number     uint64
}

// errRecord is a record loadRecord cannot read; the caller names the user.
var errRecord = errors.New("damaged record")

// read reads the parts of a stored record (see encodeUser) that the index
// keeps, into rv, and checks them as decodeUser would; the name is only
// skipped.
func (rv *recordView) read(b []byte) error {
	r := decoder{b: b}
	rv.version = r.byte()
	if r.err == nil && rv.version != 1 && rv.version != recordVersion {
		return errors.New("record version not supported")
	}
	rv.flags = r.byte()
	known := byte(recEnabled | recHasPIN | recFrom | recTo)
	if rv.version >= 2 {
		known |= recOverride | recDefaultLevels | recNbr
	}
	if rv.flags&^known != 0 {
		r.fail("unknown flags")
	}
	r.bytes(maxNameLen)
	if rv.flags&recFrom != 0 {
		rv.from = r.stamp()
	}
	if rv.flags&recTo != 0 {
		rv.to = r.stamp()
	}
	rv.pinLen = 0
	if rv.flags&recHasPIN != 0 {
		r.key(&rv.pin)
		if rv.version >= 2 {
			rv.pinLen = r.byte()
			if r.err == nil && (rv.pinLen < access.MinPINLength || rv.pinLen > access.MaxPINLength) {
				r.fail("PIN length out of range")
			}
		}
	}
	if rv.flags&recNbr != 0 {
		if rv.flags&recHasPIN == 0 {
			r.fail("a duress neighbour without a PIN")
		}
		r.key(&rv.nbr)
	}
	rv.levels = rv.levels[:0]
	rv.defaultLevels = rv.version < 2 || rv.flags&recDefaultLevels != 0
	if !rv.defaultLevels {
		n := r.uvarint()
		if n > access.MaxLevelsPerUser {
			r.fail("too many levels")
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			l := r.bytes(64)
			if r.err == nil && i > 0 && bytes.Compare(rv.levels[i-1], l) >= 0 {
				r.fail("levels are not sorted, or repeated")
			}
			rv.levels = append(rv.levels, l)
		}
	}
	n := r.uvarint()
	if n > maxCredentialsPerUser {
		r.fail("too many credentials")
	}
	rv.creds = rv.creds[:0]
	for i := uint64(0); i < n && r.err == nil; i++ {
		var c credView
		c.id = r.bytes(64)
		c.format = r.bytes(maxFormatLen)
		fac := r.uvarint()
		if fac > math.MaxUint32 {
			r.fail("facility out of range")
		}
		c.facility = uint32(fac)
		c.number = r.uvarint()
		if r.err == nil {
			if access.CheckID(unsafe.String(unsafe.SliceData(c.id), len(c.id))) != nil {
				r.fail("a credential id is not an id")
			} else if i > 0 && bytes.Compare(rv.creds[i-1].id, c.id) >= 0 {
				r.fail("credentials are not sorted by id")
			}
		}
		rv.creds = append(rv.creds, c)
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("bytes after the record")
	}
	if r.err == nil && rv.flags&recFrom != 0 && rv.flags&recTo != 0 &&
		(rv.to.s < rv.from.s || rv.to.s == rv.from.s && rv.to.n <= rv.from.n) {
		r.fail("valid_to is not after valid_from")
	}
	return r.err
}

// loadRecord adds the stored record b of user id to the index's records,
// without the hash tables (buildTables adds those once every record is
// in). It returns the user's slot. A record it cannot read changes
// nothing and fails with errRecord.
func (ix *index) loadRecord(rv *recordView, id, b []byte) (uint32, error) {
	ids := unsafe.String(unsafe.SliceData(id), len(id))
	if access.CheckID(ids) != nil {
		return 0, fmt.Errorf("user id %q: %w", id, errRecord)
	}
	if err := rv.read(b); err != nil {
		return 0, fmt.Errorf("user %q: %v: %w", id, err, errRecord)
	}
	levels := uint32(0)
	if !rv.defaultLevels && !(len(rv.levels) == 1 && string(rv.levels[0]) == access.LevelAll) {
		ix.keyBuf = ix.keyBuf[:0]
		for i, l := range rv.levels {
			if i > 0 {
				ix.keyBuf = append(ix.keyBuf, 0)
			}
			ix.keyBuf = append(ix.keyBuf, l...)
		}
		var ok bool
		if levels, ok = ix.listOf[string(ix.keyBuf)]; !ok {
			names := make([]string, len(rv.levels))
			for i, l := range rv.levels {
				names[i] = string(l)
				if access.CheckID(names[i]) != nil {
					return 0, fmt.Errorf("user %q: level %d is not a level id: %w", id, i, errRecord)
				}
			}
			levels = ix.addLevelList(names)
		}
	}
	formats := [maxCredentialsPerUser]uint16{}
	for i, c := range rv.creds {
		f, ok := ix.formatOf[string(c.format)]
		if !ok {
			format := string(c.format)
			if access.CheckCardFormat(format) != nil {
				return 0, fmt.Errorf("user %q: credential %d has no card format: %w", id, i, errRecord)
			}
			f, _ = ix.internFormat(format, true)
		}
		formats[i] = f
	}

	slot := uint32(len(ix.users))
	r := userRec{id: ix.intern(ids), firstCred: noSlot, flags: uLive, levels: levels}
	ix.levelLists[levels].refs++
	if rv.flags&recEnabled != 0 {
		r.flags |= uEnabled
	}
	if rv.flags&recOverride != 0 {
		r.flags |= uOverride
	}
	if rv.flags&(recFrom|recTo) != 0 {
		var w window
		if rv.flags&recFrom != 0 {
			r.flags |= uFrom
			w.fromS, w.fromN = rv.from.s, rv.from.n
		}
		if rv.flags&recTo != 0 {
			r.flags |= uTo
			w.toS, w.toN = rv.to.s, rv.to.n
		}
		ix.windows[slot] = w
	}
	if rv.flags&recHasPIN != 0 {
		r.flags |= uHasPIN
		r.pin, r.pinLen = rv.pin, rv.pinLen
		ix.pinsByLen[rv.pinLen]++
	}
	if len(rv.creds) > 0 {
		r.firstCred, r.nCreds = uint32(len(ix.creds)), uint8(len(rv.creds))
	}
	for i, c := range rv.creds {
		ix.creds = append(ix.creds, credRec{
			id: ix.intern(unsafe.String(unsafe.SliceData(c.id), len(c.id))), user: slot,
			card: cardKey{lo: uint32(c.number), hi: uint32(c.number >> 32), facility: c.facility, format: formats[i]},
		})
	}
	ix.users = append(ix.users, r)
	return slot, nil
}

// buildTables builds the hash tables of an index filled by loadRecord, the
// users' two and the credentials' two side by side. A key held twice (an
// id, a PIN, a credential id or a card) fails it: the records were
// checked when written, so that means damage.
func (ix *index) buildTables() error {
	var userErr error
	var wg sync.WaitGroup
	wg.Go(func() { userErr = ix.buildUserTables() })
	credErr := ix.buildCredTables()
	wg.Wait()
	return cmp.Or(userErr, credErr)
}

func (ix *index) buildUserTables() error {
	var (
		scratch []uint64
		ok      bool
		a, b    uint32
	)
	ix.byID, _, b, ok, scratch = buildSlotTable(len(ix.users), func(yield func(uint32, uint64)) {
		for s := range ix.users {
			yield(uint32(s), ix.userIDHash(uint32(s)))
		}
	}, func(a, b uint32) bool { return ix.userID(a) == ix.userID(b) }, scratch)
	if !ok {
		return fmt.Errorf("user %q is listed twice", ix.userID(b))
	}
	pins := 0
	for _, n := range ix.pinsByLen {
		pins += n
	}
	ix.pins, a, b, ok, _ = buildSlotTable(pins, func(yield func(uint32, uint64)) {
		for s := range ix.users {
			if ix.users[s].flags&uHasPIN != 0 {
				yield(uint32(s), pinHash(ix.users[s].pin))
			}
		}
	}, func(a, b uint32) bool { return ix.users[a].pin == ix.users[b].pin }, scratch)
	if !ok {
		return fmt.Errorf("users %q and %q hold the same PIN", ix.userID(a), ix.userID(b))
	}
	return nil
}

func (ix *index) buildCredTables() error {
	var (
		scratch []uint64
		ok      bool
		a, b    uint32
	)
	ix.credByID, a, b, ok, scratch = buildSlotTable(len(ix.creds), func(yield func(uint32, uint64)) {
		for s := range ix.creds {
			yield(uint32(s), ix.credIDHash(uint32(s)))
		}
	}, func(a, b uint32) bool { return ix.credID(a) == ix.credID(b) }, scratch)
	if !ok {
		return fmt.Errorf("users %q and %q hold the same credential id %q",
			ix.userID(ix.creds[a].user), ix.userID(ix.creds[b].user), ix.credID(a))
	}
	ix.cards, a, b, ok, _ = buildSlotTable(len(ix.creds), func(yield func(uint32, uint64)) {
		for s := range ix.creds {
			yield(uint32(s), ix.cardSlotHash(uint32(s)))
		}
	}, func(a, b uint32) bool { return ix.creds[a].card == ix.creds[b].card }, scratch)
	if !ok {
		return fmt.Errorf("credentials %q and %q hold the same card", ix.credID(a), ix.credID(b))
	}
	return nil
}
