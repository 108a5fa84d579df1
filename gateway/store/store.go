package store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/lintel-access/lintel/gateway/access"
)

// Options configures a Store. Zero values are documented per field.
type Options struct {
	// Dir is the Badger directory. Required.
	Dir string
	// KeyFile holds the 32-byte device key that PINs are hashed under. It
	// is created (mode 0600) on first start. Required, and it must lie
	// outside Dir: a copy of the database alone must not be enough to test
	// PINs against it.
	KeyFile string
	// GatewayID names this gateway; event ids are "<GatewayID>-<seq>".
	// Required; it must pass access.CheckID.
	GatewayID string
	// Logger receives the store's and Badger's messages. Nil discards them.
	Logger *slog.Logger
	// CommitInterval is the journal's group commit: appended events are
	// committed together at most this long after the first of them. Zero
	// means 10ms.
	CommitInterval time.Duration
	// MaxEvents bounds the journal. Zero means 1,000,000.
	MaxEvents int
	// MaxAge drops delivered events older than this. Zero means 90 days.
	MaxAge time.Duration
	// ClockTrusted reports whether the wall clock is synchronised. Events
	// appended while it reports false are flagged ClockUntrusted. Nil means
	// always trusted.
	ClockTrusted func() bool
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Site is the configured doors, which policy writes are checked
	// against (a level may only name a door the gateway has). The zero
	// Site has no doors, so it refuses every level but the built-in one.
	Site access.Site
	// Duress keeps duress codes unambiguous (access.duress =
	// "last_digit_plus_one"): no PIN may be another user's PIN plus one in
	// its last digit. Open refuses a table that breaks this, listing the
	// users whose PINs to re-issue.
	Duress bool
	// MinFree is the free space, in bytes, on the filesystem of Dir below
	// which the store refuses to write ([ErrDiskFull]); see [DiskStats].
	// Zero means DefaultMinFree (64 MiB); negative turns the guard off.
	MinFree int64
	// DiskCheckEvery is how often the free space is measured while
	// nothing is written. Zero means DefaultDiskCheckEvery (5s).
	DiskCheckEvery time.Duration
	// CheckCard, when set, is the rule of which cards may be enrolled
	// (the gateway passes its readers' formats, gpio/wiegand's
	// CardFormats.Check): a credential whose card it refuses is not
	// added, by Update or ReplaceAll. An error that names a field of the
	// card should be an *access.FieldError with Field "format",
	// "facility" or "number"; the store reports it as the credential's
	// "card.<field>". Nil takes any card whose format has the shape of
	// access.CheckCardFormat.
	CheckCard func(access.CardKey) error
}

