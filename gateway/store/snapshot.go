package store

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/oklog/ulid/v2"

	"github.com/lintel-access/lintel/gateway/access"
)

// SnapshotUser is one user of a full table snapshot.
type SnapshotUser struct {
	// User is the user; nil Levels means the default levels.
	User access.User
	// PIN is the user's PIN in plain digits, "" for none. It is hashed on
	// arrival and never stored or logged as given.
	PIN string
	// Credentials of the user. An empty ID is replaced by a new ULID, an
	// empty UserID by the user's id; an empty Type means "card".
	Credentials []access.Credential
	// KeepPIN, with PIN "", keeps the PIN the live table holds for this
	// user id, if any: a restored backup, which never carries PINs, keeps
	// the PINs of the users this gateway already has. The PIN is still
	// checked for uniqueness (R3) across the new table.
	KeepPIN bool
}

// ReplaceAll atomically replaces the whole table with policy and users and
// sets the revision to rev. It is [Store.ReplaceAllSeq] over a slice.
func (s *Store) ReplaceAll(rev uint64, policy *access.Table, users []SnapshotUser) error {
	return s.ReplaceAllSeq(rev, policy, slices.Values(users))
}

// ReplaceAllSeq atomically replaces the whole table with the policy table
// (nil: an empty one) and the users the sequence yields, and sets the
// revision to rev. A snapshot may hold far
// more users than one Badger transaction, so it is written as a new table
// generation beside the live one, in batches, and then switched to with
// one small write of the generation and revision. Decisions see the old
// table until the switch and the new one after it, never a mix; a crash
// before the switch leaves the old table, and Open removes the unfinished
// generation.
//
// The policy is checked as a whole against the site, as Update checks each
// object. Every user is validated as Update would (ids, names, validity,
// levels that exist in the new policy, PIN rules R2 and R3 and, with
// duress on, unambiguous duress codes, credentials), and ids, PINs and
// cards must be unique across the snapshot. The first invalid user fails the whole snapshot, with an
// error that names its position (0-based) and id; nothing changes then.
//
// The sequence is read once, so a caller can decode users as they are
// stored instead of holding the snapshot in memory twice.
func (s *Store) ReplaceAllSeq(rev uint64, policy *access.Table, users iter.Seq[SnapshotUser]) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	table, err := rebuildTable(policy, s.opts.Site)
	if err != nil {
		return fmt.Errorf("replace all: %w", err)
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return fmt.Errorf("store: replace all: %w", ErrClosed)
	}
	if err := s.disk.allow(); err != nil {
		return fmt.Errorf("store: replace all: %w", err)
	}
	// A replaced generation still being removed is finished first.
	s.cleanup.Wait()
	oldGen, newGen := s.gen, s.gen+1
	// A leftover of an earlier failed attempt would mix into this one.
	if err := s.dropGeneration(newGen); err != nil {
		return fmt.Errorf("store: replace all: %w", err)
	}
	start := time.Now()
	c := s.idx.counts()
	ix := newIndex(c.Users, c.Credentials, s.idx.idBytes()).presize()
	if err := s.writeGeneration(newGen, table, ix, users); err != nil {
		if derr := s.dropGeneration(newGen); derr != nil {
			s.log.Error("could not remove the unfinished table generation; Open will", "generation", newGen, "err", derr)
		}
		return fmt.Errorf("replace all: %w", err)
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(keyState, encodeState(newGen, rev, ix.counts(), ix.digest))
	})
	if err != nil {
		if derr := s.dropGeneration(newGen); derr != nil {
			s.log.Error("could not remove the unfinished table generation; Open will", "generation", newGen, "err", derr)
		}
		return fmt.Errorf("store: replace all: switch generation: %w", err)
	}
	dig := policyDigest(table)
	s.mu.Lock()
	old, oldPolicy := s.idx, s.policy
	s.idx, s.gen, s.rev = ix, newGen, rev
	s.policy, s.policyDig = table, dig
	s.mu.Unlock()
	if s.onPolicy != nil {
		s.onPolicy(table)
	}
	c = ix.counts()
	s.log.Info("table replaced", "revision", rev, "users", c.Users, "credentials", c.Credentials, "pins", c.PINs,
		"generation", newGen, "took", time.Since(start).Round(time.Millisecond))
	// The old generation is unreachable now; remove it in the background.
	// The old index names every key of it, so the removal need not read
	// the old tables back from the card, and only the keys outlive the
	// index. (Should a key have escaped the index, Open removes it.)
	keys := old.userKeys(oldGen)
	for _, r := range policyRecords(oldPolicy) {
		keys.add(policyKey(oldGen, r.kind, r.id))
	}
	s.cleanup.Add(1)
	go func() {
		defer s.cleanup.Done()
		if err := s.deleteKeys(keys); err != nil {
			s.log.Error("could not remove the replaced table generation; Open will", "generation", oldGen, "err", err)
		}
		// The old index and the snapshot's users are garbage now, and
		// the tables written mapped pages the doors do not need: hand
		// them back once the removal is done, off the caller's time.
		s.releaseMemory()
	}()
	return nil
}

