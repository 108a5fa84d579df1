package portal

import (
	"cmp"
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SequencerConfig is what a [Sequencer] does with events. Handle is
// required; every other field has a documented zero value.
type SequencerConfig struct {
	// Handle is called once for every event, in seq order for each
	// gateway, with no gap: after event 7 of a gateway comes its event 8,
	// or a call of Lost for the events given up on. Calls for one gateway
	// never overlap; calls for gateways in different shards run at the
	// same time. Handle should not block for long: it holds up every
	// gateway of its shard.
	Handle func(Event)

	// Start returns the last seq already handled for a gateway the
	// sequencer meets for the first time, as the portal persisted it;
	// events up to it are duplicates. Nil, or 0, means none: the first
	// event expected is seq 1.
	Start func(gateway string) uint64

	// Lost is told of the events of a gateway the sequencer gave up
	// waiting for, from and to inclusive, before the event after them is
	// handled. Nil: they are only counted.
	Lost func(gateway string, from, to uint64)

	// Late is given an event that arrives after it was given up as lost,
	// once, out of order: a portal may still store it. Nil: it is only
	// counted. (The gap's range is remembered for the last 32 gaps of a
	// gateway; an event from an older one counts as a duplicate.)
	Late func(Event)

	// GapTimeout is how long events that arrived early wait for the
	// missing ones before those are given up as lost. A shared
	// subscription reorders by milliseconds; a missing event that has not
	// come in this long was dropped by the broker. Zero: 30 s.
	GapTimeout time.Duration

	// MaxPending bounds the early events held for one gateway; one more
	// gives the gap up at once. Zero: 10,000.
	MaxPending int

	// Shards is how many goroutines sequence events, each for the
	// gateways hashed to it. Zero: 16.
	Shards int
}

// Defaults for the zero values of SequencerConfig.
const (
	DefaultGapTimeout = 30 * time.Second
	DefaultMaxPending = 10000
	DefaultShards     = 16
)

// shardQueue is how many events may wait for one shard before Add blocks.
const shardQueue = 1024

// SequencerStats counts what a Sequencer has seen since it was made.
type SequencerStats struct {
	// Handled events went to Handle.
	Handled uint64 `json:"handled"`
	// Duplicates were dropped: their seq was handled already, or was
	// waiting already.
	Duplicates uint64 `json:"duplicates"`
	// Early events arrived before an event of the same gateway with a
	// lower seq and waited for it: the reordering the sequencer undid.
	Early uint64 `json:"early"`
	// Lost events were given up on (see SequencerConfig.Lost); Late
	// counts those of them that arrived afterwards.
	Lost uint64 `json:"lost"`
	Late uint64 `json:"late"`
	// Pending events are waiting now for a missing one.
	Pending int64 `json:"pending"`
	// Gateways is how many gateways the sequencer has seen.
	Gateways int64 `json:"gateways"`
}

// A Sequencer turns events that arrive in any order, any number of times,
// from any number of goroutines, into one call of Handle per event, in seq
// order per gateway. See the package documentation for why a shared
// subscription needs it. Create it with NewSequencer and run it with Run;
// Add and Stats may be called from any goroutine.
type Sequencer struct {
	cfg    SequencerConfig
	shards []chan Event

	handled, duplicates, early, lost, late atomic.Uint64
	pending, gateways                      atomic.Int64
}

// NewSequencer returns a Sequencer for cfg.
func NewSequencer(cfg SequencerConfig) (*Sequencer, error) {
	if cfg.Handle == nil {
		return nil, errors.New("portal: a sequencer needs a Handle function")
	}
	if cfg.GapTimeout < 0 || cfg.MaxPending < 0 || cfg.Shards < 0 {
		return nil, errors.New("portal: sequencer GapTimeout, MaxPending and Shards must not be negative")
	}
	cfg.GapTimeout = cmp.Or(cfg.GapTimeout, DefaultGapTimeout)
	cfg.MaxPending = cmp.Or(cfg.MaxPending, DefaultMaxPending)
	cfg.Shards = cmp.Or(cfg.Shards, DefaultShards)
	s := &Sequencer{cfg: cfg, shards: make([]chan Event, cfg.Shards)}
	for i := range s.shards {
		s.shards[i] = make(chan Event, shardQueue)
	}
	return s, nil
}

// shardOf returns the shard of a gateway: the same for every event of it,
// which is what keeps a gateway's events on one goroutine.
func shardOf(gateway string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(gateway))
	return int(h.Sum32() % uint32(n))
}

