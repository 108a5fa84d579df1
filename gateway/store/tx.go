package store

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/oklog/ulid/v2"

	"github.com/lintel-access/lintel/gateway/access"
)

// Tx is one all-or-nothing change of the user table, handed to the
// function given to [Store.Update]. It sees its own writes. A Tx is not
// safe for concurrent use and must not be used after Update returns.
//
// A Tx works on an overlay over the in-memory index: reads look in the
// overlay first, writes change only the overlay. Update writes the touched
// users to Badger in one transaction and then publishes the overlay to the
// index in one step under the index lock.
type Tx struct {
	s    *Store
	base *index
	done bool

	users  map[string]*userState // touched users; nil means deleted
	order  []string              // touched ids, first touch first
	loaded map[string]*userState // users as committed, read from Badger; nil: none
	// The overlay's view of who holds what; "" means freed by this Tx.
	pins    map[pinKey]string         // PIN key → user id
	cards   map[access.CardKey]string // card → credential id
	credIDs map[string]string         // credential id → user id

	rev    uint64
	revSet bool
	// table is the policy table as this Tx changes it, nil while the Tx
	// has not changed it; touchedPolicy lists the objects it changed.
	table         *access.Table
	touchedPolicy []policyRecord
	// err is a failed read of Badger; it fails the Update even if fn
	// ignored it.
	err error
}

// Update runs fn in one all-or-nothing transaction: either every write
// lands, in Badger and in the in-memory index, seen by decisions at once,
// or none does, and a decision never sees half of it. Updates are
// serialised, which is what makes PIN and card uniqueness hold under any
// concurrency. If fn returns an error, or panics, nothing is written and
// the error (or panic) is passed on.
//
// One Update may touch about 2,500 users: each touched user is one Badger
// entry, and a Badger transaction at Lintel's 2 MiB memtable holds at most
// 3,276 entries or 314 KB (see [Store.MaxTxnEntries]). More returns
// ErrTooLarge; replace the whole table with ReplaceAll instead.
func (s *Store) Update(fn func(tx *Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return fmt.Errorf("store: update: %w", ErrClosed)
	}
	if err := s.disk.allow(); err != nil {
		return fmt.Errorf("store: update: %w", err)
	}
	tx := &Tx{
		s:       s,
		base:    s.idx,
		users:   make(map[string]*userState),
		loaded:  make(map[string]*userState),
		pins:    make(map[pinKey]string),
		cards:   make(map[access.CardKey]string),
		credIDs: make(map[string]string),
	}
	defer func() { tx.done = true }()
	err := fn(tx)
	tx.done = true
	switch {
	case tx.err != nil:
		return tx.err // fn saw a read failure as a missing user
	case err != nil:
		return err
	}
	return s.commit(tx)
}

// MaxTxnEntries returns how many entries one Badger transaction holds with
// the store's options: the bound on users one Update may touch (less one
// for the revision).
func (s *Store) MaxTxnEntries() int { return int(s.db.MaxBatchCount()) }

