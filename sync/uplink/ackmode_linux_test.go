package uplink

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lintel-access/lintel/broker/mosquittotest"
)

// sliceJournal is a journal in memory, for the tests of this package that
// cannot import uplinktest (it imports this package).
type sliceJournal struct {
	mu      sync.Mutex
	entries []Entry
	grew    chan struct{} // closed and replaced on every append
}

func newSliceJournal() *sliceJournal { return &sliceJournal{grew: make(chan struct{})} }

func (j *sliceJournal) append(n int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for range n {
		seq := uint64(len(j.entries) + 1)
		j.entries = append(j.entries, Entry{Seq: seq, Reader: "front", Payload: fmt.Appendf(nil, `{"seq":%d}`, seq)})
	}
	close(j.grew)
	j.grew = make(chan struct{})
}

func (j *sliceJournal) After(after uint64, limit int) ([]Entry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if after >= uint64(len(j.entries)) {
		return nil, nil
	}
	rest := j.entries[after:]
	return rest[:min(limit, len(rest))], nil
}

func (j *sliceJournal) Wait(ctx context.Context, after uint64) error {
	for {
		j.mu.Lock()
		n, grew := uint64(len(j.entries)), j.grew
		j.mu.Unlock()
		if n > after {
			return nil
		}
		select {
		case <-grew:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type memCursor struct{}

func (memCursor) Load() (uint64, error) { return 0, nil }
func (memCursor) Save(uint64) error     { return nil }

// TestBulkWhileBacklogDrains: against a real mosquitto, the uplink's
// connection stops acknowledging at once while a backlog larger than the
// window waits (the broker stalled, the window full), and acknowledges at
// once again when the backlog has drained.
func TestBulkWhileBacklogDrains(t *testing.T) {
	srv := mosquittotest.Start(t)
	j := newSliceJournal()
	u, err := New(Config{URL: srv.URL(), KeepAlive: 30 * time.Second, AckTimeout: 30 * time.Second, Window: 16}, "gw-test", j, memCursor{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	bulk := func() (on, ok bool) {
		u.mu.Lock()
		c := u.live
		u.mu.Unlock()
		if c == nil {
			return false, false
		}
		q, ok := c.acks.(*quickAckConn)
		if !ok {
			t.Fatalf("the live connection acknowledges with %T, want a *quickAckConn", c.acks)
		}
		return q.bulk.Load(), true
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 30s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("connected", func() bool { _, ok := bulk(); return ok })
	if on, _ := bulk(); on {
		t.Fatal("bulk mode with nothing to send")
	}

	srv.Stall()
	j.append(100)
	waitFor("bulk mode while 100 events wait behind a window of 16", func() bool { on, _ := bulk(); return on })
	srv.Resume()
	waitFor("the backlog drained", func() bool { return u.State().Cursor == 100 })
	waitFor("bulk mode left once caught up", func() bool { on, ok := bulk(); return ok && !on })
}
