package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// decodeJSON reads one JSON object from body into v, strictly: unknown
// fields, trailing data, wrong types and bodies over limit are errors whose
// message says what was wrong and where ("facility: must be a number, got
// string"). contentType may be empty; anything but JSON is refused.
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

// decodeBytes is the strict decoder over a body already read.
func decodeBytes(data []byte, v any) *apiError {
	if len(bytes.TrimSpace(data)) == 0 {
		return errorf(http.StatusBadRequest, CodeInvalidBody, "body: is empty, want a JSON object")
	}
	if t := bytes.TrimSpace(data); t[0] != '{' {
		return errorf(http.StatusBadRequest, CodeInvalidBody, "body: want a JSON object, got %s", jsonKind(t[0]))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, CodeInvalidBody, "%s", describeJSONError(err, data))
	}
	rest := dec.InputOffset()
	for rest < int64(len(data)) && isSpace(data[rest]) {
		rest++
	}
	if rest < int64(len(data)) {
		line, col := position(data, rest)
		return errorf(http.StatusBadRequest, CodeInvalidBody, "body: unexpected data after the JSON object at line %d, column %d", line, col)
	}
	return nil
}

// describeJSONError turns encoding/json's errors into "where: what".
func describeJSONError(err error, data []byte) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		got := typ.Value
		if strings.HasPrefix(got, "number ") { // a number out of range
			got = "a number out of range"
		}
		return fmt.Sprintf("%s: must be %s, got %s", field, describeType(typ.Type), got)
	case errors.As(err, &syn):
		// Offset counts the bad byte itself.
		line, col := position(data, max(syn.Offset-1, 0))
		msg := syn.Error()
		if rest, ok := strings.CutPrefix(msg, "invalid character "); ok {
			msg = "unexpected " + rest
		}
		return fmt.Sprintf("body: invalid JSON at line %d, column %d: %s", line, col, msg)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "body: the JSON ends too early"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "body: unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "body: " + strings.TrimPrefix(err.Error(), "json: ")
}

// describeType says in words what JSON a Go type takes.
func describeType(t reflect.Type) string {
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

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }
