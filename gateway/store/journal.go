package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/lintel-access/lintel/gateway/access"
)

// Journal events written by the store itself.
const (
	TypeJournalOverflow = "journal.overflow"
	NameJournalOverflow = "Journal Overflow"
	// A full disk (see [ErrDiskFull]): the first says writes stopped, the
	// second that they resumed and how many events were lost meanwhile.
	TypeStorageFull      = "storage.full"
	NameStorageFull      = "Storage Full"
	TypeStorageRecovered = "storage.recovered"
	NameStorageRecovered = "Storage Recovered"
)

// MaxBufferedEvents bounds the events the journal holds in memory while the
// disk is full. When more arrive, the oldest tenth is dropped, so the newest
// are kept; JournalStats.Lost counts the dropped ones.
const MaxBufferedEvents = 10_000

// CursorUplink is the cursor of the cloud uplink. Retention treats events
// at or below it as delivered.
const CursorUplink = "uplink"

const (
	// maxPending bounds events appended but not yet committed while the
	// disk has room. Append refuses more (ErrJournalBacklog) rather than
	// grow without limit while the disk is slow or failing.
	maxPending = 1 << 16
	// chunkEvents is how many writes one journal transaction carries at
	// most; fewer when their bytes would pass Badger's limit.
	chunkEvents = 1000
	// txnEntryOverhead is what Badger adds to a key and an inline value
	// when it sizes a transaction (metas and the key's version).
	txnEntryOverhead = 12
	// overflowEvery spaces Journal Overflow events: each one reports all
	// undelivered events dropped since the one before.
	overflowEvery = time.Minute
	// ageCheckEvery spaces the scans for events past MaxAge.
	ageCheckEvery = time.Minute
	// maxEventsPage bounds one Events call.
	maxEventsPage = 10_000
)

// ErrJournalBacklog: events cannot be committed as fast as they come (the
// disk is failing), and the backlog is full.
var ErrJournalBacklog = errors.New("journal backlog is full")

// JournalStats describes the journal.
type JournalStats struct {
	// First and Last are the oldest and newest committed sequence numbers;
	// both are zero when the journal is empty.
	First, Last uint64
	// Count is the number of committed events kept.
	Count uint64
	// Pending is the number of events appended but not yet committed: at
	// most MaxBufferedEvents while the disk is full.
	Pending int
	// Undelivered is Last minus the uplink cursor.
	Undelivered uint64
	// Overflowed is the number of undelivered events retention has dropped
	// over the journal's life.
	Overflowed uint64
	// Lost is the number of events dropped from memory, never written,
	// since Open: the oldest of more than MaxBufferedEvents waiting for a
	// full disk.
	Lost uint64
}

// journal is the event log: appended in memory, committed to Badger in
// groups by one goroutine.
type journal struct {
	s        *Store
	db       *badger.DB
	interval time.Duration

	kick     chan struct{}   // an append found nothing pending (cap 1)
	flushReq chan chan error // Flush asks for a commit now
	quit     chan struct{}   // Close
	done     chan struct{}   // the committer has ended
	closeErr error           // the committer's last commit, read after done

	mu         sync.Mutex // guards everything below
	closed     bool
	next       uint64         // seq of the next append
	pending    []access.Event // appended, not committed
	committed  uint64         // last committed seq; 0 when none ever was
	first      uint64         // oldest kept seq; committed+1 when empty
	overflowed uint64         // undelivered events ever dropped
	lost       uint64         // events dropped from memory since Open (full disk)
	lostAtFull uint64         // lost when the disk was last found full
	renumbered bool           // pending seqs moved since their ids were made
	unreported uint64         // dropped since the last Journal Overflow event
	lastReport time.Time      // when the last Journal Overflow event was made
	nextAge    time.Time      // when retention next looks at event ages
	uplink     uint64         // the uplink cursor
	uplinkSet  bool           // whether the uplink cursor was ever set
	changed    chan struct{}  // closed and replaced when committed grows
}

func eventKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindEvent}, seq)
}

func cursorKey(name string) []byte { return append([]byte{kindCursor}, name...) }

