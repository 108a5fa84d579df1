package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ErrDiskFull: the filesystem under the store has less free space than
// Options.MinFree, so the store refuses to write. Decisions go on from
// memory; new events wait in memory until there is room again.
var ErrDiskFull = errors.New("disk full")

// Defaults of the disk guard.
const (
	// DefaultMinFree is the free space below which the store stops
	// writing: room for what Badger writes on its own after the store
	// stops (flushing two 2 MiB memtables, an L0 compaction of up to some
	// 24 MiB) with margin.
	DefaultMinFree = 64 << 20
	// DefaultDiskCheckEvery is how often the free space is measured while
	// nothing is written, and how often events held in memory are retried.
	DefaultDiskCheckEvery = 5 * time.Second
	// ballastFile holds disk space in reserve, inside Dir, while the disk is
	// healthy; it is deleted when the disk fills, to give Badger room.
	ballastFile = "lintel.reserve"
)

// CheckMinFree reports whether n is a valid Options.MinFree: zero (the
// default), a positive number of bytes, or negative (no disk guard).
// The gateway's config calls it; the rule is the store's.
func CheckMinFree(n int64) error {
	if n > 0 && n < 1<<20 {
		return fmt.Errorf("%d bytes is less than 1 MiB: Badger's own flushes need more room than that", n)
	}
	return nil
}

// DiskStats describes the filesystem under the store and whether the store
// writes to it.
type DiskStats struct {
	// Full is true while the store refuses writes (Update, ReplaceAll,
	// SetCursor, journal commits) because free space fell below MinFree.
	Full bool
	// Since is when Full last changed; zero when it never did.
	Since time.Time
	// Free is the space unprivileged users may still use, and Size the
	// filesystem's size, in bytes, as last measured (at Checked).
	Free, Size uint64
	Checked    time.Time
	// MinFree is Options.MinFree. Reserve is the free space below which
	// writes stop: MinFree, or more when the database is larger, since a
	// compaction needs room of the database's size. Resume is the free
	// space at which they start again (Reserve plus MinFree: the ballast
	// file made again out of the space that returned, and a margin so that
	// the state does not flap).
	MinFree, Reserve, Resume uint64
	// Refused counts the writes refused since Open.
	Refused uint64
	// Fault says, for people, why writes are refused; empty when they
	// are not.
	Fault string
	// Error is the last failure to measure the free space, if any. The
	// store keeps writing when it cannot tell.
	Error string
}

// diskGuard watches the free space under the store's directory. Badger
// writes through memory-mapped files, so a full disk does not fail a write
// with ENOSPC: the process dies of SIGBUS, and dies again on every restart
// that replays or flushes a memtable. The guard refuses the store's writes
// while less than the reserve is free, which leaves Badger the room for
// what it writes on its own (flushes, compactions). The reserve is minFree
// or, when larger, the room a compaction may need: a compaction writes its
// new tables before it deletes the ones they replace, and one from level 0
// may rewrite every table of the database, so the room is the size of the
// tables on disk plus the memtables' flush ([dbRoom]). Without it a database
// larger than minFree dies of SIGBUS in a compaction after the guard has
// already stopped the store's own writes.
//
// The guard also keeps a ballast file of the reserve's size in the
// directory (allocated, never written) while there is room for it, sized
// when it is made. It is deleted when
// the store opens on a full disk, so that Badger has room to start even if
// something else took the last byte, and when the free space falls below a
// quarter of the reserve while the store runs (something else is eating
// Badger's room). It is made again once the disk has room.
type diskGuard struct {
	dir     string
	minFree uint64 // 0: the guard is off
	log     *slog.Logger
	now     func() time.Time
	statfs  func(dir string) (free, size uint64, err error)
	room    func(dir string) uint64 // what Badger may write on its own; see dbRoom
	// onChange is called when Full changes, with mu held: it must not call
	// the guard.
	onChange func(st DiskStats)

	full atomic.Bool // st.Full, for readers that hold other locks

	mu        sync.Mutex // guards st and ballast, and serialises measurements
	st        DiskStats
	ballast   bool // the ballast file exists
	noBallast bool // the filesystem cannot allocate one
}

func newDiskGuard(dir string, minFree int64, log *slog.Logger, now func() time.Time) *diskGuard {
	d := &diskGuard{dir: dir, log: log, now: now, statfs: statfs, room: dbRoom, onChange: func(DiskStats) {}}
	if minFree > 0 {
		d.minFree = uint64(minFree)
		d.st.MinFree, d.st.Reserve, d.st.Resume = d.minFree, d.minFree, 2*d.minFree
	}
	return d
}

// dbRoom is the room Badger may need on its own in dir: the tables on disk
// (a compaction may rewrite all of them before it deletes the old ones) and
// the flush of every memtable.
func dbRoom(dir string) uint64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	room := uint64(numMemtables * memTableSize)
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".sst" {
			continue
		}
		if fi, err := e.Info(); err == nil {
			room += uint64(fi.Size())
		}
	}
	return room
}

// updateReserveLocked works the reserve out again, on every measurement:
// a flush or a compaction may have changed the tables since the last one
// (reading the directory costs tens of microseconds, beside a write's
// fsync).
func (d *diskGuard) updateReserveLocked() {
	d.st.Reserve = max(d.minFree, d.room(d.dir))
	d.st.Resume = d.st.Reserve + d.minFree
}

// ballastSize is the size of the ballast file made now: the reserve, so
// that deleting it on a disk something else filled gives a compaction the
// room it may need.
func (d *diskGuard) ballastSize() uint64 { return d.st.Reserve }

