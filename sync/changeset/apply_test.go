package changeset

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
)

var card1 = access.CardKey{Format: "H10301", Facility: 1, Number: 100}

// seedOps are the ops of revision 1 in most tests: u1 with PIN 482913 and
// card c1, u2 with nothing.
var seedOps = []Op{
	{Kind: OpUserUpsert, User: "u1", Name: "Ann", Enabled: true},
	{Kind: OpUserUpsert, User: "u2", Name: "Bob", Enabled: true},
	{Kind: OpPINSet, User: "u1", PIN: "482913"},
	{Kind: OpCredentialAdd, User: "u1", Credential: "c1", Card: card1},
}

func seed(t *testing.T, a *Applier) Ack {
	t.Helper()
	ack := a.Apply(encode(t, Changeset{Revision: 1, Ops: seedOps}))
	if ack.Status != StatusApplied {
		t.Fatalf("seed: %s %+v", ack.Status, ack.Error)
	}
	return ack
}

func pinHolder(s *store.Store, pin string) string {
	h, ok := s.PIN([]byte(pin))
	if !ok {
		return ""
	}
	return h.User.ID
}

func TestApplyOrderingGapsAndDuplicates(t *testing.T) {
	a, s, _ := newApplier(t)
	delta := func(rev, base uint64, ops ...Op) []byte {
		return encode(t, Changeset{Revision: rev, Base: base, Ops: ops})
	}
	upsert := func(id string) Op { return Op{Kind: OpUserUpsert, User: id, Enabled: true} }
	snapshot := func(rev, base uint64, ids ...string) []byte {
		cs := Changeset{Revision: rev, Base: base, Snapshot: true}
		for _, id := range ids {
			cs.Users = append(cs.Users, SnapshotUser{User: access.User{ID: id, Enabled: true}})
		}
		return encode(t, cs)
	}
	steps := []struct {
		name      string
		payload   []byte
		status    Status
		code      Code
		revision  uint64
		users     int
		userAfter string // a user that must exist after the step
	}{
		{name: "first delta", payload: delta(1, 0, upsert("a")), status: StatusApplied, revision: 1, users: 1, userAfter: "a"},
		{name: "the same again", payload: delta(1, 0, upsert("a")), status: StatusDuplicate, revision: 1, users: 1},
		{name: "a gap", payload: delta(3, 2, upsert("c")), status: StatusRefused, code: CodeGap, revision: 1, users: 1},
		{name: "the missing one", payload: delta(2, 1, upsert("b")), status: StatusApplied, revision: 2, users: 2, userAfter: "b"},
		{name: "now the one that had a gap", payload: delta(3, 2, upsert("c")), status: StatusApplied, revision: 3, users: 3, userAfter: "c"},
		{name: "an old revision with other content", payload: delta(2, 1, upsert("x")), status: StatusDuplicate, revision: 3, users: 3},
		{name: "revisions may skip numbers", payload: delta(7, 3, upsert("d")), status: StatusApplied, revision: 7, users: 4},
		{name: "a snapshot applies whatever its base", payload: snapshot(10, 99, "s1", "s2"), status: StatusApplied, revision: 10, users: 2, userAfter: "s1"},
		{name: "a delta on the replaced revision", payload: delta(11, 7, upsert("e")), status: StatusRefused, code: CodeGap, revision: 10, users: 2},
		{name: "a delta on the snapshot", payload: delta(11, 10, upsert("e")), status: StatusApplied, revision: 11, users: 3, userAfter: "e"},
		{name: "an old snapshot", payload: snapshot(5, 0, "old"), status: StatusDuplicate, revision: 11, users: 3},
		{name: "a snapshot at the current revision", payload: snapshot(11, 0), status: StatusDuplicate, revision: 11, users: 3},
	}
	for _, st := range steps {
		ack := a.Apply(st.payload)
		cs, err := Decode(st.payload)
		if err != nil {
			t.Fatalf("%s: Decode: %v", st.name, err)
		}
		got := fmt.Sprintf("%s revision=%d received=%d users=%d", ack.Status, ack.Revision, ack.Received, ack.Counts.Users)
		want := fmt.Sprintf("%s revision=%d received=%d users=%d", st.status, st.revision, cs.Revision, st.users)
		if got != want {
			t.Errorf("%s: got %s (error %+v), want %s", st.name, got, ack.Error, want)
		}
		var code Code
		if ack.Error != nil {
			code = ack.Error.Code
		}
		if code != st.code {
			t.Errorf("%s: got code %q, want %q", st.name, code, st.code)
		}
		if r := s.Revision(); r != ack.Revision {
			t.Errorf("%s: store at revision %d, ack says %d", st.name, r, ack.Revision)
		}
		if st.userAfter != "" {
			if _, err := s.User(st.userAfter); err != nil {
				t.Errorf("%s: user %q: %v", st.name, st.userAfter, err)
			}
		}
	}
}

