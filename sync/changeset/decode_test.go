package changeset

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lintel-access/lintel/gateway/access"
)

var decodeCases = []struct {
	name    string
	payload string
	want    Changeset
}{
	{
		name: "every op",
		payload: `{"revision":12,"base":11,"ops":[
			{"op":"user.upsert","user":"u1","name":"Ann","enabled":true,"valid_from":"2026-03-01T08:00:00Z","valid_to":"2027-03-01T08:00:00+01:00"},
			{"op":"pin.set","user":"u1","pin":"482913"},
			{"op":"pin.generate","user":"u2","length":6},
			{"op":"pin.clear","user":"u3"},
			{"op":"credential.add","user":"u1","id":"c1","card":{"format":"H10301","facility":1,"number":100}},
			{"op":"credential.remove","id":"c1"},
			{"op":"user.delete","user":"u4"}]}`,
		want: Changeset{Revision: 12, Base: 11, Ops: []Op{
			{Kind: OpUserUpsert, User: "u1", Name: "Ann", Enabled: true,
				ValidFrom: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), ValidTo: time.Date(2027, 3, 1, 7, 0, 0, 0, time.UTC)},
			{Kind: OpPINSet, User: "u1", PIN: "482913"},
			{Kind: OpPINGenerate, User: "u2", Length: 6},
			{Kind: OpPINClear, User: "u3"},
			{Kind: OpCredentialAdd, User: "u1", Credential: "c1", Card: access.CardKey{Format: "H10301", Facility: 1, Number: 100}},
			{Kind: OpCredentialRemove, Credential: "c1"},
			{Kind: OpUserDelete, User: "u4"},
		}},
	},
	{
		name:    "fields in any order, escapes, explicit nulls for open validity",
		payload: `{"ops":[{"enabled":false,"user":"u\u0031","op":"user.upsert","valid_from":null}],"base":0,"revision":1}`,
		want:    Changeset{Revision: 1, Ops: []Op{{Kind: OpUserUpsert, User: "u1"}}},
	},
	{
		name:    "empty delta moves the revision",
		payload: `{"revision":5,"base":4,"ops":[]}`,
		want:    Changeset{Revision: 5, Base: 4},
	},
	{
		name: "snapshot",
		payload: `{"revision":40,"snapshot":true,"users":[
			{"id":"u1","name":"Ann","enabled":true,"pin":"482913","credentials":[{"id":"c1","card":{"format":"H10301","facility":1,"number":100}}]},
			{"id":"u2","enabled":false,"valid_to":"2026-12-31T23:59:59Z","pin":null,"credentials":null}]}`,
		want: Changeset{Revision: 40, Snapshot: true, Users: []SnapshotUser{
			{User: access.User{ID: "u1", Name: "Ann", Enabled: true}, PIN: "482913", Credentials: []access.Credential{
				{ID: "c1", UserID: "u1", Type: access.CredentialCard, Card: access.CardKey{Format: "H10301", Facility: 1, Number: 100}}}},
			{User: access.User{ID: "u2", ValidTo: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)}},
		}},
	},
	{
		name:    "empty snapshot clears the table, base ignored",
		payload: `{"revision":7,"base":99,"snapshot":true,"users":[]}`,
		want:    Changeset{Revision: 7, Base: 99, Snapshot: true},
	},
}

func TestDecode(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.payload))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Decode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			first, err := Decode([]byte(tc.payload))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			b := encode(t, first)
			again, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(Encode()) of %s: %v", b, err)
			}
			if diff := cmp.Diff(first, again, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("round trip through %s (-first +again):\n%s", b, diff)
			}
		})
	}
}

func intp(i int) *int { return &i }