func openJournal(s *Store) (*journal, error) {
	j := &journal{
		s: s, db: s.db, interval: s.opts.CommitInterval,
		kick: make(chan struct{}, 1), flushReq: make(chan chan error), quit: make(chan struct{}), done: make(chan struct{}),
		changed: make(chan struct{}),
	}
	err := s.db.View(func(txn *badger.Txn) error {
		if item, err := txn.Get(keyJournal); err == nil {
			err = item.Value(func(v []byte) error {
				if len(v) != 16 {
					return fmt.Errorf("journal record is %d bytes, want 16", len(v))
				}
				j.committed = binary.BigEndian.Uint64(v)
				j.overflowed = binary.BigEndian.Uint64(v[8:])
				return nil
			})
			if err != nil {
				return err
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		j.first = j.committed + 1
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindEvent}})
		defer it.Close()
		if it.Rewind(); it.Valid() {
			if seq := binary.BigEndian.Uint64(it.Item().Key()[1:]); seq <= j.committed {
				j.first = seq
			}
		}
		if item, err := txn.Get(cursorKey(CursorUplink)); err == nil {
			j.uplinkSet = true
			return item.Value(func(v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("uplink cursor is %d bytes, want 8", len(v))
				}
				j.uplink = binary.BigEndian.Uint64(v)
				return nil
			})
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j.next = j.committed + 1
	go j.run()
	return j, nil
}

// Append adds an event to the journal and returns it with its sequence
// number, its id ("<GatewayID>-<seq>") and, when ev.Time is zero, the
// current time; ClockUntrusted is set while Options.ClockTrusted says the
// clock is not synchronised. Append never waits for the disk: the event is
// committed with the next group, at most Options.CommitInterval later.
// Sequence numbers are gap-free across restarts.
func (s *Store) Append(ev access.Event) (access.Event, error) {
	trusted := s.opts.ClockTrusted()
	j := s.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ev, fmt.Errorf("store: append: %w", ErrClosed)
	}
	switch {
	case j.s.disk.isFull() && len(j.pending) >= MaxBufferedEvents:
		j.dropOldestLocked(max(MaxBufferedEvents/10, len(j.pending)-MaxBufferedEvents+1))
	case len(j.pending) >= maxPending:
		return ev, fmt.Errorf("store: append: %d events wait for the disk: %w", len(j.pending), ErrJournalBacklog)
	}
	if !trusted {
		ev.ClockUntrusted = true
	}
	return j.appendLocked(ev), nil
}

// dropOldestLocked drops the n oldest events waiting in memory. Those
// behind them move up, so the journal stays gap-free: sequence numbers of
// events never written are handed out again, as after a crash.
func (j *journal) dropOldestLocked(n int) {
	n = min(n, len(j.pending))
	for i := range j.pending[n:] {
		j.pending[i] = j.pending[n+i]
		j.pending[i].Seq -= uint64(n)
	}
	clear(j.pending[len(j.pending)-n:])
	j.pending = j.pending[:len(j.pending)-n]
	j.next -= uint64(n)
	j.lost += uint64(n)
	j.renumbered = true
}

// diskChanged journals a change of the disk's state. It runs with the
// guard's lock held.
func (j *journal) diskChanged(st DiskStats) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if st.Full {
		j.lostAtFull = j.lost
		j.appendLocked(access.Event{Type: TypeStorageFull, Name: NameStorageFull, Detail: st.Fault})
		return
	}
	j.appendLocked(access.Event{Type: TypeStorageRecovered, Name: NameStorageRecovered, Detail: fmt.Sprintf(
		"writes resumed with %s free; %d events kept in memory meanwhile are written now, %d were lost",
		mib(st.Free), len(j.pending), j.lost-j.lostAtFull)})
	select { // what waited is committed with the next group, not the next disk check
	case j.kick <- struct{}{}:
	default:
	}
}

func (j *journal) appendLocked(ev access.Event) access.Event {
	ev.Seq = j.next
	j.next++
	ev.ID = j.s.opts.GatewayID + "-" + strconv.FormatUint(ev.Seq, 10)
	if ev.Time.IsZero() {
		ev.Time = j.s.opts.Now()
	}
	j.pending = append(j.pending, ev)
	if len(j.pending) == 1 {
		select {
		case j.kick <- struct{}{}:
		default:
		}
	}
	return ev
}

// Flush waits until every event appended before it is committed.
func (s *Store) Flush() error {
	j := s.journal
	reply := make(chan error, 1)
	select {
	case j.flushReq <- reply:
		if err := <-reply; err != nil {
			return fmt.Errorf("store: flush: %w", err)
		}
		return nil
	case <-j.done:
		if j.closeErr != nil {
			return fmt.Errorf("store: flush: %w", j.closeErr)
		}
		return fmt.Errorf("store: flush: %w", ErrClosed)
	}
}

