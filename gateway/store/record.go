package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
)

// userState is one user as a transaction or the snapshot loader sees it:
// everything the table holds about them, materialised.
type userState struct {
	user   access.User // Levels sorted, never nil
	hasPIN bool
	pin    pinKey
	// pinLen is the PIN's number of digits, 0 when unknown (a record
	// written before lengths were kept).
	pinLen uint8
	// nbr is the HMAC of the PIN's duress neighbour (access.DuressPIN),
	// valid with hasNbr; records from before duress have none.
	nbr    pinKey
	hasNbr bool
	creds  []access.Credential // sorted by ID
}

// record returns the public view of a user.
func (st *userState) record() UserRecord {
	return UserRecord{User: st.user, HasPIN: st.hasPIN, Credentials: slices.Clone(st.creds)}
}

// Limits on what a user record may hold.
const (
	maxNameLen   = 256 // bytes of a user's display name
	maxFormatLen = access.MaxFormatLength
	// maxCredentialsPerUser bounds one user's credentials, so that one
	// record stays far below a Badger transaction's size limit.
	maxCredentialsPerUser = 64
)

// checkUser validates a user as a transaction or snapshot would store it and
// returns it normalised: validity bounds in UTC, levels sorted (nil
// becomes the default levels). Whether the levels exist is the caller's
// check, against the policy table.
func checkUser(u access.User) (access.User, error) {
	if err := access.CheckID(u.ID); err != nil {
		return u, fmt.Errorf("user id: %w", err)
	}
	if err := access.CheckName(u.Name); err != nil {
		return u, fmt.Errorf("user %q: %w", u.ID, err)
	}
	switch {
	case u.Levels == nil:
		u.Levels = access.DefaultLevels()
	case !slices.IsSorted(u.Levels):
		u.Levels = slices.Sorted(slices.Values(u.Levels)) // a sorted copy: the caller's stays as it was
	}
	if !u.ValidFrom.IsZero() {
		u.ValidFrom = u.ValidFrom.UTC()
	}
	if !u.ValidTo.IsZero() {
		u.ValidTo = u.ValidTo.UTC()
	}
	if !u.ValidFrom.IsZero() && !u.ValidTo.IsZero() && !u.ValidTo.After(u.ValidFrom) {
		return u, access.Invalidf("user %q: valid_to %s is not after valid_from %s", u.ID,
			u.ValidTo.Format(time.RFC3339), u.ValidFrom.Format(time.RFC3339))
	}
	return u, nil
}

// checkCredential validates a credential with its id already set and
// returns it normalised (Type "card").
func checkCredential(c access.Credential) (access.Credential, error) {
	if err := access.CheckID(c.ID); err != nil {
		return c, fmt.Errorf("credential id: %w", err)
	}
	if c.Type == "" {
		c.Type = access.CredentialCard
	}
	if c.Type != access.CredentialCard {
		return c, access.Invalidf("credential %q: type %q is not supported (want %q)", c.ID, c.Type, access.CredentialCard)
	}
	if err := access.CheckCardFormat(c.Card.Format); err != nil {
		return c, fmt.Errorf("credential %q: %w", c.ID, err)
	}
	return c, nil
}

// checkCard applies Options.CheckCard to a credential's card. A field the
// check names becomes the credential's "card.<field>".
func (s *Store) checkCard(c access.Credential) error {
	if s.opts.CheckCard == nil {
		return nil
	}
	err := s.opts.CheckCard(c.Card)
	if err == nil {
		return nil
	}
	var fe *access.FieldError
	if errors.As(err, &fe) {
		return &access.FieldError{Field: "card." + fe.Field, Err: fe.Err}
	}
	return &access.FieldError{Field: "card", Err: err}
}

