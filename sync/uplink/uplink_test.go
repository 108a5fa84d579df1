package uplink_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/broker/mosquittotest"
	"github.com/lintel-access/lintel/sync/uplink"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

const (
	eventsFilter = "lintel/v1/" + gw + "/events/#"
	statusTopic  = "lintel/v1/" + gw + "/status"
	changesTopic = "lintel/v1/" + gw + "/sync/changes"
	acksTopic    = "lintel/v1/" + gw + "/sync/acks"
)

func TestNewRefusesBadConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "ca.pem")
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	tests := []struct {
		name    string
		cfg     uplink.Config
		gateway string
		want    string
	}{
		{"scheme", uplink.Config{URL: "http://cloud.example.com"}, gw, `uplink.url: unsupported scheme "http"`},
		{"no URL", uplink.Config{}, gw, "uplink.url: required"},
		{"CA file", uplink.Config{URL: "ssl://cloud.example.com", CAFile: missing}, gw, "uplink.ca_file: open " + missing},
		{"key without certificate", uplink.Config{URL: "ssl://cloud.example.com", KeyFile: missing}, gw, "uplink.cert_file: required when uplink.key_file is set"},
		{"gateway id", uplink.Config{URL: "tcp://cloud.example.com"}, "gw/1", `uplink: gateway id "gw/1": '/' is not allowed`},
		{"empty gateway id", uplink.Config{URL: "tcp://cloud.example.com"}, "", "uplink: gateway id empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := uplink.New(tc.cfg, tc.gateway, j, c, nil, nil)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("New() = %v, %v; want an error starting %q", u, err, tc.want)
			}
		})
	}
	if _, err := uplink.New(uplink.Config{URL: "tcp://b"}, gw, nil, c, nil, nil); err == nil {
		t.Errorf("New() without a journal = nil error, want one")
	}
}

// TestForwardInOrder checks the plain case: a backlog and then live events
// arrive once each, in order, byte for byte, on their readers' topics, and
// the cursor and state follow.
func TestForwardInOrder(t *testing.T) {
	srv := mosquittotest.Start(t)
	sub := uplinktest.Subscribe(t, srv.URL(), eventsFilter)
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	appendEvents(j, 2000)

	u := start(t, testConfig(srv.URL()), j, c, nil)
	delivered(t, sub, 2000)
	appendEvents(j, 500) // now live, one Wait at a time
	msgs := delivered(t, sub, 2500)

	if got, want := uplinktest.Seqs(t, msgs), seqRange(1, 2500); !cmp.Equal(got, want) {
		t.Errorf("a clean run delivered %d messages with duplicates; diff (-want +got):\n%s", len(got), cmp.Diff(want, got))
	}
	checkIntact(t, j, msgs)
	eventually(t, "cursor saved at 2500", func() bool { return c.Seq() == 2500 })
	if v := c.Violations(); len(v) > 0 {
		t.Errorf("cursor moved backwards: %v", v)
	}
	st := u.State()
	if !st.Connected || st.Cursor != 2500 || st.Published != 2500 || st.Since.IsZero() {
		t.Errorf("State() = %+v, want connected since a time, cursor 2500, published 2500", st)
	}
}

func seqRange(first, last uint64) []uint64 {
	var out []uint64
	for s := first; s <= last; s++ {
		out = append(out, s)
	}
	return out
}

