package changeset

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/access"
)

// replies collects the acks of an inbox in the order they come, and
// counts the replies of each submission.
type replies struct {
	mu   sync.Mutex
	acks []Ack
	got  chan struct{}
}

func newReplies() *replies { return &replies{got: make(chan struct{}, 1<<16)} }

func (r *replies) reply() func(Ack) {
	once := false
	return func(a Ack) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if once {
			panic("reply called twice")
		}
		once = true
		r.acks = append(r.acks, a)
		r.got <- struct{}{}
	}
}

// wait waits for n replies in all.
func (r *replies) wait(t *testing.T, n int) []Ack {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		have := len(r.acks)
		r.mu.Unlock()
		if have >= n {
			r.mu.Lock()
			defer r.mu.Unlock()
			return append([]Ack(nil), r.acks...)
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("%d replies of %d within 30s", have, n)
		}
	}
}

// runInbox runs in until the test ends.
func runInbox(t *testing.T, in *Inbox) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("inbox Run: %v", err)
		}
	})
}

func newInbox(t *testing.T, a *Applier, cfg InboxConfig) *Inbox {
	t.Helper()
	in, err := NewInbox(a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestInboxBackToBackDeltasInOrder is the reordering finding at the
// inbox: 300 deltas submitted back to back, from several goroutines in
// turn, are applied in the order they were submitted, with no gap.
func TestInboxBackToBackDeltasInOrder(t *testing.T) {
	const n = 300
	a, s, _ := newApplier(t)
	var mu sync.Mutex
	var actors []string
	in := newInbox(t, a, InboxConfig{OnApplied: func(actor string, ack Ack, changes Changes) {
		mu.Lock()
		defer mu.Unlock()
		actors = append(actors, fmt.Sprintf("%s@%d: %s", actor, ack.Revision, changes))
	}})
	runInbox(t, in)
	r := newReplies()
	var wantActors []string
	for rev := 1; rev <= n; rev++ {
		actor := fmt.Sprintf("t%d", rev%3)
		wantActors = append(wantActors, fmt.Sprintf("%s@%d: user.upsert user \"u%d\"", actor, rev, rev))
		p := encode(t, Changeset{Revision: uint64(rev), Base: uint64(rev - 1), Ops: []Op{{Kind: OpUserUpsert, User: fmt.Sprintf("u%d", rev), Enabled: true}}})
		// Each from its own goroutine, but one after the other: the
		// order is the order Submit was called in.
		done := make(chan struct{})
		go func() { in.Submit(actor, p, r.reply()); close(done) }()
		<-done
	}
	acks := r.wait(t, n)
	for i, ack := range acks {
		if ack.Status != StatusApplied || ack.Revision != uint64(i+1) {
			t.Fatalf("ack %d: got %s at %d (%+v), want applied at %d", i, ack.Status, ack.Revision, ack.Error, i+1)
		}
	}
	if s.Revision() != n {
		t.Errorf("revision: got %d, want %d", s.Revision(), n)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(wantActors, actors); diff != "" {
		t.Errorf("audit of the applied changesets (-want +got):\n%s", diff)
	}
	if st := in.Stats(); st.Applied != n || st.Busy != 0 || st.Bytes != 0 {
		t.Errorf("Stats() = %+v, want %d applied, none busy, no bytes held", st, n)
	}
}

// TestInboxFullRefusesBusy: past its count or byte limit the inbox refuses
// a changeset at once, unread, with code busy, and takes changesets again
// once there is room.
func TestInboxFullRefusesBusy(t *testing.T) {
	a, _, _ := newApplier(t)
	seed(t, a)
	in := newInbox(t, a, InboxConfig{MaxChangesets: 2})
	r := newReplies()
	delta := func(rev uint64) []byte {
		return encode(t, Changeset{Revision: rev, Base: rev - 1, Ops: []Op{{Kind: OpUserUpsert, User: "u9", Enabled: true}}})
	}
	// Not running yet: submissions wait.
	in.Submit("portal", delta(2), r.reply())
	in.Submit("portal", delta(3), r.reply())
	in.Submit("portal", delta(4), r.reply()) // over the count
	acks := r.wait(t, 1)
	if ack := acks[0]; ack.Status != StatusRefused || ack.Error.Code != CodeBusy || ack.Received != 0 || ack.Revision != 1 {
		t.Fatalf("the third of two: got %+v, want refused busy, unread, at revision 1", ack)
	}
	runInbox(t, in)
	acks = r.wait(t, 3)
	if acks[1].Revision != 2 || acks[2].Revision != 3 {
		t.Fatalf("the queued ones: got revisions %d, %d, want 2, 3", acks[1].Revision, acks[2].Revision)
	}
	// Over the bytes: a payload that fits alone but not beside another.
	in2 := newInbox(t, a, InboxConfig{})
	r2 := newReplies()
	big := bytes.Repeat([]byte(" "), MaxPayload+MaxSignatureLine-10)
	in2.Submit("portal", delta(4), r2.reply())
	in2.Submit("portal", big, r2.reply())
	if ack := r2.wait(t, 1)[0]; ack.Status != StatusRefused || ack.Error.Code != CodeBusy {
		t.Errorf("a payload past the bytes: got %+v, want refused busy", ack)
	}
	if st := in2.Stats(); st.Busy != 1 || st.Waiting != 1 || st.Bytes != len(delta(4)) {
		t.Errorf("Stats() = %+v, want 1 busy, the delta waiting", st)
	}
	runInbox(t, in2)
	if ack := r2.wait(t, 2)[1]; ack.Status != StatusApplied || ack.Revision != 4 {
		t.Errorf("the delta that fitted: got %+v, want applied at 4", ack)
	}
	in2.Submit("portal", big, r2.reply())
	if ack := r2.wait(t, 3)[2]; ack.Error == nil || ack.Error.Code != CodeTooLarge {
		t.Errorf("the big payload once there is room: got %+v, want it read (and refused as too_large by the applier)", ack)
	}
}

// TestInboxRefusesOversizeUnread: a payload no changeset can fill is
// refused as too_large at once, without being queued.
func TestInboxRefusesOversizeUnread(t *testing.T) {
	a, _, _ := newApplier(t)
	in := newInbox(t, a, InboxConfig{})
	r := newReplies()
	in.Submit("portal", make([]byte, MaxPayload+MaxSignatureLine+1), r.reply())
	if ack := r.wait(t, 1)[0]; ack.Status != StatusRefused || ack.Error.Code != CodeTooLarge {
		t.Errorf("got %+v, want refused too_large", ack)
	}
	if st := in.Stats(); st.Waiting != 0 || st.Bytes != 0 {
		t.Errorf("Stats() = %+v, want nothing held", st)
	}
}

// TestInboxStopAnswersEveryone: when Run ends, what still waits and
// whatever comes later is refused with busy; every Submit gets one reply.
func TestInboxStopAnswersEveryone(t *testing.T) {
	a, _, _ := newApplier(t)
	in := newInbox(t, a, InboxConfig{})
	r := newReplies()
	for rev := uint64(1); rev <= 5; rev++ {
		in.Submit("portal", encode(t, Changeset{Revision: rev, Base: rev - 1}), r.reply())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.Run(ctx); err != nil {
		t.Fatal(err)
	}
	in.Submit("portal", encode(t, Changeset{Revision: 9, Base: 8}), r.reply())
	acks := r.wait(t, 6)
	if last := acks[5]; last.Status != StatusRefused || last.Error.Code != CodeBusy {
		t.Errorf("after Run: got %+v, want refused busy", last)
	}
	if err := in.Run(context.Background()); err == nil {
		t.Error("a second Run: got no error")
	}
}

// TestInboxAuditSaysWhatChanged: the audit of an applied changeset names
// its ops (never a PIN), counts those past the first few, and sizes a
// snapshot.
func TestInboxAuditSaysWhatChanged(t *testing.T) {
	a, _, _ := newApplier(t)
	var mu sync.Mutex
	var got []string
	in := newInbox(t, a, InboxConfig{OnApplied: func(actor string, ack Ack, changes Changes) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, changes.String())
	}})
	runInbox(t, in)
	r := newReplies()
	var many []Op
	for i := range 10 {
		many = append(many, Op{Kind: OpUserUpsert, User: fmt.Sprintf("u%d", i), Enabled: true})
	}
	submit := []Changeset{
		{Revision: 1, Snapshot: true, Users: []SnapshotUser{{User: access.User{ID: "ann", Enabled: true}, PIN: "482913"}},
			Policy: Policy{Schedules: []access.Schedule{{ID: "office", Intervals: []access.Interval{{Days: []string{"mon"}, Start: "08:00", End: "18:00"}}}}}},
		{Revision: 2, Base: 1, Ops: []Op{{Kind: OpPINSet, User: "ann", PIN: "507316"}, {Kind: OpScheduleDelete, ID: "office"}}},
		{Revision: 3, Base: 2, Ops: many},
		{Revision: 4, Base: 3},
	}
	for _, cs := range submit {
		in.Submit("portal", encode(t, cs), r.reply())
	}
	for i, ack := range r.wait(t, len(submit)) {
		if ack.Status != StatusApplied {
			t.Fatalf("changeset %d: %s %+v", i, ack.Status, ack.Error)
		}
	}
	want := []string{
		"snapshot: 1 users, 1 schedules, 0 holidays, 0 levels, 0 door policies, 0 overrides",
		`pin.set user "ann"; schedule.delete "office"`,
		`user.upsert user "u0"; user.upsert user "u1"; user.upsert user "u2"; user.upsert user "u3"; ` +
			`user.upsert user "u4"; user.upsert user "u5"; user.upsert user "u6"; user.upsert user "u7"; and 2 more ops`,
		"no ops",
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what changed (-want +got):\n%s", diff)
	}
	for _, s := range got {
		if strings.Contains(s, "507316") || strings.Contains(s, "482913") {
			t.Errorf("audit %q holds a PIN", s)
		}
	}
}
