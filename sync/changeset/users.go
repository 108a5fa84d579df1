package changeset

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/lintel-access/lintel/gateway/access"
)

// A snapshot's users are read token by token rather than through
// reflection: a full sync decodes 100,000 of them on the way to the store,
// and this is the part of it the gateway controls. The rules are those of
// the op decoder: unknown or duplicate fields, wrong types and missing
// required fields are errors naming the path; null stands for an absent
// optional field.

// users reads the users array. Each user goes to d.onUser when it is set,
// otherwise into the returned slice.
//
// Paths are put together only for an error: the readers below report
// errors relative to the value they read, and each caller prefixes its
// part of the path on the way out.
func (d *decoder) users() ([]SnapshotUser, error) {
	if err := d.open('[', "users", "users is a JSON array"); err != nil {
		return nil, err
	}
	var users []SnapshotUser
	for i := 0; d.dec.PeekKind() != ']'; i++ {
		u, err := d.user()
		if err != nil {
			return nil, asError(err, userPath(i))
		}
		if d.onUser == nil {
			users = append(users, u)
		} else if err := d.onUser(i, u); err != nil {
			return nil, callbackError{err}
		}
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return nil, jsonError(err, "")
	}
	return users, nil
}

// user reads and checks one snapshot user.
func (d *decoder) user() (SnapshotUser, error) {
	if err := d.open('{', "", "a user is a JSON object"); err != nil {
		return SnapshotUser{}, err
	}
	var (
		id, name, pin string
		hasPIN        bool
		enabled       *bool
		override      *bool
		levels        []string
		hasLevels     bool
		from, to      *string
		creds         []access.Credential
	)
	for d.dec.PeekKind() != '}' {
		field, err := d.name()
		if err != nil {
			return SnapshotUser{}, err
		}
		switch string(field) {
		case "id":
			id, err = d.str()
		case "name":
			name, err = d.str()
		case "enabled":
			enabled, err = d.boolean()
		case "valid_from":
			from, err = d.optStr(from)
		case "valid_to":
			to, err = d.optStr(to)
		case "pin":
			pin, hasPIN, err = d.nullableStr()
		case "credentials":
			creds, err = d.credentials()
		case "levels":
			levels, hasLevels, err = d.levels()
		case "override":
			override, err = d.boolean()
		default:
			return SnapshotUser{}, &Error{Code: CodeMalformed, Message: fmt.Sprintf(
				"unknown field %q (a user has id, name, enabled, valid_from, valid_to, levels, override, pin and credentials)", clip(string(field)))}
		}
		if err != nil {
			return SnapshotUser{}, asError(err, string(field))
		}
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return SnapshotUser{}, jsonError(err, "")
	}

	u, err := userRecord(id, name, enabled, from, to, "id")
	if err != nil {
		return SnapshotUser{}, err
	}
	if hasLevels {
		if err := checkLevels(levels); err != nil {
			return SnapshotUser{}, err
		}
		slices.Sort(levels) // the decoder's own slice: sorted in place, as the store keeps levels
		u.Levels = levels
	}
	u.Override = override != nil && *override
	su := SnapshotUser{User: u, Credentials: creds}
	if hasPIN {
		if err := checkPIN(&pin, "pin", false); err != nil {
			return SnapshotUser{}, err
		}
		su.PIN = pin
	}
	for j := range su.Credentials {
		su.Credentials[j].UserID = u.ID
	}
	return su, nil
}

// levels reads a user's levels: an array of strings (ok), or null (absent:
// the default levels).
func (d *decoder) levels() (levels []string, ok bool, err error) {
	if d.dec.PeekKind() == 'n' {
		_, err := d.dec.ReadToken()
		return nil, false, jsonErrorOr(err)
	}
	if err := d.open('[', "", "levels is a JSON array"); err != nil {
		return nil, false, err
	}
	d.levelBuf = d.levelBuf[:0]
	for j := 0; d.dec.PeekKind() != ']'; j++ {
		if j == access.MaxLevelsPerUser {
			return nil, false, &Error{Code: CodeInvalid, Path: "[" + strconv.Itoa(j) + "]", Message: fmt.Sprintf(
				"more than %d levels, at most %d allowed per user", access.MaxLevelsPerUser, access.MaxLevelsPerUser)}
		}
		l, err := d.levelName()
		if err != nil {
			return nil, false, asError(err, "["+strconv.Itoa(j)+"]")
		}
		d.levelBuf = append(d.levelBuf, l)
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return nil, false, jsonError(err, "")
	}
	// One allocation of the right size; the scratch buffer is reused.
	return append(make([]string, 0, len(d.levelBuf)), d.levelBuf...), true, nil
}