// TestOutageBacklog: 10,000 events journaled while the cloud broker is down
// arrive in order once it is back, and the uplink kept trying meanwhile.
func TestOutageBacklog(t *testing.T) {
	srv := mosquittotest.StartWith(t, mosquittotest.Config{Persist: true})
	sub := uplinktest.SubscribePersistent(t, srv.URL(), "cloud-portal", eventsFilter)
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	u := start(t, testConfig(srv.URL()), j, c, nil)
	appendEvents(j, 10)
	delivered(t, sub, 10)
	// The subscriber can have the events before the uplink has their
	// PUBACKs; a PUBACK still unread when the broker stops is in doubt.
	eventually(t, "the first 10 acknowledged", func() bool { return u.State().Cursor == 10 })

	srv.Stop()
	eventually(t, "the uplink to notice the broker is gone", func() bool { return !u.State().Connected })
	appendEvents(j, 10_000)
	before := u.State().Reconnects
	eventually(t, "two more connection attempts", func() bool { return u.State().Reconnects >= before+2 })
	if got := u.State().Cursor; got != 10 {
		t.Fatalf("State().Cursor = %d while the broker was down, want 10", got)
	}
	eventually(t, "cursor saved at 10", func() bool { return c.Seq() == 10 })
	if st := u.State(); st.LastError == "" {
		t.Errorf("State().LastError is empty during an outage")
	}

	srv.Restart()
	msgs := delivered(t, sub, 10_010)
	checkIntact(t, j, msgs)
	eventually(t, "cursor saved at 10010", func() bool { return c.Seq() == 10_010 })
	if v := c.Violations(); len(v) > 0 {
		t.Errorf("cursor moved backwards: %v", v)
	}
}

// TestResumeFromCursor: an uplink stopped mid-drain and a new one started
// on the same cursor deliver everything, duplicates allowed.
func TestResumeFromCursor(t *testing.T) {
	const n = 10_000
	srv := mosquittotest.Start(t)
	sub := uplinktest.Subscribe(t, srv.URL(), eventsFilter)
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	appendEvents(j, n)

	first := start(t, testConfig(srv.URL()), j, c, nil)
	sub.WaitFor(t, patience, "a couple of thousand events", func(m []uplinktest.Message) bool { return len(m) >= 2000 })
	first.stop(t)
	stoppedAt := c.Seq()
	if stoppedAt == 0 || stoppedAt >= n {
		t.Fatalf("cursor = %d after stopping mid-drain, want between 1 and %d", stoppedAt, n-1)
	}

	second := start(t, testConfig(srv.URL()), j, c, nil)
	msgs := delivered(t, sub, n)
	checkIntact(t, j, msgs)
	eventually(t, "cursor saved at the end", func() bool { return c.Seq() == n })
	if got := second.State().Cursor; got != n {
		t.Errorf("State().Cursor = %d, want %d", got, n)
	}
	if v := c.Violations(); len(v) > 0 {
		t.Errorf("cursor moved backwards: %v", v)
	}
	t.Logf("stopped at cursor %d; %d messages for %d events", stoppedAt, len(msgs), n)
}

// TestRetentionGap: events removed by retention before delivery are
// skipped, and the rest still arrive in order.
func TestRetentionGap(t *testing.T) {
	srv := mosquittotest.Start(t)
	sub := uplinktest.Subscribe(t, srv.URL(), eventsFilter)
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	appendEvents(j, 100)
	j.DropThrough(40)

	start(t, testConfig(srv.URL()), j, c, nil)
	msgs := sub.WaitFor(t, patience, "events 41..100", func(m []uplinktest.Message) bool { return len(m) >= 60 })
	if got, want := uplinktest.Seqs(t, msgs), seqRange(41, 100); !cmp.Equal(got, want) {
		t.Errorf("delivered (-want +got):\n%s", cmp.Diff(want, got))
	}
	eventually(t, "cursor at 100", func() bool { return c.Seq() == 100 })
}

// gatedCursor is a MemCursor whose Saves wait while the gate is shut, as a
// durable Save waits for a slow disk.
type gatedCursor struct {
	*uplinktest.MemCursor
	gate    chan struct{} // closed to let Saves through
	waiting atomic.Int32  // Saves waiting at the gate
}

func (c *gatedCursor) Save(seq uint64) error {
	c.waiting.Add(1)
	<-c.gate
	c.waiting.Add(-1)
	return c.MemCursor.Save(seq)
}

