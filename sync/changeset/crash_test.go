package changeset

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lintel-access/lintel/gateway/store"
)

// The SIGKILL test runs each gateway as a child process: this test binary
// again, told by the environment which step to play on which directory.
const (
	crashDirEnv  = "LINTEL_CHANGESET_CRASH_DIR"
	crashStepEnv = "LINTEL_CHANGESET_CRASH_STEP"
)

// crashUsers is the size of both tables.
const crashUsers = 100_000

// TestSnapshotCrashChild is the child's side of TestSnapshotSurvivesSIGKILL;
// run on its own it does nothing. Its steps print lines the parent reads:
//
//	seed:  apply the old table (revision 1); print its state
//	apply: print "applying", apply the new table (revision 2), print
//	       "applied", the time it took and the state
//	check: print the state, which table's PINs the users hold ("pins 0",
//	       "pins 1" or "pins mixed"), and the status of the next changeset
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
	a := New(s, nil, nil)
	switch step := os.Getenv(crashStepEnv); step {
	case "seed":
		if ack := a.Apply(snapshotPayload(crashUsers, 1, 0)); ack.Status != StatusApplied {
			fmt.Println("seed:", ack.Status, ack.Error)
			os.Exit(2)
		}
	case "apply":
		payload := snapshotPayload(crashUsers, 2, 1)
		fmt.Println("applying")
		start := time.Now()
		ack := a.Apply(payload)
		fmt.Println(ack.Status)
		fmt.Println("took", time.Since(start).Nanoseconds())
	case "check":
		fmt.Println(stateLine(s))
		fmt.Println("pins", pinsHeld(s))
		next := Changeset{Revision: s.Revision() + 1, Base: s.Revision(), Ops: []Op{{Kind: OpPINClear, User: "u7"}}}
		b, _ := Encode(next)
		fmt.Println("next", a.Apply(b).Status)
	default:
		fmt.Println("unknown step", step)
		os.Exit(2)
	}
	fmt.Println(stateLine(s))
	// No Close: the store ends as a power cut would end it.
	os.Exit(0)
}

func stateLine(s *store.Store) string {
	c, d := s.Counts(), s.Digest()
	return fmt.Sprintf("state revision=%d users=%d credentials=%d pins=%d digest=%s",
		s.Revision(), c.Users, c.Credentials, c.PINs, hex.EncodeToString(d[:]))
}

// pinsHeld says which snapshot variant's PINs a sample of users hold: "0",
// "1", or "mixed".
func pinsHeld(s *store.Store) string {
	held := map[int]int{}
	sample := []int{0, 7, 1234, crashUsers / 2, crashUsers - 1}
	for _, i := range sample {
		for variant := range 2 {
			if pinHolder(s, snapshotPIN(i, variant)) == fmt.Sprintf("u%d", i) {
				held[variant]++
			}
		}
	}
	switch {
	case held[0] == len(sample) && held[1] == 0:
		return "0"
	case held[1] == len(sample) && held[0] == 0:
		return "1"
	}
	return "mixed"
}

// TestSnapshotSurvivesSIGKILL kills a gateway with SIGKILL while it applies
// a 100k-user snapshot over another 100k-user table, at points spread over
// the whole apply, and restarts it each time: it must hold the old table at
// the old revision or the new table at the new revision, never a mix, and
// take the next changeset.
func TestSnapshotSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("applies a 100k-user snapshot a dozen times; skipped with -short")
	}
	root := t.TempDir()
	child := childBinary(t, root)

	template := filepath.Join(root, "template")
	oldState := lastState(t, runChild(t, child, template, "seed", -1))
	reference := filepath.Join(root, "reference")
	copyDir(t, template, reference)
	ref := runChild(t, child, reference, "apply", -1)
	newState := lastState(t, ref)
	took := tookOf(t, ref)
	if oldState == newState {
		t.Fatalf("the old and new tables have the same state %s", oldState)
	}
	t.Logf("old: %s\nnew: %s\none apply took %v", oldState, newState, took)

	outcomes := map[string]int{}
	for i, frac := range []float64{0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5} {
		dir := filepath.Join(root, fmt.Sprintf("run%d", i))
		copyDir(t, template, dir)
		delay := time.Duration(frac * float64(took))
		out := runChild(t, child, dir, "apply", delay)
		finished := contains(out, string(StatusApplied))

		check := runChild(t, child, dir, "check", -1)
		got := check[0]
		var outcome, pins string
		switch got {
		case oldState:
			outcome, pins = "old", "pins 0"
		case newState:
			outcome, pins = "new", "pins 1"
		default:
			t.Fatalf("killed %v into the apply: restarted with %s\nwant the old %s\nor the new %s", delay, got, oldState, newState)
		}
		if !contains(check, pins) {
			t.Errorf("killed %v into the apply: %s table, but the users' PINs say %v", delay, outcome, check)
		}
		if !contains(check, "next "+string(StatusApplied)) {
			t.Errorf("killed %v into the apply: the restarted gateway did not apply the next changeset: %v", delay, check)
		}
		if finished && outcome != "new" {
			t.Errorf("killed %v into the apply: the child reported the snapshot applied, but restarted with the old table", delay)
		}
		outcomes[outcome]++
		t.Logf("killed %v into the apply (child reported it applied: %v): %s table", delay.Round(time.Millisecond), finished, outcome)
	}
	if outcomes["old"] == 0 || outcomes["new"] == 0 {
		t.Errorf("outcomes %v: want kills that left the old table and kills that left the new", outcomes)
	}
}

// childBinary returns the test binary the children run: this one, or
// under the race detector one built without it.
func childBinary(t *testing.T, dir string) string {
	t.Helper()
	if !raceEnabled {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		return exe
	}
	bin := filepath.Join(dir, "changeset-child.test")
	out, err := exec.Command("go", "test", "-c", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build the child test binary without -race (needs the go command): %v\n%s", err, out)
	}
	return bin
}

// runChild runs one step of the child on dir and returns the lines it
// printed. With delay ≥ 0 it kills the child with SIGKILL that long after
// it prints "applying"; otherwise it lets the step end, which must end
// well.
func runChild(t *testing.T, bin, dir, step string, delay time.Duration) []string {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^TestSnapshotCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashStepEnv+"="+step)
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
			default: // the protocol is a few lines
			}
		}
		close(lines)
		io.Copy(io.Discard, out)
	}()
	exited := make(chan error, 1)
	go func() {
		exited <- cmd.Wait()
		stdout.Close() // ends the reader above
	}()

	var got []string
	// Generous deadlines: the child is a real process on a busy machine.
	deadline := time.After(5 * time.Minute)
	killAt := make(<-chan time.Time)
	for lines != nil {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			got = append(got, l)
			if l == "applying" && delay >= 0 {
				killAt = time.After(delay)
			}
		case <-killAt:
			cmd.Process.Signal(syscall.SIGKILL)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("%s on %s: the child did not end within 5 minutes; it printed %v", step, dir, got)
		}
	}
	err := <-exited
	if delay < 0 && err != nil {
		t.Fatalf("%s on %s: %v; it printed %v", step, dir, err, got)
	}
	return got
}

func lastState(t *testing.T, lines []string) string {
	t.Helper()
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "state ") {
			return lines[i]
		}
	}
	t.Fatalf("no state in %v", lines)
	return ""
}

func tookOf(t *testing.T, lines []string) time.Duration {
	t.Helper()
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "took "); ok {
			ns, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return time.Duration(ns)
		}
	}
	t.Fatalf("no time in %v", lines)
	return 0
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
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
