package uplink_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lintel-access/lintel/broker/mosquittotest"
	"github.com/lintel-access/lintel/sync/uplink"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

// The crash tests run the uplink in a child process, the test binary
// started again with these variables set, so that it can be killed with
// SIGKILL like a gateway losing its process.
const (
	childDirEnv = "LINTEL_UPLINK_TEST_CHILD_DIR" // journal and cursor files
	childURLEnv = "LINTEL_UPLINK_TEST_CHILD_URL" // the cloud broker
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(runChild(dir, os.Getenv(childURLEnv)))
	}
	os.Exit(m.Run())
}

// runChild is the child process: an uplink over a file journal and a file
// cursor in dir, until SIGTERM.
func runChild(dir, url string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	j, err := uplinktest.OpenFileJournal(filepath.Join(dir, "journal"))
	if err != nil {
		log.Error("child: open journal", "err", err)
		return 2
	}
	defer j.Close()
	c := uplinktest.NewFileCursor(filepath.Join(dir, "cursor"))
	u, err := uplink.New(testConfig(url), gw, j, c, nil, log)
	if err != nil {
		log.Error("child: new uplink", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := u.Run(ctx); err != nil {
		log.Error("child: run", "err", err)
		return 1
	}
	return 0
}

// child is a running child process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
}

var children atomic.Int32

// startChild runs the uplink in a child process over the files in dir. Its
// log is written to the test log if the test fails; it is killed when the
// test ends if still running.
func startChild(t *testing.T, dir, url string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, fmt.Sprintf("child-%d.log", children.Add(1)))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childURLEnv+"="+url)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start child: %v", err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s:\n%s", filepath.Base(logPath), b)
			}
		}
	})
	return c
}

// signal sends sig and waits for the child to exit.
func (c *child) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal child: %v", err)
	}
	select {
	case <-c.done:
	case <-time.After(patience):
		t.Fatalf("child did not exit within %v of %v", patience, sig)
	}
}

// TestCrashMidDrain: the uplink's process is killed with SIGKILL while a
// backlog drains, and started again; every event arrives, in order, ids
// intact (duplicates allowed).
func TestCrashMidDrain(t *testing.T) {
	const n = 20_000
	srv := mosquittotest.Start(t)
	sub := uplinktest.Subscribe(t, srv.URL(), eventsFilter)
	dir := t.TempDir()
	j, err := uplinktest.OpenFileJournal(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := j.AppendEvent(gw, readers[j.Last()%uint64(len(readers))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	j.Close()
	cursor := uplinktest.NewFileCursor(filepath.Join(dir, "cursor"))

	first := startChild(t, dir, srv.URL())
	sub.WaitFor(t, patience, "a couple of thousand events", func(m []uplinktest.Message) bool { return len(m) >= 2000 })
	first.signal(t, syscall.SIGKILL)
	killedAt, err := cursor.Load()
	if err != nil {
		t.Fatal(err)
	}
	if killedAt >= n {
		t.Fatalf("cursor = %d when killed: the drain had finished, so the kill tested nothing", killedAt)
	}
	received := sub.Len()

	second := startChild(t, dir, srv.URL())
	msgs := delivered(t, sub, n)
	checkIntact(t, j.MemJournal, msgs)
	eventually(t, "the cursor file to reach the last event", func() bool {
		seq, err := cursor.Load()
		return err == nil && seq == n
	})
	second.signal(t, syscall.SIGTERM)
	t.Logf("killed with cursor %d after %d messages; %d messages in all for %d events", killedAt, received, len(msgs), n)
}

// TestWillOnKill: when the uplink's process dies, a cloud-side subscriber
// sees the retained status turn to the last will, "offline".
func TestWillOnKill(t *testing.T) {
	srv := mosquittotest.Start(t)
	status := uplinktest.Subscribe(t, srv.URL(), statusTopic)
	dir := t.TempDir()
	ch := startChild(t, dir, srv.URL())
	status.WaitFor(t, patience, `status "online"`, hasPayloads("online"))
	ch.signal(t, syscall.SIGKILL)
	msgs := status.WaitFor(t, patience, `status "offline"`, hasPayloads("online", "offline"))
	if len(msgs) != 2 {
		t.Errorf("status messages %v, want online then offline", msgs)
	}
	// A subscriber arriving later sees the will as the retained status.
	late := uplinktest.Subscribe(t, srv.URL(), statusTopic)
	got := late.WaitFor(t, patience, "the retained status", func(m []uplinktest.Message) bool { return len(m) > 0 })
	if string(got[0].Payload) != "offline" || !got[0].Retained {
		t.Errorf("late subscriber got %q (retained %v), want retained \"offline\"", got[0].Payload, got[0].Retained)
	}
}
