package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gateway/store/storetest"
)

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		opts    store.Options
		wantErr string
	}{
		{"no dir", store.Options{KeyFile: filepath.Join(dir, "k"), GatewayID: "gw"}, "Dir is required"},
		{"no key file", store.Options{Dir: filepath.Join(dir, "db"), GatewayID: "gw"}, "KeyFile is required"},
		{"no gateway id", store.Options{Dir: filepath.Join(dir, "db"), KeyFile: filepath.Join(dir, "k")}, "GatewayID"},
		{"key inside dir", store.Options{Dir: filepath.Join(dir, "db"), KeyFile: filepath.Join(dir, "db", "k"), GatewayID: "gw"}, "lies inside"},
		{"key is dir", store.Options{Dir: filepath.Join(dir, "db"), KeyFile: filepath.Join(dir, "db"), GatewayID: "gw"}, "lies inside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.Open(tt.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	// A key file beside the directory, with a name that starts like it, is fine.
	s := storetest.Open(t, store.Options{Dir: filepath.Join(dir, "db"), KeyFile: filepath.Join(dir, "db.key"), GatewayID: "gw"})
	_ = s
}

func TestDeviceKey(t *testing.T) {
	opts := storetest.Options(t)
	s, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	putUser(t, s, "u1")
	update(t, s, func(tx *store.Tx) error { return tx.SetPIN("u1", "482915") })
	s.Close()
	fi, err := os.Stat(opts.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("device key mode = %v, want 0600", got)
	}
	key1, _ := os.ReadFile(opts.KeyFile)
	if len(key1) != 32 {
		t.Fatalf("device key is %d bytes, want 32", len(key1))
	}
	// Reopening keeps the key, and the PIN still works.
	s = storetest.Open(t, opts)
	key2, _ := os.ReadFile(opts.KeyFile)
	if !bytes.Equal(key1, key2) {
		t.Errorf("the device key changed on reopen")
	}
	if h, ok := s.PIN([]byte("482915")); !ok || h.User.ID != "u1" {
		t.Errorf("PIN after reopen = %+v, %v", h, ok)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(opts.KeyFile))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left beside the key", e.Name())
		}
	}

	// Another key refuses to open the database, rather than orphan its PINs.
	other := make([]byte, 32)
	if err := os.WriteFile(opts.KeyFile, other, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(opts); err == nil {
		s.Close()
		t.Errorf("Open with another device key succeeded")
	} else if !strings.Contains(err.Error(), "device key") {
		t.Errorf("Open with another device key = %v, want an error about the device key", err)
	}
	// A damaged key file is an error and is left alone.
	if err := os.WriteFile(opts.KeyFile, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(opts); err == nil {
		s.Close()
		t.Errorf("Open with a 5-byte key succeeded")
	} else if !strings.Contains(err.Error(), "5 bytes") {
		t.Errorf("Open with a 5-byte key = %v", err)
	}
	if b, _ := os.ReadFile(opts.KeyFile); string(b) != "short" {
		t.Errorf("a damaged key file was overwritten")
	}
	// A key readable by others is tightened to 0600.
	if err := os.WriteFile(opts.KeyFile, key1, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(opts.KeyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	storetest.Open(t, opts)
	if fi, _ := os.Stat(opts.KeyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("a 0644 key was left at %v", fi.Mode().Perm())
	}
}

// randomOps applies n random changes to s, each in its own Update, and
// returns how many committed.
func randomOps(t *testing.T, s *store.Store, rng *rand.Rand, n int) int {
	t.Helper()
	ok := 0
	for range n {
		id := fmt.Sprintf("r%d", rng.IntN(200))
		err := s.Update(func(tx *store.Tx) error {
			switch rng.IntN(7) {
			case 0, 1:
				_, err := tx.PutUser(access.User{ID: id, Name: "n" + id, Enabled: rng.IntN(2) == 0,
					ValidFrom: time.Unix(rng.Int64N(2e9), rng.Int64N(1e9))})
				return err
			case 2:
				return tx.DeleteUser(id)
			case 3:
				return tx.SetPIN(id, fmt.Sprintf("%06d", rng.IntN(300)))
			case 4:
				return tx.ClearPIN(id)
			case 5:
				_, err := tx.AddCredential(access.Credential{ID: fmt.Sprintf("c%d", rng.IntN(400)), UserID: id, Card: card(uint64(rng.IntN(400)))})
				return err
			default:
				tx.SetRevision(rng.Uint64N(1000))
				return tx.RemoveCredential(fmt.Sprintf("c%d", rng.IntN(400)))
			}
		})
		if err == nil {
			ok++
		}
	}
	return ok
}

func TestIndexAgreesWithBadgerAfterReopen(t *testing.T) {
	opts := storetest.Options(t)
	s, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	if got := randomOps(t, s, rng, 3000); got < 1000 {
		t.Fatalf("only %d of 3000 random changes committed; the test does too little", got)
	}
	before, digest, counts, rev := snapshot(t, s), s.Digest(), s.Counts(), s.Revision()
	pins := map[string]string{}
	for p := range 300 {
		pin := fmt.Sprintf("%06d", p)
		if h, ok := s.PIN([]byte(pin)); ok {
			pins[pin] = h.User.ID
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = storetest.Open(t, opts)
	if diff := cmp.Diff(before, snapshot(t, s)); diff != "" {
		t.Errorf("table after reopen (-before +after):\n%s", diff)
	}
	if s.Digest() != digest || s.Counts() != counts || s.Revision() != rev {
		t.Errorf("after reopen: digest equal %v, counts %+v want %+v, revision %d want %d",
			s.Digest() == digest, s.Counts(), counts, s.Revision(), rev)
	}
	for p := range 300 {
		pin := fmt.Sprintf("%06d", p)
		h, ok := s.PIN([]byte(pin))
		if want, had := pins[pin]; ok != had || h.User.ID != want {
			t.Errorf("PIN %s after reopen = %q, %v; want %q, %v", pin, h.User.ID, ok, want, had)
		}
	}
	if got, want := s.Digest(), digestOf(snapshot(t, s)); got != want {
		t.Errorf("Digest %x is not the sum of the canonical records %x", got, want)
	}
}

// digestOf computes a table digest the way docs/sync.md tells a portal to.
func digestOf(users map[string]store.UserRecord) [32]byte {
	sum := new(big.Int)
	for _, u := range users {
		h := sha256.Sum256(store.CanonicalRecord(u.User, u.HasPIN, u.Credentials))
		sum.Add(sum, new(big.Int).SetBytes(h[:]))
	}
	sum.Mod(sum, new(big.Int).Lsh(big.NewInt(1), 256))
	var out [32]byte
	sum.FillBytes(out[:])
	return out
}

func TestDigest(t *testing.T) {
	a, b := newStore(t), newStore(t)
	if a.Digest() != ([32]byte{}) {
		t.Errorf("the empty table's digest is not zero")
	}
	users := []store.SnapshotUser{
		{User: access.User{ID: "u1", Name: "Ada", Enabled: true}, PIN: "482915", Credentials: []access.Credential{{ID: "c2", Card: card(2)}, {ID: "c1", Card: card(1)}}},
		{User: access.User{ID: "u2", Name: "Bob", ValidTo: time.Date(2027, 1, 1, 0, 0, 0, 5, time.UTC)}},
	}
	if err := a.ReplaceAll(1, nil, users); err != nil {
		t.Fatal(err)
	}
	// The same content written in another order, by transactions, with
	// another PIN: the same digest.
	update(t, b, func(tx *store.Tx) error {
		if _, err := tx.PutUser(users[1].User); err != nil {
			return err
		}
		if _, err := tx.PutUser(users[0].User); err != nil {
			return err
		}
		if _, err := tx.AddCredential(access.Credential{ID: "c1", UserID: "u1", Card: card(1)}); err != nil {
			return err
		}
		if _, err := tx.AddCredential(access.Credential{ID: "c2", UserID: "u1", Card: card(2)}); err != nil {
			return err
		}
		return tx.SetPIN("u1", "735102")
	})
	if a.Digest() != b.Digest() {
		t.Errorf("equal tables written differently have different digests")
	}
	if got, want := a.Digest(), digestOf(map[string]store.UserRecord{"u1": must(a.User("u1")), "u2": must(a.User("u2"))}); got != want {
		t.Errorf("Digest = %x, want the documented sum %x", got, want)
	}
	update(t, b, func(tx *store.Tx) error { return tx.ClearPIN("u1") })
	if a.Digest() == b.Digest() {
		t.Errorf("the digest does not change when a user loses their PIN")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCanonicalRecord(t *testing.T) {
	u := access.User{ID: "u1", Name: "Ada", Enabled: true, ValidFrom: time.Date(2026, 3, 1, 9, 0, 0, 0, time.FixedZone("CET", 3600))}
	got := store.CanonicalRecord(u, true, []access.Credential{
		{ID: "c2", Type: "card", Card: access.CardKey{Format: "H10301", Facility: 1, Number: 2}},
		{ID: "c1", Card: access.CardKey{Format: "H10301", Facility: 1, Number: 1}},
	})
	field := func(s string) string { return string([]byte{0, 0, 0, byte(len(s))}) + s }
	want := "lintel.user.v2" + field("u1") + field("Ada") + field("1") + field("2026-03-01T08:00:00Z") + field("") + field("1") +
		field("0") + field("1") + field("all") + // no override, the default levels
		field("c1") + field("card") + field("H10301") + field("1") + field("1") +
		field("c2") + field("card") + field("H10301") + field("1") + field("2")
	if string(got) != want {
		t.Errorf("CanonicalRecord = %q, want %q", got, want)
	}
}

func TestClose(t *testing.T) {
	opts := storetest.Options(t)
	s, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	putUser(t, s, "u1")
	update(t, s, func(tx *store.Tx) error {
		_, err := tx.AddCredential(access.Credential{ID: "c1", UserID: "u1", Card: card(1)})
		return err
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("a second Close = %v", err)
	}
	if _, ok := s.Card(card(1)); ok {
		t.Errorf("a closed store still answers decisions")
	}
	if err := s.Update(func(tx *store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	if err := s.ReplaceAll(1, nil, nil); !errors.Is(err, store.ErrClosed) {
		t.Errorf("ReplaceAll after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Append(access.Event{Type: "t"}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := s.Flush(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
}

func TestRunGCStopsWithContext(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunGC(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunGC after cancel = %v, want nil", err)
	}
}

// TestOpenAfterCrashLeftEmptyMemtable reopens a store whose directory holds
// a zero-length memtable file, as a kill between Badger creating the file
// and sizing it leaves behind; Badger alone refuses to open then.
func TestOpenAfterCrashLeftEmptyMemtable(t *testing.T) {
	dir := t.TempDir()
	opts := childOptions(dir)
	s, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx *store.Tx) error {
		_, err := tx.PutUser(access.User{ID: "ann", Enabled: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, "00099.mem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(opts)
	if err != nil {
		t.Fatalf("open with an empty memtable file: %v", err)
	}
	defer s.Close()
	if _, err := s.User("ann"); err != nil {
		t.Fatalf("user after reopen: %v", err)
	}
}

// TestOpenRefuses32Bit checks the store's stand on 32-bit platforms: it
// refuses to open, with an error that says why and what to do. On 64-bit
// platforms it opens.
func TestOpenRefuses32Bit(t *testing.T) {
	s, err := store.Open(childOptions(t.TempDir()))
	if strconv.IntSize == 64 {
		if err != nil {
			t.Fatalf("Open on a 64-bit platform: %v", err)
		}
		s.Close()
		return
	}
	if !errors.Is(err, store.ErrUnsupportedPlatform) || !strings.Contains(err.Error(), "64-bit (arm64)") {
		t.Fatalf("Open on a 32-bit platform: %v, want ErrUnsupportedPlatform", err)
	}
}
