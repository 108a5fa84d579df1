package store

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/lintel-access/lintel/gateway/access"
)

func internalOptions(t *testing.T) Options {
	dir := t.TempDir()
	return Options{Dir: filepath.Join(dir, "db"), KeyFile: filepath.Join(dir, "device.key"), GatewayID: "gw1"}
}

func openInternal(t *testing.T, o Options) *Store {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// recomputedDigest is the users' digest as a table written before the
// state record kept it gets: from every record.
func recomputedDigest(t *testing.T, s *Store) digest {
	t.Helper()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	ix, err := s.loadIndex(s.gen, Counts{}, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return ix.digest
}

func snapshotUsers(n, variant int) []SnapshotUser {
	users := make([]SnapshotUser, n)
	for i := range users {
		pin := fmt.Sprintf("%08d", (i*7919+variant*104729+12345)%100_000_000)
		if access.IsTrivial(pin) {
			pin = fmt.Sprintf("%08d", (i*7919+variant*104729+50_000_000)%100_000_000)
		}
		users[i] = SnapshotUser{User: access.User{ID: fmt.Sprintf("u%05d", i), Name: fmt.Sprintf("User %d v%d", i, variant), Enabled: true},
			PIN:         pin,
			Credentials: []access.Credential{{ID: fmt.Sprintf("c%05d", i), Card: access.CardKey{Format: "H10301", Facility: uint32(variant), Number: uint64(i)}}}}
	}
	return users
}

// TestStoredDigest: the digest the state record keeps is the one the
// records give, after updates, a snapshot and a reopen.
func TestStoredDigest(t *testing.T) {
	o := internalOptions(t)
	s := openInternal(t, o)
	check := func(when string) {
		t.Helper()
		s.mu.RLock()
		kept := s.idx.digest
		s.mu.RUnlock()
		if got := recomputedDigest(t, s); got != kept {
			t.Fatalf("%s: the index's digest is %x, the records give %x", when, kept.bytes(), got.bytes())
		}
	}
	if err := s.ReplaceAll(1, nil, snapshotUsers(300, 0)); err != nil {
		t.Fatal(err)
	}
	check("after a snapshot")
	err := s.Update(func(tx *Tx) error {
		for i := range 20 {
			id := fmt.Sprintf("u%05d", i)
			switch i % 4 {
			case 0:
				if err := tx.DeleteUser(id); err != nil {
					return err
				}
			case 1:
				if _, err := tx.PutUser(access.User{ID: id, Name: "Renamed", Enabled: false}); err != nil {
					return err
				}
			case 2:
				if err := tx.ClearPIN(id); err != nil {
					return err
				}
			case 3:
				if _, err := tx.AddCredential(access.Credential{UserID: id, ID: id + "-b", Card: access.CardKey{Format: "H10301", Facility: 9, Number: uint64(i)}}); err != nil {
					return err
				}
			}
		}
		_, err := tx.PutUser(access.User{ID: "new", Name: "New", Enabled: true})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	check("after an update")
	want := s.Digest()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openInternal(t, o)
	defer s.Close()
	if got := s.Digest(); got != want {
		t.Errorf("digest after reopening %x, want %x", got, want)
	}
	check("after reopening")
}

// TestOpenStateWithoutDigest opens a table whose state record is the one
// Lintel wrote before it kept the digest: Open computes the digest from
// the records, and the next write keeps it.
func TestOpenStateWithoutDigest(t *testing.T) {
	o := internalOptions(t)
	s := openInternal(t, o)
	if err := s.ReplaceAll(7, nil, snapshotUsers(50, 1)); err != nil {
		t.Fatal(err)
	}
	want := s.Digest()
	state := func() []byte {
		var v []byte
		if err := s.db.View(func(txn *badger.Txn) error {
			item, err := txn.Get(keyState)
			if err != nil {
				return err
			}
			v, err = item.ValueCopy(nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	old := state()[:stateSizeNoHash]
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyState, old) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openInternal(t, o)
	defer s.Close()
	if got := s.Digest(); got != want {
		t.Errorf("digest computed at Open %x, want %x", got, want)
	}
	if got := s.Revision(); got != 7 {
		t.Errorf("revision %d, want 7", got)
	}
	if err := s.Update(func(tx *Tx) error { tx.SetRevision(8); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := len(state()); got != stateSize {
		t.Errorf("state record of %d bytes after a write, want %d", got, stateSize)
	}
}

// tableRSS is how much of the Badger tables in dir this process has
// resident, from /proc/self/smaps.
func tableRSS(t *testing.T, dir string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	abs, _ := filepath.EvalSymlinks(dir)
	kb, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			in = len(fields) == 6 && strings.HasSuffix(fields[5], ".sst") && filepath.Dir(fields[5]) == abs
		case in && fields[0] == "Rss:":
			n, _ := strconv.Atoi(fields[1])
			kb += n
		}
	}
	return kb
}

// TestReleaseTablePages: Open leaves none of the tables it read resident,
// reads map pages back in, and releaseTablePages drops them again.
func TestReleaseTablePages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("table pages are dropped on Linux only")
	}
	o := internalOptions(t)
	s := openInternal(t, o)
	if err := s.ReplaceAll(1, nil, snapshotUsers(40_000, 0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Compact the table into one level, so that no compaction runs (and
	// maps new tables in) while the test measures.
	s = openInternal(t, o)
	if err := s.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openInternal(t, o)
	defer s.Close()
	size := 0
	for _, ti := range s.db.Tables() {
		size += int(ti.OnDiskSize)
	}
	if size < 1<<20 {
		t.Fatalf("the table was written to %d bytes of Badger tables, want a few MiB", size)
	}
	// Badger's compactions may read a little after Open; loading read
	// every page.
	limit := size / 10 >> 10
	if kb := tableRSS(t, o.Dir); kb > limit {
		t.Errorf("%d KiB of %d KiB of Badger's tables resident after Open", kb, size>>10)
	}
	for i := 0; i < 40_000; i += 97 {
		if _, err := s.User(fmt.Sprintf("u%05d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if kb := tableRSS(t, o.Dir); kb == 0 {
		t.Fatal("reading users mapped no table pages in: the test measures nothing")
	}
	if err := s.releaseTablePages(); err != nil {
		t.Fatal(err)
	}
	if kb := tableRSS(t, o.Dir); kb > limit {
		t.Errorf("%d KiB of %d KiB of Badger's tables resident after releaseTablePages", kb, size>>10)
	}
	if _, err := s.User("u00042"); err != nil {
		t.Errorf("reading a user after the release: %v", err)
	}
}

// TestPageSchedule walks the page keeper's decision: it drops the pages
// once a changed set of tables has stayed the same for a check, and again
// a while after the last drop.
func TestPageSchedule(t *testing.T) {
	t0 := time.Date(2027, 1, 4, 12, 0, 0, 0, time.UTC)
	var p pageSchedule
	p.dropped(1, t0)
	p.seen = 1
	steps := []struct {
		name string
		fp   uint64
		at   time.Duration
		want bool
	}{
		{"unchanged since the drop", 1, time.Second, false},
		{"a compaction changed the tables", 2, 2 * time.Second, false},
		{"still changing", 3, 3 * time.Second, false},
		{"settled", 3, 4 * time.Second, true},
		{"unchanged since the drop again", 3, 5 * time.Second, false},
		{"a minute after the drop", 3, 4*time.Second + pageRefreshEvery, true},
	}
	for _, st := range steps {
		now := t0.Add(st.at)
		if got := p.due(st.fp, now); got != st.want {
			t.Fatalf("%s: due = %v, want %v", st.name, got, st.want)
		}
		if st.want {
			p.dropped(st.fp, now)
		}
	}
}
