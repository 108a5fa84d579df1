package changeset

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store/storetest"
)

// policyDelta is revision 2 in the policy tests: a schedule, a level on it
// and on always, a door policy with first-in, a holiday and an override,
// and u1 on the level with override rights.
const policyDelta = `{"revision":2,"base":1,"ops":[
	{"op":"schedule.upsert","id":"office","name":"Office","intervals":[{"days":["mon","tue","wed","thu","fri"],"start":"08:00","end":"18:00","holidays":[]}]},
	{"op":"holiday.upsert","id":"ny","name":"New Year","date":"2027-01-01","type":1},
	{"op":"level.upsert","id":"staff","name":"Staff","doors":[{"door":"front","schedule":"office"},{"door":"side","schedule":"always"}]},
	{"op":"door.policy","door":"front","modes":[{"schedule":"office","mode":"unlocked","first_in":"staff"}]},
	{"op":"override.set","id":"snow","doors":["front"],"mode":"locked","rank":10,"until":"2027-01-05T12:00:00Z"},
	{"op":"user.upsert","user":"u1","name":"Ann","enabled":true,"levels":["staff"],"override":true}]}`

// policySnapshot holds the same table as seed plus policyDelta.
const policySnapshot = `{"revision":3,"snapshot":true,
	"schedules":[{"id":"office","name":"Office","intervals":[{"days":["fri","thu","wed","tue","mon"],"start":"08:00","end":"18:00","holidays":[]}]}],
	"holidays":[{"id":"ny","name":"New Year","date":"2027-01-01","type":1}],
	"levels":[{"id":"staff","name":"Staff","doors":[{"door":"side","schedule":"always"},{"door":"front","schedule":"office"}]}],
	"door_policies":[{"door":"front","modes":[{"schedule":"office","mode":"unlocked","first_in":"staff"}]}],
	"overrides":[{"id":"snow","doors":["front"],"mode":"locked","rank":10,"until":"2027-01-05T13:00:00+01:00"}],
	"users":[{"id":"u1","name":"Ann","enabled":true,"levels":["staff"],"override":true,"pin":"482913",
	          "credentials":[{"id":"c1","card":{"format":"H10301","facility":1,"number":100}}]},
	         {"id":"u2","name":"Bob","enabled":true}]}`

// TestPolicyDeltaAndSnapshotAgree: the same policy sent as ops and as a
// snapshot (its lists in another order) yields the same table and digest.
func TestPolicyDeltaAndSnapshotAgree(t *testing.T) {
	a, s, _ := newApplier(t)
	seed(t, a)
	ack := a.Apply([]byte(policyDelta))
	if ack.Status != StatusApplied {
		t.Fatalf("policy delta: %s %+v", ack.Status, ack.Error)
	}
	if got := s.Policy().Levels["staff"]; len(got.Doors) != 2 {
		t.Fatalf("level staff after the delta: %+v", got)
	}
	r, err := s.User("u1")
	if err != nil || !r.User.Override || len(r.User.Levels) != 1 || r.User.Levels[0] != "staff" {
		t.Fatalf("u1 after the delta: %+v, %v", r.User, err)
	}
	b, _, _ := newApplier(t)
	snap := b.Apply([]byte(policySnapshot))
	if snap.Status != StatusApplied {
		t.Fatalf("policy snapshot: %s %+v", snap.Status, snap.Error)
	}
	if snap.Digest != ack.Digest {
		t.Errorf("digest by snapshot %s, by delta %s: the same table must have the same digest", snap.Digest, ack.Digest)
	}
}

func TestPolicyApplyErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Error
		msg     string
	}{
		{"a level naming an unknown door", `{"revision":3,"base":2,"ops":[{"op":"level.upsert","id":"l","doors":[{"door":"lobby","schedule":"always"}]}]}`,
			Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].doors[0].door"}, `"lobby"`},
		{"a level naming an unknown schedule", `{"revision":3,"base":2,"ops":[{"op":"level.upsert","id":"l","doors":[{"door":"side","schedule":"night"}]}]}`,
			Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].doors[0].schedule"}, `"night"`},
		{"deleting a schedule a level uses", `{"revision":3,"base":2,"ops":[{"op":"schedule.delete","id":"office"}]}`,
			Error{Code: CodeInUse, Op: intp(0), Path: "ops[0]"}, `level "staff"`},
		{"deleting a level a user holds", `{"revision":3,"base":2,"ops":[{"op":"door.policy","door":"front","modes":[]},{"op":"level.delete","id":"staff"}]}`,
			Error{Code: CodeInUse, Op: intp(1), Path: "ops[1]"}, "1 users"},
		{"deleting an unknown holiday", `{"revision":3,"base":2,"ops":[{"op":"holiday.delete","id":"xmas"}]}`,
			Error{Code: CodeNotFound, Op: intp(0), Path: "ops[0]"}, `"xmas"`},
		{"a PIN mode on a card-only reader", `{"revision":3,"base":2,"ops":[{"op":"door.policy","door":"garage","modes":[{"schedule":"office","mode":"card_or_pin"}]}]}`,
			Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].modes[0].mode"}, "keypad"},
		{"a user on an unknown level", `{"revision":3,"base":2,"ops":[{"op":"user.upsert","user":"u2","enabled":true,"levels":["boss"]}]}`,
			Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].levels[0]"}, `"boss"`},
		{"an override on an unknown door", `{"revision":3,"base":2,"ops":[{"op":"override.set","id":"o","doors":["lobby"],"mode":"lockdown","until":null}]}`,
			Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0].doors[0]"}, `"lobby"`},
		{"the level all is built in", `{"revision":3,"base":2,"ops":[{"op":"level.delete","id":"all"}]}`,
			Error{Code: CodeInvalid, Op: intp(0), Path: "ops[0]"}, "built in"},
		{"a snapshot level on an unknown door", `{"revision":3,"snapshot":true,"users":[],"levels":[{"id":"l","doors":[{"door":"lobby","schedule":"always"}]}]}`,
			Error{Code: CodeInvalid, Path: "levels[0].doors[0].door"}, `"lobby"`},
		{"a snapshot level on a schedule it lacks", `{"revision":3,"snapshot":true,"users":[],"levels":[{"id":"l","doors":[{"door":"side","schedule":"office"}]}]}`,
			Error{Code: CodeInvalid, Path: "levels[0].doors[0].schedule"}, `"office"`},
		{"a snapshot user on a level it lacks", `{"revision":3,"snapshot":true,"users":[{"id":"u1","enabled":true},{"id":"u2","enabled":true,"levels":["staff"]}]}`,
			Error{Code: CodeInvalid, Path: "users[1].levels[0]"}, `"staff"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, s, _ := newApplier(t)
			seed(t, a)
			if ack := a.Apply([]byte(policyDelta)); ack.Status != StatusApplied {
				t.Fatalf("policy delta: %+v", ack.Error)
			}
			before := a.Current()
			ack := a.Apply([]byte(tt.payload))
			if ack.Status != StatusRefused || ack.Error == nil {
				t.Fatalf("ack %s, want refused", ack.Status)
			}
			got := *ack.Error
			if got.Code != tt.want.Code || got.Path != tt.want.Path || (tt.want.Op == nil) != (got.Op == nil) ||
				(got.Op != nil && *got.Op != *tt.want.Op) {
				t.Errorf("refusal %+v (op %v), want code %s path %q op %v", got, got.Op, tt.want.Code, tt.want.Path, tt.want.Op)
			}
			if !strings.Contains(got.Message, tt.msg) {
				t.Errorf("message %q, want it to mention %q", got.Message, tt.msg)
			}
			if after := a.Current(); after.Digest != before.Digest || after.Revision != before.Revision {
				t.Errorf("a refused changeset changed the table")
			}
			if len(s.Policy().Levels) != 1 {
				t.Errorf("policy levels %v after a refusal", s.Policy().Levels)
			}
		})
	}
}

// TestPolicyOfRoundTrip: a table listed as snapshot sections builds the
// same table again.
func TestPolicyOfRoundTrip(t *testing.T) {
	cs, err := Decode([]byte(policySnapshot))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := cs.Policy.Table(storetest.Site())
	if err != nil {
		t.Fatal(err)
	}
	again, err := PolicyOf(tb).Table(storetest.Site())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tb, again); diff != "" {
		t.Errorf("round trip (-first +again):\n%s", diff)
	}
	// A site without the doors' readers refuses the door policy's mode
	// only where it needs one: unlocked needs none.
	if _, err := cs.Policy.Table(access.NewSite([]string{"front", "side", "garage"}, nil)); err != nil {
		t.Errorf("an unlocked schedule on a door without a reader: %v", err)
	}
}
