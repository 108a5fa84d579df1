package changeset

import (
	"testing"

	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gateway/store/storetest"
)

// TestCardsNoReaderCanPresent: the portal could enrol a card in a format
// no reader decodes, or that does not fit its format, and it could never
// open a door (issue 12, finding 9). With the gateway's card rule in the
// store (gpio/wiegand's, via store.Options.CheckCard), such a changeset is
// refused whole with the field's path.
func TestCardsNoReaderCanPresent(t *testing.T) {
	o := storeOptions(t.TempDir())
	o.CheckCard = storetest.CheckCard
	s, err := store.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := New(s, fixedNow, nil)
	if ack := a.Apply([]byte(`{"revision":1,"base":0,"ops":[{"op":"user.upsert","user":"u1","name":"Ann","enabled":true}]}`)); ack.Status != StatusApplied {
		t.Fatalf("setup: %+v", ack)
	}
	tests := []struct {
		name    string
		payload string
		path    string
	}{
		{"delta, unknown format", `{"revision":2,"base":1,"ops":[{"op":"credential.add","user":"u1","id":"c1","card":{"format":"FOO","facility":1,"number":1}}]}`, "ops[0].card.format"},
		{"delta, wrong case", `{"revision":2,"base":1,"ops":[{"op":"credential.add","user":"u1","id":"c1","card":{"format":"h10301","facility":1,"number":1}}]}`, "ops[0].card.format"},
		{"delta, facility 300", `{"revision":2,"base":1,"ops":[{"op":"credential.add","user":"u1","id":"c1","card":{"format":"H10301","facility":300,"number":1}}]}`, "ops[0].card.facility"},
		{"snapshot, number 70000", `{"revision":2,"snapshot":true,"users":[{"id":"u1","enabled":true,"credentials":[{"id":"c0","card":{"format":"H10301","facility":1,"number":1}},{"id":"c1","card":{"format":"H10301","facility":1,"number":70000}}]}]}`, "users[0].credentials[1].card.number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ack := a.Apply([]byte(tc.payload))
			if ack.Status != StatusRefused || ack.Error == nil || ack.Error.Code != CodeInvalid || ack.Error.Path != tc.path {
				t.Fatalf("got %+v (error %+v), want refused, invalid at %s", ack, ack.Error, tc.path)
			}
			if ack.Revision != 1 || ack.Counts.Credentials != 0 {
				t.Errorf("a refused changeset changed the table: revision %d, %d credentials", ack.Revision, ack.Counts.Credentials)
			}
		})
	}
	ok := `{"revision":2,"base":1,"ops":[{"op":"credential.add","user":"u1","id":"c1","card":{"format":"H10301","facility":255,"number":65535}}]}`
	if ack := a.Apply([]byte(ok)); ack.Status != StatusApplied {
		t.Errorf("a card that fits: got %+v", ack.Error)
	}
}