func TestApplyGapNamesWhereToResume(t *testing.T) {
	a, _, _ := newApplier(t)
	seed(t, a)
	ack := a.Apply(encode(t, Changeset{Revision: 9, Base: 8, Ops: []Op{{Kind: OpPINClear, User: "u1"}}}))
	want := Ack{Status: StatusRefused, Revision: 1, Received: 9, Error: &Error{Code: CodeGap, Path: "base"}}
	if diff := cmp.Diff(want, ack, cmpopts.IgnoreFields(Ack{}, "Time", "Counts", "Digest"),
		cmpopts.IgnoreFields(Error{}, "Message"), cmpopts.IgnoreUnexported(Error{})); diff != "" {
		t.Errorf("gap ack (-want +got):\n%s", diff)
	}
	if !strings.Contains(ack.Error.Message, "resend from 1") {
		t.Errorf("gap message %q does not say where to resume", ack.Error.Message)
	}
}

func TestApplyOps(t *testing.T) {
	a, s, _ := newApplier(t)
	seed(t, a)
	if got := pinHolder(s, "482913"); got != "u1" {
		t.Fatalf("after seed: PIN held by %q, want u1", got)
	}
	if h, ok := s.Card(card1); !ok || h.User.ID != "u1" || h.Credential != "c1" {
		t.Fatalf("after seed: card held by %+v %v, want u1/c1", h, ok)
	}
	// One changeset that only works in order: u1's PIN moves to u2, c1
	// goes and comes back on u2, u1 is renamed and then deleted.
	ack := a.Apply(encode(t, Changeset{Revision: 2, Base: 1, Ops: []Op{
		{Kind: OpPINClear, User: "u1"},
		{Kind: OpPINSet, User: "u2", PIN: "482913"},
		{Kind: OpCredentialRemove, Credential: "c1"},
		{Kind: OpCredentialAdd, User: "u2", Credential: "c1", Card: card1},
		{Kind: OpUserUpsert, User: "u1", Name: "Ann B.", Enabled: false},
		{Kind: OpUserDelete, User: "u1"},
		{Kind: OpUserUpsert, User: "u2", Name: "Bob", Enabled: true},
	}}))
	if ack.Status != StatusApplied {
		t.Fatalf("apply: %s %+v", ack.Status, ack.Error)
	}
	if got := pinHolder(s, "482913"); got != "u2" {
		t.Errorf("PIN held by %q, want u2", got)
	}
	if h, ok := s.Card(card1); !ok || h.User.ID != "u2" {
		t.Errorf("card held by %+v %v, want u2", h, ok)
	}
	if _, err := s.User("u1"); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("u1 after user.delete: got %v, want ErrNotFound", err)
	}
	want := Counts{Users: 1, Credentials: 1, PINs: 1}
	if ack.Counts != want {
		t.Errorf("counts: got %+v, want %+v", ack.Counts, want)
	}

	// The done-when of the issue: clearing a PIN makes it fail at once.
	ack = a.Apply(encode(t, Changeset{Revision: 3, Base: 2, Ops: []Op{{Kind: OpPINClear, User: "u2"}}}))
	if ack.Status != StatusApplied || ack.Revision != 3 {
		t.Fatalf("pin.clear: %s at %d %+v", ack.Status, ack.Revision, ack.Error)
	}
	if got := pinHolder(s, "482913"); got != "" {
		t.Errorf("cleared PIN still held by %q", got)
	}
}