// commit writes the overlay to Badger and then to the index.
func (s *Store) commit(tx *Tx) error {
	if len(tx.order) == 0 && !tx.revSet && len(tx.touchedPolicy) == 0 {
		return nil
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	var buf []byte
	for _, id := range tx.order {
		var err error
		if st := tx.users[id]; st == nil {
			err = txn.Delete(userKey(s.gen, id))
		} else {
			buf = encodeUser(buf[:0], st)
			err = txn.Set(userKey(s.gen, id), slices.Clone(buf))
		}
		if err != nil {
			return fmt.Errorf("store: update: %w", txnErr(err, len(tx.order)))
		}
	}
	for _, r := range tx.touchedPolicy {
		var err error
		if v, ok := encodePolicy(tx.table, r.kind, r.id); ok {
			err = txn.Set(policyKey(s.gen, r.kind, r.id), v)
		} else {
			err = txn.Delete(policyKey(s.gen, r.kind, r.id))
		}
		if err != nil {
			return fmt.Errorf("store: update: %w", txnErr(err, len(tx.order)+len(tx.touchedPolicy)))
		}
	}
	// The users' digest once this Tx is applied, kept in the state record.
	dig := s.idx.digest
	oldHash := make([]digest, len(tx.order))
	newHash := make([]digest, len(tx.order))
	for i, id := range tx.order {
		if old := tx.loaded[id]; old != nil {
			oldHash[i] = hashRecord(old)
			dig.sub(oldHash[i])
		}
		if st := tx.users[id]; st != nil {
			newHash[i] = hashRecord(st)
			dig.add(newHash[i])
		}
	}
	rev := s.rev
	if tx.revSet {
		rev = tx.rev
	}
	if err := txn.Set(keyState, encodeState(s.gen, rev, tx.counts(), dig)); err != nil {
		return fmt.Errorf("store: update: %w", txnErr(err, len(tx.order)))
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("store: update: commit: %w", txnErr(err, len(tx.order)))
	}
	var policyDig digest
	if tx.table != nil {
		policyDig = policyDigest(tx.table)
	}
	s.mu.Lock()
	for i, id := range tx.order {
		if old := tx.loaded[id]; old != nil {
			s.idx.removeHashed(old, oldHash[i])
		}
	}
	for i, id := range tx.order {
		if st := tx.users[id]; st != nil {
			s.idx.insertHashed(st, newHash[i])
		}
	}
	s.idx.compact()
	if tx.revSet {
		s.rev = tx.rev
	}
	if tx.table != nil {
		s.policy, s.policyDig = tx.table, policyDig
	}
	s.mu.Unlock()
	if tx.table != nil && s.onPolicy != nil {
		s.onPolicy(tx.table)
	}
	return nil
}

// counts returns the table's counts once tx is applied.
func (tx *Tx) counts() Counts {
	c := tx.base.counts()
	for _, id := range tx.order {
		if n, ok := tx.base.credCount(id); ok {
			c.Users--
			c.Credentials -= n
		}
		if st := tx.users[id]; st != nil {
			c.Users++
			c.Credentials += len(st.creds)
		}
	}
	return c
}

func txnErr(err error, users int) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("%d users touched: %w", users, ErrTooLarge)
	}
	return err
}

func (tx *Tx) check() error {
	if tx.done {
		return ErrTxDone
	}
	return nil
}

// view returns a user as this Tx sees it; the result must not be changed.
func (tx *Tx) view(id string) (*userState, bool) {
	if st, ok := tx.users[id]; ok {
		return st, st != nil
	}
	st := tx.load(id)
	return st, st != nil
}

// load returns a user as committed, reading Badger once per user. Only
// users the index holds are read; the index and Badger agree on who exists.
func (tx *Tx) load(id string) *userState {
	if st, ok := tx.loaded[id]; ok {
		return st
	}
	var st *userState
	if tx.base.exists(id) {
		rec, ok, err := tx.s.readUser(tx.s.gen, id)
		switch {
		case err != nil:
			if tx.err == nil {
				tx.err = fmt.Errorf("store: read user %q: %w", id, err)
			}
		case ok:
			st = &rec
		default:
			if tx.err == nil {
				tx.err = fmt.Errorf("store: user %q is in the index but not on disk", id)
			}
		}
	}
	tx.loaded[id] = st
	return st
}

// touch returns a user for changing, copying it into the overlay.
func (tx *Tx) touch(id string) (*userState, bool) {
	if st, ok := tx.users[id]; ok {
		return st, st != nil
	}
	old := tx.load(id)
	if old == nil {
		return nil, false
	}
	st := *old
	st.creds = slices.Clone(old.creds)
	tx.put(id, &st)
	return &st, true
}