// TestSlowCursorSave: forwarding does not wait for the cursor's Save. The
// whole backlog is acknowledged while the first Save is still held up, and
// once it is let through the latest cursor is saved.
func TestSlowCursorSave(t *testing.T) {
	const n = 5000
	srv := mosquittotest.Start(t)
	sub := uplinktest.Subscribe(t, srv.URL(), eventsFilter)
	j := uplinktest.NewMemJournal()
	c := &gatedCursor{MemCursor: uplinktest.NewMemCursor(0), gate: make(chan struct{})}
	appendEvents(j, n)

	u := start(t, testConfig(srv.URL()), j, c, nil)
	delivered(t, sub, n)
	eventually(t, "every event acknowledged", func() bool { return u.State().Cursor == n })
	eventually(t, "a Save at the gate", func() bool { return c.waiting.Load() > 0 })
	if got := c.waiting.Load(); got != 1 {
		t.Errorf("%d Saves waiting for the disk, want 1 (one at a time)", got)
	}
	if got := c.Seq(); got != 0 {
		t.Errorf("cursor saved at %d with the disk held up", got)
	}
	close(c.gate)
	eventually(t, "cursor saved at the end", func() bool { return c.Seq() == n })
	if v := c.Violations(); len(v) > 0 {
		t.Errorf("cursor moved backwards: %v", v)
	}
}

// TestCursorSaveFailure: a Save that fails is reported while forwarding
// carries on, and the cursor reached is saved when Run ends.
func TestCursorSaveFailure(t *testing.T) {
	srv := mosquittotest.Start(t)
	sub := uplinktest.Subscribe(t, srv.URL(), eventsFilter)
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	appendEvents(j, 10)
	u := start(t, testConfig(srv.URL()), j, c, nil)
	eventually(t, "cursor saved at 10", func() bool { return c.Seq() == 10 })

	c.FailWith(errors.New("disk on fire"))
	appendEvents(j, 10)
	delivered(t, sub, 20)
	eventually(t, "the save error in the state", func() bool {
		return strings.Contains(u.State().LastError, "uplink: save cursor 20: disk on fire")
	})
	if st := u.State(); st.Cursor != 20 || st.Published != 20 || !st.Connected {
		t.Errorf("State() = %+v, want connected, cursor 20, published 20", st)
	}
	if got := c.Seq(); got != 10 {
		t.Errorf("cursor = %d while saves fail, want 10", got)
	}
	c.FailWith(nil)
	u.stop(t)
	if got := c.Seq(); got != 20 {
		t.Errorf("cursor = %d after Run returned, want 20", got)
	}
}

// countingJournal is a MemJournal that records the limits After is asked
// for.
type countingJournal struct {
	*uplinktest.MemJournal
	// mu guards limits.
	mu     sync.Mutex
	limits []int
}

func (j *countingJournal) After(after uint64, limit int) ([]uplink.Entry, error) {
	j.mu.Lock()
	j.limits = append(j.limits, limit)
	j.mu.Unlock()
	return j.MemJournal.After(after, limit)
}

// TestJournalReadsBatched: while a backlog drains, the journal is read in
// batches of at least half the window, never more than a window at a time,
// however the PUBACKs come (one slot is refilled per PUBACK).
func TestJournalReadsBatched(t *testing.T) {
	const n, window = 10_000, 64
	srv := mosquittotest.Start(t)
	sub := uplinktest.Subscribe(t, srv.URL(), eventsFilter)
	j := &countingJournal{MemJournal: uplinktest.NewMemJournal()}
	appendEvents(j.MemJournal, n)
	cfg := testConfig(srv.URL())
	cfg.Window = window
	u := start(t, cfg, j, uplinktest.NewMemCursor(0), nil)
	checkIntact(t, j.MemJournal, delivered(t, sub, n))
	eventually(t, "every event acknowledged", func() bool { return u.State().Cursor == n })
	u.stop(t)

	j.mu.Lock()
	defer j.mu.Unlock()
	for i, l := range j.limits {
		if l < window/2 || l > window {
			t.Fatalf("After call %d asked for %d entries, want %d to %d", i, l, window/2, window)
		}
	}
	if max := 2*n/window + 10; len(j.limits) > max {
		t.Errorf("%d journal reads for %d events, want at most %d", len(j.limits), n, max)
	}
}

