// Package store is Lintel's database: the user table (users, their cards
// and their PINs), the event journal, named journal cursors and the sync
// revision, all in one Badger v4 database on the gateway's SD card.
//
// # The decision path reads memory only
//
// A door decision must not wait for the disk. A bare Badger point read plus
// an HMAC measures p99 75 µs at a million keys on Pi-class hardware, far
// above the 20 µs budget, so the store keeps an in-memory index of the table,
// built from Badger at [Open] and changed in step with every committed
// write. [Store] implements [access.Directory] on that index: Card and PIN
// take a read lock, look up a hash table and return; PIN first hashes the
// digits.
//
// The index holds what a decision needs and no more: per user the id, the
// enabled and override flags, the PIN key, the levels and the validity
// bounds; per credential its id, its holder and its card. Names stay in
// Badger, so a Holder's User has no Name ([Store.User] reads it). Nothing
// in the index is a pointer the garbage collector must chase, so a
// collection over a million users costs the decision path nothing; see
// Memory for the layout.
//
// # Memory
//
// Users and credentials are fixed-size records in two slices that refer
// to each other by slot number:
//
//	user        32 bytes  PIN key (16), id (4: its offset in the arena), first credential (4),
//	                      level list (4), flags, PIN length, number of credentials
//	credential  24 bytes  id (4), holder (4), card (16: number, facility, format interned to 16 bits)
//	id          1 + n     in one append-only byte arena, a length byte and the bytes; compacted
//	                      when removed ids fill half of it
//	table entry 4 bytes   a slot number plus one; four open-addressing tables (users by id and
//	                      by PIN key, credentials by id and by card) at a load of 2/3 to 3/4
//
// A user's credentials are one run of consecutive records; a freed run is
// reused by the next user with as many. The validity window, which most
// users have not, is kept in a map by user slot, and the level lists are
// interned: a site has a few hundred combinations however many users it
// has, so a user's levels cost four bytes. A table probe compares the key
// with the record its entry points at, so a table costs about 6 bytes a
// user where a Go map keeping the key again costs 20 to 25.
//
// A user with one card, a PIN and ids of 12 bytes thus takes 32 + 24 +
// 26 + 24 = 106 bytes: 101 MiB for a million, 10 MiB for 100k. Being small
// matters most during a snapshot, when the old index and the new one are
// both alive.
//
// [Open] reads the index straight from the stored records: each record's
// bytes go into the records (the name is only skipped, so the load makes
// no garbage per user), and then each hash table is built in one pass,
// its entries radix-sorted by home position and laid out in that order,
// instead of probed for at random (the tables of the users and of the
// credentials side by side, and Badger's iteration in a goroutine of its
// own). The users' digest comes from the state record. A cold start of a
// million users takes about 1.1 s of CPU; see the figures below.
//
// Badger reads and writes its tables through memory maps, and every page
// a read touched counts in the process's RSS until the kernel wants it
// back: after loading a million users, 113 MiB of them. The decision path
// never reads them, so the store drops them (madvise MADV_DONTNEED, while
// an iterator holds every table dropped, so that Badger cannot unmap one
// under it) at the end of Open, every 1,024 users of a snapshot, and once
// Badger's set of tables has changed and then stayed the same for a
// second (a compaction), and hands the garbage of a load or a snapshot
// back to the kernel (debug.FreeOSMemory). The pages stay in
// the page cache.
//
// # Writes
//
// All writes to the table go through [Store.Update] or [Store.ReplaceAll],
// serialised by one mutex. That is what makes R3 hold under any
// concurrency: a PIN's uniqueness is checked and the PIN is taken in the
// same critical section, so of many goroutines assigning one PIN to
// different users exactly one wins and the rest get access.ErrPINInUse.
//
// An Update runs its function against a [Tx], an overlay that sees its own
// writes. Existence and uniqueness checks ask the index; a user the Tx
// changes is read once from Badger (the write path may read the disk, the
// decision path may not). When the function returns nil, every touched
// user's record is written to Badger in one transaction together with the
// state record (generation, revision, counts, digest); only after that commit
// succeeds is the overlay applied to the index, under the index's write
// lock, in one step. A decision therefore sees all of an Update or none of
// it, and a failed commit, an error or a panic leaves both Badger and the
// index untouched. One Badger transaction at the options below holds at
// most 3,276 entries or 314 KB (15% of the memtable; [Store.MaxTxnEntries]);
// each touched user is one entry of roughly 50 to 150 bytes, so an Update
// may touch about 2,500 users before it fails with [ErrTooLarge].
//
// # Errors
//
// An error about what a change asks for (an unknown user, a PIN another
// user holds, a rule of the policy model) is in gateway/access's
// vocabulary: it wraps access's kinds (access.ErrNotFound, ErrPINInUse,
// ErrInvalid, a *access.FieldError, ...) and reads as an answer to the
// request ("set pin for \"u3\": pin is held by another user"), with no
// "store:" in front, so the API and sync pass its text on as it is. An
// error of the store itself (closed, the disk full, Badger failing) starts
// with "store:".
//
// A snapshot is larger than any transaction, so [Store.ReplaceAll] writes
// it as a new table generation beside the live one (user keys carry the
// generation), in Badger write batches, while building a new index off to
// the side. One small transaction then switches the state record to the new
// generation and revision, and the new index replaces the old under the
// write lock. The old generation is deleted in the background. A crash
// before the switch leaves the old generation live; [Open] deletes every
// record of any other generation before it loads the index, so a
// half-written or half-deleted generation never mixes into the table.
//
// # Listing
//
// [Store.Users] pages through the table for the API and the export: it
// iterates Badger's user keys, which sort by id, from where a page's
// "after" id sorts, in one read transaction, so a page costs the records
// it reads and the table is never loaded into a slice. Cards a site's
// readers cannot present are refused on the way in by the rule the
// gateway passes as Options.CheckCard (gpio/wiegand's); the store does not
// restate it.
//
// # Keys
//
//	m/state          generation (4) revision (8) users (4) credentials (4) users' digest (32), big-endian
//	m/keycheck       HMAC of a fixed text under the device key
//	m/journal        last committed seq (8), undelivered events ever dropped (8)
//	u GEN(4) ID      a user: name, enabled, validity, PIN key, credentials (see encodeUser)
//	e SEQ(8)         one journal event, JSON as the API shows it
//	c NAME           a cursor: the seq (8) its reader has handled
//
// A user and their credentials are one record, so a change to a user is
// one entry and a snapshot of n users is n entries.
//
// # PINs
//
// A PIN never reaches the disk or a log. It is hashed on arrival with
// HMAC-SHA256 under a 32-byte device key and kept as the first 128 bits of
// the MAC (HMAC-SHA-256-128). Generated PINs come from access.GeneratePIN
// with the index as its "taken" test, and are returned once.
//
// # The device key
//
// The PIN space is at most 10^8 (about 1.1·10^8 with every length from 4
// to 8) and an HMAC takes a few hundred nanoseconds, so whoever holds the
// database and the key has every PIN within a minute on one core: the key
// is the PINs' only protection. It therefore never lives with the data.
// Options.KeyFile must lie outside Dir ([CheckKeyFile], which the gateway
// also applies to its whole data directory, links followed); nothing in
// Dir holds the key or anything it could be derived from, so a copy or a
// backup of the data directory holds MACs that cannot be tested. The
// database keeps a MAC of a fixed text under its key ("m/keycheck"); Open
// refuses a different key rather than silently orphan every PIN, and a
// key file is never replaced.
//
// Open creates a missing key with crypto/rand and writes it atomically
// (temporary file, fsync, rename, fsync of the directory) with mode 0600;
// [InitKeyFile] does the same for an installer. A key may also be handed in
// read-only, as a systemd credential: the store only reads KeyFile when it
// exists. [MoveKeyFile] moves a key an earlier Lintel left inside its data
// directory to its new place on the first start (write, fsync, then remove
// the old copy and fsync its directory), and refuses two different keys.
//
// # Digest
//
// [Store.Digest] lets a portal check that the gateway holds what it sent.
// It is the sum modulo 2^256 of SHA-256([CanonicalRecord]) over all users,
// as a 32-byte big-endian number. A sum does not depend on order, and the
// store keeps it current by subtracting a user's old hash and adding the
// new one on every write, and keeps it in the state record, written in
// the same transaction as the users, so that Open need not hash every
// record again (a state record of 20 bytes, written before the digest was
// kept, has Open compute it from the records once). It covers ids, names,
// enabled flags, validity, whether a user has a PIN, and credentials, but
// not PIN values.
//
// # Journal
//
// [Store.Append] gives an event the next sequence number and its id
// ("<GatewayID>-<seq>"), stamps the time (flagging ClockUntrusted while
// Options.ClockTrusted says so) and returns without touching the disk. One
// goroutine commits appended events in groups, at most
// Options.CommitInterval (10 ms) after the first event of a group, in
// transactions of up to 1000 writes that also record the last committed
// sequence number. Syncing each event alone would multiply the writes to
// the SD card; a group costs one fsync. [Store.Events] and [Store.Wait]
// only ever see committed events. After a crash the sequence continues from
// the last committed event, so the journal has no gaps; sequence numbers
// handed out for events that were lost are handed out again.
//
// Retention keeps at most Options.MaxEvents (1,000,000) events and drops
// delivered events older than Options.MaxAge (90 days); an event whose time
// was untrusted is never dropped for age, as its age is unknown. Events go
// oldest first, so events at or below the uplink cursor ([CursorUplink])
// always go before undelivered ones; until that cursor is first set every
// event counts as undelivered. When undelivered events must go to stay
// within MaxEvents, a "Journal Overflow" event (type journal.overflow) says
// how many, at most once a minute, counting all dropped since the last one.
//
// Durability: with SyncWrites, Badger returns from a commit only after its
// write-ahead log is fsynced. So a kill -9 loses no event that [Store.Flush]
// returned for, at most the events of the last CommitInterval (those not yet
// committed) and nothing of a returned Update or ReplaceAll. A power cut
// loses the same, provided the SD card honours fsync; a card that
// acknowledges writes it has only cached can lose more, and only a card
// with power-loss protection closes that gap.
//
// # A full disk
//
// Badger writes through memory-mapped files, so a full disk does not fail
// a write with ENOSPC: the process dies of SIGBUS, and dies again on every
// restart that replays or flushes a memtable (in the security review a 16
// MiB data dir did on its 80th delta). The store therefore measures the free space of the
// filesystem under Dir (statfs, as an unprivileged user sees it) on every
// write and every Options.DiskCheckEvery (5 s), and refuses to write while
// less than Options.MinFree (64 MiB by default) is free: Update,
// ReplaceAll (also part-way, every 1,024 users), SetCursor and journal
// commits fail with an error wrapping [ErrDiskFull] that says how much is
// free, and nothing is half-applied. The reserve is Badger's: after the
// store stops, Badger may still flush two 2 MiB memtables and compact L0
// into L1 (up to some 24 MiB written before the old tables go).
//
// In that state the doors go on deciding from the in-memory index, and
// [Store.Append] goes on taking events: they wait in memory, at most
// [MaxBufferedEvents] (10,000); beyond that the oldest tenth is dropped,
// so the newest are kept, and [JournalStats].Lost counts the dropped ones.
// The journal stays gap-free: the sequence numbers of dropped events are
// handed out again, as after a crash, so an event's seq is final only once
// it is committed. A "Storage Full" event (type storage.full) is appended
// when writes stop and a "Storage Recovered" one (storage.recovered), with
// the number lost, when they resume; both reach the disk only with the
// events around them. Events still in memory when the store closes are
// lost, and the log says how many. [Store.DiskStats] has the state for the
// status page, /metrics and the retained status.
//
// The reserve is MinFree, or more once the database is larger: its tables
// plus the memtables' flush ([DiskStats].Reserve), because a compaction
// writes its new tables before it deletes the old ones and one from level 0
// may rewrite them all. With a fixed reserve, a database larger than it died
// of SIGBUS in a compaction after the store's own writes had stopped.
//
// Writes resume once the reserve plus MinFree is free: a ballast file of the
// reserve's size made again out of the space that returned, and a margin
// that keeps the state from flapping. The ballast ("lintel.reserve" in Dir,
// allocated with fallocate, never written) is kept while the disk has room
// and deleted when the store opens on a full disk, or when less than a
// quarter of the reserve is left while it runs: then Badger has room to
// open, replay and flush even if something else took the last byte of the
// disk. Opening on a full disk therefore succeeds, in the state above. A
// disk left with no byte free and no ballast fails Open with Badger's error
// ("Cannot write pid file ... no space left on device") rather than a
// crash. Retention does not run while the disk is full, so a journal that
// fills its own disk needs room from elsewhere (or a larger partition).
//
// # Badger options for a 512 MB Pi
//
// Badger's defaults suit servers: five 64 MiB memtables, a 256 MiB block
// cache, 1 GiB value-log files. Lintel's ([badgerOptions]):
//
//	MemTableSize        2 MiB   the skiplist arena is resident once written, and a flush
//	                            builds a table of the same size in memory (with 7 MiB of
//	                            builder); at 4 MiB a full sync of 100k users peaked
//	                            ~15 MiB higher. Below ~6.7 MiB Badger refuses the default
//	                            1 MiB ValueThreshold, hence the next line
//	ValueThreshold      1 KiB   every record and event is smaller, so values stay in the LSM tree
//	                            and the value log is only the write-ahead log
//	NumMemtables        2       one active, one being flushed
//	NumLevelZeroTables  2 (stall at 8)
//	BaseTableSize       2 MiB, BaseLevelSize 8 MiB
//	BlockCacheSize      0       no compression, so blocks are read straight from the mmapped
//	                            tables; the index makes reads rare anyway
//	Compression         none    CPU matters more than a few MiB of disk
//	ValueLogFileSize    64 MiB  also keeps 32-bit ARM's address space free (Badger maps twice that)
//	NumCompactors       2       Badger's minimum
//	SyncWrites          true    see Durability
//	DetectConflicts     false   writers are serialised by the store
//	MetricsEnabled      false
//
// Measured on the shared 2-core CI machine with the budget's table (one
// card, one PIN and two levels a user, under the benchmark policy of 256
// schedules and 1,000 levels), the load average between 1 and 3:
//
//   - idle, in a fresh process after Open, settled (BenchmarkIdleRSS): with
//     a million users 120.7 to 120.9 MiB VmRSS, of which 107 MiB anonymous
//     (the index's 101 MiB, Badger's memtable, the Go runtime) and 13.8
//     MiB file-backed (the test binary; none of Badger's tables); with
//     100k users 29.3 MiB (15.6 and 13.7);
//   - a cold start (BenchmarkOpen, the median of three): a million users
//     0.54 to 0.59 s, 1.0 to 1.1 s of CPU; 100k users 0.11 to 0.13 s;
//   - the store's share of a decision at a million users
//     (BenchmarkLookup): Card p99.9 0.7 µs, PIN 0.9 µs with its HMAC, no
//     allocation. A whole decision (BenchmarkDecide) is p99 1 to 5 µs and
//     p99.9 12 to 36 µs here: the engine allocates each decision's events
//     (192 bytes), and one allocation of that size beside a lookup alone
//     takes its p99.9 to 10 to 22 µs on this machine, whose page faults
//     cost 10 to 50 µs;
//   - a full snapshot of 100k users onto a table of 100k, under the 48 MiB
//     limit (BenchmarkApplySnapshot100k in package changeset): 2.8 to 3.4
//     s and a peak of 90 to 100 MiB for the whole process (the 20 MB
//     payload, the old and the new index side by side, Badger's memtables
//     and table builders, of which Badger keeps up to eight of 4 MiB in a
//     pool, the binary, and the tables of the compactions under way).
//
// The gateway sets the Go runtime's soft memory limit from its
// configuration (memory_limit_mib, 48 MiB by default); the limit makes the
// garbage collector work harder instead of letting the heap double, which
// is what keeps a snapshot's peak near its live data. A limit below the
// live heap has the collector run without pause, so with a million users
// raise it to 160 (the benchmarks of a million run so).
//
// # Using it
//
// The gateway opens one Store, hands it to access.NewEngine as the
// directory, to the journal's readers (broker, uplink, API) and to sync,
// runs [Store.RunGC] in a goroutine and closes it last. Tests use package
// storetest, which opens real stores in temporary directories.
package store
