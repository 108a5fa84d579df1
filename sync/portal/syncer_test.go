package portal_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gpio/clock/clocktest"
	"github.com/lintel-access/lintel/sync/changeset"
	"github.com/lintel-access/lintel/sync/portal"
)

// loopback is a Publisher that hands each changeset to a real gateway
// applier and queues the gateway's ack, as a broker would carry it back.
// Acks are taken into the Syncer by pump, on the test's goroutine, as the
// portal's client takes them from its subscription.
type loopback struct {
	t  *testing.T
	gw map[string]*gateway

	mu      sync.Mutex
	acks    []queuedAck
	offline bool                              // every publish fails
	drop    func(cs changeset.Changeset) bool // the broker loses this one
	got     map[string][]uint64               // revisions that reached each gateway
}

type queuedAck struct {
	gw  string
	ack []byte
}

func newLoopback(t *testing.T, gws ...string) *loopback {
	l := &loopback{t: t, gw: make(map[string]*gateway), got: make(map[string][]uint64)}
	for _, id := range gws {
		l.gw[id] = newGateway(t)
	}
	return l
}

var errOffline = errors.New("not connected")

func (l *loopback) PublishChanges(_ context.Context, gw string, payload []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.offline {
		return errOffline
	}
	cs, err := changeset.Decode(payload)
	if err != nil {
		l.t.Errorf("the portal published something that is not a changeset: %v", err)
		return nil
	}
	if l.drop != nil && l.drop(cs) {
		return nil
	}
	l.got[gw] = append(l.got[gw], cs.Revision)
	ack := l.gw[gw].a.Apply(payload)
	l.acks = append(l.acks, queuedAck{gw, ackJSON(l.t, ack)})
	return nil
}

// connect queues the current ack gw sends on every connect.
func (l *loopback) connect(gw string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks = append(l.acks, queuedAck{gw, ackJSON(l.t, l.gw[gw].a.Current())})
}

// pump hands queued acks to s until none are left.
func (l *loopback) pump(s *portal.Syncer) {
	l.t.Helper()
	for {
		l.mu.Lock()
		if len(l.acks) == 0 {
			l.mu.Unlock()
			return
		}
		a := l.acks[0]
		l.acks = l.acks[1:]
		l.mu.Unlock()
		if err := s.HandleAck(context.Background(), a.gw, a.ack); err != nil {
			l.t.Fatalf("HandleAck: %v", err)
		}
	}
}

func (l *loopback) revisions(gw string) []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]uint64(nil), l.got[gw]...)
}

