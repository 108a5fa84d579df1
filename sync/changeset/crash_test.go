package changeset

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/store"
)

// crashDirEnv tells a re-executed test binary to be the child of
// TestSnapshotSurvivesSIGKILL: apply the new snapshot to the store in that
// directory, and be killed while at it.
const crashDirEnv = "LINTEL_CHANGESET_CRASH_DIR"

const crashUsers = 100_000

// TestSnapshotCrashChild is the child's side of TestSnapshotSurvivesSIGKILL;
// run on its own it does nothing.
func TestSnapshotCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return
	}
	s, err := store.Open(storeOptions(dir))
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	payload := snapshotPayload(crashUsers, 2, 1)
	fmt.Println("applying")
	ack := New(s, nil, nil).Apply(payload)
	fmt.Println(ack.Status)
	// The parent kills us; if it is late, end without closing the store,
	// as a power cut would.
	os.Exit(0)
}

// TestSnapshotSurvivesSIGKILL kills a gateway with SIGKILL while it applies
// a 100k-user snapshot over another 100k-user table, at points spread over
// the whole apply, and reopens the store each time: it must hold the old
// table at the old revision or the new table at the new revision, never a
// mix, and take the next changeset.
func TestSnapshotSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("applies a 100k-user snapshot a dozen times; skipped with -short")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()

	// The old table at revision 1, kept as a template; the new table at
	// revision 2, applied in this process for its digest and to time an
	// apply, so the kills can be spread over one.
	template := filepath.Join(root, "template")
	oldState := func() tableState {
		s := openStoreOnce(t, template)
		defer s.Close()
		if ack := New(s, nil, nil).Apply(snapshotPayload(crashUsers, 1, 0)); ack.Status != StatusApplied {
			t.Fatalf("old table: %s %+v", ack.Status, ack.Error)
		}
		return stateOf(s)
	}()
	reference := filepath.Join(root, "reference")
	copyDir(t, template, reference)
	var took time.Duration
	newState := func() tableState {
		s := openStoreOnce(t, reference)
		defer s.Close()
		payload := snapshotPayload(crashUsers, 2, 1)
		start := time.Now()
		if ack := New(s, nil, nil).Apply(payload); ack.Status != StatusApplied {
			t.Fatalf("new table: %s %+v", ack.Status, ack.Error)
		}
		took = time.Since(start)
		return stateOf(s)
	}()
	if oldState.digest == newState.digest {
		t.Fatal("the old and new tables have the same digest")
	}
	t.Logf("old %s, new %s; one apply took %v", oldState, newState, took)

	outcomes := map[string]int{}
	for i, frac := range []float64{0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, -1} {
		dir := filepath.Join(root, fmt.Sprintf("run%d", i))
		copyDir(t, template, dir)
		delay := time.Duration(frac * float64(took))
		finished := runAndKill(t, exe, dir, delay, frac < 0)

		s := openStoreOnce(t, dir)
		got := stateOf(s)
		var outcome string
		switch got {
		case oldState:
			outcome = "old"
		case newState:
			outcome = "new"
		default:
			s.Close()
			t.Fatalf("killed %v (%.2f of an apply) into the apply: reopened %s, want the old %s or the new %s", delay, frac, got, oldState, newState)
		}
		if finished && outcome != "new" {
			t.Errorf("the child reported the snapshot applied, but the store reopened with the old table")
		}
		checkPINs(t, s, outcome)
		// The reopened gateway takes the next changeset.
		next := encode(t, Changeset{Revision: got.revision + 1, Base: got.revision, Ops: []Op{{Kind: OpPINClear, User: "u7"}}})
		if ack := New(s, nil, nil).Apply(next); ack.Status != StatusApplied {
			t.Errorf("after the kill: next changeset %s %+v", ack.Status, ack.Error)
		}
		s.Close()
		outcomes[outcome]++
		when := fmt.Sprintf("%v into the apply", delay.Round(time.Millisecond))
		if frac < 0 {
			when = "after the apply"
		}
		t.Logf("killed %s (child reported it applied: %v): %s table", when, finished, outcome)
	}
	if outcomes["old"] == 0 || outcomes["new"] == 0 {
		t.Errorf("outcomes %v: want kills that left the old table and kills that left the new", outcomes)
	}
}

// tableState is what must agree after a crash: revision and content.
type tableState struct {
	revision uint64
	counts   store.Counts
	digest   [32]byte
}

func (s tableState) String() string {
	return fmt.Sprintf("revision %d with %+v, digest %x…", s.revision, s.counts, s.digest[:4])
}

func stateOf(s *store.Store) tableState {
	return tableState{revision: s.Revision(), counts: s.Counts(), digest: s.Digest()}
}

// checkPINs checks that a few users hold the PINs of the table the store
// reopened with, and not those of the other.
func checkPINs(t *testing.T, s *store.Store, outcome string) {
	t.Helper()
	want, other := 0, 1
	if outcome == "new" {
		want, other = 1, 0
	}
	for _, i := range []int{0, 7, crashUsers / 2, crashUsers - 1} {
		id := fmt.Sprintf("u%d", i)
		if got := pinHolder(s, snapshotPIN(i, want)); got != id {
			t.Errorf("%s table: %s's PIN is held by %q", outcome, id, got)
		}
		if got := pinHolder(s, snapshotPIN(i, other)); got != "" {
			t.Errorf("%s table: %s's PIN of the other table is held by %q", outcome, id, got)
		}
	}
}

// runAndKill starts the child on dir, waits until it starts applying, then
// waits delay (or, with toEnd, until it reports the result) and kills it
// with SIGKILL. It reports whether the child said the apply had finished.
func runAndKill(t *testing.T, exe, dir string, delay time.Duration, toEnd bool) (finished bool) {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^TestSnapshotCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, stdout := io.Pipe()
	cmd.Stdout = stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody is waiting for more than a few lines
			}
		}
		close(lines)
		io.Copy(io.Discard, out)
	}()
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		stdout.Close() // ends the reader above
		close(exited)
	}()
	// Generous deadlines: the child is a real process on a busy machine.
	wait := func(what string, pred func(string) bool) bool {
		deadline := time.After(2 * time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return false
				}
				if pred(l) {
					return true
				}
			case <-deadline:
				cmd.Process.Kill()
				<-exited
				t.Fatalf("the child did not report %s within 2 minutes", what)
			}
		}
	}
	if !wait("starting", func(l string) bool { return l == "applying" }) {
		<-exited
		t.Fatal("the child ended before it started applying")
	}
	if toEnd {
		finished = wait("the result", func(l string) bool { return l == string(StatusApplied) })
	} else {
		time.Sleep(delay)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	// A result printed just before the kill still counts.
	for l := range lines {
		if l == string(StatusApplied) {
			finished = true
		}
	}
	return finished
}

func openStoreOnce(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(storeOptions(dir))
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return s
}

// copyDir copies a closed store's directory tree.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		info, err := src.Stat()
		if err != nil {
			return err
		}
		dst, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(dst, src); err != nil {
			dst.Close()
			return err
		}
		return dst.Close()
	})
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
}