func (tx *Tx) put(id string, st *userState) {
	if _, ok := tx.users[id]; !ok {
		tx.order = append(tx.order, id)
	}
	tx.users[id] = st
}

func (tx *Tx) pinHolder(k pinKey) string {
	if id, ok := tx.pins[k]; ok {
		return id
	}
	id, _ := tx.base.pinHolder(k)
	return id
}

func (tx *Tx) cardHolder(k access.CardKey) string {
	if id, ok := tx.cards[k]; ok {
		return id
	}
	id, _ := tx.base.cardHolder(k)
	return id
}

func (tx *Tx) credUser(id string) string {
	if u, ok := tx.credIDs[id]; ok {
		return u
	}
	u, _ := tx.base.credUser(id)
	return u
}

// User returns a user as this Tx sees it.
func (tx *Tx) User(id string) (UserRecord, error) {
	if err := tx.check(); err != nil {
		return UserRecord{}, fmt.Errorf("store: user %q: %w", id, err)
	}
	st, ok := tx.view(id)
	if !ok {
		return UserRecord{}, fmt.Errorf("user %q: %w", id, access.ErrNotFound)
	}
	return st.record(), nil
}

// The optional fields of a user an upsert sets: see access.UserFields.
const (
	FieldEnabled  = access.FieldEnabled
	FieldLevels   = access.FieldLevels
	FieldOverride = access.FieldOverride
	AllFields     = access.AllFields
)

// PutUser creates a user or updates them, setting every field from u but
// their levels when u.Levels is nil (then an existing user keeps theirs and
// a new one gets the default levels); their PIN and credentials stay.
// created reports whether the user is new.
func (tx *Tx) PutUser(u access.User) (created bool, err error) {
	set := FieldEnabled | FieldOverride
	if u.Levels != nil {
		set |= FieldLevels
	}
	return tx.UpsertUser(u, set)
}

// UpsertUser creates a user or updates their name and validity and the
// fields set names (see access.UserFields); their PIN and credentials stay. The
// levels must exist in the policy table. created reports whether the user
// is new.
func (tx *Tx) UpsertUser(u access.User, set access.UserFields) (created bool, err error) {
	if err := tx.check(); err != nil {
		return false, fmt.Errorf("store: put user %q: %w", u.ID, err)
	}
	old, exists := tx.view(u.ID)
	switch {
	case set&FieldLevels != 0:
	case exists:
		u.Levels = old.user.Levels
	default:
		u.Levels = access.DefaultLevels()
	}
	if set&FieldEnabled == 0 {
		u.Enabled = !exists || old.user.Enabled
	}
	if set&FieldOverride == 0 {
		u.Override = exists && old.user.Override
	}
	u, err = checkUser(u) // nil levels: the default; [] none
	if err != nil {
		return false, fmt.Errorf("put user: %w", err)
	}
	if err := tx.Policy().CheckUserLevels(u.Levels); err != nil {
		return false, fmt.Errorf("put user %q: %w", u.ID, err)
	}
	if st, ok := tx.touch(u.ID); ok {
		st.user = u
		return false, nil
	}
	tx.put(u.ID, &userState{user: u})
	return true, nil
}

// DeleteUser removes a user with their PIN and credentials.
func (tx *Tx) DeleteUser(id string) error {
	if err := tx.check(); err != nil {
		return fmt.Errorf("store: delete user %q: %w", id, err)
	}
	st, ok := tx.view(id)
	if !ok {
		return fmt.Errorf("delete user %q: %w", id, access.ErrNotFound)
	}
	if st.hasPIN {
		tx.pins[st.pin] = ""
	}
	for _, c := range st.creds {
		tx.cards[c.Card] = ""
		tx.credIDs[c.ID] = ""
	}
	tx.put(id, nil)
	return nil
}