// decodeErrorCases are payloads Decode refuses, with the error it must
// give. pin, when set, is a PIN in the payload that the message must not
// contain.
var decodeErrorCases = []struct {
	name    string
	payload string
	want    Error
	msg     string // a part of the message
	pin     string
}{
	{name: "empty", payload: ``, want: Error{Code: CodeMalformed}, msg: "not valid JSON"},
	{name: "not JSON", payload: `revision=1`, want: Error{Code: CodeMalformed}, msg: "not valid JSON at byte 0"},
	{name: "array", payload: `[]`, want: Error{Code: CodeMalformed}, msg: "a changeset is a JSON object, got an array"},
	{name: "truncated", payload: `{"revision":2,"base":1,"ops":[{"op":"pin.clear"`, want: Error{Code: CodeMalformed, Op: intp(0)}},
	{name: "trailing data", payload: `{"revision":2,"base":1,"ops":[]} {}`, want: Error{Code: CodeMalformed}, msg: "data follows the changeset"},
	{name: "unknown top-level field", payload: `{"revision":2,"base":1,"ops":[],"force":true}`, want: Error{Code: CodeMalformed}, msg: `unknown field "force"`},
	{name: "field names are case-sensitive", payload: `{"Revision":2,"base":1,"ops":[]}`, want: Error{Code: CodeMalformed}, msg: `unknown field "Revision"`},
	{name: "duplicate field", payload: `{"revision":2,"revision":3,"base":1,"ops":[]}`, want: Error{Code: CodeMalformed}, msg: "duplicate"},
	{name: "invalid UTF-8", payload: "{\"revision\":2,\"base\":1,\"ops\":[{\"op\":\"user.upsert\",\"user\":\"u1\",\"name\":\"\xff\",\"enabled\":true}]}", want: Error{Code: CodeMalformed, Op: intp(0)}, msg: "UTF-8"},
	{name: "missing revision", payload: `{"base":1,"ops":[]}`, want: Error{Code: CodeMalformed, Path: "revision"}},
	{name: "revision zero", payload: `{"revision":0,"base":0,"ops":[]}`, want: Error{Code: CodeInvalid, Path: "revision"}},
	{name: "negative revision", payload: `{"revision":-1,"base":0,"ops":[]}`, want: Error{Code: CodeMalformed, Path: "revision"}, msg: "want a whole number"},
	{name: "revision as string", payload: `{"revision":"2","base":1,"ops":[]}`, want: Error{Code: CodeMalformed, Path: "revision"}, msg: "got a string"},
	{name: "revision not above base", payload: `{"revision":3,"base":3,"ops":[]}`, want: Error{Code: CodeInvalid, Path: "revision"}, msg: "greater than base 3"},
	{name: "missing base", payload: `{"revision":3,"ops":[]}`, want: Error{Code: CodeMalformed, Path: "base"}},
	{name: "missing ops", payload: `{"revision":3,"base":2}`, want: Error{Code: CodeMalformed, Path: "ops"}},
	{name: "ops not an array", payload: `{"revision":3,"base":2,"ops":{}}`, want: Error{Code: CodeMalformed, Path: "ops"}, msg: "got an object"},
	{name: "snapshot with ops", payload: `{"revision":3,"snapshot":true,"users":[],"ops":[]}`, want: Error{Code: CodeMalformed, Path: "ops"}},
	{name: "snapshot without users", payload: `{"revision":3,"snapshot":true}`, want: Error{Code: CodeMalformed, Path: "users"}},
	{name: "users without snapshot", payload: `{"revision":3,"base":2,"users":[]}`, want: Error{Code: CodeMalformed, Path: "users"}},
	{name: "op not an object", payload: `{"revision":3,"base":2,"ops":["pin.clear"]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0]"}},
	{name: "op without op", payload: `{"revision":3,"base":2,"ops":[{"user":"u1"}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0]"}, msg: `missing field "op"`},
	{name: "unknown op", payload: `{"revision":3,"base":2,"ops":[{"op":"pin.clear","user":"u1"},{"op":"pin.reset","user":"u1"}]}`, want: Error{Code: CodeUnknownOp, Op: intp(1), Path: "ops[1].op"}, msg: `unknown op "pin.reset"`},
	{name: "op name not a string", payload: `{"revision":3,"base":2,"ops":[{"op":7}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].op"}},
	{name: "field of another op", payload: `{"revision":3,"base":2,"ops":[{"op":"pin.set","user":"u1","pin":"482913","length":6}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0]"}, msg: `unknown field "length" for a pin.set op`, pin: "482913"},
	{name: "misspelt field", payload: `{"revision":3,"base":2,"ops":[{"op":"pin.clear","usr":"u1"}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0]"}, msg: `unknown field "usr"`},
	{name: "duplicate field in op", payload: `{"revision":3,"base":2,"ops":[{"op":"pin.set","user":"u1","pin":"482913","pin":"111111"}]}`, want: Error{Code: CodeMalformed, Op: intp(0)}, msg: "duplicate", pin: "482913"},
	{name: "pin as number", payload: `{"revision":3,"base":2,"ops":[{"op":"pin.set","user":"u1","pin":482913}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].pin"}, msg: "want a string, got a number", pin: "482913"},
	{name: "pin too short", payload: `{"revision":3,"base":2,"ops":[{"op":"pin.set","user":"u1","pin":"482"}]}`, want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].pin"}, msg: "4 to 8 digits", pin: "482"},
	{name: "pin not digits", payload: `{"revision":3,"base":2,"ops":[{"op":"pin.set","user":"u1","pin":"48a913"}]}`, want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].pin"}, msg: "only the digits", pin: "48a913"},
	{name: "pin missing", payload: `{"revision":3,"base":2,"ops":[{"op":"pin.set","user":"u1"}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].pin"}},
	{name: "generate length 9", payload: `{"revision":3,"base":2,"ops":[{"op":"pin.generate","user":"u1","length":9}]}`, want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].length"}},
	{name: "generate length fraction", payload: `{"revision":3,"base":2,"ops":[{"op":"pin.generate","user":"u1","length":6.5}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].length"}},
	{name: "bad user id", payload: `{"revision":3,"base":2,"ops":[{"op":"pin.clear","user":"u 1"}]}`, want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].user"}},
	{name: "empty user id", payload: `{"revision":3,"base":2,"ops":[{"op":"user.delete"}]}`, want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].user"}},
	{name: "upsert without enabled", payload: `{"revision":3,"base":2,"ops":[{"op":"user.upsert","user":"u1","name":"Ann"}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].enabled"}},
	{name: "bad date", payload: `{"revision":3,"base":2,"ops":[{"op":"user.upsert","user":"u1","enabled":true,"valid_from":"2026-03-01"}]}`, want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].valid_from"}, msg: "RFC 3339"},
	{name: "validity backwards", payload: `{"revision":3,"base":2,"ops":[{"op":"user.upsert","user":"u1","enabled":true,"valid_from":"2026-03-01T00:00:00Z","valid_to":"2026-02-01T00:00:00Z"}]}`, want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].valid_to"}},
	{name: "control character in name", payload: `{"revision":3,"base":2,"ops":[{"op":"user.upsert","user":"u1","enabled":true,"name":"A\u0007"}]}`, want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].name"}},
	{name: "card without number", payload: `{"revision":3,"base":2,"ops":[{"op":"credential.add","user":"u1","id":"c1","card":{"format":"H10301","facility":1}}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].card.number"}},
	{name: "card facility too big", payload: `{"revision":3,"base":2,"ops":[{"op":"credential.add","user":"u1","id":"c1","card":{"format":"H10301","facility":4294967296,"number":1}}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].card.facility"}, msg: "out of range"},
	{name: "card format with colon", payload: `{"revision":3,"base":2,"ops":[{"op":"credential.add","user":"u1","id":"c1","card":{"format":"H:1","facility":1,"number":1}}]}`, want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].card.format"}},
	{name: "card unknown field", payload: `{"revision":3,"base":2,"ops":[{"op":"credential.add","user":"u1","id":"c1","card":{"format":"H10301","facility":1,"number":1,"bits":26}}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].card"}, msg: `unknown field "bits"`},
	{name: "remove with user", payload: `{"revision":3,"base":2,"ops":[{"op":"credential.remove","id":"c1","user":"u1"}]}`, want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0]"}, msg: `unknown field "user" for a credential.remove op`},
	{name: "snapshot user unknown field", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":true},{"id":"u2","enabled":true,"pin_hash":"x"}]}`, want: Error{Code: CodeMalformed, Path: "users[1]"}, msg: `unknown field "pin_hash"`},
	{name: "snapshot user not an object", payload: `{"revision":3,"snapshot":true,"users":[7]}`, want: Error{Code: CodeMalformed, Path: "users[0]"}, msg: "got a number"},
	{name: "snapshot pin as number", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":true,"pin":48291373}]}`, want: Error{Code: CodeMalformed, Path: "users[0].pin"}, msg: "got a number", pin: "48291373"},
	{name: "snapshot bad pin", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":true,"pin":"123456789"}]}`, want: Error{Code: CodeInvalid, Path: "users[0].pin"}, pin: "123456789"},
	{name: "snapshot enabled as string", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":"yes"}]}`, want: Error{Code: CodeMalformed, Path: "users[0].enabled"}, msg: "want true or false"},
	{name: "snapshot card number negative", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":true,"credentials":[{"id":"c1","card":{"format":"H10301","facility":1,"number":-5}}]}]}`, want: Error{Code: CodeMalformed, Path: "users[0].credentials[0].card.number"}},
	{name: "snapshot credential without card", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":true,"credentials":[{"id":"c1"}]}]}`, want: Error{Code: CodeMalformed, Path: "users[0].credentials[0].card"}},
	{name: "snapshot duplicate user field", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","id":"u2","enabled":true}]}`, want: Error{Code: CodeMalformed, Path: "users[0].id"}, msg: "duplicate"},
	{name: "snapshot user twice", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":true},{"id":"u2","enabled":true},{"id":"u1","enabled":false}]}`, want: Error{Code: CodeInvalid, Path: "users[2].id"}, msg: "also users[0]"},
	{name: "snapshot PIN twice", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":true,"pin":"482913"},{"id":"u2","enabled":true,"pin":"482913"}]}`, want: Error{Code: CodePINInUse, Path: "users[1].pin"}, pin: "482913"},
	{name: "snapshot card twice", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":true,"credentials":[{"id":"c1","card":{"format":"H10301","facility":1,"number":5}}]},{"id":"u2","enabled":true,"credentials":[{"id":"c2","card":{"format":"H10301","facility":1,"number":5}}]}]}`, want: Error{Code: CodeCredentialInUse, Path: "users[1].credentials[0].card"}},
	{name: "snapshot credential id twice", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":true,"credentials":[{"id":"c1","card":{"format":"H10301","facility":1,"number":5}}]},{"id":"u2","enabled":true,"credentials":[{"id":"c1","card":{"format":"H10301","facility":1,"number":6}}]}]}`, want: Error{Code: CodeCredentialInUse, Path: "users[1].credentials[0].id"}},
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range decodeErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.payload))
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("Decode: got error %v, want an *Error with code %s", err, tc.want.Code)
			}
			opts := cmp.Options{cmpopts.IgnoreFields(Error{}, "Message"), cmpopts.IgnoreUnexported(Error{})}
			if tc.want.Path == "" {
				opts = append(opts, cmpopts.IgnoreFields(Error{}, "Path"))
			}
			if diff := cmp.Diff(tc.want, *got, opts...); diff != "" {
				t.Errorf("Decode error %q (-want +got):\n%s", got, diff)
			}
			if !strings.Contains(got.Message, tc.msg) {
				t.Errorf("Decode error message %q, want it to contain %q", got.Message, tc.msg)
			}
			if tc.pin != "" && strings.Contains(got.Error(), tc.pin) {
				t.Errorf("Decode error %q contains the PIN", got)
			}
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	ops := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"revision":2,"base":1,"ops":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"op":"pin.clear","user":"u1"}`)
		}
		b.WriteString(`]}`)
		return b.String()
	}
	padded := func(n int) string { // a delta of n bytes
		const head, tail = `{"revision":2,"base":1,"ops":[{"op":"user.upsert","user":"u1","enabled":true}]`, `}`
		return head + strings.Repeat(" ", n-len(head)-len(tail)) + tail
	}
	tests := []struct {
		name    string
		payload string
		want    Error // zero Code: accepted
	}{
		{name: "MaxOps ops", payload: ops(MaxOps)},
		{name: "MaxOps+1 ops", payload: ops(MaxOps + 1), want: Error{Code: CodeTooLarge, Op: intp(MaxOps), Path: "ops[1000]"}},
		{name: "delta of MaxDeltaPayload bytes", payload: padded(MaxDeltaPayload)},
		{name: "delta of MaxDeltaPayload+1 bytes", payload: padded(MaxDeltaPayload + 1), want: Error{Code: CodeTooLarge}},
		{name: "payload over MaxPayload", payload: `{"revision":2,"snapshot":true,"users":[]}` + strings.Repeat(" ", MaxPayload), want: Error{Code: CodeTooLarge}},
		{name: "snapshot of MaxPayload bytes", payload: `{"revision":2,"snapshot":true,"users":[]` + strings.Repeat(" ", MaxPayload-42) + `}`},
		{
			name: "MaxCredentialsPerUser+1 credentials",
			payload: `{"revision":2,"snapshot":true,"users":[{"id":"u1","enabled":true,"credentials":[` +
				strings.Repeat(`{"id":"c","card":{"format":"H10301","facility":1,"number":1}},`, MaxCredentialsPerUser) +
				`{"id":"c","card":{"format":"H10301","facility":1,"number":1}}]}]}`,
			want: Error{Code: CodeInvalid, Path: "users[0].credentials[64]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.payload))
			if tc.want.Code == "" {
				if err != nil {
					t.Fatalf("Decode of %d bytes: %v", len(tc.payload), err)
				}
				return
			}
			var got *Error
			if !errors.As(err, &got) {
				t.Fatalf("Decode of %d bytes: got %v, want code %s", len(tc.payload), err, tc.want.Code)
			}
			opts := cmp.Options{cmpopts.IgnoreFields(Error{}, "Message"), cmpopts.IgnoreUnexported(Error{})}
			if diff := cmp.Diff(tc.want, *got, opts...); diff != "" {
				t.Errorf("Decode error %q (-want +got):\n%s", got, diff)
			}
		})
	}
}

func TestOpNeverPrintsPIN(t *testing.T) {
	op := Op{Kind: OpPINSet, User: "u1", PIN: "48291373"}
	for _, s := range []string{op.String(), op.GoString(), op.LogValue().String()} {
		if strings.Contains(s, op.PIN) {
			t.Errorf("%q contains the PIN", s)
		}
	}
}

// FuzzDecode feeds the decoder arbitrary bytes, seeded with every table
// case. It must never panic; what it accepts must survive Encode and
// Decode unchanged; what it refuses must come with a code, and a message
// that is not empty.
func FuzzDecode(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add([]byte(tc.payload))
	}
	for _, tc := range decodeErrorCases {
		f.Add([]byte(tc.payload))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		cs, err := Decode(payload)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode: error %v is not an *Error", err)
			}
			if e.Code == "" || e.Message == "" || e.Code == CodeInternal {
				t.Fatalf("Decode: error %+v lacks a code or message, or is a server error", e)
			}
			return
		}
		b, err := Encode(cs)
		if err != nil {
			t.Fatalf("Encode of a decoded changeset: %v", err)
		}
		again, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode()) of %s: %v", b, err)
		}
		if diff := cmp.Diff(cs, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip through %s (-first +again):\n%s", b, diff)
		}
	})
}
