package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/gateway/store"
	"github.com/lintel-access/lintel/gateway/store/storetest"
)

// The full-disk test runs the store in child processes (this test binary
// again) on a small tmpfs: a store that writes into a full disk dies of
// SIGBUS, which the parent reports as a failure instead of dying with it.
const (
	envDiskChild = "LINTEL_STORE_DISK_CHILD"
	envDiskBase  = "LINTEL_STORE_DISK_BASE"
	// diskSize is the tmpfs of the finding: a 16 MiB data dir.
	diskSize = "16m"
	// testMinFree is the least reserve on that disk (the default, 64 MiB,
	// is more than the whole disk). The guard raises the reserve above it
	// as the database grows past it, since a compaction needs room of the
	// database's size: with a fixed 4 MiB the store died of SIGBUS in a
	// compaction in about one run of three.
	testMinFree = 4 << 20
)

// diskOptions are the store options of both phases; base holds the
// mounted disk and, outside it, the device key.
func diskOptions(base string) store.Options {
	return store.Options{
		Dir:            filepath.Join(base, "disk", "db"),
		KeyFile:        filepath.Join(base, "device.key"),
		GatewayID:      storetest.GatewayID,
		MinFree:        testMinFree,
		DiskCheckEvery: 10 * time.Millisecond,
	}
}

// mountTmpfs mounts a tmpfs of size at dir until the test ends. Only a
// refused mount (not root, or a container that forbids it) skips the test.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size)
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		t.Skipf("cannot test a full disk: mounting a %s tmpfs is refused here (%v); run the test as root", size, err)
	}
	if err != nil {
		t.Fatalf("mount a %s tmpfs at %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// fillDisk writes a file into dir until the filesystem has no byte left,
// as a runaway log on the same partition would.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4 << 10} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill the disk: %v", err)
				}
				break
			}
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	if st.Bavail != 0 {
		t.Fatalf("the disk still has %d blocks free after filling it", st.Bavail)
	}
}

// TestFullDiskIsAFaultNotACrashLoop is finding 5 of the security review: a
// 16 MiB data dir crashed the gateway with SIGBUS on the 80th delta, and it
// crash-looped on restart. Now the store refuses writes before Badger runs
// out of room, keeps deciding and journaling into memory, starts in that
// state on a disk that something else filled to the last byte, and
// recovers when space returns.
func TestFullDiskIsAFaultNotACrashLoop(t *testing.T) {
	base := t.TempDir()
	mountTmpfs(t, filepath.Join(base, "disk"), diskSize)
	runDiskChild(t, "fill", base)
	fillDisk(t, filepath.Join(base, "disk", "filler"))
	runDiskChild(t, "restart", base)
}

// runDiskChild runs one phase in a child and fails the test with its output
// when it fails or dies of a signal.
func runDiskChild(t *testing.T, phase, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := selfCommand(ctx, "-test.run=^TestFullDiskChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envDiskChild+"="+phase, envDiskBase+"="+base)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case bytes.Contains(out, []byte("[signal SIGBUS")): // the Go runtime's report of a fault
		t.Fatalf("phase %q: the store died of SIGBUS after %q: a full disk must be a fault, not a crash\n%s",
			phase, lastLine(out, "delta "), tail(out))
	case errors.As(err, &exit) && exit.ProcessState.Sys().(syscall.WaitStatus).Signaled():
		t.Fatalf("phase %q: the store died of %v: a full disk must be a fault, not a crash\n%s",
			phase, exit.ProcessState.Sys().(syscall.WaitStatus).Signal(), tail(out))
	case err != nil:
		t.Fatalf("phase %q: %v\n%s", phase, err, tail(out))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "disk: ") {
			t.Logf("%s: %s", phase, strings.TrimPrefix(line, "disk: "))
		}
	}
}

// lastLine is the last line of out that starts with prefix.
func lastLine(out []byte, prefix string) string {
	last := ""
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, prefix) {
			last = line
		}
	}
	return last
}

// tail is the end of a child's output, where a Go crash report starts.
func tail(out []byte) string {
	const keep = 6000
	if len(out) > keep {
		out = out[len(out)-keep:]
	}
	return string(out)
}

// TestFullDiskChild is the child's body; it does nothing unless started by
// runDiskChild.
func TestFullDiskChild(t *testing.T) {
	base := os.Getenv(envDiskBase)
	switch os.Getenv(envDiskChild) {
	case "":
		return
	case "fill":
		diskFill(t, diskOptions(base))
	case "restart":
		diskRestart(t, diskOptions(base), base)
	}
}