// Defaults of Options fields left zero.
const (
	DefaultCommitInterval = 10 * time.Millisecond
	DefaultMaxEvents      = 1_000_000
	DefaultMaxAge         = 90 * 24 * time.Hour
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MinFree == 0 {
		o.MinFree = DefaultMinFree
	}
	if o.DiskCheckEvery <= 0 {
		o.DiskCheckEvery = DefaultDiskCheckEvery
	}
	if o.ClockTrusted == nil {
		o.ClockTrusted = func() bool { return true }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o Options) validate() error {
	if o.Dir == "" {
		return errors.New("options: Dir is required")
	}
	if o.KeyFile == "" {
		return errors.New("options: KeyFile is required")
	}
	if err := access.CheckID(o.GatewayID); err != nil {
		return fmt.Errorf("options: GatewayID: %w", err)
	}
	if err := CheckMinFree(o.MinFree); err != nil {
		return fmt.Errorf("options: MinFree: %w", err)
	}
	if err := CheckKeyFile(o.KeyFile, o.Dir); err != nil {
		return fmt.Errorf("options: KeyFile: %w", err)
	}
	return nil
}

// Errors callers act on. The store speaks the core's vocabulary: a missing
// user, credential or policy object wraps access.ErrNotFound, a card or
// credential id held already access.ErrCredentialInUse, a broken rule
// access.ErrInvalid (or the PIN policy's errors, access.ErrPINInUse,
// access.ErrPINLength, ...), an object still named by another
// access.ErrInUse. The errors below are the store's own.
var (
	// ErrUserRepeated: a snapshot lists the same user id twice.
	ErrUserRepeated = errors.New("user id is listed twice")
	// ErrTooLarge: an Update writes more than one Badger transaction holds.
	// Replace the whole table with ReplaceAll instead.
	ErrTooLarge = errors.New("too many changes for one transaction")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store is closed")
	// ErrTxDone: a Tx was used after its Update returned.
	ErrTxDone = errors.New("transaction has already ended")
)

// UserRecord is a user as the table holds it. The PIN is never returned;
// HasPIN says whether there is one.
type UserRecord struct {
	User        access.User
	HasPIN      bool
	Credentials []access.Credential // sorted by id
}

// Counts are the table's sizes.
type Counts struct {
	Users, Credentials, PINs int
}

// Store is Lintel's database: the user table with its in-memory index, the
// event journal and the named cursors. All methods are safe for concurrent
// use.
type Store struct {
	opts   Options
	log    *slog.Logger
	db     *badger.DB
	hasher *pinHasher
	// rand is the source of generated PINs; nil means crypto/rand.
	rand io.Reader

	// writeMu serialises the table's writers (Update, ReplaceAll). A holder
	// may read idx without mu, since only writeMu holders change it.
	writeMu sync.Mutex
	// gen is the table generation; it changes only under writeMu and mu.
	gen uint32
	// cleanup tracks the removal of a replaced table generation.
	cleanup sync.WaitGroup

	// gcMu keeps a value-log GC and Close apart; neither may wait on mu.
	gcMu sync.Mutex

	// mu guards idx, rev, policy, policyDig and closed. Decisions take it
	// for reading; writers take it for writing only to publish a committed
	// change.
	mu     sync.RWMutex
	idx    *index
	rev    uint64
	closed bool
	// policy is the policy table, replaced whole by a commit that changes
	// it; policyDig is its part of the digest.
	policy    *access.Table
	policyDig digest
	// onPolicy is told of every new policy table; set once, under writeMu.
	onPolicy func(*access.Table)

	journal *journal
	// disk refuses writes while the disk is nearly full.
	disk *diskGuard
	// pages drops the pages of Badger's tables once compactions settle.
	pages *pageKeeper
}

var _ access.Directory = (*Store)(nil)

// Badger keys. Every key starts with a one-byte kind.
const (
	kindMeta   = 'm' // small state: generation and revision, key check, journal
	kindUser   = 'u' // 'u' gen(4) id → stored user record
	kindEvent  = 'e' // 'e' seq(8) → JSON event
	kindCursor = 'c' // 'c' name → seq(8)
)

var (
	keyState    = []byte("m/state")    // gen(4) rev(8) users(4) credentials(4)
	keyKeyCheck = []byte("m/keycheck") // HMAC of a fixed text: proves the device key matches
	keyJournal  = []byte("m/journal")  // last committed seq(8), overflowed(8)
)

func userPrefix(gen uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{kindUser}, gen)
}

func userKey(gen uint32, id string) []byte {
	return append(userPrefix(gen), id...)
}

// encodeState encodes the table's state record. The counts are only a
// hint, to size the index before it is loaded; the digest is the table's
// users' part of [Store.Digest], kept so that Open need not hash every
// record again.
func encodeState(gen uint32, rev uint64, c Counts, d digest) []byte {
	b := make([]byte, 0, stateSize)
	b = binary.BigEndian.AppendUint32(b, gen)
	b = binary.BigEndian.AppendUint64(b, rev)
	b = binary.BigEndian.AppendUint32(b, uint32(c.Users))
	b = binary.BigEndian.AppendUint32(b, uint32(c.Credentials))
	for _, l := range d {
		b = binary.BigEndian.AppendUint64(b, l)
	}
	return b
}

// Sizes of the state record: with the users' digest, and as Lintel wrote
// it before it kept the digest.
const (
	stateSize       = 52
	stateSizeNoHash = 20
)

// The memtables' size and number; the disk guard's reserve counts their
// flush.
const (
	memTableSize = 2 << 20
	numMemtables = 2
)

