package uplinktest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MosquittoSub collects a gateway's events from a broker with mosquitto_sub,
// the broker's own client, at QoS 1 in a persistent session. The session is
// registered by NewMosquittoSub, so the broker keeps every event published
// from then on for it, whether the collector is reading at the time (Start
// before the events are published) or starts later and is handed what the
// broker queued (Start after).
//
// Each message is checked as it arrives, cheaply enough that a collector
// reading during a benchmark takes little of the machine: its event id is
// "<gateway>-<seq>", and its topic is lintel/v1/<gateway>/events/<reader>,
// the payload's reader or "gateway" for an event without one (reader names
// must need no JSON escaping). Wait then checks the sequence numbers with
// CheckDelivery.
type MosquittoSub struct {
	t      testing.TB
	bin    string
	args   []string
	gw     string
	cmd    *exec.Cmd
	result chan error
}

// NewMosquittoSub registers a persistent session for the events of gateway
// gw on the broker at addr (host:port) and returns once the broker holds
// the subscription: mosquitto_sub is run once with -E, which exits on the
// SUBACK. The collector is not reading yet; see Start. Without
// mosquitto_sub on $PATH the test fails, or is skipped under -short.
func NewMosquittoSub(t testing.TB, addr, gw string) *MosquittoSub {
	t.Helper()
	bin, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		if testing.Short() {
			t.Skip("mosquitto_sub not installed (skipped under -short)")
		}
		t.Fatalf("uplinktest: mosquitto_sub not found on $PATH: install mosquitto-clients")
	}
	host, port, _ := strings.Cut(addr, ":")
	id := fmt.Sprintf("uplinktest-mosquitto-sub-%d-%d", time.Now().UnixNano(), clientIDs.Add(1))
	s := &MosquittoSub{
		t:    t,
		bin:  bin,
		args: []string{"-h", host, "-p", port, "-c", "-i", id, "-q", "1", "-v", "-t", "lintel/v1/" + gw + "/events/#"},
		gw:   gw,
	}
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, append(s.args, "-E")...).CombinedOutput(); err != nil {
		t.Fatalf("uplinktest: mosquitto_sub -E: %v: %s", err, out)
	}
	return s
}

// Start runs the collector until it has received the messages of events
// first..last (one each; a duplicate takes a place, and Wait then reports
// the events it crowded out). It is killed when the test ends if still
// running. Call Start once.
func (s *MosquittoSub) Start(first, last uint64) {
	s.t.Helper()
	n := last - first + 1
	s.cmd = exec.Command(s.bin, append(s.args, "-C", strconv.FormatUint(n, 10))...)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("uplinktest: start mosquitto_sub: %v", err)
	}
	s.result = make(chan error, 1)
	cmd := s.cmd
	s.t.Cleanup(func() { cmd.Process.Kill() })
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		seqs := make([]uint64, 0, n)
		c := lineChecker{prefix: []byte("lintel/v1/" + s.gw + "/events/"), id: []byte(`"id":"` + s.gw + "-")}
		for sc.Scan() {
			seq, err := c.check(sc.Bytes())
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				s.result <- fmt.Errorf("mosquitto_sub message %d: %w", len(seqs), err)
				return
			}
			seqs = append(seqs, seq)
		}
		if err := cmd.Wait(); err != nil && uint64(len(seqs)) < n {
			s.result <- fmt.Errorf("mosquitto_sub ended after %d of %d messages: %w", len(seqs), n, err)
			return
		}
		s.result <- CheckDelivery(seqs, first, last)
	}()
}

// Wait waits up to timeout for the collector started by Start and reports
// whether every event first..last arrived, in order, each on its reader's
// topic with its id. Reaching timeout is an error, never a measurement.
func (s *MosquittoSub) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-s.result:
		return err
	case <-t.C:
		s.cmd.Process.Kill()
		return fmt.Errorf("uplinktest: mosquitto_sub: not every event arrived within %v", timeout)
	}
}

// lineChecker checks a line of mosquitto_sub -v: the topic, a space and an
// event payload.
type lineChecker struct {
	prefix []byte // lintel/v1/<gateway>/events/
	id     []byte // "id":"<gateway>-
	want   []byte // scratch: the id expected
}

// check returns the line's sequence number, or an error saying what is
// wrong with it.
func (c *lineChecker) check(line []byte) (uint64, error) {
	topic, payload, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return 0, fmt.Errorf("no payload in %q", line)
	}
	seq, err := field(payload, `"seq":`, func(b byte) bool { return b >= '0' && b <= '9' })
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(seq), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("seq in %q: %w", payload, err)
	}
	c.want = append(strconv.AppendUint(append(c.want[:0], c.id...), n, 10), '"')
	if !bytes.Contains(payload, c.want) {
		return 0, fmt.Errorf("event %d: want id %s in %q", n, c.want[len(`"id":`):], payload)
	}
	reader := []byte("gateway")
	if bytes.Contains(payload, []byte(`"reader":"`)) {
		if reader, err = field(payload, `"reader":"`, func(b byte) bool { return b != '"' && b != '\\' }); err != nil {
			return 0, err
		}
	}
	if !bytes.HasPrefix(topic, c.prefix) || !bytes.Equal(topic[len(c.prefix):], reader) {
		return 0, fmt.Errorf("event %d of reader %q arrived on %q, want %s%s", n, reader, topic, c.prefix, reader)
	}
	return n, nil
}

// field returns the bytes after key in payload for as long as in accepts
// them; there must be at least one.
func field(payload []byte, key string, in func(byte) bool) ([]byte, error) {
	i := bytes.Index(payload, []byte(key))
	if i < 0 {
		return nil, fmt.Errorf("no %s in %q", key, payload)
	}
	rest := payload[i+len(key):]
	end := 0
	for end < len(rest) && in(rest[end]) {
		end++
	}
	if end == 0 {
		return nil, fmt.Errorf("empty %s in %q", key, payload)
	}
	return rest[:end], nil
}
