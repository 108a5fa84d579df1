package changeset

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/lintel-access/lintel/gateway/access"
)

// Decode parses and checks a changeset. It is strict: the payload must be
// one JSON object of the documented shape, with no unknown, duplicate or
// misspelt (names are case-sensitive) fields, no unknown op, no trailing
// data, valid UTF-8, and within the size limits. Every id, PIN, length,
// date and card is checked against the rules it must meet, and a snapshot
// must not give one PIN, card or id to two holders.
//
// A failure is an *[Error] with the code, the op index and the JSON path
// of the first problem. Its message never contains a PIN. On failure the
// returned Changeset still holds the Revision when it could be read, so an
// ack can name the changeset it refuses.
func Decode(payload []byte) (Changeset, error) {
	if len(payload) > MaxPayload {
		return Changeset{}, &Error{Code: CodeTooLarge, Message: fmt.Sprintf(
			"the payload is %d bytes; a changeset may be at most %d bytes (%d for a delta)",
			len(payload), MaxPayload, MaxDeltaPayload)}
	}
	cs, err := newDecoder(payload).changeset()
	if err != nil {
		return cs, err
	}
	if cs.Snapshot {
		err = checkSnapshot(cs.Users)
	}
	return cs, err
}

// newDecoder returns a decoder of payload, which must be within
// MaxPayload. By default it collects a snapshot's users into
// Changeset.Users; see onUser and skipUsers for the other ways. It does not
// check the uniqueness of a snapshot's ids, PINs and cards.
func newDecoder(payload []byte) *decoder {
	return &decoder{dec: jsontext.NewDecoder(bytes.NewBuffer(payload)), size: len(payload)}
}

// callbackError carries an error of decode's onUser through the decoder.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }

type decoder struct {
	dec  *jsontext.Decoder
	size int
	// formats interns card format names: a snapshot repeats a handful of
	// them many thousand times.
	formats map[string]string
	// levelIDs interns users' level ids likewise; levelBuf is the
	// scratch space a user's levels are read into.
	levelIDs map[string]string
	levelBuf []string
	// onUser, when set, takes each snapshot user as it is decoded instead
	// of Changeset.Users collecting them; an error it returns ends decoding
	// and comes back from changeset as it is.
	onUser func(i int, u SnapshotUser) error
	// skipUsers checks only the JSON syntax of a snapshot's users.
	skipUsers bool
}

var strict = json.RejectUnknownMembers(true)

