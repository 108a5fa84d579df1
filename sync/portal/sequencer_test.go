package portal_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/sync/portal"
)

// record is what a test Handle and Lost saw, in order, per gateway.
type record struct {
	mu   sync.Mutex
	seen map[string][]string // gateway → "7" for a handled event, "lost 3-5" for a gap
}

func newRecord() *record { return &record{seen: make(map[string][]string)} }

func (r *record) handle(ev portal.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[ev.Gateway] = append(r.seen[ev.Gateway], strconv.FormatUint(ev.Seq, 10))
}

func (r *record) lost(gw string, from, to uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[gw] = append(r.seen[gw], fmt.Sprintf("lost %d-%d", from, to))
}

func (r *record) get() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]string, len(r.seen))
	for gw, s := range r.seen {
		out[gw] = append([]string(nil), s...)
	}
	return out
}

func ev(gw string, seq uint64) portal.Event {
	id := gw + "-" + strconv.FormatUint(seq, 10)
	return portal.Event{Gateway: gw, Reader: "front", Seq: seq, ID: id, Payload: []byte(`{"seq":` + strconv.FormatUint(seq, 10) + `,"id":"` + id + `"}`)}
}

// seqs renders first..last as Handle records them.
func seqs(first, last uint64) []string {
	var s []string
	for i := first; i <= last; i++ {
		s = append(s, strconv.FormatUint(i, 10))
	}
	return s
}

// runSequencer starts s in the test's bubble and stops it when the test
// body returns.
func runSequencer(t *testing.T, cfg portal.SequencerConfig) (*portal.Sequencer, func()) {
	t.Helper()
	s, err := portal.NewSequencer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	return s, func() { cancel(); <-done }
}