func (d *decoder) credentials() ([]access.Credential, error) {
	if d.dec.PeekKind() == 'n' {
		_, err := d.dec.ReadToken()
		return nil, jsonErrorOr(err)
	}
	if err := d.open('[', "", "credentials is a JSON array"); err != nil {
		return nil, err
	}
	var creds []access.Credential
	for j := 0; d.dec.PeekKind() != ']'; j++ {
		at := func() string { return "[" + strconv.Itoa(j) + "]" }
		if j == MaxCredentialsPerUser {
			return nil, &Error{Code: CodeInvalid, Path: at(), Message: fmt.Sprintf(
				"more than %d credentials, at most %d allowed per user", MaxCredentialsPerUser, MaxCredentialsPerUser)}
		}
		c, err := d.credential()
		if err != nil {
			return nil, asError(err, at())
		}
		if creds == nil {
			creds = make([]access.Credential, 0, 1)
		}
		creds = append(creds, c)
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return nil, jsonError(err, "")
	}
	return creds, nil
}

func (d *decoder) credential() (access.Credential, error) {
	if err := d.open('{', "", "a credential is a JSON object"); err != nil {
		return access.Credential{}, err
	}
	var (
		id      string
		card    cardFields
		hasCard bool
	)
	for d.dec.PeekKind() != '}' {
		field, err := d.name()
		if err != nil {
			return access.Credential{}, err
		}
		switch string(field) {
		case "id":
			id, err = d.str()
		case "card":
			hasCard = true
			err = d.cardObject(&card)
		default:
			return access.Credential{}, &Error{Code: CodeMalformed, Message: fmt.Sprintf(
				"unknown field %q (a credential has id and card)", clip(string(field)))}
		}
		if err != nil {
			return access.Credential{}, asError(err, string(field))
		}
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return access.Credential{}, jsonError(err, "")
	}
	if err := checkID(id, "id"); err != nil {
		return access.Credential{}, err
	}
	var w *wireCard
	if hasCard {
		w = &wireCard{Format: card.format}
		if card.hasFacility {
			w.Facility = &card.facility
		}
		if card.hasNumber {
			w.Number = &card.number
		}
	}
	key, err := d.card(w, "card")
	if err != nil {
		return access.Credential{}, err
	}
	return access.Credential{ID: id, Type: access.CredentialCard, Card: key}, nil
}

// cardFields is a card as read, before its checks.
type cardFields struct {
	format                 string
	facility               uint32
	number                 uint64
	hasFacility, hasNumber bool
}

func (d *decoder) cardObject(c *cardFields) error {
	if err := d.open('{', "", "a card is a JSON object"); err != nil {
		return err
	}
	for d.dec.PeekKind() != '}' {
		field, err := d.name()
		if err != nil {
			return err
		}
		switch string(field) {
		case "format":
			c.format, err = d.formatName()
		case "facility":
			var v uint64
			v, err = d.uint(32)
			c.facility, c.hasFacility = uint32(v), err == nil
		case "number":
			c.number, err = d.uint(64)
			c.hasNumber = err == nil
		default:
			return &Error{Code: CodeMalformed, Message: fmt.Sprintf(
				"unknown field %q (a card has format, facility and number)", clip(string(field)))}
		}
		if err != nil {
			return asError(err, string(field))
		}
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return jsonError(err, "")
	}
	return nil
}

// name reads an object member's name. The result is valid until the next
// read; names with escapes are unquoted into a new slice.
func (d *decoder) name() ([]byte, error) {
	v, err := d.dec.ReadValue()
	if err != nil {
		return nil, jsonError(err, "")
	}
	if len(v) >= 2 && bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], nil
	}
	b, err := jsontext.AppendUnquote(nil, v)
	if err != nil {
		return nil, &Error{Code: CodeMalformed, Message: "a name does not unquote"}
	}
	return b, nil
}