// releaseEvery is how many users a snapshot writes between two drops of
// the pages of Badger's tables (releaseTablePages): about 150 KB of
// records, so that the tables its memtable flushes and compactions write
// do not pile up in the RSS (100k users peaked 15 to 20 MiB lower).
const releaseEvery = 1024

// writeGeneration validates users into ix and writes them, and the policy
// table, under gen.
func (s *Store) writeGeneration(gen uint32, table *access.Table, ix *index, users iter.Seq[SnapshotUser]) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, r := range policyRecords(table) {
		v, _ := encodePolicy(table, r.kind, r.id)
		if err := wb.Set(policyKey(gen, r.kind, r.id), v); err != nil {
			return fmt.Errorf("write policy: %w", err)
		}
	}
	var (
		i      int
		buf    []byte
		err    error
		duress duressCheck
	)
	for su := range users {
		var st userState
		st, err = s.snapshotUser(su, table)
		if err == nil {
			err = ix.checkFree(&st)
		}
		if err != nil {
			return fmt.Errorf("user %d (%q): %w", i, su.User.ID, err)
		}
		if i%1024 == 1023 {
			if err := s.disk.allow(); err != nil {
				return fmt.Errorf("write user %d: %w", i, err)
			}
		}
		if i%releaseEvery == releaseEvery-1 {
			// The tables Badger has written and compacted so far are
			// mapped in; a snapshot's peak is theirs as much as the
			// heap's.
			if err := s.releaseTablePages(); err != nil {
				s.log.Warn("could not release the pages of Badger's tables", "err", err)
			}
		}
		slot := ix.insert(&st)
		if s.opts.Duress {
			duress.add(slot, &st)
		}
		buf = encodeUser(buf[:0], &st)
		if err = wb.Set(userKey(gen, st.user.ID), slices.Clone(buf)); err != nil {
			return fmt.Errorf("write user %d: %w", i, err)
		}
		i++
	}
	if err := duress.check(ix); err != nil {
		return err
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("write users: %w", err)
	}
	return nil
}

// duressCheck collects the duress neighbours of users as a table is
// loaded or written, and then checks that no user's duress code is
// another's PIN: only possible once every PIN is in the index. Users are
// kept by their slot in the index.
type duressCheck struct {
	users   []uint32
	nbrs    []pinKey
	unknown []uint32
}

func (d *duressCheck) add(slot uint32, st *userState) {
	d.addSlot(slot, st.hasPIN, st.hasNbr, st.nbr)
}

func (d *duressCheck) addSlot(slot uint32, hasPIN, hasNbr bool, nbr pinKey) {
	switch {
	case !hasPIN:
	case !hasNbr:
		d.unknown = append(d.unknown, slot)
	default:
		d.users = append(d.users, slot)
		d.nbrs = append(d.nbrs, nbr)
	}
}

