package portal_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/portal"
)

// The kit's two halves, without a broker: a Syncer keeping a gateway's
// table in step through its acks, and a Sequencer putting a gateway's
// events back in order. In a portal, a portal.Client carries the
// changesets and acks over MQTT and a portal.Ingester feeds the
// Sequencer from a shared subscription; here the gateway is the real
// changeset applier on a real store, called directly.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "portal-example")
	defer os.RemoveAll(dir)
	st, err := store.Open(store.Options{Dir: filepath.Join(dir, "db"), KeyFile: filepath.Join(dir, "device.key"), GatewayID: "gw-0042"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	gw := changeset.New(st, nil, nil)

	// The gateway answers every changeset with an ack; a broker would
	// carry it back on lintel/v1/gw-0042/sync/acks.
	var acks [][]byte
	syncer, _ := portal.NewSyncer(portal.SyncConfig{
		Publisher: portal.PublisherFunc(func(_ context.Context, _ string, payload []byte) error {
			acks = append(acks, changeset.MarshalAck(gw.Apply(payload)))
			return nil
		}),
	})
	deliverAcks := func() {
		for _, a := range acks {
			syncer.HandleAck(ctx, "gw-0042", a)
		}
		acks = nil
	}
	card := func(n uint64) []access.Credential {
		return []access.Credential{{ID: fmt.Sprintf("card-%d", n), Card: access.CardKey{Format: "H10301", Facility: 1, Number: n}}}
	}

	// Revision 1: a snapshot of the building's users.
	v1 := []portal.User{
		{User: access.User{ID: "ann", Name: "Ann", Enabled: true}, PIN: "482913", Credentials: card(100)},
		{User: access.User{ID: "bob", Name: "Bob", Enabled: true}},
	}
	syncer.Send(ctx, "gw-0042", portal.Snapshot(1, portal.Table{Users: v1}))
	deliverAcks()

	// Revision 2: Ann leaves, Bob takes over her PIN and her card.
	v2 := []portal.User{{User: access.User{ID: "bob", Name: "Bob", Enabled: true}, PIN: "482913", Credentials: card(100)}}
	cs, _ := portal.Delta(1, 2, portal.Table{Users: v1}, portal.Table{Users: v2})
	for _, op := range cs.Ops {
		fmt.Println(op)
	}
	syncer.Send(ctx, "gw-0042", cs)
	deliverAcks()
	state, _ := syncer.State("gw-0042")
	fmt.Println("applied:", state.Applied, "in sync:", state.InSync(), "digest matches:", state.Digest == portal.Digest(portal.Table{Users: v2}))

	// Events: two workers of a shared subscription took them, so they
	// come in out of order, one of them twice.
	out := make(chan string)
	seq, _ := portal.NewSequencer(portal.SequencerConfig{Handle: func(ev portal.Event) { out <- ev.ID }})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go seq.Run(runCtx)
	for _, n := range []uint64{2, 1, 3, 2} {
		ev, _ := portal.ParseEvent("lintel/v1/gw-0042/events/front", fmt.Appendf(nil, `{"seq":%d,"id":"gw-0042-%d"}`, n, n))
		seq.Add(ctx, ev)
	}
	for range 3 {
		fmt.Println("handled", <-out)
	}
	// Output:
	// user.delete user "ann"
	// pin.set user "bob"
	// credential.add "card-100" for user "bob"
	// applied: 2 in sync: true digest matches: true
	// handled gw-0042-1
	// handled gw-0042-2
	// handled gw-0042-3
}