// str reads a string value.
func (d *decoder) str() (string, error) {
	if k := d.dec.PeekKind(); k != '"' {
		return "", d.wrongKind(k, "a string")
	}
	v, err := d.dec.ReadValue()
	if err != nil {
		return "", jsonError(err, "")
	}
	return unquote(v)
}

// nullableStr reads a string, or null (ok false).
func (d *decoder) nullableStr() (s string, ok bool, err error) {
	if d.dec.PeekKind() == 'n' {
		_, err := d.dec.ReadToken()
		return "", false, jsonErrorOr(err)
	}
	s, err = d.str()
	return s, err == nil, err
}

// optStr reads a string or null (nil) into buf, which it returns: the
// caller's variable, so that reading it allocates nothing more.
func (d *decoder) optStr(buf *string) (*string, error) {
	s, ok, err := d.nullableStr()
	if !ok {
		return nil, err
	}
	if buf == nil {
		buf = new(string)
	}
	*buf = s
	return buf, nil
}

// levelName reads a level id, interned as format names are: a snapshot
// names a few hundred levels a hundred thousand times.
func (d *decoder) levelName() (string, error) {
	return d.internedString(&d.levelIDs, access.MaxLevels)
}

// formatName reads a card format name, interned: a snapshot repeats a
// handful of formats many thousand times.
func (d *decoder) formatName() (string, error) {
	return d.internedString(&d.formats, maxFormats)
}

// internedString reads a JSON string and returns the copy of it in cache,
// adding it while the cache holds fewer than limit. A string without
// escapes is looked up by its raw bytes, before it is unquoted.
func (d *decoder) internedString(cache *map[string]string, limit int) (string, error) {
	if k := d.dec.PeekKind(); k != '"' {
		return "", d.wrongKind(k, "a string")
	}
	v, err := d.dec.ReadValue()
	if err != nil {
		return "", jsonError(err, "")
	}
	if len(v) >= 2 && bytes.IndexByte(v, '\\') < 0 {
		if s, ok := (*cache)[string(v[1:len(v)-1])]; ok {
			return s, nil
		}
	}
	s, err := unquote(v)
	if err == nil {
		s = intern(cache, s, limit)
	}
	return s, err
}

// yes and no are what boolean points at: its callers only read the value,
// and two shared variables save an allocation per user.
var (
	yes = true
	no  = false
)

// boolean reads true, false or null (nil).
func (d *decoder) boolean() (*bool, error) {
	switch k := d.dec.PeekKind(); k {
	case 't', 'f':
		tok, err := d.dec.ReadToken()
		if err != nil {
			return nil, jsonError(err, "")
		}
		if tok.Bool() {
			return &yes, nil
		}
		return &no, nil
	case 'n':
		_, err := d.dec.ReadToken()
		return nil, jsonErrorOr(err)
	default:
		return nil, d.wrongKind(k, "true or false")
	}
}

// uint reads a whole number of at most bits bits.
func (d *decoder) uint(bits int) (uint64, error) {
	want := func() string {
		return "a whole number from 0 to " + strconv.FormatUint(math.MaxUint64>>(64-bits), 10)
	}
	if k := d.dec.PeekKind(); k != '0' {
		return 0, d.wrongKind(k, want())
	}
	v, err := d.dec.ReadValue()
	if err != nil {
		return 0, jsonError(err, "")
	}
	n, err := strconv.ParseUint(string(v), 10, bits)
	if err != nil {
		return 0, &Error{Code: CodeMalformed, Message: "want " + want()}
	}
	return n, nil
}

// wrongKind reports a value of kind got where want was wanted, without
// quoting it (a syntax error if it cannot be read at all).
func (d *decoder) wrongKind(got jsontext.Kind, want string) error {
	return d.notKind(got, "", "want "+want)
}

// jsonErrorOr is jsonError for a non-nil err, else nil.
func jsonErrorOr(err error) error {
	if err == nil {
		return nil
	}
	return jsonError(err, "")
}

// unquote returns the content of a JSON string value. The decoder has
// already checked its syntax and UTF-8.
func unquote(v jsontext.Value) (string, error) {
	if len(v) >= 2 && bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), nil
	}
	b, err := jsontext.AppendUnquote(nil, v)
	if err != nil {
		return "", &Error{Code: CodeMalformed, Message: "a string does not unquote"}
	}
	return string(b), nil
}
