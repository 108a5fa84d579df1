package api

import (
	"net/http"
	"strings"
	"testing"
)

var decodeCases = []struct {
	name, body string
	status     int
	message    string
}{
	{"good", `{"name":"a","enabled":true}`, 0, ""},
	{"whitespace", " \n{\"name\":\"a\"}\n ", 0, ""},
	{"empty", ``, 400, "body: is empty, want a JSON object"},
	{"null", `null`, 400, "body: want a JSON object, got null"},
	{"number", `12`, 400, "body: want a JSON object, got a number"},
	{"garbage", `<xml/>`, 400, "body: want a JSON object, got something that is not JSON"},
	{"unknown field", `{"nmae":"a"}`, 400, `body: unknown field "nmae"`},
	{"wrong type", `{"name":false}`, 400, "name: must be a string, got bool"},
	{"second line", "{\n\"name\": \"a\",,\n}", 400, "body: invalid JSON at line 2, column 13: unexpected ',' looking for beginning of object key string"},
	{"truncated", `{"name":"a`, 400, "body: the JSON ends too early"},
	{"two objects", `{}{}`, 400, "body: unexpected data after the JSON object at line 1, column 3"},
	{"trailing garbage", "{} \n x", 400, "body: unexpected data after the JSON object at line 2, column 2"},
	{"too large", `{"name":"` + strings.Repeat("a", 100) + `"}`, 413, "body: larger than 64 bytes"},
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			var b UserBody
			err := decodeJSON(strings.NewReader(tc.body), "application/json; charset=utf-8", 64, &b)
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tc.status == 0:
				return
			case err == nil:
				t.Fatalf("got no error, want %d %q", tc.status, tc.message)
			}
			if err.Status != tc.status || err.Message != tc.message {
				t.Errorf("got %d %q, want %d %q", err.Status, err.Message, tc.status, tc.message)
			}
		})
	}
}

func TestDecodeJSONContentType(t *testing.T) {
	for _, ct := range []string{"", "application/json", "application/merge-patch+json"} {
		var b UserBody
		if err := decodeJSON(strings.NewReader(`{"name":"a"}`), ct, 64, &b); err != nil {
			t.Errorf("Content-Type %q: got %v, want accepted", ct, err)
		}
	}
	for _, ct := range []string{"text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", ";;"} {
		var b UserBody
		if err := decodeJSON(strings.NewReader(`{"name":"a"}`), ct, 64, &b); err == nil || err.Status != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: got %v, want 415", ct, err)
		}
	}
}

// FuzzDecodeBodies feeds arbitrary bytes to the strict decoder with every
// body type the API takes, then to the checks after it: nothing may panic,
// and every refusal must be a 4xx with a message.
func FuzzDecodeBodies(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add([]byte(tc.body))
	}
	for _, s := range []string{`{"length":6}`, `{"pin":"12345678"}`, `{"type":"card","format":"H10301","facility":1,"number":12345}`,
		`{"facility":1,"number":1e30}`, `{"bits":"1011"}`, `{"keys":"1234#"}`, `{"open":true}`, `{"valid_from":"2026-01-01T00:00:00Z"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(err *apiError) {
			if err != nil && (err.Status < 400 || err.Status > 499 || err.Code == "" || err.Message == "") {
				t.Fatalf("got refusal %d %q %q", err.Status, err.Code, err.Message)
			}
		}
		var u UserBody
		if err := decodeBytes(data, &u); err == nil {
			_, err := u.user("u1")
			check(err)
		} else {
			check(err)
		}
		var p PINBody
		check(decodeBytes(data, &p))
		var c CredentialBody
		if err := decodeBytes(data, &c); err == nil {
			_, err := c.credential("u1")
			check(err)
		} else {
			check(err)
		}
		for _, v := range []any{&SimCardBody{}, &SimKeysBody{}, &SimDoorBody{}} {
			check(decodeBytes(data, v))
		}
	})
}