// TestApplyRefusedChangesNothing sends bad changesets to a seeded table:
// each must be refused with the right code, op and path, and leave the
// revision, the digest and the PIN, card and user lookups as they were.
func TestApplyRefusedChangesNothing(t *testing.T) {
	delta := func(ops ...Op) string {
		b, err := Encode(Changeset{Revision: 2, Base: 1, Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	u3 := Op{Kind: OpUserUpsert, User: "u3", Enabled: true}
	tests := []struct {
		name    string
		payload string
		want    Error
	}{
		{name: "malformed JSON", payload: `{"revision":2,"base":1,"ops":[`, want: Error{Code: CodeMalformed}},
		{name: "unknown op", payload: `{"revision":2,"base":1,"ops":[{"op":"user.upsert","user":"u3","enabled":true},{"op":"pin.reset","user":"u1"}]}`,
			want: Error{Code: CodeUnknownOp, Op: intp(1), Path: "ops[1].op"}},
		{name: "oversized", payload: `{"revision":2,"snapshot":true,"users":[]}` + strings.Repeat(" ", MaxPayload), want: Error{Code: CodeTooLarge}},
		{name: "invalid PIN", payload: delta(u3, Op{Kind: OpPINSet, User: "u3", PIN: "12"}), want: Error{Code: CodeInvalid, Op: intp(1), Path: "ops[1].pin"}},
		{name: "unknown user", payload: delta(u3, Op{Kind: OpPINSet, User: "ghost", PIN: "771234"}), want: Error{Code: CodeNotFound, Op: intp(1), Path: "ops[1]"}},
		{name: "PIN held by another user", payload: delta(u3, Op{Kind: OpPINSet, User: "u3", PIN: "482913"}), want: Error{Code: CodePINInUse, Op: intp(1), Path: "ops[1].pin"}},
		{name: "PIN taken within the changeset", payload: delta(u3, Op{Kind: OpPINSet, User: "u3", PIN: "771234"}, Op{Kind: OpPINSet, User: "u2", PIN: "771234"}),
			want: Error{Code: CodePINInUse, Op: intp(2), Path: "ops[2].pin"}},
		{name: "card held by another user", payload: delta(u3, Op{Kind: OpCredentialAdd, User: "u2", Credential: "c9", Card: card1}), want: Error{Code: CodeCredentialInUse, Op: intp(1), Path: "ops[1]"}},
		{name: "credential id in use", payload: delta(u3, Op{Kind: OpCredentialAdd, User: "u2", Credential: "c1", Card: access.CardKey{Format: "H10301", Facility: 1, Number: 9}}), want: Error{Code: CodeCredentialInUse, Op: intp(1), Path: "ops[1]"}},
		{name: "card for an unknown user", payload: delta(u3, Op{Kind: OpCredentialAdd, User: "ghost", Credential: "c9", Card: access.CardKey{Format: "H10301", Facility: 1, Number: 9}}), want: Error{Code: CodeNotFound, Op: intp(1), Path: "ops[1]"}},
		{name: "remove an unknown credential", payload: delta(u3, Op{Kind: OpCredentialRemove, Credential: "c9"}), want: Error{Code: CodeNotFound, Op: intp(1), Path: "ops[1]"}},
		{name: "delete an unknown user", payload: delta(u3, Op{Kind: OpUserDelete, User: "ghost"}), want: Error{Code: CodeNotFound, Op: intp(1), Path: "ops[1]"}},
		{name: "clear the PIN of a deleted user", payload: delta(u3, Op{Kind: OpUserDelete, User: "u1"}, Op{Kind: OpPINClear, User: "u1"}), want: Error{Code: CodeNotFound, Op: intp(2), Path: "ops[2]"}},
		{name: "generate for an unknown user", payload: delta(u3, Op{Kind: OpPINGenerate, User: "ghost", Length: 6}), want: Error{Code: CodeNotFound, Op: intp(1), Path: "ops[1]"}},
		{name: "snapshot giving a PIN twice", payload: `{"revision":2,"snapshot":true,"users":[{"id":"a","enabled":true,"pin":"771234"},{"id":"b","enabled":true,"pin":"771234"}]}`,
			want: Error{Code: CodePINInUse, Path: "users[1].pin"}},
		{name: "snapshot giving a card twice", payload: `{"revision":2,"snapshot":true,"users":[{"id":"a","enabled":true,"credentials":[{"id":"k1","card":{"format":"H10301","facility":1,"number":5}}]},{"id":"b","enabled":true,"credentials":[{"id":"k2","card":{"format":"H10301","facility":1,"number":5}}]}]}`,
			want: Error{Code: CodeCredentialInUse, Path: "users[1].credentials"}},
		{name: "snapshot listing a user twice", payload: `{"revision":2,"snapshot":true,"users":[{"id":"a","enabled":true},{"id":"b","enabled":true},{"id":"a","enabled":true}]}`,
			want: Error{Code: CodeInvalid, Path: "users[2].id"}},
		{name: "snapshot with a bad user at the end", payload: `{"revision":2,"snapshot":true,"users":[{"id":"a","enabled":true},{"id":"b","enabled":true},{"id":"c","enabled":true,"pin":"12"}]}`,
			want: Error{Code: CodeInvalid, Path: "users[2].pin"}},
		{name: "snapshot with a PIN too easy to guess", payload: `{"revision":2,"snapshot":true,"users":[{"id":"a","enabled":true},{"id":"b","enabled":true,"pin":"20002000"}]}`,
			want: Error{Code: CodeInvalid, Path: "users[1].pin"}},
		{name: "snapshot with a misspelt field at the end", payload: `{"revision":2,"snapshot":true,"users":[{"id":"a","enabled":true},{"id":"b","enabled":true,"pni":"771234"}]}`,
			want: Error{Code: CodeMalformed, Path: "users[1]"}},
		{name: "snapshot that is not valid JSON at the end", payload: `{"revision":2,"snapshot":true,"users":[{"id":"a","enabled":true},{"id":"b",]}`,
			want: Error{Code: CodeMalformed}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, s, logs := newApplier(t)
			before := seed(t, a)
			ack := a.Apply([]byte(tc.payload))
			if ack.Status != StatusRefused || ack.Error == nil {
				t.Fatalf("got %s %+v, want refused", ack.Status, ack.Error)
			}
			opts := cmp.Options{cmpopts.IgnoreFields(Error{}, "Message"), cmpopts.IgnoreUnexported(Error{})}
			if tc.want.Path == "" {
				opts = append(opts, cmpopts.IgnoreFields(Error{}, "Path"))
			}
			if diff := cmp.Diff(tc.want, *ack.Error, opts...); diff != "" {
				t.Errorf("error %q (-want +got):\n%s", ack.Error, diff)
			}
			if ack.Revision != 1 || s.Revision() != 1 {
				t.Errorf("revision: ack %d, store %d, want 1", ack.Revision, s.Revision())
			}
			if ack.Digest != before.Digest || ack.Counts != before.Counts {
				t.Errorf("table changed: digest %s counts %+v, was %s %+v", ack.Digest, ack.Counts, before.Digest, before.Counts)
			}
			if got := pinHolder(s, "482913"); got != "u1" {
				t.Errorf("PIN 482913 held by %q, want u1", got)
			}
			if got := pinHolder(s, "771234"); got != "" {
				t.Errorf("PIN 771234 held by %q, want nobody", got)
			}
			if h, ok := s.Card(card1); !ok || h.User.ID != "u1" {
				t.Errorf("card held by %+v %v, want u1", h, ok)
			}
			for _, id := range []string{"u3", "a"} {
				if _, err := s.User(id); !errors.Is(err, access.ErrNotFound) {
					t.Errorf("user %q: got %v, want ErrNotFound", id, err)
				}
			}
			for _, pin := range []string{"482913", "771234"} {
				if strings.Contains(logs.String(), pin) {
					t.Errorf("the log contains PIN %s:\n%s", pin, logs)
				}
				if strings.Contains(ack.Error.Message, pin) {
					t.Errorf("the error message contains PIN %s: %s", pin, ack.Error.Message)
				}
			}
			// The gateway still takes the next good changeset.
			if ack := a.Apply(encode(t, Changeset{Revision: 2, Base: 1, Ops: []Op{u3}})); ack.Status != StatusApplied {
				t.Errorf("next changeset: %s %+v", ack.Status, ack.Error)
			}
		})
	}
}

func TestApplyGeneratedPINs(t *testing.T) {
	a, s, logs := newApplier(t)
	seed(t, a)
	payload := encode(t, Changeset{Revision: 2, Base: 1, Ops: []Op{
		{Kind: OpUserUpsert, User: "u3", Enabled: true},
		{Kind: OpPINGenerate, User: "u2", Length: 6},
		{Kind: OpPINGenerate, User: "u3", Length: 8},
	}})
	raw := handleChanges(a, payload)
	ack := decodeAck(t, raw)
	if ack.Status != StatusApplied {
		t.Fatalf("apply: %s %+v", ack.Status, ack.Error)
	}
	want := []GeneratedPIN{{Op: 1, User: "u2"}, {Op: 2, User: "u3"}}
	if diff := cmp.Diff(want, ack.PINs, cmpopts.IgnoreFields(GeneratedPIN{}, "PIN")); diff != "" {
		t.Fatalf("generated PINs (-want +got):\n%s", diff)
	}
	for i, g := range ack.PINs {
		if err := access.ValidatePIN(g.PIN); err != nil || len(g.PIN) != []int{6, 8}[i] {
			t.Errorf("pin for %s: %d digits (%v)", g.User, len(g.PIN), err)
		}
		if got := pinHolder(s, g.PIN); got != g.User {
			t.Errorf("generated PIN for %s is held by %q", g.User, got)
		}
		if strings.Contains(logs.String(), g.PIN) {
			t.Errorf("the log contains the PIN generated for %s", g.User)
		}
	}
	// The PINs appear in that ack only.
	for _, again := range [][]byte{handleChanges(a, payload), a.CurrentAck()} {
		for _, g := range ack.PINs {
			if strings.Contains(string(again), g.PIN) {
				t.Errorf("a later ack contains the PIN generated for %s: %s", g.User, again)
			}
		}
	}
	if dup := decodeAck(t, handleChanges(a, payload)); dup.Status != StatusDuplicate || dup.PINs != nil {
		t.Errorf("resend: got %s with PINs %v, want a duplicate without", dup.Status, dup.PINs)
	}
}

func TestApplySnapshotReplacesTheTable(t *testing.T) {
	a, s, _ := newApplier(t)
	seed(t, a)
	newCard := access.CardKey{Format: "H10301", Facility: 2, Number: 7}
	snap := Changeset{Revision: 5, Snapshot: true, Users: []SnapshotUser{
		{User: access.User{ID: "u2", Name: "Bob", Enabled: true}, PIN: "550123",
			Credentials: []access.Credential{{ID: "c2", Card: newCard}}},
		{User: access.User{ID: "u9", Name: "Ivy", Enabled: false, ValidFrom: testTime}},
	}}
	ack := a.Apply(encode(t, snap))
	if ack.Status != StatusApplied || ack.Revision != 5 {
		t.Fatalf("snapshot: %s at %d %+v", ack.Status, ack.Revision, ack.Error)
	}
	if want := (Counts{Users: 2, Credentials: 1, PINs: 1}); ack.Counts != want {
		t.Errorf("counts: got %+v, want %+v", ack.Counts, want)
	}
	if _, err := s.User("u1"); !errors.Is(err, access.ErrNotFound) {
		t.Errorf("u1, not in the snapshot: got %v, want ErrNotFound", err)
	}
	if got := pinHolder(s, "482913"); got != "" {
		t.Errorf("u1's old PIN is held by %q", got)
	}
	if _, ok := s.Card(card1); ok {
		t.Errorf("u1's old card still matches")
	}
	if got := pinHolder(s, "550123"); got != "u2" {
		t.Errorf("u2's new PIN is held by %q", got)
	}
	if h, ok := s.Card(newCard); !ok || h.User.ID != "u2" || h.Credential != "c2" {
		t.Errorf("new card: %+v %v", h, ok)
	}
	rec, err := s.User("u9")
	if err != nil || !rec.User.ValidFrom.Equal(testTime) || rec.User.Enabled {
		t.Errorf("u9: %+v %v", rec, err)
	}

	// The digest is the table's content: the same table built by deltas on
	// another gateway has the same digest.
	b, _, _ := newApplier(t)
	other := b.Apply(encode(t, Changeset{Revision: 3, Ops: []Op{
		{Kind: OpUserUpsert, User: "u9", Name: "Ivy", ValidFrom: testTime},
		{Kind: OpUserUpsert, User: "u2", Name: "Bob", Enabled: true},
		{Kind: OpCredentialAdd, User: "u2", Credential: "c2", Card: newCard},
		{Kind: OpPINSet, User: "u2", PIN: "550123"},
	}}))
	if other.Status != StatusApplied {
		t.Fatalf("deltas: %+v", other.Error)
	}
	if other.Digest != ack.Digest {
		t.Errorf("same table, different digests: snapshot %s, deltas %s", ack.Digest, other.Digest)
	}
	if ack.Digest == strings.Repeat("0", 64) || len(ack.Digest) != 64 {
		t.Errorf("digest %q is not the hex of a non-empty table's hash", ack.Digest)
	}

	// An empty snapshot empties the table.
	ack = a.Apply([]byte(`{"revision":6,"snapshot":true,"users":[]}`))
	if ack.Status != StatusApplied || ack.Counts != (Counts{}) || ack.Digest != strings.Repeat("0", 64) {
		t.Errorf("empty snapshot: %s %+v digest %s", ack.Status, ack.Counts, ack.Digest)
	}
}

func TestCurrent(t *testing.T) {
	a, _, _ := newApplier(t)
	want := Ack{Status: StatusCurrent, Time: testTime, Digest: strings.Repeat("0", 64)}
	if diff := cmp.Diff(want, a.Current()); diff != "" {
		t.Errorf("Current of an empty gateway (-want +got):\n%s", diff)
	}
	applied := seed(t, a)
	cur := a.Current()
	applied.Status, applied.Received = StatusCurrent, 0
	if diff := cmp.Diff(applied, cur); diff != "" {
		t.Errorf("Current after the seed (-want +got):\n%s", diff)
	}
}

// TestAckJSON pins the wire form of the ack: field names, what is omitted
// and when.
func TestAckJSON(t *testing.T) {
	a, _, _ := newApplier(t)
	seed(t, a)
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{
			name:    "applied with a generated PIN",
			payload: encode(t, Changeset{Revision: 2, Base: 1, Ops: []Op{{Kind: OpPINGenerate, User: "u2", Length: 4}}}),
			want:    `{"status":"applied","revision":2,"received":2,"time":"2026-03-01T08:00:00Z","counts":{"users":2,"credentials":1,"pins":2},"digest":"D","pins":[{"op":0,"user":"u2","pin":"P"}]}`,
		},
		{
			name:    "duplicate",
			payload: encode(t, Changeset{Revision: 2, Base: 1, Ops: []Op{{Kind: OpPINGenerate, User: "u2", Length: 4}}}),
			want:    `{"status":"duplicate","revision":2,"received":2,"time":"2026-03-01T08:00:00Z","counts":{"users":2,"credentials":1,"pins":2},"digest":"D"}`,
		},
		{
			name:    "refused at an op",
			payload: encode(t, Changeset{Revision: 3, Base: 2, Ops: []Op{{Kind: OpPINClear, User: "u2"}, {Kind: OpPINClear, User: "nobody"}}}),
			want:    `{"status":"refused","revision":2,"received":3,"time":"2026-03-01T08:00:00Z","counts":{"users":2,"credentials":1,"pins":2},"digest":"D","error":{"code":"not_found","op":1,"path":"ops[1]","message":"pin.clear user \"nobody\": clear pin for \"nobody\": not found"}}`,
		},
		{
			name:    "refused before the revision could be read",
			payload: []byte(`nonsense`),
			want:    `{"status":"refused","revision":2,"time":"2026-03-01T08:00:00Z","counts":{"users":2,"credentials":1,"pins":2},"digest":"D","error":{"code":"malformed","message":"not valid JSON at byte 1: invalid character 'o' in literal null (expecting 'u')"}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := handleChanges(a, tc.payload)
			var ack Ack
			if err := json.Unmarshal(raw, &ack); err != nil {
				t.Fatal(err)
			}
			got := strings.Replace(string(raw), ack.Digest, "D", 1)
			if len(ack.PINs) == 1 {
				got = strings.Replace(got, `"pin":"`+ack.PINs[0].PIN+`"`, `"pin":"P"`, 1)
			}
			if got != tc.want {
				t.Errorf("ack JSON\n got %s\nwant %s", got, tc.want)
			}
		})
	}
	if got, want := string(a.CurrentAck()), `{"status":"current","revision":2,`; !strings.HasPrefix(got, want) {
		t.Errorf("CurrentAck: got %s, want it to start with %s", got, want)
	}
}

// TestApplyConcurrent has several portals (or transports) race to apply
// the same chain of changesets: every revision takes effect exactly once.
func TestApplyConcurrent(t *testing.T) {
	a, s, _ := newApplier(t)
	const revisions, workers = 30, 6
	payloads := make([][]byte, revisions+1)
	for r := 1; r <= revisions; r++ {
		payloads[r] = encode(t, Changeset{Revision: uint64(r), Base: uint64(r - 1), Ops: []Op{
			{Kind: OpUserUpsert, User: fmt.Sprintf("u%d", r), Enabled: true},
		}})
	}
	var mu sync.Mutex
	applied := make(map[int]int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for r := 1; r <= revisions; r++ {
				ack := a.Apply(payloads[r])
				switch ack.Status {
				case StatusApplied:
					mu.Lock()
					applied[r]++
					mu.Unlock()
				case StatusDuplicate:
				default:
					t.Errorf("revision %d: %s %+v", r, ack.Status, ack.Error)
					return
				}
			}
		})
		wg.Go(func() { a.Current() })
	}
	wg.Wait()
	for r := 1; r <= revisions; r++ {
		if applied[r] != 1 {
			t.Errorf("revision %d applied %d times, want once", r, applied[r])
		}
	}
	if got := s.Revision(); got != revisions {
		t.Errorf("revision %d, want %d", got, revisions)
	}
	if got := s.Counts().Users; got != revisions {
		t.Errorf("%d users, want %d", got, revisions)
	}
}

// FuzzApply applies arbitrary payloads to a real store, reset before each
// to revision 10 with a small table. Whatever the payload: no panic, no
// internal error, and a changeset that is not applied changes nothing,
// while one that is applied moves the revision to its own.
func FuzzApply(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add([]byte(tc.payload))
	}
	for _, tc := range decodeErrorCases {
		f.Add([]byte(tc.payload))
	}
	f.Add([]byte(`{"revision":11,"base":10,"ops":[{"op":"pin.set","user":"u2","pin":"482913"}]}`))
	f.Add([]byte(`{"revision":11,"base":10,"ops":[{"op":"pin.generate","user":"u2","length":4},{"op":"pin.clear","user":"u1"},{"op":"credential.remove","id":"c1"}]}`))
	f.Add([]byte(`{"revision":11,"base":10,"ops":[{"op":"credential.add","user":"u2","id":"c2","card":{"format":"H10301","facility":1,"number":100}}]}`))
	f.Add([]byte(`{"revision":11,"base":10,"ops":[{"op":"user.delete","user":"u1"},{"op":"pin.set","user":"u2","pin":"482913"}]}`))
	f.Add([]byte(`{"revision":12,"snapshot":true,"users":[{"id":"u1","enabled":true,"pin":"482913"},{"id":"u5","enabled":true,"pin":"482914"}]}`))

	dir := f.TempDir()
	s, err := store.Open(storeOptions(dir))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	a := New(s, fixedNow, nil)
	baseline := []store.SnapshotUser{
		{User: access.User{ID: "u1", Name: "Ann", Enabled: true}, PIN: "482913",
			Credentials: []access.Credential{{ID: "c1", Card: card1}}},
		{User: access.User{ID: "u2", Name: "Bob", Enabled: true}},
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if err := s.ReplaceAll(10, nil, baseline); err != nil {
			t.Fatalf("reset: %v", err)
		}
		before := a.Current()
		ack := a.Apply(payload)
		if ack.Revision != s.Revision() {
			t.Fatalf("ack revision %d, store %d", ack.Revision, s.Revision())
		}
		switch ack.Status {
		case StatusApplied:
			cs, err := Decode(payload)
			if err != nil {
				t.Fatalf("applied a payload Decode refuses: %v", err)
			}
			if ack.Revision != cs.Revision || ack.Received != cs.Revision {
				t.Fatalf("applied revision %d, ack says %d (received %d)", cs.Revision, ack.Revision, ack.Received)
			}
			generate := 0
			for _, op := range cs.Ops {
				if op.Kind == OpPINGenerate {
					generate++
				}
			}
			if len(ack.PINs) != generate {
				t.Fatalf("%d pin.generate ops, %d PINs in the ack", generate, len(ack.PINs))
			}
		case StatusRefused, StatusDuplicate:
			if ack.Revision != before.Revision || ack.Digest != before.Digest || ack.Counts != before.Counts {
				t.Fatalf("%s changeset changed the table: %+v, was %+v", ack.Status, ack, before)
			}
			if ack.Status == StatusRefused && (ack.Error == nil || ack.Error.Code == CodeInternal) {
				t.Fatalf("refused with %+v", ack.Error)
			}
			if len(ack.PINs) != 0 {
				t.Fatalf("%s ack carries PINs", ack.Status)
			}
		default:
			t.Fatalf("status %q", ack.Status)
		}
	})
}

// TestMaxOpsFitsOneTransaction: a delta touches at most one user per op,
// plus the revision; MaxOps must leave that within one Badger transaction.
func TestMaxOpsFitsOneTransaction(t *testing.T) {
	_, s, _ := newApplier(t)
	if got := s.MaxTxnEntries(); MaxOps+1 > got {
		t.Errorf("MaxOps %d (+1 for the revision) is more than the %d entries of one store transaction", MaxOps, got)
	}
}

func TestApplyOnAClosedStore(t *testing.T) {
	a, s, _ := newApplier(t)
	seed(t, a)
	s.Close()
	for _, p := range [][]byte{
		encode(t, Changeset{Revision: 2, Base: 1, Ops: []Op{{Kind: OpPINClear, User: "u1"}}}),
		[]byte(`{"revision":2,"snapshot":true,"users":[]}`),
	} {
		ack := a.Apply(p)
		if ack.Status != StatusRefused || ack.Error.Code != CodeInternal {
			t.Errorf("%s: got %s %+v, want refused internal", p, ack.Status, ack.Error)
		}
	}
}

// TestDecisionsNeverSeeHalfAChangeset moves a PIN and a card back and forth
// between two users, one changeset per move, while doors look them up: at
// every moment exactly one of the two holds each, never neither.
func TestDecisionsNeverSeeHalfAChangeset(t *testing.T) {
	a, s, _ := newApplier(t)
	seed(t, a)
	const moves = 40
	done := make(chan struct{})
	var wg sync.WaitGroup
	var lookups [2]atomic.Int64
	for r := range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				lookups[r].Add(1)
				if got := pinHolder(s, "482913"); got != "u1" && got != "u2" {
					t.Errorf("PIN held by %q between changesets", got)
					return
				}
				if h, ok := s.Card(card1); !ok || (h.User.ID != "u1" && h.User.ID != "u2") {
					t.Errorf("card held by %+v %v between changesets", h, ok)
					return
				}
			}
		})
	}
	from, to := "u1", "u2"
	// At least moves changesets, and more until both doors have looked.
	ran := func() bool { return lookups[0].Load() > 0 && lookups[1].Load() > 0 }
	for rev := uint64(2); rev < 2+moves || !ran(); rev++ {
		ack := a.Apply(encode(t, Changeset{Revision: rev, Base: rev - 1, Ops: []Op{
			{Kind: OpPINClear, User: from},
			{Kind: OpPINSet, User: to, PIN: "482913"},
			{Kind: OpCredentialRemove, Credential: "c1"},
			{Kind: OpCredentialAdd, User: to, Credential: "c1", Card: card1},
		}}))
		if ack.Status != StatusApplied {
			t.Fatalf("move %d: %s %+v", rev, ack.Status, ack.Error)
		}
		from, to = to, from
	}
	close(done)
	wg.Wait()
}