// TestCursorLoadFailure: an unreadable cursor is retried, reported, and
// forwarding starts once it can be read.
func TestCursorLoadFailure(t *testing.T) {
	srv := mosquittotest.Start(t)
	sub := uplinktest.Subscribe(t, srv.URL(), eventsFilter)
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(5)
	appendEvents(j, 10)
	c.FailWith(errors.New("disk on fire"))

	u := start(t, testConfig(srv.URL()), j, c, nil)
	eventually(t, "the cursor error in the state", func() bool {
		return strings.Contains(u.State().LastError, "uplink: load cursor: disk on fire")
	})
	if n := sub.Len(); n != 0 {
		t.Fatalf("%d events published before the cursor was read", n)
	}
	c.FailWith(nil)
	msgs := sub.WaitFor(t, patience, "events 6..10", func(m []uplinktest.Message) bool { return len(m) >= 5 })
	if got, want := uplinktest.Seqs(t, msgs), seqRange(6, 10); !cmp.Equal(got, want) {
		t.Errorf("delivered (-want +got):\n%s", cmp.Diff(want, got))
	}
}

// TestSyncChanges: changesets published on sync/changes reach the handler
// in order, each ack appears on sync/acks, and the current ack is
// announced on every connect.
func TestSyncChanges(t *testing.T) {
	srv := mosquittotest.StartWith(t, mosquittotest.Config{Persist: true})
	acks := uplinktest.SubscribePersistent(t, srv.URL(), "portal-acks", acksTopic)
	h := &uplinktest.Handler{}
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	u := start(t, testConfig(srv.URL()), j, c, h)

	acks.WaitFor(t, patience, "the current ack on connect", hasPayloads(string(uplinktest.Ack(0))))
	portal := connect(t, srv.URL(), "portal")
	changes := []string{`{"revision":1,"base":0}`, `{"revision":2,"base":1}`, `{"revision":3,"base":2}`}
	for _, ch := range changes {
		if tok := portal.Publish(changesTopic, 1, false, ch); !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatalf("portal publish: %v", tok.Error())
		}
	}
	acks.WaitFor(t, patience, "an ack per changeset", hasPayloads(
		string(uplinktest.Ack(0)), string(uplinktest.Ack(1)), string(uplinktest.Ack(2)), string(uplinktest.Ack(3))))
	var got []string
	for _, p := range h.Changes() {
		got = append(got, string(p))
	}
	if diff := cmp.Diff(changes, got); diff != "" {
		t.Errorf("handler got (-want +got):\n%s", diff)
	}

	// A broker restart is a new connection: the current ack again. (The
	// subscriber may also be sent again what it had not acknowledged when
	// the broker stopped, so count rather than match.)
	before := count(acks.Messages(), string(uplinktest.Ack(3)))
	srv.Restart()
	acks.WaitFor(t, patience, "the current ack after reconnecting", func(m []uplinktest.Message) bool {
		return count(m, string(uplinktest.Ack(3))) > before
	})
	if st := u.State(); st.Reconnects == 0 || st.AcksDropped != 0 {
		t.Errorf("State() = %+v, want at least one reconnect and no dropped acks", st)
	}
}

// count returns how many messages carry payload.
func count(msgs []uplinktest.Message, payload string) int {
	n := 0
	for _, m := range msgs {
		if string(m.Payload) == payload {
			n++
		}
	}
	return n
}

// hasPayloads accepts a message list that starts with want, in order.
func hasPayloads(want ...string) func([]uplinktest.Message) bool {
	return func(m []uplinktest.Message) bool {
		if len(m) < len(want) {
			return false
		}
		for i, w := range want {
			if string(m[i].Payload) != w {
				return false
			}
		}
		return true
	}
}