func TestSequencer(t *testing.T) {
	tests := []struct {
		name  string
		start uint64
		in    []uint64
		wait  time.Duration // virtual time to let pass after the last event
		want  []string
		stats portal.SequencerStats
	}{
		{"in order", 0, []uint64{1, 2, 3}, 0, seqs(1, 3),
			portal.SequencerStats{Handled: 3, Gateways: 1}},
		{"reordered", 0, []uint64{3, 1, 2, 5, 4}, 0, seqs(1, 5),
			portal.SequencerStats{Handled: 5, Early: 2, Gateways: 1}},
		{"duplicates handled once", 0, []uint64{1, 1, 3, 3, 2, 2, 1}, 0, seqs(1, 3),
			portal.SequencerStats{Handled: 3, Duplicates: 4, Early: 1, Gateways: 1}},
		{"resumes after start", 5, []uint64{4, 5, 6, 7}, 0, seqs(6, 7),
			portal.SequencerStats{Handled: 2, Duplicates: 2, Gateways: 1}},
		{"a gap waits", 0, []uint64{1, 2, 4, 5}, portal.DefaultGapTimeout / 2, seqs(1, 2),
			portal.SequencerStats{Handled: 2, Early: 2, Pending: 2, Gateways: 1}},
		{"a gap is given up", 0, []uint64{1, 2, 4, 5}, portal.DefaultGapTimeout * 2,
			[]string{"1", "2", "lost 3-3", "4", "5"},
			portal.SequencerStats{Handled: 4, Early: 2, Lost: 1, Gateways: 1}},
		{"a gap at the start", 0, []uint64{3, 4}, portal.DefaultGapTimeout * 2,
			[]string{"lost 1-2", "3", "4"},
			portal.SequencerStats{Handled: 2, Early: 2, Lost: 2, Gateways: 1}},
		{"a late event after a given up gap", 0, []uint64{1, 3}, portal.DefaultGapTimeout * 2,
			[]string{"1", "lost 2-2", "3"},
			portal.SequencerStats{Handled: 2, Early: 1, Lost: 1, Gateways: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecord()
				s, stop := runSequencer(t, portal.SequencerConfig{
					Handle: rec.handle, Lost: rec.lost,
					Start: func(string) uint64 { return tc.start },
				})
				defer stop()
				for _, seq := range tc.in {
					if err := s.Add(t.Context(), ev("gw1", seq)); err != nil {
						t.Fatal(err)
					}
				}
				synctest.Wait()
				time.Sleep(tc.wait)
				synctest.Wait()
				if diff := cmp.Diff(tc.want, rec.get()["gw1"]); diff != "" {
					t.Errorf("handled (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.stats, s.Stats()); diff != "" {
					t.Errorf("Stats() (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestSequencerLateEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecord()
		late := func(e portal.Event) { rec.handle(portal.Event{Gateway: e.Gateway, Seq: e.Seq + 1000}) }
		s, stop := runSequencer(t, portal.SequencerConfig{Handle: rec.handle, Lost: rec.lost, Late: late, GapTimeout: time.Second})
		defer stop()
		s.Add(t.Context(), ev("gw1", 5))
		time.Sleep(2 * time.Second) // 1-4 given up
		for _, seq := range []uint64{3, 3, 1, 4, 2, 2} {
			s.Add(t.Context(), ev("gw1", seq)) // late, each once; then duplicates
		}
		synctest.Wait()
		// Late events are recorded here as 1000 + seq.
		want := []string{"lost 1-4", "5", "1003", "1001", "1004", "1002"}
		if diff := cmp.Diff(want, rec.get()["gw1"]); diff != "" {
			t.Errorf("handled (-want +got):\n%s", diff)
		}
		if st := s.Stats(); st.Late != 4 || st.Duplicates != 2 || st.Lost != 4 {
			t.Errorf("Stats() = %+v, want 4 lost, 4 late, 2 duplicates", st)
		}
	})
}

func TestSequencerMaxPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecord()
		s, stop := runSequencer(t, portal.SequencerConfig{Handle: rec.handle, Lost: rec.lost, MaxPending: 3})
		defer stop()
		for _, seq := range []uint64{1, 3, 4, 5} {
			s.Add(t.Context(), ev("gw1", seq))
		}
		synctest.Wait()
		if diff := cmp.Diff([]string{"1"}, rec.get()["gw1"]); diff != "" {
			t.Errorf("with 3 waiting (-want +got):\n%s", diff)
		}
		s.Add(t.Context(), ev("gw1", 6)) // the fourth early event: no more waiting
		synctest.Wait()
		if diff := cmp.Diff([]string{"1", "lost 2-2", "3", "4", "5", "6"}, rec.get()["gw1"]); diff != "" {
			t.Errorf("past MaxPending (-want +got):\n%s", diff)
		}
	})
}

// TestSequencerManyWorkers feeds the events of many gateways, shuffled and
// partly repeated, from several goroutines at once, as workers on a shared
// subscription do, and checks every gateway's events come out once each, in
// order.
func TestSequencerManyWorkers(t *testing.T) {
	const gateways, perGateway, workers = 50, 200, 4
	rec := newRecord()
	var handled atomic.Int64
	all := make(chan struct{})
	handle := func(e portal.Event) {
		rec.handle(e)
		if handled.Add(1) == gateways*perGateway {
			close(all)
		}
	}
	s, err := portal.NewSequencer(portal.SequencerConfig{Handle: handle, Lost: rec.lost, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go s.Run(ctx)

	// Each worker gets a share of every gateway's events, in order within
	// the share, as a round-robin shared subscription hands them out.
	shares := make([][]portal.Event, workers)
	rng := rand.New(rand.NewPCG(1, 2))
	for g := range gateways {
		gw := fmt.Sprintf("gw%02d", g)
		for seq := uint64(1); seq <= perGateway; seq++ {
			w := rng.IntN(workers)
			shares[w] = append(shares[w], ev(gw, seq))
			if rng.IntN(10) == 0 { // a redelivery, to another worker
				w2 := rng.IntN(workers)
				shares[w2] = append(shares[w2], ev(gw, seq))
			}
		}
	}
	var wg sync.WaitGroup
	for _, share := range shares {
		wg.Go(func() {
			for _, e := range share {
				if err := s.Add(ctx, e); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(time.Minute):
		t.Fatalf("handled %d of %d events within a minute", s.Stats().Handled, gateways*perGateway)
	}
	got := rec.get()
	for g := range gateways {
		gw := fmt.Sprintf("gw%02d", g)
		if diff := cmp.Diff(seqs(1, perGateway), got[gw]); diff != "" {
			t.Fatalf("gateway %s (-want +got):\n%s", gw, diff)
		}
	}
	if st := s.Stats(); st.Lost != 0 || st.Pending != 0 || st.Gateways != gateways {
		t.Errorf("Stats() = %+v, want nothing lost or pending, %d gateways", st, gateways)
	}
}

func TestNewSequencerRefusesBadConfig(t *testing.T) {
	for _, cfg := range []portal.SequencerConfig{
		{},
		{Handle: func(portal.Event) {}, GapTimeout: -1},
		{Handle: func(portal.Event) {}, Shards: -1},
	} {
		if _, err := portal.NewSequencer(cfg); err == nil {
			t.Errorf("NewSequencer(%+v) = nil error", cfg)
		}
	}
}
