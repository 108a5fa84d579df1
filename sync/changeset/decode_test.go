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
		name: "every policy op",
		payload: `{"revision":13,"base":12,"ops":[
			{"op":"schedule.upsert","id":"office","name":"Office","intervals":[{"days":["mon","tue","wed","thu","fri"],"start":"08:00","end":"18:00","holidays":[]}]},
			{"op":"holiday.upsert","id":"ny","name":"New Year","date":"2027-01-01","type":1},
			{"op":"holiday.upsert","id":"xmas","date":"2027-12-24","until":"2027-12-31","type":2},
			{"op":"level.upsert","id":"staff","name":"Staff","doors":[{"door":"front","schedule":"office"},{"door":"side","schedule":"always"}]},
			{"op":"door.policy","door":"front","modes":[{"schedule":"office","mode":"unlocked","first_in":"staff"}]},
			{"op":"override.set","id":"lockdown","doors":["*"],"mode":"lockdown","until":null},
			{"op":"override.set","id":"snow","doors":["front"],"mode":"locked","rank":10,"until":"2027-01-05T12:00:00Z"},
			{"op":"user.upsert","user":"u1","enabled":true,"levels":["staff"],"override":true},
			{"op":"user.upsert","user":"u2","enabled":true,"levels":[]},
			{"op":"override.clear","id":"snow"},
			{"op":"level.delete","id":"staff"},
			{"op":"holiday.delete","id":"ny"},
			{"op":"schedule.delete","id":"office"}]}`,
		want: Changeset{Revision: 13, Base: 12, Ops: []Op{
			{Kind: OpScheduleUpsert, Schedule: access.Schedule{ID: "office", Name: "Office", Intervals: []access.Interval{
				{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "08:00", End: "18:00", Holidays: []int{}}}}},
			{Kind: OpHolidayUpsert, Holiday: access.Holiday{ID: "ny", Name: "New Year", Date: "2027-01-01", Type: 1}},
			{Kind: OpHolidayUpsert, Holiday: access.Holiday{ID: "xmas", Date: "2027-12-24", Until: "2027-12-31", Type: 2}},
			{Kind: OpLevelUpsert, Level: access.Level{ID: "staff", Name: "Staff", Doors: []access.LevelDoor{{Door: "front", Schedule: "office"}, {Door: "side", Schedule: "always"}}}},
			{Kind: OpDoorPolicy, DoorPolicy: access.DoorPolicy{Door: "front", Modes: []access.PolicyMode{{Schedule: "office", Mode: access.ModeUnlocked, FirstIn: "staff"}}}},
			{Kind: OpOverrideSet, DoorOverride: access.Override{ID: "lockdown", Doors: []string{"*"}, Mode: access.ModeLockdown}},
			{Kind: OpOverrideSet, DoorOverride: access.Override{ID: "snow", Doors: []string{"front"}, Mode: access.ModeLocked, Rank: 10,
				Until: timep(time.Date(2027, 1, 5, 12, 0, 0, 0, time.UTC))}},
			{Kind: OpUserUpsert, User: "u1", Enabled: true, Levels: []string{"staff"}, LevelsSet: true, Override: boolp(true)},
			{Kind: OpUserUpsert, User: "u2", Enabled: true, Levels: []string{}, LevelsSet: true},
			{Kind: OpOverrideClear, ID: "snow"},
			{Kind: OpLevelDelete, ID: "staff"},
			{Kind: OpHolidayDelete, ID: "ny"},
			{Kind: OpScheduleDelete, ID: "office"},
		}},
	},
	{
		name: "snapshot with policy",
		payload: `{"revision":41,"snapshot":true,
			"schedules":[{"id":"office","intervals":[{"days":["mon"],"start":"08:00","end":"24:00","holidays":[1]}]}],
			"holidays":[{"id":"ny","date":"2027-01-01","type":1}],
			"levels":[{"id":"staff","doors":[{"door":"front","schedule":"office"}]}],
			"door_policies":[{"door":"front","modes":[{"schedule":"office","mode":"card_only"}]}],
			"overrides":[{"id":"ld","doors":["*"],"mode":"lockdown","rank":1,"until":null}],
			"users":[{"id":"u1","enabled":true,"levels":["staff","all"],"override":true},{"id":"u2","enabled":true,"levels":null}]}`,
		want: Changeset{Revision: 41, Snapshot: true, Policy: Policy{
			Schedules:    []access.Schedule{{ID: "office", Intervals: []access.Interval{{Days: []string{"mon"}, Start: "08:00", End: "24:00", Holidays: []int{1}}}}},
			Holidays:     []access.Holiday{{ID: "ny", Date: "2027-01-01", Type: 1}},
			Levels:       []access.Level{{ID: "staff", Doors: []access.LevelDoor{{Door: "front", Schedule: "office"}}}},
			DoorPolicies: []access.DoorPolicy{{Door: "front", Modes: []access.PolicyMode{{Schedule: "office", Mode: "card_only"}}}},
			Overrides:    []access.Override{{ID: "ld", Doors: []string{"*"}, Mode: access.ModeLockdown, Rank: 1}},
		}, Users: []SnapshotUser{
			{User: access.User{ID: "u1", Enabled: true, Levels: []string{"all", "staff"}, Override: true}},
			{User: access.User{ID: "u2", Enabled: true}},
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

func boolp(b bool) *bool { return &b }

func timep(t time.Time) *time.Time { return &t }

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
	{name: "schedule 25:00", payload: `{"revision":3,"base":2,"ops":[{"op":"schedule.upsert","id":"s","intervals":[{"days":["mon"],"start":"08:00","end":"25:00","holidays":[]}]}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].intervals[0].end"}, msg: `"25:00"`},
	{name: "schedule reversed interval", payload: `{"revision":3,"base":2,"ops":[{"op":"schedule.upsert","id":"s","intervals":[{"days":["mon"],"start":"18:00","end":"08:00","holidays":[]}]}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].intervals[0].end"}, msg: "not after start"},
	{name: "schedule overlapping intervals", payload: `{"revision":3,"base":2,"ops":[{"op":"schedule.upsert","id":"s","intervals":[{"days":["mon"],"start":"08:00","end":"12:00","holidays":[]},{"days":["mon"],"start":"11:00","end":"13:00","holidays":[]}]}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].intervals[1]"}, msg: "overlaps"},
	{name: "schedule unknown day", payload: `{"revision":3,"base":2,"ops":[{"op":"schedule.upsert","id":"s","intervals":[{"days":["mon","funday"],"start":"08:00","end":"12:00","holidays":[]}]}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].intervals[0].days[1]"}, msg: `"funday"`},
	{name: "schedule start as a number", payload: `{"revision":3,"base":2,"ops":[{"op":"schedule.upsert","id":"s","intervals":[{"days":["mon"],"start":800,"end":"12:00","holidays":[]}]}]}`,
		want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].intervals[0].start"}, msg: "want a string"},
	{name: "schedule unknown interval field", payload: `{"revision":3,"base":2,"ops":[{"op":"schedule.upsert","id":"s","intervals":[{"days":["mon"],"start":"08:00","end":"12:00","weeks":2}]}]}`,
		want: Error{Code: CodeMalformed, Op: intp(0)}, msg: `unknown field "weeks"`},
	{name: "schedule without intervals", payload: `{"revision":3,"base":2,"ops":[{"op":"schedule.upsert","id":"s"}]}`,
		want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].intervals"}},
	{name: "the schedule always is built in", payload: `{"revision":3,"base":2,"ops":[{"op":"schedule.upsert","id":"always","intervals":[]}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].id"}, msg: "built in"},
	{name: "holiday type 4", payload: `{"revision":3,"base":2,"ops":[{"op":"holiday.upsert","id":"h","date":"2027-01-01","type":4}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].type"}},
	{name: "holiday without type", payload: `{"revision":3,"base":2,"ops":[{"op":"holiday.upsert","id":"h","date":"2027-01-01"}]}`,
		want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].type"}},
	{name: "holiday range backwards", payload: `{"revision":3,"base":2,"ops":[{"op":"holiday.upsert","id":"h","date":"2027-01-05","until":"2027-01-01","type":1}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].until"}},
	{name: "level door twice", payload: `{"revision":3,"base":2,"ops":[{"op":"level.upsert","id":"l","doors":[{"door":"front","schedule":"always"},{"door":"front","schedule":"always"}]}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].doors[1]"}},
	{name: "door policy lockdown mode", payload: `{"revision":3,"base":2,"ops":[{"op":"door.policy","door":"front","modes":[{"schedule":"always","mode":"lockdown"}]}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].modes[0].mode"}},
	{name: "override bad mode", payload: `{"revision":3,"base":2,"ops":[{"op":"override.set","id":"o","doors":["*"],"mode":"open","until":null}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].mode"}},
	{name: "override bad until", payload: `{"revision":3,"base":2,"ops":[{"op":"override.set","id":"o","doors":["*"],"mode":"locked","until":"18:00"}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].until"}, msg: "RFC 3339"},
	{name: "user levels twice", payload: `{"revision":3,"base":2,"ops":[{"op":"user.upsert","user":"u1","enabled":true,"levels":["a","a"]}]}`,
		want: Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].levels[1]"}},
	{name: "user levels not an array", payload: `{"revision":3,"base":2,"ops":[{"op":"user.upsert","user":"u1","enabled":true,"levels":"staff"}]}`,
		want: Error{Code: CodeMalformed, Op: intp(0), Path: "ops[0].levels"}},
	{name: "policy section in a delta", payload: `{"revision":3,"base":2,"ops":[],"levels":[]}`,
		want: Error{Code: CodeMalformed, Path: "levels"}, msg: "belong to a snapshot"},
	{name: "snapshot schedule listed twice", payload: `{"revision":3,"snapshot":true,"users":[],"schedules":[{"id":"s","intervals":[]},{"id":"s","intervals":[]}]}`,
		want: Error{Code: CodeInvalid, Path: "schedules[1].id"}, msg: "twice"},
	{name: "snapshot level bad door id", payload: `{"revision":3,"snapshot":true,"users":[],"levels":[{"id":"l","doors":[{"door":"a b","schedule":"always"}]}]}`,
		want: Error{Code: CodeInvalid, Path: "levels[0].doors[0].door"}},
	{name: "snapshot section not an array", payload: `{"revision":3,"snapshot":true,"users":[],"overrides":{}}`,
		want: Error{Code: CodeMalformed, Path: "overrides"}},
	{name: "snapshot section item unknown field", payload: `{"revision":3,"snapshot":true,"users":[],"holidays":[{"id":"h","date":"2027-01-01","type":1,"op":"holiday.upsert"}]}`,
		want: Error{Code: CodeMalformed, Path: "holidays[0]"}, msg: `unknown field "op"`},
	{name: "snapshot user levels with a number", payload: `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":true,"levels":["a",7]}]}`,
		want: Error{Code: CodeMalformed, Path: "users[0].levels[1]"}},
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
