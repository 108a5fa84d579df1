package portal_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/portal"
)

func TestDiff(t *testing.T) {
	ann := user("ann", "Ann", "482913", 100)
	bob := user("bob", "Bob", "507316", 200)
	tests := []struct {
		name     string
		old, new []portal.User
		want     []string // op.String() of each op
	}{
		{"nothing to do", []portal.User{ann, bob}, []portal.User{bob, ann}, nil},
		{"add a user", []portal.User{ann}, []portal.User{ann, bob}, []string{
			`user.upsert user "bob"`, `pin.set user "bob"`, `credential.add "c-bob-0" for user "bob"`}},
		{"delete a user", []portal.User{ann, bob}, []portal.User{ann}, []string{`user.delete user "bob"`}},
		{"rename", []portal.User{ann}, []portal.User{user("ann", "Ann Lee", "482913", 100)}, []string{`user.upsert user "ann"`}},
		{"disable", []portal.User{ann}, []portal.User{func() portal.User { u := ann; u.User.Enabled = false; return u }()},
			[]string{`user.upsert user "ann"`}},
		{"new validity", []portal.User{ann}, []portal.User{func() portal.User {
			u := ann
			u.User.ValidTo = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
			return u
		}()}, []string{`user.upsert user "ann"`}},
		{"same validity in another zone", []portal.User{func() portal.User {
			u := ann
			u.User.ValidTo = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
			return u
		}()}, []portal.User{func() portal.User {
			u := ann
			u.User.ValidTo = time.Date(2027, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600))
			return u
		}()}, nil},
		{"clear a PIN", []portal.User{ann}, []portal.User{user("ann", "Ann", "", 100)}, []string{`pin.clear user "ann"`}},
		{"change a PIN", []portal.User{ann}, []portal.User{user("ann", "Ann", "1357", 100)}, []string{
			`pin.clear user "ann"`, `pin.set user "ann"`}},
		{"swap PINs", []portal.User{ann, bob}, []portal.User{user("ann", "Ann", "507316", 100), user("bob", "Bob", "482913", 200)}, []string{
			`pin.clear user "ann"`, `pin.clear user "bob"`, `pin.set user "ann"`, `pin.set user "bob"`}},
		{"a PIN moves to a new user", []portal.User{ann}, []portal.User{user("ann", "Ann", "", 100), user("cy", "Cy", "482913")}, []string{
			`pin.clear user "ann"`, `user.upsert user "cy"`, `pin.set user "cy"`}},
		{"a card moves from a deleted user", []portal.User{ann}, []portal.User{user("cy", "Cy", "", 100)}, []string{
			`user.delete user "ann"`, `user.upsert user "cy"`, `credential.add "c-cy-0" for user "cy"`}},
		{"a card is replaced", []portal.User{ann}, []portal.User{user("ann", "Ann", "482913", 101)}, []string{
			`credential.remove "c-ann-0"`, `credential.add "c-ann-0" for user "ann"`}},
		{"a credential id moves to another user", []portal.User{ann, user("bob", "Bob", "")},
			[]portal.User{user("ann", "Ann", "482913"), {User: bob.User, Credentials: ann.Credentials}}, []string{
				`credential.remove "c-ann-0"`, `credential.add "c-ann-0" for user "bob"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := portal.Diff(tc.old, tc.new)
			if err != nil {
				t.Fatalf("Diff() = %v", err)
			}
			var got []string
			for _, op := range ops {
				got = append(got, op.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Diff() ops (-want +got):\n%s", diff)
			}
			// And the gateway takes them: it ends up holding new.
			g := newGateway(t)
			if ack := g.apply(portal.Snapshot(1, tc.old)); ack.Status != changeset.StatusApplied {
				t.Fatalf("snapshot of old: %+v", ack)
			}
			ack := g.apply(changeset.Changeset{Revision: 2, Base: 1, Ops: ops})
			if ack.Status != changeset.StatusApplied {
				t.Fatalf("delta refused: %+v", ack.Error)
			}
			if ack.Digest != portal.Digest(tc.new) {
				t.Errorf("digest after the delta %s, want Digest(new) %s", ack.Digest, portal.Digest(tc.new))
			}
		})
	}
}

func TestDiffRefuses(t *testing.T) {
	ann := user("ann", "Ann", "", 100)
	noID := ann
	noID.Credentials = []access.Credential{{Card: access.CardKey{Format: "H10301", Number: 1}}}
	tests := []struct {
		name     string
		old, new []portal.User
		want     string
	}{
		{"a user twice", nil, []portal.User{ann, ann}, `portal: diff: new users[1]: user "ann" is listed twice`},
		{"a credential twice", []portal.User{ann, {User: access.User{ID: "bob"}, Credentials: ann.Credentials}}, nil,
			`portal: diff: old users[1].credentials[0]: credential "c-ann-0" is also user "ann"'s`},
		{"a credential without id", nil, []portal.User{noID}, `portal: diff: new users[0].credentials[0]: a credential needs an id`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := portal.Diff(tc.old, tc.new)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Diff() error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDeltaFallsBackToSnapshot(t *testing.T) {
	var many []portal.User
	for i := range changeset.MaxOps + 1 {
		many = append(many, user(fmt.Sprintf("u%04d", i), "", ""))
	}
	tests := []struct {
		name         string
		old, new     []portal.User
		wantSnapshot bool
	}{
		{"small", nil, many[:10], false},
		{"as many ops as a delta may carry", nil, many[:changeset.MaxOps], false},
		{"one op more", nil, many, true},
		{"more bytes than a delta may carry", nil, func() []portal.User {
			// Names past the gateway's limit, but it is the byte count
			// that Delta must notice here.
			var us []portal.User
			for i := range 600 {
				us = append(us, user(fmt.Sprintf("u%04d", i), strings.Repeat("n", 2000), ""))
			}
			return us
		}(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := portal.Delta(4, 5, tc.old, tc.new)
			if err != nil {
				t.Fatal(err)
			}
			if cs.Snapshot != tc.wantSnapshot || cs.Revision != 5 {
				t.Fatalf("Delta() snapshot %v revision %d, want snapshot %v revision 5", cs.Snapshot, cs.Revision, tc.wantSnapshot)
			}
			if !cs.Snapshot && cs.Base != 4 {
				t.Errorf("delta base %d, want 4", cs.Base)
			}
		})
	}
}

func TestDigestOfEmptyTable(t *testing.T) {
	if got, want := portal.Digest(nil), strings.Repeat("0", 64); got != want {
		t.Errorf("Digest(nil) = %s, want %s", got, want)
	}
}

// TestDiffProperty draws pairs of tables from a small world of ids, PINs
// and cards, so that PINs and cards often move between users, and checks
// against a real gateway store that the delta applies and leaves exactly
// the new table (by digest and by content).
func TestDiffProperty(t *testing.T) {
	g := newGateway(t)
	rev := uint64(0)
	ids := []string{"ann", "bob", "cy", "dee", "eve"}
	pins := []string{"", "", "482913", "507316", "1357", "24680"}
	table := func(rt *rapid.T, label string) []portal.User {
		n := rapid.IntRange(0, len(ids)).Draw(rt, label+" users")
		chosen := rapid.Permutation(ids).Draw(rt, label+" ids")[:n]
		pinOrder := rapid.Permutation(pins[2:]).Draw(rt, label+" pins")
		cardOrder := rapid.Permutation([]uint64{1, 2, 3, 4, 5, 6}).Draw(rt, label+" cards")
		var users []portal.User
		for i, id := range chosen {
			u := portal.User{User: access.User{
				ID: id, Name: rapid.SampledFrom([]string{"", "A", "B"}).Draw(rt, label+" name"),
				Enabled: rapid.Bool().Draw(rt, label+" enabled"),
			}}
			if rapid.Bool().Draw(rt, label+" has pin") && i < len(pinOrder) {
				u.PIN = pinOrder[i]
			}
			if rapid.Bool().Draw(rt, label+" valid_to") {
				u.User.ValidTo = testStart.Add(time.Duration(rapid.IntRange(1, 3).Draw(rt, label+" days")) * 24 * time.Hour)
			}
			// Credential ids are per card number, so a card keeps its id
			// when it moves and the id moves with it.
			if i < len(cardOrder) && rapid.Bool().Draw(rt, label+" has card") {
				num := cardOrder[i]
				u.Credentials = []access.Credential{{ID: fmt.Sprintf("card%d", num), Card: access.CardKey{Format: "H10301", Facility: 1, Number: num}}}
			}
			users = append(users, u)
		}
		return users
	}
	rapid.Check(t, func(rt *rapid.T) {
		old, new := table(rt, "old"), table(rt, "new")
		rev++
		if ack := g.apply(portal.Snapshot(rev, old)); ack.Status != changeset.StatusApplied || ack.Digest != portal.Digest(old) {
			rt.Fatalf("snapshot of old: %s %+v; digest %s, want %s", ack.Status, ack.Error, ack.Digest, portal.Digest(old))
		}
		cs, err := portal.Delta(rev, rev+1, old, new)
		if err != nil {
			rt.Fatal(err)
		}
		rev++
		ack := g.apply(cs)
		if ack.Status != changeset.StatusApplied {
			rt.Fatalf("delta refused: %+v (ops %v)", ack.Error, cs.Ops)
		}
		if ack.Digest != portal.Digest(new) {
			rt.Fatalf("digest after the delta %s, want %s (ops %v)", ack.Digest, portal.Digest(new), cs.Ops)
		}
		if again, _ := portal.Diff(new, new); len(again) != 0 {
			rt.Fatalf("Diff(new, new) = %v, want no ops", again)
		}
	})
}