func (d *decoder) changeset() (Changeset, error) {
	var cs Changeset
	if err := d.open('{', "", "a changeset is a JSON object"); err != nil {
		return cs, err
	}
	var hasRevision, hasBase, hasOps, hasUsers bool
	var hasPolicy string
	for d.dec.PeekKind() != '}' {
		tok, err := d.dec.ReadToken()
		if err != nil {
			return cs, jsonError(err, "")
		}
		switch name := tok.String(); name {
		case "revision":
			hasRevision = true
			err = json.UnmarshalDecode(d.dec, &cs.Revision)
		case "base":
			hasBase = true
			err = json.UnmarshalDecode(d.dec, &cs.Base)
		case "snapshot":
			err = json.UnmarshalDecode(d.dec, &cs.Snapshot)
		case "ops":
			hasOps = true
			if d.size > MaxDeltaPayload {
				return cs, &Error{Code: CodeTooLarge, Message: fmt.Sprintf(
					"the payload is %d bytes; a delta may be at most %d bytes: split it or send a snapshot",
					d.size, MaxDeltaPayload)}
			}
			cs.Ops, err = d.ops()
		case "users":
			hasUsers = true
			if d.skipUsers {
				err = d.skip('[', "users", "users is a JSON array")
			} else {
				cs.Users, err = d.users()
			}
		case "schedules", "holidays", "levels", "door_policies", "overrides":
			hasPolicy = name
			err = d.policySection(name, &cs.Policy)
		default:
			return cs, &Error{Code: CodeMalformed, Message: fmt.Sprintf(
				"unknown field %q (a changeset has revision, base, ops, snapshot, users, schedules, holidays, levels, door_policies and overrides)", clip(name))}
		}
		if cb, ok := err.(callbackError); ok {
			return cs, cb.err
		}
		if err != nil {
			return cs, asError(err, "")
		}
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return cs, jsonError(err, "")
	}
	if _, err := d.dec.ReadToken(); err != io.EOF {
		return cs, &Error{Code: CodeMalformed, Message: fmt.Sprintf(
			"data follows the changeset object at byte %d", d.dec.InputOffset())}
	}

	switch {
	case !hasRevision:
		return cs, &Error{Code: CodeMalformed, Path: "revision", Message: "missing field \"revision\""}
	case cs.Revision == 0:
		return cs, &Error{Code: CodeInvalid, Path: "revision", Message: "revision must be at least 1"}
	case cs.Snapshot && hasOps:
		return cs, &Error{Code: CodeMalformed, Path: "ops", Message: "a snapshot carries users, not ops"}
	case cs.Snapshot && !hasUsers:
		return cs, &Error{Code: CodeMalformed, Path: "users", Message: "a snapshot needs a \"users\" array (empty to clear the table)"}
	case !cs.Snapshot && hasUsers:
		return cs, &Error{Code: CodeMalformed, Path: "users", Message: "users belong to a snapshot: set \"snapshot\": true, or send ops"}
	case !cs.Snapshot && hasPolicy != "":
		return cs, &Error{Code: CodeMalformed, Path: hasPolicy, Message: hasPolicy + " belong to a snapshot: set \"snapshot\": true, or send them as ops"}
	case !cs.Snapshot && !hasOps:
		return cs, &Error{Code: CodeMalformed, Path: "ops", Message: "missing field \"ops\" (or \"snapshot\": true with users)"}
	case !cs.Snapshot && !hasBase:
		return cs, &Error{Code: CodeMalformed, Path: "base", Message: "missing field \"base\": a delta names the revision it builds on"}
	case !cs.Snapshot && cs.Revision <= cs.Base:
		return cs, &Error{Code: CodeInvalid, Path: "revision", Message: fmt.Sprintf(
			"revision %d must be greater than base %d", cs.Revision, cs.Base)}
	}
	return cs, nil
}

// skip checks that the next value is of kind want and skips it, checking
// only its syntax.
func (d *decoder) skip(want jsontext.Kind, path, what string) error {
	if k := d.dec.PeekKind(); k != want {
		return d.notKind(k, path, what)
	}
	if err := d.dec.SkipValue(); err != nil {
		return jsonError(err, "")
	}
	return nil
}

// notKind reports a value of kind k where another was wanted: a syntax
// error if the value cannot be read, else what describes what was wanted.
// It consumes the value.
func (d *decoder) notKind(k jsontext.Kind, path, what string) error {
	if _, err := d.dec.ReadValue(); err != nil {
		return jsonError(err, "")
	}
	return &Error{Code: CodeMalformed, Path: path, Message: fmt.Sprintf("%s, got %s", what, kindName(k))}
}

// open reads the opening delimiter of an object or array.
func (d *decoder) open(want jsontext.Kind, path, what string) error {
	if k := d.dec.PeekKind(); k != want {
		return d.notKind(k, path, what)
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return jsonError(err, "")
	}
	return nil
}