// SetPIN gives a user a custom PIN, replacing any PIN they had (R1). The
// PIN must be 4 to 8 digits (R2), not one a guesser tries first
// (access.CheckCustomPIN) and held by nobody else (R3, ErrPINInUse); with
// duress on, neither its duress code nor the PIN whose duress code it is may
// be another user's PIN. Setting the PIN a user already holds changes
// nothing.
func (tx *Tx) SetPIN(userID, pin string) error {
	if err := tx.check(); err != nil {
		return fmt.Errorf("store: set pin for %q: %w", userID, err)
	}
	if err := access.CheckCustomPIN(pin); err != nil {
		return fmt.Errorf("set pin for %q: %w", userID, err)
	}
	if _, ok := tx.view(userID); !ok {
		return fmt.Errorf("set pin for %q: %w", userID, access.ErrNotFound)
	}
	return tx.setPIN(userID, pin)
}

// pinKeys are the index keys of a PIN: its own, its duress code's, and
// that of the PIN whose duress code it is.
type pinKeys struct{ pin, nbr, orig pinKey }

func (tx *Tx) pinKeys(pin string) pinKeys {
	h := tx.s.hasher
	return pinKeys{pin: h.keyString(pin), nbr: h.keyString(access.DuressPIN(pin)), orig: h.keyString(access.PINForDuressCode(pin))}
}

// pinConflict says why userID may not take a PIN, or "" when they may.
func (tx *Tx) pinConflict(userID string, k pinKeys) string {
	if h := tx.pinHolder(k.pin); h != "" && h != userID {
		return "held by another user"
	}
	if !tx.s.opts.Duress {
		return ""
	}
	if h := tx.pinHolder(k.nbr); h != "" && h != userID {
		return "its duress code (last digit plus one) is another user's PIN"
	}
	if h := tx.pinHolder(k.orig); h != "" && h != userID {
		return "it is another user's duress code (their PIN with the last digit plus one)"
	}
	return ""
}

func (tx *Tx) setPIN(userID, pin string) error {
	k := tx.pinKeys(pin)
	if why := tx.pinConflict(userID, k); why != "" {
		return fmt.Errorf("set pin for %q: %s: %w", userID, why, access.ErrPINInUse)
	}
	st, _ := tx.touch(userID)
	if st.hasPIN && st.pin == k.pin && st.hasNbr && st.pinLen != 0 {
		return nil
	}
	if st.hasPIN && st.pin != k.pin {
		tx.pins[st.pin] = ""
	}
	st.hasPIN, st.pin, st.pinLen = true, k.pin, uint8(len(pin))
	st.nbr, st.hasNbr = k.nbr, true
	tx.pins[k.pin] = userID
	return nil
}

// GeneratePIN gives a user a random, non-trivial PIN of the given length
// that nobody holds (R4), replacing any PIN they had, and returns it. It
// is the only time the PIN is seen: hand it to the person, never log it.
// access.ErrPINSpaceExhausted says every PIN of that length is taken.
func (tx *Tx) GeneratePIN(userID string, length int) (string, error) {
	if err := tx.check(); err != nil {
		return "", fmt.Errorf("store: generate pin for %q: %w", userID, err)
	}
	if _, ok := tx.view(userID); !ok {
		return "", fmt.Errorf("generate pin for %q: %w", userID, access.ErrNotFound)
	}
	taken := func(pin string) bool { return tx.pinConflict(userID, tx.pinKeys(pin)) != "" }
	pin, err := access.GeneratePIN(tx.s.rand, length, taken)
	if err != nil {
		return "", fmt.Errorf("generate pin for %q: %w", userID, err)
	}
	if err := tx.setPIN(userID, pin); err != nil {
		return "", err
	}
	return pin, nil
}