// connect returns a plain cloud-side client, disconnected when the test
// ends.
func connect(t *testing.T, url, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", id, url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestRetained: retained topics are published on connect and on change,
// republished after the broker lost them, the status defaults to "online",
// and an orderly stop leaves "offline".
func TestRetained(t *testing.T) {
	const door = "lintel/v1/" + gw + "/doors/front"
	srv := mosquittotest.Start(t)
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	u := start(t, testConfig(srv.URL()), j, c, nil)
	u.SetRetained(door, []byte(`{"state":"locked"}`))
	u.SetRetained("lintel/v1/+/bad", []byte("ignored"))
	eventually(t, "connected", func() bool { return u.State().Connected })

	retained := func(what string, want map[string]string) {
		t.Helper()
		sub := uplinktest.Subscribe(t, srv.URL(), "lintel/v1/"+gw+"/#")
		sub.WaitFor(t, patience, what, func(m []uplinktest.Message) bool {
			got := map[string]string{}
			for _, msg := range m {
				if msg.Retained {
					got[msg.Topic] = string(msg.Payload)
				}
			}
			return cmp.Equal(got, want)
		})
	}
	retained("door state and status", map[string]string{door: `{"state":"locked"}`, statusTopic: "online"})

	u.SetRetained(door, []byte(`{"state":"open"}`))
	u.SetRetained(statusTopic, []byte(`{"doors":1,"uplink":"ok"}`))
	retained("the new door state and status", map[string]string{door: `{"state":"open"}`, statusTopic: `{"doors":1,"uplink":"ok"}`})

	// A broker without persistence forgets retained messages on restart.
	before := u.State().Reconnects
	srv.Restart()
	eventually(t, "reconnected", func() bool { st := u.State(); return st.Connected && st.Reconnects > before })
	retained("both republished", map[string]string{door: `{"state":"open"}`, statusTopic: `{"doors":1,"uplink":"ok"}`})

	u.cancel()
	<-u.done
	retained("offline after an orderly stop", map[string]string{door: `{"state":"open"}`, statusTopic: "offline"})
}

// TestStalledBroker: a cloud broker that stops answering never slows the
// journal's writers. The writer appends while the uplink is stuck with a
// full window; every append returns while the broker is still frozen, and
// everything is delivered once it thaws.
func TestStalledBroker(t *testing.T) {
	const stalledAppends = 20_000
	srv := mosquittotest.Start(t)
	sub := uplinktest.Subscribe(t, srv.URL(), eventsFilter)
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	cfg := testConfig(srv.URL())
	cfg.Window = 64
	u := start(t, cfg, j, c, nil)
	appendEvents(j, 100)
	delivered(t, sub, 100)

	srv.Stall()
	appendEvents(j, 5000) // fills the window; no PUBACK comes back
	eventually(t, "the uplink to give up on the frozen connection", func() bool {
		return strings.Contains(u.State().LastError, "no PUBACK")
	})

	appended := make(chan time.Duration, 1)
	go func() {
		began := time.Now()
		appendEvents(j, stalledAppends)
		appended <- time.Since(began)
	}()
	var took time.Duration
	select {
	case took = <-appended:
	case <-time.After(patience):
		t.Fatalf("%d appends did not finish within %v while the cloud broker was stalled", stalledAppends, patience)
	}
	st := u.State()
	if st.Connected || st.Cursor >= j.Last() {
		t.Fatalf("State() = %+v after the appends: the broker was meant to be frozen throughout", st)
	}
	t.Logf("%d appends while the cloud broker was frozen: %v (%v each)", stalledAppends, took, took/stalledAppends)

	srv.Resume()
	msgs := delivered(t, sub, j.Last())
	checkIntact(t, j, msgs)
}

// TestSilentBroker: a listener that accepts connections and never answers
// holds up neither the writers nor shutdown.
func TestSilentBroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn // accepted and never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	cfg := testConfig("tcp://" + l.Addr().String())
	cfg.ConnectTimeout = 10 * time.Minute // the attempt must not hold up Run's return
	u := start(t, cfg, j, c, nil)
	appendEvents(j, 50_000)
	if st := u.State(); st.Connected || st.Cursor != 0 {
		t.Fatalf("State() = %+v, want not connected, cursor 0", st)
	}
	u.stop(t)
}