// badgerOptions are Lintel's Badger settings for a 512 MB Raspberry Pi; see
// the package documentation for each choice and what it costs.
func badgerOptions(dir string, log *slog.Logger) badger.Options {
	o := badger.DefaultOptions(dir)
	o.MemTableSize = memTableSize
	o.NumMemtables = numMemtables
	o.NumLevelZeroTables = 2
	o.NumLevelZeroTablesStall = 8
	o.BaseTableSize = 2 << 20
	o.BaseLevelSize = 8 << 20
	o.ValueThreshold = 1 << 10
	o.ValueLogFileSize = 64 << 20
	o.ValueLogMaxEntries = 200_000
	o.BlockCacheSize = 0
	o.IndexCacheSize = 0
	o.Compression = options.None
	o.NumCompactors = 2
	o.NumGoroutines = 2
	o.SyncWrites = true
	o.DetectConflicts = false
	o.MetricsEnabled = false
	o.Logger = badgerLogger{log}
	return o
}

// ErrUnsupportedPlatform: the store refuses to open on a 32-bit platform.
// Badger v4.9.6 cannot read back its own tables there: with the store's
// options it panics reading them, with compression it silently returns
// nothing written before a reopen (measured under qemu-arm and natively on
// 386). Doors need a table that survives a restart, so Lintel runs only on
// a 64-bit OS (arm64 on a Raspberry Pi Zero 2 W, 3, 4 or 5).
var ErrUnsupportedPlatform = errors.New("store: a 32-bit platform is not supported: Badger v4.9.6 cannot read back its data there; install a 64-bit (arm64) OS")

// removeEmptyMemtables deletes memtable files of zero length. A process
// killed between creating a memtable's file and sizing it leaves one behind,
// and Badger v4.9.6 then refuses to open the database ("while opening fid:
// N err: Create a new file"). Such a file holds nothing, not even its
// header, so removing it loses nothing.
func removeEmptyMemtables(dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".mem") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if info.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
		log.Warn("removed an empty memtable file left by a crash", "file", e.Name())
	}
	return nil
}

