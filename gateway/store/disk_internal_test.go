package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDiskGuardReserveCoversACompaction: a database larger than MinFree
// raises the reserve to its tables plus the memtables' flush, since a
// compaction writes new tables before it deletes the old ones. With the
// reserve fixed at MinFree, a 16 MiB disk died of SIGBUS in a compaction
// after the guard had stopped the store's writes.
func TestDiskGuardReserveCoversACompaction(t *testing.T) {
	const minFree = 4 << 20
	dir := t.TempDir()
	for name, size := range map[string]int64{"000001.sst": 3 << 20, "000002.sst": 2 << 20, "000001.vlog": 64 << 20, "MANIFEST": 1 << 10} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	const room = 5<<20 + numMemtables*memTableSize // the tables and the memtables, not the value log
	if got := dbRoom(dir); got != room {
		t.Fatalf("dbRoom = %d, want %d", got, room)
	}
	free := uint64(room + 1)
	d := newDiskGuard(dir, minFree, slog.New(slog.DiscardHandler), time.Now)
	d.statfs = func(string) (uint64, uint64, error) { return free, 1 << 30, nil }
	d.open()
	if err := d.allow(); err != nil {
		t.Fatalf("allow with %d free, reserve %d: %v", free, room, err)
	}
	free = room - 1 // far above MinFree, below what a compaction may need
	err := d.allow()
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "below the 9.0 MiB reserve") {
		t.Fatalf("allow with %d free: %v, want ErrDiskFull naming the 9.0 MiB reserve", free, err)
	}
	if ds := d.stats(); ds.MinFree != minFree || ds.Reserve != room || ds.Resume != room+minFree {
		t.Errorf("stats %+v, want MinFree %d, Reserve %d, Resume %d", ds, minFree, room, room+minFree)
	}
}

// TestDiskGuardThresholds walks the guard through a disk filling up and
// emptying, with the free space given by the test: the reserve, the
// hysteresis up to twice the reserve, and when the ballast goes and comes
// back.
func TestDiskGuardThresholds(t *testing.T) {
	const minFree = 8 << 20
	dir := t.TempDir()
	free := uint64(100 << 20)
	var changes []bool
	d := newDiskGuard(dir, minFree, slog.New(slog.DiscardHandler), time.Now)
	d.statfs = func(string) (uint64, uint64, error) { return free, 1 << 30, nil }
	d.open()
	d.watch(func(st DiskStats) { changes = append(changes, st.Full) })
	ballast := func() bool {
		fi, err := os.Stat(filepath.Join(dir, ballastFile))
		if err == nil && fi.Size() != minFree {
			t.Errorf("ballast of %d bytes, want %d", fi.Size(), minFree)
		}
		return err == nil
	}
	if !ballast() {
		t.Fatalf("no ballast after opening on a disk with room")
	}
	steps := []struct {
		name        string
		free        uint64
		wantFull    bool
		wantBallast bool
		wantChanges []bool
	}{
		{"above the reserve", 9 << 20, false, true, nil},
		{"below the reserve", 7 << 20, true, true, []bool{true}},
		{"not yet twice the reserve", 15 << 20, true, true, []bool{true}},
		{"nearly nothing left: the ballast goes", 1 << 20, true, false, []bool{true}},
		{"twice the reserve: writes resume, the ballast is back", 16 << 20, false, true, []bool{true, false}},
		{"full again", 3 << 20, true, true, []bool{true, false, true}},
	}
	refused := uint64(0)
	for _, st := range steps {
		free = st.free
		err := d.allow()
		if st.wantFull {
			refused++
		}
		if got := errors.Is(err, ErrDiskFull); got != st.wantFull {
			t.Errorf("%s: allow() = %v, want ErrDiskFull %v", st.name, err, st.wantFull)
		}
		if got := d.isFull(); got != st.wantFull {
			t.Errorf("%s: isFull() = %v, want %v", st.name, got, st.wantFull)
		}
		if got := ballast(); got != st.wantBallast {
			t.Errorf("%s: ballast present %v, want %v", st.name, got, st.wantBallast)
		}
		if diff := cmp.Diff(st.wantChanges, changes); diff != "" {
			t.Errorf("%s: changes reported (-want +got):\n%s", st.name, diff)
		}
		ds := d.stats()
		if ds.Free != st.free || ds.Full != st.wantFull || ds.Refused != refused || ds.MinFree != minFree || ds.Resume != 2*minFree ||
			(ds.Fault != "") != st.wantFull {
			t.Errorf("%s: stats %+v", st.name, ds)
		}
	}

	// A restart on the full disk deletes the ballast before Badger opens.
	d2 := newDiskGuard(dir, minFree, slog.New(slog.DiscardHandler), time.Now)
	d2.statfs = func(string) (uint64, uint64, error) { return 0, 1 << 30, nil }
	d2.open()
	if !d2.isFull() || ballast() {
		t.Errorf("open on a disk with nothing free: full %v, ballast %v; want full and no ballast", d2.isFull(), ballast())
	}
	var told []bool
	d2.watch(func(st DiskStats) { told = append(told, st.Full) })
	if diff := cmp.Diff([]bool{true}, told); diff != "" {
		t.Errorf("watch on a full disk (-want +got):\n%s", diff)
	}
}

// TestDiskGuardOff checks that a negative MinFree turns the guard off and
// that an unmeasurable disk is written to regardless.
func TestDiskGuardOff(t *testing.T) {
	for _, tt := range []struct {
		name    string
		minFree int64
		statfs  func(string) (uint64, uint64, error)
	}{
		{"negative MinFree", -1, func(string) (uint64, uint64, error) { return 0, 1 << 30, nil }},
		{"statfs fails", DefaultMinFree, func(string) (uint64, uint64, error) { return 0, 0, fmt.Errorf("no statfs here") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := newDiskGuard(t.TempDir(), tt.minFree, slog.New(slog.DiscardHandler), time.Now)
			d.statfs = tt.statfs
			d.open()
			if err := d.allow(); err != nil || d.isFull() {
				t.Errorf("allow() = %v, full %v; want writes allowed", err, d.isFull())
			}
		})
	}
}