// deltaCard is the card of user k of delta d.
func deltaCard(d, k int) access.CardKey {
	return access.CardKey{Format: "H10301", Facility: uint32(d / 100), Number: uint64(d%100*100 + k)}
}

const usersPerDelta = 100

// writeDelta adds usersPerDelta users with a card each, as a portal's delta.
func writeDelta(s *store.Store, d int) error {
	return s.Update(func(tx *store.Tx) error {
		tx.SetRevision(uint64(d))
		for k := range usersPerDelta {
			id := fmt.Sprintf("d%d-u%d", d, k)
			if _, err := tx.PutUser(access.User{ID: id, Name: "User " + id, Enabled: true}); err != nil {
				return err
			}
			if _, err := tx.AddCredential(access.Credential{UserID: id, Type: access.CredentialCard, Card: deltaCard(d, k)}); err != nil {
				return err
			}
		}
		return nil
	})
}

// diskFill writes deltas and events until the store refuses a delta, then
// checks that the doors still decide and events are still taken.
func diskFill(t *testing.T, opts store.Options) {
	s, err := store.Open(opts)
	if err != nil {
		t.Fatalf("Open on an empty %s disk: %v", diskSize, err)
	}
	var refused error
	d := 0
	for refused == nil {
		d++
		if d > 5000 {
			t.Fatalf("%d deltas of %d users fit on a %s disk; the guard never refused one", d, usersPerDelta, diskSize)
		}
		refused = writeDelta(s, d)
		appendN(t, s, 20, "t")                   // Append fails only when closed
		fmt.Printf("delta %d: %v\n", d, refused) // the last before a crash is in its report
	}
	fmt.Printf("disk: delta %d refused: %v\n", d, refused)
	if !errors.Is(refused, store.ErrDiskFull) {
		t.Fatalf("delta %d: got %v, want an error wrapping ErrDiskFull", d, refused)
	}
	if want := " reserve; writes are refused until "; !strings.Contains(refused.Error(), want) {
		t.Errorf("the refusal %q does not say %q", refused, want)
	}
	if ds := s.DiskStats(); ds.Refused == 0 || ds.Since.IsZero() || ds.MinFree != testMinFree || ds.Reserve <= testMinFree {
		t.Errorf("DiskStats after the refusal: %+v; want Refused > 0, Since set, MinFree %d and a reserve above it (room for a compaction)", ds, testMinFree)
	}
	if got := s.Revision(); got != uint64(d-1) {
		t.Errorf("revision %d after delta %d was refused, want %d", got, d, d-1)
	}
	for _, dk := range [][2]int{{1, 0}, {d - 1, usersPerDelta - 1}} {
		h, ok := s.Card(deltaCard(dk[0], dk[1]))
		if want := fmt.Sprintf("d%d-u%d", dk[0], dk[1]); !ok || h.User.ID != want {
			t.Errorf("the card of %s on a full disk: got %+v, %v; want that user", want, h.User, ok)
		}
	}
	if _, ok := s.Card(deltaCard(d, 0)); ok {
		t.Errorf("a card of the refused delta %d is in the table", d)
	}
	appendN(t, s, 50, "t")
	fmt.Printf("disk: after the refusal: %+v\n", s.DiskStats())
	if err := s.Close(); err != nil && !errors.Is(err, store.ErrDiskFull) {
		t.Errorf("Close: %v", err)
	}
}