// The stored form of a user, the value under the user's key. Integers are
// varints; strings are a uvarint length and the bytes.
//
//	version  byte (2; version 1 is still read)
//	flags    byte: 1 enabled, 2 has PIN, 4 valid_from set, 8 valid_to set,
//	         16 override, 32 default levels (no list follows),
//	         64 duress neighbour key follows the PIN's
//	name     string
//	[from]   varint Unix seconds, uvarint nanoseconds
//	[to]     varint Unix seconds, uvarint nanoseconds
//	[pin]    16 bytes: HMAC-SHA256-128 of the PIN under the device key,
//	         then 1 byte: its number of digits (v2 only)
//	[nbr]    16 bytes: the same of the PIN's duress neighbour
//	[levels] uvarint n, then n strings, sorted
//	n        uvarint number of credentials, then n times:
//	         id string, format string, uvarint facility, uvarint number
//
// A version 1 record (written before access levels) has no PIN length, no
// neighbour, no override and no levels: its user holds the default levels,
// as every user did then.
const recordVersion = 2

const (
	recEnabled = 1 << iota
	recHasPIN
	recFrom
	recTo
	recOverride
	recDefaultLevels
	recNbr
)

// isDefaultLevels reports whether levels are exactly access.DefaultLevels.
func isDefaultLevels(levels []string) bool {
	return len(levels) == 1 && levels[0] == access.LevelAll
}