// run is the committer goroutine.
func (j *journal) run() {
	defer close(j.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	// The ticker measures the disk while nothing is written, and retries
	// events that could not be committed (a full or failing disk).
	tick := time.NewTicker(j.s.opts.DiskCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			j.mu.Lock()
			waiting := len(j.pending) > 0 && !armed
			j.mu.Unlock()
			if waiting {
				j.commitAll(1)
			} else {
				j.s.disk.measure()
			}
		case <-j.kick:
			if !armed {
				timer.Reset(j.interval)
				armed = true
			}
		case <-timer.C:
			armed = false
			j.commitAll(1)
		case reply := <-j.flushReq:
			// Two rounds: the second commits a Journal Overflow event the
			// first one's retention may have added.
			reply <- j.commitAll(2)
		case <-j.quit:
			j.closeErr = j.commitAll(2)
			if errors.Is(j.closeErr, ErrDiskFull) {
				j.mu.Lock()
				n := len(j.pending)
				j.mu.Unlock()
				j.s.log.Error("closing with events the full disk could not take: they are lost", "events", n)
			}
			return
		}
	}
}

func (j *journal) commitAll(rounds int) error {
	for range rounds {
		if err := j.commit(); err != nil {
			if !errors.Is(err, ErrDiskFull) { // the disk guard said so once
				j.s.log.Error("journal commit failed; retrying with the next group", "err", err)
			}
			return err
		}
	}
	return nil
}

// commit writes the pending events, and the retention deletions due, in
// transactions of at most chunkEvents writes; each also records the last
// committed seq, so a crash leaves a prefix of the group committed and the
// sequence continues from it.
func (j *journal) commit() error {
	j.mu.Lock()
	empty := len(j.pending) == 0
	j.mu.Unlock()
	if empty {
		return nil
	}
	if err := j.s.disk.check(); err != nil {
		return err
	}
	j.mu.Lock()
	batch := j.pending
	j.pending = nil
	first, committed := j.first, j.committed
	if j.renumbered {
		for i := range batch {
			batch[i].ID = j.s.opts.GatewayID + "-" + strconv.FormatUint(batch[i].Seq, 10)
		}
		j.renumbered = false
	}
	j.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	drop, undelivered, err := j.retention(first, committed, uint64(len(batch)))
	if err != nil {
		j.restore(batch)
		return err
	}
	j.mu.Lock()
	overflowed := j.overflowed + undelivered
	j.mu.Unlock()

	// Deletions go first, then the new events.
	dels := first + drop // delete seqs [first, dels)
	seq := first
	i := 0
	var buf []byte
	// Badger counts a transaction's bytes too; leave room for m/journal.
	maxBytes := int(j.db.MaxBatchSize()) - 256
	for seq < dels || i < len(batch) {
		txn := j.db.NewTransaction(true)
		n, size := 0, 0
		for ; seq < dels && n < chunkEvents; seq, n = seq+1, n+1 {
			key := eventKey(seq)
			if size += len(key) + txnEntryOverhead; size > maxBytes {
				break
			}
			if err := txn.Delete(key); err != nil {
				txn.Discard()
				j.restore(batch[i:])
				return fmt.Errorf("journal: drop event %d: %w", seq, err)
			}
		}
		start := i
		for ; i < len(batch) && n < chunkEvents; i, n = i+1, n+1 {
			b, err := json.Marshal(batch[i])
			if err != nil {
				txn.Discard()
				j.restore(batch[start:])
				return fmt.Errorf("journal: encode event %d: %w", batch[i].Seq, err)
			}
			key := eventKey(batch[i].Seq)
			if size += len(key) + len(b) + txnEntryOverhead; n > 0 && size > maxBytes {
				break // this event opens the next transaction
			}
			if err := txn.Set(key, b); err != nil {
				txn.Discard()
				j.restore(batch[start:])
				return fmt.Errorf("journal: write event %d: %w", batch[i].Seq, err)
			}
		}
		last := committed
		if i > 0 {
			last = batch[i-1].Seq
		}
		buf = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(buf[:0], last), overflowed)
		if err := txn.Set(keyJournal, append([]byte(nil), buf...)); err == nil {
			err = txn.Commit()
			if err != nil {
				j.restore(batch[start:])
				return fmt.Errorf("journal: commit: %w", err)
			}
		} else {
			txn.Discard()
			j.restore(batch[start:])
			return fmt.Errorf("journal: commit: %w", err)
		}
		j.mu.Lock()
		j.first = seq // every seq below it is deleted
		j.committed = last
		close(j.changed)
		j.changed = make(chan struct{})
		j.mu.Unlock()
	}
	if undelivered > 0 {
		j.report(undelivered)
	}
	return nil
}

