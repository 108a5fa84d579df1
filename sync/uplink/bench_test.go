package uplink_test

import (
	"context"
	"fmt"
	"os"
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
// 100k events in at most 2 s, none lost, in order).
const drainBacklog = 100_000

// BenchmarkDrain measures the time to drain a backlog of 100,000 journaled
// events to mosquitto: from the uplink's start to the cursor reaching the
// last event (every PUBACK in). The journal is the in-memory one, so this
// is the uplink alone; gateway's BenchmarkJournalDrain drains the store.
// An external mosquitto_sub receives the events while they are published
// and the benchmark fails unless all arrived in order, each on its
// reader's topic with its id. Reported: drain seconds, events/s, the
// processor time mosquitto used meanwhile (one thread: a floor under the
// drain), and the process's RSS before and at its peak during the drain
// (the in-memory test journal is part of both).
func BenchmarkDrain(b *testing.B) {
	srv := mosquittotest.Start(b)
	var drainS, brokerS, rate, rssBase, rssPeak, hwm float64
	for range b.N {
		b.StopTimer()
		j, c := uplinktest.NewMemJournal(), uplinktest.NewMemCursor(0)
		for range drainBacklog {
			j.AppendEvent(gw, readers[j.Last()%uint64(len(readers))])
		}
		sub := uplinktest.NewMosquittoSub(b, srv.Addr(), gw)
		sub.Start(1, drainBacklog)
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
		broker0, err := srv.CPU()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		began := time.Now()
		go func() {
			u.Run(ctx)
			close(done)
		}()
		benchWait(b, "the backlog to drain", func() bool { return u.State().Cursor >= drainBacklog })
		took := time.Since(began)
		b.StopTimer()
		broker, err := srv.CPU()
		if err != nil {
			b.Fatal(err)
		}
		stopSampling()
		if err := sub.Wait(patience); err != nil {
			b.Fatal(err)
		}
		cancel()
		<-done

		drainS, brokerS = took.Seconds(), (broker - broker0).Seconds()
		rate = drainBacklog / took.Seconds()
		rssBase = float64(base) / 1024
		rssPeak = float64(max(peak.Load(), base)) / 1024
		hwm = float64(readProcStatus(b, "VmHWM")) / 1024
	}
	b.ReportMetric(drainS, "drain-s")
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(brokerS, "broker-cpu-s")
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
