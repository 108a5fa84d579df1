package uplink_test

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lintel-access/lintel/sync/uplink"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

// gw is the gateway id of every test.
const gw = "gw-test"

// readers are the readers test events rotate through; "" makes a gateway
// event without reader.
var readers = []string{"front", "side", "garage", ""}

// patience bounds every wait for a real broker or process. Reaching it is a
// failure, never a measurement.
const patience = 60 * time.Second

// testConfig is a configuration for a mosquitto on url that retries fast,
// so outages in tests are short.
func testConfig(url string) uplink.Config {
	return uplink.Config{
		URL:            url,
		KeepAlive:      2 * time.Second,
		ConnectTimeout: 2 * time.Second,
		AckTimeout:     2 * time.Second,
		BackoffMin:     10 * time.Millisecond,
		BackoffMax:     200 * time.Millisecond,
	}
}

// appendEvents appends n events, rotating through readers.
func appendEvents(j *uplinktest.MemJournal, n int) {
	for range n {
		j.AppendEvent(gw, readers[j.Last()%uint64(len(readers))])
	}
}

// running is an uplink whose Run is in progress.
type running struct {
	*uplink.Uplink
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error         // what Run returned, once done is closed
}

// stop cancels Run and waits for it to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("Run() = %v, want nil after cancel", r.err)
		}
	case <-time.After(patience):
		t.Fatalf("Run did not return within %v of cancel", patience)
	}
}

// start creates an uplink and runs it until the test ends (or stop).
func start(t *testing.T, cfg uplink.Config, j uplink.Journal, c uplink.Cursor, h uplink.SyncHandler) *running {
	t.Helper()
	u, err := uplink.New(cfg, gw, j, c, h, testLogger(t))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Uplink: u, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = u.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(patience):
			t.Errorf("Run did not return within %v of cancel", patience)
		}
	})
	return r
}

// eventually polls cond until it holds, failing the test after patience.
// It is only for state that follows a real broker or process.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(patience)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waited %v for %s", patience, what)
		}
	}
}

// delivered waits until the subscriber holds every event 1..last and
// returns the messages, failing on a loss or a reordering once all have
// come (or at the deadline).
func delivered(t *testing.T, sub *uplinktest.Subscriber, last uint64) []uplinktest.Message {
	t.Helper()
	high, scanned := uint64(0), 0
	msgs := sub.WaitFor(t, patience, "every event delivered", func(m []uplinktest.Message) bool {
		for _, msg := range m[scanned:] {
			if e, err := uplinktest.ParseEvent(msg.Payload); err == nil && e.Seq > high {
				high = e.Seq
			}
		}
		scanned = len(m)
		return high >= last
	})
	if err := uplinktest.CheckDelivery(uplinktest.Seqs(t, msgs), 1, last); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	return msgs
}

// checkIntact checks that every message is its journal entry, byte for
// byte, on the entry's reader topic, with the id the gateway gave it.
func checkIntact(t *testing.T, j *uplinktest.MemJournal, msgs []uplinktest.Message) {
	t.Helper()
	for i, m := range msgs {
		e, err := uplinktest.ParseEvent(m.Payload)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want, ok := j.Entry(e.Seq)
		if !ok {
			t.Fatalf("message %d: event %d is not in the journal", i, e.Seq)
		}
		if !bytes.Equal(m.Payload, want.Payload) {
			t.Fatalf("message %d: payload %q, want %q", i, m.Payload, want.Payload)
		}
		if got, wantTopic := m.Topic, "lintel/v1/"+gw+"/events/"+want.Reader; got != wantTopic {
			t.Fatalf("message %d (event %d): topic %q, want %q", i, e.Seq, got, wantTopic)
		}
		if got, wantID := e.ID, gw+"-"+strconv.FormatUint(e.Seq, 10); got != wantID {
			t.Fatalf("message %d: id %q, want %q", i, got, wantID)
		}
		if m.Retained {
			t.Fatalf("message %d (event %d) is retained", i, e.Seq)
		}
	}
}

// testLogger logs to the test log until the test ends, and drops what
// comes after (a connection attempt paho could not abort may end later).
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	// mu guards t, which is nil once the test has ended.
	mu sync.Mutex
	t  *testing.T
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t != nil {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t = nil
}