func newSyncer(t *testing.T, cfg portal.SyncConfig) *portal.Syncer {
	t.Helper()
	s, err := portal.NewSyncer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ops builds a delta of upserts of the given users.
func upserts(base, rev uint64, ids ...string) changeset.Changeset {
	cs := changeset.Changeset{Revision: rev, Base: base}
	for _, id := range ids {
		cs.Ops = append(cs.Ops, changeset.Op{Kind: changeset.OpUserUpsert, User: id, Enabled: true})
	}
	return cs
}

func mustSend(t *testing.T, s *portal.Syncer, gw string, cs changeset.Changeset) {
	t.Helper()
	if err := s.Send(context.Background(), gw, cs); err != nil {
		t.Fatalf("Send(%d): %v", cs.Revision, err)
	}
}

func state(t *testing.T, s *portal.Syncer, gw string) portal.GatewayState {
	t.Helper()
	st, ok := s.State(gw)
	if !ok {
		t.Fatalf("State(%q): unknown", gw)
	}
	return st
}

func TestSyncerInOrder(t *testing.T) {
	l := newLoopback(t, "gw1")
	s := newSyncer(t, portal.SyncConfig{Publisher: l})
	mustSend(t, s, "gw1", portal.Snapshot(1, portal.Table{Users: []portal.User{user("ann", "Ann", "482913", 100)}}))
	mustSend(t, s, "gw1", upserts(1, 2, "bob"))
	mustSend(t, s, "gw1", upserts(2, 3, "cy"))
	l.pump(s)
	st := state(t, s, "gw1")
	if !st.InSync() || st.Applied != 3 || st.Sent != 3 || st.Resent != 0 || st.Counts.Users != 3 {
		t.Errorf("State() = %+v, want in sync at 3 after 3 sends and no resend", st)
	}
	if diff := cmp.Diff([]uint64{1, 2, 3}, l.revisions("gw1")); diff != "" {
		t.Errorf("revisions the gateway got (-want +got):\n%s", diff)
	}
}

func TestSyncerResendsAfterGap(t *testing.T) {
	l := newLoopback(t, "gw1")
	l.drop = func(cs changeset.Changeset) bool { return cs.Revision == 2 } // once: see below
	s := newSyncer(t, portal.SyncConfig{Publisher: l})
	mustSend(t, s, "gw1", upserts(0, 1, "ann"))
	mustSend(t, s, "gw1", upserts(1, 2, "bob"))
	l.mu.Lock()
	l.drop = nil
	l.mu.Unlock()
	mustSend(t, s, "gw1", upserts(2, 3, "cy"))
	mustSend(t, s, "gw1", upserts(3, 4, "dee"))
	l.pump(s)
	st := state(t, s, "gw1")
	if !st.InSync() || st.Applied != 4 || st.Counts.Users != 4 {
		t.Fatalf("State() = %+v, want in sync at 4 with 4 users", st)
	}
	// 3 is refused as a gap at 1; the resend is 2, 3, 4; the gap ack of 4
	// (at 1 too, sent before the resend arrived) resends nothing more.
	if diff := cmp.Diff([]uint64{1, 3, 4, 2, 3, 4}, l.revisions("gw1")); diff != "" {
		t.Errorf("revisions the gateway got (-want +got):\n%s", diff)
	}
	if st.Resent != 3 {
		t.Errorf("Resent = %d, want 3", st.Resent)
	}
}

func TestSyncerResendsOnConnect(t *testing.T) {
	l := newLoopback(t, "gw1")
	s := newSyncer(t, portal.SyncConfig{Publisher: l})
	mustSend(t, s, "gw1", upserts(0, 1, "ann"))
	l.pump(s)
	l.offline = true
	for rev := uint64(2); rev <= 4; rev++ {
		if err := s.Send(context.Background(), "gw1", upserts(rev-1, rev, "u"+string(rune('a'+rev)))); !errors.Is(err, errOffline) {
			t.Fatalf("Send(%d) while offline = %v, want the publisher's error", rev, err)
		}
	}
	if st := state(t, s, "gw1"); st.Latest != 4 || st.Applied != 1 || st.PublishError == "" {
		t.Fatalf("State() = %+v, want latest 4, applied 1 and the publish error", st)
	}
	l.offline = false
	l.connect("gw1")
	l.pump(s)
	st := state(t, s, "gw1")
	if !st.InSync() || st.Applied != 4 || st.Resent != 3 || st.PublishError != "" {
		t.Errorf("State() = %+v, want in sync at 4 after 3 resends", st)
	}
}

func TestSyncerSnapshotWhenHistoryIsShort(t *testing.T) {
	users := []portal.User{user("ann", "Ann", "482913", 100)}
	tests := []struct {
		name     string
		snapshot func(string, uint64) (changeset.Changeset, error)
		want     func(*testing.T, portal.GatewayState)
	}{
		{"with a Snapshot function", func(_ string, rev uint64) (changeset.Changeset, error) {
			return portal.Snapshot(rev, portal.Table{Users: users}), nil
		}, func(t *testing.T, st portal.GatewayState) {
			if !st.InSync() || st.Digest != portal.Digest(portal.Table{Users: users}) || st.NeedsSnapshot {
				t.Errorf("State() = %+v, want in sync with Digest(users)", st)
			}
		}},
		{"without", nil, func(t *testing.T, st portal.GatewayState) {
			if st.InSync() || !st.NeedsSnapshot || st.Applied != 0 {
				t.Errorf("State() = %+v, want NeedsSnapshot at 0", st)
			}
		}},
		{"with a Snapshot function that fails", func(string, uint64) (changeset.Changeset, error) {
			return changeset.Changeset{}, errors.New("database down")
		}, func(t *testing.T, st portal.GatewayState) {
			if st.InSync() || !st.NeedsSnapshot {
				t.Errorf("State() = %+v, want NeedsSnapshot", st)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoopback(t, "gw1")
			l.offline = true
			s := newSyncer(t, portal.SyncConfig{Publisher: l, History: 2, Snapshot: tc.snapshot})
			for rev := uint64(1); rev <= 5; rev++ {
				s.Send(context.Background(), "gw1", upserts(rev-1, rev, "ann"))
			}
			l.offline = false
			l.connect("gw1") // at 0: deltas 1-3 are no longer kept
			l.pump(s)
			tc.want(t, state(t, s, "gw1"))
		})
	}
}

func TestSyncerRefusal(t *testing.T) {
	l := newLoopback(t, "gw1")
	s := newSyncer(t, portal.SyncConfig{Publisher: l})
	mustSend(t, s, "gw1", portal.Snapshot(1, portal.Table{Users: []portal.User{user("ann", "Ann", "482913"), user("bob", "Bob", "")}}))
	mustSend(t, s, "gw1", changeset.Changeset{Revision: 2, Base: 1, Ops: []changeset.Op{
		{Kind: changeset.OpPINSet, User: "bob", PIN: "482913"}}}) // ann's PIN
	mustSend(t, s, "gw1", upserts(2, 3, "cy")) // built on the refused one: a gap
	l.pump(s)
	st := state(t, s, "gw1")
	if st.Refused == nil || st.Refused.Revision != 2 || st.Refused.Error.Code != changeset.CodePINInUse {
		t.Fatalf("Refused = %+v, want revision 2, pin_in_use", st.Refused)
	}
	if st.Latest != 1 || st.Applied != 1 || st.Resent != 0 {
		t.Fatalf("State() = %+v, want latest and applied back at 1, nothing resent", st)
	}
	if n := s.Retry(context.Background()); n != 0 {
		t.Errorf("Retry() = %d after a refusal, want 0", n)
	}
	if err := s.Send(context.Background(), "gw1", upserts(2, 3, "cy")); err == nil {
		t.Error("Send of a delta built on the refused revision succeeded")
	}
	mustSend(t, s, "gw1", upserts(1, 4, "cy")) // revisions need not be consecutive
	l.pump(s)
	if st := state(t, s, "gw1"); !st.InSync() || st.Applied != 4 || st.Refused != nil {
		t.Errorf("State() = %+v, want in sync at 4, the refusal cleared", st)
	}
}

func TestSyncerStaleAck(t *testing.T) {
	l := newLoopback(t, "gw1")
	s := newSyncer(t, portal.SyncConfig{Publisher: l})
	mustSend(t, s, "gw1", upserts(0, 1, "ann"))
	mustSend(t, s, "gw1", upserts(1, 2, "bob"))
	// The acks arrive in the wrong order, as two ingestion paths may
	// deliver them.
	l.mu.Lock()
	l.acks[0], l.acks[1] = l.acks[1], l.acks[0]
	l.mu.Unlock()
	l.pump(s)
	if st := state(t, s, "gw1"); st.Applied != 2 || st.StaleAcks != 1 || !st.InSync() {
		t.Errorf("State() = %+v, want applied 2 and one stale ack", st)
	}
}

func TestSyncerRetry(t *testing.T) {
	clk := clocktest.New(testStart)
	l := newLoopback(t, "gw1")
	s := newSyncer(t, portal.SyncConfig{Publisher: l, Now: clk.Now, RetryAfter: 10 * time.Second})
	mustSend(t, s, "gw1", upserts(0, 1, "ann"))
	l.pump(s)
	l.drop = func(changeset.Changeset) bool { return true }
	mustSend(t, s, "gw1", upserts(1, 2, "bob")) // lost, and nothing follows it
	if n := s.Retry(context.Background()); n != 0 {
		t.Fatalf("Retry() = %d right after the send, want 0", n)
	}
	l.drop = nil
	clk.Advance(10 * time.Second)
	if n := s.Retry(context.Background()); n != 1 {
		t.Fatalf("Retry() = %d after RetryAfter, want 1", n)
	}
	l.pump(s)
	if st := state(t, s, "gw1"); !st.InSync() || st.Applied != 2 {
		t.Errorf("State() = %+v, want in sync at 2", st)
	}
	if n := s.Retry(context.Background()); n != 0 {
		t.Errorf("Retry() = %d in sync, want 0", n)
	}
}

func TestSyncerBroadcast(t *testing.T) {
	gws := []string{"gw1", "gw2", "gw3"}
	l := newLoopback(t, gws...)
	s := newSyncer(t, portal.SyncConfig{Publisher: l})
	users := []portal.User{user("ann", "Ann", "482913", 100), user("bob", "Bob", "")}
	if err := s.Broadcast(context.Background(), gws, portal.Snapshot(7, portal.Table{Users: users})); err != nil {
		t.Fatal(err)
	}
	if err := s.Broadcast(context.Background(), gws, upserts(7, 8, "cy")); err != nil {
		t.Fatal(err)
	}
	l.pump(s)
	states := s.States()
	if len(states) != 3 {
		t.Fatalf("States() = %d gateways, want 3", len(states))
	}
	for _, st := range states {
		if !st.InSync() || st.Applied != 8 || st.Counts.Users != 3 {
			t.Errorf("%s: %+v, want in sync at 8 with 3 users", st.Gateway, st)
		}
	}
	if err := s.Broadcast(context.Background(), append(gws, "gw4"), upserts(8, 9, "dee")); err == nil {
		t.Error("Broadcast of a delta on 8 to a gateway at 0 succeeded")
	}
}

func TestSyncerSendChecks(t *testing.T) {
	s := newSyncer(t, portal.SyncConfig{Publisher: newLoopback(t, "gw1")})
	mustSend(t, s, "gw1", portal.Snapshot(5, portal.Table{}))
	for _, tc := range []struct {
		name string
		cs   changeset.Changeset
		want string
	}{
		{"revision 0", changeset.Changeset{}, `portal: send to "gw1": revision 0 (revisions start at 1)`},
		{"wrong base", upserts(4, 6), `portal: send 6 to "gw1": it builds on 4, but the gateway's latest revision is 5`},
		{"not above its base", upserts(5, 5), `portal: send 5 to "gw1": a delta's revision must be above its base 5`},
		{"old snapshot", portal.Snapshot(5, portal.Table{}), `portal: send snapshot 5 to "gw1": the gateway's latest revision is 5 already`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Send(context.Background(), "gw1", tc.cs); err == nil || err.Error() != tc.want {
				t.Errorf("Send() = %v, want %q", err, tc.want)
			}
		})
	}
	if err := s.HandleAck(context.Background(), "gw1", []byte(`{"status":"eaten"}`)); err == nil {
		t.Error("HandleAck of an unknown status succeeded")
	}
	if err := s.HandleAck(context.Background(), "gw1", []byte(`not json`)); err == nil {
		t.Error("HandleAck of a non-JSON ack succeeded")
	}
}

func TestSyncerRetriesAFailedResendAtOnce(t *testing.T) {
	l := newLoopback(t, "gw1")
	s := newSyncer(t, portal.SyncConfig{Publisher: l})
	mustSend(t, s, "gw1", upserts(0, 1, "ann"))
	l.pump(s)
	l.offline = true
	s.Send(context.Background(), "gw1", upserts(1, 2, "bob"))
	l.connect("gw1") // its current ack asks for a resend, which cannot go out
	l.pump(s)
	l.offline = false
	l.connect("gw1") // the next one, a moment later, must not be held off
	l.pump(s)
	if st := state(t, s, "gw1"); !st.InSync() || st.Applied != 2 {
		t.Errorf("State() = %+v, want in sync at 2 without waiting RetryAfter", st)
	}
}

// TestSyncerResendsOnEveryConnect: a resend that went out while the
// gateway was not subscribed (the broker acknowledged it and dropped it)
// does not hold off the resend its connect asks for.
func TestSyncerResendsOnEveryConnect(t *testing.T) {
	clk := clocktest.New(testStart)
	l := newLoopback(t, "gw1")
	s := newSyncer(t, portal.SyncConfig{Publisher: l, Now: clk.Now, RetryAfter: 10 * time.Second})
	mustSend(t, s, "gw1", upserts(0, 1, "ann"))
	l.pump(s)
	l.drop = func(changeset.Changeset) bool { return true } // the gateway is away
	mustSend(t, s, "gw1", upserts(1, 2, "bob"))
	clk.Advance(10 * time.Second)
	if n := s.Retry(context.Background()); n != 1 {
		t.Fatalf("Retry() = %d, want 1", n)
	}
	l.drop = nil
	clk.Advance(time.Second)
	l.connect("gw1")
	l.pump(s)
	if st := state(t, s, "gw1"); !st.InSync() || st.Applied != 2 {
		t.Errorf("State() = %+v, want in sync at 2 right after the connect", st)
	}
}