// restore puts events that could not be committed back at the front of
// the pending list.
func (j *journal) restore(events []access.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = append(events[:len(events):len(events)], j.pending...)
}

// report counts dropped undelivered events and, at most once per
// overflowEvery, appends a Journal Overflow event saying how many.
func (j *journal) report(dropped uint64) {
	now := j.s.opts.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.overflowed += dropped
	j.unreported += dropped
	if !j.lastReport.IsZero() && now.Sub(j.lastReport) < overflowEvery {
		return
	}
	n := j.unreported
	j.unreported = 0
	j.lastReport = now
	j.s.log.Warn("journal full: dropped undelivered events", "dropped", n, "max_events", j.s.opts.MaxEvents)
	j.appendLocked(access.Event{
		Type:   TypeJournalOverflow,
		Name:   NameJournalOverflow,
		Detail: fmt.Sprintf("%d undelivered events dropped to keep the journal within %d events", n, j.s.opts.MaxEvents),
	})
}

// retention decides how many of the oldest events to drop before adding
// incoming ones to the journal [first, committed]: enough to stay within
// MaxEvents, plus delivered events past MaxAge. Events are dropped oldest
// first, so delivered events (at or below the uplink cursor) always go
// before undelivered ones; undelivered counts those among the dropped.
// Only committed events are dropped.
func (j *journal) retention(first, committed, incoming uint64) (drop, undelivered uint64, err error) {
	if committed < first {
		return 0, 0, nil
	}
	kept := committed - first + 1
	if total, limit := kept+incoming, uint64(j.s.opts.MaxEvents); total > limit {
		drop = min(total-limit, kept)
	}
	j.mu.Lock()
	delivered := first - 1 // none
	if j.uplinkSet {
		delivered = max(min(j.uplink, committed), first-1)
	}
	now := j.s.opts.Now()
	checkAge := !now.Before(j.nextAge) && j.s.opts.ClockTrusted()
	if checkAge {
		j.nextAge = now.Add(ageCheckEvery)
	}
	j.mu.Unlock()
	if checkAge && first+drop <= delivered {
		expired, err := j.expired(first+drop, delivered, now.Add(-j.s.opts.MaxAge))
		if err != nil {
			return 0, 0, err
		}
		drop += expired
	}
	if last := first + drop - 1; drop > 0 && last > delivered {
		undelivered = last - max(delivered, first-1)
	}
	return drop, undelivered, nil
}

// expired counts the events from seq from through to that happened before
// cutoff, stopping at the first that did not or whose clock was not
// trusted (its age is unknown). It looks at most chunkEvents events.
func (j *journal) expired(from, to uint64, cutoff time.Time) (uint64, error) {
	var n uint64
	err := j.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64, Prefix: []byte{kindEvent}})
		defer it.Close()
		for it.Seek(eventKey(from)); it.Valid() && n < chunkEvents; it.Next() {
			seq := binary.BigEndian.Uint64(it.Item().Key()[1:])
			if seq > to || seq != from+n {
				return nil
			}
			var ev struct {
				Time           time.Time `json:"time"`
				ClockUntrusted bool      `json:"clock_untrusted"`
			}
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &ev) }); err != nil {
				return fmt.Errorf("event %d: %w", seq, err)
			}
			if ev.ClockUntrusted || !ev.Time.Before(cutoff) {
				return nil
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("journal: retention: %w", err)
	}
	return n, nil
}