// Open opens or creates the store and loads the table into memory. The
// doors can be served as soon as it returns.
func Open(opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if strconv.IntSize < 64 {
		return nil, ErrUnsupportedPlatform
	}
	start := time.Now()
	opts = opts.withDefaults()
	key, err := loadDeviceKey(opts.KeyFile, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	disk, err := openDiskGuard(opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	if err := removeEmptyMemtables(opts.Dir, opts.Logger); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	db, err := badger.Open(badgerOptions(opts.Dir, opts.Logger))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	s := &Store{opts: opts, log: opts.Logger, db: db, hasher: newPINHasher(key[:]), disk: disk}
	if err := s.load(key[:]); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	j, err := openJournal(s)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", opts.Dir, err)
	}
	s.journal = j
	disk.watch(j.diskChanged)
	s.releaseMemory()
	s.pages = startPageKeeper(s)
	c := s.idx.counts()
	s.log.Info("store open", "dir", opts.Dir, "users", c.Users, "credentials", c.Credentials,
		"pins", c.PINs, "revision", s.rev, "generation", s.gen, "journal_last", j.committed,
		"took", time.Since(start).Round(time.Millisecond))
	return s, nil
}

// load checks the device key, removes an unfinished table generation and
// builds the index.
func (s *Store) load(deviceKey []byte) error {
	mac := hmac.New(sha256.New, deviceKey)
	mac.Write([]byte("lintel device key check v1"))
	check := mac.Sum(nil)
	err := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(keyKeyCheck)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(keyKeyCheck, check)
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if !hmac.Equal(v, check) {
				return fmt.Errorf("the device key in %s is not the one this database was made with; "+
					"its PINs cannot be checked (restore the key file, or start with an empty database)", s.opts.KeyFile)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("device key check: %w", err)
	}
	var (
		hint Counts
		dig  *digest
	)
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyState)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil // an empty table; its digest is computed from no records
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != stateSize && len(v) != stateSizeNoHash {
				return fmt.Errorf("state record is %d bytes, want %d", len(v), stateSize)
			}
			s.gen = binary.BigEndian.Uint32(v)
			s.rev = binary.BigEndian.Uint64(v[4:])
			hint.Users = int(binary.BigEndian.Uint32(v[12:]))
			hint.Credentials = int(binary.BigEndian.Uint32(v[16:]))
			if len(v) == stateSize {
				dig = new(digest)
				for i := range dig {
					dig[i] = binary.BigEndian.Uint64(v[20+8*i:])
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	if err := s.dropOtherGenerations(); err != nil {
		return err
	}
	ix, err := s.loadIndex(s.gen, hint, dig)
	if err != nil {
		return err
	}
	s.idx = ix
	if s.policy, err = s.loadPolicy(s.gen); err != nil {
		return err
	}
	s.policyDig = policyDigest(s.policy)
	return nil
}

// dropOtherGenerations deletes the user and policy records of every table
// generation but the current one: what an interrupted ReplaceAll, or one
// interrupted while removing the old table, left behind.
func (s *Store) dropOtherGenerations() error {
	var stale packedKeys
	err := s.db.View(func(txn *badger.Txn) error {
		for _, kind := range []byte{kindUser, kindPolicy} {
			it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{kind}})
			cur := generationPrefix(kind, s.gen)
			it.Rewind()
			for it.Valid() {
				if bytes.HasPrefix(it.Item().Key(), cur) {
					if s.gen == ^uint32(0) {
						break
					}
					it.Seek(generationPrefix(kind, s.gen+1)) // skip the live generation
					continue
				}
				stale.add(it.Item().Key())
				it.Next()
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("find stale table generations: %w", err)
	}
	if stale.len() == 0 {
		return nil
	}
	if s.disk.isFull() {
		// Only the live generation is ever read, so the rest can wait
		// for a disk with room.
		s.log.Warn("leaving an unfinished or replaced table generation on the full disk", "records", stale.len())
		return nil
	}
	s.log.Warn("removing an unfinished or replaced table generation", "records", stale.len(), "generation", s.gen)
	return s.deleteKeys(stale)
}

// generationPrefix is the key prefix of kind's records in a generation.
func generationPrefix(kind byte, gen uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{kind}, gen)
}

// deleteKeys deletes keys in as many transactions as needed.
func (s *Store) deleteKeys(keys packedKeys) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for k := range keys.all() {
		if err := wb.Delete(k); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// packedKeys are keys in one buffer, which costs the garbage collector one
// object however many keys there are.
type packedKeys struct {
	buf  []byte
	ends []uint32 // key i is buf[ends[i-1]:ends[i]]
}

func (p *packedKeys) add(parts ...[]byte) {
	for _, b := range parts {
		p.buf = append(p.buf, b...)
	}
	p.ends = append(p.ends, uint32(len(p.buf)))
}

func (p packedKeys) len() int { return len(p.ends) }

func (p packedKeys) all() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		start := uint32(0)
		for _, end := range p.ends {
			// Full slice expressions: Badger may keep a key until it
			// commits, and must never append into the next one.
			if !yield(p.buf[start:end:end]) {
				return
			}
			start = end
		}
	}
}

// loadIndex reads table generation gen into a new index: each record
// straight into the index's records (loadRecord), then the hash tables in
// one pass each. dig is the users' digest the state record keeps; nil (a
// table written before the state kept it) has every record decoded and
// hashed to compute it.
//
// A cold start uses both cores: one goroutine iterates Badger and copies
// records into chunks, another reads them into the index, and the four
// hash tables are built two at a time.
func (s *Store) loadIndex(gen uint32, hint Counts, dig *digest) (*index, error) {
	const chunkSize = 256 << 10
	full := make(chan []byte, 2)
	empty := make(chan []byte, 3)
	for range 3 {
		empty <- make([]byte, 0, chunkSize)
	}
	var readErr error
	prefix := userPrefix(gen)
	go func() {
		defer close(full)
		readErr = s.db.View(func(txn *badger.Txn) error {
			// Values are small and stored in the tree, so prefetching (a
			// goroutine per record in Badger) would only cost.
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			defer it.Close()
			chunk := <-empty
			for it.Rewind(); it.Valid(); it.Next() {
				item := it.Item()
				id := item.Key()[len(prefix):]
				err := item.Value(func(v []byte) error {
					// A chunk holds records as id length (1 byte), value
					// length (4), id, value.
					if len(chunk) > 0 && len(chunk)+5+len(id)+len(v) > cap(chunk) {
						full <- chunk
						chunk = (<-empty)[:0]
					}
					if len(id) > 255 || uint64(len(v)) > math.MaxUint32 {
						return fmt.Errorf("record of %d bytes under a key of %d bytes: %w", len(v), len(id), errRecord)
					}
					chunk = append(chunk, byte(len(id)))
					chunk = binary.BigEndian.AppendUint32(chunk, uint32(len(v)))
					chunk = append(chunk, id...)
					chunk = append(chunk, v...)
					return nil
				})
				if err != nil {
					return err
				}
			}
			if len(chunk) > 0 {
				full <- chunk
			}
			return nil
		})
	}()
	// Room for ids of about 12 bytes; longer ones grow the arena, which
	// is trimmed to size at the end.
	ix := newIndex(hint.Users, hint.Credentials, 13*(hint.Users+hint.Credentials))
	var (
		duress duressCheck
		sum    digest
		rv     recordView
		err    error
	)
	for chunk := range full {
		for b := chunk; len(b) > 0 && err == nil; {
			idLen, vLen := int(b[0]), int(binary.BigEndian.Uint32(b[1:]))
			id, v := b[5:5+idLen], b[5+idLen:5+idLen+vLen]
			b = b[5+idLen+vLen:]
			var slot uint32
			if slot, err = ix.loadRecord(&rv, id, v); err != nil {
				break
			}
			if s.opts.Duress {
				duress.addSlot(slot, rv.flags&recHasPIN != 0, rv.flags&recNbr != 0, rv.nbr)
			}
			if dig == nil {
				var st userState
				if st, err = decodeUser(string(id), v); err != nil {
					break
				}
				sum.add(hashRecord(&st))
			}
		}
		empty <- chunk // never blocks: there are three
	}
	if err = cmp.Or(readErr, err); err == nil {
		err = ix.buildTables()
	}
	if err != nil {
		return nil, fmt.Errorf("load table generation %d: %w", gen, err)
	}
	if dig == nil {
		if len(ix.users) > 0 {
			s.log.Info("computed the table's digest, which the state record keeps from the next write", "users", len(ix.users))
		}
		dig = &sum
	}
	ix.digest = *dig
	if len(ix.arena) < cap(ix.arena)-cap(ix.arena)/16 {
		ix.arena = slices.Clip(append(make([]byte, 0, len(ix.arena)), ix.arena...))
	}
	if err := duress.check(ix); err != nil {
		return nil, fmt.Errorf("access.duress is on, but %w", err)
	}
	return ix, nil
}

// checkFree reports whether st's PIN, credential ids and cards are free in
// ix, which must not hold st's user yet.
func (ix *index) checkFree(st *userState) error {
	if slot, ok := ix.userSlot(st.user.ID); ok {
		// A snapshot fills a fresh index in order, so the slot is the
		// position of the user that came first.
		return fmt.Errorf("listed before as user %d: %w", slot, ErrUserRepeated)
	}
	if st.hasPIN {
		if other, ok := ix.pinHolder(st.pin); ok {
			return fmt.Errorf("the PIN is also user %q's: %w", other, access.ErrPINInUse)
		}
	}
	for _, c := range st.creds {
		if other, ok := ix.credUser(c.ID); ok {
			return fmt.Errorf("credential id %q is also user %q's: %w", c.ID, other, access.ErrCredentialInUse)
		}
		if other, ok := ix.cardHolder(c.Card); ok {
			return fmt.Errorf("card %s of credential %q is also credential %q: %w", c.Card, c.ID, other, access.ErrCredentialInUse)
		}
	}
	return nil
}

// Close flushes the journal and closes the database. Decisions after Close
// find nobody.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.pages.stop()
	jerr := s.journal.close()
	s.writeMu.Lock()
	s.cleanup.Wait()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	s.idx = newIndex(0, 0, 0)
	s.mu.Unlock()
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	if jerr != nil {
		return fmt.Errorf("store: close: %w", jerr)
	}
	return nil
}