// ClearPIN removes a user's PIN; a user without one is left as is.
func (tx *Tx) ClearPIN(userID string) error {
	if err := tx.check(); err != nil {
		return fmt.Errorf("store: clear pin for %q: %w", userID, err)
	}
	st, ok := tx.view(userID)
	if !ok {
		return fmt.Errorf("clear pin for %q: %w", userID, access.ErrNotFound)
	}
	if !st.hasPIN {
		return nil
	}
	st, _ = tx.touch(userID)
	tx.pins[st.pin] = ""
	st.hasPIN, st.pin, st.pinLen, st.nbr, st.hasNbr = false, pinKey{}, 0, pinKey{}, false
	return nil
}

// AddCredential gives c.UserID a card. An empty c.ID is replaced by a new
// ULID; an empty c.Type means "card". A card, or a credential id, that is
// already held returns access.ErrCredentialInUse. It returns the stored credential.
func (tx *Tx) AddCredential(c access.Credential) (access.Credential, error) {
	if err := tx.check(); err != nil {
		return c, fmt.Errorf("store: add credential for %q: %w", c.UserID, err)
	}
	if c.ID == "" {
		c.ID = ulid.Make().String()
	}
	c, err := checkCredential(c)
	if err == nil {
		err = tx.s.checkCard(c)
	}
	if err != nil {
		return c, fmt.Errorf("add credential for %q: %w", c.UserID, err)
	}
	st, ok := tx.view(c.UserID)
	if !ok {
		return c, fmt.Errorf("add credential %q: user %q: %w", c.ID, c.UserID, access.ErrNotFound)
	}
	if other := tx.credUser(c.ID); other != "" {
		return c, fmt.Errorf("add credential %q: the id is already used by user %q: %w", c.ID, other, access.ErrCredentialInUse)
	}
	if other := tx.cardHolder(c.Card); other != "" {
		return c, fmt.Errorf("add credential %q: card %s is already credential %q: %w", c.ID, c.Card, other, access.ErrCredentialInUse)
	}
	if len(st.creds) >= maxCredentialsPerUser {
		return c, access.Invalidf("add credential %q: user %q already has %d credentials, the most allowed", c.ID, c.UserID, maxCredentialsPerUser)
	}
	st, _ = tx.touch(c.UserID)
	i, _ := slices.BinarySearchFunc(st.creds, c.ID, func(e access.Credential, id string) int { return cmp.Compare(e.ID, id) })
	st.creds = slices.Insert(slices.Clone(st.creds), i, c)
	tx.cards[c.Card] = c.ID
	tx.credIDs[c.ID] = c.UserID
	return c, nil
}

// Credential returns a credential by id as this Tx sees it.
func (tx *Tx) Credential(id string) (access.Credential, error) {
	if err := tx.check(); err != nil {
		return access.Credential{}, fmt.Errorf("store: credential %q: %w", id, err)
	}
	if userID := tx.credUser(id); userID != "" {
		if st, ok := tx.view(userID); ok {
			for _, c := range st.creds {
				if c.ID == id {
					return c, nil
				}
			}
		}
	}
	return access.Credential{}, fmt.Errorf("credential %q: %w", id, access.ErrNotFound)
}

// RemoveCredential removes a credential by id.
func (tx *Tx) RemoveCredential(id string) error {
	if err := tx.check(); err != nil {
		return fmt.Errorf("store: remove credential %q: %w", id, err)
	}
	userID := tx.credUser(id)
	if userID == "" {
		return fmt.Errorf("remove credential %q: %w", id, access.ErrNotFound)
	}
	st, _ := tx.touch(userID)
	i := slices.IndexFunc(st.creds, func(c access.Credential) bool { return c.ID == id })
	c := st.creds[i]
	st.creds = slices.Delete(slices.Clone(st.creds), i, i+1)
	tx.cards[c.Card] = ""
	tx.credIDs[id] = ""
	return nil
}

// SetRevision sets the sync revision the table is at once this Tx commits.
func (tx *Tx) SetRevision(rev uint64) {
	if tx.done {
		return
	}
	tx.rev, tx.revSet = rev, true
}