// Events returns up to limit committed events with Seq > after, in order.
// limit ≤ 0 means 1000; more than 10,000 is cut to 10,000.
func (s *Store) Events(after uint64, limit int) ([]access.Event, error) {
	var out []access.Event
	err := s.eachEvent(after, limit, func(seq uint64, v []byte) error {
		var ev access.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("event %d: %w", seq, err)
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// JournaledEvent is one event as the journal holds it.
type JournaledEvent struct {
	Seq    uint64
	Reader string // the event's reader; empty for none
	JSON   []byte // the event's JSON, exactly as journaled
}

// EventsJSON is Events for readers that pass events on unchanged (the
// cloud uplink): the same events, each as its journaled JSON beside its
// sequence number and reader, without decoding the rest of it or encoding
// it again.
func (s *Store) EventsJSON(after uint64, limit int) ([]JournaledEvent, error) {
	var out []JournaledEvent
	err := s.eachEvent(after, limit, func(seq uint64, v []byte) error {
		var ev struct {
			Reader string `json:"reader"`
		}
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("event %d: %w", seq, err)
		}
		out = append(out, JournaledEvent{Seq: seq, Reader: ev.Reader, JSON: bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachEvent calls fn with each of up to limit committed events with
// Seq > after, in order, and its stored value, valid only during the
// call. limit is as for Events. Its errors are the ones Events and
// EventsJSON return.
func (s *Store) eachEvent(after uint64, limit int, fn func(seq uint64, v []byte) error) error {
	err := s.readEvents(after, limit, fn)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrClosed):
		return fmt.Errorf("store: events: %w", err)
	default:
		return fmt.Errorf("store: events after %d: %w", after, err)
	}
}

// readEvents is eachEvent without its error wrapping.
func (s *Store) readEvents(after uint64, limit int, fn func(seq uint64, v []byte) error) error {
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, maxEventsPage)
	j := s.journal
	j.mu.Lock()
	closed, first, committed := j.closed, j.first, j.committed
	j.mu.Unlock()
	if closed {
		return ErrClosed
	}
	from := max(after+1, first)
	if from > committed {
		return nil
	}
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindEvent}})
		defer it.Close()
		n := 0
		for it.Seek(eventKey(from)); it.Valid() && n < limit; it.Next() {
			seq := binary.BigEndian.Uint64(it.Item().Key()[1:])
			if seq > committed {
				break
			}
			if err := it.Item().Value(func(v []byte) error { return fn(seq, v) }); err != nil {
				return err
			}
			n++
		}
		return nil
	})
}

// Wait blocks until a committed event with Seq > after exists, ctx ends
// (its error is returned) or the store closes (ErrClosed).
func (s *Store) Wait(ctx context.Context, after uint64) error {
	j := s.journal
	for {
		j.mu.Lock()
		committed, changed, closed := j.committed, j.changed, j.closed
		j.mu.Unlock()
		if committed > after {
			return nil
		}
		if closed {
			return fmt.Errorf("store: wait: %w", ErrClosed)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-j.done:
		}
	}
}

// JournalStats returns the journal's counters.
func (s *Store) JournalStats() JournalStats {
	j := s.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	st := JournalStats{Pending: len(j.pending), Overflowed: j.overflowed, Lost: j.lost}
	if j.committed >= j.first {
		st.First, st.Last, st.Count = j.first, j.committed, j.committed-j.first+1
	}
	st.Undelivered = j.committed - min(j.uplink, j.committed)
	return st
}

// Cursor returns a named cursor: the seq its reader has handled; 0 when it
// was never set.
func (s *Store) Cursor(name string) (uint64, error) {
	if err := access.CheckID(name); err != nil {
		return 0, fmt.Errorf("store: cursor: %w", err)
	}
	var seq uint64
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(cursorKey(name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("stored value is %d bytes, want 8", len(v))
			}
			seq = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		if errors.Is(err, badger.ErrDBClosed) {
			err = ErrClosed
		}
		return 0, fmt.Errorf("store: cursor %q: %w", name, err)
	}
	return seq, nil
}

// SetCursor durably sets a named cursor. seq may not pass the last
// committed event. The uplink's cursor (CursorUplink) also marks events at
// or below it as delivered for retention.
func (s *Store) SetCursor(name string, seq uint64) error {
	if err := access.CheckID(name); err != nil {
		return fmt.Errorf("store: set cursor: %w", err)
	}
	j := s.journal
	j.mu.Lock()
	committed, closed := j.committed, j.closed
	j.mu.Unlock()
	if closed {
		return fmt.Errorf("store: set cursor %q: %w", name, ErrClosed)
	}
	if seq > committed {
		return fmt.Errorf("store: set cursor %q to %d: the last committed event is %d", name, seq, committed)
	}
	if err := s.disk.allow(); err != nil {
		return fmt.Errorf("store: set cursor %q: %w", name, err)
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(cursorKey(name), binary.BigEndian.AppendUint64(nil, seq))
	})
	if err != nil {
		return fmt.Errorf("store: set cursor %q: %w", name, err)
	}
	if name == CursorUplink {
		j.mu.Lock()
		j.uplink, j.uplinkSet = seq, true
		j.mu.Unlock()
	}
	return nil
}

// close commits what is pending and stops the committer.
func (j *journal) close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	close(j.quit)
	<-j.done
	return j.closeErr
}