func (d *decoder) ops() ([]Op, error) {
	if err := d.open('[', "ops", "ops is a JSON array"); err != nil {
		return nil, err
	}
	var ops []Op
	for i := 0; d.dec.PeekKind() != ']'; i++ {
		if i == MaxOps {
			return nil, errAt(CodeTooLarge, i, opPath(i), fmt.Sprintf(
				"a delta may carry at most %d ops: split it or send a snapshot", MaxOps))
		}
		raw, err := d.dec.ReadValue()
		if err != nil {
			e := jsonError(err, "")
			if strings.HasPrefix(e.Path, opPath(i)) {
				withOp(e, i)
			}
			return nil, e
		}
		op, err := decodeOp(raw, i, d)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	if _, err := d.dec.ReadToken(); err != nil {
		return nil, jsonError(err, "")
	}
	return ops, nil
}

// decodeOp decodes and checks op i from its raw JSON.
func decodeOp(raw jsontext.Value, i int, d *decoder) (Op, error) {
	path := opPath(i)
	if raw.Kind() != '{' {
		return Op{}, errAt(CodeMalformed, i, path, "an op is a JSON object, got "+kindName(raw.Kind()))
	}
	var head struct {
		Op *string `json:"op"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return Op{}, withOp(jsonError(err, path), i)
	}
	if head.Op == nil {
		return Op{}, errAt(CodeMalformed, i, path, "missing field \"op\"")
	}
	kind := OpKind(*head.Op)
	op := Op{Kind: kind}
	var err error
	fail := func(err error) (Op, error) {
		e := asError(err, path)
		if e.Code == CodeMalformed && e.unknownField != "" {
			e.Message = fmt.Sprintf("unknown field %q for a %s op", e.unknownField, kind)
		}
		return Op{}, withOp(e, i)
	}
	switch kind {
	case OpUserUpsert:
		var w wireUserUpsert
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		u, err := userRecord(w.User, w.Name, w.Enabled, w.ValidFrom, w.ValidTo, "")
		if err != nil {
			return fail(err)
		}
		op.User, op.Name, op.Enabled, op.ValidFrom, op.ValidTo = u.ID, u.Name, u.Enabled, u.ValidFrom, u.ValidTo
		if w.Levels != nil {
			if err := checkLevels(*w.Levels); err != nil {
				return fail(err)
			}
			op.Levels, op.LevelsSet = *w.Levels, true
		}
		op.Override = w.Override
	case OpUserDelete, OpPINClear:
		var w wireUserRef
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		if err := checkID(w.User, "user"); err != nil {
			return fail(err)
		}
		op.User = w.User
	case OpPINSet:
		var w wirePINSet
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		if err := checkID(w.User, "user"); err != nil {
			return fail(err)
		}
		if err := checkPIN(w.PIN, "pin", true); err != nil {
			return fail(err)
		}
		op.User, op.PIN = w.User, *w.PIN
	case OpPINGenerate:
		var w wirePINGenerate
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		if err := checkID(w.User, "user"); err != nil {
			return fail(err)
		}
		if w.Length == nil {
			return fail(missing("length"))
		}
		if err := access.ValidatePINLength(*w.Length); err != nil {
			return fail(&Error{Code: CodeInvalid, Path: "length", Message: err.Error()})
		}
		op.User, op.Length = w.User, *w.Length
	case OpCredentialAdd:
		var w wireCredentialAdd
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		if err := checkID(w.User, "user"); err != nil {
			return fail(err)
		}
		if err := checkID(w.ID, "id"); err != nil {
			return fail(err)
		}
		card, err := d.card(w.Card, "card")
		if err != nil {
			return fail(err)
		}
		op.User, op.Credential, op.Card = w.User, w.ID, card
	case OpCredentialRemove:
		var w wireCredentialRemove
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		if err := checkID(w.ID, "id"); err != nil {
			return fail(err)
		}
		op.Credential = w.ID
	case OpScheduleDelete, OpHolidayDelete, OpLevelDelete, OpOverrideClear:
		var w wireIDRef
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		if err := checkID(w.ID, "id"); err != nil {
			return fail(err)
		}
		op.ID = w.ID
	case OpScheduleUpsert:
		var w opSchedule
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		if op.Schedule, err = scheduleOf(w.wireSchedule); err != nil {
			return fail(err)
		}
	case OpHolidayUpsert:
		var w opHoliday
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		if op.Holiday, err = holidayOf(w.wireHoliday); err != nil {
			return fail(err)
		}
	case OpLevelUpsert:
		var w opLevel
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		if op.Level, err = levelOf(w.wireLevel); err != nil {
			return fail(err)
		}
	case OpDoorPolicy:
		var w opDoorPolicy
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		if op.DoorPolicy, err = doorPolicyOf(w.wireDoorPolicy); err != nil {
			return fail(err)
		}
	case OpOverrideSet:
		var w opOverride
		if err := json.Unmarshal(raw, &w, strict); err != nil {
			return fail(err)
		}
		if op.DoorOverride, err = overrideOf(w.wireOverride); err != nil {
			return fail(err)
		}
	default:
		known := make([]string, len(OpKinds))
		for j, k := range OpKinds {
			known[j] = string(k)
		}
		return Op{}, errAt(CodeUnknownOp, i, path+".op", fmt.Sprintf(
			"unknown op %q (known: %s)", clip(string(kind)), strings.Join(known, ", ")))
	}
	return op, nil
}

// userRecord checks the fields of a user. idField names the id's field in
// the payload ("id" in a snapshot); empty means "user".
func userRecord(id, name string, enabled *bool, from, to *string, idField string) (access.User, error) {
	if idField == "" {
		idField = "user"
	}
	if err := checkID(id, idField); err != nil {
		return access.User{}, err
	}
	if err := checkName(name); err != nil {
		return access.User{}, err
	}
	if enabled == nil {
		return access.User{}, missing("enabled")
	}
	u := access.User{ID: id, Name: name, Enabled: *enabled}
	var err error
	if u.ValidFrom, err = parseTime(from, "valid_from"); err != nil {
		return access.User{}, err
	}
	if u.ValidTo, err = parseTime(to, "valid_to"); err != nil {
		return access.User{}, err
	}
	if !u.ValidFrom.IsZero() && !u.ValidTo.IsZero() && !u.ValidTo.After(u.ValidFrom) {
		return access.User{}, &Error{Code: CodeInvalid, Path: "valid_to", Message: "valid_to must be after valid_from"}
	}
	return u, nil
}

func checkID(id, field string) error {
	if err := access.CheckID(id); err != nil {
		return &Error{Code: CodeInvalid, Path: field, Message: err.Error()}
	}
	return nil
}

// checkName accepts what the store accepts: at most MaxNameLength bytes of
// UTF-8 (the JSON layer has already refused invalid UTF-8) without control
// characters.
func checkName(name string) error {
	if len(name) > MaxNameLength {
		return &Error{Code: CodeInvalid, Path: "name", Message: fmt.Sprintf(
			"name is %d bytes long, at most %d allowed", len(name), MaxNameLength)}
	}
	for i, r := range name {
		if r < 0x20 || r == 0x7f {
			return &Error{Code: CodeInvalid, Path: "name", Message: fmt.Sprintf(
				"name has a control character at byte %d", i)}
		}
	}
	return nil
}

// checkPIN applies R2 to a PIN. The message never holds the PIN.
func checkPIN(pin *string, field string, required bool) error {
	if pin == nil {
		if required {
			return missing(field)
		}
		return nil
	}
	if err := access.ValidatePIN(*pin); err != nil {
		return &Error{Code: CodeInvalid, Path: field, Message: err.Error()}
	}
	return nil
}

func parseTime(s *string, field string) (time.Time, error) {
	if s == nil {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		return time.Time{}, &Error{Code: CodeInvalid, Path: field, Message: fmt.Sprintf(
			"%s must be an RFC 3339 time such as 2026-03-01T08:00:00Z, got %q", field, clip(*s))}
	}
	return t, nil
}

func (d *decoder) card(w *wireCard, field string) (access.CardKey, error) {
	switch {
	case w == nil:
		return access.CardKey{}, missing(field)
	case w.Facility == nil:
		return access.CardKey{}, missing(field + ".facility")
	case w.Number == nil:
		return access.CardKey{}, missing(field + ".number")
	}
	if err := access.CheckCardFormat(w.Format); err != nil {
		return access.CardKey{}, &Error{Code: CodeInvalid, Path: field + ".format", Message: err.Error()}
	}
	return access.CardKey{Format: intern(&d.formats, w.Format, maxFormats), Facility: *w.Facility, Number: *w.Number}, nil
}

// maxFormats bounds the card format names a decoder interns.
const maxFormats = 64

// intern returns cache's copy of s, adding s while the cache holds fewer
// than limit strings.
func intern(cache *map[string]string, s string, limit int) string {
	if v, ok := (*cache)[s]; ok {
		return v
	}
	if *cache == nil {
		*cache = make(map[string]string)
	}
	if len(*cache) < limit {
		(*cache)[s] = s
	}
	return s
}

func missing(field string) *Error {
	return &Error{Code: CodeMalformed, Path: field, Message: fmt.Sprintf("missing field %q", field[strings.LastIndexByte(field, '.')+1:])}
}

// asError turns err into an *Error whose path is prefixed with prefix.
func asError(err error, prefix string) *Error {
	var e *Error
	if !errors.As(err, &e) {
		return jsonError(err, prefix)
	}
	if !e.absolute {
		e.Path = joinPath(prefix, e.Path)
	}
	return e
}

func withOp(e *Error, i int) *Error {
	e.Op = &i
	return e
}

// jsonError describes an error of the JSON layer without quoting any value
// from the payload (a value may be a PIN).
func jsonError(err error, prefix string) *Error {
	e := describeJSONError(err, prefix)
	e.absolute = true
	return e
}

func describeJSONError(err error, prefix string) *Error {
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	switch {
	case errors.As(err, &syn):
		return &Error{Code: CodeMalformed, Path: joinPath(prefix, pointerPath(syn.JSONPointer)), Message: fmt.Sprintf(
			"not valid JSON at byte %d: %v", syn.ByteOffset, syn.Err)}
	case errors.As(err, &sem):
		if errors.Is(sem.Err, json.ErrUnknownName) {
			name := sem.JSONPointer.LastToken()
			return &Error{Code: CodeMalformed, Path: joinPath(prefix, pointerPath(sem.JSONPointer.Parent())),
				Message: fmt.Sprintf("unknown field %q", clip(name)), unknownField: clip(name)}
		}
		if errors.Is(sem.Err, io.ErrUnexpectedEOF) {
			return &Error{Code: CodeMalformed, Path: joinPath(prefix, pointerPath(sem.JSONPointer)), Message: "the payload ends in the middle of a value"}
		}
		msg := fmt.Sprintf("want %s, got %s", goTypeName(sem.GoType), kindName(sem.JSONKind))
		if strings.Contains(fmt.Sprint(sem.Err), "out of range") {
			msg = fmt.Sprintf("number out of range: want %s", goTypeName(sem.GoType))
		}
		return &Error{Code: CodeMalformed, Path: joinPath(prefix, pointerPath(sem.JSONPointer)), Message: msg}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Code: CodeMalformed, Path: prefix, Message: "the payload ends before the changeset does"}
	}
	return &Error{Code: CodeMalformed, Path: prefix, Message: "not valid JSON"}
}

// pointerPath renders a JSON pointer as a path: /ops/3/card → ops[3].card.
func pointerPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if tok != "" && strings.Trim(tok, "0123456789") == "" && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(clip(tok))
	}
	return b.String()
}

func joinPath(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case path[0] == '[':
		return prefix + path
	}
	return prefix + "." + path
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "nothing readable"
}

func goTypeName(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Uint32:
		return "a whole number from 0 to 4294967295"
	case reflect.Uint64:
		return "a whole number from 0 to 18446744073709551615"
	case reflect.Int:
		return "a whole number"
	case reflect.Slice:
		return "an array"
	case reflect.Struct:
		return "an object"
	}
	return "a " + t.Kind().String()
}

// clip shortens text taken from the payload before it goes into a message.
func clip(s string) string {
	const most = 64
	if len(s) <= most {
		return s
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// checkSnapshot refuses a snapshot that gives one user id, credential id,
// card or PIN to two holders. It sorts indexes rather than building maps:
// a 100k-user snapshot is checked in a few hundred kilobytes.
func checkSnapshot(users []SnapshotUser) error {
	at := func(i int, field string) string { return joinPath(userPath(i), field) }

	byIndex := func(a, b int32) bool { return a < b }
	ids := make([]string, len(users))
	for i := range users {
		ids[i] = users[i].User.ID
	}
	if err := uniqueIDs(ids); err != nil {
		return err
	}

	pins := make([]int32, 0, len(users))
	for i := range users {
		if users[i].PIN != "" {
			pins = append(pins, int32(i))
		}
	}
	if i, j, ok := firstRepeat(pins, func(a, b int32) int {
		return strings.Compare(users[a].PIN, users[b].PIN)
	}, byIndex); ok {
		return &Error{Code: CodePINInUse, Path: at(int(j), "pin"), Message: fmt.Sprintf(
			"user %q is given the same PIN as user %q (users[%d]); PINs are unique across users",
			users[j].User.ID, users[i].User.ID, i)}
	}

	type ref struct{ u, c int32 }
	var creds []ref
	for i := range users {
		for j := range users[i].Credentials {
			creds = append(creds, ref{int32(i), int32(j)})
		}
	}
	byRef := func(x, y ref) bool { return x.u < y.u || x.u == y.u && x.c < y.c }
	cred := func(r ref) access.Credential { return users[r.u].Credentials[r.c] }
	credPath := func(r ref, field string) string {
		return at(int(r.u), "credentials["+strconv.Itoa(int(r.c))+"]."+field)
	}
	if a, b, ok := firstRepeat(creds, func(x, y ref) int {
		return strings.Compare(cred(x).ID, cred(y).ID)
	}, byRef); ok {
		return &Error{Code: CodeCredentialInUse, Path: credPath(b, "id"), Message: fmt.Sprintf(
			"credential %q is listed twice (also %s)", cred(b).ID, credPath(a, "id"))}
	}
	if a, b, ok := firstRepeat(creds, func(x, y ref) int {
		return compareCards(cred(x).Card, cred(y).Card)
	}, byRef); ok {
		return &Error{Code: CodeCredentialInUse, Path: credPath(b, "card"), Message: fmt.Sprintf(
			"card %s of credential %q is also credential %q (%s)", cred(b).Card, cred(b).ID, cred(a).ID, credPath(a, "card"))}
	}
	return nil
}

// firstRepeat sorts s by cmp (stably, so equal keys keep payload order)
// and returns, of all keys held more than once, the pair whose repeat comes
// earliest in the payload (by earlier): the first repeat a reader of the
// payload would meet, and the holder it repeats.
func firstRepeat[T any](s []T, cmp func(a, b T) int, earlier func(a, b T) bool) (first, repeat T, ok bool) {
	slices.SortStableFunc(s, cmp)
	for start := 0; start < len(s); {
		end := start + 1
		for end < len(s) && cmp(s[start], s[end]) == 0 {
			end++
		}
		if end-start > 1 && (!ok || earlier(s[start+1], repeat)) {
			first, repeat, ok = s[start], s[start+1], true
		}
		start = end
	}
	return first, repeat, ok
}

func compareCards(a, b access.CardKey) int {
	if c := strings.Compare(a.Format, b.Format); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Facility, b.Facility); c != 0 {
		return c
	}
	return cmp.Compare(a.Number, b.Number)
}