// check returns ErrDuressConflict listing the users to re-issue.
func (d *duressCheck) check(ix *index) error {
	var bad []string
	for i, nbr := range d.nbrs {
		if other, ok := ix.pinSlot(nbr); ok && other != d.users[i] {
			bad = append(bad, fmt.Sprintf("%q (its duress code is %q's PIN)", ix.userID(d.users[i]), ix.userID(other)))
		}
	}
	for _, u := range d.unknown {
		bad = append(bad, fmt.Sprintf("%q (PIN set before duress codes were kept; it cannot be checked)", ix.userID(u)))
	}
	if len(bad) == 0 {
		return nil
	}
	const show = 20
	more := ""
	if len(bad) > show {
		more = fmt.Sprintf(" and %d more", len(bad)-show)
		bad = bad[:show]
	}
	return fmt.Errorf("%w: re-issue the PINs of %s%s (or turn access.duress off)", ErrDuressConflict,
		strings.Join(bad, ", "), more)
}

// snapshotUser validates one snapshot user against the snapshot's policy
// and hashes its PIN and the PIN's duress code.
func (s *Store) snapshotUser(su SnapshotUser, table *access.Table) (userState, error) {
	u, err := checkUser(su.User)
	if err != nil {
		return userState{}, err
	}
	if err := table.CheckUserLevels(u.Levels); err != nil {
		return userState{}, err
	}
	st := userState{user: u}
	if su.PIN != "" {
		if err := access.CheckCustomPIN(su.PIN); err != nil {
			return st, err
		}
		st.hasPIN, st.pin, st.pinLen = true, s.hasher.keyString(su.PIN), uint8(len(su.PIN))
		st.nbr, st.hasNbr = s.hasher.keyString(access.DuressPIN(su.PIN)), true
	} else if su.KeepPIN {
		live, ok, err := s.readUser(s.gen, u.ID) // the live generation, until the switch
		if err != nil {
			return st, fmt.Errorf("read the PIN it holds: %w", err)
		}
		if ok && live.hasPIN {
			st.hasPIN, st.pin, st.pinLen, st.nbr, st.hasNbr = true, live.pin, live.pinLen, live.nbr, live.hasNbr
		}
	}
	if len(su.Credentials) > maxCredentialsPerUser {
		return st, fmt.Errorf("%d credentials, at most %d allowed", len(su.Credentials), maxCredentialsPerUser)
	}
	st.creds = make([]access.Credential, 0, len(su.Credentials))
	for j, c := range su.Credentials {
		if c.UserID == "" {
			c.UserID = u.ID
		}
		if c.UserID != u.ID {
			return st, fmt.Errorf("credential %d names user %q", j, c.UserID)
		}
		if c.ID == "" {
			c.ID = ulid.Make().String()
		}
		if c, err = checkCredential(c); err != nil {
			return st, fmt.Errorf("credential %d: %w", j, err)
		}
		if err := s.checkCard(c); err != nil {
			var fe *access.FieldError
			errors.As(err, &fe)
			return st, &access.FieldError{Field: fmt.Sprintf("credentials[%d].%s", j, fe.Field), Err: fe.Err}
		}
		st.creds = append(st.creds, c)
	}
	slices.SortFunc(st.creds, func(a, b access.Credential) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	for j := 1; j < len(st.creds); j++ {
		if st.creds[j].ID == st.creds[j-1].ID {
			return st, fmt.Errorf("credential id %q is given twice: %w", st.creds[j].ID, access.ErrCredentialInUse)
		}
	}
	for j := range st.creds {
		for k := j + 1; k < len(st.creds); k++ {
			if st.creds[j].Card == st.creds[k].Card {
				return st, fmt.Errorf("card %s is given twice: %w", st.creds[j].Card, access.ErrCredentialInUse)
			}
		}
	}
	return st, nil
}

// dropGeneration deletes every user and policy record of one table
// generation.
func (s *Store) dropGeneration(gen uint32) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		for _, prefix := range [][]byte{userPrefix(gen), policyPrefix(gen)} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			for it.Rewind(); it.Valid(); it.Next() {
				if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
					it.Close()
					return err
				}
				n++
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drop table generation %d: %w", gen, err)
	}
	if n == 0 {
		return nil
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("drop table generation %d: %w", gen, err)
	}
	return nil
}
