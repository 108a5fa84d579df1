package gateway

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lintel-access/lintel/broker/mosquittotest"
	"github.com/lintel-access/lintel/gateway/access"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

// Environment of TestGatewayChild, the gateway the crash test kills.
const (
	envChildDir    = "LINTEL_GW_CHILD_DIR"
	envChildCloud  = "LINTEL_GW_CHILD_CLOUD"
	envChildAppend = "LINTEL_GW_CHILD_APPEND"
)

// TestGatewayChild is the body of the child process that
// TestSIGKILLMidDrainLosesNoEvent kills; it does nothing otherwise. It runs
// a whole simulated gateway with an uplink, appends the requested number of
// events to its journal, prints the journal's last committed seq and runs
// until it is killed.
func TestGatewayChild(t *testing.T) {
	dir := os.Getenv(envChildDir)
	if dir == "" {
		return
	}
	n, _ := strconv.Atoi(os.Getenv(envChildAppend))
	cfg := SimDefaults()
	cfg.Gateway.DataDir = dir
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Broker.Listen = "127.0.0.1:0"
	cloudConfig(os.Getenv(envChildCloud))(cfg)
	err := Run(context.Background(), cfg, Options{Sim: true, Out: discard{}, Logger: quietLogger(),
		onReady: func(g *Gateway) {
			go func() {
				for i := range n {
					if _, err := g.store.Append(access.Event{Type: "test.event", Name: "Test Event", Reader: "front",
						Detail: strconv.Itoa(i)}); err != nil {
						fmt.Println("append:", err)
						os.Exit(1)
					}
				}
				if err := g.store.Flush(); err != nil {
					fmt.Println("flush:", err)
					os.Exit(1)
				}
				fmt.Printf("LAST %d\n", g.store.JournalStats().Last)
			}()
		}})
	fmt.Println("run:", err)
	os.Exit(1)
}

// startChild runs TestGatewayChild and returns it with the last seq it
// reports once its events are committed.
func startChild(t *testing.T, dir, cloud string, events int) (*exec.Cmd, uint64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestGatewayChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildDir+"="+dir, envChildCloud+"="+cloud, envChildAppend+"="+strconv.Itoa(events))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "LAST "); ok {
			last, err := strconv.ParseUint(rest, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, last
		}
		t.Logf("child: %s", sc.Text())
	}
	t.Fatalf("the gateway child ended without reporting its journal")
	return nil, 0
}

// TestSIGKILLMidDrainLosesNoEvent kills a whole gateway with SIGKILL while
// its uplink is draining a backlog to a real mosquitto, restarts it on the
// same data directory, and checks that the cloud receives every event, in
// order (duplicates allowed; the ids of a resent event are equal).
func TestSIGKILLMidDrainLosesNoEvent(t *testing.T) {
	const events = 20_000
	cloud := mosquittotest.Start(t)
	sub := uplinktest.Subscribe(t, cloud.URL(), "lintel/v1/lintel-sim/events/#")
	dir := t.TempDir()

	child, _ := startChild(t, dir, cloud.URL(), events)
	sub.WaitFor(t, 60*time.Second, "part of the backlog", func(m []uplinktest.Message) bool { return len(m) >= events/5 })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	killedAt := sub.Len()
	if killedAt >= events {
		t.Fatalf("the whole backlog (%d) was delivered before the kill; the test did not kill mid-drain", killedAt)
	}

	_, last := startChild(t, dir, cloud.URL(), 0)
	if last < events {
		t.Fatalf("after the restart the journal ends at %d, want at least %d", last, events)
	}
	msgs := sub.WaitFor(t, 120*time.Second, fmt.Sprintf("every event up to %d", last), func(m []uplinktest.Message) bool {
		seqs := uplinktest.Seqs(t, m)
		return len(seqs) > 0 && seqs[len(seqs)-1] >= last
	})
	seqs := uplinktest.Seqs(t, msgs)
	if err := uplinktest.CheckDelivery(seqs, 1, last); err != nil {
		t.Fatalf("after a SIGKILL at message %d: %v", killedAt, err)
	}
	// A resent event is the same event: same id, same bytes.
	first := map[uint64][]byte{}
	for i, m := range msgs {
		seq := seqs[i]
		if prev, ok := first[seq]; ok && string(prev) != string(m.Payload) {
			t.Fatalf("event %d was resent with different content:\n%s\n%s", seq, prev, m.Payload)
		}
		first[seq] = m.Payload
		if want := fmt.Sprintf(`"id":"lintel-sim-%d"`, seq); !strings.Contains(string(m.Payload), want) {
			t.Fatalf("event %d: payload %s lacks %s", seq, m.Payload, want)
		}
	}
	t.Logf("killed after %d messages; %d messages for %d events", killedAt, len(seqs), last)
}
