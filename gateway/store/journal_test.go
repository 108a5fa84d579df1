package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/logtest"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gateway/store/storetest"
	"github.com/lintel-access/lintel/gpio/clock/clocktest"
)

// testClock is the project's fake clock, with the trust the gateway
// reports beside it (the store asks both).
type testClock struct {
	*clocktest.Fake
	trusted atomic.Bool
}

func newFakeClock() *testClock {
	c := &testClock{Fake: clocktest.New(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))}
	c.trusted.Store(true)
	return c
}

func (c *testClock) SetTrusted(v bool) { c.trusted.Store(v) }

func withClock(c *testClock) func(*store.Options) {
	return func(o *store.Options) { o.Now, o.ClockTrusted = c.Now, c.trusted.Load }
}

func appendN(t testing.TB, s *store.Store, n int, typ string) []access.Event {
	t.Helper()
	out := make([]access.Event, n)
	for i := range out {
		ev, err := s.Append(access.Event{Type: typ, Name: "Grant Access - Card", Reader: "front", Door: "front", User: fmt.Sprintf("u%d", i)})
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		out[i] = ev
	}
	return out
}

func flush(t testing.TB, s *store.Store) {
	t.Helper()
	if err := s.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func seqs(evs []access.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestAppendAssignsSeqIDAndTime(t *testing.T) {
	clock := newFakeClock()
	s := newStore(t, withClock(clock))
	ev, err := s.Append(access.Event{Type: access.TypeGranted, Name: access.NameGrantCard, Seq: 99, ID: "spoof"})
	if err != nil {
		t.Fatal(err)
	}
	given := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	clock.SetTrusted(false)
	ev2, _ := s.Append(access.Event{Type: access.TypeDenied, Time: given})
	want := []access.Event{
		{Seq: 1, ID: "gw-test-1", Time: clock.Now(), Type: access.TypeGranted, Name: access.NameGrantCard},
		{Seq: 2, ID: "gw-test-2", Time: given, ClockUntrusted: true, Type: access.TypeDenied},
	}
	if diff := cmp.Diff(want, []access.Event{ev, ev2}); diff != "" {
		t.Errorf("appended (-want +got):\n%s", diff)
	}
	// Not committed until the group is.
	flush(t, s)
	got, err := s.Events(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Events (-want +got):\n%s", diff)
	}
}

func TestJournalGapFreeAcrossRestart(t *testing.T) {
	opts := storetest.Options(t)
	s, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { appendN(t, s, 500, "t") })
	}
	wg.Wait()
	if err := s.Close(); err != nil { // Close flushes
		t.Fatal(err)
	}
	s = storetest.Open(t, opts)
	if st := s.JournalStats(); st.First != 1 || st.Last != 2000 || st.Count != 2000 {
		t.Errorf("after restart JournalStats = %+v, want 1..2000", st)
	}
	ev := appendN(t, s, 1, "t")[0]
	if ev.Seq != 2001 || ev.ID != "gw-test-2001" {
		t.Errorf("first event after restart = %d %q, want 2001", ev.Seq, ev.ID)
	}
	flush(t, s)
	var all []access.Event
	for after := uint64(0); ; {
		page, err := s.Events(after, 333)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 333 {
			t.Fatalf("a page of %d events, limit 333", len(page))
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
	if diff := cmp.Diff(span(1, 2001), seqs(all)); diff != "" {
		t.Errorf("paged sequence (-want +got):\n%s", diff)
	}
}

func TestEventsPaging(t *testing.T) {
	s := newStore(t)
	appendN(t, s, 25, "t")
	flush(t, s)
	tests := []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 10, span(1, 10)},
		{10, 10, span(11, 20)},
		{20, 10, span(21, 25)},
		{25, 10, nil},
		{99, 10, nil},
		{0, 0, span(1, 25)},
		{0, -5, span(1, 25)},
		{24, 100000, span(25, 25)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after %d limit %d", tt.after, tt.limit), func(t *testing.T) {
			got, err := s.Events(tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, seqs(got)); len(tt.want)+len(got) > 0 && diff != "" {
				t.Errorf("Events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWaitWakes(t *testing.T) {
	s := newStore(t)
	appendN(t, s, 3, "t")
	flush(t, s)
	if err := s.Wait(context.Background(), 2); err != nil {
		t.Errorf("Wait for an existing event = %v", err)
	}
	woke := make(chan error, 1)
	go func() { woke <- s.Wait(context.Background(), 3) }()
	select {
	case err := <-woke:
		t.Fatalf("Wait returned %v before a new event", err)
	default:
	}
	appendN(t, s, 1, "t")
	flush(t, s)
	if err := <-woke; err != nil {
		t.Errorf("Wait = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { woke <- s.Wait(ctx, 100) }()
	cancel()
	if err := <-woke; !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled context = %v", err)
	}
	go func() { woke <- s.Wait(context.Background(), 100) }()
	s.Close()
	if err := <-woke; !errors.Is(err, store.ErrClosed) {
		t.Errorf("Wait across Close = %v, want ErrClosed", err)
	}
}

func TestCursors(t *testing.T) {
	opts := storetest.Options(t)
	s, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 10, "t")
	flush(t, s)
	if got, err := s.Cursor("api"); err != nil || got != 0 {
		t.Errorf("an unset cursor = %d, %v; want 0", got, err)
	}
	if err := s.SetCursor(store.CursorUplink, 7); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor("api", 11); err == nil || !strings.Contains(err.Error(), "last committed event is 10") {
		t.Errorf("SetCursor past the journal = %v", err)
	}
	if err := s.SetCursor("a b", 1); err == nil {
		t.Errorf("SetCursor with a bad name succeeded")
	}
	if _, err := s.Cursor(""); err == nil {
		t.Errorf("Cursor with an empty name succeeded")
	}
	if st := s.JournalStats(); st.Undelivered != 3 {
		t.Errorf("Undelivered = %d, want 3", st.Undelivered)
	}
	s.Close()
	s = storetest.Open(t, opts)
	if got, err := s.Cursor(store.CursorUplink); err != nil || got != 7 {
		t.Errorf("uplink cursor after restart = %d, %v; want 7", got, err)
	}
	if st := s.JournalStats(); st.Undelivered != 3 {
		t.Errorf("Undelivered after restart = %d, want 3", st.Undelivered)
	}
}

func TestRetentionDropsDeliveredFirst(t *testing.T) {
	clock := newFakeClock()
	lb := &logtest.Buffer{}
	s := newStore(t, withClock(clock), withLog(lb), func(o *store.Options) { o.MaxEvents = 100 })
	appendN(t, s, 100, "t")
	flush(t, s)
	if err := s.SetCursor(store.CursorUplink, 30); err != nil {
		t.Fatal(err)
	}
	// 20 more: the 20 oldest, all delivered, make room.
	appendN(t, s, 20, "t")
	flush(t, s)
	st := s.JournalStats()
	if st.First != 21 || st.Last != 120 || st.Count != 100 || st.Overflowed != 0 {
		t.Errorf("after dropping delivered events JournalStats = %+v, want 21..120, nothing overflowed", st)
	}
	if evs, _ := s.Events(0, 1); len(evs) != 1 || evs[0].Seq != 21 {
		t.Errorf("the oldest event is %v, want 21", seqs(evs))
	}
	// 25 more: 10 delivered and 15 undelivered must go, and an overflow
	// event says so.
	appendN(t, s, 25, "t")
	flush(t, s)
	st = s.JournalStats()
	// The overflow event itself pushed out one more undelivered event.
	if st.Overflowed != 16 || st.Last != 146 {
		t.Errorf("JournalStats = %+v, want 16 overflowed and the overflow event at 146", st)
	}
	evs, err := s.Events(145, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != store.TypeJournalOverflow || evs[0].Name != "Journal Overflow" ||
		!strings.Contains(evs[0].Detail, "15 undelivered events dropped") {
		t.Fatalf("the event after the overflow = %+v, want a Journal Overflow of 15", evs)
	}
	// A further overflow within the minute is counted, reported later.
	appendN(t, s, 5, "t")
	flush(t, s)
	if evs, _ := s.Events(146, 100); len(evs) != 5 {
		t.Errorf("%d events after a second overflow within a minute, want 5 and no report yet", len(evs))
	}
	clock.Advance(2 * time.Minute)
	appendN(t, s, 1, "t")
	flush(t, s)
	evs, _ = s.Events(151, 100)
	if len(evs) != 2 || evs[1].Type != store.TypeJournalOverflow || !strings.Contains(evs[1].Detail, "7 undelivered") {
		t.Errorf("after a minute: %+v, want the event and a Journal Overflow of 7 (5 + 1 + the first report)", evs)
	}
	if !strings.Contains(lb.String(), "dropped undelivered events") {
		t.Errorf("the overflow was not logged")
	}
}

func TestRetentionWithoutUplinkTreatsAllAsUndelivered(t *testing.T) {
	s := newStore(t, withClock(newFakeClock()), func(o *store.Options) { o.MaxEvents = 10 })
	appendN(t, s, 10, "t")
	flush(t, s)
	appendN(t, s, 2, "t")
	flush(t, s)
	// 1 and 2 make room for 11 and 12, 3 for the overflow event (13).
	st := s.JournalStats()
	if st.Overflowed != 3 || st.First != 4 || st.Last != 13 || st.Undelivered != 13 {
		t.Errorf("JournalStats = %+v, want 3 overflowed, 4..13 kept, all undelivered", st)
	}
	if evs, _ := s.Events(12, 1); len(evs) != 1 || evs[0].Type != store.TypeJournalOverflow || !strings.Contains(evs[0].Detail, "2 undelivered") {
		t.Errorf("event 13 = %+v, want a Journal Overflow of 2", evs)
	}
}

func TestRetentionByAge(t *testing.T) {
	clock := newFakeClock()
	s := newStore(t, withClock(clock), func(o *store.Options) { o.MaxAge = time.Hour })
	old := clock.Now().Add(-2 * time.Hour)
	for i := range 10 {
		ev := access.Event{Type: "t", Time: old.Add(time.Duration(i) * time.Minute)}
		if i == 6 {
			ev.ClockUntrusted = true
		}
		if _, err := s.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	appendN(t, s, 2, "t") // now
	flush(t, s)
	if st := s.JournalStats(); st.First != 1 {
		t.Fatalf("undelivered old events were dropped by age: %+v", st)
	}
	if err := s.SetCursor(store.CursorUplink, 12); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	appendN(t, s, 1, "t")
	flush(t, s)
	// 1..6 expired; 7 has an untrusted time and stops the scan.
	if st := s.JournalStats(); st.First != 7 || st.Overflowed != 0 {
		t.Errorf("after age retention JournalStats = %+v, want the first at 7", st)
	}
}

func TestKillLosesOnlyUnflushedEvents(t *testing.T) {
	// See crash_test.go for the child; here the parent's view.
	dir := t.TempDir()
	out := runChild(t, "journal", dir, func(line string) bool {
		var n uint64
		_, err := fmt.Sscanf(line, "flushed %d", &n)
		return err == nil && n >= 500
	})
	var flushed uint64
	if _, err := fmt.Sscanf(out, "flushed %d", &flushed); err != nil {
		t.Fatalf("child said %q", out)
	}
	s := storetest.Open(t, childOptions(dir))
	st := s.JournalStats()
	if st.Last < flushed {
		t.Fatalf("kill -9 lost flushed events: last %d, flushed %d", st.Last, flushed)
	}
	evs, err := s.Events(0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(span(1, st.Last), seqs(evs)); diff != "" {
		t.Errorf("journal after kill -9 has gaps (-want +got):\n%s", diff)
	}
	ev := appendN(t, s, 1, "t")[0]
	if ev.Seq != st.Last+1 {
		t.Errorf("after the crash the sequence continues at %d, want %d", ev.Seq, st.Last+1)
	}
	t.Logf("flushed %d, survived %d", flushed, st.Last)
}

// TestJournalCommitsLargeEventsInSmallerChunks: a group of events whose
// bytes pass what one Badger transaction holds (long details, a burst)
// is split by bytes as well as by count, and every event is committed.
func TestJournalCommitsLargeEventsInSmallerChunks(t *testing.T) {
	s := newStore(t)
	detail := strings.Repeat("d", 800)
	const n = 3000
	for i := range n {
		if _, err := s.Append(access.Event{Type: access.TypeDenied, Name: access.NameDenyCardNotFound, Reader: "front", Detail: fmt.Sprint(i, detail)}); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, s)
	if st := s.JournalStats(); st.Last != n || st.Count != n || st.Pending != 0 {
		t.Fatalf("JournalStats = %+v, want %d events committed", st, n)
	}
	got, err := s.Events(n-1, 10)
	if err != nil || len(got) != 1 || got[0].Detail != fmt.Sprint(n-1, detail) {
		t.Fatalf("last event: %+v, %v", got, err)
	}
}