// Card returns the holder of a card. It reads only memory. The holder's
// User carries everything a decision needs (id, enabled, validity) but not
// the name, which stays on disk; [Store.User] has it.
func (s *Store) Card(key access.CardKey) (access.Holder, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.card(key)
}

// PIN returns the user holding exactly these digits as their PIN. It reads
// only memory, and neither keeps nor logs the digits. As with Card, the
// holder's name is left empty.
func (s *Store) PIN(digits []byte) (access.Holder, bool) {
	if len(digits) < access.MinPINLength || len(digits) > access.MaxPINLength {
		return access.Holder{}, false
	}
	k := s.hasher.key(digits)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.pin(k)
}

// User returns a user with their credentials. It reads Badger: names are
// not kept in memory.
func (s *Store) User(id string) (UserRecord, error) {
	for {
		s.mu.RLock()
		gen, closed := s.gen, s.closed
		s.mu.RUnlock()
		if closed {
			return UserRecord{}, fmt.Errorf("store: user %q: %w", id, ErrClosed)
		}
		st, ok, err := s.readUser(gen, id)
		s.mu.RLock()
		moved := s.gen != gen
		s.mu.RUnlock()
		switch {
		case moved:
			continue // a snapshot replaced the table while we read; read the new one
		case err != nil:
			return UserRecord{}, fmt.Errorf("store: user %q: %w", id, err)
		case !ok:
			return UserRecord{}, fmt.Errorf("user %q: %w", id, access.ErrNotFound)
		}
		return st.record(), nil
	}
}