// TestNoBroker: with nothing listening the uplink keeps trying and says
// why; SetRetained still returns at once, and a second Run is refused.
func TestNoBroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	u := start(t, testConfig("tcp://"+addr), j, c, nil)
	eventually(t, "a connection error in the state", func() bool {
		st := u.State()
		return strings.Contains(st.LastError, "uplink: connect to tcp://"+addr) && st.Reconnects >= 2
	})
	for i := range 10_000 {
		u.SetRetained("lintel/v1/"+gw+"/doors/front", []byte{byte(i)})
	}
	if err := u.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run() = %v, want an error saying it is already running", err)
	}
	u.stop(t)
}

// gatedHandler is a SyncHandler that queues changesets and acknowledges
// them only once gate is closed, as the gateway's inbox does during a long
// snapshot apply.
type gatedHandler struct {
	uplinktest.Handler

	mu       sync.Mutex // guards released and pending
	released bool
	pending  []func()
}

func (h *gatedHandler) SubmitChanges(p []byte, reply func([]byte)) {
	ack := h.HandleChanges(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		reply(ack)
		return
	}
	h.pending = append(h.pending, func() { reply(ack) })
}

// release acknowledges what waits, in order, and the rest at once.
func (h *gatedHandler) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.released = true
	for _, f := range h.pending {
		f()
	}
}

// TestChangesBurstDuringApply: while changesets wait to be applied, the
// uplink hands over every later one at once, in order, and events keep
// flowing; the acks are published, in order, once they are made.
func TestChangesBurstDuringApply(t *testing.T) {
	const burst = 40
	srv := mosquittotest.Start(t)
	events := uplinktest.Subscribe(t, srv.URL(), eventsFilter)
	acks := uplinktest.Subscribe(t, srv.URL(), acksTopic)
	h := &gatedHandler{}
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	u := start(t, testConfig(srv.URL()), j, c, h)
	eventually(t, "connected", func() bool { return u.State().Connected })

	portal := connect(t, srv.URL(), "portal")
	for i := 1; i <= burst; i++ {
		if tok := portal.Publish(changesTopic, 1, false, fmt.Sprintf(`{"revision":%d}`, i)); !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatalf("portal publish: %v", tok.Error())
		}
	}
	eventually(t, "every changeset handed over", func() bool { return len(h.Changes()) == burst })
	appendEvents(j, 100)
	delivered(t, events, 100) // the changesets waiting hold up no event

	h.release()
	var want []string
	for i := 1; i <= burst; i++ {
		want = append(want, string(uplinktest.Ack(i)))
	}
	msgs := acks.WaitFor(t, patience, "an ack per changeset", func(m []uplinktest.Message) bool {
		return count(m, string(uplinktest.Ack(burst))) > 0
	})
	var got []string
	for _, m := range msgs {
		if p := string(m.Payload); p != string(uplinktest.Ack(0)) {
			got = append(got, p)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
	last := 0
	for _, p := range h.Changes() {
		var n int
		if _, err := fmt.Sscanf(string(p), `{"revision":%d}`, &n); err != nil {
			t.Fatalf("changeset %q: %v", p, err)
		}
		if n != last+1 {
			t.Fatalf("changeset %d handed over after %d", n, last)
		}
		last = n
	}
	if st := u.State(); st.AcksDropped != 0 {
		t.Errorf("State() = %+v, want no ack dropped", st)
	}
}