// encodeUser appends the stored form of st to buf.
func encodeUser(buf []byte, st *userState) []byte {
	var flags byte
	if st.user.Enabled {
		flags |= recEnabled
	}
	if st.hasPIN {
		flags |= recHasPIN
	}
	if !st.user.ValidFrom.IsZero() {
		flags |= recFrom
	}
	if !st.user.ValidTo.IsZero() {
		flags |= recTo
	}
	if st.user.Override {
		flags |= recOverride
	}
	if isDefaultLevels(st.user.Levels) {
		flags |= recDefaultLevels
	}
	if st.hasPIN && st.hasNbr {
		flags |= recNbr
	}
	buf = append(buf, recordVersion, flags)
	buf = appendString(buf, st.user.Name)
	if flags&recFrom != 0 {
		buf = binary.AppendVarint(buf, st.user.ValidFrom.Unix())
		buf = binary.AppendUvarint(buf, uint64(st.user.ValidFrom.Nanosecond()))
	}
	if flags&recTo != 0 {
		buf = binary.AppendVarint(buf, st.user.ValidTo.Unix())
		buf = binary.AppendUvarint(buf, uint64(st.user.ValidTo.Nanosecond()))
	}
	if st.hasPIN {
		buf = append(buf, st.pin[:]...)
		buf = append(buf, st.pinLen)
	}
	if flags&recNbr != 0 {
		buf = append(buf, st.nbr[:]...)
	}
	if flags&recDefaultLevels == 0 {
		buf = binary.AppendUvarint(buf, uint64(len(st.user.Levels)))
		for _, l := range st.user.Levels {
			buf = appendString(buf, l)
		}
	}
	buf = binary.AppendUvarint(buf, uint64(len(st.creds)))
	for _, c := range st.creds {
		buf = appendString(buf, c.ID)
		buf = appendString(buf, c.Card.Format)
		buf = binary.AppendUvarint(buf, uint64(c.Card.Facility))
		buf = binary.AppendUvarint(buf, c.Card.Number)
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decoder reads the stored form; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail("record ends early")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad unsigned varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad signed varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(limit int) string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(limit) || n > uint64(len(d.b)) {
		d.fail("string of %d bytes is too long", n)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// bytes is string without the copy: the bytes stay d's, for a reader that
// keeps them only while it holds the record (the index's load).
func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(limit) || n > uint64(len(d.b)) {
		d.fail("string of %d bytes is too long", n)
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

// stamp is time as the index keeps it.
func (d *decoder) stamp() stamp {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.fail("nanoseconds %d out of range", nsec)
	}
	return stamp{sec, int32(nsec)}
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.fail("nanoseconds %d out of range", nsec)
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// decodeUser parses the stored form of user id. It validates what it reads,
// so a damaged record is an error, never a panic or a half-valid user.
func decodeUser(id string, b []byte) (userState, error) {
	d := decoder{b: b}
	var st userState
	st.user.ID = id
	version := d.byte()
	if d.err == nil && version != 1 && version != recordVersion {
		return st, fmt.Errorf("user %q: record version %d is not supported", id, version)
	}
	flags := d.byte()
	known := byte(recEnabled | recHasPIN | recFrom | recTo)
	if version >= 2 {
		known |= recOverride | recDefaultLevels | recNbr
	}
	if flags&^known != 0 {
		d.fail("unknown flags %#x", flags)
	}
	st.user.Enabled = flags&recEnabled != 0
	st.user.Override = flags&recOverride != 0
	st.hasPIN = flags&recHasPIN != 0
	st.user.Name = d.string(maxNameLen)
	if flags&recFrom != 0 {
		st.user.ValidFrom = d.time()
	}
	if flags&recTo != 0 {
		st.user.ValidTo = d.time()
	}
	if st.hasPIN {
		d.key(&st.pin)
		if version >= 2 {
			st.pinLen = d.byte()
			if d.err == nil && (st.pinLen < access.MinPINLength || st.pinLen > access.MaxPINLength) {
				d.fail("PIN length %d out of range", st.pinLen)
			}
		}
	}
	if flags&recNbr != 0 {
		if !st.hasPIN {
			d.fail("a duress neighbour without a PIN")
		}
		d.key(&st.nbr)
		st.hasNbr = true
	}
	if version < 2 || flags&recDefaultLevels != 0 {
		st.user.Levels = access.DefaultLevels()
	} else {
		n := d.uvarint()
		if n > access.MaxLevelsPerUser {
			d.fail("%d levels, at most %d allowed", n, access.MaxLevelsPerUser)
		}
		if d.err == nil {
			st.user.Levels = make([]string, 0, n)
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			st.user.Levels = append(st.user.Levels, d.string(64))
		}
	}
	n := d.uvarint()
	if n > maxCredentialsPerUser {
		d.fail("%d credentials, at most %d allowed", n, maxCredentialsPerUser)
	}
	if d.err == nil && n > 0 {
		st.creds = make([]access.Credential, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		c := access.Credential{UserID: id, Type: access.CredentialCard}
		c.ID = d.string(64)
		c.Card.Format = d.string(maxFormatLen)
		fac := d.uvarint()
		if fac > math.MaxUint32 {
			d.fail("credential %d: facility %d out of range", i, fac)
		}
		c.Card.Facility = uint32(fac)
		c.Card.Number = d.uvarint()
		st.creds = append(st.creds, c)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the record", len(d.b))
	}
	if d.err != nil {
		return st, fmt.Errorf("user %q: %w", id, d.err)
	}
	levels := st.user.Levels
	u, err := checkUser(st.user)
	if err != nil {
		return st, err
	}
	if !slices.IsSorted(levels) {
		return st, fmt.Errorf("user %q: levels are not sorted", id)
	}
	for i, l := range levels {
		if access.CheckID(l) != nil || (i > 0 && levels[i-1] == l) {
			return st, fmt.Errorf("user %q: level %d is not a level id, or repeated", id, i)
		}
	}
	st.user = u
	for i, c := range st.creds {
		if _, err := checkCredential(c); err != nil {
			return st, fmt.Errorf("user %q: %w", id, err)
		}
		if i > 0 && st.creds[i-1].ID >= c.ID {
			return st, fmt.Errorf("user %q: credentials are not sorted by id", id)
		}
	}
	return st, nil
}

// key reads a 16-byte PIN index key.
func (d *decoder) key(k *pinKey) {
	if d.err != nil {
		return
	}
	if len(d.b) < len(k) {
		d.fail("record ends inside a PIN index key")
		return
	}
	copy(k[:], d.b)
	d.b = d.b[len(k):]
}

// CanonicalRecord returns the canonical form of one user from which
// [Store.Digest] is computed. It holds everything the table knows about the
// user except the PIN itself: a portal that holds the same users, PIN
// flags, validity and credentials computes the same bytes.
//
// The record is the ASCII tag "lintel.user.v2" followed by fields, each
// written as its length (4 bytes, big-endian) and its bytes:
//
//	id, name, enabled ("1" or "0"), valid_from, valid_to, has_pin ("1" or "0"),
//	override ("1" or "0"), the number of levels (decimal), then each level
//	id in ascending byte order,
//	then per credential, in ascending byte order of credential id:
//	id, type ("card"), format, facility (decimal), number (decimal).
//
// A user without levels given holds the default levels (["all"]); an empty
// list is written as "0" levels.
//
// valid_from and valid_to are RFC 3339 in UTC with the fraction of a second
// only as long as needed (Go's time.RFC3339Nano: "2026-03-01T08:00:00Z"), or
// empty when that side is open.
func CanonicalRecord(u access.User, hasPIN bool, creds []access.Credential) []byte {
	return appendCanonical(nil, u, hasPIN, creds)
}

func appendCanonical(b []byte, u access.User, hasPIN bool, creds []access.Credential) []byte {
	if !slices.IsSortedFunc(creds, compareCredentialIDs) {
		creds = slices.Clone(creds)
		slices.SortFunc(creds, compareCredentialIDs)
	}
	levels := u.Levels
	if levels == nil {
		levels = access.DefaultLevels()
	} else if !slices.IsSorted(levels) {
		levels = slices.Sorted(slices.Values(levels))
	}
	b = append(b, "lintel.user.v2"...)
	b = appendField(b, u.ID)
	b = appendField(b, u.Name)
	b = appendFlag(b, u.Enabled)
	b = appendStamp(b, u.ValidFrom)
	b = appendStamp(b, u.ValidTo)
	b = appendFlag(b, hasPIN)
	b = appendFlag(b, u.Override)
	b = binary.BigEndian.AppendUint32(b, uint32(digits10(uint64(len(levels)))))
	b = strconv.AppendUint(b, uint64(len(levels)), 10)
	for _, l := range levels {
		b = appendField(b, l)
	}
	for _, c := range creds {
		typ := c.Type
		if typ == "" {
			typ = access.CredentialCard
		}
		b = appendField(b, c.ID)
		b = appendField(b, typ)
		b = appendField(b, c.Card.Format)
		b = binary.BigEndian.AppendUint32(b, uint32(digits10(uint64(c.Card.Facility))))
		b = strconv.AppendUint(b, uint64(c.Card.Facility), 10)
		b = binary.BigEndian.AppendUint32(b, uint32(digits10(c.Card.Number)))
		b = strconv.AppendUint(b, c.Card.Number, 10)
	}
	return b
}

func compareCredentialIDs(a, b access.Credential) int { return strings.Compare(a.ID, b.ID) }

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendFlag(b []byte, v bool) []byte {
	if v {
		return appendField(b, "1")
	}
	return appendField(b, "0")
}

func appendStamp(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return appendField(b, "")
	}
	var buf [40]byte
	return appendField(b, string(t.UTC().AppendFormat(buf[:0], time.RFC3339Nano)))
}

func digits10(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// digest is a sum of SHA-256 values modulo 2^256, as four big-endian
// 64-bit limbs (limb 0 most significant). Addition is commutative, so the
// table's digest does not depend on the order users were written in, and a
// write updates it by subtracting the old record's hash and adding the new.
type digest [4]uint64

func hashRecord(st *userState) digest {
	var buf [768]byte
	return digestOf(sha256.Sum256(appendCanonical(buf[:0], st.user, st.hasPIN, st.creds)))
}

func digestOf(h [32]byte) digest {
	var d digest
	for i := range d {
		d[i] = binary.BigEndian.Uint64(h[8*i:])
	}
	return d
}

func (d *digest) add(o digest) {
	var c uint64
	for i := 3; i >= 0; i-- {
		d[i], c = bits.Add64(d[i], o[i], c)
	}
}

func (d *digest) sub(o digest) {
	var b uint64
	for i := 3; i >= 0; i-- {
		d[i], b = bits.Sub64(d[i], o[i], b)
	}
}

func (d digest) bytes() [32]byte {
	var out [32]byte
	for i, v := range d {
		binary.BigEndian.PutUint64(out[8*i:], v)
	}
	return out
}