// readUser reads a user's record from table generation gen.
func (s *Store) readUser(gen uint32, id string) (userState, bool, error) {
	if access.CheckID(id) != nil {
		return userState{}, false, nil
	}
	var st userState
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(userKey(gen, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return item.Value(func(v []byte) error {
			st, err = decodeUser(id, v)
			return err
		})
	})
	if errors.Is(err, badger.ErrDBClosed) {
		err = ErrClosed
	}
	return st, found && err == nil, err
}

// Counts returns the number of users, credentials and PINs.
func (s *Store) Counts() Counts {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.counts()
}

// Revision returns the sync revision the table is at.
func (s *Store) Revision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// Digest returns a hash of the table's content that does not depend on the
// order it was written in: the sum, modulo 2^256, of the SHA-256 of every
// user's [CanonicalRecord] and every policy object's canonical record
// ([CanonicalSchedule] and the others), as a 32-byte big-endian number. An
// empty table has the zero digest. PINs are not part of it, only whether a
// user has one.
func (s *Store) Digest() [32]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := s.idx.digest
	d.add(s.policyDig)
	return d.bytes()
}

// RunGC runs Badger's value-log garbage collection every ten minutes until
// ctx is done. The gateway runs it in its own goroutine; it returns nil
// when ctx ends or the store closes, and an error only if the GC fails.
func (s *Store) RunGC(ctx context.Context) error {
	t := time.NewTicker(gcInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.gcOnce(); err != nil {
			return err
		}
	}
}

// gcInterval is how often RunGC looks for value-log files to rewrite.
const gcInterval = 10 * time.Minute

// gcOnce rewrites value-log files while at least half of one is garbage.
func (s *Store) gcOnce() error {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed || s.disk.isFull() {
		return nil // a GC writes before it frees
	}
	for range 16 {
		err := s.db.RunValueLogGC(0.5)
		switch {
		case err == nil:
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return nil
		default:
			return fmt.Errorf("store: value log gc: %w", err)
		}
	}
	return nil
}

// badgerLogger sends Badger's messages to slog. Badger's routine INFO
// chatter (compactions, flushes) goes to Debug.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.log.Error("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Warningf(f string, a ...any) {
	l.log.Warn("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Infof(f string, a ...any) {
	l.log.Debug("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Debugf(f string, a ...any) {
	l.log.Debug("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
