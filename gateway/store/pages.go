package store

import (
	"os"
	"runtime/debug"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
)

// Badger reads and writes its tables through memory maps, and every page
// a read touched or a write made counts in the process's RSS until the
// kernel wants the memory back: at Open every page of the live table
// generation (113 MiB with a million users), during a snapshot the tables
// it writes, after a compaction the tables it wrote. Decisions never read
// them, so the store drops them (releaseTablePages) after Open, every
// thousand users of a snapshot, and whenever Badger's set of tables has
// changed and then stayed the same for a second (pageKeeper). The pages
// stay in the page cache; a read maps them back in.

// releaseMemory hands what a load or a snapshot leaves behind back to the
// kernel: the pages of Badger's tables it read or wrote, and the garbage,
// which the Go runtime would otherwise return only slowly
// (debug.FreeOSMemory, a collection and a scavenge of a few milliseconds
// at 100k users). Its callers keep Close out.
func (s *Store) releaseMemory() {
	if err := s.releaseTablePages(); err != nil {
		s.log.Warn("could not release the pages of Badger's tables", "err", err)
	}
	debug.FreeOSMemory()
}

// releaseTablePages drops the process's pages of Badger's tables. A
// table's mapping may only be dropped while Badger cannot unmap it (and
// something else be mapped at its address, which MADV_DONTNEED would
// zero): an iterator holds a reference to every table in the levels when
// it is made, and a table that leaves the levels never comes back (Badger
// rewrites, never moves, tables between levels), so a table listed both
// before and after the iterator is made is one it holds.
func (s *Store) releaseTablePages() error {
	ids := func() map[uint64]bool {
		m := make(map[uint64]bool)
		for _, t := range s.db.Tables() {
			m[t.ID] = true
		}
		return m
	}
	before := ids()
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{})
	defer it.Close()
	after := ids()
	_, err := dropTablePages(s.opts.Dir, func(id uint64) bool { return before[id] && after[id] })
	return err
}

// Timing of the page keeper. It leaves a compaction's garbage (Badger
// allocates 7 MiB for each table it builds) to the runtime: handing it
// back at once would have the next decisions' allocations page-fault,
// and under the memory limit the runtime returns it soon enough.
const (
	// pageCheckEvery is how often it looks at Badger's tables.
	pageCheckEvery = time.Second
	// pageRefreshEvery is how often it drops the pages even if the tables
	// stayed the same: reads (Store.User, a listing) map pages in too.
	pageRefreshEvery = time.Minute
)

// pageKeeper drops the pages of Badger's tables once its compactions have
// settled: when the set of tables has changed since the pages were last
// dropped and then stayed the same for one check, or pageRefreshEvery
// after the last drop.
type pageKeeper struct {
	quit chan struct{}
	done sync.WaitGroup
	pageSchedule
}

// pageSchedule is the keeper's decision, apart from its clock.
type pageSchedule struct {
	seen, last uint64 // fingerprints of the table set: at the last check, at the last drop
	lastAt     time.Time
}

// due reports whether the pages are to be dropped now, with the table
// set's fingerprint fp.
func (p *pageSchedule) due(fp uint64, now time.Time) bool {
	settled := fp == p.seen
	p.seen = fp
	return settled && (fp != p.last || now.Sub(p.lastAt) >= pageRefreshEvery)
}

// dropped records that the pages of table set fp were dropped at now.
func (p *pageSchedule) dropped(fp uint64, now time.Time) { p.last, p.lastAt = fp, now }

// tableSet is a fingerprint of the Badger tables in dir, from their file
// names: Store's Tables would read every table's index, and map its pages
// back in.
func tableSet(dir string) uint64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var fp uint64
	for _, e := range ents {
		id, ok := table.ParseFileID(e.Name())
		if !ok {
			continue
		}
		// Table ids are unique; a sum of their mixes does not depend on
		// the order the directory lists them in.
		x := id*0x9E3779B97F4A7C15 + 1
		x ^= x >> 29
		fp += x * 0xBF58476D1CE4E5B9
	}
	return fp
}

func startPageKeeper(s *Store) *pageKeeper {
	p := &pageKeeper{quit: make(chan struct{})}
	// Open has just dropped them.
	fp := tableSet(s.opts.Dir)
	p.dropped(fp, time.Now())
	p.seen = fp
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(pageCheckEvery)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case now := <-t.C:
				fp := tableSet(s.opts.Dir)
				if !p.due(fp, now) {
					continue
				}
				if err := s.releaseTablePages(); err != nil {
					s.log.Warn("could not release the pages of Badger's tables", "err", err)
				}
				p.dropped(fp, now)
			}
		}
	}()
	return p
}

// stop ends the keeper and waits for it; it must end before the database
// closes.
func (p *pageKeeper) stop() {
	close(p.quit)
	p.done.Wait()
}