// open measures the disk before Badger opens it. When the disk is full it
// deletes the ballast first, so Badger has room to start.
func (d *diskGuard) open() {
	if d.minFree == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fi, err := os.Stat(d.ballastPath())
	d.ballast = err == nil
	d.updateReserveLocked()
	if d.ballast && uint64(fi.Size()) < d.ballastSize() {
		d.dropBallastLocked() // the reserve grew; made again below
	}
	d.measureLocked()
	if d.st.Full && d.dropBallastLocked() {
		d.log.Warn("the disk is full at start: deleted the ballast file to give the database room to open",
			"path", d.ballastPath(), "size", mib(d.ballastSize()))
		d.remeasureLocked()
	}
}

// allow measures the disk and returns an error wrapping ErrDiskFull when
// the store must not write now. A refusal is counted in DiskStats.Refused.
func (d *diskGuard) allow() error { return d.gate(true) }

// check measures the disk like allow, but a refusal is not counted: the
// journal's commits wait, they are not refused.
func (d *diskGuard) check() error { return d.gate(false) }

func (d *diskGuard) gate(count bool) error {
	if d.minFree == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.measureLocked()
	if !d.st.Full {
		return nil
	}
	if count {
		d.st.Refused++
	}
	return fmt.Errorf("%w: %s", ErrDiskFull, d.st.Fault)
}

// measure measures the disk, changing state when a threshold is crossed,
// with no write in view.
func (d *diskGuard) measure() {
	if d.minFree == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.measureLocked()
}

// watch sets the function told of every change of Full, and calls it at
// once when the disk is full already.
func (d *diskGuard) watch(onChange func(DiskStats)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onChange = onChange
	if d.st.Full {
		onChange(d.st)
	}
}

// isFull reports the state of the last measurement without measuring.
func (d *diskGuard) isFull() bool { return d.full.Load() }

func (d *diskGuard) stats() DiskStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

// measureLocked takes a measurement and changes state when a threshold is
// crossed.
func (d *diskGuard) measureLocked() {
	free, size, err := d.statfs(d.dir)
	if err != nil {
		if d.st.Error == "" {
			d.log.Warn("cannot measure the free disk space; writing on regardless", "dir", d.dir, "err", err)
		}
		d.st.Error = err.Error()
		return
	}
	now := d.now()
	d.updateReserveLocked()
	d.st.Free, d.st.Size, d.st.Checked, d.st.Error = free, size, now, ""
	switch {
	case !d.st.Full && free < d.st.Reserve:
		d.st.Full, d.st.Since = true, now
		d.st.Fault = fmt.Sprintf("%s free on the filesystem of %s, below the %s reserve; "+
			"writes are refused until %s are free, doors decide from memory and new events wait in memory",
			mib(free), d.dir, mib(d.st.Reserve), mib(d.st.Resume))
		d.full.Store(true)
		d.log.Error("disk full: refusing writes", "dir", d.dir, "free", mib(free), "reserve", mib(d.st.Reserve),
			"min_free", mib(d.minFree), "resume_at", mib(d.st.Resume))
		d.onChange(d.st)
	case d.st.Full && free >= d.st.Resume:
		d.makeBallastLocked()
		d.st.Full, d.st.Since, d.st.Fault = false, now, ""
		d.full.Store(false)
		d.log.Info("disk has room again: writes resume", "dir", d.dir, "free", mib(d.st.Free))
		d.onChange(d.st)
	case !d.st.Full && free >= d.st.Resume:
		d.makeBallastLocked()
	}
	if d.st.Free < d.st.Reserve/4 && d.dropBallastLocked() {
		d.log.Warn("the disk is nearly out of space: deleted the ballast file to give the database room",
			"path", d.ballastPath(), "size", mib(d.ballastSize()))
		d.remeasureLocked()
	}
}

// remeasureLocked updates the free space after the guard itself changed it.
func (d *diskGuard) remeasureLocked() {
	if free, size, err := d.statfs(d.dir); err == nil {
		d.st.Free, d.st.Size = free, size
	}
}

func (d *diskGuard) ballastPath() string { return filepath.Join(d.dir, ballastFile) }

// makeBallastLocked creates the ballast file when it is missing. A
// filesystem that cannot allocate without writing goes without one: writing
// megabytes of zeros would only wear the card.
func (d *diskGuard) makeBallastLocked() {
	if d.ballast || d.noBallast || d.st.Free < d.minFree+d.ballastSize() {
		return
	}
	path := d.ballastPath()
	if err := allocate(path, int64(d.ballastSize())); err != nil {
		os.Remove(path)
		d.noBallast = true
		d.log.Warn("cannot keep a ballast file for a full disk; going without", "path", path, "err", err)
		return
	}
	d.ballast = true
	d.remeasureLocked()
	d.log.Debug("made the ballast file", "path", path, "size", mib(d.ballastSize()))
}

// dropBallastLocked deletes the ballast file and reports whether there was
// one.
func (d *diskGuard) dropBallastLocked() bool {
	if !d.ballast {
		return false
	}
	if err := os.Remove(d.ballastPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log.Error("cannot delete the ballast file", "path", d.ballastPath(), "err", err)
		return false
	}
	d.ballast = false
	return true
}

// mib formats a byte count for people.
func mib(n uint64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// openDiskGuard makes the store's directory and measures its disk before
// Badger opens it.
func openDiskGuard(opts Options) (*diskGuard, error) {
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, err
	}
	d := newDiskGuard(opts.Dir, opts.MinFree, opts.Logger, opts.Now)
	d.open()
	return d, nil
}

// DiskStats returns the state of the disk under the store, as last
// measured: on every write, and every Options.DiskCheckEvery.
func (s *Store) DiskStats() DiskStats { return s.disk.stats() }