// diskRestart opens the store on a disk something else filled to the last
// byte, checks the degraded state, gives the disk room again and checks
// the store recovers on its own.
func diskRestart(t *testing.T, opts store.Options, base string) {
	s, err := store.Open(opts)
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	defer s.Close()
	ds := s.DiskStats()
	fmt.Printf("disk: opened on a full disk: %+v\n", ds)
	if !ds.Full || !strings.Contains(ds.Fault, " reserve; writes are refused until ") || ds.Reserve < testMinFree {
		t.Fatalf("opened on a full disk, DiskStats: %+v; want Full with a fault that names the reserve", ds)
	}
	users := s.Counts().Users
	if users < usersPerDelta {
		t.Fatalf("%d users after the restart; the first phase's deltas are missing", users)
	}
	if h, ok := s.Card(deltaCard(1, 7)); !ok || h.User.ID != "d1-u7" {
		t.Errorf("a card on a full disk after a restart: got %+v, %v", h.User, ok)
	}

	// Every kind of write is refused, each with the fault.
	writes := map[string]error{
		"Update":     writeDelta(s, 99999),
		"ReplaceAll": s.ReplaceAll(99999, nil, snapshotUsers(10, 9)),
		"SetCursor":  s.SetCursor(store.CursorUplink, s.JournalStats().Last),
		"Flush":      s.Flush(),
	}
	for name, err := range writes {
		if !errors.Is(err, store.ErrDiskFull) {
			t.Errorf("%s on a full disk: got %v, want ErrDiskFull", name, err)
		}
	}
	if got := s.Counts().Users; got != users {
		t.Errorf("%d users after refused writes, want %d", got, users)
	}

	// The newest events are kept in memory, within a bound, and the
	// dropped ones counted.
	before := s.JournalStats()
	const n = store.MaxBufferedEvents*2 + 7
	for i := range n {
		if _, err := s.Append(access.Event{Type: "t", Name: "T", Detail: fmt.Sprint(i)}); err != nil {
			t.Fatalf("Append %d on a full disk: %v", i, err)
		}
	}
	held := s.JournalStats()
	fmt.Printf("disk: %d events appended on the full disk: %d held, %d lost\n", n, held.Pending, held.Lost)
	if held.Pending > store.MaxBufferedEvents || held.Pending < store.MaxBufferedEvents*9/10 {
		t.Errorf("%d events held in memory, want between 90%% of %d and %d", held.Pending, store.MaxBufferedEvents, store.MaxBufferedEvents)
	}
	// Appended: the Storage Full event of the start, then n.
	if got, want := uint64(held.Pending)+held.Lost, uint64(before.Pending)+n; got != want {
		t.Errorf("held %d + lost %d = %d, want the %d appended", held.Pending, held.Lost, got, want)
	}
	if held.Last != before.Last {
		t.Errorf("the journal's last event moved from %d to %d on a full disk", before.Last, held.Last)
	}

	// Space returns: the disk grows and the filler goes. The store
	// notices on its own and writes what it holds.
	if err := syscall.Mount("tmpfs", filepath.Join(base, "disk"), "tmpfs", syscall.MS_REMOUNT, "size=32m"); err != nil {
		t.Fatalf("grow the tmpfs: %v", err)
	}
	if err := os.Remove(filepath.Join(base, "disk", "filler")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for s.DiskStats().Full {
		if time.Now().After(deadline) {
			t.Fatalf("a minute after space returned the store still refuses writes: %+v", s.DiskStats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Flush(); err != nil {
		t.Fatalf("Flush after recovery: %v", err)
	}
	after := s.JournalStats()
	fmt.Printf("disk: recovered: %+v\n", s.DiskStats())
	var evs []access.Event
	for cursor := before.Last; cursor < after.Last; {
		page, err := s.Events(cursor, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, page...)
		cursor = page[len(page)-1].Seq
	}
	if got, want := uint64(len(evs)), uint64(held.Pending)+1; got != want {
		t.Fatalf("%d events written after recovery, want the %d held and Storage Recovered", got, want)
	}
	for i, ev := range evs {
		if want := before.Last + 1 + uint64(i); ev.Seq != want || ev.ID != fmt.Sprintf("%s-%d", storetest.GatewayID, want) {
			t.Fatalf("event %d after recovery is seq %d id %q, want seq %d: the journal must stay gap-free", i, ev.Seq, ev.ID, want)
		}
	}
	// The newest were kept, in order: the held ones are the last n appended.
	if got, want := evs[0].Detail, fmt.Sprint(n-held.Pending); got != want {
		t.Errorf("the oldest event kept is number %s, want %s", got, want)
	}
	if got, want := evs[len(evs)-2].Detail, fmt.Sprint(n-1); got != want {
		t.Errorf("the newest event kept is number %s, want %s", got, want)
	}
	rec := evs[len(evs)-1]
	if rec.Type != store.TypeStorageRecovered || !strings.Contains(rec.Detail, fmt.Sprintf("%d were lost", held.Lost)) {
		t.Errorf("last event %+v; want %s saying %d were lost", rec, store.TypeStorageRecovered, held.Lost)
	}
	if err := writeDelta(s, 99999); err != nil {
		t.Errorf("a delta after recovery: %v", err)
	}
}
