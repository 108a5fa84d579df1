package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store/storetest"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/portal"
)

// gateway is the gateway side of a portal test: the real changeset
// applier on a real store, as a gateway runs it.
type gateway struct {
	t *testing.T
	a *changeset.Applier
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	st := storetest.Open(t, storetest.Options(t))
	return &gateway{t: t, a: changeset.New(st, nil, nil)}
}

// apply sends cs to the gateway and returns its ack.
func (g *gateway) apply(cs changeset.Changeset) changeset.Ack {
	g.t.Helper()
	b, err := changeset.Encode(cs)
	if err != nil {
		g.t.Fatalf("encode: %v", err)
	}
	return g.a.Apply(b)
}

// ackJSON is the ack as the gateway publishes it.
func ackJSON(t *testing.T, ack changeset.Ack) []byte {
	t.Helper()
	b, err := json.Marshal(ack)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// user is a portal user with an optional PIN and cards "c-<id>-<n>" of
// the given numbers.
func user(id, name, pin string, cardNumbers ...uint64) portal.User {
	u := portal.User{User: access.User{ID: id, Name: name, Enabled: true}, PIN: pin}
	for i, n := range cardNumbers {
		u.Credentials = append(u.Credentials, access.Credential{
			ID: fmt.Sprintf("c-%s-%d", id, i), Card: access.CardKey{Format: "H10301", Facility: 1, Number: n}})
	}
	return u
}

var testStart = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// transport runs an inbox over applier for the test, as a gateway's uplink
// reaches it.
func transport(t *testing.T, applier *changeset.Applier) changeset.Transport {
	t.Helper()
	in, err := changeset.NewInbox(applier, changeset.InboxConfig{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { defer close(done); in.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return changeset.Transport{Inbox: in, Actor: "portal"}
}