// Add hands ev to the shard of its gateway. It blocks while that shard's
// queue is full (so a slow Handle slows the ingestion workers, and through
// them the broker, rather than filling memory) and returns ctx.Err() if
// ctx ends first.
func (s *Sequencer) Add(ctx context.Context, ev Event) error {
	select {
	case s.shards[shardOf(ev.Gateway, len(s.shards))] <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the counters.
func (s *Sequencer) Stats() SequencerStats {
	return SequencerStats{
		Handled: s.handled.Load(), Duplicates: s.duplicates.Load(), Early: s.early.Load(),
		Lost: s.lost.Load(), Late: s.late.Load(), Pending: s.pending.Load(), Gateways: s.gateways.Load(),
	}
}

// Run sequences events until ctx is done, then returns nil. Events queued
// but not yet handled when ctx ends are dropped; the portal's Start
// resumes from what it persisted.
func (s *Sequencer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, q := range s.shards {
		wg.Go(func() { s.runShard(ctx, q) })
	}
	wg.Wait()
	return nil
}

// stream is one gateway's place in its sequence. It belongs to its shard's
// goroutine.
type stream struct {
	gateway string
	next    uint64           // the seq to handle next; everything below is done
	early   map[uint64]Event // arrived before next; nil when none
	since   time.Time        // when the wait for next began; zero when none
	// gaps are the latest ranges given up, oldest first, with the seqs
	// that arrived late taken out.
	gaps []seqRange
}

// seqRange is from..to inclusive.
type seqRange struct{ from, to uint64 }

// maxGaps bounds the given-up ranges remembered per gateway.
const maxGaps = 32

// takeLate removes seq from st's given-up ranges and reports whether it
// was in one.
func (st *stream) takeLate(seq uint64) bool {
	for i, r := range st.gaps {
		if seq < r.from || seq > r.to {
			continue
		}
		var parts []seqRange
		if seq > r.from {
			parts = append(parts, seqRange{r.from, seq - 1})
		}
		if seq < r.to {
			parts = append(parts, seqRange{seq + 1, r.to})
		}
		st.gaps = slices.Replace(st.gaps, i, i+1, parts...)
		return true
	}
	return false
}

func (s *Sequencer) runShard(ctx context.Context, q <-chan Event) {
	streams := make(map[string]*stream)
	waiting := make(map[*stream]struct{}) // streams with early events
	tick := time.NewTicker(max(s.cfg.GapTimeout/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-q:
			st := streams[ev.Gateway]
			if st == nil {
				st = &stream{gateway: ev.Gateway, next: 1}
				if s.cfg.Start != nil {
					st.next = s.cfg.Start(ev.Gateway) + 1
				}
				streams[ev.Gateway] = st
				s.gateways.Add(1)
			}
			s.add(st, ev)
			if len(st.early) > 0 {
				waiting[st] = struct{}{}
				if len(st.early) > s.cfg.MaxPending {
					s.giveUp(st)
				}
			}
			if len(st.early) == 0 {
				delete(waiting, st)
			}
		case now := <-tick.C:
			for st := range waiting {
				if now.Sub(st.since) >= s.cfg.GapTimeout {
					s.giveUp(st)
				}
				if len(st.early) == 0 {
					delete(waiting, st)
				}
			}
		}
	}
}

// add takes one event of st's gateway.
func (s *Sequencer) add(st *stream, ev Event) {
	switch {
	case ev.Seq < st.next && st.takeLate(ev.Seq):
		s.late.Add(1)
		if s.cfg.Late != nil {
			s.cfg.Late(ev)
		}
	case ev.Seq < st.next:
		s.duplicates.Add(1)
	case ev.Seq > st.next:
		if _, dup := st.early[ev.Seq]; dup {
			s.duplicates.Add(1)
			return
		}
		if st.early == nil {
			st.early = make(map[uint64]Event)
		}
		if len(st.early) == 0 {
			st.since = time.Now()
		}
		st.early[ev.Seq] = ev
		s.early.Add(1)
		s.pending.Add(1)
	default:
		s.deliver(st, ev)
		s.drain(st)
	}
}

// deliver hands the next event of st to Handle.
func (s *Sequencer) deliver(st *stream, ev Event) {
	s.cfg.Handle(ev)
	st.next = ev.Seq + 1
	s.handled.Add(1)
}

// drain delivers the early events that follow on from st.next, and
// restarts the wait for the next gap, if any.
func (s *Sequencer) drain(st *stream) {
	moved := false
	for {
		ev, ok := st.early[st.next]
		if !ok {
			break
		}
		delete(st.early, st.next)
		s.pending.Add(-1)
		s.deliver(st, ev)
		moved = true
	}
	if len(st.early) == 0 {
		st.since = time.Time{}
	} else if moved {
		st.since = time.Now()
	}
}

// giveUp declares the events from st.next to the lowest early one lost and
// delivers what follows.
func (s *Sequencer) giveUp(st *stream) {
	if len(st.early) == 0 {
		return
	}
	low := uint64(0)
	for seq := range st.early {
		if low == 0 || seq < low {
			low = seq
		}
	}
	from, to := st.next, low-1
	st.gaps = append(st.gaps, seqRange{from, to})
	if len(st.gaps) > maxGaps {
		st.gaps = st.gaps[len(st.gaps)-maxGaps:]
	}
	s.lost.Add(to - from + 1)
	if s.cfg.Lost != nil {
		s.cfg.Lost(st.gateway, from, to)
	}
	st.next = low
	s.drain(st)
}