// Policy returns the policy table as this Tx sees it. It must not be
// changed; use the Tx's methods.
func (tx *Tx) Policy() *access.Table {
	if tx.table != nil {
		return tx.table
	}
	return tx.s.policy // only writers change it, and this Tx holds writeMu
}

// changePolicy runs fn on the Tx's own copy of the policy table and, when
// it succeeds, records that the object kind/id is to be written.
func (tx *Tx) changePolicy(op string, kind byte, id string, fn func(t *access.Table) error) error {
	if err := tx.check(); err != nil {
		return fmt.Errorf("store: %s %q: %w", op, id, err)
	}
	if tx.table == nil {
		tx.table = tx.s.policy.Clone()
	}
	if err := fn(tx.table); err != nil {
		return fmt.Errorf("%s %q: %w", op, id, err)
	}
	r := policyRecord{kind, id}
	if !slices.Contains(tx.touchedPolicy, r) {
		tx.touchedPolicy = append(tx.touchedPolicy, r)
	}
	return nil
}

// PutSchedule creates or replaces a schedule.
func (tx *Tx) PutSchedule(sc access.Schedule) error {
	return tx.changePolicy("put schedule", polSchedule, sc.ID, func(t *access.Table) error { return t.PutSchedule(sc) })
}

// DeleteSchedule removes a schedule no level or door policy names.
func (tx *Tx) DeleteSchedule(id string) error {
	return tx.changePolicy("delete schedule", polSchedule, id, func(t *access.Table) error { return t.DeleteSchedule(id) })
}

// PutHoliday creates or replaces a holiday.
func (tx *Tx) PutHoliday(h access.Holiday) error {
	return tx.changePolicy("put holiday", polHoliday, h.ID, func(t *access.Table) error { return t.PutHoliday(h) })
}

// DeleteHoliday removes a holiday.
func (tx *Tx) DeleteHoliday(id string) error {
	return tx.changePolicy("delete holiday", polHoliday, id, func(t *access.Table) error { return t.DeleteHoliday(id) })
}

// PutLevel creates or replaces a level; its doors must be the site's.
func (tx *Tx) PutLevel(l access.Level) error {
	return tx.changePolicy("put level", polLevel, l.ID, func(t *access.Table) error { return t.PutLevel(l, tx.s.opts.Site) })
}

// DeleteLevel removes a level that no user holds and no door policy names.
func (tx *Tx) DeleteLevel(id string) error {
	holders := tx.levelHolders(id)
	return tx.changePolicy("delete level", polLevel, id, func(t *access.Table) error { return t.DeleteLevel(id, holders) })
}

// SetDoorPolicy sets a door's policy; one without modes removes it.
func (tx *Tx) SetDoorPolicy(p access.DoorPolicy) error {
	return tx.changePolicy("set door policy", polDoor, p.Door, func(t *access.Table) error { return t.PutDoorPolicy(p, tx.s.opts.Site) })
}

// SetOverride creates or replaces an override.
func (tx *Tx) SetOverride(o access.Override) error {
	return tx.changePolicy("set override", polOverride, o.ID, func(t *access.Table) error { return t.SetOverride(o, tx.s.opts.Site) })
}

// ClearOverride removes an override.
func (tx *Tx) ClearOverride(id string) error {
	return tx.changePolicy("clear override", polOverride, id, func(t *access.Table) error { return t.ClearOverride(id) })
}

// levelHolders counts the users holding a level as this Tx sees them.
func (tx *Tx) levelHolders(id string) int {
	n := tx.base.levelHolders(id)
	for _, uid := range tx.order {
		if old := tx.loaded[uid]; old != nil && slices.Contains(old.user.Levels, id) {
			n--
		}
		if st := tx.users[uid]; st != nil && slices.Contains(st.user.Levels, id) {
			n++
		}
	}
	return n
}

// LevelHolders counts the users holding a level.
func (s *Store) LevelHolders(id string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.levelHolders(id)
}
