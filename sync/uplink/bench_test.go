package uplink_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lintel-access/lintel/broker/mosquittotest"
	"github.com/lintel-access/lintel/sync/uplink"
	"github.com/lintel-access/lintel/sync/uplink/uplinktest"
)

// drainBacklog is the backlog BenchmarkDrain empties (DESIGN.md's budget:
// 100k events in at most 10 s, none lost, in order).
const drainBacklog = 100_000

// BenchmarkDrain measures the time to drain a backlog of 100,000 journaled
// events to mosquitto: from the uplink's start to the cursor reaching the
// last event (every PUBACK in). An external mosquitto_sub receives the
// events and the benchmark fails unless all arrived in order. Reported:
// drain seconds, events/s, and the process's RSS before and at its peak
// during the drain (the in-memory test journal is part of both).
func BenchmarkDrain(b *testing.B) {
	srv := mosquittotest.Start(b)
	var drainS, rate, rssBase, rssPeak, hwm float64
	for range b.N {
		b.StopTimer()
		j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
		for range drainBacklog {
			j.AppendEvent(gw, readers[j.Last()%uint64(len(readers))])
		}
		sub := startMosquittoSub(b, srv, eventsFilter, drainBacklog)
		runtime.GC()
		base := readProcStatus(b, "VmRSS")
		peak := atomic.Int64{}
		stopSampling := sampleRSS(&peak)

		u, err := uplink.New(testConfig(srv.URL()), gw, j, c, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		b.StartTimer()
		began := time.Now()
		go func() {
			u.Run(ctx)
			close(done)
		}()
		benchWait(b, "the backlog to drain", func() bool { return u.State().Cursor >= drainBacklog })
		took := time.Since(began)
		b.StopTimer()
		stopSampling()
		if err := sub.wait(); err != nil {
			b.Fatal(err)
		}
		cancel()
		<-done

		drainS = took.Seconds()
		rate = drainBacklog / took.Seconds()
		rssBase = float64(base) / 1024
		rssPeak = float64(max(peak.Load(), base)) / 1024
		hwm = float64(readProcStatus(b, "VmHWM")) / 1024
	}
	b.ReportMetric(drainS, "drain-s")
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(rssBase, "rss-before-MiB")
	b.ReportMetric(rssPeak, "rss-peak-MiB")
	b.ReportMetric(hwm, "hwm-MiB")
}

// BenchmarkForward measures steady forwarding: b.N events appended to the
// journal while the uplink runs, until the cloud broker acknowledged the
// last. ns/op is per event.
func BenchmarkForward(b *testing.B) {
	srv := mosquittotest.Start(b)
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	u, err := uplink.New(testConfig(srv.URL()), gw, j, c, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		u.Run(ctx)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()
	benchWait(b, "connected", func() bool { return u.State().Connected })
	payload := uplinktest.EventJSON(gw, 1, "front")
	b.ResetTimer()
	began := time.Now()
	for range b.N {
		j.Append("front", payload)
	}
	benchWait(b, "every event acknowledged", func() bool { return u.State().Cursor >= j.Last() })
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "events/s")
}

// BenchmarkAppendStalled measures the journal writer's cost per append
// while the uplink is stuck on a frozen cloud broker with a full window,
// beside BenchmarkAppendIdle without an uplink: the two should match.
func BenchmarkAppendStalled(b *testing.B) {
	srv := mosquittotest.Start(b)
	j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
	cfg := testConfig(srv.URL())
	cfg.AckTimeout = time.Hour // stay stuck on the frozen connection
	u, err := uplink.New(cfg, gw, j, c, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		u.Run(ctx)
		close(done)
	}()
	defer func() {
		srv.Resume()
		cancel()
		<-done
	}()
	benchWait(b, "connected", func() bool { return u.State().Connected })
	srv.Stall()
	payload := uplinktest.EventJSON(gw, 1, "front")
	for range 10_000 { // fill the window and the socket buffers
		j.Append("front", payload)
	}
	b.ResetTimer()
	for range b.N {
		j.Append("front", payload)
	}
	b.StopTimer()
	if st := u.State(); st.Cursor >= j.Last() {
		b.Fatalf("State() = %+v: the uplink was not stuck", st)
	}
}

// BenchmarkAppendIdle is BenchmarkAppendStalled's baseline.
func BenchmarkAppendIdle(b *testing.B) {
	j := uplinktest.NewMemJournal()
	payload := uplinktest.EventJSON(gw, 1, "front")
	for range b.N {
		j.Append("front", payload)
	}
}

// benchWait polls cond every 100 µs (the benchmark measures how soon it
// holds), failing after patience.
func benchWait(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("waited %v for %s", patience, what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// mosquittoSub is a running mosquitto_sub counting events.
type mosquittoSub struct {
	cmd    *exec.Cmd
	result chan error
}

// startMosquittoSub subscribes mosquitto_sub to filter at QoS 1 in a
// persistent session and leaves it collecting n messages. It returns once
// the broker holds the subscription: the session is registered by a first
// mosquitto_sub that exits when its SUBACK arrives (-E), so nothing
// published afterwards is missed, whenever the collector connects. wait
// reports whether events 1..n arrived in order.
func startMosquittoSub(b *testing.B, srv *mosquittotest.Server, filter string, n int) *mosquittoSub {
	b.Helper()
	bin, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		if testing.Short() {
			b.Skip("mosquitto_sub not installed (skipped under -short)")
		}
		b.Fatalf("mosquitto_sub not found on $PATH: install mosquitto-clients")
	}
	host, port, _ := strings.Cut(srv.Addr(), ":")
	id := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	args := []string{"-h", host, "-p", port, "-c", "-i", id, "-q", "1", "-t", filter}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, append(args, "-E")...).CombinedOutput(); err != nil {
		b.Fatalf("mosquitto_sub -E: %v: %s", err, out)
	}
	cmd := exec.Command(bin, append(args, "-C", strconv.Itoa(n))...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &mosquittoSub{cmd: cmd, result: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		seqs := make([]uint64, 0, n)
		for sc.Scan() {
			seq, err := seqOf(sc.Bytes())
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				s.result <- err
				return
			}
			seqs = append(seqs, seq)
		}
		cmd.Wait()
		s.result <- uplinktest.CheckDelivery(seqs, 1, uint64(n))
	}()
	return s
}

func (s *mosquittoSub) wait() error {
	select {
	case err := <-s.result:
		return err
	case <-time.After(patience):
		s.cmd.Process.Kill()
		return fmt.Errorf("mosquitto_sub: not every event arrived within %v", patience)
	}
}

// seqOf reads the "seq" field of an event payload without a full parse.
func seqOf(payload []byte) (uint64, error) {
	const key = `"seq":`
	i := bytes.Index(payload, []byte(key))
	if i < 0 {
		return 0, fmt.Errorf("no seq in %q", payload)
	}
	rest := payload[i+len(key):]
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	return strconv.ParseUint(string(rest[:end]), 10, 64)
}

// sampleRSS records the largest VmRSS seen every 10 ms into peak
// until the returned function is called.
func sampleRSS(peak *atomic.Int64) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if kb, err := procStatus("VmRSS"); err == nil && kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(quit); <-done }
}

// readProcStatus returns a "kB" field of /proc/self/status, failing the
// benchmark when it cannot.
func readProcStatus(b *testing.B, field string) int64 {
	kb, err := procStatus(field)
	if err != nil {
		b.Fatal(err)
	}
	return kb
}

func procStatus(field string) (int64, error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status %s: %w", field, err)
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", field)
}
