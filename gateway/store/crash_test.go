package store_test

import (
	"bufio"
	"context"
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

// The crash tests run this test binary again as a child that writes to a
// store, kill it with SIGKILL at a chosen point of its output, and check
// what a fresh Open finds.
const (
	envChildMode = "LINTEL_STORE_CRASH_CHILD"
	envChildDir  = "LINTEL_STORE_CRASH_DIR"
)

func childOptions(dir string) store.Options {
	return store.Options{Dir: filepath.Join(dir, "db"), KeyFile: filepath.Join(dir, "device.key"), GatewayID: storetest.GatewayID,
		Site: storetest.BenchSite()}
}

// crashUsers is how many users the update child rewrites per transaction.
const crashUsers = 50

// TestCrashChild is the child's body; it does nothing unless started by
// runChild.
func TestCrashChild(t *testing.T) {
	mode := os.Getenv(envChildMode)
	if mode == "" {
		return
	}
	s, err := store.Open(childOptions(os.Getenv(envChildDir)))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	switch mode {
	case "journal":
		for {
			evs := appendN(t, s, 100, "t")
			if err := s.Flush(); err != nil {
				say("error %v", err)
				os.Exit(1)
			}
			say("flushed %d", evs[len(evs)-1].Seq)
			appendN(t, s, 37, "t") // left to the group commit
		}
	case "update":
		for rev := uint64(1); ; rev++ {
			err := s.Update(func(tx *store.Tx) error {
				tx.SetRevision(rev)
				for k := range crashUsers {
					id := fmt.Sprintf("u%d", k)
					if _, err := tx.PutUser(access.User{ID: id, Name: fmt.Sprintf("rev %d", rev), Enabled: true}); err != nil {
						return err
					}
					if err := tx.ClearPIN(id); err != nil {
						return err
					}
				}
				// The PIN moves from user to user each revision.
				return tx.SetPIN(fmt.Sprintf("u%d", rev%crashUsers), fmt.Sprintf("%08d", 11223344+rev))
			})
			if err != nil {
				say("error %v", err)
				os.Exit(1)
			}
			say("rev %d", rev)
		}
	case "replace":
		for rev := uint64(1); ; rev++ {
			users := snapshotUsers(bigTable(), uint32(rev))
			seq := func(yield func(store.SnapshotUser) bool) {
				for i, u := range users {
					if i == len(users)/2 {
						say("writing %d", rev)
					}
					if !yield(u) {
						return
					}
				}
			}
			if err := s.ReplaceAllSeq(rev, nil, seq); err != nil {
				say("error %v", err)
				os.Exit(1)
			}
			say("replaced %d", rev)
		}
	}
}

// selfCommand starts this test binary again, through the command in
// $LINTEL_TEST_EXEC when it is set: build/qemu-test runs the tests under
// qemu-user, which cannot exec an ARM binary on its own.
func selfCommand(ctx context.Context, args ...string) *exec.Cmd {
	argv := append([]string{os.Args[0]}, args...)
	if runner := os.Getenv("LINTEL_TEST_EXEC"); runner != "" {
		argv = append(strings.Fields(runner), argv...)
	}
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// runChild starts the child in mode on dir and kills it with SIGKILL right
// after it prints the line for which kill reports true; it returns the
// last line it read.
func runChild(t *testing.T, mode, dir string, kill func(line string) bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := selfCommand(ctx, "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildMode+"="+mode, envChildDir+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var last string
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error") {
			t.Errorf("child: %s", line)
		}
		if kill(line) {
			last = line
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("child %s ended (%v) before the kill point", mode, ctx.Err())
	}
	return last
}

func TestKillMidUpdate(t *testing.T) {
	for _, killAt := range []uint64{1, 17, 60} {
		t.Run(fmt.Sprintf("after rev %d", killAt), func(t *testing.T) {
			dir := t.TempDir()
			runChild(t, "update", dir, func(line string) bool { return line == fmt.Sprintf("rev %d", killAt) })
			s := storetest.Open(t, childOptions(dir))
			rev := s.Revision()
			if rev < killAt {
				t.Fatalf("revision %d after kill, but rev %d was committed", rev, killAt)
			}
			if got := s.Counts(); got != (store.Counts{Users: crashUsers, PINs: 1}) {
				t.Errorf("Counts = %+v, want %d users and 1 PIN", got, crashUsers)
			}
			for k := range crashUsers {
				rec, err := s.User(fmt.Sprintf("u%d", k))
				if err != nil || rec.User.Name != fmt.Sprintf("rev %d", rev) {
					t.Errorf("user u%d = %+v, %v; want the name of revision %d", k, rec.User, err, rev)
				}
			}
			h, ok := s.PIN([]byte(fmt.Sprintf("%08d", 11223344+rev)))
			if !ok || h.User.ID != fmt.Sprintf("u%d", rev%crashUsers) {
				t.Errorf("revision %d's PIN = %+v, %v", rev, h, ok)
			}
			t.Logf("killed after rev %d, reopened at rev %d", killAt, rev)
		})
	}
}

func TestKillMidReplaceAll(t *testing.T) {
	tests := []struct {
		name string
		line string
		revs []uint64 // revisions the table may be at
	}{
		{"mid write", "writing 2", []uint64{1}},
		{"right after switch", "replaced 2", []uint64{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			runChild(t, "replace", dir, func(line string) bool { return line == tt.line })
			s := storetest.Open(t, childOptions(dir))
			rev := s.Revision()
			ok := false
			for _, r := range tt.revs {
				ok = ok || r == rev
			}
			if !ok {
				t.Fatalf("revision %d after kill at %q, want one of %v", rev, tt.line, tt.revs)
			}
			n := bigTable()
			if got := s.Counts(); got != (store.Counts{Users: n, Credentials: n, PINs: n}) {
				t.Errorf("Counts = %+v, want %d of each", got, n)
			}
			// Every sampled card and PIN is of the revision's table, none of another.
			for i := 0; i < n; i += 997 {
				h, ok := s.Card(access.CardKey{Format: "H10301", Facility: uint32(rev), Number: uint64(i)})
				if !ok || h.User.ID != fmt.Sprintf("user-%07d", i) {
					t.Fatalf("card %d of revision %d = %+v, %v", i, rev, h, ok)
				}
				if _, ok := s.PIN([]byte(fmt.Sprintf("%d%07d", rev, i))); !ok {
					t.Fatalf("PIN of user %d of revision %d not found", i, rev)
				}
				for _, other := range []uint64{rev - 1, rev + 1} {
					if _, ok := s.Card(access.CardKey{Format: "H10301", Facility: uint32(other), Number: uint64(i)}); ok {
						t.Fatalf("card %d of revision %d found in revision %d's table", i, other, rev)
					}
				}
			}
			// The table keeps working: a snapshot on top of it.
			if err := s.ReplaceAll(rev+1, nil, snapshotUsers(10, 9)); err != nil {
				t.Fatal(err)
			}
			if got := s.Counts().Users; got != 10 {
				t.Errorf("%d users after a further snapshot, want 10", got)
			}
		})
	}
}
