package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// decodeJSON reads one JSON object from body into v, strictly: unknown,
// duplicate and wrong-case fields, invalid UTF-8, trailing data, wrong
// types and bodies over limit are errors whose message says what was wrong
// and where ("facility: must be a number, got string"). contentType may be
// empty; anything but JSON is refused.
func decodeJSON(body io.Reader, contentType string, limit int64, v any) *apiError {
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errorf(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "body: Content-Type %q is not application/json", contentType)
		}
	}
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(limit)
		}
		return errorf(http.StatusBadRequest, CodeInvalidBody, "body: could not be read: %v", err)
	}
	if int64(len(data)) > limit {
		return tooLarge(limit)
	}
	return decodeBytes(data, v)
}

// readBody reads a request's whole body, at most limit bytes. A body of
// known length is read into a buffer of exactly that size: a snapshot is
// tens of MiB, and growing a buffer as it arrives would hold it about
// twice over while it is read.
func readBody(r *http.Request, limit int64) ([]byte, *apiError) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	var (
		data []byte
		err  error
	)
	if r.ContentLength > 0 {
		data = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, data)
	} else {
		data, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), int64(len(data)) > limit:
		return nil, tooLarge(limit)
	case err != nil:
		return nil, errorf(http.StatusBadRequest, CodeInvalidBody, "body: could not be read: %v", err)
	}
	return data, nil
}

func tooLarge(limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "body: larger than %d bytes", limit)
}

// The request decoder is github.com/go-json-experiment/json, as for
// changesets (sync/changeset), with its strict defaults: object member
// names match case-sensitively (`"Name"` is not `"name"`), a name given
// twice is refused rather than the last one winning, and strings must be
// valid UTF-8 (no lone surrogates either). RejectUnknownMembers adds the
// refusal of unknown fields. Answers are still encoded by encoding/json
// through Echo: the v2 encoder writes nil slices as [] instead of null,
// keeps false and 0 under omitempty and does not escape <, > and &, so it
// would change bytes on the wire that clients and tests compare.
var strictJSON = json.RejectUnknownMembers(true)

// decodeBytes is the strict decoder over a body already read.
func decodeBytes(data []byte, v any) *apiError {
	if len(bytes.TrimSpace(data)) == 0 {
		return errorf(http.StatusBadRequest, CodeInvalidBody, "body: is empty, want a JSON object")
	}
	if t := bytes.TrimSpace(data); t[0] != '{' {
		return errorf(http.StatusBadRequest, CodeInvalidBody, "body: want a JSON object, got %s", jsonKind(t[0]))
	}
	if !utf8.Valid(data) {
		// The decoder refuses it too, but only once it reaches the
		// string; say where the first bad byte is, even outside one.
		off := int64(0)
		for off < int64(len(data)) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += int64(n)
		}
		line, col := position(data, off)
		return errorf(http.StatusBadRequest, CodeInvalidBody, "body: invalid UTF-8 at line %d, column %d", line, col)
	}
	// json.Unmarshal (rather than a jsontext.Decoder, which allocates its
	// buffers per body) refuses trailing data itself, at its first byte.
	if err := json.Unmarshal(data, v, strictJSON); err != nil {
		var syn *jsontext.SyntacticError
		if errors.As(err, &syn) && strings.HasSuffix(syn.Err.Error(), "after top-level value") {
			line, col := position(data, syn.ByteOffset)
			return errorf(http.StatusBadRequest, CodeInvalidBody, "body: unexpected data after the JSON object at line %d, column %d", line, col)
		}
		return errorf(http.StatusBadRequest, CodeInvalidBody, "%s", describeJSONError(err, data, v))
	}
	return nil
}

// describeJSONError turns the decoder's errors into "where: what". It never
// quotes a value from the body, which may be a PIN; only a field name or a
// single unexpected character.
func describeJSONError(err error, data []byte, v any) string {
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	switch {
	case errors.As(err, &sem):
		field := pointerPath(sem.JSONPointer)
		if errors.Is(sem.Err, json.ErrUnknownName) {
			name := sem.JSONPointer.LastToken()
			where := pointerPath(sem.JSONPointer.Parent())
			if known, ok := fieldFold(v, name); ok {
				return fmt.Sprintf("%s: unknown field %q (field names are case-sensitive: did you mean %q?)", where, clip(name), known)
			}
			return fmt.Sprintf("%s: unknown field %q", where, clip(name))
		}
		if errors.Is(sem.Err, io.ErrUnexpectedEOF) {
			return "body: the JSON ends too early"
		}
		got := kindWord(sem.JSONKind)
		if sem.JSONKind == '0' && isInteger(sem.GoType) {
			got = "a number out of range" // negative, fractional or too large
		}
		return fmt.Sprintf("%s: must be %s, got %s", field, describeType(sem.GoType), got)
	case errors.As(err, &syn):
		line, col := position(data, syn.ByteOffset)
		switch {
		case errors.Is(syn.Err, io.ErrUnexpectedEOF):
			return "body: the JSON ends too early"
		case errors.Is(syn.Err, jsontext.ErrDuplicateName):
			return fmt.Sprintf("%s: duplicate field %q at line %d, column %d (give each field once)",
				pointerPath(syn.JSONPointer.Parent()), clip(syn.JSONPointer.LastToken()), line, col)
		}
		msg := syn.Err.Error()
		switch {
		case strings.HasPrefix(msg, "invalid character "):
			msg = "unexpected " + strings.TrimPrefix(msg, "invalid character ")
		case strings.Contains(msg, "escape"), strings.Contains(msg, "surrogate"):
			msg = "an invalid escape sequence in a string" // the library quotes it; it may be part of a PIN
		case strings.Contains(msg, "UTF-8"):
			msg = "invalid UTF-8"
		default:
			msg = "not valid JSON"
		}
		return fmt.Sprintf("body: invalid JSON at line %d, column %d: %s", line, col, msg)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "body: the JSON ends too early"
	}
	return "body: not valid JSON"
}

// pointerPath renders a JSON pointer as a field path ("/card/facility" →
// "card.facility"); the empty pointer is "body".
func pointerPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(clip(tok))
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

// fieldFold finds the JSON name of a field of the struct v points to that
// equals name but for case.
func fieldFold(v any, name string) (string, bool) {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return "", false
	}
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if tag != "" && tag != "-" && tag != name && strings.EqualFold(tag, name) {
			return tag, true
		}
	}
	return "", false
}

// clip shortens a name taken from the body before it goes into a message.
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

// kindWord names the kind of a JSON value as the messages do ("got bool").
func kindWord(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "something that is not JSON"
}

func isInteger(t reflect.Type) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// describeType says in words what JSON a Go type takes.
func describeType(t reflect.Type) string {
	if t == nil {
		return "a value of another kind"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<(t.Bits()-1)*2-1)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "a " + t.String()
}

func jsonKind(b byte) string {
	switch {
	case b == '[':
		return "an array"
	case b == '"':
		return "a string"
	case b == 't' || b == 'f':
		return "a boolean"
	case b == 'n':
		return "null"
	case b == '-' || (b >= '0' && b <= '9'):
		return "a number"
	}
	return "something that is not JSON"
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col = 1, 1
	for _, b := range data[:off] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
