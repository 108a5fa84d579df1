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
	{"second line", "{\n\"name\": \"a\",,\n}", 400, "body: invalid JSON at line 2, column 13: unexpected ',' at start of value"},
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

// strictCases are the bodies encoding/json took and the changesets' decoder
// refuses (issue 12, finding 9: the API's JSON as strict as the
// changesets').
var strictCases = []struct {
	name, body string
	message    string
}{
	{"duplicate key", `{"name":"a","name":"b"}`, `body: duplicate field "name" at line 1, column 13 (give each field once)`},
	{"duplicate key, other value kind", `{"enabled":true,"name":"a","enabled":false}`, `body: duplicate field "enabled" at line 1, column 28 (give each field once)`},
	{"wrong-case key", `{"Name":"a"}`, `body: unknown field "Name" (field names are case-sensitive: did you mean "name"?)`},
	{"wrong-case key beside the right one", `{"name":"a","ENABLED":true}`, `body: unknown field "ENABLED" (field names are case-sensitive: did you mean "enabled"?)`},
	{"invalid UTF-8 in a value", "{\"name\":\"Ad\xe9\"}", "body: invalid UTF-8 at line 1, column 12"},
	{"invalid UTF-8 in a key", "{\"n\xffme\":\"a\"}", "body: invalid UTF-8 at line 1, column 4"},
	{"invalid UTF-8 on the second line", "{\n\"name\": \"\xc0\xaf\"}", "body: invalid UTF-8 at line 2, column 10"},
	{"lone surrogate", `{"name":"a\ud800"}`, "body: invalid JSON at line 1, column 11: an invalid escape sequence in a string"},
}

func TestAPIJSONAsStrictAsChangesets(t *testing.T) {
	for _, tc := range strictCases {
		t.Run(tc.name, func(t *testing.T) {
			var b UserBody
			err := decodeJSON(strings.NewReader(tc.body), "application/json", 1<<10, &b)
			if err == nil {
				t.Fatalf("got %+v and no error, want 400 %q", b, tc.message)
			}
			if err.Status != http.StatusBadRequest || err.Code != CodeInvalidBody || err.Message != tc.message {
				t.Errorf("got %d %s %q, want 400 invalid_body %q", err.Status, err.Code, err.Message, tc.message)
			}
		})
	}
	// What the decoder lets through, the name check refuses: characters
	// that make a name display as another.
	names := []struct {
		name, value, message string
	}{
		{"right-to-left override", "Ada\u202Egnp.exe", "name: name has an invisible or control character (U+202E) at byte 3, which could make it display as something else"},
		{"left-to-right embedding", "\u202AAda", "name: name has an invisible or control character (U+202A) at byte 0"},
		{"pop directional formatting", "Ada\u202C", "name: name has an invisible or control character (U+202C) at byte 3"},
		{"right-to-left isolate", "Ada \u2067Bo", "name: name has an invisible or control character (U+2067) at byte 4"},
		{"pop directional isolate", "Ada\u2069", "name: name has an invisible or control character (U+2069) at byte 3"},
		{"left-to-right mark", "Ada\u200E", "name: name has an invisible or control character (U+200E) at byte 3"},
		{"right-to-left mark", "\u200FAda", "name: name has an invisible or control character (U+200F) at byte 0"},
		{"arabic letter mark", "Ada\u061C", "name: name has an invisible or control character (U+061C) at byte 3"},
		{"zero-width space", "A\u200Bda", "name: name has an invisible or control character (U+200B) at byte 1"},
		{"byte-order mark", "\uFEFFAda", "name: name has an invisible or control character (U+FEFF) at byte 0"},
		{"line separator", "Ada\u2028Bo", "name: name has an invisible or control character (U+2028) at byte 3"},
		{"Persian with a zero-width non-joiner", "\u0645\u06cc\u200c\u0631\u0648\u06cc", ""},
		{"emoji with a zero-width joiner", "Ada \U0001F469\u200D\U0001F4BB", ""},
		{"accents", "Zoë Ångström", ""},
	}
	for _, tc := range names {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := UserBody{Name: tc.value}.user("u1")
			switch {
			case tc.message == "" && err != nil:
				t.Fatalf("got %v, want the name accepted", err)
			case tc.message == "":
			case err == nil:
				t.Fatalf("got the name accepted, want 422 %q", tc.message)
			case err.Status != http.StatusUnprocessableEntity || !strings.HasPrefix(err.Message, tc.message):
				t.Errorf("got %d %q, want 422 starting %q", err.Status, err.Message, tc.message)
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
	for _, tc := range strictCases {
		f.Add([]byte(tc.body))
	}
	for _, s := range []string{`{"length":6}`, `{"pin":"12345678"}`, `{"type":"card","format":"H10301","facility":1,"number":12345}`,
		`{"facility":1,"number":1e30}`, `{"bits":"1011"}`, `{"keys":"1234#"}`, `{"open":true}`, `{"valid_from":"2026-01-01T00:00:00Z"}`,
		`{"name":"Office","intervals":[{"days":["mon","tue"],"start":"08:00","end":"18:00","holidays":[1]}]}`,
		`{"name":"New Year","date":"2027-01-01","until":"2027-01-02","type":1}`,
		`{"name":"Staff","doors":[{"door":"front","schedule":"office"}]}`,
		`{"modes":[{"schedule":"office","mode":"unlocked","first_in":"staff"}]}`,
		`{"doors":["*"],"mode":"lockdown","rank":5,"until":null}`, `{"levels":["staff"],"override":true}`} {
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
			_, _, err := u.user("u1")
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
		for _, v := range []any{&SimCardBody{}, &SimKeysBody{}, &SimDoorBody{},
			&ScheduleBody{}, &HolidayBody{}, &LevelBody{}, &DoorPolicyBody{}, &OverrideBody{}} {
			check(decodeBytes(data, v))
		}
	})
}
